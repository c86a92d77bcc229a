package pgnotify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/pgnotify"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// shop is a table of flavors with a page per flavor, its triggers installed.
type shop struct {
	*pg
	tables []pgnotify.Table
	opts   pgnotify.Options
}

// flavorPath is the page of a flavor.
func flavorPath(slug string) string { return "/f/" + slug }

// newShop creates the flavors table (vanilla, chocolate) and the sentinel table in a schema
// of the test's, and installs the triggers on both.
func newShop(t testing.TB, opts pgnotify.Options) *shop {
	t.Helper()
	p := newPG(t)
	p.exec(`CREATE TABLE flavors (id bigserial PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL);
		CREATE TABLE sentinel (id bigserial PRIMARY KEY);
		INSERT INTO flavors (slug, name) VALUES ('vanilla', 'Vanilla'), ('chocolate', 'Chocolate')`)
	s := &shop{pg: p, opts: opts}
	s.opts.Channel = p.channel
	s.tables = []pgnotify.Table{
		{Name: "flavors", Columns: []string{"slug"}, Map: func(_ context.Context, c pgnotify.Change) (paths, tags []string, err error) {
			if c.Old != nil {
				paths = append(paths, flavorPath(c.Old["slug"]))
			}
			if c.New != nil {
				paths = append(paths, flavorPath(c.New["slug"]))
			}
			return append(paths, "/"), nil, nil
		}},
		{Name: "sentinel", Map: func(_ context.Context, c pgnotify.Change) ([]string, []string, error) {
			return nil, []string{"sentinel:" + c.Key[0]}, nil
		}},
	}
	p.install(s.opts, s.tables...)
	return s
}

// listener returns a listener for the shop's tables on config.
func (s *shop) listener(config *pgx.ConnConfig) *pgnotify.Listener {
	s.t.Helper()
	l, err := pgnotify.NewListener(config, s.opts, s.tables...)
	if err != nil {
		s.t.Fatal(err)
	}
	return l
}

// sentinel writes a sentinel row and waits until the listener has invalidated it: every
// change committed before has been invalidated by then.
func (s *shop) sentinel(r *recorder) {
	s.t.Helper()
	var id int64
	if err := s.admin.QueryRow(context.Background(), "INSERT INTO sentinel DEFAULT VALUES RETURNING id").Scan(&id); err != nil {
		s.t.Fatal(err)
	}
	r.waitFor(s.t, fmt.Sprintf("tag sentinel:%d", id))
}

// fromSentinel reports whether inv (a "path …" or "tag …" entry of a recorder) is one that a
// write to the sentinel table invalidates: its Map's tag or its automatic tags.
func fromSentinel(inv string) bool {
	return strings.HasPrefix(inv, "tag sentinel:") || strings.HasPrefix(inv, "tag row:sentinel:id=") || inv == "tag scan:sentinel"
}

// site serves the flavor pages from the shop's database behind a dumper cache whose Ignore
// is l's, the way an application uses a Listener.
type site struct {
	t     testing.TB
	srv   *httptest.Server
	cache *dumper.Cache
}

func (s *shop) site(l *pgnotify.Listener) *site {
	s.t.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), mustPoolConfig(s.t, s.config()))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(pool.Close)
	cache, err := dumper.New(dumper.Options{Policy: dumper.Policy{Ignore: l.Ignore}})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = cache.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /f/{slug}", func(w http.ResponseWriter, r *http.Request) {
		dumper.Tag(r.Context(), "table:flavors")
		var name string
		err := pool.QueryRow(r.Context(), "SELECT name FROM flavors WHERE slug = $1", r.PathValue("slug")).Scan(&name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		fmt.Fprint(w, name)
	})
	srv := httptest.NewServer(cache.Middleware(mux))
	s.t.Cleanup(srv.Close)
	return &site{t: s.t, srv: srv, cache: cache}
}

func mustPoolConfig(t testing.TB, cc *pgx.ConnConfig) *pgxpool.Config {
	t.Helper()
	pc, err := pgxpool.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnConfig = cc
	return pc
}

