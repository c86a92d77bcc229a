package pgxdumper_test

import (
	"context"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/pgxdumper"
)

// TestRefreshDropsPagesOfALostKey: a page that read a table narrowed by a column that a
// migration made elsewhere then made no key column (its unique constraint dropped, then
// Tracer.Refresh) is dropped, since writes no longer stamp that column's row tags; it is
// dropped once, not at each write.
func TestRefreshDropsPagesOfALostKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	e.warm(t)
	if _, err := e.direct.Exec(ctx, `ALTER TABLE authors DROP CONSTRAINT authors_slug_key`); err != nil {
		t.Fatal(err)
	}
	e.pool.Config().ConnConfig.Tracer.(*pgxdumper.Tracer).Refresh()
	if _, err := e.pool.Exec(ctx, `UPDATE authors SET slug = 'anna' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if calls := e.inv.Take(); !has(calls, dumper.TableTag("authors")) {
		t.Errorf("invalidated %v, want %s", calls, dumper.TableTag("authors"))
	}
	e.wantCached(t, pages...) // /posts/ann, read by slug, is empty now

	// Once: the next write stamps its rows' tags only (the pages by slug read the table as a
	// scan now).
	if _, err := e.pool.Exec(ctx, `UPDATE authors SET name = 'Bobby' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	e.wantCached(t, "/author/2", "/authors", "/posts/ann", "/posts/bob")
}
