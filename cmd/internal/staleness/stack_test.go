package staleness_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/edge"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/pgnotify"
	"github.com/dumperhq/dumper/redisstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// host is the Host header of every request: behind a load balancer every instance sees the
// site's host, so they share cache keys.
const host = "shop.example"

// instance is one process of the shop: its database handle, its cache and its server.
type instance struct {
	name  string
	url   string
	db    *gorm.DB
	cache *dumper.Cache
	store *redisstore.Store // nil with the memory store

	listener *pgnotify.Listener // on PostgreSQL: the instance's own
}

// stack is the demo's full stack, on one or more instances.
type stack struct {
	instances []*instance
	client    *http.Client

	// appBound is the allowance of a write through the API, for reads through the other
	// instances (0: strict everywhere).
	appBound time.Duration

	// softBound is the caches' stale-while-revalidate window, the allowance of a write
	// through the API for every client but the writer's (0: hard invalidation).
	softBound time.Duration

	// With PostgreSQL: a pool for raw SQL writes, which bypass the application, the
	// listener that sees them, and the allowance of those writes.
	raw      *pgxpool.Pool
	rawBound time.Duration
	listener *pgnotify.Listener
	listenAs string // the listener's application_name, to find its backend

	// With edges in front (Varnish), one per instance: their purges, whose first may land
	// after the write returns, so that appBound applies to every read, through the same
	// instance too.
	edges []*edge.Edge
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// serve puts the shop on db behind cache on an httptest server.
func serve(t *testing.T, name string, db *gorm.DB, cache *dumper.Cache) *instance {
	t.Helper()
	return serveWith(t, name, db, cache, nil)
}

// serveWith is serve with the plugin invalidating through commits (nil: in cache).
func serveWith(t *testing.T, name string, db *gorm.DB, cache *dumper.Cache, commits *pgnotify.Commits) *instance {
	t.Helper()
	h, err := icecream.CachedHandler(db, cache, commits, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &instance{name: name, url: srv.URL, db: db, cache: cache}
}

// openSQLite opens (and, if seed, seeds) the shop's SQLite database at path.
func openSQLite(t *testing.T, path string, seed bool) *gorm.DB {
	t.Helper()
	db, err := icecream.Open(icecream.SQLite(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = icecream.Close(db) })
	if seed {
		if err := icecream.Seed(db); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func newCache(t *testing.T, o dumper.Options) *dumper.Cache {
	t.Helper()
	c, err := dumper.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// memoryStack is one instance on SQLite with the memory store.
func memoryStack(t *testing.T) *stack {
	t.Helper()
	db := openSQLite(t, filepath.Join(t.TempDir(), "shop.db"), true)
	return &stack{instances: []*instance{serve(t, "A", db, newCache(t, dumper.Options{}))}, client: newClient(t)}
}

// softMemoryStack is memoryStack with soft invalidation: a stale-while-revalidate window.
func softMemoryStack(t *testing.T, window time.Duration) *stack {
	t.Helper()
	db := openSQLite(t, filepath.Join(t.TempDir(), "shop.db"), true)
	c := newCache(t, dumper.Options{Policy: dumper.Policy{StaleWhileRevalidate: window}})
	return &stack{instances: []*instance{serve(t, "A", db, c)}, client: newClient(t), softBound: window}
}

// softRedisStack is redisStack with soft invalidation: a stale-while-revalidate window, and
// one key for the writers' cookies.
func softRedisStack(t *testing.T, addr string, strict bool, window time.Duration) *stack {
	t.Helper()
	o := dumper.Options{WriterKey: []byte("the instances of the shop share this key"), Policy: dumper.Policy{StaleWhileRevalidate: window}}
	s := redisStackWith(t, addr, strict, time.Second, o)
	s.softBound = window
	return s
}

// redisStack is two instances sharing one SQLite file and, through Redis at addr, one key
// prefix; strict or with the local tier. timeout is the store's operation timeout.
func redisStack(t *testing.T, addr string, strict bool, timeout time.Duration) *stack {
	t.Helper()
	return redisStackWith(t, addr, strict, timeout, dumper.Options{})
}

// redisStackWith is redisStack with the caches' options o (its Store set for each).
func redisStackWith(t *testing.T, addr string, strict bool, timeout time.Duration, o dumper.Options) *stack {
	t.Helper()
	prefix := testservice.Unique("dumpertest-")
	path := filepath.Join(t.TempDir(), "shop.db")
	s := &stack{client: newClient(t)}
	for i, name := range []string{"A", "B"} {
		db := openSQLite(t, path, i == 0)
		rs, err := redisstore.New(redisstore.Options{URL: "redis://" + addr, Prefix: prefix, Strict: strict, Timeout: timeout, Heartbeat: localHeartbeat})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
		if !strict {
			wait.For(t, 10*time.Second, "the local tier in use", rs.LocalTierInUse)
		}
		o.Store = rs
		in := serve(t, name, db, newCache(t, o))
		in.store = rs
		s.instances = append(s.instances, in)
	}
	return s
}

// postgresStack is one instance on PostgreSQL, in a schema of its own, with the NOTIFY
// triggers and a pgnotify listener wired as cmd/icecream wires them (the cache is bypassed
// while the listener is not live; the plugin and the listener invalidate through one
// pgnotify.Commits), and a pool for raw SQL writes.
// minBackoff is the listener's wait before reconnecting (at least half of it, with jitter).
func postgresStack(t *testing.T, minBackoff time.Duration) *stack {
	t.Helper()
	return postgresStackOn(t, minBackoff, "", 1)
}

// postgresStackOn is postgresStack with n instances sharing the database, each with its own
// listener; with a Redis address, their caches share a strict Redis store, which their
// Commits share their records through. The stack's listener is the first instance's.
func postgresStackOn(t *testing.T, minBackoff time.Duration, redisAddr string, n int) *stack {
	t.Helper()
	ctx := context.Background()
	schema, dsn := testservice.PostgresSchema(t, "staleness_")
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	prefix := testservice.Unique("dumpertest-")
	s := &stack{client: newClient(t)}
	for i := range n {
		name := string(rune('A' + i))
		// The application's pool, with search_path set on each of its connections.
		db, err := icecream.Open(postgres.New(postgres.Config{Conn: stdlib.OpenDB(*config.Copy())}), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = icecream.Close(db) })
		if i == 0 {
			if err := icecream.Seed(db); err != nil {
				t.Fatal(err)
			}
		}
		lconfig := config.Copy()
		listenAs := "dumper-staleness-" + schema + "-" + name
		lconfig.RuntimeParams["application_name"] = listenAs
		opts := pgnotify.Options{Channel: schema, MinBackoff: minBackoff, MaxBackoff: 4 * minBackoff}
		l, err := icecream.Listen(ctx, lconfig, db, opts)
		if err != nil {
			t.Fatal(err)
		}
		copts := dumper.Options{Policy: dumper.Policy{Ignore: l.Ignore}}
		var shared pgnotify.RecordStore
		var rs *redisstore.Store
		if redisAddr != "" {
			rs, err = redisstore.New(redisstore.Options{URL: "redis://" + redisAddr, Prefix: prefix, Strict: true, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rs.Close() })
			copts.Store, shared = rs, rs
		}
		cache := newCache(t, copts)
		commits, err := pgnotify.NewCommits(cache, pgnotify.CommitsOptions{Shared: shared})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- l.Run(runCtx, commits) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("listener: %v", err)
			}
		})
		wait.For(t, 10*time.Second, "the listener live", l.Live)
		in := serveWith(t, name, db, cache, commits)
		in.store, in.listener = rs, l
		s.instances = append(s.instances, in)
		if i == 0 {
			s.listener, s.listenAs = l, listenAs
		}
	}

	pconfig, err := pgxpool.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	pconfig.ConnConfig = config.Copy()
	pool, err := pgxpool.NewWithConfig(ctx, pconfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s.raw = pool
	return s
}

// testLogger logs the application's warnings and errors to the test's output, except those
// of requests the load's clients abandoned when a run ended.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(dropCanceled{slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})})
}

type dropCanceled struct{ slog.Handler }

func (h dropCanceled) Handle(ctx context.Context, r slog.Record) error {
	canceled := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && (strings.Contains(err.Error(), "context canceled") || strings.Contains(err.Error(), "operation was canceled")) {
			canceled = true
		}
		return !canceled
	})
	if canceled {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}
