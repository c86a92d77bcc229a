package gormpg_test

import (
	"context"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/wait"
	"gorm.io/gorm"
)

// holdCommits makes every commit of a transaction that updates authors wait, in a deferred
// constraint trigger, for an advisory lock of the test's schema, and returns the functions
// that take and release that lock. A write the test makes outside a transaction has then sent
// its result and is not yet committed until the lock is released.
func holdCommits(t *testing.T, db *gorm.DB) (hold, release func()) {
	t.Helper()
	if err := db.Exec(`
		CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN PERFORM pg_advisory_xact_lock(hashtext(current_schema())); RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER hold_commit AFTER UPDATE ON authors
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hold_commit()`).Error; err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	run := func(q string) func() {
		return func() {
			t.Helper()
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	return run(`SELECT pg_advisory_lock(hashtext(current_schema()))`),
		run(`SELECT pg_advisory_unlock(hashtext(current_schema()))`)
}

// TestRawRowsAfterCommit: PostgreSQL commits a write run outside a transaction only after it
// has sent its last row, and GORM's Row and Rows return with the first (the server sends what
// it holds once it has more than 8 KB to send: the rows here are 10 KB), Scan once the plugin
// has invalidated the write. A page rendered then, before the commit, reads the old row; it is
// not kept once the rows are closed.
func TestRawRowsAfterCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hold, release := holdCommits(t, e.db)
	read := func(db *gorm.DB) string {
		var name string
		return result(name, db.Raw(`SELECT name FROM authors WHERE id = ?`, 1).Row().Scan(&name))
	}
	const write = `UPDATE authors SET name = ? WHERE id IN (1, 2) RETURNING name, repeat('x', 10000)`
	for _, c := range []struct {
		name string
		// run makes the write with name, calls between once the write has run and is not yet
		// committed, and reads its rows to their end.
		run func(t *testing.T, name string, between func())
	}{
		{"Rows", func(t *testing.T, name string, between func()) {
			rows, err := e.db.Raw(write, name).Rows()
			if err != nil {
				t.Fatal(err)
			}
			between()
			for rows.Next() {
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"Row", func(t *testing.T, name string, between func()) {
			row := e.db.Raw(write, name).Row()
			between()
			var got, x string
			if err := row.Scan(&got, &x); err != nil || got != name {
				t.Fatalf("Row: %q, %v", got, err)
			}
		}},
		{"Scan", func(t *testing.T, name string, between func()) {
			done := make(chan error)
			var rows []struct{ Name string }
			go func() { done <- e.db.Raw(write, name).Scan(&rows).Error }()
			var calls int
			wait.For(t, 10*time.Second, "the write's invalidation", func() bool {
				calls += len(e.inv.Take())
				return calls > 0
			})
			between()
			if err := <-done; err != nil || len(rows) != 2 || rows[0].Name != name {
				t.Fatalf("Scan: %v, %v", rows, err)
			}
		}},
	} {
		name := "Ann by " + c.name
		e.page(t, "/author/1", read)
		if _, _, hit := e.page(t, "/author/1", read); !hit {
			t.Fatalf("%s: the page is not cached", c.name)
		}
		e.inv.Take()
		hold()
		c.run(t, name, func() {
			if body, _, _ := e.page(t, "/author/1", read); body == name {
				t.Fatalf("%s: the page rendered before the commit shows the write: %q", c.name, body)
			}
			release()
		})
		if body, tags, hit := e.page(t, "/author/1", read); body != name {
			t.Errorf("%s: stale after the rows were closed: %q (hit %v, tags %v)", c.name, body, hit, tags)
		}
	}
}
