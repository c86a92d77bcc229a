package testservice

import (
	"context"
	"database/sql"
	"testing"
)

// HoldCommits makes every commit of a transaction that updates table (in the current schema
// of db's connections) wait, in a deferred constraint trigger, for an advisory lock of that
// schema, and returns the functions that take and release the lock, on a connection of their
// own. A write a test makes outside a transaction has then sent its result and is not yet
// committed until the lock is released: PostgreSQL commits such a write only after its last
// row has gone out.
func HoldCommits(t testing.TB, db *sql.DB, table string) (hold, release func()) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `
		CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN PERFORM pg_advisory_xact_lock(hashtext(current_schema())); RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER hold_commit AFTER UPDATE ON `+table+`
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hold_commit()`); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
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
