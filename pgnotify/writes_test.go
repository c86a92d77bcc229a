package pgnotify_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/pgnotify"
)

// TestListenerDescribesWrites checks that the Listener's invalidations say which changes
// they are for (dumper.WithWrite), on a partitioned table.
func TestListenerDescribesWrites(t *testing.T) {
	p := newPG(t)
	p.exec(`CREATE TABLE m (id int, k int, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k)`)
	p.exec(`CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (10)`)
	p.exec(`INSERT INTO m VALUES (1, 1, 'x'), (2, 2, 'y')`)
	opts := pgnotify.Options{Channel: p.channel}
	tables := []pgnotify.Table{{Name: "m"}}
	p.install(opts, tables...)
	l, err := pgnotify.NewListener(p.config(), opts, tables...)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var writes []string
	cache, err := dumper.New(dumper.Options{Observers: []dumper.Observer{{
		Invalidation: func(_ context.Context, ev dumper.InvalidationEvent) {
			mu.Lock()
			defer mu.Unlock()
			writes = append(writes, ev.Write)
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	rec := newRecorder(cache)
	run(t, l, rec)
	for _, tt := range []struct {
		sql, tag, want string
	}{
		{`UPDATE m SET v = 'z' WHERE id = 2`, "tag row:m:id=2", "UPDATE on " + p.schema + ".m, 1 row"},
		{`DELETE FROM m WHERE id = 1`, "tag row:m:id=1", "DELETE on " + p.schema + ".m, 1 row"},
		{`TRUNCATE m`, "tag table:m", "TRUNCATE on " + p.schema + ".m"},
	} {
		rec.reset()
		mu.Lock()
		writes = nil
		mu.Unlock()
		p.exec(tt.sql)
		rec.waitFor(t, tt.tag)
		if !wait.Until(10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(writes, tt.want)
		}) {
			mu.Lock()
			t.Errorf("%s: invalidations for %q, want %q", tt.sql, writes, tt.want)
			mu.Unlock()
		}
	}
}
