package dumper_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
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

// page is a handler whose runs are numbered: run n does what act(n) says ("ok", "500",
// "panic", "block", "slow"), then writes "n=<n> <Accept-Language>". A blocked run waits for
// gate to be closed or its request to end.
type page struct {
	runs atomic.Int64
	act  func(n int64) string
	gate chan struct{}
	cc   string // the response's Cache-Control, if any

	mu      sync.Mutex
	cookies []string // the Cookie header of each run
}

func newPage(act func(n int64) string) *page {
	if act == nil {
		act = func(int64) string { return "ok" }
	}
	return &page{act: act, gate: make(chan struct{})}
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := p.runs.Add(1)
	p.mu.Lock()
	p.cookies = append(p.cookies, r.Header.Get("Cookie"))
	p.mu.Unlock()
	switch p.act(n) {
	case "500":
		http.Error(w, "database down", http.StatusInternalServerError)
		return
	case "panic":
		panic("database down")
	case "block":
		select {
		case <-p.gate:
		case <-r.Context().Done():
			http.Error(w, "timeout", http.StatusServiceUnavailable)
			return
		}
	}
	if p.cc != "" {
		w.Header().Set("Cache-Control", p.cc)
	}
	fmt.Fprintf(w, "n=%d %s", n, r.Header.Get("Accept-Language"))
}

// get sends a GET for /p through h with the given header pairs.
func get(t *testing.T, h http.Handler, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, h, "GET", "/p", header...)
}

func invalidateP(t *testing.T, c *dumper.Cache) {
	t.Helper()
	if err := c.InvalidatePaths(context.Background(), "/p"); err != nil {
		t.Fatal(err)
	}
}

func wantStale(t *testing.T, w *httptest.ResponseRecorder, age int, detail, body string) {
	t.Helper()
	wantStatus(t, w, fmt.Sprintf("dumper; hit; ttl=-%d; detail=%s", age, detail))
	wantBody(t, w, body)
	if w.Header().Get("Age") == "" {
		t.Errorf("a stale response without Age")
	}
}

func TestSoftIsOptIn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		p := newPage(nil)
		mw := c.Middleware(p)
		get(t, mw)
		invalidateP(t, c)
		w := get(t, mw)
		wantStatus(t, w, "dumper; fwd=stale; stored")
		wantBody(t, w, "n=2 ")
		if s := c.Stats(); s.StaleServed+s.Revalidations != 0 {
			t.Errorf("Stats = %+v, want no stale serve nor revalidation", s)
		}
		if ck := do(t, mw, "POST", "/p").Header().Values("Set-Cookie"); len(ck) != 0 {
			t.Errorf("a cache without soft invalidation set cookies %q", ck)
		}
	})
}

func TestSoftWhileRevalidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy dumper.Policy
		cc     string
	}{
		{"policy", dumper.Policy{StaleWhileRevalidate: 10 * time.Second}, ""},
		{"response", dumper.Policy{}, "max-age=0, stale-while-revalidate=10"},
		{"response over policy", dumper.Policy{StaleWhileRevalidate: time.Hour}, "stale-while-revalidate=10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t)
				p := newPage(func(n int64) string {
					if n == 2 {
						return "block"
					}
					return "ok"
				})
				p.cc = tt.cc
				mw := c.MiddlewareWith(tt.policy)(p)
				get(t, mw)
				invalidateP(t, c)
				time.Sleep(3 * time.Second)
				// However many readers come while the page is rendered anew, one render runs.
				for range 20 {
					wantStale(t, get(t, mw), 3, "stale", "n=1 ")
				}
				synctest.Wait()
				if got := p.runs.Load(); got != 2 {
					t.Fatalf("the handler ran %d times, want 2 (the first render and one background render)", got)
				}
				close(p.gate)
				synctest.Wait()
				w := get(t, mw)
				wantStatus(t, w, "dumper; hit")
				wantBody(t, w, "n=2 ")
				s := c.Stats()
				if s.StaleServed != 20 || s.Revalidations != 1 || s.RevalidationFailures != 0 {
					t.Errorf("Stats: StaleServed %d, Revalidations %d, RevalidationFailures %d; want 20, 1, 0", s.StaleServed, s.Revalidations, s.RevalidationFailures)
				}
			})
		})
	}
}

