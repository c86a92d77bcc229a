package gormpg_test

import (
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
	"gorm.io/gorm"
)

// TestRawRowsAfterCommit: PostgreSQL commits a write run outside a transaction only after it
// has sent its last row, and GORM's Row and Rows return with the first (the server sends what
// it holds once it has more than 8 KB to send: the rows here are 10 KB), Scan once the plugin
// has invalidated the write. A page rendered then, before the commit, reads the old row; it is
// not kept once the rows are closed.
func TestRawRowsAfterCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sqlDB, err := e.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	hold, release := testservice.HoldCommits(t, sqlDB, "authors")
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
