package staleness_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
)

// faultServer serves h behind a memory cache (outer wraps the cache's middleware, if not
// nil) with net/http's panic log silenced, and returns the cache and the server.
func faultServer(t *testing.T, h http.Handler, outer func(http.Handler) http.Handler) (*dumper.Cache, *httptest.Server) {
	t.Helper()
	cache := newCache(t, dumper.Options{})
	var handler http.Handler = cache.Middleware(h)
	if outer != nil {
		handler = outer(handler)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // "http: panic serving…"
	srv.Start()
	t.Cleanup(srv.Close)
	return cache, srv
}

// result is a response read in full, or the error that cut it short.
type result struct {
	status      int
	cacheStatus string
	body        string
	err         error
}

func fetch(ctx context.Context, client *http.Client, url string) result {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return result{err: err}
	}
	res, err := client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return result{status: res.StatusCode, cacheStatus: res.Header.Get("Cache-Status"), body: string(b), err: err}
}

// full checks that r is a complete 200 page with body want.
func full(t *testing.T, what string, r result, want string) {
	t.Helper()
	switch {
	case r.err != nil:
		t.Errorf("%s: %v", what, r.err)
	case r.status != http.StatusOK:
		t.Errorf("%s: status %d (Cache-Status %q), want 200: %.100q", what, r.status, r.cacheStatus, r.body)
	case r.body != want:
		t.Errorf("%s: body of %d bytes (Cache-Status %q), want the whole page of %d bytes", what, len(r.body), r.cacheStatus, len(want))
	}
}

func isHit(r result) bool { return strings.Contains(r.cacheStatus, "hit") }

// page is a deterministic body of n bytes for version v.
func page(v string, n int) string {
	return (v + strings.Repeat(".", n))[:n-len("END")] + "END"
}

// TestFaultHandlerPanics: a handler that panics half-way through its body while other
// requests wait for its render. net/http drops the panicking request's connection; the
// cache must store nothing, the waiting requests must get a whole page (they render
// themselves), and other pages stay cached.
func TestFaultHandlerPanics(t *testing.T) {
	t.Parallel()
	const waiters = 4
	whole := page("v1", 64<<10)
	var calls atomic.Int64
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/other" {
			_, _ = io.WriteString(w, "other")
			return
		}
		if calls.Add(1) == 1 {
			_, _ = io.WriteString(w, whole[:len(whole)/2])
			<-release
			panic("boom")
		}
		_, _ = io.WriteString(w, whole)
	})
	cache, srv := faultServer(t, h, nil)
	client := srv.Client()
	ctx := t.Context()
	full(t, "/other", fetch(ctx, client, srv.URL+"/other"), "other")
	if r := fetch(ctx, client, srv.URL+"/other"); !isHit(r) {
		t.Fatalf("/other not cached: %q", r.cacheStatus)
	}

	// A connection of its own: on a reused one, the transport would retry the GET after the
	// connection dropped, and get the page from a later render.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	first := make(chan result, 1)
	go func() { first <- fetch(ctx, fresh, srv.URL+"/boom") }()
	wait.For(t, 10*time.Second, "the first render", func() bool { return calls.Load() == 1 })
	results := make(chan result, waiters)
	for range waiters {
		go func() { results <- fetch(ctx, client, srv.URL+"/boom") }()
	}
	wait.For(t, 10*time.Second, "the requests to wait for the render", func() bool {
		return cache.Stats().Coalesced >= waiters
	})
	close(release)
	if r := <-first; r.err == nil {
		t.Errorf("the panicking request: %d, %d bytes, Cache-Status %q; want a dropped connection", r.status, len(r.body), r.cacheStatus)
	}
	for range waiters {
		r := <-results
		full(t, "a request that waited for the panicking render", r, whole)
	}
	// One of the waiters stored its render; the half page of the panicking one never was.
	for range 2 {
		full(t, "/boom after the panic", fetch(ctx, client, srv.URL+"/boom"), whole)
	}
	if r := fetch(ctx, client, srv.URL+"/boom"); !isHit(r) {
		t.Errorf("/boom after the panic: Cache-Status %q, want a hit", r.cacheStatus)
	}
	if r := fetch(ctx, client, srv.URL+"/other"); !isHit(r) || r.body != "other" {
		t.Errorf("/other after the panic: Cache-Status %q, body %q; want a hit", r.cacheStatus, r.body)
	}
	t.Logf("handler panic: 1 fault survived; %d waiting requests served whole pages", waiters)
}