// TestSoftBound checks that a stale entry is served for its window past the invalidation
// and not a second longer, however the renders that should replace it fail.
func TestSoftBound(t *testing.T) {
	t.Parallel()
	for _, act := range []string{"500", "panic", "block"} {
		t.Run(act, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t)
				var healed atomic.Bool
				p := newPage(func(n int64) string {
					if n == 1 || healed.Load() {
						return "ok"
					}
					return act
				})
				mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: 10 * time.Second, RevalidateTimeout: 2 * time.Second})(p)
				get(t, mw)
				invalidateP(t, c)
				start := time.Now()
				for _, at := range []time.Duration{0, 5 * time.Second, 10 * time.Second} {
					time.Sleep(time.Until(start.Add(at)))
					wantStale(t, get(t, mw), max(int(at/time.Second), 1), "stale", "n=1 ") // -0 is no negative ttl
					synctest.Wait()                                                        // the background render fails (or times out)
				}
				time.Sleep(time.Until(start.Add(10*time.Second + time.Millisecond)))
				healed.Store(true)
				w := get(t, mw)
				if !strings.HasPrefix(status(w), "dumper; fwd=") {
					t.Fatalf("past the window: Cache-Status %q, want a miss", status(w))
				}
				synctest.Wait()
				s := c.Stats()
				if s.StaleServed != 3 || s.Revalidations != 3 || s.RevalidationFailures != 3 {
					t.Errorf("Stats: StaleServed %d, Revalidations %d, RevalidationFailures %d; want 3, 3, 3", s.StaleServed, s.Revalidations, s.RevalidationFailures)
				}
			})
		})
	}
}

func TestSoftIfError(t *testing.T) {
	t.Parallel()
	for _, act := range []string{"500", "panic", "block"} {
		t.Run(act, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t)
				p := newPage(func(n int64) string {
					if n == 1 || n == 4 {
						return "ok"
					}
					return act
				})
				mw := c.MiddlewareWith(dumper.Policy{StaleIfError: time.Minute, RevalidateTimeout: 2 * time.Second})(p)
				get(t, mw)
				invalidateP(t, c)
				start := time.Now()
				time.Sleep(30 * time.Second)
				wantStale(t, get(t, mw), 30, "stale-if-error", "n=1 ") // run 2 failed
				time.Sleep(time.Until(start.Add(time.Minute)))
				wantStale(t, get(t, mw), 60, "stale-if-error", "n=1 ") // run 3 failed
				// A render that succeeds replaces the entry (with "block", the window ran out
				// during the timeout: the render is an ordinary miss).
				w := get(t, mw)
				if cs := status(w); cs != "dumper; hit" && cs != "dumper; fwd=stale; stored" {
					t.Errorf("Cache-Status %q, want a hit on the fresh render", cs)
				}
				wantBody(t, w, "n=4 ")
				// Past the window, the failure is the client's to see.
				invalidateP(t, c)
				time.Sleep(time.Minute + time.Second)
				synctest.Wait()
				if act == "panic" {
					defer func() {
						if v := recover(); v == nil {
							t.Errorf("past the window: the handler's panic did not reach the server")
						}
					}()
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // for "block"
				defer cancel()
				w = httptest.NewRecorder()
				mw.ServeHTTP(w, httptest.NewRequestWithContext(ctx, "GET", "/p", nil))
				if w.Code < 500 {
					t.Errorf("past the window: status %d, want the handler's failure", w.Code)
				}
				if strings.Contains(status(w), "stale-if-error") {
					t.Errorf("past the window: Cache-Status %q", status(w))
				}
				s := c.Stats()
				want := uint64(3)
				if act == "block" {
					want = 2
				}
				if s.StaleIfError != 2 || s.Revalidations != want || s.RevalidationFailures != 2 {
					t.Errorf("Stats: StaleIfError %d, Revalidations %d, RevalidationFailures %d; want 2, %d, 2", s.StaleIfError, s.Revalidations, s.RevalidationFailures, want)
				}
			})
		})
	}
}

