package dumper

import (
	"bufio"
	"context"
	"hash/crc64"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"time"
)

// render runs the handler for a request the cache could not answer. Unless ms says why its
// response may not be stored, the response is captured, judged by the storage rules,
// stored, and then sent; a response found unfit on the way streams through untouched. The
// requests waiting for this render are woken as soon as the response is known not to be
// stored, and at the latest when render returns.
func (m *middleware) render(w http.ResponseWriter, r *http.Request, ms miss) {
	m.c.stats.misses.Add(1)
	cw := &captureWriter{w: w, p: m.p, c: m.c, r: r, miss: ms, start: time.Now(), front: snapshot(w.Header())}
	rs := &renderState{c: m.c, cw: cw}
	cw.rs = rs
	defer cw.releaseWaiters() // even if the handler panics
	req := r.WithContext(context.WithValue(r.Context(), renderKey{}, rs))
	_, auth := r.Header["Authorization"]
	switch {
	case ms.detail != noDetail:
		cw.mode = passing // the request reaches the handler as it came
	case auth:
		// Most responses to it will not be stored: keep the handler's own conditions.
	case hasConditions(r.Header):
		// Render the full response, which the cache stores and then answers the request
		// from (see respond): with a 304 or a 412. Should the response turn out not
		// storable, the preconditions are evaluated against it before it is sent (see
		// answerPreconditions).
		cw.stripped = true
		req.Header = r.Header.Clone()
		for _, k := range conditionHeaders {
			delete(req.Header, k)
		}
		delete(req.Header, "Range")
	}
	finished := false
	if began := m.c.requestStart(); began != (time.Time{}) {
		defer func() { // even if the handler panics, which goes on
			m.c.observeRequest(r.Context(), ms.start, RequestEvent{
				Result: ResultMiss, Fwd: cw.miss.fwd.String(), Detail: cw.miss.detail.String(),
				Stored: cw.stored, Status: cw.status, Render: time.Since(began), Panicked: !finished,
			})
		}()
	}
	m.next.ServeHTTP(cw, req)
	cw.finish()
	finished = true
}

// conditionHeaders are the preconditions of RFC 9110 §13.1, which the cache evaluates
// against the stored response (If-Range only with a Range, on a GET).
var conditionHeaders = [...]string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"}

