package gormdumper_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"
)

// Gear is kept in gears: in the test's own schema, and in tests of tables of one name in two
// schemas (or SQLite databases), in another too.
type Gear struct {
	ID   uint   `gorm:"primaryKey"`
	Slug string `gorm:"uniqueIndex"`
	Name string
}

// GearKid is kept in gear_kids, with no foreign key in the test's own schema.
type GearKid struct {
	ID     uint `gorm:"primaryKey"`
	GearID uint
}

// GearRow is kept in gear_rows, in the test's own schema: in another, a view reads the
// table of that name. It declares no key but its primary key.
type GearRow struct {
	ID   uint `gorm:"primaryKey"`
	Slug string
	Name string
}

// GearFit is kept in gear_fits, in the other schema only, by a process whose models are all
// there.
type GearFit struct {
	ID     uint `gorm:"primaryKey"`
	GearID uint
	Gear   Gear
}

// schemaSite is a cache in front of processes that share one database, each with its own
// plugin, whose search_path's tables are gears and gear_kids, and another schema (or, on
// SQLite, an attached database) named other.
type schemaSite struct {
	cache *dumper.Cache
	dbs   []*gorm.DB
	dsn   string // PostgreSQL's
	other string
	pages int // served: each page has a path of its own
}

// newPostgresSchemas opens the PostgreSQL test database in a schema of its own in processes
// processes and makes another schema, dropped after the test.
func newPostgresSchemas(t *testing.T, processes int) *schemaSite {
	t.Helper()
	_, dsn := testservice.PostgresSchema(t, "gormdumper_")
	other, _ := testservice.PostgresSchema(t, "gormdumper_other_")
	s := &schemaSite{dsn: dsn, other: other}
	for range processes {
		s.dbs = append(s.dbs, s.open(t, &gorm.Config{Logger: logger.Discard}))
	}
	s.use(t)
	return s
}

// open opens the PostgreSQL test database in the test's schema with cfg.
func (s *schemaSite) open(t *testing.T, cfg *gorm.Config) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(postgres.Open(testservice.WithParam(s.dsn, "connect_timeout", "5")), cfg)
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	t.Cleanup(func() { closeDB(t, db) }) // before the schemas are dropped
	return db
}

// newSQLiteAttached opens a SQLite database, on one connection, with another attached to it
// as other.
func newSQLiteAttached(t *testing.T) *schemaSite {
	t.Helper()
	db := openSQLite(t, &gorm.Config{Logger: logger.Discard})
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(1) // ATTACH holds for its connection
	s := &schemaSite{dbs: []*gorm.DB{db}, other: "other"}
	s.exec(t, `ATTACH DATABASE ? AS other`, filepath.Join(t.TempDir(), "other.db"))
	s.use(t)
	return s
}

