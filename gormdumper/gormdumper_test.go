package gormdumper_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dumperhq/dumper/gormdumper"
	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

func TestCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		create func(e *env, t *testing.T) error
		want   map[string]string // path → body, each rendered afresh
	}{
		{
			name: "one with sizes",
			create: func(e *env, t *testing.T) error {
				return e.db.Create(&Flavor{Slug: "mint", Name: "Mint", Sizes: []Size{*e.size(t, "small")}}).Error
			},
			want: map[string]string{
				"/":             "flavors=Chocolate,Mint,Vanilla",
				"/flavors/mint": "flavor Mint sizes=Small",
				"/sizes/small":  "size Small flavors=Mint,Vanilla",
			},
		},
		{
			name: "batch",
			create: func(e *env, t *testing.T) error {
				return e.db.Create([]Flavor{{Slug: "mint", Name: "Mint"}, {Slug: "vanilla-bean", Name: "Vanilla bean"}}).Error
			},
			want: map[string]string{
				"/":                     "flavors=Chocolate,Mint,Vanilla,Vanilla bean",
				"/flavors/mint":         "flavor Mint sizes=",
				"/flavors/vanilla-bean": "flavor Vanilla bean sizes=",
			},
		},
		{
			name: "with a new size",
			create: func(e *env, t *testing.T) error {
				return e.db.Create(&Flavor{Slug: "mint", Name: "Mint", Sizes: []Size{{Slug: "tiny", Name: "Tiny"}}}).Error
			},
			want: map[string]string{"/flavors/mint": "flavor Mint sizes=Tiny"},
		},
		{
			name: "declaring tags",
			create: func(e *env, t *testing.T) error {
				return e.db.Create(&Topping{Name: "fudge"}).Error
			},
			want: map[string]string{"/toppings/fudge": "toppings=1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				e.warm(t, pages...)
				if err := tt.create(e, t); err != nil {
					t.Fatalf("create: %v", err)
				}
				for path, body := range tt.want {
					e.wantPage(t, path, body, true)
				}
				e.wantFresh(t, pages...)
				if _, tags := e.rec.invalidated(); slices.ContainsFunc(tags, isTableTag) {
					t.Errorf("a create by model invalidated table tags %q", tags)
				}
			})
		})
	}
}

func isTableTag(tag string) bool { return strings.HasPrefix(tag, "table:") }

// TestUpdate changes the name of vanilla, shown on its page, the home page and the page of
// its size, in every way GORM updates a row.
func TestUpdate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		update func(db *gorm.DB, f *Flavor) error
	}{
		{"Save", func(db *gorm.DB, f *Flavor) error { f.Name = "Plain"; return db.Save(f).Error }},
		{"Updates struct", func(db *gorm.DB, f *Flavor) error { return db.Model(f).Updates(Flavor{Name: "Plain"}).Error }},
		{"Updates map", func(db *gorm.DB, f *Flavor) error { return db.Model(f).Updates(map[string]any{"name": "Plain"}).Error }},
		{"Update", func(db *gorm.DB, f *Flavor) error { return db.Model(f).Update("name", "Plain").Error }},
		{"UpdateColumn", func(db *gorm.DB, f *Flavor) error { return db.Model(f).UpdateColumn("name", "Plain").Error }},
		{"UpdateColumns", func(db *gorm.DB, f *Flavor) error {
			return db.Model(f).UpdateColumns(map[string]any{"name": "Plain"}).Error
		}},
		{"model with only its key", func(db *gorm.DB, f *Flavor) error {
			return db.Model(&Flavor{ID: f.ID}).Update("name", "Plain").Error
		}},
		{"without a transaction", func(db *gorm.DB, f *Flavor) error {
			return db.Session(&gorm.Session{SkipDefaultTransaction: true}).Model(f).Update("name", "Plain").Error
		}},
		{"prepared statements", func(db *gorm.DB, f *Flavor) error {
			return db.Session(&gorm.Session{PrepareStmt: true}).Model(f).Update("name", "Plain").Error
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				e.warm(t, pages...)
				if err := tt.update(e.db, e.flavor(t, "vanilla")); err != nil {
					t.Fatalf("update: %v", err)
				}
				e.wantPage(t, "/flavors/vanilla", "flavor Plain sizes=Small", true)
				e.wantPage(t, "/sizes/small", "size Small flavors=Plain", true)
				e.wantPage(t, "/", "flavors=Chocolate,Plain", true)
				e.wantFresh(t, pages...)
				if _, tags := e.rec.invalidated(); slices.ContainsFunc(tags, isTableTag) {
					t.Errorf("an update by model invalidated table tags %q", tags)
				}
			})
		})
	}
}

