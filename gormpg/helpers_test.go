package gormpg_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/gormpg"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/sqldumper/capturetest"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Author and Post are the models of the tests' tables: authors (a primary key and a unique
// slug) and posts (a primary key and a foreign key to authors).
type Author struct {
	ID    int    `gorm:"primaryKey;autoIncrement:false"`
	Slug  string `gorm:"unique;not null"`
	Name  string
	Posts []Post
}

type Post struct {
	ID       int `gorm:"primaryKey;autoIncrement:false"`
	AuthorID int
	Title    string
}

// env is a GORM database on a schema of the test's own, with gormdumper and a gormpg
// Analyzer, in front of a cache whose store keeps the tags of what it stores.
type env struct {
	db    *gorm.DB
	cache *dumper.Cache
	store *tagStore
	inv   *capturetest.Recorder
	an    *gormpg.Analyzer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	_, dsn := testservice.PostgresSchema(t, "gormpg")
	ms, err := dumper.NewMemoryStore(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	store := &tagStore{Store: ms, tags: map[string][]string{}}
	cache, err := dumper.New(dumper.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	db := openGORM(t, dsn)
	for _, s := range []string{
		`CREATE TABLE authors (id int PRIMARY KEY, slug text UNIQUE NOT NULL, name text)`,
		`CREATE TABLE posts (id int PRIMARY KEY, author_id int REFERENCES authors (id), title text)`,
		`INSERT INTO authors VALUES (1, 'ann', 'Ann'), (2, 'bob', 'Bob'), (3, 'cy', 'Cy')`,
		`INSERT INTO posts VALUES (10, 1, 'a'), (11, 1, 'b'), (20, 2, 'c')`,
	} {
		if err := db.Exec(s).Error; err != nil {
			t.Fatal(err)
		}
	}
	e := &env{db: db, cache: cache, store: store, inv: &capturetest.Recorder{Next: cache}}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	e.an = gormpg.New(sqlDB, nil)
	if err := db.Use(gormdumper.NewWithOptions(e.inv, gormdumper.Options{Analyzer: e.an})); err != nil {
		t.Fatal(err)
	}
	return e
}

func openGORM(t *testing.T, dsn string) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	return db
}

// page renders, through the cache, a page at path whose body is what read returns (an error
// is written as the body: the test looks at the tags). It returns the body and the tags of
// the stored entry (nil if not stored) and whether the cache answered.
func (e *env) page(t *testing.T, path string, read func(db *gorm.DB) string) (body string, tags []string, hit bool) {
	t.Helper()
	h := e.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Page", r.URL.Path)
		fmt.Fprint(w, read(e.db.WithContext(r.Context())))
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	cs := w.Header().Get("Cache-Status")
	if strings.Contains(cs, "stored") || strings.Contains(cs, "hit") {
		tags = e.store.get(path)
	}
	return w.Body.String(), tags, strings.Contains(cs, "hit")
}

// tagStore is a store that keeps the tags of the entry last stored for each page.
type tagStore struct {
	dumper.Store
	mu   sync.Mutex
	tags map[string][]string
}

func (s *tagStore) Set(ctx context.Context, ttl time.Duration, items ...dumper.Item) error {
	s.mu.Lock()
	for _, it := range items {
		if p := it.Entry.Header.Get("X-Page"); p != "" {
			s.tags[p] = slices.Clone(it.Entry.Tags)
		}
	}
	s.mu.Unlock()
	return s.Store.Set(ctx, ttl, items...)
}

func (s *tagStore) get(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tags[path]
}

// result is the body of a page: rows as JSON-ish text, or the error.
func result(v any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%v", v)
}
