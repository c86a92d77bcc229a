package pgcapture

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// TestKeysLost: a table that the catalog, read again after Refresh, gives fewer key columns,
// or one of another kind, has its table tag invalidated once, since its writes no longer stamp
// the row tags its pages may have been read by; a table that keeps or gains keys does not.
func TestKeysLost(t *testing.T) {
	db := testDB(t,
		`CREATE TABLE authors (id int PRIMARY KEY, slug text UNIQUE NOT NULL, code text UNIQUE, name text)`,
		`CREATE TABLE posts (id int PRIMARY KEY, author_id int REFERENCES authors (id), title text)`)
	inv := &callRecorder{}
	a := New(inv, dbLoader(db), nil)
	ctx := context.Background()
	read := func() {
		t.Helper()
		for _, sql := range []string{`SELECT * FROM authors WHERE slug = 'a'`, `SELECT * FROM posts WHERE author_id = 1`} {
			if _, err := a.resolve(ctx, a.Shape(sql)); err != nil {
				t.Fatal(err)
			}
		}
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := db.Exec(sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	want := func(step string, calls ...string) {
		t.Helper()
		if strings.Join(inv.calls, "; ") != strings.Join(calls, "; ") {
			t.Errorf("%s: invalidated %q, want %q", step, inv.calls, calls)
		}
		inv.calls = nil
	}
	read()
	want("first read")
	a.Refresh()
	read()
	want("refresh without a change")

	exec(`ALTER TABLE authors DROP CONSTRAINT authors_slug_key`)
	read()
	want("migration before Refresh") // the catalog is not read again
	a.Refresh()
	read()
	want("refresh after the unique index was dropped", "table:authors")
	a.Refresh()
	read()
	want("refresh again")

	exec(`ALTER TABLE authors ALTER COLUMN code TYPE int USING code::int`)
	a.Refresh()
	read()
	want("refresh after the key changed kind", "table:authors")

	exec(`ALTER TABLE authors ADD CONSTRAINT authors_name_key UNIQUE (name)`)
	exec(`ALTER TABLE posts DROP CONSTRAINT posts_author_id_fkey`)
	a.Refresh()
	read()
	want("a key gained, another table's lost", "table:posts")
}

// TestKeysLostByAnOvertakenLoad: a catalog read that a Refresh overtook (it started before a
// migration, and ends after a read of the new catalog) returns the old key columns, by which
// its caller may narrow a read: the table's tag is invalidated again, since writes stamp the
// new catalog's keys only.
func TestKeysLostByAnOvertakenLoad(t *testing.T) {
	db := testDB(t, `CREATE TABLE authors (id int PRIMARY KEY, slug text UNIQUE NOT NULL, name text)`)
	var (
		mu      sync.Mutex
		hold    bool
		held    = make(chan struct{})
		release = make(chan struct{})
	)
	load := func(ctx context.Context, query string, arg []string) (string, error) {
		s, err := dbLoader(db)(ctx, query, arg)
		mu.Lock()
		h := hold
		hold = false
		mu.Unlock()
		if h {
			close(held)
			<-release
		}
		return s, err
	}
	inv := &callRecorder{}
	a := New(inv, load, nil)
	ctx := context.Background()
	sql := `SELECT * FROM authors WHERE slug = 'a'`
	if _, err := a.resolve(ctx, a.Shape(sql)); err != nil {
		t.Fatal(err)
	}
	a.Refresh()
	mu.Lock()
	hold = true
	mu.Unlock()
	done := make(chan *relation)
	go func() {
		// A read that loads the catalog before the migration and returns after.
		m, err := a.cat.lookup(ctx, []string{`"authors"`})
		if err != nil {
			t.Error(err)
		}
		done <- m[`"authors"`]
	}()
	<-held
	if _, err := db.Exec(`ALTER TABLE authors DROP CONSTRAINT authors_slug_key`); err != nil {
		t.Fatal(err)
	}
	a.Refresh()
	if _, err := a.resolve(ctx, a.Shape(sql)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(inv.calls, "; "); got != "table:authors" {
		t.Fatalf("after the new catalog was read: invalidated %q, want table:authors", got)
	}
	close(release)
	if rel := <-done; rel == nil || rel.kinds["slug"] == 0 {
		t.Fatalf("the overtaken catalog read gives %+v, want slug a key column", rel)
	}
	if got := strings.Join(inv.calls, "; "); got != "table:authors; table:authors" {
		t.Errorf("after the overtaken read: invalidated %q, want table:authors twice", got)
	}
}
