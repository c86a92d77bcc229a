package pgnotify_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper/pgnotify"
)

// TestNullKey checks that a change whose key holds a NULL (a nullable unique column used as
// Key) is notified as a table-level change, never dropped, and that rows with NULL keys are
// not paired with each other.
func TestNullKey(t *testing.T) {
	t.Parallel()
	p := newPG(t)
	p.exec(`CREATE TABLE codes (id bigserial PRIMARY KEY, code text UNIQUE, slug text);
		CREATE TABLE sentinel (id bigserial PRIMARY KEY)`)
	tables := []pgnotify.Table{{Name: "codes", Key: []string{"code"}, Columns: []string{"slug"}}, {Name: "sentinel"}}
	p.install(pgnotify.Options{Channel: p.channel}, tables...)
	raw := p.listen()
	for _, tt := range []struct {
		name, sql string
		want      []string // "all OP" or "row OP"
	}{
		{"insert of a NULL key", "INSERT INTO codes (code, slug) VALUES (NULL, 'a')", []string{"all I"}},
		{"insert of a key", "INSERT INTO codes (code, slug) VALUES ('b', 'b')", []string{"row I"}},
		{"insert of a second NULL key", "INSERT INTO codes (code, slug) VALUES (NULL, 'c')", []string{"all I"}},
		{"update of two NULL keys", "UPDATE codes SET slug = slug || '!' WHERE code IS NULL", []string{"all U"}},
		{"update of a key to NULL", "UPDATE codes SET code = NULL WHERE code = 'b'", []string{"all U"}},
		{"delete of NULL keys", "DELETE FROM codes WHERE code IS NULL", []string{"all D"}},
	} {
		p.exec(tt.sql)
		var got []string
		for _, m := range raw.drainUntilSentinel(p) {
			kind := "row"
			if m["all"] == true {
				kind = "all"
			}
			got = append(got, fmt.Sprint(kind, " ", m["op"]))
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: notifications %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestMalformedNotification checks that a payload the Listener cannot decode but that names
// one of its tables invalidates that table's tag, and that any other is ignored.
func TestMalformedNotification(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	l := s.listener(s.config())
	rec := newRecorder(nil)
	run(t, l, rec)
	rec.reset()
	for _, payload := range []string{
		`{"s":"x","t":"nope","op":"I","k":[null]}`,
		`hello`,
		fmt.Sprintf(`{"s":%q,"t":"flavors","op":"I","k":[null]}`, s.schema),
	} {
		s.exec("SELECT pg_notify($1, $2)", s.channel, payload)
	}
	rec.waitFor(t, "tag table:flavors")
	s.sentinel(rec)
	for _, inv := range rec.all() {
		if inv != "tag table:flavors" && !fromSentinel(inv) {
			t.Errorf("malformed notifications invalidated %q", inv)
		}
	}
	if !l.Live() {
		t.Error("a malformed notification took the listener down")
	}
}

// TestDroppedColumn checks that a write to a table whose notified column was dropped after
// the install still succeeds, and is notified as a table-level change.
func TestDroppedColumn(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	raw := s.listen()
	s.exec("ALTER TABLE flavors DROP COLUMN slug")
	s.exec("UPDATE flavors SET name = 'X' WHERE id = 1")
	got := raw.drainUntilSentinel(s.pg)
	if len(got) != 1 || got[0]["all"] != true {
		t.Errorf("notifications %v, want one table-level", got)
	}
}

// TestTwoChannels checks that two applications with their own channels on the same table
// both hear its changes, and that dropping one's triggers leaves the other's.
func TestTwoChannels(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	a := s.listen()
	other := s.channel + "_other_to_need_digest" // trigger names over 63 bytes: a digest
	s.install(pgnotify.Options{Channel: other}, s.tables...)
	b := s.listen()
	if _, err := b.conn.Exec(context.Background(), "UNLISTEN *; LISTEN "+other); err != nil {
		t.Fatal(err)
	}
	b.channel = other

	s.exec("UPDATE flavors SET name = 'X' WHERE slug = 'vanilla'")
	if n := a.count(t); n != 1 {
		t.Errorf("first channel: %d notifications, want 1", n)
	}
	if n := b.count(t); n != 1 {
		t.Errorf("second channel: %d notifications, want 1", n)
	}

	drop, err := pgnotify.DropSQL(s.opts, s.tables...)
	if err != nil {
		t.Fatal(err)
	}
	s.exec(drop)
	s.exec("UPDATE flavors SET name = 'Y' WHERE slug = 'vanilla'")
	if n := b.count(t); n != 1 {
		t.Errorf("second channel after the first's triggers were dropped: %d notifications, want 1", n)
	}
	if n := a.count(t); n != 0 {
		t.Errorf("first channel after its triggers were dropped: %d notifications, want 0", n)
	}
}

// TestInstallUnchanged checks that installing again what is installed takes no lock on the
// tables (a transaction holding one does not delay it), and that a change that needs a lock
// gives up after the lock timeout instead of waiting behind that transaction.
func TestInstallUnchanged(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{})
	ctx := context.Background()
	reader := s.conn()
	tx, err := reader.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT count(*) FROM flavors"); err != nil { // holds ACCESS SHARE
		t.Fatal(err)
	}

	ictx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := pgnotify.Install(ictx, s.admin, s.opts, s.tables...); err != nil {
		t.Fatalf("installing again what is installed, while a transaction reads the table: %v", err)
	}

	start := time.Now()
	changed := s.opts
	changed.MaxRows = 7
	err = pgnotify.Install(ctx, s.admin, changed, s.tables...)
	if err == nil || !strings.Contains(err.Error(), "lock timeout") {
		t.Errorf("installing other options while a transaction reads the table: %v, want a lock timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the failed Install took %v, want about 5 s", d)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Once the reader is done, the change goes through.
	s.install(changed, s.tables...)
	raw := s.listen()
	s.exec(`DO $$ BEGIN FOR i IN 1..8 LOOP INSERT INTO flavors (slug, name) VALUES ('g' || i, 'G'); END LOOP; END $$`)
	if got := raw.drainUntilSentinel(s.pg); len(got) != 8 {
		t.Errorf("after reinstalling with MaxRows 7: %d notifications, want 7 row-level and 1 table-level", len(got))
	}
}

// TestTransactionCap checks that a transaction sends at most MaxRows row-level
// notifications, whatever its number of statements, and a table-level one past that.
func TestTransactionCap(t *testing.T) {
	t.Parallel()
	s := newShop(t, pgnotify.Options{MaxRows: 3})
	raw := s.listen()
	s.exec("INSERT INTO flavors (slug, name) SELECT 'f' || i, 'F' || i FROM generate_series(1, 10) AS i")
	_ = raw.drainUntilSentinel(s.pg)
	s.exec(`DO $$ BEGIN FOR i IN 1..10 LOOP UPDATE flavors SET name = name || '!' WHERE slug = 'f' || i; END LOOP; END $$`)
	got := raw.drainUntilSentinel(s.pg)
	var rows, all int
	for _, m := range got {
		if m["all"] == true {
			all++
		} else {
			rows++
		}
	}
	if rows != 3 || all != 1 {
		t.Errorf("10 single-row UPDATEs in a transaction with MaxRows 3: %d row-level and %d table-level notifications, want 3 and 1: %v", rows, all, got)
	}
	// The next transaction starts over.
	s.exec("UPDATE flavors SET name = 'x' WHERE slug = 'f1'")
	if got := raw.drainUntilSentinel(s.pg); len(got) != 1 || got[0]["all"] != nil {
		t.Errorf("next transaction: %v, want one row-level notification", got)
	}
}

// TestInstallUpgrades checks that Install replaces triggers installed by versions 1 and 2
// of the function (as earlier releases of this package did) with version 3, which sends the
// key columns; that it leaves the earlier function in place for any other user; and that a
// Listener handles every kind of notification: an earlier one as before (Map, or the table's
// tag for a table without Map), a version 3 one with its automatic tags too.
func TestInstallUpgrades(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"v1", "v2"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			testInstallUpgrade(t, version)
		})
	}
}

