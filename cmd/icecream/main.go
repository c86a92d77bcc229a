// Command icecream serves the ice-cream shop demo of dumper: pages cached forever and
// refreshed the moment the flavors and sizes behind them change.
//
//	go run ./cmd/icecream [-addr 127.0.0.1:8080] [-db icecream.db | -postgres DSN] [-redis URL [-redis-local]] [-cache-bytes N] [-explain] [-purge]
//
// It opens the database (SQLite by default), creates the tables, seeds three flavors and
// three sizes when the shop is empty, and serves the shop behind a dumper cache: in memory by
// default, or in Redis with -redis, shared by every instance started with the same URL
// (strict: every lookup asks Redis; -redis-local adds the local tier).
//
// With the memory store (the default), the cache holds at most -cache-bytes (64 MiB) of live
// memory, and the process sets itself a soft memory limit (runtime/debug.SetMemoryLimit) of
// that budget plus 48 MiB, unless GOMEMLIMIT is set: without a limit, Go's collector lets
// the heap grow to twice what is live (GOGC=100) before it collects, so a cache full of
// entries would double the process's memory. With the limit, a flood of unique URLs keeps
// the process's peak resident memory within the budget and 96 MiB (TestFloodPeakRSS).
//
// With -postgres it also installs PostgreSQL triggers on the shop's tables and listens for
// their notifications (package pgnotify), so that writes made outside the application — a
// psql session, a migration — refresh the pages they change, without a restart. While the
// listener is disconnected the cache is bypassed.
//
// With -purge it serves POST /_dumper/purge (package purge), which purges pages by path, by
// tag or all of them for a client that sends the bearer token held in ICECREAM_PURGE_TOKEN;
// -purge without that variable is refused, since there is no default token.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/edge"
	"github.com/dumperhq/dumper/pgnotify"
	"github.com/dumperhq/dumper/promdumper"
	"github.com/dumperhq/dumper/redisstore"
	"github.com/jackc/pgx/v5"
	"gorm.io/driver/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run serves the shop until ctx is done and returns the exit status: 2 for bad flags, 1 for
// a failure.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("icecream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dbPath := fs.String("db", "icecream.db", "SQLite database file")
	pgDSN := fs.String("postgres", "", "PostgreSQL DSN; use PostgreSQL instead of SQLite")
	redisURL := fs.String("redis", "", "Redis URL (redis://host:port/db): keep the cache in Redis, shared by every instance")
	redisLocal := fs.Bool("redis-local", false, "with -redis: serve hot entries from process memory too, kept coherent through Redis pub/sub")
	cacheBytes := fs.Int64("cache-bytes", 64<<20, "memory store budget in bytes (Options.MaxBytes); ignored with -redis")
	explain := fs.Bool("explain", false, "serve /_dumper/explain?path=…: what each cached page depends on and what last invalidated it")
	varnishURL := fs.String("varnish", "", "base URL of a Varnish in front running edge/varnish/dumper.vcl (http://127.0.0.1:6081): tag pages for it and purge it (docs/edge.md)")
	purgeOn := fs.Bool("purge", false, "serve POST "+purgePath+" (purge by path, tag or all), for the bearer token in $"+purgeTokenEnv)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "icecream: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *cacheBytes <= 0 {
		fmt.Fprintln(stderr, "icecream: -cache-bytes must be positive")
		return 2
	}
	if *redisLocal && *redisURL == "" {
		fmt.Fprintln(stderr, "icecream: -redis-local needs -redis")
		return 2
	}
	dbSet := false
	fs.Visit(func(f *flag.Flag) { dbSet = dbSet || f.Name == "db" })
	if dbSet && *pgDSN != "" {
		fmt.Fprintln(stderr, "icecream: -db and -postgres are exclusive")
		return 2
	}

	purgeToken := ""
	if *purgeOn {
		if purgeToken = os.Getenv(purgeTokenEnv); purgeToken == "" {
			fmt.Fprintf(stderr, "icecream: -purge needs a token in $%s (openssl rand -hex 32 makes one)\n", purgeTokenEnv)
			return 2
		}
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := config{addr: *addr, dbPath: *dbPath, pgDSN: *pgDSN, redisURL: *redisURL, redisLocal: *redisLocal, explain: *explain, cacheBytes: *cacheBytes, varnishURL: *varnishURL}
	cfg.purgeToken = purgeToken
	if err := serve(ctx, logger, stderr, cfg); err != nil {
		logger.Error("icecream: " + err.Error())
		return 1
	}
	return 0
}