// TestSlugChange checks that an update invalidates the paths of the row as it was and as it
// is: the old page becomes a 404 and the cached 404 of the new one becomes the page.
func TestSlugChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		update func(db *gorm.DB, f *Flavor) error
	}{
		{"Update", func(db *gorm.DB, f *Flavor) error { return db.Model(f).Update("slug", "vanilla-bean").Error }},
		{"Save", func(db *gorm.DB, f *Flavor) error { f.Slug = "vanilla-bean"; return db.Save(f).Error }},
		{"model with only its key", func(db *gorm.DB, f *Flavor) error {
			return db.Model(&Flavor{ID: f.ID}).Updates(map[string]any{"slug": "vanilla-bean"}).Error
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				e.warm(t, pages...)
				if w := e.get(t, "/flavors/vanilla-bean"); w.Code != 404 || !isHit(w) {
					t.Fatalf("GET /flavors/vanilla-bean = %d %q, want a cached 404", w.Code, w.Header().Get("Cache-Status"))
				}
				if err := tt.update(e.db, e.flavor(t, "vanilla")); err != nil {
					t.Fatalf("update: %v", err)
				}
				e.wantPage(t, "/flavors/vanilla", "not found", true)
				e.wantPage(t, "/flavors/vanilla-bean", "flavor Vanilla sizes=Small", true)
				e.wantFresh(t, pages...)
			})
		})
	}
}

// TestDelete checks that a delete invalidates the paths the row had: a deleted flavor
// disappears from the page of its size, although the value deleted had no sizes loaded.
func TestDelete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		delete func(db *gorm.DB, f *Flavor) error
		soft   bool
	}{
		{"soft", func(db *gorm.DB, f *Flavor) error { return db.Delete(f).Error }, true},
		{"soft, model with only its key", func(db *gorm.DB, f *Flavor) error { return db.Delete(&Flavor{ID: f.ID}).Error }, true},
		{"hard with associations", func(db *gorm.DB, f *Flavor) error {
			return db.Unscoped().Select(clause.Associations).Delete(f).Error
		}, false},
		{"in a transaction", func(db *gorm.DB, f *Flavor) error {
			return db.Transaction(func(tx *gorm.DB) error { return tx.Delete(f).Error })
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				e.warm(t, pages...)
				if err := tt.delete(e.db, e.flavor(t, "vanilla")); err != nil {
					t.Fatalf("delete: %v", err)
				}
				e.wantPage(t, "/flavors/vanilla", "not found", true)
				e.wantPage(t, "/sizes/small", "size Small flavors=", true)
				e.wantPage(t, "/", "flavors=Chocolate", true)
				e.wantFresh(t, pages...)
				var n int64
				e.db.Unscoped().Model(&Flavor{}).Where("slug = ?", "vanilla").Count(&n)
				if tt.soft != (n == 1) {
					t.Errorf("rows left after the delete: %d, soft delete %v", n, tt.soft)
				}
			})
		})
	}
}

