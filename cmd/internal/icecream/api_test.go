package icecream_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// pagesShowingAll are the pages cached before a rejected request, which must all still be
// hits after it: a rejected request invalidates nothing.
var pagesShowingAll = []string{
	"/", "/icecream/vanilla", "/icecream/chocolate", "/icecream/strawberry",
	"/sizes/small", "/sizes/medium", "/sizes/large",
}

// TestBadInput checks that every rejected write answers a 4xx with a JSON error, writes
// nothing and invalidates nothing.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		want   int
	}{
		{"create flavor: malformed JSON", "POST", "/api/icecream", `{"slug":"mint",`, 400},
		{"create flavor: not an object", "POST", "/api/icecream", `["mint"]`, 400},
		{"create flavor: empty body", "POST", "/api/icecream", ``, 400},
		{"create flavor: trailing data", "POST", "/api/icecream", `{"slug":"mint","name":"Mint"} {}`, 400},
		{"create flavor: unknown field", "POST", "/api/icecream", `{"slug":"mint","name":"Mint","price":3}`, 400},
		{"create flavor: duplicate slug", "POST", "/api/icecream", `{"slug":"vanilla","name":"Vanilla again"}`, 409},
		{"create flavor: slug with spaces", "POST", "/api/icecream", `{"slug":"mint chip","name":"Mint chip"}`, 400},
		{"create flavor: slug with slash", "POST", "/api/icecream", `{"slug":"mint/chip","name":"Mint chip"}`, 400},
		{"create flavor: empty slug", "POST", "/api/icecream", `{"slug":"","name":"Mint"}`, 400},
		{"create flavor: missing slug", "POST", "/api/icecream", `{"name":"Mint"}`, 400},
		{"create flavor: empty name", "POST", "/api/icecream", `{"slug":"mint","name":""}`, 400},
		{"create flavor: blank name", "POST", "/api/icecream", `{"slug":"mint","name":"  "}`, 400},
		{"create flavor: name with control characters", "POST", "/api/icecream", `{"slug":"mint","name":"Mi\u0000nt"}`, 400},
		{"create flavor: name too long", "POST", "/api/icecream", `{"slug":"mint","name":"` + strings.Repeat("m", 201) + `"}`, 400},
		{"create flavor: body too large", "POST", "/api/icecream", `{"slug":"mint","name":"` + strings.Repeat("m", 70<<10) + `"}`, 413},
		{"rename flavor: unknown slug", "PATCH", "/api/icecream/nope", `{"name":"Nope"}`, 404},
		{"rename flavor: malformed JSON", "PATCH", "/api/icecream/vanilla", `{"name":`, 400},
		{"rename flavor: slug is not renamable", "PATCH", "/api/icecream/vanilla", `{"slug":"bean","name":"Bean"}`, 400},
		{"rename flavor: empty name", "PATCH", "/api/icecream/vanilla", `{"name":""}`, 400},
		{"rename flavor: wrong type", "PATCH", "/api/icecream/vanilla", `{"name":42}`, 400},
		{"delete flavor: unknown slug", "DELETE", "/api/icecream/nope", ``, 404},
		{"add size: unknown flavor", "PUT", "/api/icecream/nope/sizes/small", ``, 404},
		{"add size: unknown size", "PUT", "/api/icecream/vanilla/sizes/nope", ``, 404},
		{"remove size: unknown flavor", "DELETE", "/api/icecream/nope/sizes/small", ``, 404},
		{"remove size: unknown size", "DELETE", "/api/icecream/vanilla/sizes/nope", ``, 404},
		{"create size: malformed JSON", "POST", "/api/sizes", `{`, 400},
		{"create size: unknown field", "POST", "/api/sizes", `{"slug":"tiny","name":"Tiny","ml":80}`, 400},
		{"create size: duplicate slug", "POST", "/api/sizes", `{"slug":"small","name":"Small again"}`, 409},
		{"create size: slug with spaces", "POST", "/api/sizes", `{"slug":"extra big","name":"Extra big"}`, 400},
		{"create size: empty slug", "POST", "/api/sizes", `{"slug":"","name":"Tiny"}`, 400},
		{"create size: empty name", "POST", "/api/sizes", `{"slug":"tiny","name":""}`, 400},
		{"rename size: unknown slug", "PATCH", "/api/sizes/nope", `{"name":"Nope"}`, 404},
		{"rename size: empty name", "PATCH", "/api/sizes/small", `{"name":""}`, 400},
		{"rename size: unknown field", "PATCH", "/api/sizes/small", `{"name":"Petite","slug":"petite"}`, 400},
		{"delete size: unknown slug", "DELETE", "/api/sizes/nope", ``, 404},
	}
	forEachDB(t, func(t *testing.T, s *shop) {
		s.warm(pagesShowingAll...)
		before := s.snapshot()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := *s
				s.t = t
				r := s.do(tt.method, tt.path, tt.body, "Content-Type", "application/json")
				if r.Status != tt.want {
					t.Errorf("status %d, want %d: %s", r.Status, tt.want, r.Body)
				}
				var e struct{ Error string }
				if decodeJSON(t, r, &e); e.Error == "" {
					t.Errorf("no error message in %s", r.Body)
				}
				if after := s.snapshot(); after != before {
					t.Errorf("the database changed:\n%s\nwant\n%s", after, before)
				}
				s.stillHit(pagesShowingAll...)
			})
		}
	})
}

