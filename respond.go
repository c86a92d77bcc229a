package dumper

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// respond sends a stored response with Cache-Status cs, and Age if age is set, or a 304 Not
// Modified when the request's validators match it, and returns the status it sent (206 for
// a range, which may have been a 416). The stored header slices are shared, capped so that
// an append by a later writer copies them (see Header.copyTo).
func respond(w http.ResponseWriter, r *http.Request, e *Entry, cs []string, age bool) int {
	h := w.Header()
	// RFC 9110 §13.2.2: If-Match, or else If-Unmodified-Since; then If-None-Match, or else
	// If-Modified-Since; then Range (see respondRange).
	if preconditionFailed(r, e.Status, e.Header) {
		h["Cache-Status"] = cs
		w.WriteHeader(http.StatusPreconditionFailed)
		return http.StatusPreconditionFailed
	}
	if notModified(r, e.Status, e.Header) {
		for _, k := range notModifiedHeaders {
			if v := e.Header.Values(k); v != nil {
				h[k] = v
			}
		}
		h["Cache-Status"] = cs
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	if ranged(r, e) {
		respondRange(w, r, e, cs, age)
		return http.StatusPartialContent
	}
	e.Header.copyTo(h)
	h["Cache-Status"] = cs
	if age {
		h["Age"] = []string{strconv.FormatInt(int64(max(time.Since(time.Unix(0, e.Stored)), 0)/time.Second), 10)}
	}
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.Body)
	}
	return e.Status
}

// notModifiedHeaders are what a 304 carries (RFC 9110 §15.4.5).
var notModifiedHeaders = []string{"Cache-Control", "Content-Location", "Etag", "Expires", "Last-Modified", "Vary"}

// fields is a view of a response header: a stored [Header], or the http.Header of a response
// being rendered (see captureWriter.answerPreconditions), keys canonical. The evaluators
// below are generic over it rather than taking an interface, so that a Header is not boxed
// on the hit path.
type fields interface {
	Values(name string) []string
}

// notModified evaluates If-None-Match, or else If-Modified-Since, against a 2xx response
// with status and header h (RFC 9110 §13.2.2).
//
// The request's fields are looked up only as far as they count: If-Modified-Since only
// without If-None-Match and for a response with a Last-Modified, which a stored Header tells
// without looking through its fields (a map lookup is a good part of a hit's cost).
func notModified[H fields](r *http.Request, status int, h H) bool {
	if status < 200 || status > 299 {
		return false
	}
	if inm, ok := r.Header["If-None-Match"]; ok {
		etag := h.Values("Etag")
		return len(etag) > 0 && etagMatch(inm, etag[0])
	}
	lm := h.Values("Last-Modified")
	if len(lm) == 0 {
		return false
	}
	ims := r.Header["If-Modified-Since"]
	if len(ims) == 0 {
		return false
	}
	ti, err1 := http.ParseTime(ims[0])
	tl, err2 := http.ParseTime(lm[0])
	return err1 == nil && err2 == nil && !tl.After(ti)
}

// etagMatch reports whether the If-None-Match field lines match etag by weak comparison.
func etagMatch(lines []string, etag string) bool {
	want := opaqueTag(etag)
	return anyETag(lines, func(tag string) bool { return opaqueTag(tag) == want })
}

// anyETag reports whether the field lines hold "*" or an entity-tag for which match is true.
// A malformed line is read up to where it stops making sense.
func anyETag(lines []string, match func(tag string) bool) bool {
	for _, line := range lines {
		s := line
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			if s[0] == '*' {
				return true
			}
			var tag string
			tag, s = nextETag(s)
			if tag == "" {
				break // malformed: stop reading this line
			}
			if match(tag) {
				return true
			}
		}
	}
	return false
}