// use migrates gears and gear_kids and registers a plugin in each process.
func (s *schemaSite) use(t *testing.T) {
	t.Helper()
	if err := s.dbs[0].AutoMigrate(&Gear{}, &GearKid{}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	cache, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	s.cache = cache
	for _, db := range s.dbs {
		if err := db.Use(gormdumper.New(cache)); err != nil {
			t.Fatalf("Use: %v", err)
		}
	}
}

// exec runs sql, a statement the test sets up with, in the first process.
func (s *schemaSite) exec(t *testing.T, sql string, vars ...any) {
	t.Helper()
	if err := s.dbs[0].Exec(sql, vars...).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// page serves a page that process renders with read behind the cache; the func it returns
// requests it and reports whether it was served from the cache.
func (s *schemaSite) page(t *testing.T, process int, read func(db *gorm.DB) error) func() bool {
	t.Helper()
	db := s.dbs[process]
	s.pages++
	path := "/page/" + strconv.Itoa(s.pages)
	h := s.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := read(db.WithContext(r.Context())); err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Errorf("read: %v", err)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	return func() bool {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return isHit(w)
	}
}

// stored requests the page until it is served from the cache, failing if it is not stored.
func stored(t *testing.T, get func() bool) {
	t.Helper()
	if get(); !get() {
		t.Fatal("the response was not stored")
	}
}

// dropped fails the test unless write drops the page get requests.
func dropped(t *testing.T, get func() bool, write func() error) {
	t.Helper()
	stored(t, get)
	if err := write(); err != nil {
		t.Fatal(err)
	}
	if get() {
		t.Error("the write kept the response; want it dropped")
	}
}

// TestQualifiedTable checks that a statement that names its table with its schema,
// db.Table("other.gears") (of which GORM keeps "gears" in Statement.Table), is read and
// written with the catalog of other.gears, not of the search_path's gears: its key columns
// (other.gears.slug compares case-insensitively, so reads are not narrowed by it), its kind
// (other.gears may be a view) and what its writes set off (the foreign keys that reference
// it). Reads of tables of one name in two schemas are narrowed only by the keys of the one
// they read, even where the writer, in another process, has seen only that one.
func TestQualifiedTable(t *testing.T) {
	t.Parallel()
	t.Run("case-insensitive key", func(t *testing.T) {
		t.Parallel()
		s := newPostgresSchemas(t, 1)
		o := `"` + s.other + `"`
		s.exec(t, `CREATE COLLATION `+o+`.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`)
		s.exec(t, `CREATE TABLE `+o+`.gears (id bigserial PRIMARY KEY, slug text COLLATE `+o+`.ci NOT NULL UNIQUE, name text)`)
		s.exec(t, `INSERT INTO `+o+`.gears (slug, name) VALUES ('a', 'A')`)
		db := s.dbs[0]
		ours := s.page(t, 0, func(db *gorm.DB) error { return db.Where("slug = ?", "a").Find(&[]Gear{}).Error })
		stored(t, ours) // the search_path's gears.slug is a key
		get := s.page(t, 0, func(db *gorm.DB) error {
			return db.Table(s.other+".gears").Where("slug = ?", "A").First(&Gear{}).Error
		})
		dropped(t, get, func() error { return db.Table(s.other+".gears").Model(&Gear{ID: 1}).Update("name", "Z").Error })
		dropped(t, get, func() error { return db.Table(s.other+".gears").Where("id = ?", 1).Delete(&Gear{}).Error })
		dropped(t, get, func() error { return db.Table(s.other + ".gears").Create(&Gear{Slug: "a", Name: "new"}).Error })
	})
	t.Run("view", func(t *testing.T) {
		t.Parallel()
		s := newPostgresSchemas(t, 1)
		if err := s.dbs[0].AutoMigrate(&GearRow{}); err != nil {
			t.Fatal(err)
		}
		o := `"` + s.other + `"`
		s.exec(t, `CREATE TABLE `+o+`.gear_rows (id bigserial PRIMARY KEY, slug text, name text)`)
		s.exec(t, `INSERT INTO `+o+`.gear_rows (slug, name) VALUES ('a', 'A')`)
		s.exec(t, `CREATE VIEW `+o+`.gears AS SELECT id, slug, name FROM `+o+`.gear_rows`)
		get := s.page(t, 0, func(db *gorm.DB) error {
			return db.Table(s.other+".gears").Where("id = ?", 1).First(&Gear{}).Error
		})
		sub := s.page(t, 0, func(db *gorm.DB) error { // a subquery of the view
			return db.Where("gear_id IN (?)", db.Table(s.other+".gears").Select("id")).Find(&[]GearKid{}).Error
		})
		// A process whose models are all in the other schema, that joins the view.
		s.exec(t, `CREATE TABLE `+o+`.gear_fits (id bigserial PRIMARY KEY, gear_id bigint)`)
		s.exec(t, `INSERT INTO `+o+`.gear_fits (gear_id) VALUES (1)`)
		theirs := s.open(t, &gorm.Config{Logger: logger.Discard, NamingStrategy: schema.NamingStrategy{TablePrefix: s.other + "."}})
		if err := theirs.Use(gormdumper.New(s.cache)); err != nil {
			t.Fatal(err)
		}
		s.dbs = append(s.dbs, theirs)
		joined := s.page(t, 1, func(db *gorm.DB) error { return db.Joins("Gear").Find(&[]GearFit{}).Error })
		for i, get := range []func() bool{get, sub, joined} {
			dropped(t, get, func() error {
				return s.dbs[0].Table(s.other+".gear_rows").Where("id = ?", 1).Update("name", fmt.Sprint("Z", i)).Error
			})
		}
	})
	t.Run("foreign-key action", func(t *testing.T) {
		t.Parallel()
		s := newPostgresSchemas(t, 1)
		o := `"` + s.other + `"`
		s.exec(t, `CREATE TABLE `+o+`.gears (id bigserial PRIMARY KEY, slug text, name text)`)
		s.exec(t, `CREATE TABLE `+o+`.gear_kids (id bigserial PRIMARY KEY, gear_id bigint REFERENCES `+o+`.gears ON DELETE CASCADE)`)
		s.exec(t, `INSERT INTO `+o+`.gears VALUES (1, 'a', 'A'); INSERT INTO `+o+`.gear_kids VALUES (1, 1)`)
		get := s.page(t, 0, func(db *gorm.DB) error {
			var n int64
			return db.Table(s.other + ".gear_kids").Count(&n).Error
		})
		dropped(t, get, func() error { return s.dbs[0].Table(s.other + ".gears").Delete(&Gear{ID: 1}).Error })
	})
	t.Run("a key of the other schema's table only", func(t *testing.T) {
		t.Parallel()
		s := newPostgresSchemas(t, 2) // the writer, the second, never reads other.gears
		o := `"` + s.other + `"`
		s.exec(t, `CREATE TABLE `+o+`.gears (id bigserial PRIMARY KEY, slug text, name text UNIQUE)`)
		if err := s.dbs[0].Create(&Gear{Slug: "a", Name: "A"}).Error; err != nil {
			t.Fatal(err)
		}
		theirs := s.page(t, 0, func(db *gorm.DB) error {
			return db.Table(s.other+".gears").Where("name = ?", "q").Find(&[]Gear{}).Error
		})
		stored(t, theirs) // other.gears.name is a key
		get := s.page(t, 0, func(db *gorm.DB) error { return db.Where("name = ?", "A").First(&Gear{}).Error })
		dropped(t, get, func() error { return s.dbs[1].Model(&Gear{ID: 1}).Update("slug", "b").Error })
	})
	t.Run("an inheritance child", func(t *testing.T) {
		t.Parallel()
		s := newPostgresSchemas(t, 2) // the writer, the second, never reads the search_path's gears
		o := `"` + s.other + `"`
		s.exec(t, `CREATE TABLE `+o+`.gear_all (id bigserial PRIMARY KEY, slug text UNIQUE, name text)`)
		s.exec(t, `CREATE TABLE `+o+`.gears () INHERITS (`+o+`.gear_all)`) // slug is no key of its own
		get := s.page(t, 0, func(db *gorm.DB) error {
			return db.Table(s.other+".gear_all").Where("slug = ?", "x").Find(&[]Gear{}).Error
		})
		dropped(t, get, func() error { return s.dbs[1].Table(s.other + ".gears").Create(&GearRow{Slug: "x"}).Error })
	})
}

// TestQualifiedTableSQLite is TestQualifiedTable on SQLite, for a table of an attached
// database, other.gears, beside the main database's gears.
func TestQualifiedTableSQLite(t *testing.T) {
	t.Parallel()
	t.Run("case-insensitive key", func(t *testing.T) {
		t.Parallel()
		s := newSQLiteAttached(t)
		s.exec(t, `CREATE TABLE other.gears (id integer PRIMARY KEY, slug text COLLATE NOCASE NOT NULL UNIQUE, name text)`)
		s.exec(t, `INSERT INTO other.gears (slug, name) VALUES ('a', 'A')`)
		db := s.dbs[0]
		ours := s.page(t, 0, func(db *gorm.DB) error { return db.Where("slug = ?", "a").Find(&[]Gear{}).Error })
		stored(t, ours) // main's gears.slug is a key
		get := s.page(t, 0, func(db *gorm.DB) error {
			return db.Table("other.gears").Where("slug = ?", "A").First(&Gear{}).Error
		})
		dropped(t, get, func() error { return db.Table("other.gears").Model(&Gear{ID: 1}).Update("name", "Z").Error })
	})
	t.Run("foreign-key action", func(t *testing.T) {
		t.Parallel()
		s := newSQLiteAttached(t)
		s.exec(t, `CREATE TABLE other.gears (id integer PRIMARY KEY, slug text, name text)`)
		s.exec(t, `CREATE TABLE other.gear_kids (id integer PRIMARY KEY, gear_id integer REFERENCES gears ON DELETE CASCADE)`)
		s.exec(t, `INSERT INTO other.gears VALUES (1, 'a', 'A')`)
		s.exec(t, `INSERT INTO other.gear_kids VALUES (1, 1)`)
		get := s.page(t, 0, func(db *gorm.DB) error {
			var n int64
			return db.Table("other.gear_kids").Count(&n).Error
		})
		dropped(t, get, func() error { return s.dbs[0].Table("other.gears").Delete(&Gear{ID: 1}).Error })
	})
}
