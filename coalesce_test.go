package dumper_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// concurrently sends n requests to mw at once and returns their results once all are
// done; the handler blocks on release.
func concurrently(t *testing.T, mw http.Handler, n int, target string) []*httptest.ResponseRecorder {
	t.Helper()
	out := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = do(t, mw, "GET", target)
		}()
	}
	wg.Wait()
	return out
}

func TestCoalescing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		started := make(chan struct{})
		release := make(chan struct{})
		var runs atomic.Int32
		mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if runs.Add(1) == 1 {
				close(started)
				<-release
			}
			w.Write([]byte("page"))
		}))
		const n = 8
		done := make(chan []*httptest.ResponseRecorder)
		go func() { done <- concurrently(t, mw, n, "/p") }()
		<-started
		synctest.Wait() // every other request is waiting for the render
		if got := c.Stats().Coalesced; got != n-1 {
			t.Errorf("%d requests wait for the render, want %d", got, n-1)
		}
		close(release)
		res := <-done
		if runs.Load() != 1 {
			t.Fatalf("handler ran %d times for %d concurrent misses, want 1", runs.Load(), n)
		}
		hits := 0
		for _, w := range res {
			wantBody(t, w, "page")
			if isHit(w) {
				hits++
			}
		}
		if hits != n-1 {
			t.Fatalf("%d hits, want %d", hits, n-1)
		}
	})
}

func TestCoalescingUncacheable(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		started := make(chan struct{})
		release := make(chan struct{})
		var runs atomic.Int32
		mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if runs.Add(1) == 1 {
				close(started)
				<-release
			}
			w.Header().Set("Cache-Control", "private")
			w.Write([]byte("mine"))
		}))
		const n = 5
		done := make(chan []*httptest.ResponseRecorder)
		go func() { done <- concurrently(t, mw, n, "/p") }()
		<-started
		synctest.Wait() // every other request is waiting for the render
		if got := c.Stats().Coalesced; got != n-1 {
			t.Errorf("%d requests wait for the render, want %d", got, n-1)
		}
		close(release)
		<-done
		if runs.Load() != n {
			t.Fatalf("handler ran %d times, want %d: waiters must render themselves when the first is uncacheable", runs.Load(), n)
		}
	})
}

// TestCoalescingInvalidationWhileWaiting: requests wait on a render that read the old data;
// an invalidation happens while they wait; none of them may be handed the old page after it
// unless it started before the invalidation, and the next request sees the new data.
func TestCoalescingInvalidationWhileWaiting(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		var data atomic.Value
		data.Store("old")
		started := make(chan struct{})
		release := make(chan struct{})
		var runs atomic.Int32
		mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v := data.Load().(string)
			if runs.Add(1) == 1 {
				close(started)
				<-release
			}
			w.Write([]byte(v))
		}))
		const n = 4
		done := make(chan []*httptest.ResponseRecorder)
		go func() { done <- concurrently(t, mw, n, "/p") }()
		<-started
		synctest.Wait() // every other request is waiting for the render
		if got := c.Stats().Coalesced; got != n-1 {
			t.Errorf("%d requests wait for the render, want %d", got, n-1)
		}
		data.Store("new")
		if err := c.InvalidatePaths(t.Context(), "/p"); err != nil {
			t.Fatal(err)
		}
		close(release)
		res := <-done
		old := 0
		for _, w := range res {
			if w.Body.String() == "old" {
				old++
				if isHit(w) {
					t.Errorf("a waiter was served the condemned render from the cache")
				}
			}
		}
		if old != 1 {
			t.Errorf("%d responses showed the old data, want 1 (the render that read it)", old)
		}
		w := do(t, mw, "GET", "/p")
		wantBody(t, w, "new")
	})
}
