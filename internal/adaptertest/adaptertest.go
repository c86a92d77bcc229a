// Package adaptertest holds what the tests of the framework adapters (gindumper, echodumper,
// echov5dumper) share: a request with the response it must get ([Step]), and the checks
// that do not depend on the framework, each given a function that builds the framework's
// site around handlers written against net/http's types.
package adaptertest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
)

// Cache-Status values the tests expect often.
const (
	Stored   = "dumper; fwd=uri-miss; stored"
	Hit      = "dumper; hit"
	Stale    = "dumper; fwd=stale; stored"
	ByStatus = "dumper; fwd=uri-miss; detail=status"
	HeadMiss = "dumper; fwd=uri-miss; detail=head"
)

// NewCache returns a cache with the zero Options, closed when the test ends.
func NewCache(tb testing.TB) *dumper.Cache {
	tb.Helper()
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Step is one request of a scenario and what its response must be.
type Step struct {
	Method, Target string
	Header         []string // name, value pairs
	Code           int
	CacheStatus    string // "-": no Cache-Status
	Body           string
	Runs           int64 // the handler's run count after the request; 0: not checked
	Also           func(t *testing.T, w *httptest.ResponseRecorder)
}

// Do sends the step's request to h and checks the response; runs counts the handler's runs.
func (s Step) Do(t *testing.T, h http.Handler, runs *atomic.Int64) {
	t.Helper()
	r := httptest.NewRequest(s.Method, s.Target, nil)
	for i := 0; i+1 < len(s.Header); i += 2 {
		r.Header.Add(s.Header[i], s.Header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	what := s.Method + " " + s.Target
	if w.Code != s.Code {
		t.Errorf("%s: status %d, want %d (body %q)", what, w.Code, s.Code, w.Body)
	}
	cs, want := w.Header().Get("Cache-Status"), s.CacheStatus
	if want == "-" {
		want = ""
	}
	if cs != want {
		t.Errorf("%s: Cache-Status %q, want %q", what, cs, want)
	}
	if got := w.Body.String(); got != s.Body {
		t.Errorf("%s: body %q, want %q", what, got, s.Body)
	}
	if s.Runs != 0 && runs.Load() != s.Runs {
		t.Errorf("%s: the handler ran %d times, want %d", what, runs.Load(), s.Runs)
	}
	if s.Also != nil {
		s.Also(t, w)
	}
}

// Run does each step in turn.
func Run(t *testing.T, h http.Handler, runs *atomic.Int64, steps ...Step) {
	t.Helper()
	for _, s := range steps {
		s.Do(t, h, runs)
	}
}

// WantHeader returns a Step.Also that checks a response header field.
func WantHeader(name, value string) func(*testing.T, *httptest.ResponseRecorder) {
	return func(t *testing.T, w *httptest.ResponseRecorder) {
		t.Helper()
		if got := w.Header().Get(name); got != value {
			t.Errorf("%s: %q, want %q", name, got, value)
		}
	}
}

// RenderContext checks that the request a framework's handler gets carries the render, so
// that what dumper.Tag, the data layers' capture (dumper.ReadRows, which gormdumper,
// sqldumper and pgxdumper call with the context a query gets) and a Cache-Tag header record
// counts. site builds the framework's site, with the adapter for the whole site and a route
// GET /p whose handler writes, with 200, what page returns for its request and response
// header.
func RenderContext(t *testing.T, site func(c *dumper.Cache, page func(r *http.Request, h http.Header) string) http.Handler) {
	tests := []struct {
		name       string
		handle     func(r *http.Request, h http.Header)
		invalidate string // the tag invalidated
		stale      bool   // whether that drops the page
	}{
		{"Tag", func(r *http.Request, h http.Header) { dumper.Tag(r.Context(), "icecream:1") }, "icecream:1", true},
		{"ReadRows", func(r *http.Request, h http.Header) { dumper.ReadRows(r.Context(), "ice_creams", "slug", "vanilla") },
			dumper.RowTag("ice_creams", "slug", "vanilla"), true},
		{"ReadRows, another row written", func(r *http.Request, h http.Header) { dumper.ReadRows(r.Context(), "ice_creams", "slug", "vanilla") },
			dumper.RowTag("ice_creams", "slug", "chocolate"), false},
		{"a Cache-Tag header", func(r *http.Request, h http.Header) { h.Set("Cache-Tag", "icecream:1") }, "icecream:1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewCache(t)
			var runs atomic.Int64
			h := site(c, func(r *http.Request, h http.Header) string {
				if !dumper.Rendering(r.Context()) {
					t.Error("the handler's request context is not the render's")
				}
				tt.handle(r, h)
				return fmt.Sprintf("n=%d", runs.Add(1))
			})
			Step{Method: "GET", Target: "/p", Code: 200, CacheStatus: Stored, Body: "n=1", Also: WantHeader("Cache-Tag", "")}.Do(t, h, &runs)
			if err := c.InvalidateTags(context.Background(), tt.invalidate); err != nil {
				t.Fatal(err)
			}
			want := Step{Method: "GET", Target: "/p", Code: 200, CacheStatus: Hit, Body: "n=1"}
			if tt.stale {
				want = Step{Method: "GET", Target: "/p", Code: 200, CacheStatus: Stale, Body: "n=2"}
			}
			want.Do(t, h, &runs)
		})
	}
}

// Coalescing sends concurrent misses for one page through a framework's site and checks that
// the handler runs once. site builds the site, with the adapter for the whole site and a
// route GET /p whose handler writes, with 200, what page returns.
func Coalescing(t *testing.T, site func(c *dumper.Cache, page func() string) http.Handler) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCache(t)
		started, release := make(chan struct{}), make(chan struct{})
		var runs atomic.Int64
		h := site(c, func() string {
			if runs.Add(1) == 1 {
				close(started)
				<-release
			}
			return "page"
		})
		const n = 8
		res := make([]*httptest.ResponseRecorder, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				res[i] = httptest.NewRecorder()
				h.ServeHTTP(res[i], httptest.NewRequest("GET", "/p", nil))
			})
		}
		<-started
		synctest.Wait()
		if got := c.Stats().Coalesced; got != n-1 {
			t.Errorf("%d requests wait for the render, want %d", got, n-1)
		}
		close(release)
		wg.Wait()
		if runs.Load() != 1 {
			t.Fatalf("the handler ran %d times for %d concurrent misses, want 1", runs.Load(), n)
		}
		hits := 0
		for _, w := range res {
			if w.Body.String() != "page" {
				t.Errorf("body %q", w.Body)
			}
			if w.Header().Get("Cache-Status") == Hit {
				hits++
			}
		}
		if hits != n-1 {
			t.Errorf("%d hits, want %d", hits, n-1)
		}
	})
}