// get returns the body and Cache-Status of a page.
func (s *site) get(path string) (body, status string) {
	s.t.Helper()
	res, err := s.srv.Client().Get(s.srv.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b), res.Header.Get("Cache-Status")
}

// want fetches a page and checks its body and whether it was a hit.
func (s *site) want(path, body string, hit bool) {
	s.t.Helper()
	got, cs := s.get(path)
	if got != body {
		s.t.Errorf("GET %s = %q (Cache-Status %q), want %q", path, got, cs, body)
	}
	if isHit := strings.HasSuffix(cs, "; hit"); isHit != hit {
		s.t.Errorf("GET %s: Cache-Status %q, want hit=%v", path, cs, hit)
	}
}

// TestRawUpdate checks that an UPDATE from another connection, no ORM involved, invalidates
// the old and the new path of the row it changes, and that the page is fresh afterwards.
func TestRawUpdate(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	l := s.listener(s.config())
	site := s.site(l)
	rec := newRecorder(site.cache)
	run(t, l, rec)

	site.want("/f/vanilla", "Vanilla", false)
	site.want("/f/vanilla", "Vanilla", true)
	site.want("/f/chocolate", "Chocolate", false)

	writer := s.conn()
	if _, err := writer.Exec(context.Background(), "UPDATE flavors SET name = 'Vanilla Bean' WHERE slug = 'vanilla'"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "path /f/vanilla")
	site.want("/f/vanilla", "Vanilla Bean", false)
	site.want("/f/vanilla", "Vanilla Bean", true)
	site.want("/f/chocolate", "Chocolate", true) // untouched

	// A slug change invalidates both paths.
	if _, err := writer.Exec(context.Background(), "UPDATE flavors SET slug = 'bean' WHERE slug = 'vanilla'"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "path /f/bean")
	if got := rec.all(); !slices.Contains(got, "path /f/vanilla") {
		t.Errorf("invalidated %q, want the old path too", got)
	}
}