// nextETag splits one entity-tag (W/"…" or "…") off the front of s.
func nextETag(s string) (tag, rest string) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s) <= start || s[start] != '"' {
		return "", ""
	}
	end := strings.IndexByte(s[start+1:], '"')
	if end < 0 {
		return "", ""
	}
	end += start + 2
	return s[:end], s[end:]
}

// opaqueTag strips the weakness indicator, for weak comparison.
func opaqueTag(tag string) string {
	return strings.TrimPrefix(tag, "W/")
}

// preconditionFailed evaluates If-Match, or else If-Unmodified-Since, against a 2xx response
// with status and header h (RFC 9110 §13.2.2, steps 1 and 2): true means a 412 Precondition
// Failed. If-Match uses the strong comparison; If-Unmodified-Since is ignored when the
// response has no valid Last-Modified or the field no valid date (§13.1.4), as
// http.ServeContent does. As in notModified, If-Unmodified-Since is looked up only when it
// counts.
func preconditionFailed[H fields](r *http.Request, status int, h H) bool {
	if status < 200 || status > 299 {
		return false
	}
	if im, ok := r.Header["If-Match"]; ok {
		return !strongMatch(im, h.Values("Etag"))
	}
	lm := h.Values("Last-Modified")
	if len(lm) == 0 {
		return false
	}
	ius := r.Header["If-Unmodified-Since"]
	if len(ius) == 0 {
		return false
	}
	tu, err1 := http.ParseTime(ius[0])
	tl, err2 := http.ParseTime(lm[0])
	return err1 == nil && err2 == nil && tl.After(tu)
}

// strongMatch reports whether the If-Match field lines match the response's ETag field by
// strong comparison (RFC 9110 §8.8.3.2): "*" matches any stored response; a weak tag matches
// nothing.
func strongMatch(lines, etag []string) bool {
	want := ""
	if len(etag) > 0 && !strings.HasPrefix(etag[0], "W/") {
		want = etag[0]
	}
	return anyETag(lines, func(tag string) bool { return want != "" && tag == want })
}

// ranged reports whether a request for a stored response is a range request the cache
// answers with part of it: a GET with Range (HEAD ignores Range, RFC 9110 §14.2) for a stored
// 200 whose handler said it serves ranges (Accept-Ranges: bytes, as http.ServeContent and
// http.FileServer send). A response without it is served whole, as its handler would.
// The stored header is asked before the request's Range is looked up: most responses do not
// serve ranges, which a stored Header tells without looking through its fields.
func ranged(r *http.Request, e *Entry) bool {
	if r.Method != http.MethodGet || e.Status != http.StatusOK {
		return false
	}
	for _, v := range e.Header.Values("Accept-Ranges") {
		if hasToken([]string{v}, "bytes") {
			_, ok := r.Header["Range"]
			return ok
		}
	}
	return false
}

// respondRange answers a range request (see ranged) from a stored response, as the handler
// would: http.ServeContent over the stored body gives a 206 with Content-Range, multipart
// byteranges for several ranges, a 416 for unsatisfiable ones, and the whole 200 when
// If-Range does not match the stored ETag or Last-Modified. The other preconditions have been
// evaluated already: ServeContent sees only Range and If-Range.
func respondRange(w http.ResponseWriter, r *http.Request, e *Entry, cs []string, age bool) {
	h := w.Header()
	e.Header.copyTo(h)
	delete(h, "Content-Length") // ServeContent sets the length of what it sends
	h["Cache-Status"] = cs
	if age {
		h["Age"] = []string{strconv.FormatInt(int64(max(time.Since(time.Unix(0, e.Stored)), 0)/time.Second), 10)}
	}
	var modtime time.Time
	if lm := e.Header.Values("Last-Modified"); len(lm) > 0 {
		modtime, _ = http.ParseTime(lm[0])
	}
	rr := r.Clone(r.Context())
	for _, k := range conditionHeaders {
		if k != "If-Range" {
			delete(rr.Header, k)
		}
	}
	http.ServeContent(w, rr, "", modtime, bytes.NewReader(e.Body))
}