// WriterInterfaces runs handlers over a real server, each given the framework's writer and
// request: a flushed response streams through (its first part reaches the client before the
// handler returns) and is not stored; a hijacked connection belongs to the handler;
// http.ResponseController reaches the server's writer; io.Copy into the writer is stored.
// site builds the framework's site, with the adapter for the whole site and a GET route for
// each of routes.
func WriterInterfaces(t *testing.T, site func(c *dumper.Cache, routes map[string]http.HandlerFunc) http.Handler) {
	firstRead := make(chan struct{})
	routes := map[string]http.HandlerFunc{
		"/stream": func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "first\n")
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
			<-firstRead // the client has the first part
			_, _ = io.WriteString(w, "second\n")
		},
		"/hijack": func(w http.ResponseWriter, r *http.Request) {
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			_ = rw.Flush()
		},
		"/deadline": func(w http.ResponseWriter, r *http.Request) {
			if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Errorf("SetWriteDeadline through the adapter: %v", err)
			}
			_, _ = io.WriteString(w, "deadline")
		},
		"/copy": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			if _, err := io.Copy(w, strings.NewReader("copied")); err != nil {
				t.Error(err)
			}
		},
	}
	srv := httptest.NewServer(site(NewCache(t), routes))
	defer srv.Close()

	res, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first part %q, %v", line, err)
	}
	close(firstRead)
	rest, _ := io.ReadAll(br)
	res.Body.Close()
	if string(rest) != "second\n" || res.Header.Get("Cache-Status") != "dumper; fwd=uri-miss; detail=streamed" {
		t.Errorf("stream: rest %q, Cache-Status %q", rest, res.Header.Get("Cache-Status"))
	}
	for _, tt := range []struct{ path, body, cacheStatus string }{
		{"/hijack", "hijacked", ""},
		{"/hijack", "hijacked", ""},
		{"/deadline", "deadline", Stored},
		{"/deadline", "deadline", Hit},
		{"/copy", "copied", Stored},
		{"/copy", "copied", Hit},
	} {
		res, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != tt.body || res.Header.Get("Cache-Status") != tt.cacheStatus {
			t.Errorf("%s: body %q, Cache-Status %q; want %q, %q", tt.path, b, res.Header.Get("Cache-Status"), tt.body, tt.cacheStatus)
		}
	}
}

