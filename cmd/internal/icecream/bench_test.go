package icecream_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/pgnotify"
	"github.com/dumperhq/dumper/redisstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm/clause"
)

// BenchmarkWriteTransaction measures what pgnotify.Commits costs a write made through the
// application: the API's rename (GORM's implicit transaction, the gormdumper plugin,
// PostgreSQL with the triggers, a listener running) on two identical stacks, one wired as
// before Commits (the plugin invalidates in the cache) and one through Commits (one more
// query in the transaction, before its write; with Redis, one more round trip to share the
// record after commit), alternately, in the same run. It reports the median of each and
// their difference.
//
//	go test -run '^$' -bench WriteTransaction -benchtime 2000x ./cmd/internal/icecream/
func BenchmarkWriteTransaction(b *testing.B) {
	for _, store := range []string{"memory", "redis"} {
		b.Run("store="+store, func(b *testing.B) {
			before := benchWriter(b, store, false)
			with := benchWriter(b, store, true)
			var tb, tw []time.Duration
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					tb = append(tb, before(i))
					tw = append(tw, with(i))
				} else {
					tw = append(tw, with(i))
					tb = append(tb, before(i))
				}
			}
			b.StopTimer()
			us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
			mb, mw := median(tb), median(tw)
			b.ReportMetric(us(mb), "µs-before")
			b.ReportMetric(us(mw), "µs-with-commits")
			b.ReportMetric(us(mw-mb), "µs-extra")
			b.ReportMetric(float64(mw)/float64(mb), "ratio")
		})
	}
}

// benchWriter returns a function that renames vanilla on a stack of its own (a schema, a
// listener, a cache in store) and returns how long the write took.
func benchWriter(b *testing.B, store string, withCommits bool) func(i int) time.Duration {
	b.Helper()
	ctx := context.Background()
	_, dsn := testservice.PostgresSchema(b, "icecream_bench_")
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	db, err := icecream.Open(postgres.New(postgres.Config{Conn: stdlib.OpenDB(*config.Copy())}), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = icecream.Close(db) })
	if err := icecream.Seed(db); err != nil {
		b.Fatal(err)
	}
	l, err := icecream.Listen(ctx, config, db, pgnotify.Options{Channel: config.RuntimeParams["search_path"]})
	if err != nil {
		b.Fatal(err)
	}
	var opts dumper.Options
	var shared pgnotify.RecordStore
	if store == "redis" {
		rs, err := redisstore.New(redisstore.Options{URL: "redis://" + testservice.RedisAddr(b), Prefix: testservice.Unique("dumperbench-"), Strict: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = rs.Close() })
		opts.Store, shared = rs, rs
	}
	cache, err := dumper.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cache.Close() })
	var commits *pgnotify.Commits
	var runWith dumper.Invalidator = cache
	if withCommits {
		if commits, err = pgnotify.NewCommits(cache, pgnotify.CommitsOptions{Shared: shared}); err != nil {
			b.Fatal(err)
		}
		runWith = commits
	}
	if _, err := icecream.CachedHandler(db, cache, commits, nil); err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx, runWith) }()
	b.Cleanup(func() { cancel(); <-done })
	if !wait.Until(30*time.Second, l.Live) {
		b.Fatal("the listener not live after 30s")
	}
	var f icecream.IceCream
	if err := db.Where("slug = ?", "vanilla").First(&f).Error; err != nil {
		b.Fatal(err)
	}
	return func(i int) time.Duration {
		start := time.Now()
		if err := db.Model(&f).Omit(clause.Associations).Update("name", fmt.Sprint("Vanilla ", i)).Error; err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
}

// median returns the median of ds.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
