package icecream_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dumperhq/dumper/cmd/internal/icecream"
)

// TestPages checks that each page shows exactly the names it depends on, in both languages.
func TestPages(t *testing.T) {
	t.Parallel()
	s := sqliteShop(t)
	tests := []struct {
		path  string
		lang  string
		shows []string
		links []string
	}{
		{"/", "", []string{"Vanilla", "Chocolate", "Strawberry", "Our flavors"}, []string{"/icecream/vanilla", "/icecream/chocolate", "/icecream/strawberry"}},
		{"/", "fr", []string{"Vanilla", "Chocolate", "Strawberry", "Nos parfums"}, nil},
		{"/icecream/vanilla", "", []string{"Vanilla", "Small", "Medium"}, []string{"/sizes/small", "/sizes/medium"}},
		{"/icecream/chocolate", "en-US", []string{"Chocolate", "Medium", "Large"}, []string{"/sizes/medium", "/sizes/large"}},
		{"/icecream/strawberry", "fr-CA", []string{"Strawberry", "Small", "Disponible en"}, []string{"/sizes/small"}},
		{"/sizes/small", "", []string{"Small", "Vanilla", "Strawberry"}, []string{"/icecream/vanilla", "/icecream/strawberry"}},
		{"/sizes/medium", "", []string{"Medium", "Vanilla", "Chocolate"}, nil},
		{"/sizes/large", "fr", []string{"Large", "Chocolate", "Parfums servis dans ce format"}, []string{"/icecream/chocolate"}},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.lang, func(t *testing.T) {
			r := s.get(tt.path, tt.lang)
			shows(t, tt.path, r, tt.shows...)
			hides(t, tt.path, r, without(tt.shows...)...)
			for _, l := range tt.links {
				if !strings.Contains(r.Body, `href="`+l+`"`) {
					t.Errorf("%s does not link to %s", tt.path, l)
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := sqliteShop(t)
	for _, path := range []string{"/icecream/nope", "/sizes/nope", "/icecream/vanilla/extra", "/nowhere"} {
		t.Run(path, func(t *testing.T) {
			for range 2 {
				r := s.do(http.MethodGet, path, "")
				if r.Status != http.StatusNotFound {
					t.Fatalf("GET %s: status %d, want 404", path, r.Status)
				}
				if r.hit() || r.stored() {
					t.Errorf("GET %s: Cache-Status %q: a 404 must not be stored", path, r.Header.Get("Cache-Status"))
				}
			}
		})
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	s := sqliteShop(t)
	for _, path := range []string{"/icecream/vanilla", "/sizes/large"} {
		// HEAD first: a later GET must get the whole page, whatever the cache did with the HEAD.
		head := s.do(http.MethodHead, path, "")
		if head.Status != http.StatusOK || head.Body != "" || head.Header.Get("Cache-Status") == "" {
			t.Errorf("HEAD %s: status %d, body %q, Cache-Status %q; want 200, no body, a Cache-Status",
				path, head.Status, head.Body, head.Header.Get("Cache-Status"))
		}
		get := s.get(path, "")
		if !strings.Contains(get.Body, "</html>") {
			t.Errorf("GET %s after HEAD: incomplete body %q", path, get.Body)
		}
		if cl := head.Header.Get("Content-Length"); cl != "" && cl != get.Header.Get("Content-Length") {
			t.Errorf("HEAD %s: Content-Length %s, GET says %s", path, cl, get.Header.Get("Content-Length"))
		}
		if head2 := s.do(http.MethodHead, path, ""); !head2.hit() || head2.Body != "" {
			t.Errorf("HEAD %s after GET: Cache-Status %q body %q, want a hit without body", path, head2.Header.Get("Cache-Status"), head2.Body)
		}
	}
	if r := s.do(http.MethodHead, "/icecream/nope", ""); r.Status != http.StatusNotFound {
		t.Errorf("HEAD unknown flavor: status %d, want 404", r.Status)
	}
}

// TestMe checks that the private page is never stored and never shown to another user.
func TestMe(t *testing.T) {
	t.Parallel()
	s := sqliteShop(t)
	for _, step := range []struct {
		cookie string
		want   string
		unseen []string
	}{
		{"", "You are not signed in.", []string{"alice", "bob"}},
		{"user=alice", "Hello, alice", []string{"bob"}},
		{"user=alice", "Hello, alice", []string{"bob"}},
		{"user=bob", "Hello, bob", []string{"alice"}},
		{"", "You are not signed in.", []string{"alice", "bob"}},
		{"user=bob", "Hello, bob", []string{"alice"}},
	} {
		var hdr []string
		if step.cookie != "" {
			hdr = []string{"Cookie", step.cookie}
		}
		r := s.do(http.MethodGet, "/me", "", hdr...)
		if r.Status != http.StatusOK {
			t.Fatalf("GET /me (%s): status %d", step.cookie, r.Status)
		}
		if !strings.Contains(r.Body, ">"+step.want+"<") {
			t.Errorf("GET /me (%s): page does not say %q", step.cookie, step.want)
		}
		hides(t, "/me ("+step.cookie+")", r, step.unseen...)
		if r.hit() || r.stored() {
			t.Errorf("GET /me (%s): Cache-Status %q: a private page must never be stored", step.cookie, r.Header.Get("Cache-Status"))
		}
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "private") {
			t.Errorf("GET /me: Cache-Control %q, want private", cc)
		}
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	s := sqliteShop(t)
	r := s.do(http.MethodPost, "/login", "user=Zo%C3%AB+Smith", "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/me" {
		t.Fatalf("POST /login: status %d, Location %q; want 303 to /me", r.Status, r.Header.Get("Location"))
	}
	res := &http.Response{Header: r.Header}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "user" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("POST /login set no user cookie: %q", r.Header.Values("Set-Cookie"))
	}
	me := s.do(http.MethodGet, "/me", "", "Cookie", cookie.String(), "Accept-Language", "fr")
	if !strings.Contains(me.Body, ">Bonjour, Zoë Smith<") {
		t.Errorf("/me after login does not greet Zoë Smith in French:\n%s", me.Body)
	}

	for _, body := range []string{"", "user=", "user=+++", "user=" + strings.Repeat("x", 65)} {
		r := s.do(http.MethodPost, "/login", body, "Content-Type", "application/x-www-form-urlencoded")
		var e struct{ Error string }
		if r.Status != http.StatusBadRequest {
			t.Errorf("POST /login %q: status %d, want 400", body, r.Status)
			continue
		}
		if decodeJSON(t, r, &e); e.Error == "" {
			t.Errorf("POST /login %q: no error message: %s", body, r.Body)
		}
		if len(r.Header.Values("Set-Cookie")) > 0 {
			t.Errorf("POST /login %q set a cookie", body)
		}
	}
}

// TestNewHandler checks that the bare handler works without a cache, and that Seed leaves a
// shop with data alone.
func TestNewHandler(t *testing.T) {
	t.Parallel()
	db, err := icecream.Open(icecream.SQLite(filepath.Join(t.TempDir(), "shop.db")), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = icecream.Close(db) })
	for range 2 {
		if err := icecream.Seed(db); err != nil {
			t.Fatal(err)
		}
	}
	var flavors, sizes int64
	db.Model(&icecream.IceCream{}).Count(&flavors)
	db.Model(&icecream.Size{}).Count(&sizes)
	if flavors != 3 || sizes != 3 {
		t.Errorf("after seeding twice: %d flavors, %d sizes; want 3 and 3", flavors, sizes)
	}

	h := icecream.NewHandler(db, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/icecream/chocolate", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), ">Chocolate<") {
		t.Errorf("GET /icecream/chocolate without cache: %d\n%s", rec.Code, rec.Body)
	}
	if cs := rec.Header().Get("Cache-Status"); cs != "" {
		t.Errorf("bare handler sent Cache-Status %q", cs)
	}
}
