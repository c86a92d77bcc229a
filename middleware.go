package dumper

import (
	"context"
	"net/http"
)

// middleware is the handler returned by Cache.Middleware: it answers GET and HEAD from the
// store when it can, renders and stores otherwise, and invalidates on successful unsafe
// requests.
type middleware struct {
	c    *Cache
	p    *policy
	next http.Handler
}

// lookupResult is what a request found in the store.
type lookupResult struct {
	entry  *Entry
	key    string // the key looked up last: the variant key once the Vary is known
	fwd    string // why it missed: uri-miss, vary-miss or stale
	detail string // set when the request's response must not be stored
	now    uint64 // the store's clock, read before the handler runs
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		m.serveOther(w, r)
		return
	}
	if m.p.ignore != nil && m.p.ignore(r) {
		if rs := m.renderingOuter(r); rs != nil {
			m.nested(rs, w, r)
			return
		}
		m.bypass(w, r, "")
		return
	}
	path := requestPath(r)
	var buf [256]byte
	kb := appendPrimaryKey(buf[:0], r, path, m.p.keyHeaders)
	if len(kb) > m.p.maxKey {
		m.bypass(w, r, "key-too-long")
		return
	}
	key := string(kb)
	_, auth := r.Header["Authorization"]

	lk, err := m.lookup(r, key)
	if err != nil {
		m.render(w, r, key, path, lk, "miss", "store-error", nil)
		return
	}
	if lk.entry != nil {
		if !auth || lk.entry.Public {
			m.c.stats.hits.Add(1)
			m.c.respond(w, r, m.p, lk.entry, m.c.csHit, true)
			return
		}
		m.render(w, r, key, path, lk, "request", "", nil)
		return
	}
	if rs := m.renderingOuter(r); rs != nil {
		m.nested(rs, w, r)
		return
	}
	detail := lk.detail
	if detail == "" && hasToken(r.Header["Cache-Control"], "no-store") {
		detail = "request-no-store"
	}
	if detail != "" || auth {
		// Not coalesced: what this request renders may not be stored for the others.
		m.render(w, r, key, path, lk, lk.fwd, detail, nil)
		return
	}

	call, leader := m.c.flight.join(lk.key)
	if !leader {
		m.c.stats.coalesced.Add(1)
		select {
		case <-call.done:
		case <-r.Context().Done():
			return // the client is gone
		}
		lk, err = m.lookup(r, key)
		switch {
		case err != nil:
			m.render(w, r, key, path, lk, "miss", "store-error", nil)
		case lk.entry != nil:
			m.c.stats.hits.Add(1)
			m.c.respond(w, r, m.p, lk.entry, m.c.csHit, true)
		default:
			// The render was not stored (or was condemned meanwhile): render our own,
			// without waiting on anybody again.
			m.render(w, r, key, path, lk, lk.fwd, lk.detail, nil)
		}
		return
	}
	m.render(w, r, key, path, lk, lk.fwd, "", func() { m.c.flight.leave(lk.key, call) })
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

// lookup finds the entry for a request: the entry under its primary key, or, when that is a
// variant record, the entry under the key that adds the values of the headers it names.
func (m *middleware) lookup(r *http.Request, key string) (lookupResult, error) {
	res := lookupResult{key: key, fwd: "uri-miss"}
	l, err := m.c.store.Get(r.Context(), key)
	if err != nil {
		m.c.storeError(r.Context(), "get", err)
		return res, err
	}
	res.now = l.Now
	switch {
	case l.Entry == nil:
		if l.Stale {
			res.fwd = "stale"
		}
		return res, nil
	case l.Entry.Status != 0:
		res.entry = l.Entry
		return res, nil
	}
	res.fwd = "vary-miss"
	var buf [512]byte
	vk := appendVariantKey(buf[:0], key, l.Entry.Vary, r.Header)
	if len(vk) > m.p.maxKey {
		res.detail = "key-too-long"
		return res, nil
	}
	res.key = string(vk)
	l, err = m.c.store.Get(r.Context(), res.key)
	if err != nil {
		m.c.storeError(r.Context(), "get", err)
		return res, err
	}
	res.now = max(res.now, l.Now) // a store may answer the first lookup locally, without a clock
	switch {
	case l.Entry != nil && l.Entry.Status != 0:
		res.entry = l.Entry
	case l.Stale:
		res.fwd = "stale"
	}
	return res, nil
}

// bypass hands a request the cache does not handle to next, untouched but for Cache-Status.
func (m *middleware) bypass(w http.ResponseWriter, r *http.Request, detail string) {
	m.c.stats.passes.Add(1)
	w.Header()["Cache-Status"] = m.c.cacheStatus("bypass", false, detail)
	m.next.ServeHTTP(w, r)
}

// serveOther handles methods other than GET and HEAD: they are never answered from the
// cache, and an unsafe request (any method but OPTIONS and TRACE) that succeeds invalidates
// its path and the paths its response points to (RFC 9111 §4.4).
func (m *middleware) serveOther(w http.ResponseWriter, r *http.Request) {
	m.c.stats.passes.Add(1)
	w.Header()["Cache-Status"] = m.c.csMethod
	if r.Method == http.MethodOptions || r.Method == http.MethodTrace {
		m.next.ServeHTTP(w, r)
		return
	}
	uw := &unsafeWriter{ResponseWriter: w, m: m, r: r}
	m.next.ServeHTTP(uw, r)
	if !uw.wroteHeader && !uw.hijacked {
		uw.invalidate() // the handler wrote nothing: an implicit 200
	}
}

func (c *Cache) storeError(ctx context.Context, op string, err error) {
	c.stats.errors.Add(1)
	c.log.WarnContext(ctx, "dumper: store "+op+" failed; serving from the handler", "err", err)
}
