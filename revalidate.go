package dumper

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"
)

// A revalidation renders a soft entry's page anew, without a client (see
// [middleware.revalidate]).

// The outcomes of middleware.revalidate.
type revalidateResult uint8

const (
	revalidateStarted revalidateResult = iota // a background render was started
	revalidateJoined                          // another render of the key is under way, here or on another instance, or it ended without failing
	revalidateDone                            // the render completed
	revalidateFailed                          // the render failed (a 5xx, a panic, the timeout), or the one waited for did, or the key's last render still runs past its timeout
	revalidateSkipped                         // no render was started: Options.MaxRevalidations are running, or (in the background) the key's last render still runs
)

// The states of a detached render, which decide whether what it rendered may be stored.
const (
	rendering  int32 = iota // the handler runs
	committing              // the handler returned in time: its response is stored, if it may be
	abandoned               // the timeout came first: nothing it renders is stored
)

// revalidate renders the page of the soft entry ms.soft anew, to replace it: with the
// request's key headers and the headers the entry varies on but nothing else of the request
// (no cookie, no Authorization, no client connection), under the policy's timeout, with its
// own panic recovery. It is coalesced with any other render of the key in this process (the
// misses of writers wait for it) and, in the background, with the other processes sharing
// the store through the store's lease on the key. It is bounded by Options.MaxRevalidations
// (revalidatebound.go), and a key whose last render outlived its timeout and still runs
// gets no other. Only a GET starts one (revalidateSkipped otherwise, uncounted): a HEAD may
// reach a handler of its own, whose response must not be stored as the page.
//
// In the background it returns at once. Otherwise it waits for the render, for the timeout
// at most, and reports how it went, with the response it rendered when it completed; when
// another render of the key is under way it waits for that one and reports
// revalidateJoined, or revalidateFailed if that one failed.
func (m *middleware) revalidate(r *http.Request, ms miss, background bool) (revalidateResult, *detachedWriter) {
	if r.Method != http.MethodGet {
		return revalidateSkipped, nil // only a GET's handler renders the page (see serveSoft)
	}
	call, leader := m.c.flight.join(ms.lastKey)
	if !leader {
		if !background {
			select {
			case <-call.done:
				if call.failed {
					return revalidateFailed, nil
				}
			case <-r.Context().Done():
			}
		}
		return revalidateJoined, nil
	}
	switch m.c.soft.renders.acquire(ms.lastKey) {
	case acquiredBusy: // the handler hangs, past its timeout: a failure, and no other render
		m.c.soft.revalidationsSkipped.Add(1)
		call.failed = true
		m.c.flight.leave(ms.lastKey, call)
		if background {
			return revalidateSkipped, nil
		}
		return revalidateFailed, nil
	case acquiredFull:
		m.c.soft.revalidationsSkipped.Add(1)
		m.c.flight.leave(ms.lastKey, call)
		return revalidateSkipped, nil
	}
	base := context.WithoutCancel(r.Context())
	var release func()
	if background && m.c.soft.leaser != nil {
		rel, ok, err := m.c.soft.leaser.Lease(base, "revalidate:"+ms.lastKey, m.p.soft.timeout)
		if err != nil || !ok {
			if err != nil {
				m.c.storeError(base, "lease", err)
			}
			m.c.soft.renders.release(ms.lastKey)
			m.c.flight.leave(ms.lastKey, call)
			return revalidateJoined, nil
		}
		release = rel
	}
	ctx, cancel := context.WithTimeout(base, m.p.soft.timeout)
	req := detachedRequest(ctx, r, m.p.keyHeaders, ms.soft)
	m.c.soft.revalidations.Add(1)
	sink := &detachedWriter{h: http.Header{}}
	if !background {
		sink.keep = m.p.maxBody // the response goes to this request if it is not stored
	}
	var state atomic.Int32
	done := make(chan bool, 1)
	go func() {
		failed := true
		defer func() {
			m.c.soft.renders.release(ms.lastKey) // only now: the handler has returned
			done <- failed
		}()
		failed = m.renderDetached(req, ms, sink, &state)
	}()
	finish := func() revalidateResult {
		var failed bool
		select {
		case failed = <-done:
		case <-ctx.Done():
			if state.CompareAndSwap(rendering, abandoned) {
				failed = true // the timeout: the handler may go on, but nothing it renders is stored
			} else {
				failed = <-done // it returned in time and is storing its response
			}
		}
		cancel()
		call.failed = failed
		m.c.flight.leave(ms.lastKey, call)
		if release != nil {
			release()
		}
		if failed {
			m.c.soft.revalidationFailures.Add(1)
			m.c.log.WarnContext(base, "dumper: render to replace a stale entry failed", "key", ms.lastKey)
			return revalidateFailed
		}
		return revalidateDone
	}
	if background {
		go finish()
		return revalidateStarted, nil
	}
	if res := finish(); res != revalidateDone {
		return res, nil
	}
	return revalidateDone, sink
}

