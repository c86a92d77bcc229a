package staleness_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/edge"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/redisstore"
)

// recordingPurger is an edge that records the purges it is sent.
type recordingPurger struct {
	mu      sync.Mutex
	batches [][]string
}

func (p *recordingPurger) Purge(_ context.Context, keys []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batches = append(p.batches, slices.Clone(keys))
	return nil
}

func (p *recordingPurger) MaxKeys() int { return 256 }

func (p *recordingPurger) sent() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.batches)
}

// TestEdgePurgedOnceAcrossInstances: two instances share one Redis store, strict and with
// its local tier, each with an edge driven by its own Observer; a page is stored on both.
// Each invalidation, on either instance, reaches the other (its next request renders the
// page anew), and is purged exactly once across both edges: one batch, from the instance
// that made it.
func TestEdgePurgedOnceAcrossInstances(t *testing.T) {
	addr := testservice.RedisAddr(t)
	for _, strict := range []bool{true, false} {
		t.Run("strict="+strconv.FormatBool(strict), func(t *testing.T) {
			prefix := testservice.Unique("dumpertest-")
			type inst struct {
				url     string
				renders atomic.Int64
				p       *recordingPurger
				cache   *dumper.Cache
				e       *edge.Edge
			}
			var ins [2]*inst
			for i := range ins {
				in := &inst{p: &recordingPurger{}}
				rs, err := redisstore.New(redisstore.Options{URL: "redis://" + addr, Prefix: prefix, Strict: strict, Timeout: time.Second, Heartbeat: localHeartbeat})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = rs.Close() })
				if !strict {
					wait.For(t, 10*time.Second, "the local tier in use", rs.LocalTierInUse)
				}
				in.e, err = edge.New(edge.Options{Dialect: edge.Varnish, Delay: -1, Purger: in.p, Logger: testLogger(t)})
				if err != nil {
					t.Fatal(err)
				}
				in.cache = newCache(t, dumper.Options{Store: rs, Policy: dumper.Policy{Edge: in.e}, Observers: []dumper.Observer{in.e.Observer()}})
				srv := httptest.NewServer(in.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					in.renders.Add(1)
					dumper.ReadRows(r.Context(), "ice_creams", "slug", "vanilla")
					io.WriteString(w, "vanilla")
				})))
				t.Cleanup(srv.Close)
				in.url = srv.URL
				ins[i] = in
			}
			get := func(in *inst) {
				t.Helper()
				res, err := http.Get(in.url + "/icecream/vanilla")
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			ctx := t.Context()
			invalidations := []struct {
				name string
				by   int
				do   func(c *dumper.Cache) error
				keys []string
			}{
				{"row tag on A", 0, func(c *dumper.Cache) error {
					return c.InvalidateTags(ctx, dumper.RowTag("ice_creams", "slug", "vanilla"))
				}, edge.Varnish.Keys([]string{dumper.RowTag("ice_creams", "slug", "vanilla")})},
				{"path on B", 1, func(c *dumper.Cache) error { return c.InvalidatePaths(ctx, "/icecream/vanilla") }, []string{"/icecream/vanilla"}},
				{"everything on A", 0, func(c *dumper.Cache) error { return c.InvalidateAll(ctx) }, []string{edge.AllTag}},
			}
			for _, inv := range invalidations {
				for _, in := range ins { // the page stored, and served from the store, on both
					get(in)
					before := in.renders.Load()
					get(in)
					if in.renders.Load() != before {
						t.Fatalf("%s: the page was not a hit before the invalidation", inv.name)
					}
				}
				sent := [2]int{len(ins[0].p.sent()), len(ins[1].p.sent())}
				me, other := ins[inv.by], ins[1-inv.by]
				otherBefore := other.e.Stats()
				if err := inv.do(me.cache); err != nil {
					t.Fatal(err)
				}
				before := other.renders.Load()
				wait.For(t, 10*time.Second, inv.name+" seen by the other instance", func() bool {
					get(other)
					return other.renders.Load() > before
				})
				wait.For(t, 10*time.Second, inv.name+" purged", func() bool {
					s := me.e.Stats()
					return len(me.p.sent()) > sent[inv.by] && s.Queued == 0
				})
				// An Observer queues its purge as the invalidation is applied: the other
				// instance, which has applied it (it rendered anew), queued nothing.
				if s := other.e.Stats(); s.Requests != otherBefore.Requests || s.Queued != 0 {
					t.Fatalf("%s: the other instance's edge %+v, before %+v: it purged too", inv.name, s, otherBefore)
				}
				byMe, byOther := me.p.sent()[sent[inv.by]:], other.p.sent()[sent[1-inv.by]:]
				if len(byMe) != 1 || len(byOther) != 0 {
					t.Fatalf("%s: %d purge batches from the instance that made it, %d from the other; want 1 and 0", inv.name, len(byMe), len(byOther))
				}
				if !slices.Equal(byMe[0], inv.keys) {
					t.Errorf("%s: purged %q, want %q", inv.name, byMe[0], inv.keys)
				}
				t.Logf("%s: one batch %q, from the instance that made it; none from the other", inv.name, byMe[0])
			}
		})
	}
}
