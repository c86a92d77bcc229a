package dumper

import (
	"context"
	"hash/crc64"
	"net/http"
	"strconv"
	"time"
)

// render runs the handler for a request the cache could not answer. Unless detail already
// says why it may not, the response is captured, judged by the storage rules, stored, and
// then sent; responses found unfit on the way stream through untouched. release, if not nil,
// wakes the requests waiting for this render; it is called as soon as the response is known
// not to be stored, and at the latest when render returns.
func (m *middleware) render(w http.ResponseWriter, r *http.Request, key, path string, lk lookupResult, fwd, detail string, release func()) {
	m.c.stats.misses.Add(1)
	cw := &captureWriter{w: w, p: m.p, c: m.c, r: r, fwd: fwd, detail: detail, born: lk.now, release: release}
	rs := &renderState{c: m.c, cw: cw}
	cw.rs = rs
	defer cw.releaseWaiters() // even if the handler panics
	req := r.WithContext(context.WithValue(r.Context(), renderKey{}, rs))
	_, auth := r.Header["Authorization"]
	if auth && r.Method == http.MethodHead && detail == "" {
		detail = "authorization" // HEAD is rendered as GET only to be stored
	}
	switch {
	case detail != "":
		cw.mode = passing // the request reaches the handler as it came
	case auth:
		// Most responses to it will not be stored: keep the handler's own validators.
	case r.Method == http.MethodHead || hasValidators(r.Header):
		// Render the full response, which the cache stores and then answers the request
		// from: with a 304, or headers only for HEAD.
		req.Method = http.MethodGet
		req.Header = r.Header.Clone()
		delete(req.Header, "If-None-Match")
		delete(req.Header, "If-Modified-Since")
	}
	m.next.ServeHTTP(cw, req)
	cw.finish(key, pathTag(path))
}

// nested hands the policy of a middleware of the same cache, met inside another's render (a
// route's policy inside the site's), to that render, and runs the handler within it.
func (m *middleware) nested(rs *renderState, w http.ResponseWriter, r *http.Request) {
	rs.cw.p = m.p
	if m.p.ignore != nil && m.p.ignore(r) {
		NoStore(r.Context())
	}
	m.next.ServeHTTP(w, r)
}

func hasValidators(h http.Header) bool {
	_, inm := h["If-None-Match"]
	_, ims := h["If-Modified-Since"]
	return inm || ims
}

// finish completes a response after the handler returned: a buffered one is stored if it
// may be, then sent.
func (cw *captureWriter) finish(key, tag string) {
	if cw.mode == hijacked {
		return
	}
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.mode == passing {
		return
	}
	p := cw.p
	h := cw.header
	switch {
	case cw.r.Context().Err() != nil:
		// The request was cancelled: the handler may have stopped short.
		cw.toPass("aborted")
		return
	case !cw.rs.storable():
		cw.toPass("handler")
		return
	}
	body := cw.buf
	if cl, ok := h["Content-Length"]; ok && bodyAllowed(cw.status) && (len(cl) != 1 || cl[0] != strconv.Itoa(len(body))) {
		// The handler promised another length: it failed half-way. Send what it sent,
		// as it sent it; net/http tells the client the response is cut short.
		cw.toPass("length-mismatch")
		return
	}
	tags := entryTags(tag, cw.rs, h[p.tagHeader])
	if !p.keepTagHeader {
		delete(h, p.tagHeader)
		delete(cw.w.Header(), p.tagHeader)
	}
	for _, k := range unstoredHeaders {
		delete(h, k)
	}
	vary, _ := parseVary(h["Vary"])
	if cap(body)-len(body) > len(body)/8+64 {
		body = append(make([]byte, 0, len(body)), body...)
	}
	if _, ok := h["Content-Type"]; !ok && len(body) > 0 {
		h["Content-Type"] = []string{http.DetectContentType(body)}
	}
	if bodyAllowed(cw.status) {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	if _, ok := h["Etag"]; !ok {
		h["Etag"] = []string{bodyETag(body)}
	}
	if _, ok := h["Cache-Control"]; !ok {
		h["Cache-Control"] = p.browserCC
	}
	e := &Entry{
		Status: cw.status,
		Header: h,
		Body:   body,
		Tags:   tags,
		Born:   cw.born,
		Stored: time.Now(),
		Vary:   vary,
		Public: cw.cc.public || cw.cc.sMaxAge > 0,
	}
	e.prepare()
	detail := cw.c.save(cw.r, p, key, e, p.lifetime(cw.status, cw.cc.sMaxAge))
	cw.c.respond(cw.w, cw.r, p, e, cw.c.cacheStatus(cw.fwd, detail == "", detail), false)
}

// save stores e under key or, when the response varies, under its variant key with a variant
// record under key, in one store operation. The record is written every time: the one the
// lookup found may have been answered from a local copy while the store's own was condemned
// (it carries the same tags as the response). It returns why it did not store, or "".
func (c *Cache) save(r *http.Request, p *policy, key string, e *Entry, ttl time.Duration) string {
	ctx := context.WithoutCancel(r.Context())
	var items []Item
	detail := ""
	if len(e.Vary) > 0 {
		rec := &Entry{Tags: e.Tags, Born: e.Born, Stored: e.Stored, Vary: e.Vary}
		items = append(items, Item{Key: key, Entry: rec})
		if vk := appendVariantKey(nil, key, e.Vary, r.Header); len(vk) <= p.maxKey {
			items = append(items, Item{Key: string(vk), Entry: e})
		} else {
			detail = "key-too-long"
		}
	} else {
		items = append(items, Item{Key: key, Entry: e})
	}
	if err := c.store.Set(ctx, ttl, items...); err != nil {
		c.storeError(ctx, "set", err)
		return "store-error"
	}
	if detail == "" {
		c.stats.stores.Add(1)
	}
	return detail
}

// unstoredHeaders are response fields that belong to one connection or one moment, not to a
// stored response.
var unstoredHeaders = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te",
	"Date", "Age", "Cache-Status",
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// bodyETag returns a strong validator derived from the body alone (CRC-64), so every
// instance of a site gives the same ETag for the same page.
func bodyETag(body []byte) string {
	var b [16]byte
	out := append(b[:0], '"')
	out = strconv.AppendUint(out, crc64.Checksum(body, crc64.MakeTable(crc64.ECMA)), 36)
	out = append(out, '"')
	return string(out)
}
