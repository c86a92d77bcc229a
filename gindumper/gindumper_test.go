package gindumper_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gindumper"
	"github.com/gin-gonic/gin"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

func newCache(t *testing.T) *dumper.Cache {
	t.Helper()
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// step is one request of a scenario and what its response must be.
type step struct {
	method, target string
	header         []string // name, value pairs
	code           int
	cacheStatus    string // "-": no Cache-Status
	body           string
	runs           int64 // the handler's run count after the request; 0: not checked
	also           func(t *testing.T, w *httptest.ResponseRecorder)
}

func (s step) do(t *testing.T, h http.Handler, runs *atomic.Int64) {
	t.Helper()
	r := httptest.NewRequest(s.method, s.target, nil)
	for i := 0; i+1 < len(s.header); i += 2 {
		r.Header.Add(s.header[i], s.header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	what := s.method + " " + s.target
	if w.Code != s.code {
		t.Errorf("%s: status %d, want %d (body %q)", what, w.Code, s.code, w.Body)
	}
	cs, want := w.Header().Get("Cache-Status"), s.cacheStatus
	if want == "-" {
		want = ""
	}
	if cs != want {
		t.Errorf("%s: Cache-Status %q, want %q", what, cs, want)
	}
	if got := w.Body.String(); got != s.body {
		t.Errorf("%s: body %q, want %q", what, got, s.body)
	}
	if s.runs != 0 && runs.Load() != s.runs {
		t.Errorf("%s: the handler ran %d times, want %d", what, runs.Load(), s.runs)
	}
	if s.also != nil {
		s.also(t, w)
	}
}

const (
	stored = "dumper; fwd=uri-miss; stored"
	hit    = "dumper; hit"
)

func wantHeader(name, value string) func(*testing.T, *httptest.ResponseRecorder) {
	return func(t *testing.T, w *httptest.ResponseRecorder) {
		t.Helper()
		if got := w.Header().Get(name); got != value {
			t.Errorf("%s: %q, want %q", name, got, value)
		}
	}
}

// TestEngine runs scenarios through a gin engine with the middleware for the whole engine:
// gin's renderers, its router's answers, HEAD, ETags, unsafe methods, aborts, tags.
func TestEngine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64)
		steps []step
	}{
		{
			name: "c.String, route params",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/icecream/:slug", func(g *gin.Context) {
					g.String(http.StatusOK, "n=%d %s", runs.Add(1), g.Param("slug"))
				})
			},
			steps: []step{
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: stored, body: "n=1 vanilla",
					also: wantHeader("Content-Type", "text/plain; charset=utf-8")},
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: hit, body: "n=1 vanilla", runs: 1,
					also: wantHeader("Content-Type", "text/plain; charset=utf-8")},
				{method: "GET", target: "/icecream/chocolate", code: 200, cacheStatus: stored, body: "n=2 chocolate"},
			},
		},
		{
			name: "c.JSON and c.Data",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/json", func(g *gin.Context) { runs.Add(1); g.JSON(http.StatusOK, gin.H{"flavor": "vanilla"}) })
				r.GET("/data", func(g *gin.Context) { runs.Add(1); g.Data(http.StatusOK, "image/png", []byte("png")) })
			},
			steps: []step{
				{method: "GET", target: "/json", code: 200, cacheStatus: stored, body: `{"flavor":"vanilla"}`},
				{method: "GET", target: "/json", code: 200, cacheStatus: hit, body: `{"flavor":"vanilla"}`, runs: 1,
					also: wantHeader("Content-Type", "application/json; charset=utf-8")},
				{method: "GET", target: "/data", code: 200, cacheStatus: stored, body: "png"},
				{method: "GET", target: "/data", code: 200, cacheStatus: hit, body: "png", runs: 2,
					also: wantHeader("Content-Type", "image/png")},
			},
		},
		{
			name: "status without a body",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/none", func(g *gin.Context) { runs.Add(1); g.Status(http.StatusNoContent) })
				r.GET("/later", func(g *gin.Context) {
					runs.Add(1)
					g.Status(http.StatusTeapot) // changed before the first write, as gin allows
					g.String(http.StatusOK, "ok")
				})
			},
			steps: []step{
				{method: "GET", target: "/none", code: 204, cacheStatus: "dumper; fwd=uri-miss; detail=status"},
				{method: "GET", target: "/none", code: 204, cacheStatus: "dumper; fwd=uri-miss; detail=status", runs: 2},
				{method: "GET", target: "/later", code: 200, cacheStatus: stored, body: "ok"},
				{method: "GET", target: "/later", code: 200, cacheStatus: hit, body: "ok"},
			},
		},
		{
			name: "router 404 and 405 as gin writes them",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.HandleMethodNotAllowed = true
				r.POST("/form", func(g *gin.Context) { runs.Add(1) })
			},
			steps: []step{
				{method: "GET", target: "/nowhere", code: 404, cacheStatus: "dumper; fwd=uri-miss; detail=status", body: "404 page not found",
					also: wantHeader("Content-Type", "text/plain")},
				{method: "GET", target: "/form", code: 405, cacheStatus: "dumper; fwd=uri-miss; detail=status", body: "405 method not allowed",
					also: wantHeader("Allow", "POST")},
			},
		},
		{
			name: "HEAD routed, and HEAD gin does not route",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.Match([]string{"GET", "HEAD"}, "/both", func(g *gin.Context) { runs.Add(1); g.String(http.StatusOK, "both") })
				r.GET("/get", func(g *gin.Context) { runs.Add(1); g.String(http.StatusOK, "get") })
			},
			steps: []step{
				{method: "HEAD", target: "/both", code: 200, cacheStatus: stored, also: wantHeader("Content-Length", "4")},
				{method: "GET", target: "/both", code: 200, cacheStatus: hit, body: "both", runs: 1},
				{method: "HEAD", target: "/both", code: 200, cacheStatus: hit, runs: 1},
				{method: "GET", target: "/get", code: 200, cacheStatus: stored, body: "get", runs: 2},
				// gin answers 404 to a HEAD on a GET route; the cache does not answer it
				// from the GET's page.
				{method: "HEAD", target: "/get", code: 404, cacheStatus: "-", body: "404 page not found", runs: 2}, // the server drops the body
			},
		},
		{
			name: "ETag and 304 from the cache",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/p", func(g *gin.Context) { runs.Add(1); g.Header("ETag", `"v1"`); g.String(http.StatusOK, "page") })
			},
			steps: []step{
				{method: "GET", target: "/p", code: 200, cacheStatus: stored, body: "page", also: wantHeader("Etag", `"v1"`)},
				{method: "GET", target: "/p", header: []string{"If-None-Match", `"v1"`}, code: 304, cacheStatus: hit, runs: 1},
				{method: "GET", target: "/p", header: []string{"If-None-Match", `"v0"`}, code: 200, cacheStatus: hit, body: "page", runs: 1},
			},
		},
		{
			name: "a conditional miss renders the whole page and answers 304",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/p", func(g *gin.Context) {
					runs.Add(1)
					if g.GetHeader("If-None-Match") != "" {
						g.String(http.StatusOK, "the handler saw the precondition")
						return
					}
					g.Header("ETag", `"v1"`)
					g.String(http.StatusOK, "page")
				})
			},
			steps: []step{
				{method: "GET", target: "/p", header: []string{"If-None-Match", `"v1"`}, code: 304, cacheStatus: stored},
				{method: "GET", target: "/p", code: 200, cacheStatus: hit, body: "page", runs: 1},
			},
		},
		{
			name: "unsafe methods invalidate",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/icecream/:slug", func(g *gin.Context) { g.String(http.StatusOK, "n=%d", runs.Add(1)) })
				r.PATCH("/icecream/:slug", func(g *gin.Context) { g.Status(http.StatusNoContent) })
				r.POST("/icecream", func(g *gin.Context) {
					g.Header("Location", "/icecream/"+g.Query("slug"))
					g.Status(http.StatusCreated)
				})
				r.DELETE("/icecream/:slug", func(g *gin.Context) { g.AbortWithStatus(http.StatusForbidden) })
			},
			steps: []step{
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: stored, body: "n=1"},
				{method: "PATCH", target: "/icecream/vanilla", code: 204, cacheStatus: "dumper; fwd=method"},
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: "dumper; fwd=stale; stored", body: "n=2"},
				{method: "DELETE", target: "/icecream/vanilla", code: 403, cacheStatus: "dumper; fwd=method"},
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: hit, body: "n=2"}, // a refusal invalidates nothing
				{method: "POST", target: "/icecream?slug=vanilla", code: 201, cacheStatus: "dumper; fwd=method"},
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: "dumper; fwd=stale; stored", body: "n=3"}, // by Location
			},
		},
		{
			name: "abort by a middleware after the cache",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				auth := func(g *gin.Context) {
					if g.GetHeader("X-Key") != "k" {
						runs.Add(1)
						g.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "no key"})
					}
				}
				r.GET("/secret", auth, func(g *gin.Context) { runs.Add(1); g.String(http.StatusOK, "secret") })
			},
			steps: []step{
				{method: "GET", target: "/secret", code: 401, cacheStatus: "dumper; fwd=uri-miss; detail=status", body: `{"error":"no key"}`},
				{method: "GET", target: "/secret", code: 401, cacheStatus: "dumper; fwd=uri-miss; detail=status", body: `{"error":"no key"}`, runs: 2},
			},
		},
		{
			name: "Cache-Control from the handler",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/private", func(g *gin.Context) { g.Header("Cache-Control", "private"); g.String(http.StatusOK, "mine") })
				r.GET("/cookie", func(g *gin.Context) { g.SetCookie("s", "1", 0, "/", "", false, true); g.String(http.StatusOK, "c") })
			},
			steps: []step{
				{method: "GET", target: "/private", code: 200, cacheStatus: "dumper; fwd=uri-miss; detail=private", body: "mine"},
				{method: "GET", target: "/cookie", code: 200, cacheStatus: "dumper; fwd=uri-miss; detail=set-cookie", body: "c"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			r := gin.New()
			r.Use(gindumper.Middleware(c))
			var runs atomic.Int64
			tt.setup(r, c, &runs)
			for _, s := range tt.steps {
				s.do(t, r, &runs)
			}
		})
	}
}