// TestChanges checks the changes the triggers report, row by row, for each operation.
func TestChanges(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	var mu sync.Mutex
	var got []pgnotify.Change
	s.tables[0].Map = func(_ context.Context, c pgnotify.Change) ([]string, []string, error) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
		return nil, nil, nil
	}
	l := s.listener(s.config())
	rec := newRecorder(nil)
	run(t, l, rec)

	var vanilla, chocolate string
	if err := s.admin.QueryRow(context.Background(), "SELECT (SELECT id FROM flavors WHERE slug = 'vanilla')::text, (SELECT id FROM flavors WHERE slug = 'chocolate')::text").Scan(&vanilla, &chocolate); err != nil {
		t.Fatal(err)
	}
	slug := func(v string) map[string]string { return map[string]string{"slug": v} }
	// The key columns, from the catalog: the primary key and the unique slug.
	kc := []string{"id", "slug"}
	keys := func(id, slug string) map[string]string { return map[string]string{"id": id, "slug": slug} }
	tests := []struct {
		name string
		sql  string
		want []pgnotify.Change
	}{
		{"insert", "INSERT INTO flavors (id, slug, name) VALUES (100, 'mint', 'Mint')",
			[]pgnotify.Change{{Op: pgnotify.Insert, Key: []string{"100"}, New: slug("mint"), KeyColumns: kc, NewKeys: keys("100", "mint")}}},
		{"update", "UPDATE flavors SET slug = 'mint-chip' WHERE id = 100",
			[]pgnotify.Change{{Op: pgnotify.Update, Key: []string{"100"}, Old: slug("mint"), New: slug("mint-chip"),
				KeyColumns: kc, OldKeys: keys("100", "mint"), NewKeys: keys("100", "mint-chip")}}},
		{"update of another column", "UPDATE flavors SET name = 'Mint Chip' WHERE id = 100",
			[]pgnotify.Change{{Op: pgnotify.Update, Key: []string{"100"}, Old: slug("mint-chip"), New: slug("mint-chip"),
				KeyColumns: kc, OldKeys: keys("100", "mint-chip"), NewKeys: keys("100", "mint-chip")}}},
		{"update of the key", "UPDATE flavors SET id = 101 WHERE id = 100",
			[]pgnotify.Change{
				{Op: pgnotify.Update, Key: []string{"100"}, Old: slug("mint-chip"), KeyColumns: kc, OldKeys: keys("100", "mint-chip")},
				{Op: pgnotify.Update, Key: []string{"101"}, New: slug("mint-chip"), KeyColumns: kc, NewKeys: keys("101", "mint-chip")},
			}},
		{"update of no row", "UPDATE flavors SET name = 'x' WHERE false", nil},
		{"update of two rows", "UPDATE flavors SET name = upper(name) WHERE slug IN ('vanilla', 'chocolate')",
			[]pgnotify.Change{
				{Op: pgnotify.Update, Key: []string{vanilla}, Old: slug("vanilla"), New: slug("vanilla"),
					KeyColumns: kc, OldKeys: keys(vanilla, "vanilla"), NewKeys: keys(vanilla, "vanilla")},
				{Op: pgnotify.Update, Key: []string{chocolate}, Old: slug("chocolate"), New: slug("chocolate"),
					KeyColumns: kc, OldKeys: keys(chocolate, "chocolate"), NewKeys: keys(chocolate, "chocolate")},
			}},
		{"delete", "DELETE FROM flavors WHERE id = 101",
			[]pgnotify.Change{{Op: pgnotify.Delete, Key: []string{"101"}, Old: slug("mint-chip"), KeyColumns: kc, OldKeys: keys("101", "mint-chip")}}},
		{"truncate", "TRUNCATE flavors", nil}, // table-level: Map is not called
	}
	for _, tt := range tests {
		mu.Lock()
		got = nil
		mu.Unlock()
		s.exec(tt.sql)
		s.sentinel(rec)
		mu.Lock()
		g := got
		mu.Unlock()
		for i := range g {
			if g[i].Schema != s.schema || g[i].Table != "flavors" {
				t.Errorf("%s: change in %s.%s, want %s.flavors", tt.name, g[i].Schema, g[i].Table, s.schema)
			}
			g[i].Schema, g[i].Table = "", ""
		}
		slices.SortFunc(g, func(a, b pgnotify.Change) int {
			return strings.Compare(strings.Join(a.Key, ","), strings.Join(b.Key, ","))
		})
		slices.SortFunc(tt.want, func(a, b pgnotify.Change) int {
			return strings.Compare(strings.Join(a.Key, ","), strings.Join(b.Key, ","))
		})
		if fmt.Sprint(g) != fmt.Sprint(tt.want) {
			t.Errorf("%s: changes\n%+v\nwant\n%+v", tt.name, g, tt.want)
		}
	}
	if got := rec.all(); !slices.Contains(got, "tag table:flavors") {
		t.Errorf("after TRUNCATE, invalidated %q, want the table's tag", got)
	}
}

// TestBulkUpdate checks that statements over 10,000 rows send one table-level notification
// each, which invalidates the table's tag once and nothing row by row.
func TestBulkUpdate(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	raw := s.listen()
	s.exec("INSERT INTO flavors (slug, name) SELECT 'f' || i, 'F' || i FROM generate_series(1, 10000) AS i")
	s.exec("UPDATE flavors SET name = name || '!'")
	s.exec("DELETE FROM flavors WHERE slug LIKE 'f%'")
	got := raw.drainUntilSentinel(s.pg)
	if len(got) != 3 {
		t.Fatalf("%d notifications for three bulk statements, want 3: %v", len(got), got)
	}
	for i, op := range []string{"I", "U", "D"} {
		if got[i]["op"] != op || got[i]["all"] != true || got[i]["t"] != "flavors" {
			t.Errorf("notification %d: %v, want a table-level %s of flavors", i, got[i], op)
		}
	}

	// Through a Listener: the table's tag, no path.
	l := s.listener(s.config())
	rec := newRecorder(nil)
	run(t, l, rec)
	rec.reset()
	s.exec("INSERT INTO flavors (slug, name) SELECT 'f' || i, 'F' || i FROM generate_series(1, 10000) AS i")
	s.exec("UPDATE flavors SET name = name || '!'")
	s.sentinel(rec)
	all := rec.all()
	if slices.ContainsFunc(all, func(s string) bool { return strings.HasPrefix(s, "path ") }) {
		t.Errorf("bulk statements invalidated paths: %q", all)
	}
	if n := strings.Count(strings.Join(all, "\n"), "tag table:flavors"); n < 1 || n > 2 {
		t.Errorf("bulk statements invalidated the table's tag %d times, want once or twice (batched): %q", n, all)
	}
}

