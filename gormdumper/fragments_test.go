package gormdumper_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// FKParent has children deleted with it (ON DELETE CASCADE) and orphans whose key is set to
// NULL (ON DELETE SET NULL).
type FKParent struct {
	ID       uint
	Name     string
	Children []FKChild  `gorm:"constraint:OnDelete:CASCADE"`
	Orphans  []FKOrphan `gorm:"constraint:OnDelete:SET NULL"`
}

type FKChild struct {
	ID         uint
	FKParentID uint
	Name       string
}

type FKOrphan struct {
	ID         uint
	FKParentID *uint
	Name       string
}

// fkEnv opens a database on b with the plugin behind a real cache, parent 1 with two
// children and an orphan, and parent 2 with none.
func fkEnv(t *testing.T, b backend) (*gorm.DB, *dumper.Cache) {
	t.Helper()
	db := b.open(t, &gorm.Config{Logger: logger.Discard})
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := db.Use(gormdumper.New(c)); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&FKParent{}, &FKChild{}, &FKOrphan{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&FKParent{ID: 1, Name: "p", Children: []FKChild{{Name: "a"}, {Name: "b"}}, Orphans: []FKOrphan{{Name: "o"}}}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&FKParent{ID: 2, Name: "q"}).Error; err != nil {
		t.Fatal(err)
	}
	return db, c
}

// servePage serves render behind c; the func it returns GETs the page: its body and Cache-Status.
func servePage(t *testing.T, c *dumper.Cache, db *gorm.DB, render func(db *gorm.DB) string) func() (string, string) {
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, render(db.WithContext(r.Context())))
	}))
	return func() (string, string) {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/page", nil))
		return w.Body.String(), w.Header().Get("Cache-Status")
	}
}

// TestSQLFragmentReads checks that a fragment of SQL that could read another table (a
// subquery in a condition, a column, HAVING or ORDER BY) keeps the page out of the cache, so
// that a write to that table never leaves it stale; and that ordinary fragments are cached.
func TestSQLFragmentReads(t *testing.T) {
	t.Parallel()
	names := func(ps []FKParent) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.Name
		}
		return strings.Join(s, ",")
	}
	find := func(scope func(*gorm.DB) *gorm.DB) func(*gorm.DB) string {
		return func(db *gorm.DB) string {
			var ps []FKParent
			if err := scope(db).Order("id").Find(&ps).Error; err != nil {
				return "error: " + err.Error()
			}
			return names(ps)
		}
	}
	unknown := map[string]func(*gorm.DB) string{
		"Where IN (SELECT)": find(func(db *gorm.DB) *gorm.DB {
			return db.Where("id IN (SELECT fk_parent_id FROM fk_children)")
		}),
		"Where EXISTS": find(func(db *gorm.DB) *gorm.DB {
			return db.Where("name <> ?", "x").Where("EXISTS (SELECT 1 FROM fk_children WHERE fk_parent_id = 2)")
		}),
		"Having": func(db *gorm.DB) string {
			var ids []int64
			err := db.Model(&FKParent{}).Group("id").Having("count(*) < (SELECT count(*) FROM fk_children)").Order("id").Pluck("id", &ids).Error
			return fmt.Sprint(ids, err)
		},
		"Order": func(db *gorm.DB) string {
			var ps []FKParent
			err := db.Order("(SELECT count(*) FROM fk_children WHERE fk_children.fk_parent_id = fk_parents.id) DESC, id").Find(&ps).Error
			return fmt.Sprint(names(ps), err)
		},
		"Select": func(db *gorm.DB) string {
			var rows []struct {
				ID uint
				N  int
			}
			err := db.Model(&FKParent{}).Select("id, (SELECT count(*) FROM fk_children WHERE fk_children.fk_parent_id = fk_parents.id) AS n").Order("id").Scan(&rows).Error
			return fmt.Sprint(rows, err)
		},
	}
	ordinary := map[string]func(*gorm.DB) string{
		"LIKE":  find(func(db *gorm.DB) *gorm.DB { return db.Where("name LIKE ?", "p%") }),
		">":     find(func(db *gorm.DB) *gorm.DB { return db.Where("id > ?", 0) }),
		"lower": find(func(db *gorm.DB) *gorm.DB { return db.Where("lower(name) = ?", "p") }),
	}
	eachBackend(t, func(t *testing.T, b backend) {
		for name, render := range unknown {
			t.Run(name, func(t *testing.T) {
				db, c := fkEnv(t, b)
				get := servePage(t, c, db, render)
				get()
				if body, cs := get(); !strings.Contains(cs, "detail=") {
					t.Errorf("%q stored (Cache-Status %q); want it kept out of the cache", body, cs)
				}
				if err := db.Create(&FKChild{FKParentID: 2, Name: "new"}).Error; err != nil {
					t.Fatal(err)
				}
				if body, want := first(get()), render(db); body != want {
					t.Errorf("after a write to fk_children: served %q, want %q", body, want)
				}
			})
		}
		for name, render := range ordinary {
			t.Run(name, func(t *testing.T) {
				db, c := fkEnv(t, b)
				get := servePage(t, c, db, render)
				get()
				if body, cs := get(); !strings.HasSuffix(cs, "; hit") || strings.HasPrefix(body, "error") {
					t.Errorf("%q not served from the cache (Cache-Status %q)", body, cs)
				}
			})
		}
	})
}

func first(a, _ string) string { return a }

// TestForeignKeyActions checks that deleting a parent invalidates the pages that read the
// rows its foreign keys' ON DELETE CASCADE and SET NULL change.
func TestForeignKeyActions(t *testing.T) {
	t.Parallel()
	count := func(model any) func(*gorm.DB) string {
		return func(db *gorm.DB) string {
			var n int64
			err := db.Model(model).Where("fk_parent_id = ?", 1).Count(&n).Error
			return fmt.Sprint(n, err)
		}
	}
	eachBackend(t, func(t *testing.T, b backend) {
		for name, model := range map[string]any{"CASCADE": &FKChild{}, "SET NULL": &FKOrphan{}} {
			t.Run(name, func(t *testing.T) {
				db, c := fkEnv(t, b)
				render := count(model)
				get := servePage(t, c, db, render)
				get()
				if _, cs := get(); !strings.HasSuffix(cs, "; hit") {
					t.Fatalf("not stored: %s", cs)
				}
				if err := db.Delete(&FKParent{ID: 1}).Error; err != nil {
					t.Fatal(err)
				}
				if body, want := first(get()), render(db); body != want {
					t.Errorf("after deleting the parent: served %q, want %q", body, want)
				}
			})
		}
	})
}
