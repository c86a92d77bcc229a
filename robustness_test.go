package dumper_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
)

// TestNestedMiddleware: a route with a policy of its own inside a site-wide middleware of the
// same cache is cached once, by the route's policy.
func TestNestedMiddleware(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mux := http.NewServeMux()
	mux.Handle("/report", c.MiddlewareWith(dumper.Policy{Statuses: map[int]time.Duration{200: 0, 404: time.Minute}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dumper.Tag(r.Context(), "report")
			http.NotFound(w, r)
		})))
	mux.Handle("/admin", c.MiddlewareWith(dumper.Policy{Ignore: func(*http.Request) bool { return true }})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("admin")) })))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("home")) })
	srv := httptest.NewServer(c.Middleware(mux))
	defer srv.Close()
	client := srv.Client()
	client.Timeout = 10 * time.Second
	get := func(path string) string {
		t.Helper()
		res, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.Header.Get("Cache-Status")
	}
	for _, tc := range []struct{ path, first, second string }{
		{"/report", "dumper; fwd=uri-miss; stored", "dumper; hit"}, // the route's policy stores its 404
		{"/admin", "dumper; fwd=uri-miss; detail=handler", "dumper; fwd=uri-miss; detail=handler"},
		{"/", "dumper; fwd=uri-miss; stored", "dumper; hit"},
	} {
		if got := get(tc.path); got != tc.first {
			t.Errorf("%s first: %q, want %q", tc.path, got, tc.first)
		}
		if got := get(tc.path); got != tc.second {
			t.Errorf("%s second: %q, want %q", tc.path, got, tc.second)
		}
	}
	c.InvalidateTags(t.Context(), "report")
	if got := get("/report"); got == "dumper; hit" {
		t.Error("a tag attached inside the nested middleware was lost")
	}
}

// TestStreamingLeaderDoesNotBlockWaiters: requests waiting on a render are released as soon
// as it turns out not to be stored, not when it ends.
func TestStreamingLeaderDoesNotBlockWaiters(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	started, flush, end := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var n atomic.Int32
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 1 {
			w.Write([]byte("second"))
			return
		}
		close(started)
		<-flush
		w.Write([]byte("event\n"))
		http.NewResponseController(w).Flush()
		<-end
	})))
	defer srv.Close()
	defer close(end)
	go func() {
		res, err := srv.Client().Get(srv.URL + "/events")
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	<-started
	second := make(chan string, 1)
	go func() {
		res, err := srv.Client().Get(srv.URL + "/events")
		if err != nil {
			second <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		second <- string(b)
	}()
	wait.For(t, 10*time.Second, "the second request to wait for the first", func() bool { return c.Stats().Coalesced == 1 })
	close(flush)
	select {
	case got := <-second:
		if got != "second" {
			t.Errorf("waiter got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiter stayed blocked behind a streaming response")
	}
}

// TestTruncatedResponseIsNotStored: a handler that promised more than it wrote failed; the
// client must see it fail, and nothing is stored.
func TestTruncatedResponseIsNotStored(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	var runs atomic.Int32
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.Header().Set("Content-Length", "100")
		w.Write(make([]byte, 50))
	})))
	defer srv.Close()
	for range 2 {
		res, err := srv.Client().Get(srv.URL + "/half")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(res.Body); err == nil {
			t.Error("the client read a truncated body without error")
		}
		res.Body.Close()
	}
	if runs.Load() != 2 {
		t.Errorf("handler ran %d times: a truncated response was stored", runs.Load())
	}
}

// TestNonCanonicalHeaderKeys: header keys written in another case still count.
func TestNonCanonicalHeaderKeys(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cookie":
			w.Header()["set-cookie"] = []string{"session=" + r.Header.Get("Accept-Language")}
		case "/private":
			w.Header()["cache-control"] = []string{"private"}
		case "/vary":
			w.Header()["vary"] = []string{"Accept-Language"}
		}
		fmt.Fprint(w, r.Header.Get("Accept-Language"))
	}))
	for _, p := range []string{"/cookie", "/private"} {
		do(t, mw, "GET", p, "Accept-Language", "en")
		if w := do(t, mw, "GET", p, "Accept-Language", "fr"); isHit(w) {
			t.Errorf("%s: stored despite a lower-case header key", p)
		}
	}
	do(t, mw, "GET", "/vary", "Accept-Language", "en")
	wantBody(t, do(t, mw, "GET", "/vary", "Accept-Language", "fr"), "fr")
}

