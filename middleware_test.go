package dumper_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
)

func TestStorageRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reqHdr  []string
		respond func(w http.ResponseWriter)
		want    string // Cache-Status of the first response
	}{
		{"plain 200", nil, func(w http.ResponseWriter) {}, "dumper; fwd=uri-miss; stored"},
		{"404 not listed", nil, func(w http.ResponseWriter) { w.WriteHeader(404) }, "dumper; fwd=uri-miss; detail=status"},
		{"500", nil, func(w http.ResponseWriter) { w.WriteHeader(500) }, "dumper; fwd=uri-miss; detail=status"},
		{"no-store", nil, cc("no-store"), "dumper; fwd=uri-miss; detail=no-store"},
		{"private", nil, cc("private, max-age=60"), "dumper; fwd=uri-miss; detail=private"},
		{"qualified private", nil, cc(`private="Set-Cookie", public`), "dumper; fwd=uri-miss; detail=private"},
		{"no-cache", nil, cc("no-cache"), "dumper; fwd=uri-miss; detail=no-cache"},
		{"upper case NO-STORE", nil, cc("NO-STORE"), "dumper; fwd=uri-miss; detail=no-store"},
		{"s-maxage=0", nil, cc("s-maxage=0"), "dumper; fwd=uri-miss; detail=zero-s-maxage"},
		{"max-age=0 is for browsers", nil, cc("max-age=0"), "dumper; fwd=uri-miss; stored"},
		{"set-cookie", nil, func(w http.ResponseWriter) { w.Header().Set("Set-Cookie", "s=1") }, "dumper; fwd=uri-miss; detail=set-cookie"},
		{"vary star", nil, func(w http.ResponseWriter) { w.Header().Set("Vary", "Accept, *") }, "dumper; fwd=uri-miss; detail=vary-star"},
		{"authorization", []string{"Authorization", "Bearer x"}, func(w http.ResponseWriter) {}, "dumper; fwd=uri-miss; detail=authorization"},
		{"authorization public", []string{"Authorization", "Bearer x"}, cc("public"), "dumper; fwd=uri-miss; stored"},
		{"authorization s-maxage", []string{"Authorization", "Bearer x"}, cc("s-maxage=60"), "dumper; fwd=uri-miss; stored"},
		{"request no-store", []string{"Cache-Control", "no-store"}, func(w http.ResponseWriter) {}, "dumper; fwd=uri-miss; detail=request-no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			h, runs := counting(func(w http.ResponseWriter, r *http.Request) { tt.respond(w) })
			mw := c.Middleware(h)
			wantStatus(t, do(t, mw, "GET", "/p", tt.reqHdr...), tt.want)
			second := do(t, mw, "GET", "/p", tt.reqHdr...)
			stored := strings.HasSuffix(tt.want, "stored")
			if stored != isHit(second) {
				t.Fatalf("second request: Cache-Status %q, stored=%v", status(second), stored)
			}
			if want := int64(1); !stored {
				want = 2
				if runs.Load() != want {
					t.Fatalf("handler ran %d times, want %d", runs.Load(), want)
				}
			}
		})
	}
}

func cc(v string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.Header().Set("Cache-Control", v) }
}

func TestConfiguredStatuses(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.MiddlewareWith(dumper.Policy{Statuses: map[int]time.Duration{200: 0, 404: time.Minute, 301: 0}})
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone":
			http.NotFound(w, r)
		case "/old":
			http.Redirect(w, r, "/new", http.StatusMovedPermanently)
		default:
			w.Write([]byte("ok"))
		}
	}))
	for _, p := range []string{"/gone", "/old", "/x"} {
		wantStatus(t, do(t, h, "GET", p), "dumper; fwd=uri-miss; stored")
		if w := do(t, h, "GET", p); !isHit(w) {
			t.Errorf("%s: second request not a hit: %q", p, status(w))
		}
	}
	if w := do(t, h, "GET", "/old"); w.Code != 301 || w.Header().Get("Location") != "/new" {
		t.Errorf("cached redirect: %d %q", w.Code, w.Header().Get("Location"))
	}
}