type flavorJSON struct {
	Slug  string
	Name  string
	Sizes []string
}

type sizeJSON struct {
	Slug    string
	Name    string
	Flavors []string
}

func TestCreateFlavor(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *shop) {
		s.warm("/", "/icecream/vanilla", "/sizes/small")
		r := s.write(http.MethodPost, "/api/icecream", `{"slug":"mint","name":"Mint"}`, http.StatusCreated)
		var got flavorJSON
		decodeJSON(t, r, &got)
		if got.Slug != "mint" || got.Name != "Mint" || len(got.Sizes) != 0 {
			t.Errorf("created %+v, want mint, Mint, no sizes", got)
		}
		if loc := r.Header.Get("Location"); loc != "/icecream/mint" {
			t.Errorf("Location %q", loc)
		}
		shows(t, "/ after create", s.miss("/", ""), "Vanilla", "Chocolate", "Strawberry", "Mint")
		mint := s.miss("/icecream/mint", "")
		shows(t, "/icecream/mint", mint, "Mint")
		hides(t, "/icecream/mint", mint, allNames...)
		s.stillHit("/icecream/vanilla", "/sizes/small")
	})
}

func TestRenameFlavor(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *shop) {
		s.warm(pagesShowingAll...)
		r := s.write(http.MethodPatch, "/api/icecream/strawberry", `{"name":"Wild Strawberry"}`, http.StatusOK)
		var got flavorJSON
		decodeJSON(t, r, &got)
		if got.Slug != "strawberry" || got.Name != "Wild Strawberry" || !slices.Equal(got.Sizes, []string{"small"}) {
			t.Errorf("renamed %+v", got)
		}
		for _, p := range []string{"/", "/icecream/strawberry", "/sizes/small"} {
			shows(t, p, s.miss(p, ""), "Wild Strawberry")
		}
		s.stillHit("/icecream/vanilla", "/icecream/chocolate", "/sizes/medium", "/sizes/large")

		// Renaming to the same name writes nothing, so it invalidates nothing.
		s.warm("/icecream/strawberry")
		s.write(http.MethodPatch, "/api/icecream/strawberry", `{"name":"Wild Strawberry"}`, http.StatusOK)
		s.stillHit(pagesShowingAll...)
	})
}

