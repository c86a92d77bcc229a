package dumper_test

import (
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/edge"
)

// TestSoftEdge checks that a stale response goes out with the edge's no-store and without
// its tags, so that an edge in front never keeps a page that no purge would follow once
// the render replaces it; the fresh responses keep the edge's fields.
func TestSoftEdge(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		policy dumper.Policy
		act    string // of the render that replaces the entry
		detail string
	}{
		{"stale-while-revalidate", dumper.Policy{StaleWhileRevalidate: time.Minute}, "ok", "stale"},
		{"stale-if-error", dumper.Policy{StaleIfError: time.Minute}, "500", "stale-if-error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e, err := edge.New(edge.Options{Dialect: edge.Fastly})
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				c := newCache(t)
				p := newPage(func(n int64) string {
					if n == 1 {
						return "ok"
					}
					return tt.act
				})
				tt.policy.Edge = e
				mw := c.MiddlewareWith(tt.policy)(p)
				wantEdge := func(w *httptest.ResponseRecorder, control, key string) {
					t.Helper()
					if got := w.Header().Get("Surrogate-Control"); got != control {
						t.Errorf("Surrogate-Control %q, want %q", got, control)
					}
					if got := w.Header().Get("Surrogate-Key"); got != key {
						t.Errorf("Surrogate-Key %q, want %q", got, key)
					}
				}
				w := get(t, mw)
				wantEdge(w, "max-age=86400", "/p dumper-all")
				invalidateP(t, c)
				time.Sleep(time.Second)
				w = get(t, mw)
				wantStale(t, w, 1, tt.detail, "n=1 ")
				wantEdge(w, "no-store", "")
				synctest.Wait()
				if tt.act == "ok" {
					w = get(t, mw)
					wantStatus(t, w, "dumper; hit")
					wantEdge(w, "max-age=86400", "/p dumper-all")
				}
			})
		})
	}
}
