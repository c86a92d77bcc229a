package gormdumper_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ChainRoot's rows are deleted with their ChainMids (ON DELETE CASCADE), whose ChainLeafs
// then lose their key (ON DELETE SET NULL): a delete of a root changes leaves it does not name.
type ChainRoot struct {
	ID   uint
	Mids []ChainMid `gorm:"constraint:OnDelete:CASCADE"`
}

type ChainMid struct {
	ID          uint
	ChainRootID uint
	Leaves      []ChainLeaf `gorm:"constraint:OnDelete:SET NULL"`
}

type ChainLeaf struct {
	ID         uint
	ChainMidID *uint
}

// Bare and BareChild are models whose foreign key, with its ON DELETE CASCADE, only the
// database declares (a migration made it).
type Bare struct{ ID uint }

type BareChild struct {
	ID     uint
	BareID uint
}

// pageOf serves, behind a new cache with the plugin on db, a page that renders read; it
// returns a func that GETs it and says whether the cache answered and the page is fresh.
func pageOf(t *testing.T, db *gorm.DB, read func(db *gorm.DB) string) func() (hit bool, body, fresh string) {
	t.Helper()
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := db.Use(gormdumper.New(c)); err != nil {
		t.Fatal(err)
	}
	get := servePage(t, c, db, read)
	return func() (bool, string, string) {
		body, cs := get()
		return strings.HasSuffix(cs, "; hit"), body, read(db)
	}
}

// TestForeignKeyActionChain: a delete invalidates what the actions its cascade sets off
// change, further down: deleting a root deletes its mids, which sets their leaves' key NULL.
func TestForeignKeyActionChain(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t, &gorm.Config{Logger: logger.Discard})
		if err := db.AutoMigrate(&ChainRoot{}, &ChainMid{}, &ChainLeaf{}); err != nil {
			t.Fatal(err)
		}
		root := ChainRoot{ID: 1, Mids: []ChainMid{{ID: 1, Leaves: []ChainLeaf{{ID: 1}}}}}
		if err := db.Create(&root).Error; err != nil {
			t.Fatal(err)
		}
		get := pageOf(t, db, func(db *gorm.DB) string {
			var l ChainLeaf
			err := db.First(&l, 1).Error
			return fmt.Sprint(l.ChainMidID != nil, err)
		})
		get()
		if hit, _, _ := get(); !hit {
			t.Fatal("page not stored")
		}
		if err := db.Delete(&ChainRoot{ID: 1}).Error; err != nil {
			t.Fatal(err)
		}
		if _, body, fresh := get(); body != fresh {
			t.Errorf("after deleting the root: served %q, the database gives %q", body, fresh)
		}
	})
}

// TestCatalogForeignKeyActions: a foreign-key action that no model declares is read from the
// database (PostgreSQL's catalog, SQLite's schema): deleting the parent invalidates the page
// of a child it deletes.
func TestCatalogForeignKeyActions(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t, &gorm.Config{Logger: logger.Discard})
		for _, s := range []string{
			`CREATE TABLE bares (id bigint PRIMARY KEY)`,
			`CREATE TABLE bare_children (id bigint PRIMARY KEY, bare_id bigint NOT NULL REFERENCES bares (id) ON DELETE CASCADE)`,
			`INSERT INTO bares VALUES (1), (2)`,
			`INSERT INTO bare_children VALUES (1, 1), (2, 2)`,
		} {
			if err := db.Exec(s).Error; err != nil {
				t.Fatal(err)
			}
		}
		get := pageOf(t, db, func(db *gorm.DB) string {
			var c BareChild
			return fmt.Sprint(db.First(&c, 1).Error)
		})
		get()
		if hit, _, _ := get(); !hit {
			t.Fatal("page not stored")
		}
		if err := db.Delete(&Bare{ID: 1}).Error; err != nil {
			t.Fatal(err)
		}
		if _, body, fresh := get(); body != fresh {
			t.Errorf("after deleting the parent: served %q, the database gives %q", body, fresh)
		}
	})
}

// TestUpdateKeyByCondition: an update by condition that sets the primary key names no row
// before the write (GORM gives the model the key it set, after): the table tag.
func TestUpdateKeyByCondition(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t, &gorm.Config{Logger: logger.Discard})
		if err := db.AutoMigrate(&Note{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&Note{ID: 1, Text: "a"}).Error; err != nil {
			t.Fatal(err)
		}
		get := pageOf(t, db, func(db *gorm.DB) string {
			var n Note
			return fmt.Sprint(n.Text, db.First(&n, 1).Error)
		})
		get()
		if hit, _, _ := get(); !hit {
			t.Fatal("page not stored")
		}
		if err := db.Model(&Note{}).Where("id = ?", 1).Update("id", 5).Error; err != nil {
			t.Fatal(err)
		}
		if _, body, fresh := get(); body != fresh {
			t.Errorf("after moving note 1 to 5: served %q, the database gives %q", body, fresh)
		}
	})
}
