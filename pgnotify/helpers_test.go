package pgnotify_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/pgnotify"
	"github.com/jackc/pgx/v5"
)

// dsn is the PostgreSQL server the tests use.
func dsn() string {
	if d := os.Getenv("DUMPER_POSTGRES_DSN"); d != "" {
		return d
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// pg is a schema of its own on the test server, dropped when the test ends.
type pg struct {
	t       testing.TB
	schema  string
	channel string
	admin   *pgx.Conn // search_path = schema
}

// newPG creates a schema for the test. It skips the test when PostgreSQL cannot be reached,
// unless CI=true.
func newPG(t testing.TB) *pg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at DUMPER_POSTGRES_DSN is unreachable (CI=true): %v", err)
		}
		t.Skipf("skipping: PostgreSQL unreachable (set DUMPER_POSTGRES_DSN): %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	p := &pg{t: t, schema: "pgnotify_test_" + suffix, channel: "pgnotify_test_" + suffix, admin: admin}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+p.schema+"; SET search_path = "+p.schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+p.schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", p.schema, err)
		}
		_ = admin.Close(ctx)
	})
	return p
}

// config returns a connection config whose search_path is the test's schema.
func (p *pg) config() *pgx.ConnConfig {
	p.t.Helper()
	cfg, err := pgx.ParseConfig(dsn())
	if err != nil {
		p.t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = p.schema
	return cfg
}

// conn opens another connection to the test's schema, closed when the test ends.
func (p *pg) conn() *pgx.Conn {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, p.config())
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// exec runs sql on the admin connection.
func (p *pg) exec(sql string, args ...any) {
	p.t.Helper()
	if _, err := p.admin.Exec(context.Background(), sql, args...); err != nil {
		p.t.Fatalf("%s: %v", sql, err)
	}
}

// install installs the triggers on tables with opts.
func (p *pg) install(opts pgnotify.Options, tables ...pgnotify.Table) {
	p.t.Helper()
	if err := pgnotify.Install(context.Background(), p.admin, opts, tables...); err != nil {
		p.t.Fatal(err)
	}
}

// recorder is an Invalidator that remembers every call.
type recorder struct {
	next  pgnotify.Invalidator // if not nil, calls are passed on
	mu    sync.Mutex
	calls []call
	fail  atomic.Bool // make calls fail
}

type call struct {
	paths bool // InvalidatePaths, or InvalidateTags
	args  []string
	at    time.Time
}

func newRecorder(next pgnotify.Invalidator) *recorder {
	return &recorder{next: next}
}

func (r *recorder) record(ctx context.Context, paths bool, args []string) error {
	if r.fail.Load() {
		return errors.New("recorder: failing on purpose")
	}
	if r.next != nil {
		var err error
		if paths {
			err = r.next.InvalidatePaths(ctx, args...)
		} else {
			err = r.next.InvalidateTags(ctx, args...)
		}
		if err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{paths: paths, args: slices.Clone(args), at: time.Now()})
	return nil
}

func (r *recorder) InvalidatePaths(ctx context.Context, paths ...string) error {
	return r.record(ctx, true, paths)
}

func (r *recorder) InvalidateTags(ctx context.Context, tags ...string) error {
	return r.record(ctx, false, tags)
}

// all returns every path and tag invalidated so far, paths prefixed with "path ", tags with
// "tag ", in order.
func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		for _, a := range c.args {
			if c.paths {
				out = append(out, "path "+a)
			} else {
				out = append(out, "tag "+a)
			}
		}
	}
	return out
}

// reset forgets the calls so far.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// waitFor waits until r has recorded want (a "path …" or "tag …" entry), or fails the test
// after a deadline.
func (r *recorder) waitFor(t testing.TB, want string) {
	t.Helper()
	if !wait.Until(10*time.Second, func() bool { return slices.Contains(r.all(), want) }) {
		t.Fatalf("gave up waiting for %q; invalidated: %q", want, r.all())
	}
}

// run starts l with inv until the test ends, and waits until it is live.
func run(t testing.TB, l *pgnotify.Listener, inv pgnotify.Invalidator) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, inv) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after its context was cancelled")
		}
		if l.Live() {
			t.Errorf("Live() after Run returned")
		}
	})
	wait.For(t, 10*time.Second, "the listener live", l.Live)
}

// switchDialer dials normally until it is switched off, then refuses: a database that is
// unreachable for as long as a test wants.
type switchDialer struct {
	off atomic.Bool
	d   net.Dialer
}

func (s *switchDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.off.Load() {
		return nil, errors.New("switchDialer: unreachable on purpose")
	}
	return s.d.DialContext(ctx, network, addr)
}

// quoted is a name that needs quoting, and would inject SQL if it were not quoted.
const quoted = `Odd "name"; DROP TABLE x; --'\`

// rawListener is a plain LISTEN connection on the test's channel, to see the notifications
// themselves.
type rawListener struct {
	t       testing.TB
	conn    *pgx.Conn
	channel string
}

func (p *pg) listen() *rawListener {
	p.t.Helper()
	c := p.conn()
	if _, err := c.Exec(context.Background(), "LISTEN "+p.channel); err != nil {
		p.t.Fatal(err)
	}
	return &rawListener{t: p.t, conn: c, channel: p.channel}
}

// next returns the next notification's payload, decoded as JSON.
func (r *rawListener) next() map[string]any {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := r.conn.WaitForNotification(ctx)
	if err != nil {
		r.t.Fatalf("no notification: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(n.Payload), &m); err != nil {
		r.t.Fatalf("payload %q: %v", n.Payload, err)
	}
	return m
}

// sentinel writes to the sentinel table, created by newPG's caller with the triggers, and
// returns when its notification arrives at r: every notification committed before has been
// seen by then (NOTIFY is delivered in commit order), so the count of those is final.
func (r *rawListener) drainUntilSentinel(p *pg) []map[string]any {
	r.t.Helper()
	p.exec("INSERT INTO sentinel DEFAULT VALUES")
	var got []map[string]any
	for {
		m := r.next()
		if m["t"] == "sentinel" {
			return got
		}
		got = append(got, m)
	}
}

// count returns how many notifications have arrived by now: it sends one of its own and
// counts those before it (NOTIFY is delivered in commit order).
func (r *rawListener) count(t testing.TB) int {
	t.Helper()
	ctx := context.Background()
	if _, err := r.conn.Exec(ctx, "SELECT pg_notify($1, 'end')", r.channel); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := r.conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		if m.Payload == "end" {
			return n
		}
		n++
	}
}