// TestSoftInvalidatedDuringRevalidation checks that a render that started before an
// invalidation does not replace the entry; the entry, invalidated twice, is still served
// stale, its age counted from when it was stored, while the next render replaces it.
func TestSoftInvalidatedDuringRevalidation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		p := newPage(func(n int64) string {
			if n == 2 {
				return "block"
			}
			return "ok"
		})
		mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: time.Minute})(p)
		get(t, mw)
		time.Sleep(10 * time.Second)
		invalidateP(t, c)
		wantStale(t, get(t, mw), 1, "stale", "n=1 ")
		synctest.Wait() // run 2 is blocked
		time.Sleep(5 * time.Second)
		invalidateP(t, c)
		close(p.gate)
		synctest.Wait()                               // run 2 is done: rendered before the second invalidation, not stored
		wantStale(t, get(t, mw), 15, "stale", "n=1 ") // 15 s since it was stored
		synctest.Wait()                               // run 3 replaces it
		w := get(t, mw)
		wantStatus(t, w, "dumper; hit")
		wantBody(t, w, "n=3 ")
		// Past the window counted from when it was stored, it is gone.
		time.Sleep(10 * time.Second)
		invalidateP(t, c)
		time.Sleep(10 * time.Second)
		invalidateP(t, c)
		time.Sleep(40*time.Second + time.Millisecond)
		if w := get(t, mw); strings.Contains(status(w), "detail=stale") {
			t.Errorf("60 s after it was stored: %q", status(w))
		}
	})
}

// TestSoftWriter checks that the client that made a write never gets a stale page: neither
// the unsafe request's own response nor its next requests, which wait for the render that
// replaces the entry instead; and that the cookie that says so splits no key and cannot be
// forged.
func TestSoftWriter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		p := newPage(func(n int64) string {
			if n == 3 {
				return "block"
			}
			return "ok"
		})
		mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: time.Minute})(p)
		get(t, mw)
		post := do(t, mw, "POST", "/p") // run 2
		ck := post.Result().Cookies()
		if len(ck) != 1 || ck[0].Name != "dumper-writer" || !ck[0].HttpOnly || ck[0].MaxAge != 60 {
			t.Fatalf("POST set cookies %v, want one dumper-writer, HttpOnly, for the window's minute", ck)
		}
		writer := ck[0].Name + "=" + ck[0].Value
		// Another client gets the stale page, and starts the render that replaces it.
		wantStale(t, get(t, mw), 1, "stale", "n=1 ")
		// The writer waits for that render, coalesced: it does not run the handler.
		var w *httptest.ResponseRecorder
		done := make(chan struct{})
		go func() {
			defer close(done)
			w = get(t, mw, "Cookie", writer)
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatalf("the writer got %q (%s) while the page was rendered", w.Body.String(), status(w))
		default:
		}
		close(p.gate)
		<-done
		wantStatus(t, w, "dumper; hit")
		wantBody(t, w, "n=3 ")
		if got := p.runs.Load(); got != 3 {
			t.Errorf("the handler ran %d times, want 3: the first GET, the POST, one render", got)
		}
		// The cookie is in no key: the writer and the others share the entry.
		wantStatus(t, get(t, mw), "dumper; hit")
		// The background render did not see the client's cookies.
		p.mu.Lock()
		for i, ck := range p.cookies {
			if ck != "" {
				t.Errorf("run %d saw Cookie %q", i+1, ck)
			}
		}
		p.mu.Unlock()

		// A forged or expired cookie is no writer's.
		invalidateP(t, c)
		expiry, _, _ := strings.Cut(ck[0].Value, ".")
		for _, forged := range []string{"dumper-writer=" + expiry + ".AAAAAAAAAAAAAAAAAAAAAA", "dumper-writer=99999999999." + strings.SplitN(ck[0].Value, ".", 2)[1], "dumper-writer=x"} {
			wantStale(t, get(t, mw, "Cookie", forged), 1, "stale", "n=3 ")
		}
		synctest.Wait()
		invalidateP(t, c)
		time.Sleep(time.Minute + time.Second) // past the cookie's life, and the entry's window
		synctest.Wait()
		if w := get(t, mw, "Cookie", writer); strings.Contains(status(w), "detail=stale") {
			t.Errorf("an expired writer's cookie: %q", status(w))
		}
	})
}