// TestAssociations changes the many-to-many relation between flavors and sizes from either
// side; the pages of both sides must follow. At the start vanilla comes in small and
// chocolate in large.
func TestAssociations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(e *env, t *testing.T) error
		want   map[string]string
	}{
		{
			name: "flavor Append",
			change: func(e *env, t *testing.T) error {
				return e.db.Model(e.flavor(t, "vanilla")).Association("Sizes").Append(e.size(t, "large"))
			},
			want: map[string]string{"/flavors/vanilla": "flavor Vanilla sizes=Large,Small", "/sizes/large": "size Large flavors=Chocolate,Vanilla"},
		},
		{
			name: "flavor Delete",
			change: func(e *env, t *testing.T) error {
				return e.db.Model(e.flavor(t, "vanilla")).Association("Sizes").Delete(e.size(t, "small"))
			},
			want: map[string]string{"/flavors/vanilla": "flavor Vanilla sizes=", "/sizes/small": "size Small flavors="},
		},
		{
			name: "flavor Replace",
			change: func(e *env, t *testing.T) error {
				return e.db.Model(e.flavor(t, "vanilla")).Association("Sizes").Replace(e.size(t, "large"))
			},
			want: map[string]string{
				"/flavors/vanilla": "flavor Vanilla sizes=Large",
				"/sizes/small":     "size Small flavors=",
				"/sizes/large":     "size Large flavors=Chocolate,Vanilla",
			},
		},
		{
			name: "flavor Clear",
			change: func(e *env, t *testing.T) error {
				return e.db.Model(e.flavor(t, "vanilla")).Association("Sizes").Clear()
			},
			want: map[string]string{"/flavors/vanilla": "flavor Vanilla sizes=", "/sizes/small": "size Small flavors="},
		},
		{
			name: "size Append",
			change: func(e *env, t *testing.T) error {
				return e.db.Model(e.size(t, "small")).Association("Flavors").Append(e.flavor(t, "chocolate"))
			},
			want: map[string]string{"/sizes/small": "size Small flavors=Chocolate,Vanilla", "/flavors/chocolate": "flavor Chocolate sizes=Large,Small"},
		},
		{
			name: "size Delete",
			change: func(e *env, t *testing.T) error {
				return e.db.Model(e.size(t, "small")).Association("Flavors").Delete(e.flavor(t, "vanilla"))
			},
			want: map[string]string{"/sizes/small": "size Small flavors=", "/flavors/vanilla": "flavor Vanilla sizes="},
		},
		{
			name: "size Replace",
			change: func(e *env, t *testing.T) error {
				return e.db.Model(e.size(t, "small")).Association("Flavors").Replace(e.flavor(t, "chocolate"))
			},
			want: map[string]string{
				"/sizes/small":       "size Small flavors=Chocolate",
				"/flavors/vanilla":   "flavor Vanilla sizes=",
				"/flavors/chocolate": "flavor Chocolate sizes=Large,Small",
			},
		},
		{
			name: "size Clear",
			change: func(e *env, t *testing.T) error {
				return e.db.Model(e.size(t, "small")).Association("Flavors").Clear()
			},
			want: map[string]string{"/sizes/small": "size Small flavors=", "/flavors/vanilla": "flavor Vanilla sizes="},
		},
		{
			name: "Save with a new association",
			change: func(e *env, t *testing.T) error {
				f := e.flavor(t, "chocolate")
				f.Sizes = []Size{*e.size(t, "small")}
				return e.db.Save(f).Error
			},
			want: map[string]string{"/sizes/small": "size Small flavors=Chocolate,Vanilla", "/flavors/chocolate": "flavor Chocolate sizes=Large,Small"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				e.warm(t, pages...)
				if err := tt.change(e, t); err != nil {
					t.Fatalf("change: %v", err)
				}
				for path, body := range tt.want {
					e.wantPage(t, path, body, true)
				}
				e.wantFresh(t, pages...)
			})
		})
	}
}