// SameAsNetHTTP sends the same requests through a framework's site and through the net/http
// middleware around the same page, and checks that the responses are the same, header and
// body. site builds the framework's site, with the adapter for the whole site and page
// serving GET and HEAD /p.
func SameAsNetHTTP(t *testing.T, site func(c *dumper.Cache, page http.HandlerFunc) http.Handler) {
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<p>%s %s</p>", r.URL.RequestURI(), r.Header.Get("Accept-Language"))
	}
	fw := site(NewCache(t), page)
	std := NewCache(t).Middleware(http.HandlerFunc(page))
	for _, req := range []struct {
		method, target string
		header         []string
	}{
		{"GET", "/p?a=1", []string{"Accept-Language", "fr"}},
		{"GET", "/p?a=1", []string{"Accept-Language", "fr"}},
		{"GET", "/p?a=1", []string{"Accept-Language", "en"}},
		{"HEAD", "/p?a=1", []string{"Accept-Language", "en"}},
		{"GET", "/p?a=1", []string{"Accept-Language", "en", "If-None-Match", `"nope"`}},
		{"GET", "/p?a=2", []string{"Authorization", "Bearer x"}},
		{"GET", "/p", []string{"Cache-Control", "only-if-cached"}},
		{"GET", "/p", []string{"Range", "bytes=0-1"}},
	} {
		var got [2]*httptest.ResponseRecorder
		for i, h := range []http.Handler{fw, std} {
			rq := httptest.NewRequest(req.method, req.target, nil)
			for j := 0; j+1 < len(req.header); j += 2 {
				rq.Header.Set(req.header[j], req.header[j+1])
			}
			got[i] = httptest.NewRecorder()
			h.ServeHTTP(got[i], rq)
		}
		f, n := got[0], got[1]
		if f.Code != n.Code || f.Body.String() != n.Body.String() || fmt.Sprint(f.Header()) != fmt.Sprint(n.Header()) {
			t.Errorf("%s %s %v:\nframework %d %v %q\nnet/http  %d %v %q", req.method, req.target, req.header,
				f.Code, f.Header(), f.Body, n.Code, n.Header(), n.Body)
		}
	}
}

// BenchCase is one way of serving the benchmark's page: handler builds it with a cache, and
// hit says whether its responses come from the cache.
type BenchCase struct {
	Name    string
	Handler func(c *dumper.Cache, page http.HandlerFunc, body []byte) http.Handler
	Hit     bool
}

// BenchmarkHit serves a stored 4 KiB page the net/http middleware's way ("nethttp", the
// baseline) and then each of cases, into a writer that discards it, with one request reused.
func BenchmarkHit(b *testing.B, cases ...BenchCase) {
	body := bytes.Repeat([]byte("<p>Pistachio, hazelnut, stracciatella.</p>\n"), 100)[:4<<10]
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(body)
	}
	cases = append([]BenchCase{{"nethttp", func(c *dumper.Cache, page http.HandlerFunc, _ []byte) http.Handler {
		return c.Middleware(page)
	}, true}}, cases...)
	for _, bc := range cases {
		b.Run(bc.Name, func(b *testing.B) {
			h := bc.Handler(NewCache(b), page, body)
			r := httptest.NewRequest(http.MethodGet, "/p", nil)
			w := &discardWriter{h: make(http.Header, 16)}
			h.ServeHTTP(w, r)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.status = 0
				h.ServeHTTP(w, r)
			}
			if bc.Hit && w.h.Get("Cache-Status") != Hit {
				b.Fatalf("Cache-Status %q, want a hit", w.h.Get("Cache-Status"))
			}
		})
	}
}

// discardWriter keeps nothing but the status; its header map survives between iterations,
// so that serving into it allocates nothing of its own (as in the root module's benchmarks).
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
