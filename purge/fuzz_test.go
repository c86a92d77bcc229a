package purge_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/dumperhq/dumper/purge"
)

// FuzzHandler sends the handler authorized requests with arbitrary bodies: each gets a 200
// with a Result, or a 400 or 413 with a JSON error, and a refused one purges nothing.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{
		`{"paths":["/a"]}`,
		`{"tags":["page:/b"]}`,
		`{"all":true}`,
		`{"paths":["/%zz","/a?b#c"]}`,
		`{"paths":["//a/../b/./c"],"tags":["x"]}`,
		`{"paths":["a"]}`,
		`{"tags":[""]}`,
	} {
		f.Add(s)
	}
	s := newSite(f, nil)
	h := &purge.Handler{Cache: s.cache, Token: testToken, MaxItems: 8, MaxBytes: 4 << 10}
	f.Fuzz(func(t *testing.T, body string) {
		s.warm(t, "/kept")
		w := post(t, h, body, "Authorization", "Bearer "+testToken)
		switch w.Code {
		case http.StatusOK:
			var res purge.Result
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
				t.Fatalf("200 with %q: %v", w.Body, err)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			errorOf(t, w)
			if !s.get(t, "/kept") {
				t.Fatalf("a refused purge (%d %q) dropped /kept", w.Code, w.Body)
			}
		default:
			t.Fatalf("status %d (body %q) for %q", w.Code, w.Body, body)
		}
	})
}