// TestSoftWriterKey checks that a cookie signed by another cache's key is no writer's,
// and one signed by the same WriterKey (another instance) is.
func TestSoftWriterKey(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	synctest.Test(t, func(t *testing.T) {
		store := newMemoryStore(t, 0)
		p := newPage(nil)
		policy := dumper.Policy{StaleWhileRevalidate: time.Minute}
		a := newCache(t, dumper.Options{Store: store, WriterKey: key, Policy: policy})
		b := newCache(t, dumper.Options{Store: store, WriterKey: key, Policy: policy})
		other := newCache(t, dumper.Options{Store: store, Policy: policy})
		get(t, a.Middleware(p))
		ck := do(t, a.Middleware(p), "POST", "/p").Result().Cookies()[0]
		writer := ck.Name + "=" + ck.Value
		if w := get(t, other.Middleware(p), "Cookie", writer); !strings.Contains(status(w), "detail=stale") {
			t.Errorf("a cache with another key took the cookie: %q", status(w))
		}
		synctest.Wait()
		invalidateP(t, a)
		if w := get(t, b.Middleware(p), "Cookie", writer); strings.Contains(status(w), "detail=stale") {
			t.Errorf("an instance with the same key served the writer stale: %q", status(w))
		}
	})
	if _, err := dumper.New(dumper.Options{WriterKey: []byte("short")}); err == nil {
		t.Error("New accepted a 5-byte WriterKey")
	}
}

// TestSoftOnlyIfCached checks that a request that wants a stored response or nothing gets the
// stale entry within stale-while-revalidate, and never runs the handler for stale-if-error.
func TestSoftOnlyIfCached(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		p := newPage(nil)
		mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: 10 * time.Second, StaleIfError: time.Minute})(p)
		get(t, mw)
		invalidateP(t, c)
		wantStale(t, get(t, mw, "Cache-Control", "only-if-cached"), 1, "stale", "n=1 ")
		synctest.Wait() // the background render replaces it
		invalidateP(t, c)
		time.Sleep(20 * time.Second)
		runs := p.runs.Load()
		if w := get(t, mw, "Cache-Control", "only-if-cached"); w.Code != http.StatusGatewayTimeout {
			t.Errorf("only-if-cached past stale-while-revalidate: %d %q, want a 504", w.Code, status(w))
		}
		synctest.Wait()
		if p.runs.Load() != runs {
			t.Error("only-if-cached ran the handler")
		}
	})
}

func TestSoftNotForAuthorization(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		p := newPage(nil)
		mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: time.Minute})(p)
		get(t, mw)
		invalidateP(t, c)
		if w := get(t, mw, "Authorization", "Bearer x"); strings.Contains(status(w), "detail=stale") || strings.Contains(status(w), "hit") {
			t.Errorf("a request with Authorization got %q", status(w))
		}
	})
}

// TestSoftVary checks that the background render renders the variant it replaces, with the
// headers it varies on.
func TestSoftVary(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		p := newPage(nil)
		vary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Vary", "Accept-Language")
			p.ServeHTTP(w, r)
		})
		mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: time.Minute})(vary)
		get(t, mw, "Accept-Language", "fr", "Cookie", "session=1")
		get(t, mw, "Accept-Language", "de")
		invalidateP(t, c)
		wantStale(t, get(t, mw, "Accept-Language", "fr"), 1, "stale", "n=1 fr")
		synctest.Wait()
		w := get(t, mw, "Accept-Language", "fr")
		wantStatus(t, w, "dumper; hit")
		wantBody(t, w, "n=3 fr")
		wantStale(t, get(t, mw, "Accept-Language", "de"), 1, "stale", "n=2 de")
		synctest.Wait()
		wantBody(t, get(t, mw, "Accept-Language", "de"), "n=4 de")
	})
}

func TestSoftPolicyErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []dumper.Policy{
		{StaleWhileRevalidate: -time.Second},
		{StaleIfError: time.Hour + time.Second},
		{StaleWhileRevalidate: 1500 * time.Millisecond},
		{RevalidateTimeout: -1},
	} {
		if _, err := dumper.New(dumper.Options{Policy: p}); err == nil {
			t.Errorf("New accepted %+v", p)
		}
	}
}

// TestSoftDirectiveCapped checks that a response's windows count as an hour at most.
func TestSoftDirectiveCapped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		p := newPage(func(n int64) string {
			if n == 1 {
				return "ok"
			}
			return "500"
		})
		p.cc = "max-age=0, stale-if-error=86400"
		mw := c.Middleware(p)
		get(t, mw)
		invalidateP(t, c)
		time.Sleep(time.Hour)
		wantStale(t, get(t, mw), 3600, "stale-if-error", "n=1 ")
		time.Sleep(time.Second)
		if w := get(t, mw); w.Code != http.StatusInternalServerError {
			t.Errorf("past an hour: %d %q, want the handler's 500", w.Code, status(w))
		}
	})
}

