package dumper

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Soft invalidation (docs/soft.md): an entry that opted in is kept by its store past the
// invalidation that condemned it, for its soft window, and served meanwhile to everybody but
// the client that made the write, while one render replaces it. This file holds the
// decision; revalidate.go the render, writer.go the writer's cookie.

// maxSoft is the longest soft window: a Policy may not ask for more, and the directives of
// a response count as this at most.
const maxSoft = time.Hour

// defaultRevalidateTimeout bounds a background render when the Policy does not.
const defaultRevalidateTimeout = 10 * time.Second

// softPolicy is the soft part of a compiled Policy.
type softPolicy struct {
	whileRevalidate, ifError time.Duration
	timeout                  time.Duration
}

func (sp softPolicy) on() bool { return sp.whileRevalidate > 0 || sp.ifError > 0 }

func (p Policy) compileSoft() (softPolicy, error) {
	sp := softPolicy{whileRevalidate: p.StaleWhileRevalidate, ifError: p.StaleIfError, timeout: p.RevalidateTimeout}
	for _, d := range []time.Duration{p.StaleWhileRevalidate, p.StaleIfError} {
		if d < 0 || d > maxSoft || d%time.Second != 0 {
			return softPolicy{}, errorf("Policy.StaleWhileRevalidate and StaleIfError must be whole seconds from 0 to %v, not %v", maxSoft, d)
		}
	}
	if sp.timeout < 0 {
		return softPolicy{}, errorf("negative Policy.RevalidateTimeout %v", sp.timeout)
	}
	if sp.timeout == 0 {
		sp.timeout = defaultRevalidateTimeout
	}
	return sp, nil
}

// softState is a cache's machinery for soft invalidation.
type softState struct {
	leaser Leaser // nil: the store is not a Leaser, and revalidations are coalesced per process

	// shared reports a store passed in Options, which other caches or instances may share;
	// used, that the cache has a soft policy or has met a soft entry. Either way, successful
	// unsafe requests get the writer's cookie (writer.go).
	shared    bool
	used      atomic.Bool
	writerKey []byte

	// unsigned reports a store shared across processes (a Leaser other than a MemoryStore)
	// with no Options.WriterKey: the first use of soft invalidation logs a warning, once.
	unsigned bool
	warned   sync.Once

	// policyWindow is the longest window of the cache's policies (Options.Policy and every
	// MiddlewareWith so far), and metWindow the longest a response's own directives gave an
	// entry, in nanoseconds: they set the life of the writer's cookie (writer.go).
	policyWindow, metWindow atomic.Int64

	// renders bounds the renders that replace stale entries (revalidatebound.go).
	renders renders

	staleServed, staleIfError, revalidations, revalidationFailures, revalidationsSkipped atomic.Uint64
}

// initSoft sets the machinery up in New.
func (c *Cache) initSoft(opts Options) error {
	s := &c.soft
	if opts.MaxRevalidations < 0 {
		return errorf("negative Options.MaxRevalidations %d", opts.MaxRevalidations)
	}
	s.renders.max = opts.MaxRevalidations
	if s.renders.max == 0 {
		s.renders.max = defaultMaxRevalidations()
	}
	s.leaser, _ = c.store.(Leaser)
	s.shared = opts.Store != nil
	_, mem := c.store.(*MemoryStore)
	s.unsigned = opts.WriterKey == nil && s.leaser != nil && !mem
	k, err := newWriterKey(opts.WriterKey)
	if err != nil {
		return err
	}
	s.writerKey = k
	c.notePolicy(c.policy.soft)
	return nil
}

// notePolicy records a policy of the cache, for the writer's cookie.
func (c *Cache) notePolicy(sp softPolicy) {
	if !sp.on() {
		return
	}
	c.softUsed()
	raise(&c.soft.policyWindow, max(sp.whileRevalidate, sp.ifError))
}

// softUsed records that the cache uses soft invalidation (a soft policy, a soft entry met),
// and warns, once, when instances sharing its store sign the writer's cookie each with a
// key of its own: one's cookie is not honoured by the others, which serve the writer stale.
func (c *Cache) softUsed() {
	c.soft.used.Store(true)
	if c.soft.unsigned {
		c.soft.warned.Do(func() {
			c.log.Warn("dumper: soft invalidation with a store shared across processes but no Options.WriterKey: " +
				"a writer's cookie from this instance is not honoured by the others, which may serve the writer a stale page (docs/soft.md)")
		})
	}
}