// renderDetached runs the handler for req, a detached request (see detachedRequest), into
// sink, and stores the response as a miss would if the handler returned before the timeout
// (state, see revalidate). It reports whether the render failed: a 5xx, a panic (recovered
// here and logged), or a render the timeout cut short.
func (m *middleware) renderDetached(req *http.Request, ms miss, sink *detachedWriter, state *atomic.Int32) (failed bool) {
	ms.leads = nil // revalidate wakes the waiters
	cw := &captureWriter{w: sink, p: m.p, c: m.c, r: req, miss: ms}
	if ms.detail != noDetail {
		cw.mode = passing // nothing is stored (the store is down: see serveSoft)
	}
	rs := &renderState{c: m.c, cw: cw}
	cw.rs = rs
	defer func() {
		if v := recover(); v != nil {
			failed = true
			m.c.log.ErrorContext(req.Context(), "dumper: handler panicked in a background render", "url", req.URL.String(), "panic", v)
		}
	}()
	m.next.ServeHTTP(cw, req.WithContext(context.WithValue(req.Context(), renderKey{}, rs)))
	if req.Context().Err() != nil || !state.CompareAndSwap(rendering, committing) {
		return true // the timeout came first: nothing is stored
	}
	cw.finish()
	sink.detail = cw.miss.detail
	return sink.status >= 500
}

// detachedRequest is the GET that renders r's page anew without r's client: a copy of r
// (its URL, Host, request-target, TLS state and route's path values, all of which the key
// holds or the router gave) with only the headers that the key holds, the policy's key
// headers and those the entry e varies on; no body, no remote address, and ctx.
func detachedRequest(ctx context.Context, r *http.Request, keyHeaders *headerSet, e *Entry) *http.Request {
	vary, _ := parseVary(e.Header.Values("Vary"))
	h := make(http.Header, len(vary))
	for k, vs := range r.Header {
		if keyHeaders.has(k) || slices.Contains(vary, k) {
			h[k] = slices.Clone(vs)
		}
	}
	req := r.Clone(ctx)
	req.Method = http.MethodGet
	req.Header = h
	req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	req.TransferEncoding, req.Trailer, req.Close = nil, nil, false
	req.Form, req.PostForm, req.MultipartForm = nil, nil, nil
	req.RemoteAddr = ""
	req.Response = nil
	return req
}

// detachedWriter is the ResponseWriter of a detached render: it keeps the status, and the
// header and up to keep bytes of the body for a foreground render, whose response goes to
// the request that waits for it when it is not stored (see serveSoft).
type detachedWriter struct {
	h      http.Header
	status int
	detail detail // why the response was not stored, if it was not

	keep int // the most body bytes kept; zero: none
	body []byte
	over bool // the body was longer than keep
}

// kept reports whether w holds the whole response.
func (w *detachedWriter) kept() bool { return w.keep > 0 && !w.over && w.status != 0 }

func (w *detachedWriter) Header() http.Header { return w.h }

func (w *detachedWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
}

func (w *detachedWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	switch {
	case w.keep == 0 || w.over:
	case len(w.body)+len(p) > w.keep:
		w.over, w.body = true, nil
	default:
		w.body = append(w.body, p...)
	}
	return len(p), nil
}
