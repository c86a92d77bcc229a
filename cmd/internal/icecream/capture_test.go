package icecream_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestWriteInvalidations checks, for each kind of write in the API, which of the cached pages
// it invalidates now that the shop declares nothing (gormdumper's automatic capture), against
// what the models' hand-written DependentPaths invalidated before (declared): never more, and
// never a page that shows what changed kept. The seed: vanilla in small and medium, chocolate
// in medium and large, strawberry in small.
func TestWriteInvalidations(t *testing.T) {
	tests := []struct {
		name         string
		method, path string
		body         string
		status       int
		declared     []string // what the DependentPaths of the models invalidated
		want         []string // what capture invalidates
	}{
		{"create flavor", http.MethodPost, "/api/icecream", `{"slug":"mint","name":"Mint"}`, http.StatusCreated,
			[]string{"/"},
			[]string{"/"}},
		{"rename flavor", http.MethodPatch, "/api/icecream/vanilla", `{"name":"Vanilla Bean"}`, http.StatusOK,
			[]string{"/", "/icecream/vanilla", "/sizes/small", "/sizes/medium"},
			[]string{"/", "/icecream/vanilla", "/sizes/small", "/sizes/medium"}},
		{"delete flavor", http.MethodDelete, "/api/icecream/strawberry", "", http.StatusNoContent,
			[]string{"/", "/icecream/strawberry", "/sizes/small"},
			[]string{"/", "/icecream/strawberry", "/sizes/small"}},
		{"assign size", http.MethodPut, "/api/icecream/strawberry/sizes/large", "", http.StatusNoContent,
			[]string{"/icecream/strawberry", "/sizes/large"},
			[]string{"/icecream/strawberry", "/sizes/large"}},
		{"unassign size", http.MethodDelete, "/api/icecream/vanilla/sizes/small", "", http.StatusNoContent,
			[]string{"/icecream/vanilla", "/sizes/small"},
			[]string{"/icecream/vanilla", "/sizes/small"}},
		{"create size", http.MethodPost, "/api/sizes", `{"slug":"xl","name":"XL"}`, http.StatusCreated,
			nil,
			nil},
		{"rename size", http.MethodPatch, "/api/sizes/medium", `{"name":"Regular"}`, http.StatusOK,
			[]string{"/sizes/medium", "/icecream/vanilla", "/icecream/chocolate"},
			[]string{"/sizes/medium", "/icecream/vanilla", "/icecream/chocolate"}},
		{"delete size", http.MethodDelete, "/api/sizes/medium", "", http.StatusNoContent,
			[]string{"/sizes/medium", "/icecream/vanilla", "/icecream/chocolate"},
			[]string{"/sizes/medium", "/icecream/vanilla", "/icecream/chocolate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, s *shop) {
				s.warm(pagesShowingAll...)
				s.write(tt.method, tt.path, tt.body, tt.status)
				var got []string
				for _, p := range pagesShowingAll {
					r := s.do(http.MethodGet, p, "")
					if !r.hit() {
						got = append(got, p)
					}
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tt.want))
				if !slices.Equal(got, want) {
					t.Errorf("invalidated %q, want %q", got, want)
				}
				for _, p := range got {
					if !slices.Contains(tt.declared, p) {
						t.Errorf("invalidated %s, which the declarations kept", p)
					}
				}
				t.Logf("%s: %d pages invalidated (declarations: %d): %s", tt.name, len(got), len(tt.declared), strings.Join(got, " "))
			})
		})
	}
}

// TestPrecision checks the precision the capture owes the shop: each write keeps the pages
// that do not show what it changed.
func TestPrecision(t *testing.T) {
	tests := []struct {
		name         string
		method, path string
		body         string
		status       int
		kept         []string
	}{
		{"renaming vanilla", http.MethodPatch, "/api/icecream/vanilla", `{"name":"Vanilla Bean"}`, http.StatusOK,
			[]string{"/icecream/chocolate", "/icecream/strawberry", "/sizes/large"}},
		{"adding a size to strawberry", http.MethodPut, "/api/icecream/strawberry/sizes/large", "", http.StatusNoContent,
			[]string{"/", "/icecream/vanilla", "/icecream/chocolate", "/sizes/small", "/sizes/medium"}},
		{"renaming a size", http.MethodPatch, "/api/sizes/large", `{"name":"Big"}`, http.StatusOK,
			[]string{"/", "/icecream/vanilla", "/icecream/strawberry", "/sizes/small", "/sizes/medium"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, s *shop) {
				s.warm(pagesShowingAll...)
				s.write(tt.method, tt.path, tt.body, tt.status)
				s.stillHit(tt.kept...)
			})
		})
	}
}
