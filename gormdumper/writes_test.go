package gormdumper_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/internal/wait"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Cone has a unique slug besides its primary key, and no soft delete: its deletes are
// DELETE statements.
type Cone struct {
	ID     uint   `gorm:"primaryKey"`
	Slug   string `gorm:"size:100;not null;uniqueIndex"`
	Name   string `gorm:"size:200"`
	Scoops int
}

// cones is a database of cones a, b and c (ids 1, 2, 3) behind a cache with read capture,
// serving /slug/{slug} and /id/{id}: each page reads one cone by that key.
type cones struct {
	db    *gorm.DB
	cache *dumper.Cache
	site  http.Handler // uncached
	h     http.Handler // the site behind the cache
	rec   *recorder
}

func newCones(t *testing.T, b backend) *cones {
	t.Helper()
	return newConesOf(t, b, "")
}

// newConesOf is newCones with the table cones made by ddl ("": by AutoMigrate).
func newConesOf(t *testing.T, b backend, ddl string) *cones {
	t.Helper()
	db := b.open(t, &gorm.Config{Logger: logger.Discard})
	if ddl == "" {
		if err := db.AutoMigrate(&Cone{}); err != nil {
			t.Fatal(err)
		}
	} else if err := db.Exec(ddl).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create([]*Cone{{Slug: "a", Name: "A"}, {Slug: "b", Name: "B"}, {Slug: "c", Name: "C"}}).Error; err != nil {
		t.Fatal(err)
	}
	cache, err := dumper.New(dumper.Options{Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	c := &cones{db: db, cache: cache, site: coneSite(db), rec: &recorder{next: cache, fails: new(atomic.Bool)}}
	c.h = cache.Middleware(c.site)
	if err := db.Use(gormdumper.New(c.rec)); err != nil {
		t.Fatal(err)
	}
	return c
}

// coneSite renders a cone by slug or id, "none" if there is no such cone.
func coneSite(db *gorm.DB) http.Handler {
	show := func(w http.ResponseWriter, q *gorm.DB) {
		var c Cone
		switch err := q.Take(&c).Error; err {
		case nil:
			fmt.Fprintf(w, "%d %s %s %d", c.ID, c.Slug, c.Name, c.Scoops)
		case gorm.ErrRecordNotFound:
			fmt.Fprint(w, "none")
		default:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slug/{slug}", func(w http.ResponseWriter, r *http.Request) {
		show(w, db.WithContext(r.Context()).Where("slug = ?", r.PathValue("slug")))
	})
	mux.HandleFunc("GET /id/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		show(w, db.WithContext(r.Context()).Where("id = ?", id))
	})
	return mux
}

// conePages are the pages of the cones and of cones that do not exist yet.
var conePages = []string{"/slug/a", "/slug/b", "/slug/c", "/slug/y", "/slug/z", "/id/1", "/id/2", "/id/3", "/id/9"}

func (c *cones) get(path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

// warm caches paths, failing the test if one is not stored.
func (c *cones) warm(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		c.get(p)
		if w := c.get(p); !isHit(w) {
			t.Fatalf("GET %s twice: Cache-Status %q, want a hit", p, w.Header().Get("Cache-Status"))
		}
	}
}

// wantFresh checks that the cache serves each path as the site renders it now.
func (c *cones) wantFresh(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		want := httptest.NewRecorder()
		c.site.ServeHTTP(want, httptest.NewRequest(http.MethodGet, p, nil))
		if got := c.get(p); got.Body.String() != want.Body.String() {
			t.Errorf("GET %s = %q (Cache-Status %q), want %q (stale page)",
				p, got.Body.String(), got.Header().Get("Cache-Status"), want.Body.String())
		}
	}
}

// TestReplacingWrites: on SQLite, INSERT OR REPLACE and UPDATE OR REPLACE delete the rows
// whose unique keys the rows written take, and an upsert without a conflict target updates
// the row of whichever unique key conflicts: rows the statement does not name change. A
// modifier that only skips rows (OR IGNORE) keeps its writes' precision.
func TestReplacingWrites(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		write  func(db *gorm.DB) error
		bulk   bool // the table's tag is stamped
		reason string
	}{
		{"INSERT OR REPLACE of a row", func(db *gorm.DB) error {
			return db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&Cone{ID: 1, Slug: "z", Name: "Z"}).Error
		}, true, "replaces cone a (slug a gone)"},
		{"INSERT OR REPLACE on another key", func(db *gorm.DB) error {
			return db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&Cone{ID: 9, Slug: "b", Name: "B9"}).Error
		}, true, "deletes cone 2"},
		{"UPDATE OR REPLACE", func(db *gorm.DB) error {
			return db.Clauses(clause.Update{Modifier: "OR REPLACE"}).Model(&Cone{ID: 1}).Update("slug", "b").Error
		}, true, "deletes cone 2"},
		{"upsert without a conflict target", func(db *gorm.DB) error {
			return db.Clauses(clause.OnConflict{DoUpdates: clause.Assignments(map[string]any{"slug": "y"})}).
				Create(&Cone{ID: 9, Slug: "b", Name: "B9"}).Error
		}, true, "renames cone 2 from b to y"},
		{"INSERT OR IGNORE", func(db *gorm.DB) error {
			return db.Clauses(clause.Insert{Modifier: "OR IGNORE"}).Create(&Cone{ID: 9, Slug: "z", Name: "Z"}).Error
		}, false, "adds cone 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantConeWrite(t, "", tt.write, tt.bulk, tt.reason)
		})
	}
}