// TestFaultHandlerTimesOut: a slow handler under http.TimeoutHandler, inside the cache and
// around it. The 503 is the timeout handler's (the application's), never stored; the
// handler's half-written body is never stored; the next request gets the whole page.
func TestFaultHandlerTimesOut(t *testing.T) {
	t.Parallel()
	whole := page("v1", 32<<10)
	for _, tt := range []struct {
		name  string
		inner bool // TimeoutHandler inside the cache's middleware
	}{
		{"timeout-handler-inside-the-cache", true},
		{"timeout-handler-around-the-cache", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			cut := make(chan struct{}) // closed when the timed-out render returns
			slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					defer close(cut)
					_, _ = io.WriteString(w, whole[:len(whole)/2])
					<-r.Context().Done() // the timeout handler gave up on us
					return               // with half a page
				}
				_, _ = io.WriteString(w, whole)
			})
			timeout := func(h http.Handler) http.Handler { return http.TimeoutHandler(h, 50*time.Millisecond, "timed out") }
			var (
				cache *dumper.Cache
				srv   *httptest.Server
			)
			if tt.inner {
				cache, srv = faultServer(t, timeout(slow), nil)
			} else {
				cache, srv = faultServer(t, slow, timeout)
			}
			client, ctx := srv.Client(), t.Context()
			r := fetch(ctx, client, srv.URL+"/slow")
			if r.err != nil || r.status != http.StatusServiceUnavailable || r.body != "timed out" {
				t.Fatalf("first request: %d %q %v, want the timeout handler's 503", r.status, r.body, r.err)
			}
			<-cut // the render may go on after the 503 was sent
			if st := cache.Stats(); st.Stores != 0 {
				t.Errorf("%d responses stored from the timed-out render", st.Stores)
			}
			r = fetch(ctx, client, srv.URL+"/slow")
			full(t, "after the timeout", r, whole)
			if isHit(r) {
				t.Errorf("after the timeout: a hit (%q): something was stored from the timed-out render", r.cacheStatus)
			}
			full(t, "again", fetch(ctx, client, srv.URL+"/slow"), whole)
			t.Logf("handler timeout (%s): 1 fault survived", tt.name)
		})
	}
}

// TestFaultClientDisconnects: the client goes away while the handler is writing a large
// body; the handler stops on its cancelled context, leaving half a page. That half must
// never be stored: the next request gets the whole page.
func TestFaultClientDisconnects(t *testing.T) {
	t.Parallel()
	whole := page("v1", 1<<20)
	var calls atomic.Int64
	halfway := make(chan struct{})
	cut := make(chan struct{}) // closed when the cut render returns
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			defer close(cut)
			for i := 0; i < len(whole)/2; i += 32 << 10 {
				_, _ = io.WriteString(w, whole[i:i+32<<10])
			}
			close(halfway)
			<-r.Context().Done() // the client is gone
			return
		}
		_, _ = io.WriteString(w, whole)
	})
	cache, srv := faultServer(t, h, nil)
	client := srv.Client()
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan result, 1)
	go func() { first <- fetch(ctx, client, srv.URL+"/big") }()
	<-halfway
	cancel()
	if r := <-first; r.err == nil {
		t.Fatalf("the cancelled request succeeded: %d, %d bytes", r.status, len(r.body))
	}
	<-cut
	if st := cache.Stats(); st.Stores != 0 {
		t.Errorf("%d responses stored from the cut render", st.Stores)
	}
	r := fetch(t.Context(), client, srv.URL+"/big")
	full(t, "after the disconnect", r, whole)
	if isHit(r) {
		t.Errorf("after the disconnect: a hit (%q): the truncated render was stored", r.cacheStatus)
	}
	r = fetch(t.Context(), client, srv.URL+"/big")
	full(t, "again", r, whole)
	if !isHit(r) {
		t.Errorf("the whole page was not stored: %q", r.cacheStatus)
	}
	t.Logf("client disconnect: 1 fault survived")
}
