package edge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/edge"
)

func newEdge(t *testing.T, o edge.Options) *edge.Edge {
	t.Helper()
	e, err := edge.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newCache(t *testing.T, e *edge.Edge) *dumper.Cache {
	t.Helper()
	c, err := dumper.New(dumper.Options{Policy: dumper.Policy{Edge: e}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func serve(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

func TestHeaderOnStoredResponses(t *testing.T) {
	tests := []struct {
		d                       edge.Dialect
		tagField, lifetimeField string
		lifetime                string
	}{
		{edge.Varnish, "Xkey", "Surrogate-Control", "max-age=3600"},
		{edge.Fastly, "Surrogate-Key", "Surrogate-Control", "max-age=3600"},
		{edge.Cloudflare, "Cache-Tag", "Cloudflare-Cdn-Cache-Control", "max-age=3600"},
		{edge.Akamai, "Edge-Cache-Tag", "Edge-Control", "max-age=3600s"},
		{edge.Bunny, "Cdn-Tag", "Cdn-Cache-Control", "max-age=3600"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			e := newEdge(t, edge.Options{Dialect: tt.d, MaxAge: time.Hour})
			c := newCache(t, e)
			h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				dumper.ReadRows(r.Context(), "ice_creams", "slug", "vanilla")
				io.WriteString(w, "vanilla")
			}))
			for i, want := range []string{"stored", "hit"} {
				rec := serve(h, "/icecream/vanilla")
				if cs := rec.Header().Get("Cache-Status"); !strings.Contains(cs, want) {
					t.Fatalf("request %d: Cache-Status %q, want %s", i, cs, want)
				}
				tags := rec.Header().Get(tt.tagField)
				for _, tag := range []string{"/icecream/vanilla", "row:ice_creams:slug=vanilla", "table:ice_creams", edge.AllTag} {
					if !strings.Contains(tags, tt.d.Key(tag)) && !strings.Contains(tags, strings.ToLower(tt.d.Key(tag))) {
						t.Errorf("request %d: %s %q lacks %q", i, tt.tagField, tags, tt.d.Key(tag))
					}
				}
				if got := rec.Header().Get(tt.lifetimeField); got != tt.lifetime {
					t.Errorf("request %d: %s %q, want %q", i, tt.lifetimeField, got, tt.lifetime)
				}
				if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
					t.Errorf("request %d: Cache-Control %q: the browser's lifetime is dumper's own", i, got)
				}
			}
		})
	}
}

func TestRefuseUnstored(t *testing.T) {
	e := newEdge(t, edge.Options{Dialect: edge.Fastly})
	c := newCache(t, e)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=1")
		io.WriteString(w, "yours")
	}))
	rec := serve(h, "/me")
	if got := rec.Header().Get("Surrogate-Control"); got != "no-store" {
		t.Fatalf("Surrogate-Control %q on a response dumper did not store, want no-store", got)
	}
	if got := rec.Header().Get("Surrogate-Key"); got != "" {
		t.Fatalf("Surrogate-Key %q on a response dumper did not store", got)
	}
}

// TestRefuseStaleOnArrival: a write that invalidates a page's tag while the page renders
// makes the render stale on arrival: dumper does not serve it again, and the edge must not
// keep it either.
func TestRefuseStaleOnArrival(t *testing.T) {
	e := newEdge(t, edge.Options{Dialect: edge.Varnish})
	c := newCache(t, e)
	write := true
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dumper.Tag(r.Context(), "flavor:1")
		if write {
			if err := c.InvalidateTags(context.WithoutCancel(r.Context()), "flavor:1"); err != nil {
				t.Error(err)
			}
		}
		io.WriteString(w, "page")
	}))
	rec := serve(h, "/")
	if got := rec.Header().Get("Surrogate-Control"); got != "no-store" {
		t.Fatalf("Surrogate-Control %q on a render condemned while it ran, want no-store", got)
	}
	if got := rec.Header().Get("Xkey"); got != "" {
		t.Fatalf("xkey %q on a render condemned while it ran", got)
	}
	write = false
	rec = serve(h, "/")
	if got := rec.Header().Get("Surrogate-Control"); !strings.HasPrefix(got, "max-age=") {
		t.Fatalf("Surrogate-Control %q on the next render, want a max-age", got)
	}
	if got := e.Stats().Refused; got != 1 {
		t.Fatalf("Stats().Refused = %d, want 1", got)
	}
}

// TestRefuseLongRender: a render that lasts longer than the delay of the second purge could
// have read data older than a purge the second one no longer covers.
func TestRefuseLongRender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, err := edge.New(edge.Options{Dialect: edge.Fastly, Delay: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		c, err := dumper.New(dumper.Options{Policy: dumper.Policy{Edge: e}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		took := 2 * time.Second
		h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(took)
			io.WriteString(w, "slow")
		}))
		if got := serve(h, "/slow").Header().Get("Surrogate-Control"); got != "no-store" {
			t.Fatalf("Surrogate-Control %q after a 2s render with a 1s delay, want no-store", got)
		}
		if got := serve(h, "/slow").Header().Get("Surrogate-Control"); !strings.HasPrefix(got, "max-age=") {
			t.Fatalf("Surrogate-Control %q on the hit that follows, want a max-age: dumper's entry was valid", got)
		}
		took = 500 * time.Millisecond
		if got := serve(h, "/fast").Header().Get("Surrogate-Control"); !strings.HasPrefix(got, "max-age=") {
			t.Fatalf("Surrogate-Control %q after a 0.5s render, want a max-age", got)
		}
	})
}

func TestRefuseTagsThatDoNotFit(t *testing.T) {
	e := newEdge(t, edge.Options{Dialect: edge.Bunny})
	c := newCache(t, e)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 100 {
			dumper.Tag(r.Context(), strings.Repeat("x", 20)+string(rune('a'+i%26))+strings.Repeat("y", i))
		}
		io.WriteString(w, "many tags")
	}))
	rec := serve(h, "/many")
	if got := rec.Header().Get("Cdn-Cache-Control"); got != "no-store" {
		t.Fatalf("CDN-Cache-Control %q for tags that cannot fit Bunny's 1024 bytes, want no-store", got)
	}
	if !strings.Contains(rec.Header().Get("Cache-Status"), "stored") {
		t.Fatalf("Cache-Status %q: dumper stores it all the same", rec.Header().Get("Cache-Status"))
	}
}

// TestHeaderOnVariants: a response that varies is checked under its variant's key, and its
// variants are tagged for the edge like any response.
func TestHeaderOnVariants(t *testing.T) {
	e := newEdge(t, edge.Options{Dialect: edge.Fastly})
	c := newCache(t, e)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		io.WriteString(w, "page in "+r.Header.Get("Accept-Language"))
	}))
	for _, lang := range []string{"en", "fr", "en"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept-Language", lang)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Surrogate-Control"); !strings.HasPrefix(got, "max-age=") {
			t.Fatalf("%s: Surrogate-Control %q (Cache-Status %q), want a max-age", lang, got, rec.Header().Get("Cache-Status"))
		}
		if got := rec.Header().Get("Surrogate-Key"); !strings.Contains(got, "/ ") && !strings.HasPrefix(got, "/ ") {
			t.Fatalf("%s: Surrogate-Key %q lacks the path", lang, got)
		}
	}
	if got := e.Stats().Refused; got != 0 {
		t.Fatalf("Stats().Refused = %d, want 0", got)
	}
}
