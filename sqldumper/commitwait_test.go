package sqldumper_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/sqldumper"
)

// TestQueryWriteInvalidatedAfterItsRows: PostgreSQL commits a write run outside a transaction
// only after it has sent its last row, and database/sql's QueryContext returns with the first
// (the server sends what it holds once it has more than 8 KB to send: the rows here are 10 KB).
// A page rendered between QueryContext and the rows' Close reads the old row; it is not kept
// once the rows are closed, whether the write's RETURNING names its rows or not.
func TestQueryWriteInvalidatedAfterItsRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	hold, release := testservice.HoldCommits(t, e.direct, "authors")
	ctx := context.Background()
	for i, c := range []struct{ name, write string }{
		{"RETURNING without the keys", `UPDATE authors SET name = $1 WHERE id IN (1, 2) RETURNING name, repeat('x', 10000)`},
		{"RETURNING the keys", `UPDATE authors SET name = $1 WHERE id IN (1, 2) RETURNING id, slug, repeat('x', 10000)`},
		{"prepared", `UPDATE authors SET name = $1 WHERE id IN (1, 2) RETURNING name || '', repeat('x', 10000)`},
	} {
		name := []string{"Anna", "Anne", "Annie"}[i]
		e.get(t, "/author/1")
		if _, hit := e.get(t, "/author/1"); !hit {
			t.Fatalf("%s: the page is not cached", c.name)
		}
		hold()
		var rows *sql.Rows
		var err error
		if c.name == "prepared" {
			st, perr := e.db.PrepareContext(ctx, c.write)
			if perr != nil {
				t.Fatal(perr)
			}
			defer st.Close()
			rows, err = st.QueryContext(ctx, name)
		} else {
			rows, err = e.db.QueryContext(ctx, c.write, name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if body, _ := e.get(t, "/author/1"); contains(body, name) {
			t.Fatalf("%s: the page rendered before the commit shows the write: %q", c.name, body)
		}
		release()
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if body, hit := e.get(t, "/author/1"); !contains(body, name) {
			t.Errorf("%s: stale after the rows were closed: %q (from the cache: %v)", c.name, body, hit)
		}
	}
}

// TestQueryWriteFailWrites: a write through QueryContext whose invalidation fails under
// FailWrites returns the invalidation's error, and is run to its end on its connection, which
// stays usable (database/sql drops the rows of a query that failed without closing them).
func TestQueryWriteFailWrites(t *testing.T) {
	t.Parallel()
	boom := errors.New("store down")
	e := newEnv(t, &sqldumper.Options{FailWrites: true})
	e.db.SetMaxOpenConns(1) // every query runs on one connection
	ctx := context.Background()
	pid := func() (p int) {
		t.Helper()
		if err := e.db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	before := pid()
	e.inv.SetFail(boom)
	rows, err := e.db.QueryContext(ctx, `UPDATE authors SET name = 'x' WHERE id IN (1, 2) RETURNING name, repeat('x', 10000)`)
	if !errors.Is(err, boom) || !errors.Is(err, sqldumper.ErrInvalidation) {
		t.Errorf("QueryContext error %v, want the invalidation's", err)
	}
	if rows != nil {
		rows.Close()
	}
	e.inv.SetFail(nil)
	if after := pid(); after != before {
		t.Errorf("the write's connection was dropped (backend %d, then %d)", before, after)
	}
	var name string
	if err := e.direct.QueryRowContext(ctx, `SELECT name FROM authors WHERE id = 2`).Scan(&name); err != nil || name != "x" {
		t.Errorf("after the failed invalidation: %q, %v; want the write's x", name, err)
	}
}