func TestInvalidPolicy(t *testing.T) {
	t.Parallel()
	for _, o := range []dumper.Options{
		{Policy: dumper.Policy{Statuses: map[int]time.Duration{206: 0}}},
		{Policy: dumper.Policy{Statuses: map[int]time.Duration{200: -time.Second}}},
		{Policy: dumper.Policy{MaxAge: -1}},
		{MaxBytes: -1},
		{Name: "two words"},
		{Name: "1abc"},
	} {
		if c, err := dumper.New(o); err == nil {
			c.Close()
			t.Errorf("New(%+v) succeeded, want an error", o)
		} else if !strings.HasPrefix(err.Error(), "dumper: ") {
			t.Errorf("error %q lacks the dumper: prefix", err)
		}
	}
	c := newCache(t)
	defer func() {
		if recover() == nil {
			t.Error("MiddlewareWith with an invalid policy did not panic")
		}
	}()
	c.MiddlewareWith(dumper.Policy{MaxAge: -1})
}

func TestEveryVariantIsInvalidated(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language, Cookie")
	})
	mw := c.Middleware(h)
	type req struct {
		method, target string
		hdr            []string
	}
	variants := []req{
		{"GET", "/p", nil},
		{"GET", "/p?q=1", nil},
		{"GET", "/p?q=2", []string{"Accept-Language", "fr"}},
		{"GET", "/p", []string{"Accept-Language", "fr"}},
		{"GET", "/p", []string{"Cookie", "user=a"}},
		{"GET", "/p", []string{"Cookie", "user=b", "Accept-Language", "de"}},
	}
	other := req{"GET", "/other", nil}
	for _, v := range append(variants, other) {
		do(t, mw, v.method, v.target, v.hdr...)
		if w := do(t, mw, v.method, v.target, v.hdr...); !isHit(w) {
			t.Fatalf("%v: not a hit after a miss: %q", v, status(w))
		}
	}
	if err := c.InvalidatePaths(t.Context(), "/p"); err != nil {
		t.Fatal(err)
	}
	for _, v := range variants {
		if w := do(t, mw, v.method, v.target, v.hdr...); isHit(w) {
			t.Errorf("%v: still a hit after InvalidatePaths", v)
		}
	}
	if w := do(t, mw, other.method, other.target); !isHit(w) {
		t.Errorf("unrelated path lost: %q", status(w))
	}
}

func TestVariantsAreKeptApart(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Vary", "accept-language") })
	mw := c.Middleware(h)
	en := do(t, mw, "GET", "/p", "Accept-Language", "en")
	fr := do(t, mw, "GET", "/p", "Accept-Language", "fr")
	wantStatus(t, fr, "dumper; fwd=vary-miss; stored")
	none := do(t, mw, "GET", "/p")
	wantStatus(t, none, "dumper; fwd=vary-miss; stored")
	for _, tc := range []struct{ lang, body string }{{"en", en.Body.String()}, {"fr", fr.Body.String()}, {"", none.Body.String()}} {
		var w = do(t, mw, "GET", "/p")
		if tc.lang != "" {
			w = do(t, mw, "GET", "/p", "Accept-Language", tc.lang)
		}
		wantStatus(t, w, "dumper; hit")
		wantBody(t, w, tc.body)
	}
}

func TestHostIsPartOfTheKey(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.Host)) }))
	do(t, mw, "GET", "http://a.example/p")
	w := do(t, mw, "GET", "http://b.example/p")
	wantStatus(t, w, "dumper; fwd=uri-miss; stored")
	wantBody(t, w, "b.example")
	// The handler sees the Host as sent: another letter case is another entry.
	w = do(t, mw, "GET", "http://A.EXAMPLE/p")
	wantStatus(t, w, "dumper; fwd=uri-miss; stored")
	wantBody(t, w, "A.EXAMPLE")
	wantStatus(t, do(t, mw, "GET", "http://a.example/p"), "dumper; hit")
}

func TestTags(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ctx":
			dumper.Tag(r.Context(), "icecream:42", "table:icecreams")
		case "/hdr":
			w.Header().Set("Cache-Tag", "icecream:42,size:1 size:2")
		}
		w.Write([]byte(r.URL.Path))
	}))
	for _, p := range []string{"/ctx", "/hdr", "/none"} {
		do(t, mw, "GET", p)
	}
	if w := do(t, mw, "GET", "/hdr"); w.Header().Get("Cache-Tag") != "" {
		t.Errorf("tag header reached the client: %q", w.Header().Get("Cache-Tag"))
	}
	if err := c.InvalidateTags(t.Context(), "icecream:42"); err != nil {
		t.Fatal(err)
	}
	for p, hit := range map[string]bool{"/ctx": false, "/hdr": false, "/none": true} {
		if w := do(t, mw, "GET", p); isHit(w) != hit {
			t.Errorf("%s after InvalidateTags: Cache-Status %q, want hit=%v", p, status(w), hit)
		}
	}
	do(t, mw, "GET", "/hdr")
	if err := c.InvalidateTags(t.Context(), "size:2"); err != nil {
		t.Fatal(err)
	}
	if w := do(t, mw, "GET", "/hdr"); isHit(w) {
		t.Error("/hdr survived the invalidation of its second header tag")
	}
	if err := c.InvalidateTags(t.Context(), ""); err == nil {
		t.Error("InvalidateTags accepted an empty tag")
	}
}

