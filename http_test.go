package dumper_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
)

func TestConditionalRequests(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	const (
		lm     = "Tue, 24 Nov 2026 10:00:00 GMT"
		lmPast = "Tue, 24 Nov 2026 09:59:59 GMT" // a second before lm
		lmNext = "Tue, 24 Nov 2026 11:00:00 GMT" // an hour after lm
	)
	h, runs := counting(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/p" {
			w.Header().Set("Last-Modified", lm)
		}
	})
	mw := c.Middleware(h)
	first := do(t, mw, "GET", "/p")
	etag := first.Header().Get("ETag")
	if etag == "" || first.Header().Get("Last-Modified") != lm {
		t.Fatalf("stored response lacks validators: ETag %q Last-Modified %q", etag, first.Header().Get("Last-Modified"))
	}
	if got := first.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("browser Cache-Control = %q, want no-cache", got)
	}
	tests := []struct {
		name string
		hdr  []string
		code int
	}{
		{"matching etag", []string{"If-None-Match", etag}, 304},
		{"weak form", []string{"If-None-Match", "W/" + etag}, 304},
		{"in a list", []string{"If-None-Match", `"x", ` + etag}, 304},
		{"star", []string{"If-None-Match", "*"}, 304},
		{"other etag", []string{"If-None-Match", `"x"`}, 200},
		{"if-modified-since later", []string{"If-Modified-Since", lmNext}, 304},
		{"if-modified-since same", []string{"If-Modified-Since", lm}, 304},
		{"if-modified-since a second before", []string{"If-Modified-Since", lmPast}, 200},
		{"if-modified-since past", []string{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}, 200},
		{"etag wins over date", []string{"If-None-Match", `"x"`, "If-Modified-Since", lm}, 200},
		{"malformed", []string{"If-None-Match", `"unterminated`}, 200},
	}
	for _, tt := range tests {
		w := do(t, mw, "GET", "/p", tt.hdr...)
		if w.Code != tt.code {
			t.Errorf("%s: code %d, want %d", tt.name, w.Code, tt.code)
		}
		if tt.code == 304 {
			if w.Body.Len() != 0 || w.Header().Get("ETag") != etag || w.Header().Get("Content-Length") != "" {
				t.Errorf("%s: 304 with body %q ETag %q Content-Length %q", tt.name, w.Body.String(), w.Header().Get("ETag"), w.Header().Get("Content-Length"))
			}
			wantStatus(t, w, "dumper; hit")
		}
	}
	if runs.Load() != 1 {
		t.Errorf("handler ran %d times, want 1: revalidation is answered from the cache", runs.Load())
	}

	// Without a Last-Modified, an If-Modified-Since is no reason for a 304, whatever its date.
	do(t, mw, "GET", "/nolm")
	if w := do(t, mw, "GET", "/nolm", "If-Modified-Since", lmNext); w.Code != 200 {
		t.Errorf("If-Modified-Since without a Last-Modified: code %d, want 200", w.Code)
	}

	// A conditional request that misses renders the full page, stores it and answers 304.
	c.InvalidatePaths(t.Context(), "/p")
	w := do(t, mw, "GET", "/p", "If-None-Match", "*")
	if w.Code != 304 || status(w) != "dumper; fwd=stale; stored" {
		t.Errorf("conditional miss: %d %q", w.Code, status(w))
	}
	wantStatus(t, do(t, mw, "GET", "/p"), "dumper; hit")
}