// TestDeleteFlavor checks that a deleted flavor disappears from the home page and from the
// pages of its sizes.
func TestDeleteFlavor(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *shop) {
		s.warm(pagesShowingAll...)
		s.write(http.MethodDelete, "/api/icecream/vanilla", "", http.StatusNoContent)

		home := s.miss("/", "")
		shows(t, "/", home, "Chocolate", "Strawberry")
		hides(t, "/", home, "Vanilla")
		small := s.miss("/sizes/small", "")
		shows(t, "/sizes/small", small, "Small", "Strawberry")
		hides(t, "/sizes/small", small, "Vanilla")
		medium := s.miss("/sizes/medium", "")
		shows(t, "/sizes/medium", medium, "Medium", "Chocolate")
		hides(t, "/sizes/medium", medium, "Vanilla")
		if r := s.do(http.MethodGet, "/icecream/vanilla", ""); r.Status != http.StatusNotFound {
			t.Errorf("GET deleted flavor: status %d, want 404", r.Status)
		}
		s.write(http.MethodDelete, "/api/icecream/vanilla", "", http.StatusNotFound)
	})
}

// TestFlavorSizes checks that adding a flavor to a size, or removing it, refreshes both the
// flavor's page and the size's page, and that a request that changes nothing writes nothing.
func TestFlavorSizes(t *testing.T) {
	tests := []struct {
		name          string
		method        string
		flavor, size  string
		changes       bool
		flavorPage    string // the flavor's name
		sizePage      string // the size's name
		wantLinked    bool
		otherOnFlavor []string // names the flavor page still shows
		untouched     []string // pages that do not show the pair: still hits
	}{
		{"add", http.MethodPut, "vanilla", "large", true, "Vanilla", "Large", true, []string{"Small", "Medium"}, []string{"/", "/icecream/chocolate", "/icecream/strawberry", "/sizes/small", "/sizes/medium"}},
		{"remove", http.MethodDelete, "vanilla", "small", true, "Vanilla", "Small", false, []string{"Medium"}, []string{"/", "/icecream/chocolate", "/icecream/strawberry", "/sizes/medium", "/sizes/large"}},
		{"add again", http.MethodPut, "chocolate", "medium", false, "Chocolate", "Medium", true, []string{"Large"}, nil},
		{"remove again", http.MethodDelete, "strawberry", "large", false, "Strawberry", "Large", false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, s *shop) {
				flavorPath, sizePath := "/icecream/"+tt.flavor, "/sizes/"+tt.size
				s.warm(pagesShowingAll...)
				before := s.snapshot()
				s.write(tt.method, "/api/icecream/"+tt.flavor+"/sizes/"+tt.size, "", http.StatusNoContent)
				if !tt.changes {
					if s.snapshot() != before {
						t.Error("a request that changes nothing wrote to the database")
					}
					s.stillHit(pagesShowingAll...)
					return
				}
				fp, sp := s.miss(flavorPath, ""), s.miss(sizePath, "")
				shows(t, flavorPath, fp, append([]string{tt.flavorPage}, tt.otherOnFlavor...)...)
				shows(t, sizePath, sp, tt.sizePage)
				if tt.wantLinked {
					shows(t, flavorPath, fp, tt.sizePage)
					shows(t, sizePath, sp, tt.flavorPage)
				} else {
					hides(t, flavorPath, fp, tt.sizePage)
					hides(t, sizePath, sp, tt.flavorPage)
				}
				s.stillHit(tt.untouched...)
			})
		})
	}
}