// TestRenderContext checks that the request's context in a handler, and the gin context
// itself with ContextWithFallback, carry the render: what dumper.Tag, dumper.NoStore and the
// data layers' capture (dumper.ReadRows, which gormdumper, sqldumper and pgxdumper call with
// the context a query gets) record counts.
func TestRenderContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fallback   bool
		handle     func(g *gin.Context)
		invalidate func(ctx context.Context, c *dumper.Cache) error
		stale      bool // whether the invalidation drops the page
	}{
		{
			name:       "Tag(c.Request.Context())",
			handle:     func(g *gin.Context) { dumper.Tag(g.Request.Context(), "icecream:1") },
			invalidate: func(ctx context.Context, c *dumper.Cache) error { return c.InvalidateTags(ctx, "icecream:1") },
			stale:      true,
		},
		{
			name:       "Tag(c) with ContextWithFallback",
			fallback:   true,
			handle:     func(g *gin.Context) { dumper.Tag(g, "icecream:1") },
			invalidate: func(ctx context.Context, c *dumper.Cache) error { return c.InvalidateTags(ctx, "icecream:1") },
			stale:      true,
		},
		{
			name:   "ReadRows(c.Request.Context())",
			handle: func(g *gin.Context) { dumper.ReadRows(g.Request.Context(), "ice_creams", "slug", "vanilla") },
			invalidate: func(ctx context.Context, c *dumper.Cache) error {
				return c.InvalidateTags(ctx, dumper.RowTag("ice_creams", "slug", "vanilla"))
			},
			stale: true,
		},
		{
			name:   "ReadRows, another row written",
			handle: func(g *gin.Context) { dumper.ReadRows(g.Request.Context(), "ice_creams", "slug", "vanilla") },
			invalidate: func(ctx context.Context, c *dumper.Cache) error {
				return c.InvalidateTags(ctx, dumper.RowTag("ice_creams", "slug", "chocolate"))
			},
		},
		{
			name:   "a Cache-Tag header set with c.Header",
			handle: func(g *gin.Context) { g.Header("Cache-Tag", "icecream:1") },
			invalidate: func(ctx context.Context, c *dumper.Cache) error {
				return c.InvalidateTags(ctx, "icecream:1")
			},
			stale: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			r := gin.New()
			r.ContextWithFallback = tt.fallback
			r.Use(gindumper.Middleware(c))
			var runs atomic.Int64
			r.GET("/p", func(g *gin.Context) {
				if !dumper.Rendering(g.Request.Context()) {
					t.Error("the handler's request context is not the render's")
				}
				tt.handle(g)
				g.String(http.StatusOK, "n=%d", runs.Add(1))
			})
			step{method: "GET", target: "/p", code: 200, cacheStatus: stored, body: "n=1",
				also: wantHeader("Cache-Tag", "")}.do(t, r, &runs)
			if err := tt.invalidate(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			want := step{method: "GET", target: "/p", code: 200, cacheStatus: hit, body: "n=1"}
			if tt.stale {
				want = step{method: "GET", target: "/p", code: 200, cacheStatus: "dumper; fwd=stale; stored", body: "n=2"}
			}
			want.do(t, r, &runs)
		})
	}
}