// TestMaxRows checks the threshold: up to MaxRows rows are notified one by one, one more
// makes it a single table-level notification.
func TestMaxRows(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{MaxRows: 2})
	raw := s.listen()
	s.exec("INSERT INTO flavors (slug, name) VALUES ('a', 'A'), ('b', 'B')")
	if got := raw.drainUntilSentinel(s.pg); len(got) != 2 || got[0]["all"] != nil || got[1]["all"] != nil {
		t.Errorf("2 rows with MaxRows 2: %v, want two row-level notifications", got)
	}
	s.exec("UPDATE flavors SET name = lower(name) WHERE slug IN ('a', 'b', 'vanilla')")
	if got := raw.drainUntilSentinel(s.pg); len(got) != 1 || got[0]["all"] != true {
		t.Errorf("3 rows with MaxRows 2: %v, want one table-level notification", got)
	}

	// Negative: table-level only.
	s.opts.MaxRows = -1
	s.install(s.opts, s.tables...)
	s.exec("DELETE FROM flavors WHERE slug = 'a'")
	if got := raw.drainUntilSentinel(s.pg); len(got) != 1 || got[0]["all"] != true || got[0]["op"] != "D" {
		t.Errorf("1 row with MaxRows -1: %v, want one table-level DELETE", got)
	}
}

// TestRollback checks that a transaction that rolls back notifies nothing, and that one
// that commits notifies after its commit only.
func TestRollback(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	raw := s.listen()
	l := s.listener(s.config())
	rec := newRecorder(nil)
	run(t, l, rec)
	rec.reset()

	ctx := context.Background()
	writer := s.conn()
	tx, err := writer.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE flavors SET slug = 'gone' WHERE slug = 'vanilla'"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO flavors (slug, name) SELECT 'f' || i, 'F' || i FROM generate_series(1, 1000) AS i"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := raw.drainUntilSentinel(s.pg); len(got) != 0 {
		t.Errorf("a rolled-back transaction notified %v", got)
	}
	s.sentinel(rec)
	for _, inv := range rec.all() {
		if !fromSentinel(inv) {
			t.Errorf("a rolled-back transaction invalidated %q", inv)
		}
	}
}

// TestPayloadOverLimit checks that a row whose notification would exceed PostgreSQL's 8000
// bytes is written all the same, and reported as a table-level change.
func TestPayloadOverLimit(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	raw := s.listen()
	long := strings.Repeat("é", 4500) // 9000 bytes
	ctx := context.Background()
	writer := s.conn()
	if _, err := writer.Exec(ctx, "UPDATE flavors SET slug = $1 WHERE slug = 'vanilla'", long); err != nil {
		t.Fatalf("the write failed: %v", err)
	}
	// Old and new values together over the limit, each under it.
	half := strings.Repeat("x", 4100)
	if _, err := writer.Exec(ctx, "UPDATE flavors SET slug = $1 WHERE slug = 'chocolate'", half); err != nil {
		t.Fatalf("the write failed: %v", err)
	}
	if _, err := writer.Exec(ctx, "UPDATE flavors SET slug = $1 WHERE slug = $2", half+"y", half); err != nil {
		t.Fatalf("the write failed: %v", err)
	}
	// Just under the limit: still row-level.
	if _, err := writer.Exec(ctx, "INSERT INTO flavors (slug, name) VALUES ($1, 'Long')", strings.Repeat("z", 7850)); err != nil {
		t.Fatalf("the write failed: %v", err)
	}
	got := raw.drainUntilSentinel(s.pg)
	if len(got) != 4 {
		t.Fatalf("got %d notifications, want 4: %v", len(got), got)
	}
	for i, wantAll := range []bool{true, false, true, false} {
		if isAll := got[i]["all"] == true; isAll != wantAll {
			t.Errorf("notification %d: table-level %v, want %v", i, isAll, wantAll)
		}
	}
}

