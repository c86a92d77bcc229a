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
// then sent; responses found unfit on the way stream through untouched.
func (m *middleware) render(w http.ResponseWriter, r *http.Request, key, path string, lk lookupResult, fwd, detail string) {
	m.c.stats.misses.Add(1)
	ts := &tagSet{}
	req := r.WithContext(context.WithValue(r.Context(), tagsKey{}, ts))
	if r.Method == http.MethodHead || hasValidators(r.Header) {
		// Render the full response, which the cache stores and then answers the request
		// from: with a 304, or headers only for HEAD.
		req.Method = http.MethodGet
		req.Header = r.Header.Clone()
		delete(req.Header, "If-None-Match")
		delete(req.Header, "If-Modified-Since")
	}
	cw := &captureWriter{w: w, m: m, r: r, fwd: fwd, detail: detail}
	if detail != "" {
		cw.mode = passing
	}
	m.next.ServeHTTP(cw, req)
	cw.lk = lk
	cw.finish(key, path, ts)
}

func hasValidators(h http.Header) bool {
	_, inm := h["If-None-Match"]
	_, ims := h["If-Modified-Since"]
	return inm || ims
}

// finish completes a response after the handler returned: a buffered one is stored if it
// may be, then sent.
func (cw *captureWriter) finish(key, path string, ts *tagSet) {
	if cw.mode == hijacked {
		return
	}
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.mode == passing {
		return
	}
	m := cw.m
	if cw.r.Context().Err() != nil {
		// The request was cancelled: the handler may have stopped short.
		cw.toPass("aborted")
		return
	}
	h := cw.header
	tags := entryTags(path, ts, h[m.p.tagHeader])
	if !m.p.keepTagHeader {
		delete(h, m.p.tagHeader)
		delete(cw.w.Header(), m.p.tagHeader)
	}
	for _, k := range unstoredHeaders {
		delete(h, k)
	}
	vary, _ := parseVary(h["Vary"])
	body := cw.buf
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
	now := time.Now()
	if _, ok := h["Last-Modified"]; !ok {
		h["Last-Modified"] = []string{now.UTC().Format(http.TimeFormat)}
	}
	if _, ok := h["Cache-Control"]; !ok {
		h["Cache-Control"] = m.p.browserCC
	}
	e := &Entry{
		Status: cw.status,
		Header: h,
		Body:   body,
		Tags:   tags,
		Born:   cw.lk.now,
		Stored: now,
		Vary:   vary,
		Public: cw.cc.public || cw.cc.sMaxAge > 0,
	}
	e.prepare()
	detail := m.store(cw.r, key, e, m.p.lifetime(cw.status, cw.cc.sMaxAge))
	m.respond(cw.w, cw.r, e, m.c.cacheStatus(cw.fwd, detail == "", detail))
}

// store saves e under key or, when the response varies, under its variant key with a variant
// record under key, in one store operation. The record is written every time: the one the
// lookup found may have been answered from a local copy while the store's own was condemned
// (it carries the same tags as the response). It returns why it did not store, or "".
func (m *middleware) store(r *http.Request, key string, e *Entry, ttl time.Duration) string {
	ctx := context.WithoutCancel(r.Context())
	var items []Item
	detail := ""
	if len(e.Vary) > 0 {
		rec := &Entry{Tags: e.Tags, Born: e.Born, Stored: e.Stored, Vary: e.Vary}
		items = append(items, Item{Key: key, Entry: rec})
		if vk := appendVariantKey(nil, key, e.Vary, r.Header); len(vk) <= m.p.maxKey {
			items = append(items, Item{Key: string(vk), Entry: e})
		} else {
			detail = "key-too-long"
		}
	} else {
		items = append(items, Item{Key: key, Entry: e})
	}
	if err := m.c.store.Set(ctx, ttl, items...); err != nil {
		m.storeError(ctx, "set", err)
		return "store-error"
	}
	if detail == "" {
		m.c.stats.stores.Add(1)
	}
	return detail
}

// unstoredHeaders are response fields that belong to one connection or one moment, not to a
// stored response.
var unstoredHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Trailer", "Te",
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
