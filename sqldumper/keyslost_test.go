package sqldumper_test

import (
	"database/sql"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/sqldumper"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// TestRefreshDropsPagesOfALostKey: a page that read a table narrowed by a column that a
// migration made elsewhere then made no key column (its unique constraint dropped, then
// Connector.Refresh) is dropped, since writes no longer stamp that column's row tags; it is
// dropped once, not at each write.
func TestRefreshDropsPagesOfALostKey(t *testing.T) {
	t.Parallel()
	var conn *sqldumper.Connector
	e := newEnvWith(t, func(dsn string, inv dumper.Invalidator) (*sql.DB, error) {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		conn = sqldumper.Wrap(stdlib.GetConnector(*cfg), inv, nil)
		return sql.OpenDB(conn), nil
	})
	for _, p := range []string{"/author-by-slug/bob", "/posts/ann", "/author/1"} {
		e.get(t, p)
	}
	if _, err := e.direct.Exec(`ALTER TABLE authors DROP CONSTRAINT authors_slug_key`); err != nil {
		t.Fatal(err)
	}
	conn.Refresh()
	e.inv.Take()
	e.exec(t, `UPDATE authors SET name = 'Bobby' WHERE id = 2`)
	if calls := e.inv.Take(); !has(calls, dumper.TableTag("authors")) {
		t.Errorf("invalidated %v, want %s", calls, dumper.TableTag("authors"))
	}
	e.wantCached(t, map[string]bool{"/author-by-slug/bob": false, "/posts/ann": false, "/author/1": false})

	// Once: the next write stamps its rows' tags only (the pages by slug read the table as a
	// scan now).
	e.exec(t, `UPDATE authors SET name = 'Bob' WHERE id = 2`)
	e.wantCached(t, map[string]bool{"/author-by-slug/bob": false, "/posts/ann": false, "/author/1": true})
}