// TestReconnect kills the listener's connection, writes while it cannot reconnect, and
// checks that the cache is bypassed meanwhile and that the pages are fresh once it is back.
func TestReconnect(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	var sw switchDialer
	cfg := s.config()
	cfg.DialFunc = sw.dial
	cfg.RuntimeParams["application_name"] = s.channel
	l := s.listener(cfg)
	site := s.site(l)
	rec := newRecorder(site.cache)
	run(t, l, rec)

	site.want("/f/vanilla", "Vanilla", false)
	site.want("/f/vanilla", "Vanilla", true)
	site.want("/f/chocolate", "Chocolate", false)
	site.want("/f/chocolate", "Chocolate", true)

	sw.off.Store(true)
	var killed bool
	if err := s.admin.QueryRow(context.Background(),
		"SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", s.channel).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend: %v, %v", killed, err)
	}
	wait.For(t, 10*time.Second, "Live() false", func() bool { return !l.Live() })
	rec.reset()

	// Writes during the outage: their notifications are lost.
	s.exec("UPDATE flavors SET name = 'Vanilla Bean' WHERE slug = 'vanilla'")
	s.exec("UPDATE flavors SET name = 'Dark Chocolate' WHERE slug = 'chocolate'")
	if l.Live() {
		t.Fatal("Live() while the database is unreachable")
	}
	// The cache is bypassed: the pages come from the database, and are not stored.
	for range 2 {
		body, cs := site.get("/f/vanilla")
		if body != "Vanilla Bean" || !strings.Contains(cs, "bypass") {
			t.Errorf("GET /f/vanilla during the outage = %q (Cache-Status %q), want the new name, bypassed", body, cs)
		}
	}

	sw.off.Store(false)
	wait.For(t, 10*time.Second, "Live() again", l.Live)
	if got := rec.all(); !slices.Contains(got, "tag table:flavors") {
		t.Errorf("after reconnecting, invalidated %q, want every table's tag", got)
	}
	site.want("/f/vanilla", "Vanilla Bean", false)
	site.want("/f/chocolate", "Dark Chocolate", false)
	site.want("/f/chocolate", "Dark Chocolate", true)

	// And it hears changes again.
	s.exec("UPDATE flavors SET name = 'Milk Chocolate' WHERE slug = 'chocolate'")
	rec.waitFor(t, "path /f/chocolate")
	site.want("/f/chocolate", "Milk Chocolate", false)
}

// TestInvalidationFailure checks that a failed invalidation takes the listener down (the
// cache is bypassed) until it can catch up.
func TestInvalidationFailure(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	l := s.listener(s.config())
	rec := newRecorder(nil)
	run(t, l, rec)

	rec.fail.Store(true)
	s.exec("UPDATE flavors SET name = 'X' WHERE slug = 'vanilla'")
	wait.For(t, 10*time.Second, "Live() false", func() bool { return !l.Live() })
	rec.reset()
	rec.fail.Store(false)
	wait.For(t, 10*time.Second, "Live() again", l.Live)
	if got := rec.all(); !slices.Contains(got, "tag table:flavors") {
		t.Errorf("after recovering, invalidated %q, want every table's tag", got)
	}
}

