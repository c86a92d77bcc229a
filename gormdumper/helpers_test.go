package gormdumper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Flavor is shown on the home page, on its own page and on the page of each of its sizes. It
// can be soft-deleted.
type Flavor struct {
	ID        uint           `gorm:"primaryKey"`
	Slug      string         `gorm:"size:100;not null;uniqueIndex"`
	Name      string         `gorm:"size:200;not null"`
	Sizes     []Size         `gorm:"many2many:flavor_sizes"`
	DeletedAt gorm.DeletedAt `gorm:"index"`
}

func (f Flavor) DependentPaths() []string {
	paths := []string{"/", "/flavors/" + f.Slug}
	for _, s := range f.Sizes {
		paths = append(paths, "/sizes/"+s.Slug)
	}
	return paths
}

// Size is shown on its own page and on the page of each of its flavors. It declares its
// paths as an iterator, with a pointer receiver.
type Size struct {
	ID      uint     `gorm:"primaryKey"`
	Slug    string   `gorm:"size:100;not null;uniqueIndex"`
	Name    string   `gorm:"size:200;not null"`
	Flavors []Flavor `gorm:"many2many:flavor_sizes"`
}

func (s *Size) DependentPaths() iter.Seq[string] {
	return func(yield func(string) bool) {
		if !yield("/sizes/" + s.Slug) {
			return
		}
		for _, f := range s.Flavors {
			if !yield("/flavors/" + f.Slug) {
				return
			}
		}
	}
}

