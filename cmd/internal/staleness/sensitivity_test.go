package staleness_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/cmd/internal/staleness"
)

// TestCheckerCatchesMissingInvalidation runs the load against the shop with the gormdumper
// plugin left out, so that writes invalidate nothing: the history must show violations. It
// proves that the harness — page parsing, timing, the check — can see staleness at all.
func TestCheckerCatchesMissingInvalidation(t *testing.T) {
	t.Parallel()
	db := openSQLite(t, filepath.Join(t.TempDir(), "shop.db"), true)
	cache := newCache(t, dumper.Options{})
	srv := httptest.NewServer(cache.Middleware(icecream.NewHandler(db, nil))) // no plugin
	t.Cleanup(srv.Close)
	s := &stack{instances: []*instance{{name: "A", url: srv.URL, db: db, cache: cache}}, client: newClient(t)}
	l := newLoad(t, s, seed(t))
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	l.run(ctx, 4, 1, 20*time.Millisecond)
	writes, reads := l.h.Ops()
	rep, err := staleness.Check(writes, reads)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) == 0 {
		t.Fatalf("no violation found without invalidation: %v", rep)
	}
	t.Logf("without invalidation: %d operations checked, %d violations (as expected)", rep.Ops(), len(rep.Violations))
}
