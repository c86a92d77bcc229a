package gormdumper_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FlavorCode is a second model of the flavors table, which takes slug for an integer: with
// Flavor's text, the two disagree, and slug is no key column any more.
type FlavorCode struct {
	ID   uint
	Slug int `gorm:"uniqueIndex"`
}

func (FlavorCode) TableName() string { return "flavors" }

// TestLostKeyDropsPages: a page that read a table narrowed by a column that then stops being a
// key column (a second model disagrees on its type) is dropped, since writes no longer stamp
// that column's row tags.
func TestLostKeyDropsPages(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, capture)
		h := e.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			db := e.db.WithContext(r.Context())
			switch r.URL.Path {
			case "/vanilla":
				var fs []Flavor
				if err := db.Where("slug = ?", "vanilla").Find(&fs).Error; err != nil {
					t.Error(err)
				}
				for _, f := range fs {
					fmt.Fprint(w, f.Name)
				}
			case "/codes":
				if err := db.Where("id = ?", 0).Find(&[]FlavorCode{}).Error; err != nil {
					t.Error(err)
				}
			}
		}))
		get := func(path string) *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			return w
		}
		get("/vanilla")
		if !isHit(get("/vanilla")) {
			t.Fatal("/vanilla is not stored")
		}
		get("/codes") // the plugin sees FlavorCode
		f := e.flavor(t, "vanilla")
		f.Name = "Vanilla bean"
		if err := e.db.Save(f).Error; err != nil {
			t.Fatal(err)
		}
		if w := get("/vanilla"); isHit(w) || w.Body.String() != "Vanilla bean" {
			t.Errorf("/vanilla after the rename: hit %v, body %q; want a fresh render of Vanilla bean", isHit(w), w.Body.String())
		}
	})
}