// config is what the flags ask for.
type config struct {
	addr, dbPath, pgDSN, redisURL string
	varnishURL                    string
	redisLocal, explain           bool
	cacheBytes                    int64
	purgeToken                    string // serve the purge endpoint, for this token
}

// memoryHeadroom is what the demo's process needs beyond its memory store's budget: the
// runtime, the database (SQLite's page cache is Go memory), templates, connections, and
// room for the collector to work in. See setMemoryLimit.
const memoryHeadroom = 48 << 20

// setMemoryLimit sets the process's soft memory limit to the store's budget plus
// memoryHeadroom, unless GOMEMLIMIT already set one, and returns the limit in force. The
// budget bounds the store's live memory; without a limit, the heap grows to about twice what
// is live between two collections (GOGC=100).
func setMemoryLimit(budget int64) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(budget + memoryHeadroom)
	return budget + memoryHeadroom
}

func serve(ctx context.Context, logger *slog.Logger, stderr io.Writer, cfg config) error {
	dialector, where := icecream.SQLite(cfg.dbPath), "sqlite:"+cfg.dbPath
	if cfg.pgDSN != "" {
		dialector, where = postgres.Open(cfg.pgDSN), "postgres"
	}
	db, err := icecream.Open(dialector, logger)
	if err != nil {
		return err
	}
	defer icecream.Close(db)
	if err := icecream.Seed(db); err != nil {
		return err
	}

	metrics := promdumper.New(promdumper.Options{})
	opts := dumper.Options{Logger: logger, MaxBytes: cfg.cacheBytes, Explain: cfg.explain, Observers: []dumper.Observer{metrics.Observer()}}
	// Every page of the shop reads the database through the request's context: one that
	// recorded nothing would have nothing to invalidate it, and is not stored.
	opts.Policy.RequireDependencies = true
	var listener *pgnotify.Listener
	if cfg.pgDSN != "" {
		config, err := pgx.ParseConfig(cfg.pgDSN)
		if err != nil {
			return err
		}
		if listener, err = icecream.Listen(ctx, config, db, pgnotify.Options{Logger: logger}); err != nil {
			return err
		}
		// While the listener is down, changes made outside the application are missed:
		// serve from the database until it has reconnected and caught up.
		opts.Policy.Ignore = listener.Ignore
	}
	cacheDesc := "memory"
	var shared pgnotify.RecordStore // with Redis, where every instance's listener reads the others' commits
	if cfg.redisURL != "" {
		rs, err := redisstore.New(redisstore.Options{URL: cfg.redisURL, Strict: !cfg.redisLocal, Logger: logger})
		if err != nil {
			return err
		}
		defer rs.Close()
		opts.Store, shared = rs, rs
		cacheDesc = "redis (strict)"
		if cfg.redisLocal {
			cacheDesc = "redis + local tier"
		}
	}
	if cfg.varnishURL != "" {
		e, err := edge.New(edge.Options{Dialect: edge.Varnish, Purger: edge.VarnishPurger{URLs: []string{cfg.varnishURL}},
			Wait: 100 * time.Millisecond, Logger: logger})
		if err != nil {
			return err
		}
		defer e.Close()
		opts.Policy.Edge = e
		opts.Observers = append(opts.Observers, e.Observer())
	}
	cache, err := dumper.New(opts)
	if err != nil {
		return err
	}
	defer cache.Close()
	metrics.Watch(cache)
	if opts.Store == nil {
		logger.Info("memory store", "budget_bytes", cfg.cacheBytes, "memory_limit_bytes", setMemoryLimit(cfg.cacheBytes))
	}
	// With the listener, the plugin and the listener invalidate through one Commits, so that
	// a write through the API is invalidated once (by the plugin, after commit), not again
	// when its own notification arrives.
	var commits *pgnotify.Commits
	if listener != nil {
		if commits, err = pgnotify.NewCommits(cache, pgnotify.CommitsOptions{Shared: shared, Logger: logger}); err != nil {
			return err
		}
	}
	handler, err := icecream.CachedHandler(db, cache, commits, logger)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(metrics))
	if cfg.explain {
		mux.Handle("/_dumper/explain", cache.ExplainHandler())
	}
	if cfg.purgeToken != "" {
		mux.Handle(purgePath, purgeHandler(cache, cfg.purgeToken, logger))
	}
	mux.Handle("/", handler)
	handler = mux
	if listener != nil {
		listenCtx, stopListening := context.WithCancel(ctx)
		listened := make(chan error, 1)
		go func() { listened <- listener.Run(listenCtx, commits) }()
		defer func() {
			stopListening()
			if err := <-listened; err != nil {
				logger.Error("icecream: " + err.Error())
			}
		}()
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	base := "http://" + displayAddr(ln.Addr())
	logger.Info("ice-cream shop open", "url", base+"/", "db", where, "cache", cacheDesc)
	fmt.Fprint(stderr, hint(base, cfg.pgDSN))

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// displayAddr turns a listener address such as [::]:8080 into one curl can reach.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

// hint is the walk-through printed at start-up. The comment of each command says what it
// prints: the page's Cache-Status, or the status line (TestHint runs them). pgDSN, if not
// empty, adds a write made outside the application, with psql. The new name includes the
// time, so that the walk-through works again on a database that an earlier run renamed (a
// rename to the same name writes nothing).
func hint(base, pgDSN string) string {
	s := fmt.Sprintf(`
Try it (the comments say what each command prints):
  curl -si %[1]s/icecream/vanilla | grep Cache-Status              # fwd=uri-miss; stored (rendered and stored)
  curl -si %[1]s/icecream/vanilla | grep Cache-Status              # hit
  curl -si -X PATCH -d '{"name":"%[2]s"}' %[1]s/api/icecream/vanilla | head -1   # HTTP/1.1 200 OK
  curl -si %[1]s/icecream/vanilla | grep -E 'Cache-Status|<h1>'    # fwd=stale; stored (the new name)
`, base, "Vanilla "+time.Now().Format("15:04:05"))
	if pgDSN != "" {
		s += fmt.Sprintf(`  psql %[2]s -c "UPDATE ice_creams SET name = 'Vanilla' WHERE slug = 'vanilla'"   # UPDATE 1
  curl -si %[1]s/icecream/vanilla | grep -E 'Cache-Status|<h1>'    # fwd=stale; stored (NOTIFY refreshed it)
`, base, shellQuote(withoutPassword(pgDSN)))
	}
	return s + "\n"
}

// withoutPassword returns dsn, a URL (postgres://…) or key=value DSN, without its password:
// the hint is printed to a terminal and to logs, and psql asks for the password it needs.
func withoutPassword(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil || u.User == nil {
			return dsn
		}
		if _, ok := u.User.Password(); !ok {
			return dsn
		}
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return strings.TrimSpace(passwordParam.ReplaceAllString(dsn, "$1"))
}

// passwordParam matches the password of a key=value DSN, quoted or not.
var passwordParam = regexp.MustCompile(`(^|\s)password\s*=\s*(?:'(?:\\.|[^'\\])*'|\S*)\s*`)

// shellQuote quotes s for a POSIX shell, unless it needs no quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
