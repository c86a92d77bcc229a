package pgnotify_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/pgnotify"
	"github.com/jackc/pgx/v5"
)

// writer plays the part of an ORM plugin for Commits, on a real transaction: it names the
// transaction with TxQuery before writing, runs the statements, registers it before COMMIT
// and reports after it, as gormdumper does.
type writer struct {
	t       *testing.T
	conn    *pgx.Conn
	commits *pgnotify.Commits
}

// write runs statements in one transaction and commits it. report, if not nil, is called
// after COMMIT with the transaction's id, to invalidate and report as the plugin would.
func (w *writer) write(report func(id string), statements ...string) {
	w.t.Helper()
	ctx := context.Background()
	tx, err := w.conn.Begin(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var id string
	if err := tx.QueryRow(ctx, w.commits.TxQuery()).Scan(&id); err != nil {
		w.t.Fatal(err)
	}
	for _, s := range statements {
		if _, err := tx.Exec(ctx, s); err != nil {
			w.t.Fatalf("%s: %v", s, err)
		}
	}
	w.commits.Committing(id)
	if err := tx.Commit(ctx); err != nil {
		w.t.Fatal(err)
	}
	if report != nil {
		report(id)
	}
}

// invalidated reports what the plugin invalidated after commit: it invalidates paths and
// tags through commits, and reports the result.
func (w *writer) invalidated(paths, tags []string) func(id string) {
	return func(id string) {
		ctx := context.Background()
		err := errors.Join(w.commits.InvalidatePaths(ctx, paths...), w.commits.InvalidateTags(ctx, tags...))
		w.commits.Committed(ctx, id, paths, tags, err)
	}
}

// vanillaTags are the tags gormdumper stamps for an UPDATE of vanilla (id 1) that keeps its
// key columns: dumper.ChangeTags of id and slug, here in another order and with repetitions,
// as a plugin may report them.
var vanillaTags = func() []string {
	row := map[string]string{"id": "1", "slug": "vanilla"}
	tags := dumper.ChangeTags("flavors", []string{"slug", "id"}, row, row)
	slices.Reverse(tags)
	return append(tags, tags[0])
}()

// count returns how many times the recorder has invalidated entry ("path …" or "tag …").
func count(r *recorder, entry string) int { return countIn(r.all(), entry) }

func countIn(entries []string, entry string) int {
	n := 0
	for _, e := range entries {
		if e == entry {
			n++
		}
	}
	return n
}

// commitsShop is a shop whose listener runs with a Commits in front of a recorder.
func commitsShop(t *testing.T, opts pgnotify.CommitsOptions) (*shop, *pgnotify.Listener, *recorder, *writer) {
	t.Helper()
	s := newShop(t, pgnotify.Options{})
	l := s.listener(s.config())
	rec := newRecorder(nil)
	commits, err := pgnotify.NewCommits(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	run(t, l, commits)
	rec.reset()
	return s, l, rec, &writer{t: t, conn: s.conn(), commits: commits}
}

// TestCommitsLeaveOut checks which changes of a transaction the Listener leaves out when the
// writer reports, after COMMIT, what it invalidated: exactly the paths and tags that were
// invalidated, and nothing of a transaction whose report failed or that no writer reported.
func TestCommitsLeaveOut(t *testing.T) {
	t.Parallel()
	const vanilla = "UPDATE flavors SET name = name || '!' WHERE slug = 'vanilla'"
	const chocolate = "UPDATE flavors SET name = name || '!' WHERE slug = 'chocolate'"
	tests := []struct {
		name       string
		statements []string
		// report, given the writer, says what the plugin does after COMMIT.
		report func(w *writer) func(id string)
		// want: how many times each path was invalidated, by the writer and the listener.
		want      map[string]int
		wantDedup uint64
	}{
		{"everything covered", []string{vanilla},
			func(w *writer) func(string) { return w.invalidated([]string{"/f/vanilla", "/"}, vanillaTags) },
			map[string]int{"/f/vanilla": 1, "/": 1}, 1},
		{"paths covered, not the row's tags", []string{vanilla},
			func(w *writer) func(string) { return w.invalidated([]string{"/f/vanilla", "/"}, nil) },
			map[string]int{"/f/vanilla": 1, "/": 1}, 0},
		{"tags of other key columns", []string{vanilla},
			func(w *writer) func(string) {
				row := map[string]string{"id": "1"}
				return w.invalidated([]string{"/f/vanilla", "/"}, dumper.ChangeTags("flavors", []string{"id"}, row, row))
			},
			map[string]int{"/f/vanilla": 1, "/": 1}, 0},
		{"covered through the table's tag and a path in another spelling", []string{vanilla},
			func(w *writer) func(string) {
				return w.invalidated([]string{"/f/%76anilla", "/"}, []string{"table:flavors"})
			},
			map[string]int{"/f/vanilla": 0, "/f/%76anilla": 1, "/": 1}, 1},
		{"partly covered", []string{vanilla},
			func(w *writer) func(string) { return w.invalidated([]string{"/f/vanilla"}, vanillaTags) },
			map[string]int{"/f/vanilla": 1, "/": 1}, 0},
		{"raw SQL in the same transaction", []string{vanilla, chocolate},
			func(w *writer) func(string) { return w.invalidated([]string{"/f/vanilla", "/"}, vanillaTags) },
			map[string]int{"/f/vanilla": 1, "/": 1, "/f/chocolate": 1}, 1},
		{"invalidation after commit failed", []string{vanilla},
			func(w *writer) func(string) {
				return func(id string) {
					w.commits.Committed(context.Background(), id, []string{"/f/vanilla", "/"}, nil, errors.New("store down"))
				}
			},
			map[string]int{"/f/vanilla": 1, "/": 1}, 0},
		{"a path the cache refuses", []string{vanilla},
			func(w *writer) func(string) { return w.invalidated([]string{"/f/vanilla", "/", "no-slash"}, nil) },
			map[string]int{"/f/vanilla": 2, "/": 2}, 0},
	}
	s, l, rec, w := commitsShop(t, pgnotify.CommitsOptions{Wait: 10 * time.Second})
	for _, tt := range tests {
		before := l.Stats()
		rec.reset()
		w.write(tt.report(w), tt.statements...)
		s.sentinel(rec)
		got := rec.all()
		for path, n := range tt.want {
			if k := countIn(got, "path "+path); k != n {
				t.Errorf("%s: %s invalidated %d times, want %d (invalidated: %q)", tt.name, path, k, n, got)
			}
		}
		st := l.Stats()
		if d := st.Deduplicated - before.Deduplicated; d != tt.wantDedup {
			t.Errorf("%s: %d changes deduplicated, want %d", tt.name, d, tt.wantDedup)
		}
		if st.Late != before.Late {
			t.Errorf("%s: %d transactions late, want none", tt.name, st.Late-before.Late)
		}
	}
}

// TestCommitsNotifiedFirst: the notification reaches the listener before the writer has
// reported (the report is made only once a plain LISTEN connection has received it); the
// listener waits for the report and leaves the change out.
func TestCommitsNotifiedFirst(t *testing.T) {
	t.Parallel()
	s, l, rec, w := commitsShop(t, pgnotify.CommitsOptions{Wait: 10 * time.Second})
	raw := s.listen()
	for range 3 {
		w.write(func(id string) {
			if m := raw.next(); m["t"] != "flavors" {
				t.Fatalf("notification %v, want the write's", m)
			}
			w.invalidated([]string{"/f/vanilla", "/"}, vanillaTags)(id)
		}, "UPDATE flavors SET name = name || '!' WHERE slug = 'vanilla'")
	}
	s.sentinel(rec)
	if n := count(rec, "path /f/vanilla"); n != 3 {
		t.Errorf("/f/vanilla invalidated %d times, want 3 (by the writer only): %q", n, rec.all())
	}
	if st := l.Stats(); st.Deduplicated != 3 || st.Late != 0 {
		t.Errorf("stats %+v, want 3 changes deduplicated and none late", st)
	}
}

// TestCommitsWriterGone: a writer that registered its transaction and committed, but never
// reports (it died, or its invalidation hangs), holds its notification for Wait only; the
// listener then invalidates it in full.
func TestCommitsWriterGone(t *testing.T) {
	t.Parallel()
	const wait = 50 * time.Millisecond
	s, l, rec, w := commitsShop(t, pgnotify.CommitsOptions{Wait: wait})
	start := time.Now()
	w.write(nil, "UPDATE flavors SET name = name || '!' WHERE slug = 'vanilla'")
	rec.waitFor(t, "path /f/vanilla")
	if d := time.Since(start); d < wait {
		t.Errorf("invalidated %v after the write, before Wait (%v) had passed", d, wait)
	}
	s.sentinel(rec)
	if st := l.Stats(); st.Late != 1 || st.Deduplicated != 0 {
		t.Errorf("stats %+v, want 1 transaction late, none deduplicated", st)
	}
}

// TestCommitsOutsideWrites: writes that no writer registered — raw SQL on another
// connection, with or without naming the transaction — are invalidated in full at once.
func TestCommitsOutsideWrites(t *testing.T) {
	t.Parallel()
	s, l, rec, w := commitsShop(t, pgnotify.CommitsOptions{Wait: time.Hour})
	s.exec("UPDATE flavors SET name = 'Vanilla Bean' WHERE slug = 'vanilla'")
	rec.waitFor(t, "path /f/vanilla")
	// Named, but neither registered nor reported: not ours.
	ctx := context.Background()
	tx, err := w.conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, w.commits.TxQuery()); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE flavors SET name = 'Chocolate Chip' WHERE slug = 'chocolate'"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "path /f/chocolate")
	s.sentinel(rec)
	if st := l.Stats(); st.Late != 0 || st.Deduplicated != 0 {
		t.Errorf("stats %+v, want nothing late or deduplicated", st)
	}
}

// unreachable is a RecordStore whose every call fails, as Redis down would.
type unreachable struct{}

func (unreachable) PutRecord(context.Context, string, []byte, time.Duration) error {
	return errors.New("unreachable on purpose")
}

func (unreachable) Records(context.Context, ...string) ([][]byte, error) {
	return nil, errors.New("unreachable on purpose")
}

// TestCommitsMark checks that a transaction named by a Commits with Shared carries the mark
// in its notifications (and the transaction's id always), and that another instance's
// listener, which cannot read the records, invalidates the change in full at once.
func TestCommitsMark(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	raw := s.listen()
	l := s.listener(s.config())
	rec := newRecorder(nil)
	other, err := pgnotify.NewCommits(rec, pgnotify.CommitsOptions{Shared: unreachable{}, Wait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	run(t, l, other)
	ours, err := pgnotify.NewCommits(newRecorder(nil), pgnotify.CommitsOptions{Shared: unreachable{}})
	if err != nil {
		t.Fatal(err)
	}
	w := &writer{t: t, conn: s.conn(), commits: ours}
	var id string
	w.write(func(got string) { id = got }, "UPDATE flavors SET name = name || '!' WHERE slug = 'vanilla'")
	m := raw.next()
	if m["r"] != true {
		t.Errorf("notification %v: no mark", m)
	}
	if x, ok := m["x"].(float64); !ok || !strings.HasSuffix(id, fmt.Sprintf(":%d", int64(x))) {
		t.Errorf("notification %v: transaction id does not match %q", m, id)
	}
	rec.waitFor(t, "path /f/vanilla")
	ours.Committed(context.Background(), id, []string{"/f/vanilla", "/"}, nil, nil) // fails to share: logged
	// Unmarked, from a Commits without Shared: no mark.
	local, err := pgnotify.NewCommits(newRecorder(nil), pgnotify.CommitsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.commits = local
	w.write(nil, "UPDATE flavors SET name = name || '!' WHERE slug = 'chocolate'")
	if m := raw.next(); m["r"] != nil || m["x"] == nil {
		t.Errorf("notification %v: want a transaction id and no mark", m)
	}
}

// TestCommitsOptions checks what NewCommits refuses.
func TestCommitsOptions(t *testing.T) {
	t.Parallel()
	if _, err := pgnotify.NewCommits(nil, pgnotify.CommitsOptions{}); err == nil {
		t.Error("NewCommits(nil): no error")
	}
	if _, err := pgnotify.NewCommits(newRecorder(nil), pgnotify.CommitsOptions{Wait: -1}); err == nil {
		t.Error("NewCommits with a negative Wait: no error")
	}
}