// wantConeWrite runs write on a SQLite cones table made by ddl ("": by AutoMigrate), with its
// pages cached, and checks that they are fresh after it and that the table's tag was stamped
// if and only if bulk; reason says what the write does to the rows.
func wantConeWrite(t *testing.T, ddl string, write func(db *gorm.DB) error, bulk bool, reason string) {
	t.Helper()
	c := newConesOf(t, backend{"sqlite", openSQLite}, ddl)
	c.warm(t, conePages...)
	c.rec.reset()
	if err := write(c.db); err != nil {
		t.Fatal(err)
	}
	c.wantFresh(t, conePages...)
	_, tags := c.rec.invalidated()
	if got := slices.Contains(tags, "table:cones"); got != bulk {
		t.Errorf("the write (it %s) stamped %q; the table's tag among them: %v, want %v", reason, tags, got, bulk)
	}
}

// TestDeclaredReplace: on SQLite, a table whose definition declares the conflict clause
// REPLACE (on a column's UNIQUE, on its PRIMARY KEY, on a table constraint) makes a plain
// INSERT or UPDATE that conflicts delete the row it conflicts with, as INSERT OR REPLACE
// does: every such write stamps the table's tag. A table without it, even with the words in
// a string literal, keeps its writes' precision.
func TestDeclaredReplace(t *testing.T) {
	t.Parallel()
	const (
		column     = `CREATE TABLE cones (id integer PRIMARY KEY, slug text NOT NULL UNIQUE ON CONFLICT REPLACE, name text, scoops integer)`
		primaryKey = `CREATE TABLE cones (id integer PRIMARY KEY ON CONFLICT REPLACE, slug text NOT NULL UNIQUE, name text, scoops integer)`
		constraint = `CREATE TABLE "cones" (id integer PRIMARY KEY, slug text NOT NULL, name text, scoops integer,
			UNIQUE (slug) on /* the conflict clause */ Conflict
			replace)`
		control = `CREATE TABLE cones (id integer PRIMARY KEY, slug text NOT NULL UNIQUE, name text, scoops integer,
			"on conflict replace" text, CHECK (name <> 'it may on conflict replace'))`
	)
	insert := func(c *Cone) func(db *gorm.DB) error {
		return func(db *gorm.DB) error { return db.Create(c).Error }
	}
	update := func(id uint, col string, v any) func(db *gorm.DB) error {
		return func(db *gorm.DB) error { return db.Model(&Cone{ID: id}).Update(col, v).Error }
	}
	tests := []struct {
		name   string
		ddl    string
		write  func(db *gorm.DB) error
		bulk   bool // the table's tag is stamped
		reason string
	}{
		{"UNIQUE ON CONFLICT REPLACE, insert", column, insert(&Cone{ID: 9, Slug: "b", Name: "B9"}), true, "deletes cone 2"},
		{"UNIQUE ON CONFLICT REPLACE, update", column, update(1, "slug", "b"), true, "deletes cone 2"},
		{"UNIQUE ON CONFLICT REPLACE, upsert", column, func(db *gorm.DB) error {
			return db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, UpdateAll: true}).
				Create(&Cone{ID: 9, Slug: "c", Name: "C9"}).Error
		}, true, "deletes cone 3"},
		{"PRIMARY KEY ON CONFLICT REPLACE, insert", primaryKey, insert(&Cone{ID: 2, Slug: "z", Name: "Z"}), true, "replaces cone b (slug b gone)"},
		{"PRIMARY KEY ON CONFLICT REPLACE, update", primaryKey, update(1, "id", 2), true, "deletes cone 2"},
		{"UNIQUE (…) ON CONFLICT REPLACE, insert", constraint, insert(&Cone{ID: 9, Slug: "c", Name: "C9"}), true, "deletes cone 3"},
		{"UNIQUE (…) ON CONFLICT REPLACE, update", constraint, update(2, "slug", "a"), true, "deletes cone 1"},
		{"no REPLACE, insert", control, insert(&Cone{ID: 9, Slug: "z", Name: "Z"}), false, "adds cone 9"},
		{"no REPLACE, update", control, update(1, "name", "A1"), false, "renames cone 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantConeWrite(t, tt.ddl, tt.write, tt.bulk, tt.reason)
		})
	}
}

