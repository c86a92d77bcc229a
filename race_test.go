package dumper_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// TestNeverStaleAfterInvalidation parks a handler after it has read its data, writes and
// invalidates while it is parked, then releases it: the response it renders from the old data
// reaches its own client, but the next request must miss and see the new data.
func TestNeverStaleAfterInvalidation(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"path", "tag"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			var data atomic.Value
			data.Store("old")
			read := make(chan struct{}, 1)
			release := make(chan struct{})
			var park atomic.Bool
			park.Store(true)
			mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				v := data.Load().(string)
				if park.Load() {
					read <- struct{}{}
					<-release
				}
				w.Header().Set("Cache-Tag", "row:1")
				w.Write([]byte(v))
			}))

			first := make(chan *httptest.ResponseRecorder)
			go func() { first <- do(t, mw, "GET", "/page") }()
			<-read // the handler has read "old" and is rendering

			data.Store("new")
			park.Store(false)
			var err error
			if name == "path" {
				err = c.InvalidatePaths(t.Context(), "/page")
			} else {
				err = c.InvalidateTags(t.Context(), "row:1")
			}
			if err != nil {
				t.Fatal(err)
			}
			close(release)
			if w := <-first; w.Body.String() != "old" {
				t.Fatalf("parked request got %q", w.Body.String())
			}

			w := do(t, mw, "GET", "/page")
			if isHit(w) || w.Body.String() != "new" {
				t.Fatalf("after the invalidation: %q %q, want a miss showing new", status(w), w.Body.String())
			}
			wantStatus(t, do(t, mw, "GET", "/page"), "dumper; hit")
		})
	}
}

// TestNeverStaleUnderLoad runs readers against a writer that bumps a version and invalidates;
// every read that starts after an invalidation returned must show at least that version.
func TestNeverStaleUnderLoad(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	var version atomic.Int64
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprint(w, version.Load())
	}))
	var published atomic.Int64 // the newest version whose invalidation has returned
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lang := []string{"en", "fr"}[i%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				min := published.Load()
				w := do(t, mw, "GET", "/v", "Accept-Language", lang)
				var got int64
				fmt.Sscan(w.Body.String(), &got)
				if got < min {
					t.Errorf("read version %d (%s) after version %d was published", got, status(w), min)
					return
				}
			}
		}()
	}
	for v := int64(1); v <= 300; v++ {
		version.Store(v)
		if err := c.InvalidatePaths(t.Context(), "/v"); err != nil {
			t.Fatal(err)
		}
		published.Store(v)
	}
	close(stop)
	wg.Wait()
}