// TestSoftIfErrorJoiners checks that the readers that join the render of a stale entry
// within stale-if-error get the stale entry when that render fails, as its leader does,
// and that the handler runs once for them all.
func TestSoftIfErrorJoiners(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		p := newPage(func(n int64) string {
			switch n {
			case 1:
				return "ok"
			case 2:
				return "block" // till the timeout, while the others come
			}
			return "500"
		})
		mw := c.MiddlewareWith(dumper.Policy{StaleIfError: time.Minute, RevalidateTimeout: 2 * time.Second})(p)
		get(t, mw)
		invalidateP(t, c)
		time.Sleep(time.Second)
		var ws [10]*httptest.ResponseRecorder
		var wg sync.WaitGroup
		for i := range ws {
			wg.Go(func() { ws[i] = get(t, mw) })
		}
		wg.Wait() // the render is cut short by the timeout: a failure (a 503)
		for _, w := range ws {
			wantStale(t, w, 1, "stale-if-error", "n=1 ")
		}
		if got := p.runs.Load(); got != 2 {
			t.Errorf("the handler ran %d times, want 2 (the first render and one for the 10 readers)", got)
		}
		if s := c.Stats(); s.StaleIfError != 10 || s.Revalidations != 1 {
			t.Errorf("Stats: StaleIfError %d, Revalidations %d; want 10, 1", s.StaleIfError, s.Revalidations)
		}
	})
}

// TestSoftIfErrorNotStored checks that a request within stale-if-error whose render neither
// failed nor was stored (a 404) gets that render's response, less the cookie it set for a
// request that carried none, and that the handler does not run again for it.
func TestSoftIfErrorNotStored(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		var runs atomic.Int64
		mw := c.MiddlewareWith(dumper.Policy{StaleIfError: time.Minute})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if runs.Add(1) == 1 {
				fmt.Fprint(w, "the page")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "new"})
			http.Error(w, "gone", http.StatusNotFound)
		}))
		get(t, mw)
		invalidateP(t, c)
		time.Sleep(time.Second)
		for i := range 2 {
			w := get(t, mw, "Cookie", "session=mine")
			if w.Code != http.StatusNotFound {
				t.Errorf("request %d: status %d, want the handler's 404", i, w.Code)
			}
			wantBody(t, w, "gone\n")
			wantStatus(t, w, "dumper; fwd=stale; detail=status")
			if ck := w.Header().Values("Set-Cookie"); len(ck) != 0 {
				t.Errorf("request %d: Set-Cookie %q from a render without the client's cookies", i, ck)
			}
			if got := runs.Load(); got != int64(2+i) {
				t.Errorf("request %d: the handler ran %d times, want %d", i, got, 2+i)
			}
		}
	})
}

// TestSoftMustRevalidate checks that a response that says must-revalidate or
// proxy-revalidate is never served stale (RFC 9111 §4.2.4), whatever its policy or its own
// windows say.
func TestSoftMustRevalidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cc   string
		soft bool
	}{
		{"public, must-revalidate", false},
		{"proxy-revalidate", false},
		{"max-age=0, must-revalidate, stale-while-revalidate=60", false},
		{"Must-Revalidate", false},
		{"max-age=0", true},
		{"max-age=0, stale-while-revalidate=60", true},
	} {
		t.Run(tt.cc, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t)
				p := newPage(nil)
				p.cc = tt.cc
				mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: time.Minute, StaleIfError: time.Minute})(p)
				get(t, mw)
				invalidateP(t, c)
				w := get(t, mw)
				if tt.soft {
					wantStale(t, w, 1, "stale", "n=1 ")
					return
				}
				wantStatus(t, w, "dumper; fwd=stale; stored")
				wantBody(t, w, "n=2 ")
			})
		})
	}
}

