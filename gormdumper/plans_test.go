package gormdumper_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// TestPlanReplay: statements with the same SQL text and other arguments are tagged by their
// own arguments, including when the first one's arguments left the positions uncertain, and
// an argument the key's kind cannot convert makes the read a scan again.
func TestPlanReplay(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, capture)
		slugAndName := func(slug, name string) func(db *gorm.DB) error {
			return func(db *gorm.DB) error {
				return db.Where("slug = ?", slug).Where("name <> ?", name).Find(&[]Flavor{}).Error
			}
		}
		ids := func(ids ...any) func(db *gorm.DB) error {
			return func(db *gorm.DB) error { return db.Where("id IN ?", ids).Find(&[]Flavor{}).Error }
		}
		byID := func(id any) func(db *gorm.DB) error {
			return func(db *gorm.DB) error { return db.Where("id = ?", id).Find(&[]Flavor{}).Error }
		}
		many := func(from int) func(db *gorm.DB) error {
			ids := make([]int, 300) // past the bound on row tags: a scan
			for i := range ids {
				ids[i] = from + i
			}
			return func(db *gorm.DB) error { return db.Where("id IN ?", ids).Find(&[]Flavor{}).Error }
		}
		pages := map[string]func(db *gorm.DB) error{
			"/many1":      many(1),
			"/many2":      many(1000),
			"/same":       slugAndName("vanilla", "vanilla"), // which argument is the slug's: not certain
			"/b":          slugAndName("chocolate", "vanilla"),
			"/c":          slugAndName("strawberry", "chocolate"),
			"/ids12":      ids(1, 2),
			"/ids34":      ids(3, 4),
			"/id1":        byID(1),
			"/id-invalid": byID(1.5), // no integer: no row tag
		}
		order := []string{"/same", "/b", "/c", "/ids12", "/ids34", "/id1", "/id-invalid", "/many1", "/many2"}
		h := e.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := pages[r.URL.Path](e.db.WithContext(r.Context())); err != nil && !strings.Contains(err.Error(), "record not found") {
				t.Errorf("%s: %v", r.URL.Path, err)
			}
			_, _ = w.Write([]byte("ok"))
		}))
		get := func(path string) bool {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			return isHit(w)
		}
		for _, tt := range []struct {
			tag     string
			dropped []string
		}{
			{"row:flavors:slug=vanilla", []string{"/same"}},
			{"row:flavors:slug=chocolate", []string{"/b"}},
			{"row:flavors:slug=strawberry", []string{"/c"}},
			{"row:flavors:id=3", []string{"/ids34"}},
			{"row:flavors:id=1", []string{"/ids12", "/id1"}},
			{"scan:flavors", []string{"/id-invalid", "/many1", "/many2"}},
		} {
			for _, p := range order {
				get(p)
			}
			for _, p := range order {
				if !get(p) {
					t.Fatalf("before invalidating %s: %s is not stored", tt.tag, p)
				}
			}
			if err := e.cache.InvalidateTags(t.Context(), tt.tag); err != nil {
				t.Fatal(err)
			}
			for _, p := range order {
				want := !contains(tt.dropped, p)
				if hit := get(p); hit != want {
					t.Errorf("after invalidating %s: %s hit %v, want %v", tt.tag, p, hit, want)
				}
			}
		}
	})
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
