package dumper_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
)

// renameVanilla stands for a data layer's write: the explain handler names the function that
// asked for an invalidation.
func renameVanilla(c *dumper.Cache) error {
	ctx := dumper.WithWrite(dumper.WithSource(context.Background(), "admin", time.Time{}), "UPDATE ice_creams SET name = 'Vanilla' WHERE id = 1")
	return c.InvalidateTags(ctx, dumper.ChangeTags("ice_creams", []string{"id", "slug"},
		map[string]string{"id": "1", "slug": "vanilla"}, map[string]string{"id": "1", "slug": "vanilla"})...)
}

func TestExplain(t *testing.T) {
	c := newCache(t, dumper.Options{Explain: true})
	site := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		dumper.ReadRows(ctx, "ice_creams", "slug", "vanilla")
		dumper.ReadRows(ctx, "ice_cream_sizes", "ice_cream_id", "1")
		dumper.ReadRows(ctx, "sizes", "id", "2", "1")
		dumper.ReadTable(ctx, "shops")
		dumper.Tag(ctx, "promo")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprint(w, "Vanilla")
	}))
	explain := c.ExplainHandler()
	do(t, site, "GET", "/icecream/vanilla")
	do(t, site, "GET", "/icecream/vanilla", "Accept-Language", "fr")

	got := do(t, explain, "GET", "/?path=/icecream/vanilla").Body.String()
	for _, want := range []string{
		"path /icecream/vanilla",
		"ice_creams slug=vanilla",
		"ice_cream_sizes ice_cream_id=1",
		"sizes id 1, 2",
		"shops (any row)",
		"tag promo",
		"status 200",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("explanation lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, ": cached"); n != 2 {
		t.Errorf("%d variants cached in the explanation, want 2:\n%s", n, got)
	}

	if err := renameVanilla(c); err != nil {
		t.Fatal(err)
	}
	got = do(t, explain, "GET", "/?path=/icecream/vanilla").Body.String()
	if n := strings.Count(got, ": dropped"); n != 2 {
		t.Errorf("%d variants dropped, want 2:\n%s", n, got)
	}
	if !strings.Contains(got, "invalidated since it was stored:\n    ice_creams slug=vanilla at ") ||
		!strings.Contains(got, `by admin (github.com/dumperhq/dumper_test.renameVanilla), for "UPDATE ice_creams SET name = 'Vanilla' WHERE id = 1" (3 tags in that invalidation)`) {
		t.Errorf("explanation does not name the invalidation and its write:\n%s", got)
	}

	do(t, site, "GET", "/icecream/vanilla") // rendered again
	got = do(t, explain, "GET", "/?path=/icecream/vanilla").Body.String()
	if !strings.Contains(got, ": cached") {
		t.Errorf("the new render is not shown as cached:\n%s", got)
	}
	if !strings.Contains(got, "the version it replaced was dropped by:\n    ice_creams slug=vanilla at ") ||
		!strings.Contains(got, `, for "UPDATE ice_creams SET name = 'Vanilla' WHERE id = 1"`) {
		t.Errorf("the new render does not say what dropped the version it replaced:\n%s", got)
	}
	if got := do(t, explain, "GET", "/").Body.String(); !strings.Contains(got, "  /icecream/vanilla\n") {
		t.Errorf("recent list lacks the path:\n%s", got)
	}
	if w := do(t, explain, "GET", "/?path=/nothing"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "no response stored") {
		t.Errorf("unknown path: %d %q", w.Code, w.Body.String())
	}
}

func TestExplainRefusals(t *testing.T) {
	off := newCache(t)
	if w := do(t, off.ExplainHandler(), "GET", "/?path=/x"); w.Code != http.StatusNotFound {
		t.Errorf("explaining off: %d, want 404", w.Code)
	}
	on := newCache(t, dumper.Options{Explain: true})
	for _, tc := range []struct {
		method, target string
		code           int
	}{
		{"GET", "/?path=x", http.StatusBadRequest},
		{"GET", "/?path=%2Fa%23b", http.StatusBadRequest},
		{"POST", "/?path=/x", http.StatusMethodNotAllowed},
		{"GET", "/?path=/x", http.StatusOK},
	} {
		if w := do(t, on.ExplainHandler(), tc.method, tc.target); w.Code != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.target, w.Code, tc.code)
		}
	}
}

// TestExplainBounded: a flood of pages leaves the explainer with its fixed number of entries,
// and explaining the newest still works.
func TestExplainBounded(t *testing.T) {
	c := newCache(t, dumper.Options{Explain: true})
	site := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dumper.ReadRows(r.Context(), "t", "id", r.URL.Path[1:])
		fmt.Fprint(w, r.URL.Path)
	}))
	for i := range 5000 {
		do(t, site, "GET", fmt.Sprintf("/%d", i))
		if err := c.InvalidateTags(context.Background(), fmt.Sprintf("x%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := do(t, c.ExplainHandler(), "GET", "/?path=/0").Body.String(); !strings.Contains(got, "no response stored") {
		t.Errorf("the oldest page is still remembered past the bound:\n%s", got)
	}
	if got := do(t, c.ExplainHandler(), "GET", "/?path=/4999").Body.String(); !strings.Contains(got, "t id=4999") {
		t.Errorf("the newest page is not explained:\n%s", got)
	}
}

// TestExplainHidesHeaderValues: a page that varies on Cookie is explained without the
// cookie: the key's header values may be secrets.
func TestExplainHidesHeaderValues(t *testing.T) {
	c := newCache(t, dumper.Options{Explain: true})
	site := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Cookie, Accept-Language")
		fmt.Fprint(w, "account")
	}))
	do(t, site, "GET", "/acct", "Cookie", "session=SECRET-token")
	got := do(t, c.ExplainHandler(), "GET", "/?path=/acct").Body.String()
	if strings.Contains(got, "SECRET") || !strings.Contains(got, "Cookie=…") || !strings.Contains(got, "Accept-Language absent") {
		t.Errorf("explanation of a varied page:\n%s", got)
	}
}
