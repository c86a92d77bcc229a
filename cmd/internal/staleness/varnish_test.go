package staleness_test

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/edge"
	"github.com/dumperhq/dumper/edge/edgetest"
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
func varnishStack(t *testing.T) *stack {
	t.Helper()
	db := openSQLite(t, filepath.Join(t.TempDir(), "shop.db"), true)
	srv := httptest.NewUnstartedServer(nil)
	v := edgetest.StartVarnish(t, srv.Listener.Addr().String())
	e, err := edge.New(edge.Options{Dialect: edge.Varnish, Delay: edgeDelay, Wait: edgeWait, Logger: testLogger(t),
		Purger: edge.VarnishPurger{URLs: []string{v.URL}}})
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
		edge:      e,
	}
}

// varnishHit reports a response Varnish served from its own store.
func varnishHit(cacheStatus string) bool { return strings.HasSuffix(cacheStatus, "varnish; hit") }
