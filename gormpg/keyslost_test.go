package gormpg_test

import (
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/sqldumper/capturetest"
	"gorm.io/gorm"
)

// TestRefreshDropsPagesOfALostKey: a page that read a table with hand-written SQL narrowed by
// a column that a migration made elsewhere then made no key column (its unique constraint
// dropped, then Analyzer.Refresh) is dropped, since writes no longer stamp that column's row
// tags: the first statement of hand-written SQL that reads the catalog again returns the
// table's tag, for gormdumper to invalidate.
func TestRefreshDropsPagesOfALostKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	name := func(sql string, arg any) func(db *gorm.DB) string {
		return func(db *gorm.DB) string {
			var n string
			return result(n, db.Raw(sql, arg).Row().Scan(&n))
		}
	}
	bySlug := name(`SELECT name FROM authors WHERE slug = ?`, "bob")
	byID := name(`SELECT name FROM authors WHERE id = ?`, 3)
	e.page(t, "/by-slug/bob", bySlug)
	if _, _, hit := e.page(t, "/by-slug/bob", bySlug); !hit {
		t.Fatal("/by-slug/bob is not stored")
	}
	sqlDB, err := e.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	// A migration GORM does not see.
	if _, err := sqlDB.Exec(`ALTER TABLE authors DROP CONSTRAINT authors_slug_key`); err != nil {
		t.Fatal(err)
	}
	e.an.Refresh()
	e.inv.Take()
	e.page(t, "/by-id/3", byID) // reads the catalog again
	if calls := e.inv.Take(); !capturetest.Has(calls, dumper.TableTag("authors")) {
		t.Errorf("after the catalog was read again: invalidated %v, want %s", calls, dumper.TableTag("authors"))
	}
	e.page(t, "/by-id/3", byID) // stored now: the first render overlapped the invalidation
	if err := e.db.Exec(`UPDATE authors SET name = ? WHERE id = ?`, "Bobby", 2).Error; err != nil {
		t.Fatal(err)
	}
	if body, _, hit := e.page(t, "/by-slug/bob", bySlug); hit || body != "Bobby" {
		t.Errorf("/by-slug/bob after the rename: %q (hit %v), want Bobby rendered anew", body, hit)
	}
	if _, _, hit := e.page(t, "/by-id/3", byID); !hit {
		t.Error("/by-id/3 was dropped by a write to another row: the table's tag was invalidated again")
	}
}