// TestContextValues shows what the key leaves out: values a middleware in front sets with
// c.Set reach the handler, but are not part of the key, so a handler that renders from them
// calls dumper.NoStore (or the response says Vary or private).
func TestContextValues(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	r := gin.New()
	r.Use(func(g *gin.Context) {
		if u := g.GetHeader("X-User"); u != "" {
			g.Set("user", u)
		}
	}, gindumper.Middleware(c))
	var runs atomic.Int64
	r.GET("/me", func(g *gin.Context) {
		runs.Add(1)
		u := g.GetString("user")
		if u != "" {
			dumper.NoStore(g.Request.Context()) // the page depends on who asks
		}
		g.String(http.StatusOK, "hello %q", u)
	})
	steps := []step{
		{method: "GET", target: "/me", header: []string{"X-User", "ada"}, code: 200, cacheStatus: "dumper; fwd=uri-miss; detail=handler", body: `hello "ada"`},
		{method: "GET", target: "/me", header: []string{"X-User", "bob"}, code: 200, cacheStatus: "dumper; fwd=uri-miss; detail=handler", body: `hello "bob"`},
		{method: "GET", target: "/me", code: 200, cacheStatus: stored, body: `hello ""`},
		{method: "GET", target: "/me", code: 200, cacheStatus: hit, body: `hello ""`, runs: 3},
	}
	for _, s := range steps {
		s.do(t, r, &runs)
	}
}

