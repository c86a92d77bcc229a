package gormdumper_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Gadget declares its primary key only; the migration below gives gadgets a unique index on
// code, a unique constraint on serial (a column Gadget does not map) and a foreign key on
// owner_id, which only the catalog knows.
type Gadget struct {
	ID      uint
	Code    string
	OwnerID *int64
	Name    string
}

const gadgetsMigration = `
CREATE TABLE owners (id bigint PRIMARY KEY);
INSERT INTO owners VALUES (1), (2);
CREATE TABLE gadgets (
	id bigserial PRIMARY KEY,
	code varchar(20) NOT NULL,
	owner_id bigint REFERENCES owners (id),
	name text NOT NULL,
	serial text UNIQUE,
	price numeric UNIQUE
);
CREATE UNIQUE INDEX gadgets_code ON gadgets (code);
INSERT INTO gadgets (code, owner_id, name, serial) VALUES ('a', 1, 'A', 's-a'), ('b', 2, 'B', NULL);`

// openGadgets opens PostgreSQL with the gadgets migrated by SQL and the plugin registered,
// invalidating in rec.
func openGadgets(t *testing.T, rec gormdumper.Invalidator) (*gorm.DB, *gormdumper.Plugin) {
	t.Helper()
	db := openPostgres(t, &gorm.Config{Logger: logger.Discard})
	if err := db.Exec(gadgetsMigration).Error; err != nil {
		t.Fatalf("migrate: %v", err)
	}
	p := gormdumper.New(rec)
	if err := db.Use(p); err != nil {
		t.Fatalf("Use: %v", err)
	}
	return db, p
}

// tagLog records the tags invalidated.
type tagLog struct {
	tags atomic.Pointer[[]string]
}

func (l *tagLog) InvalidatePaths(context.Context, ...string) error { return nil }

func (l *tagLog) InvalidateTags(_ context.Context, tags ...string) error {
	for {
		old := l.tags.Load()
		var next []string
		if old != nil {
			next = slices.Clone(*old)
		}
		next = append(next, tags...)
		if l.tags.CompareAndSwap(old, &next) {
			return nil
		}
	}
}

// take returns the distinct tags invalidated since the last take, sorted.
func (l *tagLog) take() []string {
	old := l.tags.Swap(nil)
	if old == nil {
		return nil
	}
	out := slices.Sorted(slices.Values(*old))
	return slices.Compact(out)
}

