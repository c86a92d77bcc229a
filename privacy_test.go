package dumper_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/dumperhq/dumper"
)

// TestPrivacy sends randomized requests from many users, with cookies, Authorization and
// request Cache-Control, to pages that are personal in each of the ways HTTP lets a response
// say so, and checks that no user is ever served a page rendered for another.
func TestPrivacy(t *testing.T) {
	t.Parallel()
	const users, requests = 50, 20000
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "anonymous"
		if ck, err := r.Cookie("user"); err == nil {
			who = ck.Value
		}
		if a := r.Header.Get("Authorization"); a != "" {
			who = strings.TrimPrefix(a, "Bearer ")
		}
		switch r.URL.Path {
		case "/private": // personal, says so
			w.Header().Set("Cache-Control", "private")
		case "/vary-cookie": // personal by cookie, keyed by it
			w.Header().Set("Vary", "Cookie")
		case "/set-cookie": // sets a session cookie
			http.SetCookie(w, &http.Cookie{Name: "session", Value: who})
		case "/auth": // personal by Authorization only, not marked public
			who = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if who == "" {
				who = "anonymous"
			}
		case "/no-store":
			w.Header().Set("Cache-Control", "no-store")
		case "/public": // the same for everybody
			who = "everybody"
		}
		fmt.Fprintf(w, "for=%s", who)
	}))
	pages := []string{"/private", "/vary-cookie", "/set-cookie", "/auth", "/no-store", "/public"}
	rng := rand.New(rand.NewPCG(1, 2)) // seeded: a failure replays
	type req struct {
		page, user string
		auth, cc   bool
	}
	reqs := make([]req, requests)
	for i := range reqs {
		reqs[i] = req{
			page: pages[rng.IntN(len(pages))],
			user: fmt.Sprintf("user%d", rng.IntN(users)),
			auth: rng.IntN(3) == 0,
			cc:   rng.IntN(10) == 0,
		}
	}
	var leaks, checked int
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0) * 4
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(reqs); i += workers {
				q := reqs[i]
				r := httptest.NewRequest("GET", q.page, nil)
				r.AddCookie(&http.Cookie{Name: "user", Value: q.user})
				if q.auth {
					r.Header.Set("Authorization", "Bearer "+q.user)
				}
				if q.cc {
					r.Header.Set("Cache-Control", "no-cache")
				}
				rec := httptest.NewRecorder()
				mw.ServeHTTP(rec, r)
				want := "for=" + q.user
				switch {
				case q.page == "/public":
					want = "for=everybody"
				case q.page == "/auth" && !q.auth:
					want = "for=anonymous"
				}
				mu.Lock()
				checked++
				if rec.Body.String() != want {
					leaks++
					if leaks < 5 {
						t.Errorf("%s as %s (auth %v): got %q (%s)", q.page, q.user, q.auth, rec.Body.String(), rec.Header().Get("Cache-Status"))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s := c.Stats()
	t.Logf("privacy: %d requests from %d users, %d leaks; %d hits, %d stores", checked, users, leaks, s.Hits, s.Stores)
	if s.Hits == 0 {
		t.Error("nothing was served from the cache: the test proves nothing")
	}
}

// TestPoisoning: request headers that are not part of the URL but that a handler or a proxy
// acts on cannot make the cache serve their response to a normal request.
func TestPoisoning(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
			host = fh // a naive handler building absolute links
		}
		path := r.URL.Path
		if ou := r.Header.Get("X-Original-URL"); ou != "" {
			path = ou // a framework routing on a rewrite header
		}
		method := r.Method
		if mo := r.Header.Get("X-HTTP-Method-Override"); mo != "" {
			method = mo
		}
		fmt.Fprintf(w, "link=https://%s%s method=%s", host, path, method)
	}))
	const normal = "link=https://example.com/home method=GET"
	for _, attack := range [][2]string{
		{"X-Forwarded-Host", "evil.example"},
		{"X-Original-URL", "/admin"},
		{"X-HTTP-Method-Override", "DELETE"},
		{"Forwarded", "host=evil.example"},
	} {
		bad := do(t, mw, "GET", "http://example.com/home", attack[0], attack[1])
		if bad.Body.String() == normal && attack[0] != "Forwarded" {
			t.Fatalf("%s had no effect on the handler; the test proves nothing", attack[0])
		}
		do(t, mw, "GET", "http://example.com/home", attack[0], attack[1]) // now cached, if it were
		w := do(t, mw, "GET", "http://example.com/home")
		wantBody(t, w, normal)
	}
	// The legitimate value behind a proxy is cached like any other.
	do(t, mw, "GET", "http://example.com/home", "X-Forwarded-Host", "example.com")
	wantStatus(t, do(t, mw, "GET", "http://example.com/home", "X-Forwarded-Host", "example.com"), "dumper; hit")
	// Any header can be named, not only X- ones.
	mw3 := c.MiddlewareWith(dumper.Policy{KeyHeaders: []string{"accept-version"}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("Accept-Version"))
	}))
	do(t, mw3, "GET", "http://example.com/v", "Accept-Version", "2")
	wantBody(t, do(t, mw3, "GET", "http://example.com/v"), "")
	// Unless the policy says otherwise.
	mw2 := c.MiddlewareWith(dumper.Policy{KeyHeaders: []string{}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-Forwarded-Host"))
	}))
	do(t, mw2, "GET", "http://example.com/k", "X-Forwarded-Host", "a")
	wantBody(t, do(t, mw2, "GET", "http://example.com/k"), "a")
}