// TestEscapedSlashes: a Go handler sees /files/a/b and /files/a%2Fb alike; invalidating
// either spelling invalidates all.
func TestEscapedSlashes(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	var version atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /files/{p...}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s v%d", r.PathValue("p"), version.Load())
	})
	srv := httptest.NewServer(c.Middleware(mux))
	defer srv.Close()
	spellings := []string{"/files/a/b", "/files/a%2Fb", "/files/a%2fb"}
	for _, inv := range []string{"/files/a/b", "/files/a%2Fb"} {
		for _, s := range spellings {
			res, _ := srv.Client().Get(srv.URL + s)
			res.Body.Close()
		}
		version.Add(1)
		if err := c.InvalidatePaths(t.Context(), inv); err != nil {
			t.Fatal(err)
		}
		for _, s := range spellings {
			res, err := srv.Client().Get(srv.URL + s)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, res.Body)
			res.Body.Close()
			if want := fmt.Sprintf("a/b v%d", version.Load()); body != want {
				t.Errorf("after InvalidatePaths(%q), %s: %q (%s), want %q", inv, s, body, res.Header.Get("Cache-Status"), want)
			}
		}
	}
}

// TestStripPrefixUsesPublicPaths: under http.StripPrefix the cache keys and tags by the path
// the browser requested, which is what models declare.
func TestStripPrefixUsesPublicPaths(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(nil)
	srv := httptest.NewServer(http.StripPrefix("/shop", c.Middleware(h)))
	defer srv.Close()
	get := func() string {
		res, err := srv.Client().Get(srv.URL + "/shop/icecream/x")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header.Get("Cache-Status")
	}
	get()
	if got := get(); got != "dumper; hit" {
		t.Fatalf("not cached: %q", got)
	}
	c.InvalidatePaths(t.Context(), "/shop/icecream/x")
	if got := get(); got == "dumper; hit" {
		t.Error("invalidating the public path left the page cached")
	}
}

// TestUnstoredRequestsReachTheHandlerUnchanged: when the cache knows it will not store the
// response, the handler gets the request as it came, validators and method included.
func TestUnstoredRequestsReachTheHandlerUnchanged(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"mine"`)
		if r.Header.Get("If-None-Match") == `"mine"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, r.Method)
	}))
	w := do(t, mw, "GET", "/p", "Authorization", "Bearer x", "If-None-Match", `"mine"`)
	if w.Code != http.StatusNotModified {
		t.Errorf("handler's own 304 lost: %d", w.Code)
	}
	w = do(t, mw, "HEAD", "/p", "Cache-Control", "no-store")
	if w.Code != 200 {
		t.Errorf("HEAD no-store: %d", w.Code)
	}
}

func TestEveryUnsafeMethodInvalidates(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(nil)
	mw := c.Middleware(h)
	for _, m := range []string{"PROPPATCH", "MKCOL", "LOCK", "PURGE"} {
		do(t, mw, "GET", "/p")
		do(t, mw, m, "/p")
		if w := do(t, mw, "GET", "/p"); isHit(w) {
			t.Errorf("a successful %s left the page cached", m)
		}
	}
	do(t, mw, "GET", "/p")
	do(t, mw, "OPTIONS", "/p")
	if w := do(t, mw, "GET", "/p"); !isHit(w) {
		t.Error("OPTIONS invalidated")
	}
}

func TestNoStore(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ck, err := r.Cookie("session"); err == nil {
			dumper.NoStore(r.Context())
			fmt.Fprint(w, "hello "+ck.Value)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	w := do(t, mw, "GET", "/", "Cookie", "session=alice")
	wantStatus(t, w, "dumper; fwd=uri-miss; detail=handler")
	wantBody(t, do(t, mw, "GET", "/"), "hello")
}

func TestTrailersAreNotStored(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.Write([]byte("body"))
		w.Header().Set("X-Checksum", "abc")
	}))
	wantStatus(t, do(t, mw, "GET", "/"), "dumper; fwd=uri-miss; detail=trailer")
}