func testInstallUpgrade(t *testing.T, version string) {
	p := newPG(t)
	p.exec(`CREATE TABLE flavors (id bigserial PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL);
		CREATE TABLE plain (id bigserial PRIMARY KEY);
		CREATE TABLE sentinel (id bigserial PRIMARY KEY);
		INSERT INTO flavors (slug, name) VALUES ('vanilla', 'Vanilla')`)
	old, err := os.ReadFile("testdata/function_" + version + ".sql")
	if err != nil {
		t.Fatal(err)
	}
	p.exec(string(old))
	for _, table := range []struct{ name, args string }{
		{"flavors", fmt.Sprintf("'%s', '100', '1', 'id', 'slug'", p.channel)},
		{"plain", fmt.Sprintf("'%s', '100', '1', 'id'", p.channel)},
		{"sentinel", fmt.Sprintf("'%s', '100', '1', 'id'", p.channel)},
	} {
		for _, ev := range []struct{ event, referencing string }{
			{"INSERT", "REFERENCING NEW TABLE AS dumper_new"},
			{"UPDATE", "REFERENCING OLD TABLE AS dumper_old NEW TABLE AS dumper_new"},
			{"DELETE", "REFERENCING OLD TABLE AS dumper_old"},
			{"TRUNCATE", ""},
		} {
			p.exec(fmt.Sprintf("CREATE TRIGGER dumper_pgnotify_%s_%s AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION dumper_pgnotify_%s(%s)",
				strings.ToLower(ev.event), p.channel, ev.event, table.name, ev.referencing, version, table.args))
		}
	}
	tables := []pgnotify.Table{
		{Name: "flavors", Columns: []string{"slug"}, Map: func(_ context.Context, c pgnotify.Change) ([]string, []string, error) {
			return []string{"/f/" + c.New["slug"]}, nil, nil
		}},
		{Name: "plain"},
		{Name: "sentinel"},
	}
	opts := pgnotify.Options{Channel: p.channel}
	l, err := pgnotify.NewListener(p.config(), opts, tables...)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(nil)
	commits, err := pgnotify.NewCommits(rec, pgnotify.CommitsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, l, commits)
	raw := p.listen()
	functions := func() string {
		t.Helper()
		var got string
		err := p.admin.QueryRow(context.Background(), `SELECT string_agg(DISTINCT p.proname, ',') FROM pg_trigger t
			JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid IN ('flavors'::regclass, 'plain'::regclass) AND NOT t.tgisinternal`).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := functions(); got != "dumper_pgnotify_"+version {
		t.Fatalf("before the upgrade, the triggers call %s", got)
	}

	rec.reset()
	p.exec("UPDATE flavors SET name = 'Old' WHERE slug = 'vanilla'")
	if m := raw.next(); m["t"] != "flavors" || (m["x"] != nil) != (version != "v1") || m["c"] != nil {
		t.Errorf("version %s notification %v", version, m)
	}
	rec.waitFor(t, "path /f/vanilla")
	p.exec("INSERT INTO plain DEFAULT VALUES")
	_ = raw.next()
	rec.waitFor(t, "tag table:plain") // no Map, no key columns: the table's tag
	if got := rec.all(); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "tag row:") }) {
		t.Errorf("version %s notifications invalidated row tags: %q", version, got)
	}

	p.install(opts, tables...)
	if got := functions(); got != "dumper_pgnotify_v3" {
		t.Errorf("after Install, the triggers call %s, want dumper_pgnotify_v3", got)
	}
	var oldLeft bool
	if err := p.admin.QueryRow(context.Background(), "SELECT to_regproc($1) IS NOT NULL", "dumper_pgnotify_"+version).Scan(&oldLeft); err != nil || !oldLeft {
		t.Errorf("the version %s function was dropped (%v): other installations may call it", version, err)
	}
	rec.reset()
	p.exec("UPDATE flavors SET slug = 'vanilla-2' WHERE slug = 'vanilla'")
	if m := raw.next(); m["t"] != "flavors" || m["x"] == nil || m["c"] == nil {
		t.Errorf("version 3 notification %v: want one with a transaction id and key columns", m)
	}
	rec.waitFor(t, "path /f/vanilla-2")
	rec.waitFor(t, "tag row:flavors:slug=vanilla")
	p.exec("INSERT INTO plain (id) VALUES (42)")
	rec.waitFor(t, "tag row:plain:id=42")
}
