package icecream_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/internal/testservice"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// shop is the demo's full stack, as cmd/icecream serves it, on an httptest server: a seeded
// database, the gormdumper plugin, the cache middleware and the shop's handler.
type shop struct {
	t     *testing.T
	srv   *httptest.Server
	db    *gorm.DB
	cache *dumper.Cache
	host  string // the Host header to send, if not the server's address
}

// newShop opens the database d, seeds it and serves the shop until the test ends.
func newShop(t *testing.T, d gorm.Dialector) *shop {
	t.Helper()
	return serveShop(t, d, true, dumper.Options{})
}

// serveShop opens the database d, seeds it if seed is set, and serves the shop behind a cache
// configured by opts until the test ends.
func serveShop(t *testing.T, d gorm.Dialector, seed bool, opts dumper.Options) *shop {
	t.Helper()
	db, err := icecream.Open(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = icecream.Close(db) })
	if seed {
		if err := icecream.Seed(db); err != nil {
			t.Fatal(err)
		}
	}
	cache, err := dumper.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	h, err := icecream.CachedHandler(db, cache, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &shop{t: t, srv: srv, db: db, cache: cache}
}

// sqliteShop serves the shop on a fresh SQLite database in t.TempDir().
func sqliteShop(t *testing.T) *shop {
	t.Helper()
	return newShop(t, icecream.SQLite(filepath.Join(t.TempDir(), "icecream.db")))
}

// postgresShop serves the shop on PostgreSQL, in a schema of its own that is dropped when the
// test ends (see testservice.PostgresSchema).
func postgresShop(t *testing.T) *shop {
	t.Helper()
	_, dsn := testservice.PostgresSchema(t, "icecream_test_")
	return newShop(t, postgres.Open(dsn))
}

// forEachDB runs fn against a fresh shop on SQLite and on PostgreSQL, in parallel.
func forEachDB(t *testing.T, fn func(t *testing.T, s *shop)) {
	t.Helper()
	for _, db := range []struct {
		name string
		open func(*testing.T) *shop
	}{
		{"sqlite", sqliteShop},
		{"postgres", postgresShop},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			fn(t, db.open(t))
		})
	}
}

// response is a response read in full.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// cacheStatus returns the parameters of the Cache-Status header, e.g. ["hit"] or
// ["fwd=uri-miss", "stored"].
func (r response) cacheStatus() []string {
	cs := r.Header.Get("Cache-Status")
	var params []string
	for i, p := range strings.Split(cs, ";") {
		if i > 0 {
			params = append(params, strings.TrimSpace(p))
		}
	}
	return params
}

func (r response) hit() bool    { return slices.Contains(r.cacheStatus(), "hit") }
func (r response) stored() bool { return slices.Contains(r.cacheStatus(), "stored") }