// raise sets v to d if d is more.
func raise(v *atomic.Int64, d time.Duration) {
	for {
		old := v.Load()
		if int64(d) <= old || v.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// softWindows returns the soft windows of a response, in seconds, as an Entry keeps them:
// its own directives if it has them, else the policy's; none if it says must-revalidate or
// proxy-revalidate.
func (c *Cache) softWindows(p *policy, cc cacheControl) (whileRevalidate, ifError uint16) {
	if cc.mustRevalidate {
		return 0, 0 // it must not be served stale (RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.8)
	}
	w, e := p.soft.whileRevalidate, p.soft.ifError
	if cc.staleWhileRevalidate >= 0 {
		w = min(cc.staleWhileRevalidate, maxSoft)
	}
	if cc.staleIfError >= 0 {
		e = min(cc.staleIfError, maxSoft)
	}
	if w > 0 || e > 0 {
		c.softUsed()
		if cc.staleWhileRevalidate >= 0 || cc.staleIfError >= 0 {
			raise(&c.soft.metWindow, max(w, e))
		}
	}
	return uint16(w / time.Second), uint16(e / time.Second)
}

// softWindow is how long past its invalidation a store keeps e, and when e was made.
func (e *Entry) softWindow() (time.Duration, int64) {
	return time.Duration(max(e.StaleWhileRevalidate, e.StaleIfError)) * time.Second, e.Stored
}

// serveSoft answers a request whose entry was found condemned but within its soft window
// (ms.soft), if it may: within the entry's stale-while-revalidate window, with the stale
// entry at once while one background render replaces it; past it but within its
// stale-if-error window, with a fresh render, or with the stale entry if that render fails.
// It reports false, and the request is a miss like any other, for the client that made a
// write (writer.go), a request with Authorization that the entry may not serve, a request
// inside another render of this cache, which would store what it is served, a request
// within stale-if-error only when Options.MaxRevalidations are running, and a HEAD within
// stale-if-error only. A HEAD never starts a render: the handler it reaches may not be the
// GET's (a route of its own), and only a GET's response is stored (see detailHead); within
// stale-while-revalidate it is served the stale entry, and the next GET starts the render.
// A copy the store returned with an error (ms.storeDown) serves within stale-if-error only:
// the render stores nothing, and its response is the request's unless it fails.
func (m *middleware) serveSoft(w http.ResponseWriter, r *http.Request, ms miss) bool {
	e := ms.soft
	m.c.softUsed()
	if d, _ := e.softWindow(); d > 0 {
		raise(&m.c.soft.metWindow, d) // made by another instance, perhaps
	}
	if _, auth := r.Header["Authorization"]; auth && !e.Public {
		return false
	}
	if m.renderingOuter(r) != nil || m.c.isWriter(r) {
		return false
	}
	head := r.Method == http.MethodHead
	switch age := ms.staleFor; {
	case e.StaleWhileRevalidate > 0 && age <= time.Duration(e.StaleWhileRevalidate)*time.Second && !ms.storeDown:
		if !head {
			m.revalidate(r, ms, true)
		}
		m.c.soft.staleServed.Add(1)
		m.serveStale(w, r, e, age, detailStale, ms.start)
		return true
	case age <= time.Duration(e.StaleIfError)*time.Second && !onlyIfCached(r) && !head:
		// (A request that wants a stored response or nothing must not run the handler.)
		res, sink := m.revalidate(r, ms, false)
		switch res {
		case revalidateFailed:
			m.c.soft.staleIfError.Add(1)
			m.serveStale(w, r, e, age, detailStaleIfError, ms.start)
			return true
		case revalidateSkipped:
			return false
		}
		if !ms.storeDown { // (else the render stored nothing, and its response is the request's)
			if fresh, _, _ := m.lookup(r, ms.key, ms.path); fresh != nil {
				m.hit(w, r, fresh, ms.start, ResultHit)
				return true
			}
		}
		if sink != nil && sink.kept() {
			m.serveRendered(w, r, sink, ms.start)
			return true
		}
	}
	return false
}

// keepCopy keeps, for a lookup that failed, the copy of the entry the store returned with
// the error, if it has one within its stale-if-error window (see [Store]): a store down
// is a failure that stale-if-error covers, when the render fails too.
func (ms *miss) keepCopy(l Lookup) {
	if e := l.Entry; e != nil && l.Stale && e.Kind != VariantRecord && l.StaleFor <= time.Duration(e.StaleIfError)*time.Second {
		ms.soft, ms.staleFor, ms.storeDown = e, l.StaleFor, true
	}
}

// serveStale sends a stale entry, with an Age, and a Cache-Status that says it is a hit
// whose freshness ran out age ago, in whole seconds rounded up (RFC 9211 §2.5: a negative
// ttl is a stale response) and
// why it was served all the same: detail=stale while it is revalidated, detail=stale-if-error
// when the render failed. An edge in front is told not to store it: nothing would purge it
// once the render replaces it.
func (m *middleware) serveStale(w http.ResponseWriter, r *http.Request, e *Entry, age time.Duration, d detail, start time.Time) {
	// Whole seconds, rounded up: a stale response's ttl is -1 or less, never -0, which
	// is 0 (RFC 8941 §3.3.1).
	secs := max(int64((age+time.Second-1)/time.Second), 1)
	cs := m.c.name + "; hit; ttl=-" + strconv.FormatInt(secs, 10) + "; detail=" + d.String()
	if m.p.edge != nil {
		w = edgeWriter{w, m.p.edge}
	}
	code := respond(w, r, e, []string{cs}, true)
	if start != (time.Time{}) {
		m.c.observeRequest(r.Context(), start, RequestEvent{Result: ResultStale, Detail: d.String(), Status: code})
	}
}

// serveRendered sends the response of a foreground render (see revalidate) that was not
// stored (a 404, say) to the request that waited for it, rather than run the handler a
// second time for it. The render saw none of the request's cookies: a cookie it set is not
// passed on, lest it replace the client's own. An edge in front is told not to store it.
func (m *middleware) serveRendered(w http.ResponseWriter, r *http.Request, sink *detachedWriter, start time.Time) {
	h := w.Header()
	for k, v := range sink.h {
		if k != "Set-Cookie" {
			h[k] = v
		}
	}
	if m.p.edge != nil {
		m.p.edge.Refuse(h)
	}
	w.WriteHeader(sink.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(sink.body)
	}
	if start != (time.Time{}) {
		m.c.observeRequest(r.Context(), start, RequestEvent{Result: ResultMiss, Fwd: fwdStale.String(), Detail: sink.detail.String(), Status: sink.status})
	}
}
