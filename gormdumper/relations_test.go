package gormdumper_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Writer is a table; WriterView, WriterMat and WriterJoin read it through a view, a
// materialized view and a view over a join.
type Writer struct {
	ID   int    `gorm:"primaryKey"`
	Slug string `gorm:"uniqueIndex"`
	Name string
}

type WriterView struct {
	ID   int `gorm:"primaryKey"`
	Slug string
	Name string
}

func (WriterView) TableName() string { return "writer_view" }

type WriterMat struct {
	ID   int `gorm:"primaryKey"`
	Name string
}

func (WriterMat) TableName() string { return "writer_mat" }

// relationEnv is a database with writers behind a cache whose pages are read fresh and
// through the cache.
type relationEnv struct {
	db    *gorm.DB
	cache *dumper.Cache
}

func newRelationEnv(t *testing.T, db *gorm.DB, migration ...string) *relationEnv {
	t.Helper()
	if err := db.AutoMigrate(&Writer{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&[]Writer{{ID: 1, Slug: "ann", Name: "Ann"}, {ID: 2, Slug: "bob", Name: "Bob"}}).Error; err != nil {
		t.Fatal(err)
	}
	for _, m := range migration {
		if err := db.Exec(m).Error; err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
	cache, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	if err := db.Use(gormdumper.New(cache)); err != nil {
		t.Fatal(err)
	}
	return &relationEnv{db: db, cache: cache}
}

// page renders read through the cache and returns the body and whether it was a hit.
func (e *relationEnv) page(path string, read func(db *gorm.DB) string) (string, bool) {
	h := e.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, read(e.db.WithContext(r.Context())))
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Body.String(), isHit(w)
}

type relationCase struct {
	name      string
	read      func(db *gorm.DB) string
	write     func(db *gorm.DB) error
	wantStore bool // the page is cached before the write
}

// check renders each case's page twice (the second is a hit when the page is stored), writes,
// and checks that the page then is what a fresh read gives.
func (e *relationEnv) check(t *testing.T, cases []relationCase) {
	t.Helper()
	for _, c := range cases {
		p := "/" + c.name
		first, _ := e.page(p, c.read)
		if _, hit := e.page(p, c.read); hit != c.wantStore {
			t.Errorf("%s: stored %v, want %v", c.name, hit, c.wantStore)
		}
		if err := c.write(e.db); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
		fresh := c.read(e.db)
		if fresh == first {
			t.Fatalf("%s: the write changed nothing the page shows (%q)", c.name, fresh)
		}
		if got, hit := e.page(p, c.read); got != fresh {
			t.Errorf("%s: stale: page %q (hit %v), fresh %q", c.name, got, hit, fresh)
		}
	}
}

func show(v any, err error) string { return fmt.Sprint(v, err) }

// TestViewReads checks that a read of a view depends on the tables the view reads, so that a
// write to them drops it; that a write through a view drops the pages of its table; and that
// a read of a materialized view is not stored.
func TestViewReads(t *testing.T) {
	t.Parallel()
	e := newRelationEnv(t, openPostgres(t, &gorm.Config{Logger: logger.Discard}),
		`CREATE VIEW writer_view AS SELECT id, slug, name FROM writers`,
		`CREATE VIEW writer_view2 AS SELECT * FROM writer_view WHERE id > 0`,
		`CREATE MATERIALIZED VIEW writer_mat AS SELECT id, name FROM writers`)
	e.check(t, []relationCase{
		{"view-by-key", func(db *gorm.DB) string {
			var v WriterView
			return show(v, db.First(&v, 1).Error)
		}, func(db *gorm.DB) error { return db.Model(&Writer{ID: 1}).Update("name", "Ann2").Error }, true},
		{"view-scan", func(db *gorm.DB) string {
			var v []WriterView
			return show(v, db.Order("id").Find(&v).Error)
		}, func(db *gorm.DB) error { return db.Model(&Writer{ID: 2}).Update("name", "Bob2").Error }, true},
		{"view-of-view", func(db *gorm.DB) string {
			var v []WriterView
			return show(v, db.Table("writer_view2").Where("slug = ?", "ann").Find(&v).Error)
		}, func(db *gorm.DB) error { return db.Model(&Writer{ID: 1}).Update("name", "Ann3").Error }, true},
		{"view-joined", func(db *gorm.DB) string {
			var v []Writer
			return show(v, db.Joins("JOIN writer_view ON writer_view.id = writers.id").Where("writer_view.name = ?", "Bob2").Find(&v).Error)
		}, func(db *gorm.DB) error { return db.Model(&Writer{ID: 2}).Update("name", "Bob3").Error }, false},
		{"write-through-view", func(db *gorm.DB) string {
			var w Writer
			return show(w, db.First(&w, 2).Error)
		}, func(db *gorm.DB) error { return db.Model(&WriterView{ID: 2}).Update("name", "Bob4").Error }, true},
		{"materialized-view", func(db *gorm.DB) string {
			var v []WriterMat
			return show(v, db.Order("id").Find(&v).Error)
		}, func(db *gorm.DB) error { return db.Exec("REFRESH MATERIALIZED VIEW writer_mat").Error }, false},
	})
}

// TestSQLiteViewReads checks that a read of a SQLite view (whose tables only its SQL names)
// is not stored.
func TestSQLiteViewReads(t *testing.T) {
	t.Parallel()
	e := newRelationEnv(t, openSQLite(t, &gorm.Config{Logger: logger.Discard}),
		`CREATE VIEW writer_view AS SELECT id, slug, name FROM writers`)
	e.check(t, []relationCase{
		{"view-by-key", func(db *gorm.DB) string {
			var v WriterView
			return show(v, db.First(&v, 1).Error)
		}, func(db *gorm.DB) error { return db.Model(&Writer{ID: 1}).Update("name", "Ann2").Error }, false},
	})
}

// Folded has text columns that SQLite compares without case (by the column's collation, or
// the one of its unique index) or without trailing spaces, and one it compares byte-wise.
// The schema spells the column of Kind in capitals.
type Folded struct {
	ID    int    `gorm:"primaryKey"`
	Slug  string `gorm:"uniqueIndex"`
	Code  string `gorm:"uniqueIndex"`
	Trim  string `gorm:"uniqueIndex"`
	Exact string `gorm:"uniqueIndex"`
	Kind  string `gorm:"uniqueIndex"`
	Name  string
}

// TestSQLiteCollations checks that on SQLite a read narrowed by a text column that the
// database compares otherwise than byte-wise is a scan, which a write to another row's key
// spelling drops, and that a byte-wise column still narrows.
func TestSQLiteCollations(t *testing.T) {
	t.Parallel()
	db := openSQLite(t, &gorm.Config{Logger: logger.Discard})
	if err := db.Exec(`CREATE TABLE foldeds (id integer PRIMARY KEY, slug text COLLATE NOCASE UNIQUE,
		code text, trim text COLLATE RTRIM, exact text UNIQUE, name text, KIND text COLLATE NOCASE UNIQUE);
		CREATE UNIQUE INDEX foldeds_code ON foldeds (code COLLATE NOCASE);
		CREATE UNIQUE INDEX foldeds_trim ON foldeds (trim);
		INSERT INTO foldeds VALUES (1, 'vanilla', 'v', 'x', 'e', 'Vanilla', 'k')`).Error; err != nil {
		t.Fatal(err)
	}
	e := newRelationEnv(t, db)
	by := func(col, v string) func(db *gorm.DB) string {
		return func(db *gorm.DB) string {
			var f Folded
			return show(f.Name, db.Where(col+" = ?", v).First(&f).Error)
		}
	}
	n := 0
	rename := func(db *gorm.DB) error {
		n++
		return db.Model(&Folded{ID: 1}).Update("name", fmt.Sprint("Vanilla", n)).Error
	}
	e.check(t, []relationCase{
		{"column-nocase", by("slug", "VANILLA"), rename, true},
		{"index-nocase", by("code", "v"), rename, true},
		{"column-rtrim", by("trim", "x  "), rename, true},
		{"column-nocase-in-capitals", by("kind", "K"), rename, true},
	})
	if err := db.Exec(`INSERT INTO foldeds VALUES (2, 'mint', 'm', 'y', 'e2', 'Mint', 'k2')`).Error; err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		read func(db *gorm.DB) string
		kept bool
	}{{"exact", by("exact", "e"), true}, {"slug", by("slug", "VANILLA"), false}} {
		e.page("/kept-"+c.name, c.read)
		if err := db.Model(&Folded{ID: 2}).Update("name", "Mint2").Error; err != nil {
			t.Fatal(err)
		}
		if _, hit := e.page("/kept-"+c.name, c.read); hit != c.kept {
			t.Errorf("read by %s: kept %v after a write to another row, want %v", c.name, hit, c.kept)
		}
	}
}