// do sends a request with body (none if empty) and header given as name, value pairs.
func (s *shop) do(method, path, body string, header ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.srv.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	if s.host != "" {
		req.Host = s.host
	}
	client := *s.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

// get fetches a page, in French if lang is "fr", and checks that it is a 200 HTML page in
// that language that varies by Accept-Language.
func (s *shop) get(path, lang string) response {
	s.t.Helper()
	var hdr []string
	if lang != "" {
		hdr = []string{"Accept-Language", lang}
	}
	r := s.do(http.MethodGet, path, "", hdr...)
	if r.Status != http.StatusOK {
		s.t.Fatalf("GET %s (%s): status %d, want 200\n%s", path, lang, r.Status, r.Body)
	}
	if len(r.cacheStatus()) == 0 {
		s.t.Errorf("GET %s (%s): no Cache-Status header", path, lang)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		s.t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if !slices.ContainsFunc(r.Header.Values("Vary"), func(v string) bool { return strings.Contains(v, "Accept-Language") }) {
		s.t.Errorf("GET %s: Vary %q, want Accept-Language", path, r.Header.Values("Vary"))
	}
	wantLang := "en"
	if strings.HasPrefix(lang, "fr") {
		wantLang = "fr"
	}
	if !strings.Contains(r.Body, `<html lang="`+wantLang+`">`) {
		s.t.Errorf("GET %s (Accept-Language %q): page is not in %q", path, lang, wantLang)
	}
	return r
}

// hit fetches a page and checks that the cache answered it.
func (s *shop) hit(path, lang string) response {
	s.t.Helper()
	r := s.get(path, lang)
	if !r.hit() {
		s.t.Errorf("GET %s (%s): Cache-Status %q, want a hit", path, lang, r.Header.Get("Cache-Status"))
	}
	return r
}

// miss fetches a page and checks that it was rendered afresh and stored.
func (s *shop) miss(path, lang string) response {
	s.t.Helper()
	r := s.get(path, lang)
	if r.hit() || !r.stored() {
		s.t.Errorf("GET %s (%s): Cache-Status %q, want a stored miss", path, lang, r.Header.Get("Cache-Status"))
	}
	return r
}

// warm fetches each page twice, so that it is cached, and checks that the second is a hit.
func (s *shop) warm(paths ...string) {
	s.t.Helper()
	for _, p := range paths {
		s.get(p, "")
		s.hit(p, "")
	}
}

// stillHit checks that each page is still answered from the cache.
func (s *shop) stillHit(paths ...string) {
	s.t.Helper()
	for _, p := range paths {
		s.hit(p, "")
	}
}

// write sends an API request and checks its status.
func (s *shop) write(method, path, body string, want int) response {
	s.t.Helper()
	r := s.do(method, path, body, "Content-Type", "application/json")
	if r.Status != want {
		s.t.Fatalf("%s %s %s: status %d, want %d\n%s", method, path, body, r.Status, want, r.Body)
	}
	if r.hit() || r.stored() {
		s.t.Errorf("%s %s: Cache-Status %q: a write must never be cached", method, path, r.Header.Get("Cache-Status"))
	}
	return r
}

// shows checks that page r shows each of names.
func shows(t *testing.T, what string, r response, names ...string) {
	t.Helper()
	for _, n := range names {
		if !strings.Contains(r.Body, ">"+n+"<") {
			t.Errorf("%s does not show %q", what, n)
		}
	}
}

// hides checks that page r names none of names, anywhere.
func hides(t *testing.T, what string, r response, names ...string) {
	t.Helper()
	for _, n := range names {
		if strings.Contains(r.Body, n) {
			t.Errorf("%s shows %q", what, n)
		}
	}
}

// allNames are the seeded flavor and size names.
var allNames = []string{"Vanilla", "Chocolate", "Strawberry", "Small", "Medium", "Large"}

// without returns allNames minus names.
func without(names ...string) []string {
	return slices.DeleteFunc(slices.Clone(allNames), func(n string) bool { return slices.Contains(names, n) })
}

// snapshot describes everything in the shop's database, to check that a request wrote nothing.
func (s *shop) snapshot() string {
	s.t.Helper()
	var flavors []icecream.IceCream
	var sizes []icecream.Size
	if err := s.db.Preload("Sizes").Order("slug").Find(&flavors).Error; err != nil {
		s.t.Fatal(err)
	}
	if err := s.db.Order("slug").Find(&sizes).Error; err != nil {
		s.t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range flavors {
		fmt.Fprintf(&b, "flavor %d %q %q:", f.ID, f.Slug, f.Name)
		slices.SortFunc(f.Sizes, func(a, b icecream.Size) int { return strings.Compare(a.Slug, b.Slug) })
		for _, sz := range f.Sizes {
			fmt.Fprintf(&b, " %s", sz.Slug)
		}
		b.WriteByte('\n')
	}
	for _, sz := range sizes {
		fmt.Fprintf(&b, "size %d %q %q\n", sz.ID, sz.Slug, sz.Name)
	}
	return b.String()
}

// decodeJSON decodes r's body, checking it is JSON.
func decodeJSON(t *testing.T, r response, v any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
}