// TestMapFallback checks that a Map that fails, panics or returns an invalid path gets its
// table's tag invalidated instead.
func TestMapFallback(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		fn   func(context.Context, pgnotify.Change) ([]string, []string, error)
	}{
		{"error", func(context.Context, pgnotify.Change) ([]string, []string, error) { return nil, nil, errors.New("no") }},
		{"panic", func(context.Context, pgnotify.Change) ([]string, []string, error) { panic("no") }},
		{"invalid path", func(context.Context, pgnotify.Change) ([]string, []string, error) {
			return []string{"no-slash"}, nil, nil
		}},
		{"empty tag", func(context.Context, pgnotify.Change) ([]string, []string, error) { return nil, []string{""}, nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newShop(t, pgnotify.Options{})
			s.tables[0].Map = tt.fn
			l := s.listener(s.config())
			rec := newRecorder(nil)
			run(t, l, rec)
			rec.reset()
			s.exec("UPDATE flavors SET name = 'X' WHERE slug = 'vanilla'")
			rec.waitFor(t, "tag table:flavors")
			if !l.Live() {
				t.Error("a failing Map took the listener down")
			}
		})
	}
}

// TestRun checks Run's misuse errors and that it returns when its context is done, even
// while it cannot connect.
func TestRun(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	l := s.listener(s.config())
	if err := l.Run(context.Background(), nil); err == nil {
		t.Error("Run with a nil Invalidator: no error")
	}
	run(t, l, newRecorder(nil))
	if err := l.Run(context.Background(), newRecorder(nil)); err == nil {
		t.Error("second concurrent Run: no error")
	}

	var sw switchDialer
	sw.off.Store(true)
	cfg := s.config()
	cfg.DialFunc = sw.dial
	down := s.listener(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := down.Run(ctx, newRecorder(nil)); err != nil || down.Live() {
		t.Errorf("Run on an unreachable database = %v, Live %v; want nil, false", err, down.Live())
	}
}

// TestInstall checks that installing is idempotent and that names are quoted: a table and
// columns whose names hold quotes and SQL work as any other.
func TestInstall(t *testing.T) {
	t.Parallel()
	p := newPG(t)
	p.exec(fmt.Sprintf(`CREATE TABLE %[1]s (%[1]s int PRIMARY KEY, "Slug" text); CREATE TABLE sentinel (id bigserial PRIMARY KEY)`,
		pgx.Identifier{quoted}.Sanitize()))
	tables := []pgnotify.Table{
		{Schema: p.schema, Name: quoted, Key: []string{quoted}, Columns: []string{"Slug"}},
		{Name: "sentinel"},
	}
	opts := pgnotify.Options{Channel: p.channel}
	for range 2 {
		p.install(opts, tables...)
	}
	var n int
	if err := p.admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass", pgx.Identifier{p.schema, quoted}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d triggers after installing twice, want 4", n)
	}
	raw := p.listen()
	p.exec(fmt.Sprintf(`INSERT INTO %s VALUES (1, 'it''s')`, pgx.Identifier{quoted}.Sanitize()))
	got := raw.drainUntilSentinel(p)
	if len(got) != 1 || got[0]["t"] != quoted || fmt.Sprint(got[0]["k"]) != "[1]" || fmt.Sprint(got[0]["n"]) != "map[Slug:it's]" {
		t.Errorf("got %v, want one INSERT into %q, key 1, slug it's", got, quoted)
	}

	// A missing column is an error at install time, and installs nothing.
	err := pgnotify.Install(context.Background(), p.admin, opts, pgnotify.Table{Name: "sentinel", Columns: []string{"nope"}})
	if err == nil {
		t.Error("Install with a missing column: no error")
	}

	// DropSQL removes the triggers.
	drop, err := pgnotify.DropSQL(opts, tables[0])
	if err != nil {
		t.Fatal(err)
	}
	p.exec(drop)
	if err := p.admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass", pgx.Identifier{p.schema, quoted}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d triggers after DropSQL, want 0", n)
	}
}