// TestExactInvalidations checks, for many-to-many changes and deletes, that exactly the
// pages whose content changes are invalidated, and that every other page is still a hit.
// A join row (flavor, size) added or removed changes the pages that show them together: the
// size's page listed by the flavor and the flavor's page listed by the size, nothing more.
// The seed is vanilla in small, chocolate in large; setup adds vanilla to large, so that
// large lists both flavors.
func TestExactInvalidations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(e *env, t *testing.T) error
		paths []string
		tags  []string
	}{
		{
			name: "Append, owner without its sizes",
			write: func(e *env, t *testing.T) error {
				f := e.flavor(t, "chocolate")
				return e.db.Model(&Flavor{ID: f.ID, Slug: f.Slug, Name: f.Name}).Association("Sizes").Append(e.size(t, "small"))
			},
			paths: []string{"/flavors/chocolate", "/sizes/small"},
		},
		{
			name: "Append, owner with its sizes",
			write: func(e *env, t *testing.T) error {
				var f Flavor
				if err := e.db.Preload("Sizes").First(&f, "slug = ?", "chocolate").Error; err != nil {
					return err
				}
				return e.db.Model(&f).Association("Sizes").Append(e.size(t, "small"))
			},
			paths: []string{"/flavors/chocolate", "/sizes/small"},
		},
		{
			name: "Append from the size",
			write: func(e *env, t *testing.T) error {
				return e.db.Model(e.size(t, "small")).Association("Flavors").Append(e.flavor(t, "chocolate"))
			},
			paths: []string{"/flavors/chocolate", "/sizes/small"},
		},
		{
			name: "association Delete",
			write: func(e *env, t *testing.T) error {
				return e.db.Model(e.flavor(t, "vanilla")).Association("Sizes").Delete(e.size(t, "large"))
			},
			paths: []string{"/flavors/vanilla", "/sizes/large"},
		},
		{
			name: "association Replace",
			write: func(e *env, t *testing.T) error {
				return e.db.Model(e.flavor(t, "chocolate")).Association("Sizes").Replace(e.size(t, "small"))
			},
			paths: []string{"/flavors/chocolate", "/sizes/small", "/sizes/large"},
		},
		{
			name: "association Clear",
			write: func(e *env, t *testing.T) error {
				return e.db.Model(e.size(t, "large")).Association("Flavors").Clear()
			},
			paths: []string{"/sizes/large", "/flavors/vanilla", "/flavors/chocolate"},
		},
		{
			name: "flavor delete with its join rows",
			write: func(e *env, t *testing.T) error {
				return e.db.Unscoped().Select("Sizes").Delete(e.flavor(t, "chocolate")).Error
			},
			// Everything chocolate declared; not the page of vanilla, also in large.
			paths: []string{"/", "/flavors/chocolate", "/sizes/large"},
		},
		{
			name: "size delete with its join rows",
			write: func(e *env, t *testing.T) error {
				return e.db.Select("Flavors").Delete(e.size(t, "large")).Error
			},
			paths: []string{"/sizes/large", "/flavors/vanilla", "/flavors/chocolate"},
		},
		{
			name: "Delete by id",
			write: func(e *env, t *testing.T) error {
				return e.db.Delete(&Flavor{}, e.flavor(t, "chocolate").ID).Error
			},
			paths: []string{"/", "/flavors/chocolate", "/sizes/large"},
		},
		{
			name: "Delete by ids",
			write: func(e *env, t *testing.T) error {
				return e.db.Delete(&Flavor{}, []uint{e.flavor(t, "chocolate").ID, e.flavor(t, "vanilla").ID}).Error
			},
			paths: []string{"/", "/flavors/chocolate", "/flavors/vanilla", "/sizes/small", "/sizes/large"},
		},
		{
			name: "Delete with Where",
			write: func(e *env, t *testing.T) error {
				return e.db.Where("slug = ?", "chocolate").Delete(&Flavor{}).Error
			},
			// The rows it matched, and the table: a row may match by the time it runs.
			paths: []string{"/", "/flavors/chocolate", "/sizes/large"},
			tags:  []string{"table:flavors"},
		},
		{
			name: "Delete with Where, model without dependencies",
			write: func(e *env, t *testing.T) error {
				return e.db.Where("text = ?", "hello").Delete(&Note{}).Error
			},
			tags: []string{"table:notes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				if err := e.db.Model(e.flavor(t, "vanilla")).Association("Sizes").Append(e.size(t, "large")); err != nil {
					t.Fatalf("setup: %v", err)
				}
				e.warm(t, pages...)
				e.rec.reset()
				if err := tt.write(e, t); err != nil {
					t.Fatalf("write: %v", err)
				}
				e.wantInvalidated(t, tt.paths, tt.tags)
				fresh := slices.Clone(tt.paths)
				if slices.Contains(tt.tags, "table:flavors") {
					fresh = append(fresh, "/")
				}
				if slices.Contains(tt.tags, "table:notes") {
					fresh = append(fresh, "/notes")
				}
				e.wantHits(t, pages, fresh)
				e.wantFresh(t, pages...)
			})
		})
	}
}

// TestDeleteManyRows checks that a delete with conditions gives up loading the rows it
// deletes past 1000 of them and invalidates the table's tag alone, and loads them below.
func TestDeleteManyRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rows int
		tags int // invalidated: the rows' tags and the table's
	}{{1000, 1001}, {1001, 1}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rows), func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				toppings := make([]Topping, tt.rows)
				for i := range toppings {
					toppings[i].Name = fmt.Sprint("t", i)
				}
				if err := e.db.CreateInBatches(toppings, 500).Error; err != nil {
					t.Fatal(err)
				}
				e.rec.reset()
				if err := e.db.Where("name LIKE ?", "t%").Delete(&Topping{}).Error; err != nil {
					t.Fatal(err)
				}
				paths, tags := e.rec.invalidated()
				tags = slices.DeleteFunc(tags, isChangeTag)
				if len(paths) != 0 || len(tags) != tt.tags || !slices.Contains(tags, "table:toppings") {
					t.Errorf("invalidated %d paths and %d tags, want no path and %d tags with table:toppings", len(paths), len(tags), tt.tags)
				}
			})
		})
	}
}

