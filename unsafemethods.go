package dumper

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// serveOther handles methods other than GET and HEAD: they are never answered from the
// cache, and an unsafe request (any method but OPTIONS and TRACE) that succeeds invalidates
// its path and the paths its response points to (RFC 9111 §4.4).
func (m *middleware) serveOther(w http.ResponseWriter, r *http.Request) {
	m.c.stats.passes.Add(1)
	w.Header()["Cache-Status"] = m.c.status.method
	start := m.c.requestStart()
	if r.Method == http.MethodOptions || r.Method == http.MethodTrace {
		m.next.ServeHTTP(w, r)
		if start != (time.Time{}) {
			m.c.observeRequest(r.Context(), start, RequestEvent{Result: ResultUnsafe, Fwd: fwdMethod.String(), Render: time.Since(start)})
		}
		return
	}
	uw := &unsafeWriter{ResponseWriter: w, m: m, r: r}
	m.next.ServeHTTP(uw, r)
	if !uw.wroteHeader && !uw.hijacked {
		uw.status = http.StatusOK
		uw.invalidate() // the handler wrote nothing: an implicit 200
	}
	if start != (time.Time{}) {
		m.c.observeRequest(r.Context(), start, RequestEvent{Result: ResultUnsafe, Fwd: fwdMethod.String(), Status: uw.status, Render: time.Since(start)})
	}
}

// unsafeWriter watches the status of an unsafe request's response: before a success status
// goes out, it invalidates the request's path and those named by Location and
// Content-Location on the same host (RFC 9111 §4.4). Invalidating before the client gets the
// response means its next request cannot see the page as it was.
type unsafeWriter struct {
	http.ResponseWriter
	m           *middleware
	r           *http.Request
	wroteHeader bool
	hijacked    bool
	status      int
}

func (uw *unsafeWriter) WriteHeader(code int) {
	if !uw.wroteHeader && code >= 200 {
		uw.wroteHeader = true
		uw.status = code
		if code < 400 {
			uw.invalidate()
		}
	}
	uw.ResponseWriter.WriteHeader(code)
}

func (uw *unsafeWriter) Write(p []byte) (int, error) {
	if !uw.wroteHeader {
		uw.WriteHeader(http.StatusOK)
	}
	return uw.ResponseWriter.Write(p)
}

func (uw *unsafeWriter) ReadFrom(src io.Reader) (int64, error) {
	if !uw.wroteHeader {
		uw.WriteHeader(http.StatusOK)
	}
	return io.Copy(uw.ResponseWriter, src)
}

func (uw *unsafeWriter) FlushError() error {
	if !uw.wroteHeader {
		uw.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(uw.ResponseWriter).Flush()
}

func (uw *unsafeWriter) Flush() { _ = uw.FlushError() }

func (uw *unsafeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(uw.ResponseWriter).Hijack()
	if err == nil {
		uw.hijacked = true
	}
	return conn, rw, err
}

func (uw *unsafeWriter) Unwrap() http.ResponseWriter { return uw.ResponseWriter }

func (uw *unsafeWriter) invalidate() {
	r := uw.r
	uw.m.markWriter(uw.ResponseWriter.Header()) // its next requests get no stale page (writer.go)
	path := requestPath(r)
	// A page is cached under a key that holds its target as sent, so a target longer than a
	// key may be was never cached. The canonical path can be longer than the target (each
	// "|" becomes "%7C"): it is not what decides.
	if len(path) > uw.m.p.maxKey && len(r.RequestURI) > uw.m.p.maxKey {
		return // never cached: nothing to invalidate
	}
	tags := []string{pathTag(path)}
	h := uw.ResponseWriter.Header()
	for _, name := range []string{"Location", "Content-Location"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		u, err := r.URL.Parse(v)
		if err != nil || (u.Host != "" && !strings.EqualFold(u.Host, r.Host)) {
			continue
		}
		if p := urlPath(u); len(p) <= uw.m.p.maxKey || len(v) <= uw.m.p.maxKey {
			tags = append(tags, pathTag(p))
		}
	}
	// The client may hang up; the invalidation must happen all the same.
	ctx := context.WithoutCancel(r.Context())
	if len(uw.m.c.obs.invalidation) > 0 {
		ctx = WithSource(ctx, SourceRequest, time.Now())
	}
	_ = uw.m.c.invalidate(ctx, tags)
}