// TestRenderedAgainWithinTheSecond: the cache makes up no Last-Modified, so that a page
// rendered again within the second its old version was stored in is never answered 304 to a
// client that holds the old version and asks with If-Modified-Since: HTTP dates have whole
// seconds, and the two renders would have the same one. It runs in a synctest bubble, so the
// renders are 100 ms apart however slow the machine, and within one second of the clock.
func TestRenderedAgainWithinTheSecond(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		h, _ := counting(nil)
		mw := c.Middleware(h)
		old := do(t, mw, "GET", "/p")
		wantBody(t, old, "n=1 /p ")
		if lm := old.Header().Get("Last-Modified"); lm != "" {
			t.Fatalf("Last-Modified %q made up", lm)
		}
		time.Sleep(100 * time.Millisecond)
		if w := do(t, mw, "GET", "/p"); w.Header().Get("Last-Modified") != "" || !isHit(w) {
			t.Fatalf("hit: Cache-Status %q, Last-Modified %q; want a hit without one", status(w), w.Header().Get("Last-Modified"))
		}
		c.InvalidatePaths(t.Context(), "/p")
		time.Sleep(100 * time.Millisecond)
		// What a client that holds the old page can send: the time it got it, and its ETag.
		heldSince := time.Now().UTC().Format(http.TimeFormat) // the same second as the old page
		tests := []struct {
			name string
			hdr  []string
			code int
			body string
		}{
			{"if-modified-since the same second", []string{"If-Modified-Since", heldSince}, 200, "n=2 /p "},
			{"if-none-match the old etag", []string{"If-None-Match", old.Header().Get("ETag")}, 200, "n=2 /p "},
			{"if-none-match the old etag, if-modified-since the same second", []string{"If-None-Match", old.Header().Get("ETag"), "If-Modified-Since", heldSince}, 200, "n=2 /p "},
		}
		for _, tt := range tests {
			w := do(t, mw, "GET", "/p", tt.hdr...)
			if w.Code != tt.code || w.Body.String() != tt.body {
				t.Errorf("%s: %d %q, want %d %q", tt.name, w.Code, w.Body.String(), tt.code, tt.body)
			}
		}
		if got := time.Now().Truncate(time.Second); !got.Equal(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("the renders were not within one second of the bubble's clock: now %v", time.Now())
		}
	})
}

func TestHandlerETagAndCacheControlAreKept(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			t.Error("the handler saw a validator on a miss")
		}
		w.Header().Set("ETag", `W/"v1"`)
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write([]byte("x"))
	}))
	w := do(t, mw, "GET", "/p", "If-None-Match", `"v0"`)
	if w.Code != 200 || w.Header().Get("ETag") != `W/"v1"` || w.Header().Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("got %d ETag %q Cache-Control %q", w.Code, w.Header().Get("ETag"), w.Header().Get("Cache-Control"))
	}
	if w := do(t, mw, "GET", "/p", "If-None-Match", `"v1"`); w.Code != 304 {
		t.Errorf("weak comparison: code %d, want 304", w.Code)
	}
}

func TestBrowserCacheControlPolicy(t *testing.T) {
	t.Parallel()
	c := newCache(t, dumper.Options{Policy: dumper.Policy{BrowserCacheControl: "max-age=0, must-revalidate", SendAge: true}})
	h, _ := counting(nil)
	mw := c.Middleware(h)
	for i := range 2 {
		w := do(t, mw, "GET", "/p")
		if got := w.Header().Get("Cache-Control"); got != "max-age=0, must-revalidate" {
			t.Errorf("Cache-Control = %q", got)
		}
		if hasAge := w.Header().Get("Age") != ""; hasAge != (i == 1) {
			t.Errorf("request %d: Age %q; want one on hits only", i, w.Header().Get("Age"))
		}
	}
}

// TestHead: a HEAD that misses goes to the handler as it came and is not stored, since the
// handler a HEAD reaches may not be the GET's; a HEAD that hits is answered from the GET's
// response, without a body.
func TestHead(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, runs := counting(nil)
	mw := c.Middleware(h)
	wantStatus(t, do(t, mw, "HEAD", "/p"), "dumper; fwd=uri-miss; detail=head")
	get := do(t, mw, "GET", "/p")
	wantStatus(t, get, "dumper; fwd=uri-miss; stored")
	wantBody(t, get, "n=2 /p ")
	head := do(t, mw, "HEAD", "/p")
	wantStatus(t, head, "dumper; hit")
	if head.Body.Len() != 0 {
		t.Errorf("HEAD response has a body: %q", head.Body.String())
	}
	if head.Header().Get("Content-Length") != get.Header().Get("Content-Length") {
		t.Errorf("HEAD Content-Length %q, GET %q", head.Header().Get("Content-Length"), get.Header().Get("Content-Length"))
	}
	if runs.Load() != 2 {
		t.Errorf("handler ran %d times, want 2", runs.Load())
	}
}

