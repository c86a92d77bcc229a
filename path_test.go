package dumper_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dumperhq/dumper"
)

// warnings returns a logger and the warnings it has received so far, one line each.
func warnings() (*slog.Logger, func() []string) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return logger, func() []string {
		var ws []string
		for line := range strings.Lines(buf.String()) {
			if strings.Contains(line, "level=WARN") {
				ws = append(ws, strings.TrimSpace(line))
			}
		}
		return ws
	}
}

// product is a model whose page is built from its slug by path.
type product struct {
	slug string
	path func(slug string) string
}

func (p product) DependentPaths() []string { return []string{p.path(p.slug)} }

// TestLiteralPercentSlug: the page of a product whose slug is "50%41off" is requested as
// /product/50%2541off. The path a program builds by concatenation, "/product/50%41off", is
// ambiguous (it is also the link to the slug "50Aoff"): it drops both pages, and warns.
// dumper.Path builds the path that means that page alone.
func TestLiteralPercentSlug(t *testing.T) {
	t.Parallel()
	concat := func(slug string) string { return "/product/" + slug }
	built := func(slug string) string { return dumper.Path("product", slug) }
	tests := []struct {
		name       string
		invalidate func(c *dumper.Cache) error
		dropsA     bool // the page of the slug "50Aoff", which the link reading names
		warn       bool
	}{
		{"InvalidatePaths concatenated", func(c *dumper.Cache) error {
			return c.InvalidatePaths(t.Context(), concat("50%41off"))
		}, true, true},
		{"InvalidatePaths Path", func(c *dumper.Cache) error {
			return c.InvalidatePaths(t.Context(), built("50%41off"))
		}, false, false},
		{"InvalidatePaths as a link", func(c *dumper.Cache) error {
			return c.InvalidatePaths(t.Context(), "/product/50%2541off")
		}, false, false},
		{"Invalidate DependentPaths concatenated", func(c *dumper.Cache) error {
			return c.Invalidate(t.Context(), product{"50%41off", concat})
		}, true, true},
		{"Invalidate DependentPaths Path", func(c *dumper.Cache) error {
			return c.Invalidate(t.Context(), product{"50%41off", built})
		}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, warned := warnings()
			c := newCache(t, dumper.Options{Logger: logger})
			var version atomic.Int64
			mux := http.NewServeMux()
			mux.HandleFunc("GET /product/{slug}", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s v%d", r.PathValue("slug"), version.Load())
			})
			srv := httptest.NewServer(c.Middleware(mux))
			t.Cleanup(srv.Close)
			get := func(target string) (body string, hit bool) {
				t.Helper()
				res, err := srv.Client().Get(srv.URL + target)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				return readAll(t, res.Body), res.Header.Get("Cache-Status") == "dumper; hit"
			}
			const literal, a = "/product/50%2541off", "/product/50Aoff"
			for _, p := range []string{literal, a} {
				get(p)
				if _, hit := get(p); !hit {
					t.Fatalf("GET %s twice: not cached", p)
				}
			}
			if body, _ := get(literal); body != "50%41off v0" {
				t.Fatalf("GET %s = %q, want the page of the slug 50%%41off", literal, body)
			}
			version.Add(1)
			if err := tt.invalidate(c); err != nil {
				t.Fatal(err)
			}
			if body, hit := get(literal); hit || body != "50%41off v1" {
				t.Errorf("GET %s after the invalidation = %q (hit %v), want it rendered again", literal, body, hit)
			}
			if _, hit := get(a); hit == tt.dropsA {
				t.Errorf("GET %s after the invalidation: hit %v, want %v", a, hit, !tt.dropsA)
			}
			ws := warned()
			if got := len(ws) > 0; got != tt.warn {
				t.Fatalf("warnings %q, want a warning: %v", ws, tt.warn)
			}
			if tt.warn && (len(ws) != 1 || !strings.Contains(ws[0], `path=/product/50%41off`) || !strings.Contains(ws[0], "dumper.Path")) {
				t.Errorf("warning %q, want one naming the path and dumper.Path", ws)
			}
		})
	}
}