// TestBulk checks that writes that name no row invalidate their table's tag, and only it.
func TestBulk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(db *gorm.DB) error
		table string
		page  string
		body  string
	}{
		{"Update with Where", func(db *gorm.DB) error {
			return db.Model(&Flavor{}).Where("slug = ?", "vanilla").Update("name", "Plain").Error
		}, "flavors", "/", "flavors=Chocolate,Plain"},
		{"Updates through Table", func(db *gorm.DB) error {
			return db.Table("flavors").Where("slug = ?", "vanilla").Updates(map[string]any{"name": "Plain"}).Error
		}, "flavors", "/", "flavors=Chocolate,Plain"},
		{"Delete with Where", func(db *gorm.DB) error {
			return db.Where("slug = ?", "vanilla").Delete(&Flavor{}).Error
		}, "flavors", "/", "flavors=Chocolate"},
		{"Create from a map", func(db *gorm.DB) error {
			return db.Model(&Flavor{}).Create(map[string]any{"slug": "mint", "name": "Mint"}).Error
		}, "flavors", "/", "flavors=Chocolate,Mint,Vanilla"},
		{"upsert on another column", func(db *gorm.DB) error {
			return db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "slug"}}, DoUpdates: clause.AssignmentColumns([]string{"name"})}).
				Create(&Flavor{Slug: "vanilla", Name: "Plain"}).Error
		}, "flavors", "/", "flavors=Chocolate,Plain"},
		{"model without dependencies", func(db *gorm.DB) error {
			return db.Model(&Note{}).Where("text = ?", "hello").Update("text", "bye").Error
		}, "notes", "/notes", "notes=bye"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				e.warm(t, pages...)
				if err := tt.write(e.db); err != nil {
					t.Fatalf("write: %v", err)
				}
				e.wantPage(t, tt.page, tt.body, true)
				if _, tags := e.rec.invalidated(); !slices.Contains(tags, gormdumper.TableTag(tt.table)) {
					t.Errorf("invalidated tags %q, want %q among them", tags, gormdumper.TableTag(tt.table))
				}
			})
		})
	}
}

func TestTableTag(t *testing.T) {
	t.Parallel()
	if got, want := gormdumper.TableTag("ice_creams"), "table:ice_creams"; got != want {
		t.Errorf("TableTag(%q) = %q, want %q", "ice_creams", got, want)
	}
}

// TestIgnoresModelsWithoutDependencies checks that writes naming rows of a model that
// declares nothing invalidate no path and no declared tag: only their rows' change tags.
func TestIgnoresModelsWithoutDependencies(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		n := Note{Text: "a"}
		if err := e.db.Create(&n).Error; err != nil {
			t.Fatal(err)
		}
		if err := e.db.Model(&n).Update("text", "b").Error; err != nil {
			t.Fatal(err)
		}
		if err := e.db.Delete(&n).Error; err != nil {
			t.Fatal(err)
		}
		paths, tags := e.rec.invalidated()
		want := []string{"row:notes:id=" + fmt.Sprint(n.ID), "scan:notes"}
		if len(paths) != 0 || !slices.Equal(tags, want) {
			t.Errorf("invalidated paths %q tags %q, want tags %q only", paths, tags, want)
		}
	})
}

// TestAfterCommit is the race a transaction opens: after the update and before the commit,
// a request reads the old data outside the transaction and the cache stores the page. The
// commit must invalidate it again, so that the next request renders the new data.
func TestAfterCommit(t *testing.T) {
	t.Parallel()
	rename := func(db *gorm.DB, f *Flavor) error { return db.Model(f).Update("name", "Plain").Error }
	tests := []struct {
		name string
		cfg  func(*envConfig)
		// run makes the update in a transaction and calls between once the update is made
		// and the transaction is still open.
		run func(e *env, f *Flavor, between func()) error
	}{
		{"Begin and Commit", nil, func(e *env, f *Flavor, between func()) error {
			tx := e.db.Begin()
			if err := rename(tx, f); err != nil {
				tx.Rollback()
				return err
			}
			between()
			return tx.Commit().Error
		}},
		{"Transaction", nil, func(e *env, f *Flavor, between func()) error {
			return e.db.Transaction(func(tx *gorm.DB) error {
				if err := rename(tx, f); err != nil {
					return err
				}
				between()
				return nil
			})
		}},
		{"nested Transaction", nil, func(e *env, f *Flavor, between func()) error {
			return e.db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Transaction(func(tx *gorm.DB) error { return rename(tx, f) }); err != nil {
					return err
				}
				between()
				return nil
			})
		}},
		{"implicit transaction", nil, func(e *env, f *Flavor, between func()) error {
			// Read between the plugin's callback and GORM's commit of its own transaction.
			var armed atomic.Bool
			armed.Store(true)
			err := e.db.Callback().Update().After("gormdumper:after_update").Before("gorm:commit_or_rollback_transaction").
				Register("test:between", func(db *gorm.DB) {
					if armed.CompareAndSwap(true, false) {
						between()
					}
				})
			if err != nil {
				return err
			}
			return rename(e.db, f)
		}},
		{"PrepareStmt", func(c *envConfig) { c.gorm.PrepareStmt = true }, func(e *env, f *Flavor, between func()) error {
			return e.db.Transaction(func(tx *gorm.DB) error {
				if err := rename(tx, f); err != nil {
					return err
				}
				between()
				return nil
			})
		}},
		{"PrepareStmt session", nil, func(e *env, f *Flavor, between func()) error {
			tx := e.db.Session(&gorm.Session{PrepareStmt: true}).Begin()
			if err := rename(tx, f); err != nil {
				tx.Rollback()
				return err
			}
			between()
			return tx.Commit().Error
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				var cfgs []func(*envConfig)
				if tt.cfg != nil {
					cfgs = append(cfgs, tt.cfg)
				}
				e := newEnv(t, b, cfgs...)
				e.warm(t, pages...)
				between := func() {
					// A request reads outside the open transaction: the old data, stored.
					e.wantPage(t, "/flavors/vanilla", "flavor Vanilla sizes=Small", true)
					if w := e.get(t, "/flavors/vanilla"); !isHit(w) {
						t.Errorf("GET /flavors/vanilla in the transaction: Cache-Status %q, want the old page stored",
							w.Header().Get("Cache-Status"))
					}
				}
				if err := tt.run(e, e.flavor(t, "vanilla"), between); err != nil {
					t.Fatalf("transaction: %v", err)
				}
				e.wantPage(t, "/flavors/vanilla", "flavor Plain sizes=Small", true)
				e.wantFresh(t, pages...)
			})
		})
	}
}