// TestDeclaredReplaceCascades: the row a table's conflict clause REPLACE deletes sets off the
// ON DELETE actions of the foreign keys that reference it, as a delete does.
func TestDeclaredReplaceCascades(t *testing.T) {
	t.Parallel()
	c := newConesOf(t, backend{"sqlite", openSQLite},
		`CREATE TABLE cones (id integer PRIMARY KEY, slug text NOT NULL UNIQUE ON CONFLICT REPLACE, name text, scoops integer)`)
	for _, q := range []string{
		`CREATE TABLE cone_orders (id integer PRIMARY KEY, cone_id integer REFERENCES cones (id) ON DELETE CASCADE)`,
		`INSERT INTO cone_orders (id, cone_id) VALUES (1, 2)`,
	} {
		if err := c.db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	c.warm(t, conePages...)
	c.rec.reset()
	if err := c.db.Create(&Cone{ID: 9, Slug: "b", Name: "B9"}).Error; err != nil {
		t.Fatal(err)
	}
	var orders int64
	if err := c.db.Table("cone_orders").Count(&orders).Error; err != nil {
		t.Fatal(err)
	}
	if orders != 0 {
		t.Fatalf("%d orders left, want the order of cone 2 deleted with it", orders)
	}
	c.wantFresh(t, conePages...)
	if _, tags := c.rec.invalidated(); !slices.Contains(tags, "table:cone_orders") {
		t.Errorf("the insert (it deletes cone 2, and its order with it) stamped %q, want table:cone_orders among them", tags)
	}
}

// TestModelWithOr: GORM appends the condition on the keys of an update's or a delete's model
// value to the statement's conditions without parentheses, so that with an Or (or a
// fragment with an OR it does not wrap) the write changes rows the model does not name:
// WHERE slug = 'b' OR scoops = 5 AND id = 1. A conjunction keeps the write's precision.
func TestModelWithOr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(db *gorm.DB) error
		bulk  bool // the table's tag is stamped
	}{
		{"update with Or", func(db *gorm.DB) error {
			return db.Model(&Cone{ID: 1}).Where("slug = ?", "b").Or("scoops = ?", 5).Update("name", "X").Error
		}, true},
		{"update with a fragment holding OR", func(db *gorm.DB) error {
			return db.Model(&Cone{ID: 1}).Where("slug = ? OR(scoops = ?)", "b", 5).Update("slug", "y").Error
		}, true},
		{"delete with Or", func(db *gorm.DB) error {
			return db.Or("slug = ?", "c").Delete(&Cone{ID: 1}).Error
		}, true},
		{"delete with a fragment holding OR", func(db *gorm.DB) error {
			return db.Where("slug = ? OR(scoops = ?)", "c", 5).Delete(&Cone{ID: 1}).Error
		}, true},
		{"delete with a fragment that closes GORM's parentheses", func(db *gorm.DB) error {
			return db.Where("slug = ?) OR (scoops = ?", "c", 5).Delete(&Cone{ID: 1}).Error
		}, true},
		{"update with a conjunction", func(db *gorm.DB) error {
			return db.Model(&Cone{ID: 1}).Where("scoops = ?", 0).Where("slug <> ?", "q").Update("slug", "y").Error
		}, false},
		{"delete with a conjunction", func(db *gorm.DB) error {
			return db.Where("scoops = ?", 0).Delete(&Cone{ID: 1}).Error
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				c := newCones(t, b)
				c.warm(t, conePages...)
				c.rec.reset()
				if err := tt.write(c.db); err != nil {
					t.Fatal(err)
				}
				c.wantFresh(t, conePages...)
				_, tags := c.rec.invalidated()
				if got := slices.Contains(tags, "table:cones"); got != tt.bulk {
					t.Errorf("stamped %q; the table's tag among them: %v, want %v", tags, got, tt.bulk)
				}
			})
		})
	}
}

// pauseKey is the context key of a write that pauses after the plugin loaded its rows.
type pauseKey struct{}

// pause is what a paused write signals (paused) and waits for (resume).
type pause struct{ paused, resume chan struct{} }

