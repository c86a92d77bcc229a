package dumper

import (
	"context"
	"net/http"
	"slices"
)

// A revalidation renders a soft entry's page anew, without a client (see
// [middleware.revalidate]).

// The outcomes of middleware.revalidate.
type revalidateResult uint8

const (
	revalidateStarted revalidateResult = iota // a background render was started
	revalidateJoined                          // another render of the key is under way, here or on another instance
	revalidateDone                            // the render completed
	revalidateFailed                          // the render failed: a 5xx, a panic, or the timeout
)

// revalidate renders the page of the soft entry ms.soft anew, to replace it: with the
// request's key headers and the headers the entry varies on but nothing else of the request
// (no cookie, no Authorization, no client connection), under the policy's timeout, with its
// own panic recovery. It is coalesced with any other render of the key in this process (the
// misses of writers wait for it) and, in the background, with the other processes sharing
// the store through the store's lease on the key.
//
// In the background it returns at once. Otherwise it waits for the render, for the timeout
// at most, and reports how it went; when another render of the key is under way it waits for
// that one and reports revalidateJoined.
func (m *middleware) revalidate(r *http.Request, ms miss, background bool) revalidateResult {
	call, leader := m.c.flight.join(ms.lastKey)
	if !leader {
		if !background {
			select {
			case <-call.done:
			case <-r.Context().Done():
			}
		}
		return revalidateJoined
	}
	base := context.WithoutCancel(r.Context())
	var release func()
	if background && m.c.soft.leaser != nil {
		rel, ok, err := m.c.soft.leaser.Lease(base, "revalidate:"+ms.lastKey, m.p.soft.timeout)
		if err != nil || !ok {
			if err != nil {
				m.c.storeError(base, "lease", err)
			}
			m.c.flight.leave(ms.lastKey, call)
			return revalidateJoined
		}
		release = rel
	}
	ctx, cancel := context.WithTimeout(base, m.p.soft.timeout)
	req := detachedRequest(ctx, r, m.p.keyHeaders, ms.soft)
	m.c.soft.revalidations.Add(1)
	done := make(chan bool, 1)
	go func() { done <- m.renderDetached(req, ms) }()
	finish := func() revalidateResult {
		var failed bool
		select {
		case failed = <-done:
		case <-ctx.Done():
			failed = true // the timeout: the handler may go on, but nothing it renders is stored
		}
		failed = failed || ctx.Err() != nil
		cancel()
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
		return revalidateStarted
	}
	return finish()
}

// renderDetached runs the handler for req, a detached request (see detachedRequest), and
// stores the response as a miss would. It reports whether the render failed: a 5xx, a panic
// (recovered here and logged), or a render the timeout cut short.
func (m *middleware) renderDetached(req *http.Request, ms miss) (failed bool) {
	sink := &detachedWriter{h: http.Header{}}
	ms.leads = nil // revalidate wakes the waiters
	cw := &captureWriter{w: sink, p: m.p, c: m.c, r: req, miss: ms}
	rs := &renderState{c: m.c, cw: cw}
	cw.rs = rs
	defer func() {
		if v := recover(); v != nil {
			failed = true
			m.c.log.ErrorContext(req.Context(), "dumper: handler panicked in a background render", "url", req.URL.String(), "panic", v)
		}
	}()
	m.next.ServeHTTP(cw, req.WithContext(context.WithValue(req.Context(), renderKey{}, rs)))
	cw.finish()
	return sink.status >= 500 || req.Context().Err() != nil
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

// detachedWriter is the ResponseWriter of a detached render: it keeps the status and drops
// the rest.
type detachedWriter struct {
	h      http.Header
	status int
}

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
	return len(p), nil
}