// TestWriterAfterMiddleware checks what a middleware in front of the cache sees of gin's
// writer (a logger's status and size) and of the request once the cache is done, and that
// it can still add headers to a response from the cache.
func TestWriterAfterMiddleware(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	r := gin.New()
	type seen struct {
		status, size int
		method       string
		rendering    bool
	}
	var last seen
	r.Use(func(g *gin.Context) {
		g.Next()
		last = seen{g.Writer.Status(), g.Writer.Size(), g.Request.Method, dumper.Rendering(g.Request.Context())}
	}, gindumper.Middleware(c))
	r.Match([]string{"GET", "HEAD"}, "/p", func(g *gin.Context) {
		if g.Writer.Status() != http.StatusOK || g.Writer.Written() {
			t.Errorf("the handler starts with status %d, written %v", g.Writer.Status(), g.Writer.Written())
		}
		g.Header("ETag", `"v1"`)
		g.String(http.StatusOK, "page!")
		if g.Writer.Size() != 5 {
			t.Errorf("the handler's writer counts %d bytes, want 5", g.Writer.Size())
		}
	})
	tests := []struct {
		name   string
		method string
		header []string
		want   seen
	}{
		{"miss", "GET", nil, seen{200, 5, "GET", false}},
		{"hit", "GET", nil, seen{200, 5, "GET", false}},
		{"304", "GET", []string{"If-None-Match", `"v1"`}, seen{304, -1, "GET", false}},
		{"HEAD", "HEAD", nil, seen{200, -1, "HEAD", false}},
	}
	for _, tt := range tests {
		rq := httptest.NewRequest(tt.method, "/p", nil)
		for i := 0; i+1 < len(tt.header); i += 2 {
			rq.Header.Set(tt.header[i], tt.header[i+1])
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, rq)
		if last != tt.want {
			t.Errorf("%s: the middleware in front saw %+v, want %+v", tt.name, last, tt.want)
		}
	}
}