// pauseWrites makes the writes of db whose context holds a pause wait, after the
// plugin loaded their rows and before they write.
func pauseWrites(t *testing.T, db *gorm.DB) {
	t.Helper()
	wait := func(db *gorm.DB) {
		if p, ok := db.Statement.Context.Value(pauseKey{}).(*pause); ok {
			close(p.paused)
			<-p.resume
		}
	}
	if err := db.Callback().Update().After("gormdumper:before_update").Before("gorm:update").Register("test:pause_update", wait); err != nil {
		t.Fatal(err)
	}
	if err := db.Callback().Delete().After("gormdumper:before_delete").Before("gorm:delete").Register("test:pause_delete", wait); err != nil {
		t.Fatal(err)
	}
	if err := db.Callback().Create().After("gormdumper:before_create").Before("gorm:create").Register("test:pause_create", wait); err != nil {
		t.Fatal(err)
	}
}

// TestWriteRaces: under PostgreSQL's READ COMMITTED, a write whose rows another transaction
// changes or inserts while it runs changes them as that transaction committed them, not as
// the plugin loaded them before the write: the load locks the rows, so that a write waits
// for the other transaction before the load (and loads the rows as they are then), and a
// row inserted between the load and the write (which no lock can hold off) makes the write
// change more rows than it loaded: it stamps the table tag. A page rendered after the other
// transaction committed and before the write's commits, from the rows as that transaction
// left them, must not stay cached.
func TestWriteRaces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		other func(tx *gorm.DB) error // another transaction's write, committed while write runs
		write func(tx *gorm.DB) error
		pause bool // write pauses after its load until other commits; else it waits for other's lock
	}{
		{"delete while a rename commits",
			func(tx *gorm.DB) error { return tx.Model(&Cone{ID: 2}).Update("slug", "y").Error },
			func(tx *gorm.DB) error { return tx.Delete(&Cone{ID: 2}).Error }, false},
		{"rename while a rename commits",
			func(tx *gorm.DB) error { return tx.Model(&Cone{ID: 2}).Update("slug", "y").Error },
			func(tx *gorm.DB) error { return tx.Model(&Cone{ID: 2}).Update("slug", "z").Error }, false},
		{"delete by conditions while a rename commits",
			func(tx *gorm.DB) error { return tx.Model(&Cone{ID: 2}).Update("slug", "y").Error },
			func(tx *gorm.DB) error { return tx.Delete(&Cone{}, 2).Error }, false},
		{"delete of a row inserted meanwhile",
			func(tx *gorm.DB) error { return tx.Create(&Cone{ID: 9, Slug: "y", Name: "Y"}).Error },
			func(tx *gorm.DB) error { return tx.Delete(&Cone{ID: 9}).Error }, true},
		{"rename of a row inserted meanwhile",
			func(tx *gorm.DB) error { return tx.Create(&Cone{ID: 9, Slug: "y", Name: "Y"}).Error },
			func(tx *gorm.DB) error { return tx.Model(&Cone{ID: 9}).Update("slug", "z").Error }, true},
		{"insert of a row deleted meanwhile, ON CONFLICT DO NOTHING",
			func(tx *gorm.DB) error { return tx.Delete(&Cone{ID: 3}).Error },
			func(tx *gorm.DB) error {
				return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Cone{ID: 3, Slug: "y", Name: "Y"}).Error
			}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCones(t, backend{"postgres", openPostgres})
			pauseWrites(t, c.db)
			outside, err := gorm.Open(c.db.Dialector, &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			c.warm(t, conePages...)
			other := c.db.Begin()
			var pid int
			if err := other.Raw("SELECT pg_backend_pid()").Scan(&pid).Error; err != nil {
				t.Fatal(err)
			}
			if err := tt.other(other); err != nil {
				t.Fatal(err)
			}
			p := &pause{paused: make(chan struct{}), resume: make(chan struct{})}
			ctx := t.Context()
			if tt.pause {
				ctx = context.WithValue(ctx, pauseKey{}, p)
			}
			written, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() {
				done <- c.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					if err := tt.write(tx); err != nil {
						return err
					}
					close(written)
					<-release
					return nil
				})
			}()
			if tt.pause {
				<-p.paused
			} else {
				wait.For(t, 10*time.Second, "the write waiting for the other transaction's lock", func() bool {
					var n int
					err := outside.Raw("SELECT count(*) FROM pg_stat_activity WHERE ? = ANY (pg_blocking_pids(pid))", pid).Scan(&n).Error
					if err != nil {
						t.Fatal(err)
					}
					return n > 0
				})
			}
			if err := other.Commit().Error; err != nil {
				t.Fatal(err)
			}
			close(p.resume)
			select {
			case <-written:
			case err := <-done:
				t.Fatalf("write: %v", err)
			}
			for _, path := range conePages {
				c.get(path) // stored from the rows as the other transaction left them
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatalf("write: %v", err)
			}
			c.wantFresh(t, conePages...)
		})
	}
}
