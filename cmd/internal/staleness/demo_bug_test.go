package staleness_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
)

// TestDemoSQLiteConcurrentWrites: concurrent renames of different flavors through the
// demo's API all succeed on SQLite (they failed with 500 "database is locked (517)" while
// its transactions began deferred; see icecream.SQLite).
func TestDemoSQLiteConcurrentWrites(t *testing.T) {
	t.Parallel()
	db, err := icecream.Open(icecream.SQLite(filepath.Join(t.TempDir(), "shop.db")), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = icecream.Close(db) })
	if err := icecream.Seed(db); err != nil {
		t.Fatal(err)
	}
	in := serve(t, "A", db, newCache(t, dumper.Options{}))
	l := &load{t: t, s: &stack{instances: []*instance{in}, client: newClient(t)}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	for _, f := range []string{"vanilla", "chocolate"} {
		wg.Go(func() {
			for v := range 50 {
				if err := l.apiWrite(t.Context(), l.s.client, in, f, int64(v)); err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of 100 concurrent renames failed; first: %v", len(failures), failures[0])
	}
}