// TestExactPages checks that a many-to-many change or a delete refreshes exactly the pages
// whose content it changes: every other cached page, the home page included, is still a
// hit. The seed: vanilla in small and medium, chocolate in medium and large, strawberry in
// small.
func TestExactPages(t *testing.T) {
	tests := []struct {
		method, path string
		changed      []string // pages that show what changed: a miss, with the new data
		gone         []string // pages of what was deleted: 404
	}{
		{http.MethodPut, "/api/icecream/strawberry/sizes/large", []string{"/icecream/strawberry", "/sizes/large"}, nil},
		{http.MethodDelete, "/api/icecream/vanilla/sizes/small", []string{"/icecream/vanilla", "/sizes/small"}, nil},
		{http.MethodDelete, "/api/icecream/strawberry", []string{"/", "/sizes/small"}, []string{"/icecream/strawberry"}},
		{http.MethodDelete, "/api/sizes/medium", []string{"/icecream/vanilla", "/icecream/chocolate"}, []string{"/sizes/medium"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, s *shop) {
				s.warm(pagesShowingAll...)
				s.write(tt.method, tt.path, "", http.StatusNoContent)
				for _, p := range pagesShowingAll {
					switch {
					case slices.Contains(tt.gone, p):
						if r := s.do(http.MethodGet, p, ""); r.Status != http.StatusNotFound {
							t.Errorf("GET %s: status %d, want 404", p, r.Status)
						}
					case slices.Contains(tt.changed, p):
						s.miss(p, "")
					default:
						s.hit(p, "")
					}
				}
			})
		})
	}
}

// TestAPINotFound checks that the API answers unknown paths and wrong methods in JSON, with
// the Allow header for the latter, and that neither is cached.
func TestAPINotFound(t *testing.T) {
	t.Parallel()
	s := sqliteShop(t)
	tests := []struct {
		method, path string
		want         int
		allow        string
	}{
		{http.MethodGet, "/api/icecream", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPut, "/api/icecream/vanilla", http.StatusMethodNotAllowed, "DELETE, PATCH"},
		{http.MethodGet, "/api/icecream/vanilla/sizes/small", http.StatusMethodNotAllowed, "DELETE, PUT"},
		{http.MethodPost, "/api/sizes/small", http.StatusMethodNotAllowed, "DELETE, PATCH"},
		{http.MethodGet, "/api/", http.StatusNotFound, ""},
		{http.MethodGet, "/api/nope", http.StatusNotFound, ""},
		{http.MethodDelete, "/api/icecream/vanilla/extra", http.StatusNotFound, ""},
		{http.MethodPost, "/api/sizes/small/flavors", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			for range 2 {
				r := s.do(tt.method, tt.path, "")
				if r.Status != tt.want {
					t.Fatalf("status %d, want %d: %s", r.Status, tt.want, r.Body)
				}
				if got := r.Header.Get("Allow"); got != tt.allow {
					t.Errorf("Allow %q, want %q", got, tt.allow)
				}
				var e struct{ Error string }
				if decodeJSON(t, r, &e); e.Error == "" {
					t.Errorf("no error message in %s", r.Body)
				}
				if r.hit() || r.stored() {
					t.Errorf("Cache-Status %q: an API error must not be cached", r.Header.Get("Cache-Status"))
				}
			}
		})
	}
}

func TestCreateSize(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *shop) {
		s.warm(pagesShowingAll...)
		r := s.write(http.MethodPost, "/api/sizes", `{"slug":"tiny","name":"Tiny"}`, http.StatusCreated)
		var got sizeJSON
		decodeJSON(t, r, &got)
		if got.Slug != "tiny" || got.Name != "Tiny" || len(got.Flavors) != 0 {
			t.Errorf("created %+v", got)
		}
		if loc := r.Header.Get("Location"); loc != "/sizes/tiny" {
			t.Errorf("Location %q", loc)
		}
		tiny := s.miss("/sizes/tiny", "")
		shows(t, "/sizes/tiny", tiny, "Tiny", "No flavor is served in this size yet.")
		hides(t, "/sizes/tiny", tiny, allNames...)
		s.stillHit(pagesShowingAll...)

		s.write(http.MethodPut, "/api/icecream/chocolate/sizes/tiny", "", http.StatusNoContent)
		shows(t, "/sizes/tiny", s.miss("/sizes/tiny", ""), "Tiny", "Chocolate")
		shows(t, "/icecream/chocolate", s.miss("/icecream/chocolate", ""), "Chocolate", "Medium", "Large", "Tiny")
	})
}

