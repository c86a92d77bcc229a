package icecream_test

import (
	"net/http"
	"testing"
)

// TestStory walks the demo's story end to end: a page is rendered once, then served from the
// cache, per language; a write through GORM refreshes exactly the pages that show what changed.
func TestStory(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *shop) {
		// Unrelated pages, cached before the write, must survive it.
		unrelated := []string{"/icecream/chocolate", "/sizes/large"}
		s.warm(unrelated...)
		// Pages that show vanilla, cached before the write, must be refreshed by it.
		s.warm("/", "/sizes/small", "/sizes/medium")

		first := s.miss("/icecream/vanilla", "")
		shows(t, "English vanilla page", first, "Vanilla", "Small", "Medium", "Available in")
		hides(t, "English vanilla page", first, without("Vanilla", "Small", "Medium")...)
		if again := s.hit("/icecream/vanilla", ""); again.Body != first.Body {
			t.Errorf("hit body differs from the stored page:\n%s\nwant\n%s", again.Body, first.Body)
		}

		fr := s.miss("/icecream/vanilla", "fr-FR,fr;q=0.9")
		shows(t, "French vanilla page", fr, "Vanilla", "Small", "Medium", "Disponible en")
		s.hit("/icecream/vanilla", "fr-FR,fr;q=0.9")
		s.hit("/icecream/vanilla", "") // the English variant is still there

		s.write(http.MethodPatch, "/api/icecream/vanilla", `{"name":"Vanilla Bean"}`, http.StatusOK)

		for _, lang := range []string{"", "fr-FR,fr;q=0.9"} {
			r := s.miss("/icecream/vanilla", lang)
			shows(t, "vanilla page after rename ("+lang+")", r, "Vanilla Bean", "Small", "Medium")
			s.hit("/icecream/vanilla", lang)
		}
		for _, p := range []string{"/", "/sizes/small", "/sizes/medium"} {
			shows(t, p+" after rename", s.miss(p, ""), "Vanilla Bean")
		}
		s.stillHit(unrelated...)
	})
}
