package dumper

import (
	"io"
	"net/http"
	"time"
)

// middleware is the handler returned by Cache.Middleware.
type middleware struct {
	c    *Cache
	p    *policy
	next http.Handler
}

// ServeHTTP answers a GET or HEAD from the store when it can (a hit); otherwise it runs the
// handler and stores the response if it may (a miss), and concurrent misses for one key
// wait for the first one's render (a coalesced wait). Requests the cache does not handle go
// to the handler untouched (a bypass), and the other methods may invalidate (see serveOther).
func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		m.serveOther(w, r)
		return
	}
	start := m.c.requestStart()
	if m.p.ignore != nil && m.p.ignore(r) {
		m.serveIgnored(w, r)
		return
	}
	if hasBody(r) {
		m.bypass(w, r, detailRequestBody) // the handler could render it: no key can stand for it
		return
	}
	var buf [256]byte
	key, d := appendPrimaryKey(buf[:0], r, m.p.keyHeaders)
	switch {
	case d != noDetail:
		m.bypass(w, r, d)
		return
	case len(key) > m.p.maxKey:
		m.bypass(w, r, detailKeyTooLong)
		return
	}
	path := requestPath(r)
	e, ms, err := m.lookup(r, string(key), path)
	ms.start = start
	if ms.soft != nil && m.serveSoft(w, r, ms) {
		return // a stale response, while it is replaced (see soft.go)
	}
	_, auth := r.Header["Authorization"]
	if e != nil && (!auth || e.Public) {
		m.hit(w, r, e, start, ResultHit)
		return
	}
	if onlyIfCached(r) {
		m.onlyIfCached(w, r)
		return
	}
	switch {
	case err != nil:
		m.render(w, r, ms) // the handler answers, and nothing is stored
		return
	case e != nil:
		ms.fwd = fwdRequest // stored, but not for a request with Authorization
		m.render(w, r, ms)
		return
	}
	if rs := m.renderingOuter(r); rs != nil {
		m.nested(rs, w, r)
		return
	}
	if ms.detail == noDetail && hasToken(r.Header["Cache-Control"], "no-store") {
		ms.detail = detailRequestNoStore
	}
	if r.Method == http.MethodHead && ms.detail == noDetail {
		// The handler a HEAD reaches may not be the GET's (a route of its own, under a
		// router that chose it before the middleware ran): it answers the HEAD as it
		// came, and only a GET's response is stored. A hit answers HEAD from it.
		ms.detail = detailHead
	}
	if _, ok := r.Header["Range"]; ok && ms.detail == noDetail && r.Method == http.MethodGet {
		// The handler answers the range as it came, and its 206 is not stored; a hit
		// answers it from the stored 200 (see respond).
		ms.detail = detailRange
	}
	if ms.detail != noDetail || auth {
		m.render(w, r, ms) // not coalesced: what it renders may not be stored for the others
		return
	}
	call, leader := m.c.flight.join(ms.lastKey)
	if !leader {
		m.wait(w, r, call, ms)
		return
	}
	ms.leads = call
	m.render(w, r, ms)
}

// hit serves a stored response to a request handled since start, a hit or a coalesced
// request (res).
func (m *middleware) hit(w http.ResponseWriter, r *http.Request, e *Entry, start time.Time, res Result) {
	m.c.stats.hits.Add(1)
	code := respond(w, r, e, m.c.status.hit, m.p.sendAge)
	if start != (time.Time{}) {
		m.c.observeRequest(r.Context(), start, RequestEvent{Result: res, Status: code})
	}
}

// wait waits for the render of the request that leads call, then serves what it stored. If
// it stored nothing for this request, or an invalidation condemned it meanwhile, the request
// renders its own, without waiting on anybody again.
func (m *middleware) wait(w http.ResponseWriter, r *http.Request, c *call, ms miss) {
	m.c.stats.coalesced.Add(1)
	select {
	case <-c.done:
	case <-r.Context().Done():
		return // the client is gone
	}
	e, again, _ := m.lookup(r, ms.key, ms.path) // on a store error, again says so
	if e == nil {
		again.start = ms.start
		m.render(w, r, again)
		return
	}
	m.hit(w, r, e, ms.start, ResultCoalesced)
}

// hasBody reports whether a GET or HEAD request carries content (a Content-Length, chunks,
// trailers): net/http hands it to the handler, which may render it.
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 || len(r.TransferEncoding) > 0 || r.Trailer != nil
}

// onlyIfCached reports a request that wants a stored response or nothing (RFC 9111 §5.2.1.7).
func onlyIfCached(r *http.Request) bool {
	return hasToken(r.Header["Cache-Control"], "only-if-cached")
}

// onlyIfCached answers a request marked only-if-cached that the cache cannot answer from the
// store: with a 504 (Gateway Timeout), as RFC 9111 §5.2.1.7 says, without running the
// handler.
func (m *middleware) onlyIfCached(w http.ResponseWriter, r *http.Request) {
	start := m.c.requestStart()
	defer m.c.observeRequest(r.Context(), start, RequestEvent{Result: ResultRefused, Detail: detailOnlyIfCached.String(), Status: http.StatusGatewayTimeout})
	m.c.stats.passes.Add(1)
	h := w.Header()
	h["Cache-Status"] = m.c.unanswered(detailOnlyIfCached)
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusGatewayTimeout)
	_, _ = io.WriteString(w, "not cached\n")
}

// bypass hands a request the cache does not handle to next, untouched but for Cache-Status.
func (m *middleware) bypass(w http.ResponseWriter, r *http.Request, d detail) {
	m.c.stats.passes.Add(1)
	w.Header()["Cache-Status"] = m.c.forwarded(fwdBypass, false, d)
	start := m.c.requestStart()
	m.next.ServeHTTP(w, r)
	if start != (time.Time{}) {
		m.c.observeRequest(r.Context(), start, RequestEvent{Result: ResultBypass, Fwd: fwdBypass.String(), Detail: d.String(), Render: time.Since(start)})
	}
}

// serveIgnored handles a request that Policy.Ignore matches: it bypasses the cache, unless
// it is inside the render of a middleware of the same cache, which must not store it.
func (m *middleware) serveIgnored(w http.ResponseWriter, r *http.Request) {
	if rs := m.renderingOuter(r); rs != nil {
		m.nested(rs, w, r)
		return
	}
	m.bypass(w, r, noDetail)
}

// renderingOuter returns the render of a middleware of the same cache that this request is
// already inside (a route's middleware within the site's), or nil. It is consulted only off
// the hit path: a hit is served as usual, into the outer render, which stores it again.
func (m *middleware) renderingOuter(r *http.Request) *renderState {
	if rs, ok := r.Context().Value(renderKey{}).(*renderState); ok && rs.c == m.c {
		return rs
	}
	return nil
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