// TestRollback checks the order of invalidations: one when the write is made, the same again
// after commit, and none after a rollback.
func TestRollback(t *testing.T) {
	t.Parallel()
	errAbort := errors.New("abort")
	tests := []struct {
		name    string
		run     func(e *env, f *Flavor, written func()) error
		wantErr error
		again   bool // invalidated again after the transaction
		renamed bool
	}{
		{"Commit", func(e *env, f *Flavor, written func()) error {
			tx := e.db.Begin()
			tx.Model(f).Update("name", "Plain")
			written()
			return tx.Commit().Error
		}, nil, true, true},
		{"Rollback", func(e *env, f *Flavor, written func()) error {
			tx := e.db.Begin()
			tx.Model(f).Update("name", "Plain")
			written()
			return tx.Rollback().Error
		}, nil, false, false},
		{"Transaction returning an error", func(e *env, f *Flavor, written func()) error {
			return e.db.Transaction(func(tx *gorm.DB) error {
				tx.Model(f).Update("name", "Plain")
				written()
				return errAbort
			})
		}, errAbort, false, false},
		{"savepoint rolled back, outer committed", func(e *env, f *Flavor, written func()) error {
			return e.db.Transaction(func(tx *gorm.DB) error {
				err := tx.Transaction(func(tx *gorm.DB) error {
					tx.Model(f).Update("name", "Plain")
					written()
					return errAbort
				})
				if !errors.Is(err, errAbort) {
					t.Errorf("nested Transaction = %v, want %v", err, errAbort)
				}
				return nil
			})
		}, nil, true, false}, // an extra invalidation, harmless
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				e.warm(t, pages...)
				var atWrite []call
				err := tt.run(e, e.flavor(t, "vanilla"), func() { atWrite = e.rec.snapshot() })
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("transaction = %v, want %v", err, tt.wantErr)
				}
				if len(atWrite) == 0 {
					t.Fatal("nothing invalidated when the write was made")
				}
				paths, _ := e.rec.invalidated()
				for _, p := range []string{"/", "/flavors/vanilla", "/sizes/small"} {
					if !slices.Contains(paths, p) {
						t.Errorf("invalidated paths %q, want %q among them", paths, p)
					}
				}
				after := e.rec.snapshot()[len(atWrite):]
				switch {
				case tt.again && !slices.EqualFunc(after, atWrite, equalCall):
					t.Errorf("invalidations after the transaction %v, want those made at the write again: %v", after, atWrite)
				case !tt.again && len(after) != 0:
					t.Errorf("invalidations after the rollback %v, want none", after)
				}
				body := "flavor Vanilla sizes=Small"
				if tt.renamed {
					body = "flavor Plain sizes=Small"
				}
				e.wantPage(t, "/flavors/vanilla", body, false)
				e.wantFresh(t, pages...)
			})
		})
	}
}

func equalCall(a, b call) bool { return a.tags == b.tags && slices.Equal(a.args, b.args) }