// TestHeadRouteOfItsOwn: a HEAD routed to a handler of its own before the middleware runs
// (a router's HEAD route, a per-route middleware) cannot fill the GET's entry.
func TestHeadRouteOfItsOwn(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mux := http.NewServeMux()
	mux.Handle("GET /f", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "the full page")
	})))
	mux.Handle("HEAD /f", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Head", "1")
	})))
	do(t, mux, "HEAD", "/f")
	get := do(t, mux, "GET", "/f")
	wantBody(t, get, "the full page")
	if get.Header().Get("X-Head") != "" {
		t.Errorf("the GET got the HEAD handler's header")
	}
}

func TestUnsafeMethodsInvalidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		code   int
		loc    string
		gone   []string // paths invalidated
	}{
		{"post ok", "POST", 200, "", []string{"/p"}},
		{"put created", "PUT", 201, "", []string{"/p"}},
		{"patch redirect", "PATCH", 303, "/q", []string{"/p", "/q"}},
		{"delete no content", "DELETE", 204, "", []string{"/p"}},
		{"post failed", "POST", 500, "", nil},
		{"post bad request", "POST", 400, "", nil},
		{"other host location", "POST", 201, "http://elsewhere.example/q", []string{"/p"}},
		{"options", "OPTIONS", 200, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "GET" {
					w.Write([]byte(r.URL.Path))
					return
				}
				if tt.loc != "" {
					w.Header().Set("Location", tt.loc)
				}
				w.WriteHeader(tt.code)
			}))
			do(t, mw, "GET", "/p")
			do(t, mw, "GET", "/q")
			w := do(t, mw, tt.method, "/p")
			wantStatus(t, w, "dumper; fwd=method")
			for _, p := range []string{"/p", "/q"} {
				gone := false
				for _, g := range tt.gone {
					gone = gone || g == p
				}
				if got := do(t, mw, "GET", p); isHit(got) == gone {
					t.Errorf("%s after %s %d: hit=%v, want invalidated=%v", p, tt.method, tt.code, isHit(got), gone)
				}
			}
		})
	}
}

func TestImplicitOKInvalidates(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(nil)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			h.ServeHTTP(w, r)
		}
	}))
	do(t, mw, "GET", "/p")
	do(t, mw, "DELETE", "/p")
	if w := do(t, mw, "GET", "/p"); isHit(w) {
		t.Error("a DELETE whose handler wrote nothing (200) did not invalidate")
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	c := newCache(t, dumper.Options{Policy: dumper.Policy{MaxBodyBytes: 1000}})
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 1000
		if r.URL.Path == "/big" {
			n = 1001
		}
		for range n {
			w.Write([]byte("x"))
		}
	}))
	w := do(t, mw, "GET", "/big")
	wantStatus(t, w, "dumper; fwd=uri-miss; detail=too-large")
	if w.Body.Len() != 1001 {
		t.Fatalf("big body arrived with %d bytes", w.Body.Len())
	}
	wantStatus(t, do(t, mw, "GET", "/big"), "dumper; fwd=uri-miss; detail=too-large")
	wantStatus(t, do(t, mw, "GET", "/fits"), "dumper; fwd=uri-miss; stored")
	wantStatus(t, do(t, mw, "GET", "/fits"), "dumper; hit")
}

func TestLongURLPassesThrough(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(nil)
	mw := c.Middleware(h)
	long := "/p?" + strings.Repeat("a", 9000)
	for range 2 {
		w := do(t, mw, "GET", long)
		wantStatus(t, w, "dumper; fwd=bypass; detail=key-too-long")
	}
	// A huge varied-on header value: stored under no key.
	mw = c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "X-Big")
		w.Write([]byte("v"))
	}))
	big := strings.Repeat("b", 9000)
	wantStatus(t, do(t, mw, "GET", "/v", "X-Big", big), "dumper; fwd=uri-miss; detail=key-too-long")
	wantStatus(t, do(t, mw, "GET", "/v", "X-Big", big), "dumper; fwd=vary-miss; detail=key-too-long")
}