// TestGroupPolicy gives a group its own policy under the engine's middleware: the group's
// policy decides (it stores 404s), and the response is stored once.
func TestGroupPolicy(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	r := gin.New()
	r.Use(gindumper.Middleware(c))
	var runs atomic.Int64
	g := r.Group("/reports", gindumper.MiddlewareWith(c, dumper.Policy{Statuses: map[int]time.Duration{200: 0, 404: time.Minute}}))
	g.GET("/:id", func(g *gin.Context) {
		runs.Add(1)
		if g.Param("id") != "1" {
			g.String(http.StatusNotFound, "no report")
			return
		}
		g.String(http.StatusOK, "report 1")
	})
	r.GET("/missing", func(g *gin.Context) { runs.Add(1); g.String(http.StatusNotFound, "missing") })
	route := r.Group("") // a single route with its own policy
	route.GET("/one", gindumper.MiddlewareWith(c, dumper.Policy{BrowserCacheControl: "max-age=60"}), func(g *gin.Context) {
		g.String(http.StatusOK, "one")
	})
	steps := []step{
		{method: "GET", target: "/reports/2", code: 404, cacheStatus: stored, body: "no report"},
		{method: "GET", target: "/reports/2", code: 404, cacheStatus: hit, body: "no report", runs: 1},
		{method: "GET", target: "/reports/1", code: 200, cacheStatus: stored, body: "report 1"},
		{method: "GET", target: "/missing", code: 404, cacheStatus: "dumper; fwd=uri-miss; detail=status", body: "missing"},
		{method: "GET", target: "/one", code: 200, cacheStatus: stored, body: "one", also: wantHeader("Cache-Control", "max-age=60")},
		{method: "GET", target: "/one", code: 200, cacheStatus: hit, body: "one", also: wantHeader("Cache-Control", "max-age=60")},
	}
	for _, s := range steps {
		s.do(t, r, &runs)
	}
	if got := c.Stats().Stores; got != 3 {
		t.Errorf("%d stores, want 3", got)
	}
}

// TestRouteOnly puts the middleware on one route only: the others are not cached and carry
// no Cache-Status.
func TestRouteOnly(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	r := gin.New()
	var runs atomic.Int64
	r.GET("/cached", gindumper.Middleware(c), func(g *gin.Context) { g.String(http.StatusOK, "n=%d", runs.Add(1)) })
	r.GET("/plain", func(g *gin.Context) { g.String(http.StatusOK, "plain") })
	steps := []step{
		{method: "GET", target: "/cached", code: 200, cacheStatus: stored, body: "n=1"},
		{method: "GET", target: "/cached", code: 200, cacheStatus: hit, body: "n=1"},
		{method: "GET", target: "/plain", code: 200, cacheStatus: "-", body: "plain"},
		{method: "GET", target: "/nowhere", code: 404, cacheStatus: "-", body: "404 page not found"},
	}
	for _, s := range steps {
		s.do(t, r, &runs)
	}
}

// TestPanicUnderRecovery: a handler that panics under gin.Recovery gets Recovery's 500 out,
// and nothing is stored.
func TestPanicUnderRecovery(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	r := gin.New()
	gin.DefaultErrorWriter = io.Discard
	r.Use(gin.RecoveryWithWriter(io.Discard), gindumper.Middleware(c))
	var runs atomic.Int64
	r.GET("/p", func(g *gin.Context) {
		if runs.Add(1) == 1 {
			g.String(http.StatusOK, "half")
			panic("boom")
		}
		g.String(http.StatusOK, "whole")
	})
	step{method: "GET", target: "/p", code: 500, cacheStatus: "-"}.do(t, r, &runs)
	step{method: "GET", target: "/p", code: 200, cacheStatus: stored, body: "whole"}.do(t, r, &runs)
}