func hasConditions(h http.Header) bool {
	for _, k := range conditionHeaders {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// The modes of a captureWriter.
const (
	buffering = iota // the response may still be stored: hold it
	passing          // it will not be stored: stream it through
	answered         // a 412 or 304 went out in its place (see answerPreconditions): drop the body
	hijacked         // the handler took the connection over
)

// captureWriter is the ResponseWriter a handler renders into on a miss. It buffers the
// response while it may still be stored and switches to streaming it through as soon as it
// may not: an unfit status or header, a body over the limit, a Flush, or a hijack.
type captureWriter struct {
	w  http.ResponseWriter
	p  *policy // the render's policy: a nested middleware of the same cache may replace it
	c  *Cache
	r  *http.Request // the client's request
	rs *renderState
	cc cacheControl // of the response, read at WriteHeader

	// miss is why the request missed; its detail is set once the response will not be
	// stored, and its call released once nobody can find the response in the store.
	miss miss

	mode        int
	stripped    bool // the handler did not see the request's preconditions (see render)
	status      int
	wroteHeader bool
	stored      bool        // the response was stored
	header      http.Header // the response header as of WriteHeader, when buffering

	// front is what the response header held before the handler ran: fields that a
	// middleware in front of the cache set for this request (a request id, a user's
	// name), which are not the handler's to store.
	front http.Header
	buf   []byte
	start time.Time // when the render began (see edgeSend)
}

func (cw *captureWriter) Header() http.Header { return cw.w.Header() }

func (cw *captureWriter) WriteHeader(code int) {
	if cw.wroteHeader || cw.mode == hijacked {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		cw.w.WriteHeader(code) // informational (103 Early Hints): forward at once
		return
	}
	cw.wroteHeader = true
	cw.status = code
	if cw.mode == passing {
		cw.startPassing()
		return
	}
	h := cw.w.Header()
	canonicalizeKeys(h)
	if d := refuse(cw.r, cw.p, code, h, &cw.cc); d != noDetail {
		cw.toPass(d)
		return
	}
	cw.header = h.Clone()
}

// canonicalizeKeys merges header keys that are not in canonical form ("set-cookie") into
// their canonical key: net/http sends them as written, and the storage rules must see them.
func canonicalizeKeys(h http.Header) {
	for k, vs := range h {
		if ck := textproto.CanonicalMIMEHeaderKey(k); ck != k {
			h[ck] = append(h[ck], vs...)
			delete(h, k)
		}
	}
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if cw.mode == hijacked {
		return 0, http.ErrHijacked
	}
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	switch cw.mode {
	case passing:
		return cw.w.Write(p)
	case answered:
		return len(p), nil
	}
	if len(cw.buf)+len(p) > cw.p.maxBody {
		cw.toPass(detailTooLarge)
		return cw.Write(p) // passing, or answered
	}
	cw.buf = append(cw.buf, p...)
	return len(p), nil
}

// ReadFrom keeps the underlying writer's ReadFrom (sendfile) for responses streaming
// through.
func (cw *captureWriter) ReadFrom(src io.Reader) (int64, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if rf, ok := cw.w.(io.ReaderFrom); ok && cw.mode == passing {
		return rf.ReadFrom(src)
	}
	return io.Copy(writeOnly{cw}, src)
}

// writeOnly hides a writer's ReadFrom from io.Copy.
type writeOnly struct{ io.Writer }

// FlushError streams the response: a handler that flushes is sending something live, which
// is not stored.
func (cw *captureWriter) FlushError() error {
	if cw.mode == hijacked {
		return http.ErrHijacked
	}
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.mode == buffering {
		cw.toPass(detailStreamed)
	}
	return http.NewResponseController(cw.w).Flush()
}

// Flush implements http.Flusher; see FlushError.
func (cw *captureWriter) Flush() { _ = cw.FlushError() }

// Hijack hands the connection to the handler; nothing is stored.
func (cw *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(cw.w).Hijack()
	if err == nil {
		cw.mode = hijacked
		cw.releaseWaiters()
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer's deadlines and other
// capabilities.
func (cw *captureWriter) Unwrap() http.ResponseWriter { return cw.w }

// toPass gives up storing, for the reason d: the header and what was buffered go out now.
func (cw *captureWriter) toPass(d detail) {
	cw.mode = passing
	cw.miss.detail = d
	cw.startPassing()
}

func (cw *captureWriter) startPassing() {
	cw.releaseWaiters() // nothing will be stored for them to find: let them render
	h := cw.w.Header()
	if !cw.p.keepTagHeader {
		delete(h, cw.p.tagHeader)
	}
	h["Cache-Status"] = cw.c.forwarded(cw.miss.fwd, false, cw.miss.detail)
	if cw.p.edge != nil {
		cw.p.edge.Refuse(h) // not stored: nothing would purge it
	}
	if cw.answerPreconditions(h) {
		return
	}
	cw.w.WriteHeader(cw.status)
	if len(cw.buf) > 0 {
		_, _ = cw.w.Write(cw.buf)
		cw.buf = nil
	}
}

// answerPreconditions answers a request whose preconditions the handler did not see (see
// render) and whose response will not be stored, as respond would have answered it from
// the stored response and as the handler would have had it seen them: a 412 when If-Match
// or If-Unmodified-Since fails, a 304 when If-None-Match or If-Modified-Since matches
// (RFC 9110 §13.2.2), judged by the response's status and validators. Nothing of the body
// has been sent yet, header or body: the answer goes out with the handler's header (less
// the fields that describe a body it does not carry, RFC 9110 §15.4.5 for the 304: the
// validators, Cache-Control, Expires, Vary, Content-Location stay, as do the other fields
// the handler set, Set-Cookie among them, as http.ServeContent would send them), and the
// body is dropped. It reports whether it answered.
//
// A response that streams (Flush) is left alone: the handler is sending something live.
// Range and If-Range were stripped as well, and are not evaluated here: the full 200 goes
// out, which RFC 9110 §14.2 allows (a server may ignore Range).
func (cw *captureWriter) answerPreconditions(h http.Header) bool {
	if !cw.stripped || cw.miss.detail == detailStreamed {
		return false
	}
	var code int
	switch {
	case preconditionFailed(cw.r, cw.status, h):
		code = http.StatusPreconditionFailed
	case notModified(cw.r, cw.status, h):
		code = http.StatusNotModified
	default:
		return false
	}
	for _, k := range bodyHeaders {
		delete(h, k)
	}
	cw.mode = answered
	cw.buf = nil
	cw.w.WriteHeader(code)
	return true
}

// bodyHeaders describe a response's body, which a 412 or 304 in its place does not carry.
var bodyHeaders = [...]string{"Content-Length", "Content-Type", "Content-Encoding", "Content-Language", "Content-Range", "Transfer-Encoding", "Trailer"}

func (cw *captureWriter) releaseWaiters() {
	if cw.miss.leads != nil {
		cw.c.flight.leave(cw.miss.lastKey, cw.miss.leads)
		cw.miss.leads = nil
	}
}

// finish completes the response once the handler has returned. One still buffered is judged
// by the rules only its end can settle (see unfinished), stored if it may be, and sent.
func (cw *captureWriter) finish() {
	if cw.mode == hijacked {
		return
	}
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.mode != buffering {
		return
	}
	if d := unfinished(cw.r, cw.p, cw.rs, cw.status, cw.header, cw.buf); d != noDetail {
		if d == detailNoDependencies {
			cw.c.log.DebugContext(cw.r.Context(), "dumper: not stored: the render recorded no read and no tag (Policy.RequireDependencies)", "path", cw.miss.path)
		}
		cw.toPass(d)
		return
	}
	e, vary := cw.entry()
	d := cw.c.save(cw.r, cw.p, cw.miss.key, e, vary, cw.p.lifetime(cw.status, cw.cc.sMaxAge))
	cw.stored = d == noDetail
	if !cw.stored {
		cw.miss.detail = d
	}
	w := cw.w
	if cw.p.edge != nil {
		w = cw.edgeSend(e, vary)
	}
	respond(w, cw.r, e, cw.c.forwarded(cw.miss.fwd, d == noDetail, d), false)
}

// entry makes the buffered response into the entry to store, and returns with it the request
// headers it varies on: its tags collected, the fields that belong to one connection dropped,
// and Content-Type, Content-Length, ETag and Cache-Control filled in where the handler left
// them out. The entry owns all its memory (see [Entry]): its header and tags are copies, the
// path tag (a substring of the request line) among them, and its body is the buffer the
// handler's writes filled, copied when more than an eighth of it is spare.
func (cw *captureWriter) entry() (*Entry, []string) {
	p := cw.p
	h := cw.header
	body := cw.buf
	tags := entryTags(pathTag(cw.miss.path), cw.rs, h[p.tagHeader])
	if !p.keepTagHeader {
		delete(h, p.tagHeader)
		delete(cw.w.Header(), p.tagHeader)
	}
	for _, k := range unstoredHeaders {
		delete(h, k)
	}
	vary, _ := parseVary(h["Vary"])
	if cap(body)-len(body) > len(body)/8+64 {
		body = append([]byte(nil), body...) // its capacity is what the allocator gives it
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
	if p.edge != nil {
		p.edge.Header(h, tags)
	}
	for k, v := range cw.front {
		if slices.Equal(h[k], v) {
			delete(h, k) // set in front of the cache, for this request only: it sets it again for the next
		}
	}
	hdr, tags := buildHeaderWith(cw.c.headers, h, tags)
	e := &Entry{
		Kind:   StoredResponse,
		Status: cw.status,
		Header: hdr,
		Body:   body,
		Tags:   tags,
		Born:   cw.miss.born,
		Stored: time.Now().UnixNano(),
		Public: cw.cc.public || cw.cc.sMaxAge > 0,
	}
	e.StaleWhileRevalidate, e.StaleIfError = cw.c.softWindows(cw.p, cw.cc)
	return e, vary
}

// save stores e under key or, when the response varies on the request headers vary, under
// its variant key with a variant record under key, in one store operation. The record is
// written every time: the one the lookup found may have been answered from a local copy
// while the store's own was condemned (it carries the same tags as the response). It holds
// copies of the tags, so that it keeps nothing of the response alive. It returns why it did
// not store, or noDetail.
func (c *Cache) save(r *http.Request, p *policy, key string, e *Entry, vary []string, ttl time.Duration) detail {
	ctx := context.WithoutCancel(r.Context())
	var items []Item
	d := noDetail
	if len(vary) > 0 {
		hdr, tags := buildHeaderWith(c.headers, http.Header{"Vary": vary}, e.Tags)
		rec := &Entry{Kind: VariantRecord, Header: hdr, Tags: tags, Born: e.Born, Stored: e.Stored,
			StaleWhileRevalidate: e.StaleWhileRevalidate, StaleIfError: e.StaleIfError}
		items = append(items, Item{Key: key, Entry: rec})
		if vk := appendVariantKey(nil, key, vary, r.Header); len(vk) <= p.maxKey {
			items = append(items, Item{Key: string(vk), Entry: e})
		} else {
			d = detailKeyTooLong
		}
	} else {
		items = append(items, Item{Key: key, Entry: e})
	}
	start := c.storeStart()
	err := c.store.Set(ctx, ttl, items...)
	if start != (time.Time{}) {
		c.observeStore(ctx, "set", start, err)
	}
	if err != nil {
		c.storeError(ctx, "set", err)
		return detailStoreError
	}
	if d == noDetail {
		c.stats.stores.Add(1)
		if c.explain != nil {
			c.explain.stored(items[len(items)-1].Key, e)
		}
	}
	return d
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

// snapshot returns a copy of h, or nil if it is empty.
func snapshot(h http.Header) http.Header {
	if len(h) == 0 {
		return nil
	}
	return h.Clone()
}