func TestIgnore(t *testing.T) {
	t.Parallel()
	c := newCache(t, dumper.Options{Policy: dumper.Policy{Ignore: dumper.IgnorePrefix("/admin/")}})
	h, runs := counting(nil)
	mw := c.Middleware(h)
	for range 2 {
		wantStatus(t, do(t, mw, "GET", "/admin/users"), "dumper; fwd=bypass")
	}
	if runs.Load() != 2 {
		t.Errorf("ignored path ran %d times, want 2", runs.Load())
	}
	// Under StripPrefix the rule sees the path the handler sees.
	site := http.StripPrefix("/shop", mw)
	wantStatus(t, do(t, site, "GET", "/shop/admin/x"), "dumper; fwd=bypass")
}

func TestFlushStreamsAndIsNotStored(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	chunk := make(chan struct{})
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first\n"))
		http.NewResponseController(w).Flush()
		<-chunk
		w.Write([]byte("second\n"))
	})))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/live")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if got := res.Header.Get("Cache-Status"); got != "dumper; fwd=uri-miss; detail=streamed" {
		t.Errorf("Cache-Status %q", got)
	}
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk %q %v: the flush did not reach the client", line, err)
	}
	close(chunk)
	io.Copy(io.Discard, res.Body)
	if c.Stats().Stores != 0 {
		t.Error("a flushed response was stored")
	}
}

func TestHijackPassesThrough(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nraw ok")
		rw.Flush()
	})))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res.Body); body != "raw ok" {
		t.Errorf("body %q", body)
	}
	res.Body.Close()
	if c.Stats().Stores != 0 {
		t.Error("a hijacked response was stored")
	}
}

// TestBypassKeepsTheWriter: requests the cache does not handle reach the handler with the
// server's own ResponseWriter, whatever optional interfaces it has.
func TestBypassKeepsTheWriter(t *testing.T) {
	t.Parallel()
	c := newCache(t, dumper.Options{Policy: dumper.Policy{Ignore: dumper.IgnorePrefix("/ignored")}})
	var got http.ResponseWriter
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = w }))
	for _, m := range []string{"OPTIONS", "GET"} {
		w := httptest.NewRecorder()
		mw.ServeHTTP(w, httptest.NewRequest(m, "/ignored", nil))
		if got != http.ResponseWriter(w) {
			t.Errorf("%s: handler got %T, want the original writer", m, got)
		}
	}
	// Unsafe methods get a wrapper that still offers Flush, Hijack and ReadFrom, and Unwrap.
	w := httptest.NewRecorder()
	mw.ServeHTTP(w, httptest.NewRequest("POST", "/p", nil))
	if _, ok := got.(http.Flusher); !ok {
		t.Error("POST writer lost http.Flusher")
	}
	if _, ok := got.(io.ReaderFrom); !ok {
		t.Error("POST writer lost io.ReaderFrom")
	}
	if u, ok := got.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != http.ResponseWriter(w) {
		t.Error("POST writer does not unwrap to the original")
	}
}

func TestPanicIsNotStored(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	var fail = true
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("half a page"))
		if fail {
			panic("boom")
		}
		w.Write([]byte(" and the rest"))
	}))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed")
			}
		}()
		do(t, mw, "GET", "/p")
	}()
	fail = false
	w := do(t, mw, "GET", "/p")
	wantStatus(t, w, "dumper; fwd=uri-miss; stored")
	wantBody(t, w, "half a page and the rest")
}

func TestAbortedRequestIsNotStored(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("partial"))
		<-r.Context().Done() // the handler notices the client left and stops short
	}))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := httptest.NewRequest("GET", "/p", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	mw.ServeHTTP(w, r)
	wantStatus(t, w, "dumper; fwd=uri-miss; detail=aborted")
	if c.Stats().Stores != 0 {
		t.Error("a response cut short by cancellation was stored")
	}
}