// Topping declares a tag rather than paths.
type Topping struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"size:100;not null"`
}

func (t Topping) DependentTags() []string { return []string{"topping:" + t.Name} }

// Note declares nothing: only table tags reach the pages that show notes.
type Note struct {
	ID   uint   `gorm:"primaryKey"`
	Text string `gorm:"size:200;not null"`
}

var models = []any{&Flavor{}, &Size{}, &Topping{}, &Note{}}

// site renders the test shop straight from db, reading outside any transaction:
//
//	/                  flavors=NAME,…          (tagged table:flavors)
//	/flavors/{slug}    flavor NAME sizes=NAME,…
//	/sizes/{slug}      size NAME flavors=NAME,…
//	/toppings/{name}   toppings=N              (tagged topping:NAME)
//	/notes             notes=TEXT,…            (tagged table:notes)
//
// and "not found" with a 404.
func site(db *gorm.DB) http.Handler {
	names := func(n int, name func(int) string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = name(i)
		}
		return strings.Join(s, ",")
	}
	fail := func(w http.ResponseWriter, err error) {
		if err == gorm.ErrRecordNotFound {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		dumper.Tag(r.Context(), gormdumper.TableTag("flavors"))
		var fs []Flavor
		if err := db.WithContext(r.Context()).Order("name").Find(&fs).Error; err != nil {
			fail(w, err)
			return
		}
		fmt.Fprintf(w, "flavors=%s", names(len(fs), func(i int) string { return fs[i].Name }))
	})
	mux.HandleFunc("GET /flavors/{slug}", func(w http.ResponseWriter, r *http.Request) {
		var f Flavor
		err := db.WithContext(r.Context()).Preload("Sizes", func(db *gorm.DB) *gorm.DB { return db.Order("name") }).
			First(&f, "slug = ?", r.PathValue("slug")).Error
		if err != nil {
			fail(w, err)
			return
		}
		fmt.Fprintf(w, "flavor %s sizes=%s", f.Name, names(len(f.Sizes), func(i int) string { return f.Sizes[i].Name }))
	})
	mux.HandleFunc("GET /sizes/{slug}", func(w http.ResponseWriter, r *http.Request) {
		var s Size
		err := db.WithContext(r.Context()).Preload("Flavors", func(db *gorm.DB) *gorm.DB { return db.Order("name") }).
			First(&s, "slug = ?", r.PathValue("slug")).Error
		if err != nil {
			fail(w, err)
			return
		}
		fmt.Fprintf(w, "size %s flavors=%s", s.Name, names(len(s.Flavors), func(i int) string { return s.Flavors[i].Name }))
	})
	mux.HandleFunc("GET /toppings/{name}", func(w http.ResponseWriter, r *http.Request) {
		dumper.Tag(r.Context(), "topping:"+r.PathValue("name"))
		var n int64
		if err := db.WithContext(r.Context()).Model(&Topping{}).Where("name = ?", r.PathValue("name")).Count(&n).Error; err != nil {
			fail(w, err)
			return
		}
		fmt.Fprintf(w, "toppings=%d", n)
	})
	mux.HandleFunc("GET /notes", func(w http.ResponseWriter, r *http.Request) {
		dumper.Tag(r.Context(), gormdumper.TableTag("notes"))
		var ns []Note
		if err := db.WithContext(r.Context()).Order("text").Find(&ns).Error; err != nil {
			fail(w, err)
			return
		}
		fmt.Fprintf(w, "notes=%s", names(len(ns), func(i int) string { return ns[i].Text }))
	})
	return mux
}

// pages are the pages of the seeded shop, plus pages that do not exist yet.
var pages = []string{
	"/", "/flavors/vanilla", "/flavors/chocolate", "/flavors/mint", "/flavors/vanilla-bean",
	"/sizes/small", "/sizes/large", "/notes", "/toppings/fudge",
}

// backend opens a fresh, empty database for one test.
type backend struct {
	name string
	open func(t *testing.T, cfg *gorm.Config) *gorm.DB
}

var backends = []backend{{"sqlite", openSQLite}, {"postgres", openPostgres}}

// eachBackend runs fn in parallel subtests, once per database.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// openSQLite opens a SQLite database in a file of its own.
func openSQLite(t *testing.T, cfg *gorm.Config) *gorm.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := gorm.Open(sqlite.Open(path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"), cfg)
	if err != nil {
		t.Fatalf("open SQLite: %v", err)
	}
	t.Cleanup(func() { closeDB(t, db) })
	return db
}

// openPostgres opens the PostgreSQL test database in a schema of its own, dropped after the
// test (see testservice.PostgresSchema).
func openPostgres(t *testing.T, cfg *gorm.Config) *gorm.DB {
	t.Helper()
	_, dsn := testservice.PostgresSchema(t, "gormdumper_")
	db, err := gorm.Open(postgres.Open(testservice.WithParam(dsn, "connect_timeout", "5")), cfg)
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	t.Cleanup(func() { closeDB(t, db) }) // before the schema is dropped
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(4)
	return db
}

func closeDB(t *testing.T, db *gorm.DB) {
	t.Helper()
	sqlDB, err := db.DB()
	if err != nil {
		t.Errorf("close database: %v", err)
		return
	}
	if err := sqlDB.Close(); err != nil {
		t.Errorf("close database: %v", err)
	}
}

// env is a seeded shop behind a real cache, with the plugin registered.
type env struct {
	db    *gorm.DB
	cache *dumper.Cache
	site  http.Handler // uncached
	h     http.Handler // the site behind the cache
	rec   *recorder    // between the plugin and the cache
	logs  *syncBuffer  // the plugin's log, at Debug level
	fails atomic.Bool  // set: every invalidation fails
	errs  chan error   // Options.OnError
}

type envConfig struct {
	gorm    gorm.Config
	options gormdumper.Options
}

// capture turns read capture on in an env: the tests of declarations run without it, so
// that the site's pages carry only what they declare.
func capture(c *envConfig) { c.options.NoReadCapture = false }

// newEnv opens a database on b, migrates and seeds it (vanilla in small, chocolate in large)
// and puts it behind a cache that stores 200 and 404 responses.
func newEnv(t *testing.T, b backend, configure ...func(*envConfig)) *env {
	t.Helper()
	cfg := envConfig{gorm: gorm.Config{Logger: logger.Discard}, options: gormdumper.Options{NoReadCapture: true}}
	for _, c := range configure {
		c(&cfg)
	}
	db := b.open(t, &cfg.gorm)
	if err := db.AutoMigrate(models...); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	cache, err := dumper.New(dumper.Options{Policy: dumper.Policy{Statuses: map[int]time.Duration{200: 0, 404: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	e := &env{db: db, cache: cache, site: site(db), logs: &syncBuffer{}, errs: make(chan error, 16)}
	e.rec = &recorder{next: cache, fails: &e.fails}
	e.h = cache.Middleware(e.site)
	opts := cfg.options
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnError = func(_ context.Context, err error) { e.errs <- err }
	if err := db.Use(gormdumper.NewWithOptions(e.rec, opts)); err != nil {
		t.Fatalf("Use: %v", err)
	}
	small, large := Size{Slug: "small", Name: "Small"}, Size{Slug: "large", Name: "Large"}
	if err := db.Create([]*Size{&small, &large}).Error; err != nil {
		t.Fatalf("seed: %v", err)
	}
	flavors := []*Flavor{
		{Slug: "vanilla", Name: "Vanilla", Sizes: []Size{small}},
		{Slug: "chocolate", Name: "Chocolate", Sizes: []Size{large}},
	}
	if err := db.Create(flavors).Error; err != nil {
		t.Fatalf("seed: %v", err)
	}
	if err := db.Create(&Note{Text: "hello"}).Error; err != nil {
		t.Fatalf("seed: %v", err)
	}
	e.rec.reset()
	return e
}

// wantInvalidated checks that exactly paths and tags were invalidated since the recorder was
// last reset, in any order and number of calls, leaving out the row and scan tags of capture
// (see wantStamped).
func (e *env) wantInvalidated(t *testing.T, paths, tags []string) {
	t.Helper()
	gotPaths, gotTags := e.rec.invalidated()
	gotTags = slices.DeleteFunc(gotTags, isChangeTag)
	paths, tags = slices.Sorted(slices.Values(paths)), slices.Sorted(slices.Values(tags))
	if !slices.Equal(gotPaths, paths) || !slices.Equal(gotTags, tags) {
		t.Errorf("invalidated paths %q tags %q, want paths %q tags %q", gotPaths, gotTags, paths, tags)
	}
}

// wantHits checks that every page of all not in fresh is still served from the cache.
func (e *env) wantHits(t *testing.T, all, fresh []string) {
	t.Helper()
	for _, p := range all {
		if slices.Contains(fresh, p) {
			continue
		}
		if w := e.get(t, p); !isHit(w) {
			t.Errorf("GET %s: Cache-Status %q, want a hit: the page did not change", p, w.Header().Get("Cache-Status"))
		}
	}
}

// get requests path through the cache.
func (e *env) get(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

// page serves a page rendered by read (with the request's context) behind e's cache; the
// func it returns requests it and reports whether it was served from the cache. A read that
// fails, but for finding no record, fails the test.
func (e *env) page(t *testing.T, read func(db *gorm.DB) error) func() bool {
	t.Helper()
	h := e.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := read(e.db.WithContext(r.Context())); err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Errorf("read: %v", err)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	return func() bool {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/page", nil))
		return isHit(w)
	}
}

// render requests path from the site itself, bypassing the cache.
func (e *env) render(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	e.site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func isHit(w *httptest.ResponseRecorder) bool {
	return strings.HasSuffix(w.Header().Get("Cache-Status"), "; hit")
}

// warm caches paths: each is requested until it is served from the cache.
func (e *env) warm(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		e.get(t, p)
		if w := e.get(t, p); !isHit(w) {
			t.Fatalf("GET %s twice: Cache-Status %q, want a hit", p, w.Header().Get("Cache-Status"))
		}
	}
}

// wantFresh checks that the cache serves each path as the site renders it now.
func (e *env) wantFresh(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		want := e.render(t, p)
		got := e.get(t, p)
		if got.Code != want.Code || got.Body.String() != want.Body.String() {
			t.Errorf("GET %s = %d %q (Cache-Status %q), want %d %q (stale page)",
				p, got.Code, got.Body.String(), got.Header().Get("Cache-Status"), want.Code, want.Body.String())
		}
	}
}

// wantPage checks that the cache serves path with body, rendered afresh (a miss) if miss.
func (e *env) wantPage(t *testing.T, path, body string, miss bool) {
	t.Helper()
	w := e.get(t, path)
	if got := strings.TrimSpace(w.Body.String()); got != body {
		t.Errorf("GET %s = %q (Cache-Status %q), want %q", path, got, w.Header().Get("Cache-Status"), body)
	}
	if miss && isHit(w) {
		t.Errorf("GET %s: Cache-Status %q, want a miss", path, w.Header().Get("Cache-Status"))
	}
}

func (e *env) flavor(t *testing.T, slug string) *Flavor {
	t.Helper()
	var f Flavor
	if err := e.db.First(&f, "slug = ?", slug).Error; err != nil {
		t.Fatalf("load flavor %s: %v", slug, err)
	}
	return &f
}

func (e *env) size(t *testing.T, slug string) *Size {
	t.Helper()
	var s Size
	if err := e.db.First(&s, "slug = ?", slug).Error; err != nil {
		t.Fatalf("load size %s: %v", slug, err)
	}
	return &s
}

// recorder is an Invalidator that records the calls it passes on.
type recorder struct {
	next  gormdumper.Invalidator
	fails *atomic.Bool

	mu    sync.Mutex
	calls []call
}

type call struct {
	tags bool // InvalidateTags, not InvalidatePaths
	args []string
}

func (r *recorder) record(tags bool, args []string) error {
	r.mu.Lock()
	r.calls = append(r.calls, call{tags: tags, args: slices.Clone(args)})
	r.mu.Unlock()
	if r.fails.Load() {
		return fmt.Errorf("store unreachable")
	}
	return nil
}

func (r *recorder) InvalidatePaths(ctx context.Context, paths ...string) error {
	if err := r.record(false, paths); err != nil {
		return err
	}
	return r.next.InvalidatePaths(ctx, paths...)
}

func (r *recorder) InvalidateTags(ctx context.Context, tags ...string) error {
	if err := r.record(true, tags); err != nil {
		return err
	}
	return r.next.InvalidateTags(ctx, tags...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// invalidated returns the distinct paths and tags invalidated so far, sorted.
func (r *recorder) invalidated() (paths, tags []string) {
	for _, c := range r.snapshot() {
		if c.tags {
			tags = append(tags, c.args...)
		} else {
			paths = append(paths, c.args...)
		}
	}
	slices.Sort(paths)
	slices.Sort(tags)
	return slices.Compact(paths), slices.Compact(tags)
}

// isChangeTag reports whether tag is a row or scan tag, which writes stamp for capture.
func isChangeTag(tag string) bool {
	return strings.HasPrefix(tag, "row:") || strings.HasPrefix(tag, "scan:")
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