// TestInvalidationError checks the error policy: by default a failed invalidation is
// logged and passed to OnError, and neither the write nor the commit fails; with FailWrites
// it fails the write, which GORM's implicit transaction rolls back.
func TestInvalidationError(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		t.Run("at write", func(t *testing.T) {
			e := newEnv(t, b)
			e.fails.Store(true)
			if err := e.db.Model(e.flavor(t, "vanilla")).Update("name", "Plain").Error; err != nil {
				t.Errorf("Update = %v, want nil: a failed invalidation does not fail the write", err)
			}
			// Once at the write, once more after GORM's implicit transaction committed.
			e.wantReported(t, 2, "invalidation failed")
			if f := e.flavor(t, "vanilla"); f.Name != "Plain" {
				t.Errorf("name after the update %q, want %q", f.Name, "Plain")
			}
		})
		t.Run("at write, FailWrites", func(t *testing.T) {
			e := newEnv(t, b, func(c *envConfig) { c.options.FailWrites = true })
			e.fails.Store(true)
			err := e.db.Model(e.flavor(t, "vanilla")).Update("name", "Plain").Error
			if !errors.Is(err, gormdumper.ErrInvalidation) {
				t.Errorf("Update = %v, want an error wrapping ErrInvalidation", err)
			}
			e.wantReported(t, 1, "invalidation failed") // and no commit

			if f := e.flavor(t, "vanilla"); f.Name != "Vanilla" {
				t.Errorf("name after the failed update %q, want it rolled back to %q", f.Name, "Vanilla")
			}
		})
		for _, failWrites := range []bool{false, true} {
			t.Run(fmt.Sprintf("after commit, FailWrites %v", failWrites), func(t *testing.T) {
				e := newEnv(t, b, func(c *envConfig) { c.options.FailWrites = failWrites })
				tx := e.db.Begin()
				if err := tx.Model(e.flavor(t, "vanilla")).Update("name", "Plain").Error; err != nil {
					t.Fatalf("Update: %v", err)
				}
				e.fails.Store(true)
				if err := tx.Commit().Error; err != nil {
					t.Errorf("Commit = %v, want nil: the data is committed", err)
				}
				e.wantReported(t, 1, "after commit")
				e.fails.Store(false)
				if f := e.flavor(t, "vanilla"); f.Name != "Plain" {
					t.Errorf("name after commit %q, want %q", f.Name, "Plain")
				}
			})
		}
	})
}

// wantReported checks that n failed invalidations were passed to OnError, and that the log
// has an error mentioning msg.
func (e *env) wantReported(t *testing.T, n int, msg string) {
	t.Helper()
	for i := range n + 1 {
		select {
		case err := <-e.errs:
			if i == n {
				t.Errorf("OnError called %d times, want %d: %v", i+1, n, err)
			} else if !errors.Is(err, gormdumper.ErrInvalidation) {
				t.Errorf("OnError(%v), want an error wrapping ErrInvalidation", err)
			}
		default:
			if i < n {
				t.Errorf("OnError called %d times, want %d", i, n)
			}
		}
	}
	if logs := e.logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, msg) {
		t.Errorf("log %q, want an error saying %q", logs, msg)
	}
}

// TestFailedWrite checks that a write that fails in a transaction invalidates nothing when
// the transaction rolls back, as GORM's implicit one does: a duplicate slug must not refresh
// every page that reads the table. Without a transaction, it invalidates the table's tag.
func TestFailedWrite(t *testing.T) {
	t.Parallel()
	duplicate := func(db *gorm.DB) error { return db.Create(&Flavor{Slug: "vanilla", Name: "Vanilla again"}).Error }
	tests := []struct {
		name  string
		write func(db *gorm.DB) error
		tags  []string
	}{
		{"implicit transaction", duplicate, nil},
		{"Transaction", func(db *gorm.DB) error {
			return db.Transaction(func(tx *gorm.DB) error { return duplicate(tx) })
		}, nil},
		{"Begin and Rollback", func(db *gorm.DB) error {
			tx := db.Begin()
			err := duplicate(tx)
			tx.Rollback()
			return err
		}, nil},
		{"without a transaction", func(db *gorm.DB) error {
			return duplicate(db.Session(&gorm.Session{SkipDefaultTransaction: true}))
		}, []string{"table:flavors"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				e.warm(t, pages...)
				if err := tt.write(e.db); err == nil {
					t.Fatal("a duplicate slug was written")
				}
				e.wantInvalidated(t, nil, tt.tags)
				if len(tt.tags) == 0 {
					e.wantHits(t, pages, nil)
				}
			})
		})
	}
}