// TestFloodStaysWithinBudget: a flood of unique URLs and unique values of a varied-on header
// keeps the store within its budget, and huge requests pass through unstored.
func TestFloodStaysWithinBudget(t *testing.T) {
	t.Parallel()
	const budget = 1 << 20
	c := newCache(t, dumper.Options{MaxBytes: budget})
	body := strings.Repeat("x", 2048)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "X-Junk")
		fmt.Fprint(w, body)
	}))
	const n = 20000
	for i := range n {
		do(t, mw, "GET", fmt.Sprintf("/p%d?q=%d", i%100, i), "X-Junk", fmt.Sprint(i))
	}
	huge := do(t, mw, "GET", "/p", "X-Junk", strings.Repeat("j", 100<<10))
	if huge.Code != 200 || strings.Contains(status(huge), "stored") {
		t.Errorf("huge header: %d %q", huge.Code, status(huge))
	}
	s := c.Stats()
	t.Logf("flood: %d unique requests, store holds %d entries, %d bytes (budget %d), %d evictions", n, s.Entries, s.Bytes, budget, s.Evictions)
	if s.Bytes > budget {
		t.Errorf("store holds %d bytes, over its budget of %d", s.Bytes, budget)
	}
	if s.Evictions == 0 {
		t.Error("no evictions: the flood did not test the bound")
	}
}

// TestFrontHeadersAreNotStored: header fields that a middleware in front of the cache sets for
// one request (a request id, the user's name) are not stored with the page, and each hit
// carries its own request's.
func TestFrontHeadersAreNotStored(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	page := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Page", "1")
		fmt.Fprint(w, "the page")
	}))
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", r.Header.Get("X-Id"))
		w.Header().Set("X-User", r.Header.Get("X-Id"))
		page.ServeHTTP(w, r)
	})
	for i, id := range []string{"alice", "bob", "carol"} {
		w := do(t, front, "GET", "/p", "X-Id", id)
		if i > 0 && !isHit(w) {
			t.Fatalf("%s: %q, want a hit", id, status(w))
		}
		for _, k := range []string{"X-Request-Id", "X-User"} {
			if got := w.Header().Values(k); len(got) != 1 || got[0] != id {
				t.Errorf("%s: %s %q, want %q", id, k, got, id)
			}
		}
		if w.Header().Get("X-Page") != "1" {
			t.Errorf("%s: the handler's own header is lost", id)
		}
	}
}