// TestRenameSize checks that a renamed size shows on every flavor page listing it.
func TestRenameSize(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *shop) {
		s.warm(pagesShowingAll...)
		r := s.write(http.MethodPatch, "/api/sizes/small", `{"name":"Petite"}`, http.StatusOK)
		var got sizeJSON
		decodeJSON(t, r, &got)
		if got.Slug != "small" || got.Name != "Petite" || !slices.Equal(got.Flavors, []string{"vanilla", "strawberry"}) {
			t.Errorf("renamed %+v", got)
		}
		for _, p := range []string{"/icecream/vanilla", "/icecream/strawberry", "/sizes/small"} {
			page := s.miss(p, "")
			shows(t, p, page, "Petite")
			hides(t, p, page, "Small")
		}
		s.stillHit("/", "/icecream/chocolate", "/sizes/medium", "/sizes/large")
	})
}

// TestDeleteSize checks that a deleted size disappears from its flavors' pages.
func TestDeleteSize(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *shop) {
		s.warm(pagesShowingAll...)
		s.write(http.MethodDelete, "/api/sizes/medium", "", http.StatusNoContent)
		for _, p := range []string{"/icecream/vanilla", "/icecream/chocolate"} {
			hides(t, p, s.miss(p, ""), "Medium")
		}
		if r := s.do(http.MethodGet, "/sizes/medium", ""); r.Status != http.StatusNotFound {
			t.Errorf("GET deleted size: status %d, want 404", r.Status)
		}
		s.stillHit("/icecream/strawberry")
	})
}

// TestNonASCIISlug checks that a flavor with a non-ASCII slug is reachable at its
// percent-encoded path and refreshed like any other.
func TestNonASCIISlug(t *testing.T) {
	const (
		upper = "/icecream/cr%C3%A8me-br%C3%BBl%C3%A9e"
		lower = "/icecream/cr%c3%a8me-br%c3%bbl%c3%a9e"
		api   = "/api/icecream/cr%C3%A8me-br%C3%BBl%C3%A9e"
	)
	forEachDB(t, func(t *testing.T, s *shop) {
		r := s.write(http.MethodPost, "/api/icecream", `{"slug":"crème-brûlée","name":"Crème brûlée"}`, http.StatusCreated)
		if loc := r.Header.Get("Location"); loc != upper {
			t.Errorf("Location %q, want %q", loc, upper)
		}
		if home := s.miss("/", ""); !strings.Contains(home.Body, `href="`+upper+`"`) {
			t.Errorf("/ does not link to %s:\n%s", upper, home.Body)
		}
		shows(t, upper, s.miss(upper, ""), "Crème brûlée")
		s.hit(upper, "")
		shows(t, lower, s.get(lower, ""), "Crème brûlée")
		s.hit(lower, "")
		s.warm("/sizes/small")

		s.write(http.MethodPatch, api, `{"name":"Crème brûlée maison"}`, http.StatusOK)
		shows(t, upper, s.miss(upper, ""), "Crème brûlée maison")
		shows(t, lower, s.get(lower, ""), "Crème brûlée maison")
		shows(t, "/", s.miss("/", ""), "Crème brûlée maison")
		s.stillHit("/sizes/small")

		s.write(http.MethodPut, api+"/sizes/small", "", http.StatusNoContent)
		shows(t, "/sizes/small", s.miss("/sizes/small", ""), "Crème brûlée maison")
		shows(t, upper, s.miss(upper, ""), "Small")

		s.write(http.MethodDelete, api, "", http.StatusNoContent)
		hides(t, "/sizes/small", s.miss("/sizes/small", ""), "Crème")
		hides(t, "/", s.miss("/", ""), "Crème")
		if r := s.do(http.MethodGet, lower, ""); r.Status != http.StatusNotFound {
			t.Errorf("GET deleted flavor: status %d, want 404", r.Status)
		}
	})
}