// TestCoalescing sends concurrent misses for one page through gin: the handler runs once.
func TestCoalescing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		r := gin.New()
		r.Use(gindumper.Middleware(c))
		started, release := make(chan struct{}), make(chan struct{})
		var runs atomic.Int64
		r.GET("/p", func(g *gin.Context) {
			if runs.Add(1) == 1 {
				close(started)
				<-release
			}
			g.String(http.StatusOK, "page")
		})
		const n = 8
		res := make([]*httptest.ResponseRecorder, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				res[i] = httptest.NewRecorder()
				r.ServeHTTP(res[i], httptest.NewRequest("GET", "/p", nil))
			})
		}
		<-started
		synctest.Wait()
		if got := c.Stats().Coalesced; got != n-1 {
			t.Errorf("%d requests wait for the render, want %d", got, n-1)
		}
		close(release)
		wg.Wait()
		if runs.Load() != 1 {
			t.Fatalf("the handler ran %d times for %d concurrent misses, want 1", runs.Load(), n)
		}
		hits := 0
		for _, w := range res {
			if w.Body.String() != "page" {
				t.Errorf("body %q", w.Body)
			}
			if w.Header().Get("Cache-Status") == hit {
				hits++
			}
		}
		if hits != n-1 {
			t.Errorf("%d hits, want %d", hits, n-1)
		}
	})
}

// TestWriterInterfaces runs handlers over a real server: a flushed response streams through
// (its first part reaches the client before the handler returns) and is not stored; a
// hijacked connection belongs to the handler; http.ResponseController reaches the server's
// writer; io.Copy into c.Writer uses its ReadFrom and the response is stored.
func TestWriterInterfaces(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	r := gin.New()
	r.Use(gindumper.Middleware(c))
	firstRead := make(chan struct{})
	r.GET("/stream", func(g *gin.Context) {
		g.String(http.StatusOK, "first\n")
		g.Writer.Flush()
		<-firstRead // the client has the first part
		g.String(http.StatusOK, "second\n")
	})
	r.GET("/hijack", func(g *gin.Context) {
		conn, rw, err := g.Writer.Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		_ = rw.Flush()
	})
	r.GET("/deadline", func(g *gin.Context) {
		rc := http.NewResponseController(g.Writer)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline through the adapter: %v", err)
		}
		g.String(http.StatusOK, "deadline")
	})
	r.GET("/copy", func(g *gin.Context) {
		if _, ok := g.Writer.(io.ReaderFrom); !ok {
			t.Errorf("c.Writer %T is not an io.ReaderFrom", g.Writer)
		}
		g.Header("Content-Type", "text/plain")
		if _, err := io.Copy(g.Writer, strings.NewReader("copied")); err != nil {
			t.Error(err)
		}
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first part %q, %v", line, err)
	}
	close(firstRead)
	rest, _ := io.ReadAll(br)
	res.Body.Close()
	if string(rest) != "second\n" || res.Header.Get("Cache-Status") != "dumper; fwd=uri-miss; detail=streamed" {
		t.Errorf("stream: rest %q, Cache-Status %q", rest, res.Header.Get("Cache-Status"))
	}

	for _, tt := range []struct{ path, body, cacheStatus string }{
		{"/hijack", "hijacked", ""},
		{"/hijack", "hijacked", ""},
		{"/deadline", "deadline", stored},
		{"/deadline", "deadline", hit},
		{"/copy", "copied", stored},
		{"/copy", "copied", hit},
	} {
		res, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != tt.body || res.Header.Get("Cache-Status") != tt.cacheStatus {
			t.Errorf("%s: body %q, Cache-Status %q; want %q, %q", tt.path, b, res.Header.Get("Cache-Status"), tt.body, tt.cacheStatus)
		}
	}
}

