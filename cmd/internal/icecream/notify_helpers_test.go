package icecream_test

import (
	"context"
	"net/http/httptest"
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
)

// notifyShop is the shop on PostgreSQL with the NOTIFY listener, wired as cmd/icecream wires
// it: the cache is bypassed while the listener is not live, and (with commits) the plugin
// and the listener invalidate through one pgnotify.Commits.
type notifyShop struct {
	*shop
	listener *pgnotify.Listener
	commits  *pgnotify.Commits // nil: the plugin and the listener invalidate in the cache
	config   *pgx.ConnConfig
}

// notifyConfig says how to build a notifyShop.
type notifyConfig struct {
	dsn    string // the database, with the test's schema on its search_path
	seed   bool
	store  *redisstore.Store // the cache's store, shared with other instances; nil: memory
	legacy bool              // no Commits: the wiring before it existed
	// inv, if not nil, returns what Commits invalidates in, in front of the cache.
	inv  func(*dumper.Cache) dumper.Invalidator
	wait time.Duration // CommitsOptions.Wait
}

// newNotifyShop serves the shop described by c until the test ends, and waits until its
// listener is live. The channel is the schema's, so that parallel tests hear only their own.
func newNotifyShop(t *testing.T, c notifyConfig) *notifyShop {
	t.Helper()
	ctx := context.Background()
	config, err := pgx.ParseConfig(c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := icecream.Open(postgres.New(postgres.Config{Conn: stdlib.OpenDB(*config.Copy())}), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = icecream.Close(db) })
	if c.seed {
		if err := icecream.Seed(db); err != nil {
			t.Fatal(err)
		}
	}
	listener, err := icecream.Listen(ctx, config, db, pgnotify.Options{Channel: config.RuntimeParams["search_path"]})
	if err != nil {
		t.Fatal(err)
	}
	opts := dumper.Options{Policy: dumper.Policy{Ignore: listener.Ignore}}
	var shared pgnotify.RecordStore
	if c.store != nil {
		opts.Store, shared = c.store, c.store
	}
	cache, err := dumper.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	var inv dumper.Invalidator = cache
	if c.inv != nil {
		inv = c.inv(cache)
	}
	var commits *pgnotify.Commits
	runWith := inv
	if !c.legacy {
		if commits, err = pgnotify.NewCommits(inv, pgnotify.CommitsOptions{Shared: shared, Wait: c.wait}); err != nil {
			t.Fatal(err)
		}
		runWith = commits
	}
	h, err := icecream.CachedHandler(db, cache, commits, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	runListener(t, listener, runWith)
	return &notifyShop{
		shop:     &shop{t: t, srv: srv, db: db, cache: cache},
		listener: listener, commits: commits, config: config,
	}
}

// listening returns a cache whose Ignore is listener's, and runs listener on it until the
// test ends, once it is live.
func listening(t *testing.T, listener *pgnotify.Listener) *dumper.Cache {
	t.Helper()
	cache, err := dumper.New(dumper.Options{Policy: dumper.Policy{Ignore: listener.Ignore}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	runListener(t, listener, cache)
	return cache
}

// runListener runs listener, invalidating in inv, until the test ends, and waits until it is
// live.
func runListener(t *testing.T, listener *pgnotify.Listener, inv dumper.Invalidator) {
	t.Helper()
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- listener.Run(runCtx, inv) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	wait.For(t, 10*time.Second, "the listener", listener.Live)
}

// postgresDSN returns a DSN for a fresh schema of the test's own, on its search_path.
func postgresDSN(t *testing.T) string {
	t.Helper()
	_, dsn := testservice.PostgresSchema(t, "icecream_test_")
	return dsn
}

// processed waits until the listener has processed n more changes than from.
func (s *notifyShop) processed(from uint64, n uint64) {
	s.t.Helper()
	wait.For(s.t, 10*time.Second, "the listener to process the write's notification", func() bool { return s.listener.Stats().Changes >= from+n })
}

// renders returns how many times the cache ran the handler so far.
func (s *shop) renders() uint64 { return s.cache.Stats().Misses }