// TestSoftHeadRoute checks that a stale HEAD, which may reach a handler of its own (a HEAD
// route), never starts the render that replaces the page: within stale-while-revalidate it
// is served the stale entry and the next GET starts the render; within stale-if-error only
// it is a miss like any HEAD, answered by its handler and not stored.
func TestSoftHeadRoute(t *testing.T) {
	t.Parallel()
	for _, pol := range []dumper.Policy{{StaleWhileRevalidate: time.Minute}, {StaleIfError: time.Minute}} {
		t.Run(fmt.Sprintf("swr=%v,sie=%v", pol.StaleWhileRevalidate, pol.StaleIfError), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t)
				mw := c.MiddlewareWith(pol)
				var heads, gets atomic.Int64
				mux := http.NewServeMux()
				mux.Handle("HEAD /p", mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					heads.Add(1)
					w.Header().Set("Content-Type", "text/plain")
				})))
				mux.Handle("GET /p", mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprintf(w, "page %d", gets.Add(1))
				})))
				get(t, mux)
				invalidateP(t, c)
				w := do(t, mux, "HEAD", "/p")
				synctest.Wait()
				if pol.StaleWhileRevalidate > 0 {
					wantStale(t, w, 1, "stale", "")
					if heads.Load() != 0 || gets.Load() != 1 {
						t.Errorf("a stale HEAD ran the HEAD handler %d times and the GET handler %d, want none", heads.Load(), gets.Load()-1)
					}
					// The next GET is served stale, and starts the render.
					wantStale(t, get(t, mux), 1, "stale", "page 1")
					synctest.Wait()
				} else {
					wantStatus(t, w, "dumper; fwd=stale; detail=head")
					if heads.Load() != 1 {
						t.Errorf("the HEAD handler ran %d times, want 1", heads.Load())
					}
				}
				w = get(t, mux)
				wantStatus(t, w, "dumper; hit")
				wantBody(t, w, "page 2")
			})
		})
	}
}

// TestSoftWriterSharedStore checks that an instance sharing a store sets the writer's cookie
// before it has met a soft entry, with no soft policy of its own: the entries another
// instance stored may be soft, and the writer must not be served them stale there.
func TestSoftWriterSharedStore(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	synctest.Test(t, func(t *testing.T) {
		store := newMemoryStore(t, 0)
		p := newPage(nil)
		p.cc = "max-age=0, stale-while-revalidate=60"
		a := newCache(t, dumper.Options{Store: store, WriterKey: key})
		b := newCache(t, dumper.Options{Store: store, WriterKey: key})
		get(t, a.Middleware(p))
		ck := do(t, b.Middleware(p), "POST", "/p").Result().Cookies()
		if len(ck) != 1 || ck[0].Name != "dumper-writer" || ck[0].MaxAge != 3600 {
			t.Fatalf("POST on a fresh instance set cookies %v, want one dumper-writer for an hour", ck)
		}
		w := get(t, a.Middleware(p), "Cookie", ck[0].Name+"="+ck[0].Value)
		wantStatus(t, w, "dumper; fwd=stale; stored")
		wantBody(t, w, "n=3 ")
	})
}

// TestSoftWriterTTL checks the life of the writer's cookie: the longest window of the
// cache's policies, or of an entry it met if longer; an hour with no soft policy, since a
// response's own directives may ask for that much on any instance.
func TestSoftWriterTTL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		policy dumper.Policy // the cache's
		route  dumper.Policy // another route's, by MiddlewareWith
		cc     string        // the directives of a response the cache stores and meets stale
		want   int
	}{
		{"policy", dumper.Policy{StaleWhileRevalidate: 30 * time.Second}, dumper.Policy{}, "", 30},
		{"longest policy window", dumper.Policy{StaleWhileRevalidate: 10 * time.Second, StaleIfError: 2 * time.Minute}, dumper.Policy{}, "", 120},
		{"route", dumper.Policy{StaleWhileRevalidate: 10 * time.Second}, dumper.Policy{StaleIfError: 5 * time.Minute}, "", 300},
		{"directives longer than the policy", dumper.Policy{StaleWhileRevalidate: 10 * time.Second}, dumper.Policy{}, "max-age=0, stale-if-error=600", 600},
		{"directives only", dumper.Policy{}, dumper.Policy{}, "max-age=0, stale-while-revalidate=5", 3600},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t, dumper.Options{Policy: tt.policy})
				c.MiddlewareWith(tt.route)
				p := newPage(nil)
				p.cc = tt.cc
				mw := c.Middleware(p)
				if tt.cc != "" {
					get(t, mw)
					invalidateP(t, c)
					wantStale(t, get(t, mw), 1, "stale", "n=1 ")
					synctest.Wait()
				}
				ck := do(t, mw, "POST", "/p").Result().Cookies()
				if len(ck) != 1 || ck[0].MaxAge != tt.want {
					t.Fatalf("POST set cookies %v, want one for %d s", ck, tt.want)
				}
				// It holds for that long.
				writer := ck[0].Name + "=" + ck[0].Value
				get(t, mw)
				invalidateP(t, c)
				time.Sleep(time.Duration(tt.want) * time.Second)
				if w := get(t, mw, "Cookie", writer); strings.Contains(status(w), "detail=stale") {
					t.Errorf("the writer got %q before its cookie expired", status(w))
				}
				synctest.Wait()
			})
		})
	}
}