// TestSameAsNetHTTP renders the same pages through gin with the adapter and through the
// net/http middleware: the responses are the same, header and body.
func TestSameAsNetHTTP(t *testing.T) {
	t.Parallel()
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<p>%s %s</p>", r.URL.RequestURI(), r.Header.Get("Accept-Language"))
	}
	cg, cn := newCache(t), newCache(t)
	r := gin.New()
	r.Use(gindumper.Middleware(cg))
	r.Match([]string{"GET", "HEAD"}, "/p", gin.WrapF(page))
	mux := http.NewServeMux()
	mux.HandleFunc("/p", page)
	std := cn.Middleware(mux)
	for _, req := range []struct {
		method, target string
		header         []string
	}{
		{"GET", "/p?a=1", []string{"Accept-Language", "fr"}},
		{"GET", "/p?a=1", []string{"Accept-Language", "fr"}},
		{"GET", "/p?a=1", []string{"Accept-Language", "en"}},
		{"HEAD", "/p?a=1", []string{"Accept-Language", "en"}},
		{"GET", "/p?a=1", []string{"Accept-Language", "en", "If-None-Match", `"nope"`}},
		{"GET", "/p?a=2", []string{"Authorization", "Bearer x"}},
		{"GET", "/p", []string{"Cache-Control", "only-if-cached"}},
		{"GET", "/p", []string{"Range", "bytes=0-1"}},
	} {
		var got [2]*httptest.ResponseRecorder
		for i, h := range []http.Handler{r, std} {
			rq := httptest.NewRequest(req.method, req.target, nil)
			for j := 0; j+1 < len(req.header); j += 2 {
				rq.Header.Set(req.header[j], req.header[j+1])
			}
			got[i] = httptest.NewRecorder()
			h.ServeHTTP(got[i], rq)
		}
		g, n := got[0], got[1]
		if g.Code != n.Code || g.Body.String() != n.Body.String() || fmt.Sprint(g.Header()) != fmt.Sprint(n.Header()) {
			t.Errorf("%s %s %v:\ngin      %d %v %q\nnet/http %d %v %q", req.method, req.target, req.header,
				g.Code, g.Header(), g.Body, n.Code, n.Header(), n.Body)
		}
	}
}

// TestHandlerErrors: a response whose handler reported an error with c.Error is not stored,
// and an error middleware in front of the cache can still answer when the handler wrote
// nothing, as it can without the cache.
func TestHandlerErrors(t *testing.T) {
	t.Parallel()
	errorPage := func(g *gin.Context) {
		g.Next()
		if len(g.Errors) > 0 && !g.Writer.Written() {
			g.JSON(http.StatusInternalServerError, gin.H{"error": g.Errors.Last().Error()})
		}
	}
	tests := []struct {
		name   string
		front  bool // an error middleware in front of the cache
		handle func(g *gin.Context)
		want   step
	}{
		{"c.Error, nothing written, answered in front", true, func(g *gin.Context) { _ = g.Error(errors.New("db down")) },
			step{code: 500, cacheStatus: "dumper; fwd=uri-miss; detail=handler", body: `{"error":"db down"}`}},
		{"c.Error after a page", true, func(g *gin.Context) { g.String(http.StatusOK, "partial"); _ = g.Error(errors.New("db down")) },
			step{code: 200, cacheStatus: "dumper; fwd=uri-miss; detail=handler", body: "partial"}},
		{"c.AbortWithError", false, func(g *gin.Context) { _ = g.AbortWithError(http.StatusBadGateway, errors.New("upstream")) },
			step{code: 502, cacheStatus: "dumper; fwd=uri-miss; detail=status"}},
		{"c.Status and c.Error, nothing in front", false, func(g *gin.Context) { g.Status(http.StatusNotFound); _ = g.Error(errors.New("gone")) },
			step{code: 404, cacheStatus: "dumper; fwd=uri-miss; detail=status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			r := gin.New()
			if tt.front {
				r.Use(errorPage)
			}
			r.Use(gindumper.Middleware(c))
			var runs atomic.Int64
			r.GET("/p", func(g *gin.Context) { runs.Add(1); tt.handle(g) })
			for i := range 2 {
				s := tt.want
				s.method, s.target, s.runs = "GET", "/p", int64(i+1)
				s.do(t, r, &runs)
			}
		})
	}
}