// TestForeignTransaction checks a write in a transaction the plugin did not begin: it is
// invalidated when made, and a warning says it cannot be after commit.
func TestForeignTransaction(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		e.warm(t, pages...)
		f := e.flavor(t, "vanilla")
		err := e.db.Connection(func(conn *gorm.DB) error {
			return conn.Transaction(func(tx *gorm.DB) error { return tx.Model(f).Update("name", "Plain").Error })
		})
		if err != nil {
			t.Fatalf("transaction: %v", err)
		}
		e.wantPage(t, "/flavors/vanilla", "flavor Plain sizes=Small", true)
		if logs := e.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "not begun through") {
			t.Errorf("log %q, want a warning about the foreign transaction", logs)
		}
	})
}

// TestTxPool checks a database opened over a *sql.Tx: the plugin leaves its pool alone, so
// that db.Transaction still works (as a savepoint), invalidates its writes when they are made,
// and says once, at Initialize, that it cannot see the commit.
func TestTxPool(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		base := b.open(t, &gorm.Config{Logger: logger.Discard})
		if err := base.AutoMigrate(models...); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		sqlDB, err := base.DB()
		if err != nil {
			t.Fatal(err)
		}
		sqlTx, err := sqlDB.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sqlTx.Rollback()
		var d gorm.Dialector = &sqlite.Dialector{Conn: sqlTx}
		if b.name == "postgres" {
			d = postgres.New(postgres.Config{Conn: sqlTx})
		}
		db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: false})
		if err != nil {
			t.Fatalf("open over a *sql.Tx: %v", err)
		}
		var fails atomic.Bool
		rec := &recorder{next: nopInvalidator{}, fails: &fails}
		logs := &syncBuffer{}
		plugin := gormdumper.NewWithOptions(rec, gormdumper.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err := db.Use(plugin); err != nil {
			t.Fatalf("Use: %v", err)
		}
		if got := strings.Count(logs.String(), "level=WARN"); got != 1 || !strings.Contains(logs.String(), "*sql.Tx") {
			t.Errorf("log after Use %q, want one warning about the *sql.Tx", logs.String())
		}
		for range 2 {
			err = db.Transaction(func(tx *gorm.DB) error { return tx.Create(&Topping{Name: "fudge"}).Error })
			if err != nil {
				t.Fatalf("Transaction over a *sql.Tx: %v", err)
			}
		}
		if err := db.Create(&Topping{Name: "caramel"}).Error; err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, tags := rec.invalidated(); !slices.Equal(slices.DeleteFunc(tags, isChangeTag), []string{"topping:caramel", "topping:fudge"}) {
			t.Errorf("invalidated tags %q, want the toppings' tags", tags)
		}
		if got := strings.Count(logs.String(), "level=WARN"); got != 1 {
			t.Errorf("log after the writes %q, want the one warning of Use only", logs.String())
		}
		if err := sqlTx.Commit(); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		var n int64
		if err := base.Model(&Topping{}).Count(&n).Error; err != nil || n != 3 {
			t.Errorf("toppings after commit: %d (%v), want 3", n, err)
		}
	})
}

type nopInvalidator struct{}

func (nopInvalidator) InvalidatePaths(context.Context, ...string) error { return nil }
func (nopInvalidator) InvalidateTags(context.Context, ...string) error  { return nil }

func TestInitialize(t *testing.T) {
	t.Parallel()
	t.Run("nil Invalidator", func(t *testing.T) {
		t.Parallel()
		db := openSQLite(t, &gorm.Config{})
		if err := db.Use(gormdumper.New(nil)); err == nil {
			t.Error("Use(New(nil)) = nil, want an error")
		}
	})
	t.Run("twice", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, backends[0])
		if err := e.db.Use(gormdumper.New(e.cache)); !errors.Is(err, gorm.ErrRegistered) {
			t.Errorf("second Use = %v, want %v", err, gorm.ErrRegistered)
		}
	})
	t.Run("DB still reachable", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, backends[0])
		if _, err := e.db.DB(); err != nil {
			t.Errorf("DB() = %v", err)
		}
		err := e.db.Transaction(func(tx *gorm.DB) error {
			sqlDB, err := tx.DB()
			if err != nil {
				return err
			}
			return sqlDB.Ping()
		})
		if err != nil {
			t.Errorf("DB() in a transaction: %v", err)
		}
	})
	t.Run("Name", func(t *testing.T) {
		t.Parallel()
		if got := gormdumper.New(nil).Name(); got != "gormdumper" {
			t.Errorf("Name() = %q, want %q", got, "gormdumper")
		}
	})
}