func TestContentTypeIsSniffedAsNetHTTPWould(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<!doctype html><p>hi"))
	}))
	for range 2 {
		if ct := do(t, mw, "GET", "/").Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
	}
}

type flavor struct{ slug string }

func (f flavor) DependentPaths() []string { return []string{"/", "/icecream/" + f.slug} }

type size struct{ slug string }

func (s size) DependentPaths() func(func(string) bool) {
	return func(yield func(string) bool) { yield("/sizes/" + s.slug) }
}

type seqSize struct{ slug string }

func (s seqSize) DependentTags() []string { return []string{"size:" + s.slug} }

func TestInvalidateModels(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/tagged" {
			dumper.Tag(r.Context(), "size:s")
		}
	})
	mw := c.Middleware(h)
	for _, p := range []string{"/", "/icecream/vanilla", "/icecream/mint", "/tagged"} {
		do(t, mw, "GET", p)
	}
	if err := c.Invalidate(t.Context(), flavor{"vanilla"}, seqSize{"s"}); err != nil {
		t.Fatal(err)
	}
	for p, hit := range map[string]bool{"/": false, "/icecream/vanilla": false, "/icecream/mint": true, "/tagged": false} {
		if w := do(t, mw, "GET", p); isHit(w) != hit {
			t.Errorf("%s: hit=%v, want %v", p, isHit(w), hit)
		}
	}
	err := c.Invalidate(t.Context(), struct{}{})
	if !errors.Is(err, dumper.ErrNoDependencies) {
		t.Errorf("Invalidate(struct{}{}) = %v, want ErrNoDependencies", err)
	}
	// A method with a func type that is not iter.Seq[string] by name still is not one.
	if _, _, err := dumper.Dependencies(size{"s"}); !errors.Is(err, dumper.ErrNoDependencies) {
		t.Errorf("Dependencies(size) = %v", err)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(nil)
	mw := c.Middleware(h)
	do(t, mw, "GET", "/a")
	do(t, mw, "GET", "/a")
	do(t, mw, "POST", "/a")
	s := c.Stats()
	if s.Hits != 1 || s.Misses != 1 || s.Stores != 1 || s.Passes != 1 || s.Invalidations != 1 || s.Entries < 1 || s.Bytes <= 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestUnsafeMethodLongEscapedPath: a POST invalidates a stored page whose path grows past
// the key's length when escaped ("|" is "%7C" in the canonical path), since its key holds
// the target as sent.
func TestUnsafeMethodLongEscapedPath(t *testing.T) {
	c := newCache(t)
	h, _ := counting(nil)
	mw := c.Middleware(h)
	target := "/long/" + strings.Repeat("|", 3000)
	do(t, mw, "GET", target)
	if w := do(t, mw, "GET", target); !isHit(w) {
		t.Fatalf("not stored to begin with: %s", status(w))
	}
	do(t, mw, "POST", target)
	if w := do(t, mw, "GET", target); isHit(w) {
		t.Errorf("served from the cache after a successful POST: %s", status(w))
	}
}

// TestDotSegmentSpellings: a handler that cleans the path itself (http.FileServer) serves
// one file under many spellings; invalidating the clean path drops every one of them, so an
// attacker cannot pin an old version under "/./x.txt".
func TestDotSegmentSpellings(t *testing.T) {
	c := newCache(t)
	h, _ := counting(nil)
	mw := c.Middleware(h)
	spellings := []string{"/x.txt", "//x.txt", "/./x.txt", "/sub/../x.txt", "/sub/%2e%2e/x.txt", "/sub/%2E%2E/./x.txt"}
	for _, p := range spellings {
		do(t, mw, "GET", p)
		if w := do(t, mw, "GET", p); !isHit(w) {
			t.Fatalf("%s not stored: %s", p, status(w))
		}
	}
	if err := c.InvalidatePaths(t.Context(), "/x.txt"); err != nil {
		t.Fatal(err)
	}
	for _, p := range spellings {
		if w := do(t, mw, "GET", p); isHit(w) {
			t.Errorf("%s still served from the cache after InvalidatePaths(/x.txt)", p)
		}
	}
}