// TestPathReadings checks, for paths given to InvalidatePaths, which pages they drop and
// whether they warn: non-ASCII paths however written, escaped slashes, question marks and
// stray percent signs. A page is listed with its spellings: requests for it that a handler
// sees with the same r.URL.Path but a different request-target, so each has an entry of its
// own, and one invalidation drops them all.
func TestPathReadings(t *testing.T) {
	t.Parallel()
	creme := []string{"/cr%C3%A8me", "/cr%c3%a8me", "/crème"}
	tests := []struct {
		name    string
		pages   [][]string // spellings of each page, cached before the invalidation
		path    string     // given to InvalidatePaths
		dropped []bool     // per page
		warn    bool
	}{
		{"non-ASCII raw", [][]string{creme}, "/crème", []bool{true}, false},
		{"non-ASCII escaped", [][]string{creme}, "/cr%C3%A8me", []bool{true}, false},
		{"non-ASCII lower-case escapes", [][]string{creme}, "/cr%c3%a8me", []bool{true}, true},
		{"non-ASCII Path", [][]string{creme}, dumper.Path("crème"), []bool{true}, false},
		{"escaped slash", [][]string{{"/files/a%2Fb", "/files/a%2fb"}, {"/files/a/b"}, {"/files/a%252Fb"}}, "/files/a%2Fb", []bool{true, true, true}, false},
		{"slash", [][]string{{"/files/a%2Fb"}, {"/files/a/b"}, {"/files/a%252Fb"}}, "/files/a/b", []bool{true, true, false}, false},
		{"slash Path", [][]string{{"/files/a%2Fb"}, {"/files/a/b"}, {"/files/a%252Fb"}}, dumper.Path("files", "a/b"), []bool{true, true, true}, false},
		{"escaped slash lower-case", [][]string{{"/files/a%2Fb"}, {"/files/a/b"}}, "/files/a%2fb", []bool{true, true}, true},
		{"question mark", [][]string{{"/search/what"}, {"/search/what%3F"}}, "/search/what?", []bool{true, true}, false},
		{"query string", [][]string{{"/search"}, {"/search?q=1"}, {"/search%3Fq=1"}}, "/search?q=1", []bool{true, true, true}, false},
		{"question mark Path", [][]string{{"/search/what"}, {"/search/what%3F"}}, dumper.Path("search", "what?"), []bool{false, true}, false},
		{"fragment Path", [][]string{{"/a%23b"}, {"/a"}}, dumper.Path("a#b"), []bool{true, false}, false},
		{"stray percent", [][]string{{"/100%25"}, {"/100"}}, "/100%", []bool{true, false}, false},
		{"escaped percent", [][]string{{"/100%25"}, {"/100"}}, "/100%25", []bool{true, false}, false},
		{"sub-delimiters escaped as url.PathEscape does", [][]string{{"/a(b)", "/a%28b%29"}, {"/a%2528b%2529"}}, "/a%28b%29", []bool{true, true}, false},
		{"plain", [][]string{{"/a"}, {"/a/b"}, {"/ab"}}, "/a", []bool{true, false, false}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spellings := 0
			for _, page := range tt.pages {
				spellings = max(spellings, len(page))
			}
			// Each spelling of each page is checked after an invalidation of its own: the
			// first request after it stores the page again for every spelling.
			for j := range spellings {
				logger, warned := warnings()
				c := newCache(t, dumper.Options{Logger: logger})
				h, _ := counting(nil)
				mw := c.Middleware(h)
				for _, page := range tt.pages {
					for _, s := range page {
						do(t, mw, "GET", s)
						if w := do(t, mw, "GET", s); !isHit(w) {
							t.Fatalf("GET %s twice: %q, want a hit", s, status(w))
						}
					}
				}
				if err := c.InvalidatePaths(t.Context(), tt.path); err != nil {
					t.Fatal(err)
				}
				for i, page := range tt.pages {
					s := page[min(j, len(page)-1)]
					if w := do(t, mw, "GET", s); isHit(w) == tt.dropped[i] {
						t.Errorf("InvalidatePaths(%q): GET %s hit %v, want %v", tt.path, s, isHit(w), !tt.dropped[i])
					}
				}
				if ws := warned(); (len(ws) > 0) != tt.warn {
					t.Errorf("InvalidatePaths(%q): warnings %q, want a warning: %v", tt.path, ws, tt.warn)
				}
			}
		})
	}
}

func TestInvalidatePathsRejectsFragments(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	err := c.InvalidatePaths(t.Context(), "/flavor/"+"mint#2")
	if !errors.Is(err, dumper.ErrInvalidPath) || !strings.Contains(err.Error(), "mint#2") {
		t.Errorf("InvalidatePaths of a path with a #: %v, want an ErrInvalidPath naming it", err)
	}
}

func TestPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		segments []string
		want     string
	}{
		{nil, "/"},
		{[]string{""}, "/"},
		{[]string{"icecream", ""}, "/icecream/"},
		{[]string{"product", "50%41off"}, "/product/50%2541off"},
		{[]string{"icecream", "crème brûlée"}, "/icecream/cr%C3%A8me%20br%C3%BBl%C3%A9e"},
		{[]string{"files", "a/b"}, "/files/a%2Fb"},
		{[]string{"q", "what?#x"}, "/q/what%3F%23x"},
		{[]string{"a(b),c;d=e:f@g!$&'*+", "~-._"}, "/a(b),c;d=e:f@g!$&'*+/~-._"},
		{[]string{"\x00\x7f\xff|^`{}[]\"<>\\"}, "/%00%7F%FF%7C%5E%60%7B%7D%5B%5D%22%3C%3E%5C"},
		{[]string{"shop", "sizes", "XL"}, "/shop/sizes/XL"},
	}
	for _, tt := range tests {
		got := dumper.Path(tt.segments...)
		if got != tt.want {
			t.Errorf("Path(%q) = %q, want %q", tt.segments, got, tt.want)
		}
		if n, err := dumper.NormalizePath(got); err != nil || (n != got && !strings.Contains(got, "%2F")) {
			t.Errorf("NormalizePath(Path(%q)) = %q, %v; want it unchanged", tt.segments, n, err)
		}
	}
}
