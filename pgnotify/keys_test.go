package pgnotify_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/pgnotify"
)

// TestKeyColumns checks which columns the triggers send as key columns: those of the primary
// key, unique constraints and unique indexes (partial, INCLUDE too), and foreign keys, every column of each,
// of a type with one canonical text; and that installing again after the keys changed
// updates the triggers.
func TestKeyColumns(t *testing.T) {
	t.Parallel()
	p := newPG(t)
	p.exec(`CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
		CREATE TABLE parents (id int PRIMARY KEY);
		CREATE TABLE sentinel (id bigserial PRIMARY KEY);
		CREATE TABLE things (
			id       bigint PRIMARY KEY,
			code     text UNIQUE,               -- unique
			a        smallint,                  -- with b, a composite unique constraint
			b        varchar(10),
			parent   int REFERENCES parents,    -- a foreign key
			tag      uuid,                      -- a unique index
			lowered  text,                      -- a unique index on an expression: no
			partial  text,                      -- a partial unique index: yes (readers count it)
			inc      int,                       -- an INCLUDE column: yes (readers count it)
			price    float8 UNIQUE,             -- not a canonical type: no
			at       timestamptz UNIQUE,        -- not a canonical type: no
			folded   text COLLATE ci UNIQUE,    -- a non-deterministic collation: no
			bytes    text COLLATE "C" UNIQUE,   -- a deterministic collation
			plain    int,                       -- in a partial unique index (WHERE false): yes
			UNIQUE (a, b)
		);
		CREATE UNIQUE INDEX ON things (tag);
		CREATE UNIQUE INDEX ON things (lower(lowered));
		CREATE UNIQUE INDEX ON things (partial) WHERE partial <> '';
		CREATE UNIQUE INDEX ON things (plain) INCLUDE (inc) WHERE false;
		CREATE UNIQUE INDEX things_code_inc ON things (code) INCLUDE (inc);
		INSERT INTO parents VALUES (1), (2)`)
	tables := []pgnotify.Table{{Name: "things"}, {Name: "sentinel"}}
	opts := pgnotify.Options{Channel: p.channel}
	p.install(opts, tables...)
	raw := p.listen()

	p.exec(`INSERT INTO things (id, code, a, b, parent, tag, bytes, plain, inc)
		VALUES (1, 'x', 7, 'B', 2, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'é', 5, 6)`)
	got := raw.drainUntilSentinel(p)
	if len(got) != 1 {
		t.Fatalf("notifications %v, want one", got)
	}
	wantCols := []any{"id", "code", "a", "b", "parent", "tag", "partial", "inc", "bytes", "plain"}
	wantVals := []any{"1", "x", "7", "B", "2", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", nil, "6", "é", "5"}
	if c := got[0]["c"]; fmt.Sprint(c) != fmt.Sprint(wantCols) {
		t.Errorf("key columns %v, want %v", c, wantCols)
	}
	if kn := got[0]["kn"]; fmt.Sprint(kn) != fmt.Sprint(wantVals) {
		t.Errorf("key values %v, want %v", kn, wantVals)
	}

	// A NULL in a key column other than the Key: row-level, the NULL sent as null.
	p.exec("UPDATE things SET code = NULL, parent = 1 WHERE id = 1")
	got = raw.drainUntilSentinel(p)
	if len(got) != 1 || got[0]["all"] != nil {
		t.Fatalf("notifications %v, want one row-level", got)
	}
	if kn := got[0]["kn"].([]any); kn[1] != nil || kn[4] != "1" {
		t.Errorf("new key values %v, want a null code and parent 1", kn)
	}

	// New keys: installing again sends them too.
	p.exec("CREATE UNIQUE INDEX ON things (plain)")
	p.install(opts, tables...)
	p.exec("DELETE FROM things WHERE id = 1")
	got = raw.drainUntilSentinel(p)
	if len(got) != 1 || !slices.Contains(got[0]["c"].([]any), any("plain")) {
		t.Errorf("after a unique index on plain: %v, want plain among the key columns", got)
	}
}

// TestAutomaticTags checks what a table without Map invalidates: for each changed row the
// row tags of the old and new values of its key columns and the table's scan tag, exactly
// dumper.ChangeTags; a NULL value left out; the table's tag for a table-level change.
func TestAutomaticTags(t *testing.T) {
	t.Parallel()
	p := newPG(t)
	p.exec(`CREATE TABLE sizes (id int PRIMARY KEY, slug text NOT NULL UNIQUE);
		CREATE TABLE items (id uuid PRIMARY KEY, code text UNIQUE, size_id int REFERENCES sizes, note text);
		CREATE TABLE sentinel (id bigserial PRIMARY KEY);
		INSERT INTO sizes VALUES (1, 'small'), (2, 'large')`)
	sentinel := func(c pgnotify.Change) ([]string, []string, error) { return nil, []string{"sentinel:" + c.Key[0]}, nil }
	tables := []pgnotify.Table{
		{Name: "sizes"},
		{Name: "items"},
		{Name: "sentinel", Map: func(_ context.Context, c pgnotify.Change) ([]string, []string, error) { return sentinel(c) }},
	}
	opts := pgnotify.Options{Channel: p.channel}
	p.install(opts, tables...)
	s := &shop{pg: p, tables: tables, opts: opts}
	l := s.listener(p.config())
	rec := newRecorder(nil)
	run(t, l, rec)
	const u1 = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
	items := []string{"id", "code", "size_id"}
	row := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		sql  string
		want []string
	}{
		{"insert", "INSERT INTO items VALUES ('" + u1 + "', 'c1', 1, 'n')",
			dumper.ChangeTags("items", items, nil, row("id", u1, "code", "c1", "size_id", "1"))},
		{"update of a foreign key", "UPDATE items SET size_id = 2",
			dumper.ChangeTags("items", items, row("id", u1, "code", "c1", "size_id", "1"), row("id", u1, "code", "c1", "size_id", "2"))},
		{"update of a unique key to NULL", "UPDATE items SET code = NULL",
			append(dumper.ChangeTags("items", items, row("id", u1, "code", "c1", "size_id", "2"), nil),
				dumper.RowTag("items", "id", u1), dumper.RowTag("items", "size_id", "2"))},
		{"update of the primary key", "UPDATE sizes SET id = 3 WHERE id = 1",
			dumper.ChangeTags("sizes", []string{"id", "slug"}, row("id", "1", "slug", "small"), row("id", "3", "slug", "small"))},
		{"delete", "DELETE FROM items",
			dumper.ChangeTags("items", []string{"id", "size_id"}, row("id", u1, "size_id", "2"), nil)},
		{"truncate", "TRUNCATE items", []string{"table:items"}},
	}
	for _, tt := range tests {
		rec.reset()
		p.exec(tt.sql)
		s.sentinel(rec)
		var got []string
		for _, inv := range rec.all() {
			if !fromSentinel(inv) {
				got = append(got, inv)
			}
		}
		var want []string
		for _, tag := range tt.want {
			want = append(want, "tag "+tag)
		}
		slices.Sort(got)
		slices.Sort(want)
		if got, want = slices.Compact(got), slices.Compact(want); !slices.Equal(got, want) {
			t.Errorf("%s: invalidated\n%q\nwant\n%q", tt.name, got, want)
		}
	}
}