// TestCatalogKeysStamped checks that writes through a model that declares only its primary
// key stamp the row tags of every key column the catalog has: a unique index and a foreign
// key on columns the model maps, a unique constraint on one it does not; not of a column of
// a type with no canonical text (numeric).
func TestCatalogKeysStamped(t *testing.T) {
	t.Parallel()
	var log tagLog
	db, _ := openGadgets(t, &log)
	a := Gadget{ID: 1}
	if err := db.First(&a).Error; err != nil {
		t.Fatal(err)
	}
	two := int64(2)
	tests := []struct {
		name  string
		write func() error
		want  []string
	}{
		{
			name:  "update of a non-key column",
			write: func() error { return db.Model(&a).Update("name", "A2").Error },
			want: []string{"row:gadgets:code=a", "row:gadgets:id=1", "row:gadgets:owner_id=1",
				"row:gadgets:serial=s-a", "scan:gadgets"},
		},
		{
			name:  "update of the unique index's column",
			write: func() error { return db.Model(&a).Update("code", "a2").Error },
			want: []string{"row:gadgets:code=a", "row:gadgets:code=a2", "row:gadgets:id=1",
				"row:gadgets:owner_id=1", "row:gadgets:serial=s-a", "scan:gadgets"},
		},
		{
			name:  "move to another owner",
			write: func() error { return db.Model(&a).Update("owner_id", &two).Error },
			want: []string{"row:gadgets:code=a2", "row:gadgets:id=1", "row:gadgets:owner_id=1",
				"row:gadgets:owner_id=2", "row:gadgets:serial=s-a", "scan:gadgets"},
		},
		{
			name:  "create, a NULL unmapped key",
			write: func() error { return db.Create(&Gadget{ID: 7, Code: "c", Name: "C"}).Error },
			want:  []string{"row:gadgets:code=c", "row:gadgets:id=7", "scan:gadgets"},
		},
		{
			name:  "delete",
			write: func() error { return db.Delete(&Gadget{ID: 7}).Error },
			want:  []string{"row:gadgets:code=c", "row:gadgets:id=7", "scan:gadgets"},
		},
	}
	log.take()
	for _, tt := range tests {
		if err := tt.write(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := log.take(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: stamped %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestCatalogKeysNarrowReads checks that a GORM read narrowed by a column that only the
// catalog makes a key is a read of rows, invalidated by the writes of those rows only, and
// that RefreshKeys learns an index made after the first read.
func TestCatalogKeysNarrowReads(t *testing.T) {
	t.Parallel()
	cache, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	db, plugin := openGadgets(t, cache)
	h := cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var gs []Gadget
		q := db.WithContext(r.Context())
		if c := r.URL.Query().Get("code"); c != "" {
			q = q.Where(&Gadget{Code: c})
		} else {
			q = q.Where("name = ?", r.URL.Query().Get("name"))
		}
		if err := q.Find(&gs).Error; err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_, _ = w.Write([]byte(gs[0].Name))
	}))
	get := func(path string) bool {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return isHit(w)
	}
	warm := func(path string) {
		t.Helper()
		get(path)
		if !get(path) {
			t.Fatalf("GET %s twice: not a hit", path)
		}
	}
	warm("/?code=a")
	warm("/?code=b")
	if err := db.Model(&Gadget{ID: 2}).Update("name", "B2").Error; err != nil {
		t.Fatal(err)
	}
	if !get("/?code=a") {
		t.Errorf("/?code=a dropped by a write of another row: the read is not narrowed by code")
	}
	if get("/?code=b") {
		t.Errorf("/?code=b served from the cache after its row changed")
	}

	// name has no key yet: the read is a scan. A unique index made by a migration, and
	// RefreshKeys, make it a key.
	warm("/?name=A")
	if err := db.Exec(`CREATE UNIQUE INDEX gadgets_name ON gadgets (name)`).Error; err != nil {
		t.Fatal(err)
	}
	plugin.RefreshKeys()
	if err := db.Model(&Gadget{ID: 2}).Update("name", "B3").Error; err != nil {
		t.Fatal(err)
	}
	if get("/?name=A") {
		t.Errorf("/?name=A (a scan) served from the cache after a write")
	}
	warm("/?name=A")
	if err := db.Model(&Gadget{ID: 2}).Update("name", "B4").Error; err != nil {
		t.Fatal(err)
	}
	if !get("/?name=A") {
		t.Errorf("/?name=A dropped by a write of another row after RefreshKeys: not narrowed by name")
	}
}

// Label declares a unique slug, but the database compares it without case (a
// non-deterministic collation): the catalog does not count it as a key, so a read by slug is
// a scan, and a write to the row drops a page read with another case.
type Label struct {
	ID   uint
	Slug string `gorm:"uniqueIndex"`
	Name string
}

func TestCaseInsensitiveKeyIsAScan(t *testing.T) {
	db := openPostgres(t, &gorm.Config{Logger: logger.Discard})
	if err := db.Exec(`CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
		CREATE TABLE labels (id bigserial PRIMARY KEY, slug text COLLATE nocase NOT NULL, name text NOT NULL);
		CREATE UNIQUE INDEX labels_slug ON labels (slug);
		INSERT INTO labels (slug, name) VALUES ('vanilla', 'Old')`).Error; err != nil {
		t.Fatalf("migrate: %v", err)
	}
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := db.Use(gormdumper.New(c)); err != nil {
		t.Fatal(err)
	}
	page := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var l Label
		if err := db.WithContext(r.Context()).Where(&Label{Slug: r.URL.Query().Get("slug")}).First(&l).Error; err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(l.Name))
	}))
	get := func() (string, string) {
		w := httptest.NewRecorder()
		page.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/label?slug=VANILLA", nil))
		return w.Body.String(), w.Header().Get("Cache-Status")
	}
	if body, _ := get(); body != "Old" {
		t.Fatalf("first read: %q", body)
	}
	if err := db.Model(&Label{ID: 1}).Update("name", "New").Error; err != nil {
		t.Fatal(err)
	}
	if body, cs := get(); body != "New" {
		t.Errorf("after the row changed, the page read with another case is %q (%s), want New", body, cs)
	}
}

// TestSQLiteSchemaKeys: on SQLite the plugin reads the key columns of its schema, as of
// PostgreSQL's catalog: a unique index that a migration made and no model declares narrows
// reads, and writes through a model that does not declare it stamp its row tags.
func TestSQLiteSchemaKeys(t *testing.T) {
	t.Parallel()
	c := newCones(t, backend{"sqlite", openSQLite})
	if err := c.db.Exec("CREATE UNIQUE INDEX cones_name ON cones (name)").Error; err != nil {
		t.Fatal(err)
	}
	render := func(db *gorm.DB) string {
		var cone Cone
		err := db.Where("name = ?", "A").Take(&cone).Error
		return fmt.Sprint(cone.ID, err)
	}
	get := servePage(t, c.cache, c.db, render)
	get()
	if _, cs := get(); cs != "dumper; hit" {
		t.Fatalf("page not stored: Cache-Status %q", cs)
	}
	if err := c.db.Model(&Cone{ID: 2}).Update("scoops", 3).Error; err != nil {
		t.Fatal(err)
	}
	if _, cs := get(); cs != "dumper; hit" {
		t.Errorf("after a write to another cone: Cache-Status %q, want a hit (the read is narrowed by name)", cs)
	}
	c.rec.reset()
	if err := c.db.Model(&Cone{ID: 1}).Update("name", "A2").Error; err != nil {
		t.Fatal(err)
	}
	if _, tags := c.rec.invalidated(); !slices.Contains(tags, "row:cones:name=A") {
		t.Errorf("renaming cone 1 stamped %q, want row:cones:name=A among them", tags)
	}
	if body, want := first(get()), render(c.db); body != want {
		t.Errorf("after renaming cone 1: served %q, the database gives %q", body, want)
	}
}
