package dumper_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
)

// TestRevalidationBound checks that one invalidation of a path with many cached variants,
// read once each, starts no more background renders at once than Options.MaxRevalidations
// (or its default), that the variants past the bound are served stale all the same, and
// that the next reader after a render finishes starts one.
func TestRevalidationBound(t *testing.T) {
	t.Parallel()
	for _, max := range []int{2, 0} {
		t.Run(fmt.Sprint("MaxRevalidations=", max), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				bound := max
				if bound == 0 {
					bound = 4 * runtime.GOMAXPROCS(0)
				}
				variants := bound + 5
				c := newCache(t, dumper.Options{MaxRevalidations: max})
				var warm atomic.Bool
				warm.Store(true)
				var running atomic.Int64
				gate := make(chan struct{})
				mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: time.Minute})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !warm.Load() {
						if n := running.Add(1); n > int64(bound) {
							t.Errorf("%d background renders at once, want %d at most", n, bound)
						}
						<-gate
						running.Add(-1)
					}
					fmt.Fprint(w, "new ", r.URL.RawQuery)
				}))
				for i := range variants {
					do(t, mw, "GET", fmt.Sprintf("/p?i=%d", i))
				}
				warm.Store(false)
				invalidateP(t, c)
				for i := range variants {
					w := do(t, mw, "GET", fmt.Sprintf("/p?i=%d", i))
					if !strings.HasSuffix(status(w), "detail=stale") {
						t.Fatalf("variant %d: Cache-Status %q, want a stale hit", i, status(w))
					}
				}
				synctest.Wait()
				if got := running.Load(); got != int64(bound) {
					t.Errorf("%d background renders at once, want %d", got, bound)
				}
				if s := c.Stats(); s.Revalidations != uint64(bound) || s.RevalidationsSkipped != uint64(variants-bound) {
					t.Errorf("Stats: Revalidations %d, RevalidationsSkipped %d; want %d, %d", s.Revalidations, s.RevalidationsSkipped, bound, variants-bound)
				}
				close(gate)
				synctest.Wait()
				// The first variants were replaced; the others are still stale, and their
				// next readers start their renders, as many at once as the bound allows.
				for i := range variants {
					w := do(t, mw, "GET", fmt.Sprintf("/p?i=%d", i))
					if hit := status(w) == "dumper; hit"; hit != (i < bound) {
						t.Errorf("variant %d: Cache-Status %q", i, status(w))
					}
				}
				synctest.Wait()
				for i := range variants {
					w := do(t, mw, "GET", fmt.Sprintf("/p?i=%d", i))
					if hit := status(w) == "dumper; hit"; hit != (i < 2*bound) {
						t.Errorf("variant %d: Cache-Status %q", i, status(w))
					}
					if hit := status(w) == "dumper; hit"; hit {
						wantBody(t, w, fmt.Sprintf("new i=%d", i))
					}
				}
			})
		})
	}
	if _, err := dumper.New(dumper.Options{MaxRevalidations: -1}); err == nil {
		t.Error("New accepted a negative MaxRevalidations")
	}
}

// TestRevalidationHangs checks that a handler that ignores its context and hangs holds its
// key's render: past the timeout, its key gets no other render (the stale entry is served,
// stale-if-error counting it a failure) until it returns, and what it renders then is not
// stored.
func TestRevalidationHangs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy dumper.Policy
		detail string
	}{
		{"background", dumper.Policy{StaleWhileRevalidate: time.Minute, RevalidateTimeout: 2 * time.Second}, "stale"},
		{"stale-if-error", dumper.Policy{StaleIfError: time.Minute, RevalidateTimeout: 2 * time.Second}, "stale-if-error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t)
				gate := make(chan struct{})
				release := sync.OnceFunc(func() { close(gate) })
				defer release() // should the test fail while the handler hangs
				var runs atomic.Int64
				mw := c.MiddlewareWith(tt.policy)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n := runs.Add(1)
					if n == 2 {
						<-gate // deaf to its context
					}
					fmt.Fprintf(w, "n=%d", n)
				}))
				get(t, mw)
				invalidateP(t, c)
				start := time.Now()
				wantStale(t, get(t, mw), 1, tt.detail, "n=1") // run 2 hangs (in the foreground: for the timeout)
				for range 10 {
					time.Sleep(3 * time.Second) // past the timeout, again and again
					wantStale(t, get(t, mw), int(time.Since(start)/time.Second), tt.detail, "n=1")
					synctest.Wait()
					if got := runs.Load(); got != 2 {
						t.Fatalf("the handler ran %d times while its render to replace the entry hung, want 2", got)
					}
				}
				if s := c.Stats(); s.Revalidations != 1 || s.RevalidationsSkipped != 10 || s.RevalidationFailures != 1 {
					t.Errorf("Stats: Revalidations %d, RevalidationsSkipped %d, RevalidationFailures %d; want 1, 10, 1", s.Revalidations, s.RevalidationsSkipped, s.RevalidationFailures)
				}
				release()
				synctest.Wait() // run 2 returns, long past its timeout: not stored
				w := get(t, mw)
				if tt.detail == "stale" {
					wantStale(t, w, int(time.Since(start)/time.Second), "stale", "n=1")
					synctest.Wait() // run 3 replaces it
					w = get(t, mw)
					wantStatus(t, w, "dumper; hit")
				}
				wantBody(t, w, "n=3")
			})
		})
	}
}
