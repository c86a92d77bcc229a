package dumper

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// respond sends a stored response with Cache-Status cs, and Age if age is set, or a 304 Not
// Modified when the request's validators match it. The stored header slices are shared,
// capped so that an append by a later writer copies them (see Header.copyTo).
func respond(w http.ResponseWriter, r *http.Request, e *Entry, cs []string, age bool) {
	h := w.Header()
	if notModified(r, e) {
		for _, k := range notModifiedHeaders {
			if v := e.Header.Values(k); v != nil {
				h[k] = v
			}
		}
		h["Cache-Status"] = cs
		w.WriteHeader(http.StatusNotModified)
		return
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
}

// notModifiedHeaders are what a 304 carries (RFC 9110 §15.4.5).
var notModifiedHeaders = []string{"Cache-Control", "Content-Location", "Etag", "Expires", "Last-Modified", "Vary"}

// notModified evaluates If-None-Match, or else If-Modified-Since, against a stored 2xx
// response (RFC 9110 §13.2.2).
func notModified(r *http.Request, e *Entry) bool {
	inm, hasINM := r.Header["If-None-Match"]
	ims, hasIMS := r.Header["If-Modified-Since"]
	if !hasINM && !hasIMS || e.Status < 200 || e.Status > 299 {
		return false
	}
	if hasINM {
		etag := e.Header.Values("Etag")
		return len(etag) > 0 && etagMatch(inm, etag[0])
	}
	lm := e.Header.Values("Last-Modified")
	if len(ims) == 0 || len(lm) == 0 {
		return false
	}
	ti, err1 := http.ParseTime(ims[0])
	tl, err2 := http.ParseTime(lm[0])
	return err1 == nil && err2 == nil && !tl.After(ti)
}

// etagMatch reports whether the If-None-Match field lines match etag by weak comparison.
func etagMatch(lines []string, etag string) bool {
	want := opaqueTag(etag)
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
			if opaqueTag(tag) == want {
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