// sharedStore stands for a store shared across processes, such as redisstore: a Leaser that
// is not this process's memory store.
type sharedStore struct{ *dumper.MemoryStore }

// TestSoftWriterKeyWarning checks that a cache warns, once, when it uses soft invalidation
// on a store that may be shared across processes with no WriterKey: each instance would sign
// the writer's cookie with its own key, and the others would not honour it.
func TestSoftWriterKeyWarning(t *testing.T) {
	t.Parallel()
	soft := dumper.Policy{StaleWhileRevalidate: time.Minute}
	for _, tt := range []struct {
		name   string
		store  dumper.Store
		key    []byte
		policy dumper.Policy // the cache's
		route  dumper.Policy // a route's
		warn   bool
	}{
		{"shared store, no key, soft policy", sharedStore{newMemoryStore(t, 0)}, nil, soft, dumper.Policy{}, true},
		{"shared store, no key, soft route", sharedStore{newMemoryStore(t, 0)}, nil, dumper.Policy{}, soft, true},
		{"shared store, no key, no soft invalidation", sharedStore{newMemoryStore(t, 0)}, nil, dumper.Policy{}, dumper.Policy{}, false},
		{"shared store, a key", sharedStore{newMemoryStore(t, 0)}, []byte("0123456789abcdef"), soft, soft, false},
		{"memory store", newMemoryStore(t, 0), nil, soft, soft, false},
		{"default store", nil, nil, soft, soft, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := newCache(t, dumper.Options{Store: tt.store, WriterKey: tt.key, Policy: tt.policy, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
			c.MiddlewareWith(tt.route)
			c.MiddlewareWith(tt.route)
			if got := strings.Count(buf.String(), "WriterKey"); got != map[bool]int{true: 1, false: 0}[tt.warn] {
				t.Errorf("%d warnings, want warned %v: %q", got, tt.warn, buf.String())
			}
		})
	}
}

// TestSoftRenderSeesNoCredentials checks that the background render started by a stale
// reader that carries credentials, on an entry that may serve them (public), sees none of
// them: what it renders is stored for everybody.
func TestSoftRenderSeesNoCredentials(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		var mu sync.Mutex
		var seen []http.Header
		var addrs []string
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Clone())
			addrs = append(addrs, r.RemoteAddr)
			n := len(seen)
			mu.Unlock()
			w.Header().Set("Cache-Control", "public, s-maxage=600")
			fmt.Fprintf(w, "n=%d", n)
		})
		mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: time.Minute})(h)
		get(t, mw)
		invalidateP(t, c)
		wantStale(t, get(t, mw, "Cookie", "session=secret", "Authorization", "Bearer token", "X-Forwarded-For", "198.51.100.7"), 1, "stale", "n=1")
		synctest.Wait()
		wantBody(t, get(t, mw), "n=2")
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 2 {
			t.Fatalf("the handler ran %d times, want 2: the first GET, one render", len(seen))
		}
		for _, name := range []string{"Cookie", "Authorization", "X-Forwarded-For"} {
			if v := seen[1].Values(name); len(v) != 0 {
				t.Errorf("the background render saw %s %q", name, v)
			}
		}
		if addrs[1] != "" {
			t.Errorf("the background render saw the remote address %q", addrs[1])
		}
	})
}

// TestSoftTTLRoundedUp checks that a stale response's ttl is negative from its first instant
// (-0 would be 0 in Structured Fields, RFC 8941 §3.3.1), and rounded up after.
func TestSoftTTLRoundedUp(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		after time.Duration
		want  int
	}{
		{0, 1},
		{time.Millisecond, 1},
		{999 * time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Millisecond, 2},
		{59 * time.Second, 59},
	} {
		t.Run(tt.after.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t)
				mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: time.Minute})(newPage(func(n int64) string {
					if n == 1 {
						return "ok"
					}
					return "500" // the page stays stale
				}))
				get(t, mw)
				invalidateP(t, c)
				time.Sleep(tt.after)
				wantStatus(t, get(t, mw), fmt.Sprintf("dumper; hit; ttl=-%d; detail=stale", tt.want))
				synctest.Wait()
			})
		})
	}
}