func TestKeepTagHeader(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.MiddlewareWith(dumper.Policy{TagHeader: "surrogate-key", KeepTagHeader: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Surrogate-Key", "a b")
	}))
	for range 2 {
		if w := do(t, mw, "GET", "/"); w.Header().Get("Surrogate-Key") != "a b" {
			t.Errorf("Surrogate-Key = %q, want it kept", w.Header().Get("Surrogate-Key"))
		}
	}
	c.InvalidateTags(t.Context(), "b")
	if w := do(t, mw, "GET", "/"); isHit(w) {
		t.Error("tag from Surrogate-Key not honoured")
	}
}

func TestTagPathIsExact(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(nil)
	mw := c.Middleware(h)
	do(t, mw, "GET", "/x")
	do(t, mw, "GET", "/x/y")
	do(t, mw, "GET", "/xy")
	c.InvalidatePaths(t.Context(), "/x")
	for p, hit := range map[string]bool{"/x": false, "/x/y": true, "/xy": true} {
		if w := do(t, mw, "GET", p); isHit(w) != hit {
			t.Errorf("%s: hit=%v, want %v", p, isHit(w), hit)
		}
	}
}

func TestNonASCIIPaths(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(nil)
	mw := c.Middleware(h)
	forms := []string{"/icecream/cr%C3%A8me-br%C3%BBl%C3%A9e", "/icecream/cr%c3%a8me-br%c3%bbl%c3%a9e"}
	do(t, mw, "GET", forms[0])
	// The handler sees the other spelling in r.RequestURI and r.URL.RawPath: it has an
	// entry of its own.
	if w := do(t, mw, "GET", forms[1]); isHit(w) {
		t.Errorf("%s: %q, want a miss: the entry stored is for the other spelling", forms[1], status(w))
	}
	for _, f := range forms {
		if w := do(t, mw, "GET", f); !isHit(w) {
			t.Errorf("%s: %q, want a hit", f, status(w))
		}
	}
	for _, p := range []string{"/icecream/crème-brûlée", forms[0], forms[1]} {
		for _, f := range forms {
			do(t, mw, "GET", forms[0])
			if err := c.InvalidatePaths(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			if w := do(t, mw, "GET", f); isHit(w) {
				t.Errorf("InvalidatePaths(%q) left %s cached", p, f)
			}
		}
	}
}

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "/", want: "/"},
		{in: "/a/b/", want: "/a/b/"},
		{in: "/caf%c3%a9", want: "/caf%C3%A9"},
		{in: "/café", want: "/caf%C3%A9"},
		{in: "/a%2Fb", want: "/a/b"},
		{in: "/%7Euser", want: "/~user"},
		{in: "/a%28b%29", want: "/a(b)"},
		{in: "/a|b(c)", want: "/a%7Cb(c)"},
		{in: "/login?next=https://x/", want: "/login"},
		{in: "/proxy/https://x", want: "/proxy/https:/x"},
		{in: "/a/./b/../c", want: "/a/c"},
		{in: "/a/%2e%2e/c/", want: "/c/"},
		{in: "/..", want: "/"},
		{in: "/a b", want: "/a%20b"},
		{in: "/100%", want: "/100%25"},
		{in: "/s?q=1", want: "/s"},
		{in: "relative", bad: true},
		{in: "", bad: true},
		{in: "https://example.com/x", bad: true},
		{in: "//example.com/x", want: "/example.com/x"},
		{in: "/%2f", want: "/"},
		{in: "/a#frag", bad: true},
	}
	for _, tt := range tests {
		got, err := dumper.NormalizePath(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("NormalizePath(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestInvalidatePathsReportsBadPaths(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(nil)
	mw := c.Middleware(h)
	do(t, mw, "GET", "/ok")
	err := c.InvalidatePaths(t.Context(), "no-slash", "/ok")
	if err == nil || !strings.Contains(err.Error(), "no-slash") {
		t.Fatalf("err = %v, want one naming the bad path", err)
	}
	if w := do(t, mw, "GET", "/ok"); isHit(w) {
		t.Error("the valid path was not invalidated along with the bad one")
	}
}