// Part is a row of a partitioned table (parts) or of its partitions; Heir one of a table
// with an inheritance child.
type Part struct {
	ID int `gorm:"primaryKey;autoIncrement:false"`
	K  int `gorm:"primaryKey;autoIncrement:false"`
	V  string
}

type Heir struct {
	ID int `gorm:"primaryKey;autoIncrement:false"`
	V  string
}

// TestPartitionReads checks that a read of a partitioned table, or of one with inheritance
// children, depends on its partitions and children, which another layer's writes name (the
// SQL capture, a partition's own pgnotify triggers): invalidating a partition's scan tag
// drops it; and that a write through a model of a partition stamps the partitioned table's
// tag.
func TestPartitionReads(t *testing.T) {
	t.Parallel()
	db := openPostgres(t, &gorm.Config{Logger: logger.Discard})
	for _, m := range []string{
		`CREATE TABLE parts (id int, k int, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k)`,
		`CREATE TABLE parts_low PARTITION OF parts FOR VALUES FROM (0) TO (10) PARTITION BY RANGE (k)`,
		`CREATE TABLE parts_low0 PARTITION OF parts_low FOR VALUES FROM (0) TO (5)`,
		`CREATE TABLE parts_high PARTITION OF parts FOR VALUES FROM (10) TO (20)`,
		`INSERT INTO parts VALUES (1, 1, 'x'), (2, 11, 'y')`,
		`CREATE TABLE heirs (id int PRIMARY KEY, v text)`,
		`CREATE TABLE heirs_kid (extra int) INHERITS (heirs)`,
		`INSERT INTO heirs VALUES (1, 'p')`, `INSERT INTO heirs_kid VALUES (2, 'k', 0)`,
	} {
		if err := db.Exec(m).Error; err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
	cache, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	var log tagLog
	if err := db.Use(gormdumper.New(&teeInvalidator{&log, cache})); err != nil {
		t.Fatal(err)
	}
	e := &relationEnv{db: db, cache: cache}
	scan := func(db *gorm.DB) string {
		var ps []Part
		return show(ps, db.Order("id").Find(&ps).Error)
	}
	byKey := func(db *gorm.DB) string {
		var ps []Part
		return show(ps, db.Where("id = ?", 1).Find(&ps).Error)
	}
	for _, c := range []struct {
		name string
		read func(db *gorm.DB) string
		tag  string // invalidated by another layer
		kept bool
	}{
		{"scan", scan, dumper.ScanTag("parts_high"), false},
		{"scan-nested", scan, dumper.ScanTag("parts_low0"), false},
		{"by-key", byKey, dumper.RowTag("parts_low0", "id", "1"), false},
		{"by-key-other-row", byKey, dumper.RowTag("parts_high", "id", "2"), true},
		{"by-key-other-partition", byKey, dumper.ScanTag("parts_high"), true},
		{"inherited", func(db *gorm.DB) string {
			var hs []Heir
			return show(hs, db.Where("id = ?", 2).Find(&hs).Error)
		}, dumper.ScanTag("heirs_kid"), false}, // the child has no key: it is scanned
	} {
		e.page("/"+c.name, c.read)
		if _, hit := e.page("/"+c.name, c.read); !hit {
			t.Fatalf("%s: not stored", c.name)
		}
		if err := cache.InvalidateTags(t.Context(), c.tag); err != nil {
			t.Fatal(err)
		}
		if _, hit := e.page("/"+c.name, c.read); hit != c.kept {
			t.Errorf("%s: kept %v after %s was invalidated, want %v", c.name, hit, c.tag, c.kept)
		}
	}
	log.take()
	if err := db.Table("parts_low0").Where("id = ? AND k = ?", 1, 1).Updates(map[string]any{"v": "x2"}).Error; err != nil {
		t.Fatal(err)
	}
	if got := log.take(); !slices.Contains(got, dumper.TableTag("parts")) || !slices.Contains(got, dumper.TableTag("parts_low")) {
		t.Errorf("a write to a partition stamped %q, want the tags of the tables it is a partition of among them", got)
	}
}
