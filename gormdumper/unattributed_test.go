package gormdumper_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Plain is a model with a unique slug and a soft delete.
type Plain struct {
	ID        int    `gorm:"primaryKey"`
	Slug      string `gorm:"uniqueIndex"`
	Name      string
	DeletedAt gorm.DeletedAt
}

// slugSite serves the name of the Plain of the path's slug, read through db.
func slugSite(db *gorm.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, plainName(db.WithContext(r.Context()), strings.TrimPrefix(r.URL.Path, "/")))
	})
}

func plainName(db *gorm.DB, slug string) string {
	var p Plain
	err := db.Where("slug = ?", slug).First(&p).Error
	return fmt.Sprint(p.Name, err)
}

// TestUnattributedRawWrites checks that, with no WriteAnalyzer, a write made with
// hand-written SQL stamps dumper.DatabaseTag (at execution and after commit), so that a page
// read at row precision is not left stale; and that a raw read stamps nothing.
func TestUnattributedRawWrites(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := b.open(t, &gorm.Config{Logger: logger.Discard})
			if err := db.AutoMigrate(&Plain{}); err != nil {
				t.Fatal(err)
			}
			if err := db.Create(&[]Plain{{ID: 1, Slug: "a", Name: "A"}, {ID: 2, Slug: "b", Name: "B"}, {ID: 3, Slug: "c", Name: "C"}}).Error; err != nil {
				t.Fatal(err)
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
			h := cache.Middleware(slugSite(db))
			get := func(slug string) string {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/"+slug, nil))
				return w.Body.String()
			}
			tests := []struct {
				slug  string
				write func() error
			}{
				{"a", func() error { return db.Exec("UPDATE plains SET name = 'A2' WHERE id = 1").Error }},
				{"b", func() error {
					return db.Transaction(func(tx *gorm.DB) error {
						return tx.Exec("UPDATE plains SET name = 'B2' WHERE id = ?", 2).Error
					})
				}},
				{"c", func() error {
					var ps []Plain
					return db.Raw("UPDATE plains SET name = 'C2' WHERE id = 3 RETURNING *").Scan(&ps).Error
				}},
			}
			for _, tt := range tests {
				get(tt.slug)
				log.take()
				if err := tt.write(); err != nil {
					t.Fatal(err)
				}
				if got := log.take(); !slices.Contains(got, dumper.DatabaseTag) {
					t.Errorf("%s: the raw write stamped %q, want %s among them", tt.slug, got, dumper.DatabaseTag)
				}
				if got, want := get(tt.slug), plainName(db, tt.slug); got != want {
					t.Errorf("%s: page %q after the raw write, want %q", tt.slug, got, want)
				}
			}
			var n int
			if err := db.Raw("SELECT count(*) FROM plains").Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			if got := log.take(); len(got) != 0 {
				t.Errorf("a raw read stamped %q", got)
			}
		})
	}
}

// teeInvalidator records the tags it is told in a tagLog and passes everything on.
type teeInvalidator struct {
	log  *tagLog
	next gormdumper.Invalidator
}

func (t *teeInvalidator) InvalidatePaths(ctx context.Context, paths ...string) error {
	return t.next.InvalidatePaths(ctx, paths...)
}

func (t *teeInvalidator) InvalidateTags(ctx context.Context, tags ...string) error {
	_ = t.log.InvalidateTags(ctx, tags...)
	return t.next.InvalidateTags(ctx, tags...)
}

// TestHealthCheckStampsNothing: a health check's raw query, which calls built-in functions
// that write nothing, is no write, and drops no page (it would stamp dumper.DatabaseTag
// otherwise: every few seconds, every page).
func TestHealthCheckStampsNothing(t *testing.T) {
	t.Parallel()
	checks := map[string]string{
		"postgres": "SELECT pg_is_in_recovery(), version(), current_setting('server_version_num'), now()",
		"sqlite":   "SELECT sqlite_version()",
	}
	eachBackend(t, func(t *testing.T, b backend) {
		c := newCones(t, b)
		c.warm(t, conePages...)
		c.rec.reset()
		var out []map[string]any
		if err := c.db.Raw(checks[b.name]).Scan(&out).Error; err != nil {
			t.Fatal(err)
		}
		if paths, tags := c.rec.invalidated(); len(paths)+len(tags) > 0 {
			t.Errorf("the health check invalidated paths %q tags %q, want nothing", paths, tags)
		}
		if w := c.get("/slug/a"); !isHit(w) {
			t.Errorf("GET /slug/a after the health check: Cache-Status %q, want a hit", w.Header().Get("Cache-Status"))
		}
	})
}
