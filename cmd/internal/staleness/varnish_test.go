package staleness_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/cmd/internal/staleness"
	"github.com/dumperhq/dumper/edge"
	"github.com/dumperhq/dumper/edge/edgetest"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/redisstore"
)

// edgeDelay is the delay of the second purge in the Varnish stack, and edgeBound the
// lateness allowed to reads through Varnish: the second purge, plus the margin the purge
// request itself needs on a loaded 2-core machine (as notifyBound's). A read through
// Varnish that starts later than edgeBound after a write ended sees it.
// edgeWait is how long a write waits for the first purge (edge.Options.Wait).
const (
	edgeDelay = time.Second
	edgeBound = edgeDelay + 250*time.Millisecond
	edgeWait  = 100 * time.Millisecond
)

// varnishStack is the memory stack behind a varnishd of its own, driven by dumper: every
// request, reads and writes, goes through Varnish; the cache tags what it stores for
// Varnish and purges it of every invalidation, twice.
func varnishStack(t *testing.T) *stack { return varnishStackWith(t, true) }

// varnishStackWith is varnishStack, whose edge purges Varnish only if purge is set.
func varnishStackWith(t *testing.T, purge bool) *stack {
	t.Helper()
	db := openSQLite(t, filepath.Join(t.TempDir(), "shop.db"), true)
	srv := httptest.NewUnstartedServer(nil)
	v := edgetest.StartVarnish(t, srv.Listener.Addr().String())
	o := edge.Options{Dialect: edge.Varnish, Delay: edgeDelay, Wait: edgeWait, Logger: testLogger(t)}
	if purge {
		o.Purger = edge.VarnishPurger{URLs: []string{v.URL}}
	}
	e, err := edge.New(o)
	if err != nil {
		t.Fatal(err)
	}
	cache := newCache(t, dumper.Options{Policy: dumper.Policy{Edge: e}, Observers: []dumper.Observer{e.Observer()}})
	handler, err := icecream.CachedHandler(db, cache, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = handler
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = e.Close()
		if s := e.Stats(); s.GivenUp != 0 || s.Overflows != 0 {
			t.Errorf("edge stats %+v: purges lost", s)
		}
	})
	return &stack{
		instances: []*instance{{name: "varnish", url: v.URL, db: db, cache: cache}},
		client:    newClient(t),
		appBound:  edgeBound,
		edges:     []*edge.Edge{e},
	}
}

// varnishRedisStack is two instances sharing one SQLite file and a strict Redis store, each
// behind a varnishd of its own; each instance's edge purges both Varnish servers of the
// invalidations it makes (an invalidation that reaches it from the other through Redis is
// not reported to it, so each purge is sent once).
func varnishRedisStack(t *testing.T, addr string) *stack {
	t.Helper()
	prefix := testservice.Unique("dumpertest-")
	path := filepath.Join(t.TempDir(), "shop.db")
	s := &stack{client: newClient(t), appBound: edgeBound}
	var srvs []*httptest.Server
	var urls []string
	for range 2 {
		srv := httptest.NewUnstartedServer(nil)
		srvs = append(srvs, srv)
		urls = append(urls, edgetest.StartVarnish(t, srv.Listener.Addr().String()).URL)
	}
	for i, name := range []string{"A", "B"} {
		db := openSQLite(t, path, i == 0)
		rs, err := redisstore.New(redisstore.Options{URL: "redis://" + addr, Prefix: prefix, Strict: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
		e, err := edge.New(edge.Options{Dialect: edge.Varnish, Delay: edgeDelay, Wait: edgeWait, Logger: testLogger(t),
			Purger: edge.VarnishPurger{URLs: urls}})
		if err != nil {
			t.Fatal(err)
		}
		cache := newCache(t, dumper.Options{Store: rs, Policy: dumper.Policy{Edge: e}, Observers: []dumper.Observer{e.Observer()}})
		handler, err := icecream.CachedHandler(db, cache, nil, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		srv := srvs[i]
		srv.Config.Handler = handler
		srv.Start()
		t.Cleanup(func() {
			srv.Close()
			_ = e.Close()
			if st := e.Stats(); st.GivenUp != 0 || st.Overflows != 0 {
				t.Errorf("edge of %s: stats %+v: purges lost", name, st)
			}
		})
		s.instances = append(s.instances, &instance{name: name, url: urls[i], db: db, cache: cache, store: rs})
		s.edges = append(s.edges, e)
	}
	return s
}

// varnishHit reports a response Varnish served from its own store.
func varnishHit(cacheStatus string) bool { return strings.HasSuffix(cacheStatus, "varnish; hit") }

// TestCheckerCatchesUnpurgedVarnish runs the load through Varnish with dumper tagging pages
// for it but never purging it: reads through Varnish keep the old pages, and the history must
// show violations. It proves that the checker sees staleness through the edge.
func TestCheckerCatchesUnpurgedVarnish(t *testing.T) {
	s := varnishStackWith(t, false)
	l := newLoad(t, s, seed(t))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	l.run(ctx, 4, 1, 20*time.Millisecond)
	writes, reads := l.h.Ops()
	rep, err := staleness.Check(writes, reads)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) == 0 {
		t.Fatalf("no violation found through an unpurged Varnish: %v", rep)
	}
	t.Logf("through an unpurged Varnish: %d operations checked, %d violations (as expected)", rep.Ops(), len(rep.Violations))
}
