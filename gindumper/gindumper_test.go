package gindumper_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gindumper"
	"github.com/dumperhq/dumper/internal/adaptertest"
	"github.com/gin-gonic/gin"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// TestEngine runs scenarios through a gin engine with the middleware for the whole engine:
// gin's renderers, its router's answers, HEAD, ETags, unsafe methods, aborts, tags.
func TestEngine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64)
		steps []adaptertest.Step
	}{
		{
			name: "c.String, route params",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/icecream/:slug", func(g *gin.Context) {
					g.String(http.StatusOK, "n=%d %s", runs.Add(1), g.Param("slug"))
				})
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: adaptertest.Stored, Body: "n=1 vanilla",
					Also: adaptertest.WantHeader("Content-Type", "text/plain; charset=utf-8")},
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: adaptertest.Hit, Body: "n=1 vanilla", Runs: 1,
					Also: adaptertest.WantHeader("Content-Type", "text/plain; charset=utf-8")},
				{Method: "GET", Target: "/icecream/chocolate", Code: 200, CacheStatus: adaptertest.Stored, Body: "n=2 chocolate"},
			},
		},
		{
			name: "c.JSON and c.Data",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/json", func(g *gin.Context) { runs.Add(1); g.JSON(http.StatusOK, gin.H{"flavor": "vanilla"}) })
				r.GET("/data", func(g *gin.Context) { runs.Add(1); g.Data(http.StatusOK, "image/png", []byte("png")) })
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/json", Code: 200, CacheStatus: adaptertest.Stored, Body: `{"flavor":"vanilla"}`},
				{Method: "GET", Target: "/json", Code: 200, CacheStatus: adaptertest.Hit, Body: `{"flavor":"vanilla"}`, Runs: 1,
					Also: adaptertest.WantHeader("Content-Type", "application/json; charset=utf-8")},
				{Method: "GET", Target: "/data", Code: 200, CacheStatus: adaptertest.Stored, Body: "png"},
				{Method: "GET", Target: "/data", Code: 200, CacheStatus: adaptertest.Hit, Body: "png", Runs: 2,
					Also: adaptertest.WantHeader("Content-Type", "image/png")},
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
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/none", Code: 204, CacheStatus: "dumper; fwd=uri-miss; detail=status"},
				{Method: "GET", Target: "/none", Code: 204, CacheStatus: "dumper; fwd=uri-miss; detail=status", Runs: 2},
				{Method: "GET", Target: "/later", Code: 200, CacheStatus: adaptertest.Stored, Body: "ok"},
				{Method: "GET", Target: "/later", Code: 200, CacheStatus: adaptertest.Hit, Body: "ok"},
			},
		},
		{
			name: "router 404 and 405 as gin writes them",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.HandleMethodNotAllowed = true
				r.POST("/form", func(g *gin.Context) { runs.Add(1) })
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/nowhere", Code: 404, CacheStatus: "dumper; fwd=uri-miss; detail=status", Body: "404 page not found",
					Also: adaptertest.WantHeader("Content-Type", "text/plain")},
				{Method: "GET", Target: "/form", Code: 405, CacheStatus: "dumper; fwd=uri-miss; detail=status", Body: "405 method not allowed",
					Also: adaptertest.WantHeader("Allow", "POST")},
			},
		},
		{
			name: "HEAD routed, and HEAD gin does not route",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.Match([]string{"GET", "HEAD"}, "/both", func(g *gin.Context) { runs.Add(1); g.String(http.StatusOK, "both") })
				r.GET("/get", func(g *gin.Context) { runs.Add(1); g.String(http.StatusOK, "get") })
			},
			steps: []adaptertest.Step{
				{Method: "HEAD", Target: "/both", Code: 200, CacheStatus: adaptertest.HeadMiss, Body: "both", Runs: 1}, // a HEAD that misses is the handler's (a server drops the body)
				{Method: "GET", Target: "/both", Code: 200, CacheStatus: adaptertest.Stored, Body: "both", Runs: 2},
				{Method: "HEAD", Target: "/both", Code: 200, CacheStatus: adaptertest.Hit, Runs: 2, Also: adaptertest.WantHeader("Content-Length", "4")},
				{Method: "GET", Target: "/get", Code: 200, CacheStatus: adaptertest.Stored, Body: "get", Runs: 3},
				// gin answers 404 to a HEAD on a GET route; the cache does not answer it
				// from the GET's page.
				{Method: "HEAD", Target: "/get", Code: 404, CacheStatus: "-", Body: "404 page not found", Runs: 3}, // the server drops the body
			},
		},
		{
			name: "ETag and 304 from the cache",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/p", func(g *gin.Context) { runs.Add(1); g.Header("ETag", `"v1"`); g.String(http.StatusOK, "page") })
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/p", Code: 200, CacheStatus: adaptertest.Stored, Body: "page", Also: adaptertest.WantHeader("Etag", `"v1"`)},
				{Method: "GET", Target: "/p", Header: []string{"If-None-Match", `"v1"`}, Code: 304, CacheStatus: adaptertest.Hit, Runs: 1},
				{Method: "GET", Target: "/p", Header: []string{"If-None-Match", `"v0"`}, Code: 200, CacheStatus: adaptertest.Hit, Body: "page", Runs: 1},
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
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/p", Header: []string{"If-None-Match", `"v1"`}, Code: 304, CacheStatus: adaptertest.Stored},
				{Method: "GET", Target: "/p", Code: 200, CacheStatus: adaptertest.Hit, Body: "page", Runs: 1},
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
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: adaptertest.Stored, Body: "n=1"},
				{Method: "PATCH", Target: "/icecream/vanilla", Code: 204, CacheStatus: "dumper; fwd=method"},
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: "dumper; fwd=stale; stored", Body: "n=2"},
				{Method: "DELETE", Target: "/icecream/vanilla", Code: 403, CacheStatus: "dumper; fwd=method"},
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: adaptertest.Hit, Body: "n=2"}, // a refusal invalidates nothing
				{Method: "POST", Target: "/icecream?slug=vanilla", Code: 201, CacheStatus: "dumper; fwd=method"},
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: "dumper; fwd=stale; stored", Body: "n=3"}, // by Location
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
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/secret", Code: 401, CacheStatus: "dumper; fwd=uri-miss; detail=status", Body: `{"error":"no key"}`},
				{Method: "GET", Target: "/secret", Code: 401, CacheStatus: "dumper; fwd=uri-miss; detail=status", Body: `{"error":"no key"}`, Runs: 2},
			},
		},
		{
			name: "Cache-Control from the handler",
			setup: func(r *gin.Engine, c *dumper.Cache, runs *atomic.Int64) {
				r.GET("/private", func(g *gin.Context) { g.Header("Cache-Control", "private"); g.String(http.StatusOK, "mine") })
				r.GET("/cookie", func(g *gin.Context) { g.SetCookie("s", "1", 0, "/", "", false, true); g.String(http.StatusOK, "c") })
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/private", Code: 200, CacheStatus: "dumper; fwd=uri-miss; detail=private", Body: "mine"},
				{Method: "GET", Target: "/cookie", Code: 200, CacheStatus: "dumper; fwd=uri-miss; detail=set-cookie", Body: "c"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := adaptertest.NewCache(t)
			r := gin.New()
			r.Use(gindumper.Middleware(c))
			var runs atomic.Int64
			tt.setup(r, c, &runs)
			for _, s := range tt.steps {
				s.Do(t, r, &runs)
			}
		})
	}
}

// TestRenderContext: the request's context in a gin handler carries the render; so does the
// gin context itself, with ContextWithFallback.
func TestRenderContext(t *testing.T) {
	t.Parallel()
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("ContextWithFallback=%v", fallback), func(t *testing.T) {
			t.Parallel()
			adaptertest.RenderContext(t, func(c *dumper.Cache, page func(*http.Request, http.Header) string) http.Handler {
				r := gin.New()
				r.ContextWithFallback = fallback
				r.Use(gindumper.Middleware(c))
				r.GET("/p", func(g *gin.Context) {
					if fallback && !dumper.Rendering(g) {
						t.Error("the gin context does not carry the render")
					}
					g.String(http.StatusOK, page(g.Request, g.Writer.Header()))
				})
				return r
			})
		})
	}
}

// TestContextValues shows what the key leaves out: values a middleware in front sets with
// c.Set reach the handler, but are not part of the key, so a handler that renders from them
// calls dumper.NoStore (or the response says Vary or private).
func TestContextValues(t *testing.T) {
	t.Parallel()
	c := adaptertest.NewCache(t)
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
	steps := []adaptertest.Step{
		{Method: "GET", Target: "/me", Header: []string{"X-User", "ada"}, Code: 200, CacheStatus: "dumper; fwd=uri-miss; detail=handler", Body: `hello "ada"`},
		{Method: "GET", Target: "/me", Header: []string{"X-User", "bob"}, Code: 200, CacheStatus: "dumper; fwd=uri-miss; detail=handler", Body: `hello "bob"`},
		{Method: "GET", Target: "/me", Code: 200, CacheStatus: adaptertest.Stored, Body: `hello ""`},
		{Method: "GET", Target: "/me", Code: 200, CacheStatus: adaptertest.Hit, Body: `hello ""`, Runs: 3},
	}
	for _, s := range steps {
		s.Do(t, r, &runs)
	}
}

// TestWriterAfterMiddleware checks what a middleware in front of the cache sees of gin's
// writer (a logger's status and size) and of the request once the cache is done, and that
// it can still add headers to a response from the cache.
func TestWriterAfterMiddleware(t *testing.T) {
	t.Parallel()
	c := adaptertest.NewCache(t)
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
	c := adaptertest.NewCache(t)
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
	steps := []adaptertest.Step{
		{Method: "GET", Target: "/reports/2", Code: 404, CacheStatus: adaptertest.Stored, Body: "no report"},
		{Method: "GET", Target: "/reports/2", Code: 404, CacheStatus: adaptertest.Hit, Body: "no report", Runs: 1},
		{Method: "GET", Target: "/reports/1", Code: 200, CacheStatus: adaptertest.Stored, Body: "report 1"},
		{Method: "GET", Target: "/missing", Code: 404, CacheStatus: "dumper; fwd=uri-miss; detail=status", Body: "missing"},
		{Method: "GET", Target: "/one", Code: 200, CacheStatus: adaptertest.Stored, Body: "one", Also: adaptertest.WantHeader("Cache-Control", "max-age=60")},
		{Method: "GET", Target: "/one", Code: 200, CacheStatus: adaptertest.Hit, Body: "one", Also: adaptertest.WantHeader("Cache-Control", "max-age=60")},
	}
	for _, s := range steps {
		s.Do(t, r, &runs)
	}
	if got := c.Stats().Stores; got != 3 {
		t.Errorf("%d stores, want 3", got)
	}
}

// TestRouteOnly puts the middleware on one route only: the others are not cached and carry
// no Cache-Status.
func TestRouteOnly(t *testing.T) {
	t.Parallel()
	c := adaptertest.NewCache(t)
	r := gin.New()
	var runs atomic.Int64
	r.GET("/cached", gindumper.Middleware(c), func(g *gin.Context) { g.String(http.StatusOK, "n=%d", runs.Add(1)) })
	r.GET("/plain", func(g *gin.Context) { g.String(http.StatusOK, "plain") })
	steps := []adaptertest.Step{
		{Method: "GET", Target: "/cached", Code: 200, CacheStatus: adaptertest.Stored, Body: "n=1"},
		{Method: "GET", Target: "/cached", Code: 200, CacheStatus: adaptertest.Hit, Body: "n=1"},
		{Method: "GET", Target: "/plain", Code: 200, CacheStatus: "-", Body: "plain"},
		{Method: "GET", Target: "/nowhere", Code: 404, CacheStatus: "-", Body: "404 page not found"},
	}
	for _, s := range steps {
		s.Do(t, r, &runs)
	}
}

// TestPanicUnderRecovery: a handler that panics under gin.Recovery gets Recovery's 500 out,
// and nothing is stored.
func TestPanicUnderRecovery(t *testing.T) {
	t.Parallel()
	c := adaptertest.NewCache(t)
	r := gin.New()
	r.Use(gin.RecoveryWithWriter(io.Discard), gindumper.Middleware(c))
	var runs atomic.Int64
	r.GET("/p", func(g *gin.Context) {
		if runs.Add(1) == 1 {
			g.String(http.StatusOK, "half")
			panic("boom")
		}
		g.String(http.StatusOK, "whole")
	})
	adaptertest.Step{Method: "GET", Target: "/p", Code: 500, CacheStatus: "-"}.Do(t, r, &runs)
	adaptertest.Step{Method: "GET", Target: "/p", Code: 200, CacheStatus: adaptertest.Stored, Body: "whole"}.Do(t, r, &runs)
}

// TestCoalescing sends concurrent misses for one page through gin: the handler runs once.
func TestCoalescing(t *testing.T) {
	t.Parallel()
	adaptertest.Coalescing(t, func(c *dumper.Cache, page func() string) http.Handler {
		r := gin.New()
		r.Use(gindumper.Middleware(c))
		r.GET("/p", func(g *gin.Context) { g.String(http.StatusOK, page()) })
		return r
	})
}

// TestWriterInterfaces: c.Writer streams, hijacks, reaches the server's writer through
// http.ResponseController, and is an io.ReaderFrom, over a real server.
func TestWriterInterfaces(t *testing.T) {
	t.Parallel()
	adaptertest.WriterInterfaces(t, func(c *dumper.Cache, routes map[string]http.HandlerFunc) http.Handler {
		r := gin.New()
		r.Use(gindumper.Middleware(c))
		for path, h := range routes {
			r.GET(path, func(g *gin.Context) {
				if _, ok := g.Writer.(io.ReaderFrom); !ok {
					t.Errorf("c.Writer %T is not an io.ReaderFrom", g.Writer)
				}
				h(g.Writer, g.Request)
			})
		}
		return r
	})
}

// TestSameAsNetHTTP: gin with the adapter answers as the net/http middleware does.
func TestSameAsNetHTTP(t *testing.T) {
	t.Parallel()
	adaptertest.SameAsNetHTTP(t, func(c *dumper.Cache, page http.HandlerFunc) http.Handler {
		r := gin.New()
		r.Use(gindumper.Middleware(c))
		r.Match([]string{"GET", "HEAD"}, "/p", gin.WrapF(page))
		return r
	})
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
		want   adaptertest.Step
	}{
		{"c.Error, nothing written, answered in front", true, func(g *gin.Context) { _ = g.Error(errors.New("db down")) },
			adaptertest.Step{Code: 500, CacheStatus: "dumper; fwd=uri-miss; detail=handler", Body: `{"error":"db down"}`}},
		{"c.Error after a page", true, func(g *gin.Context) { g.String(http.StatusOK, "partial"); _ = g.Error(errors.New("db down")) },
			adaptertest.Step{Code: 200, CacheStatus: "dumper; fwd=uri-miss; detail=handler", Body: "partial"}},
		{"c.AbortWithError", false, func(g *gin.Context) { _ = g.AbortWithError(http.StatusBadGateway, errors.New("upstream")) },
			adaptertest.Step{Code: 502, CacheStatus: "dumper; fwd=uri-miss; detail=status"}},
		{"c.Status and c.Error, nothing in front", false, func(g *gin.Context) { g.Status(http.StatusNotFound); _ = g.Error(errors.New("gone")) },
			adaptertest.Step{Code: 404, CacheStatus: "dumper; fwd=uri-miss; detail=status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := adaptertest.NewCache(t)
			r := gin.New()
			if tt.front {
				r.Use(errorPage)
			}
			r.Use(gindumper.Middleware(c))
			var runs atomic.Int64
			r.GET("/p", func(g *gin.Context) { runs.Add(1); tt.handle(g) })
			for i := range 2 {
				s := tt.want
				s.Method, s.Target, s.Runs = "GET", "/p", int64(i+1)
				s.Do(t, r, &runs)
			}
		})
	}
}

// TestStream: c.Stream and c.SSEvent, over a real server, pass through (gin's CloseNotify
// reaches the server's writer) and are not stored: SSEvent sets Cache-Control: no-cache.
func TestStream(t *testing.T) {
	t.Parallel()
	c := adaptertest.NewCache(t)
	r := gin.New()
	r.Use(gindumper.Middleware(c))
	r.GET("/events", func(g *gin.Context) {
		n := 0
		g.Stream(func(w io.Writer) bool {
			n++
			g.SSEvent("flavor", fmt.Sprintf("vanilla %d", n))
			return n < 2
		})
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	for range 2 {
		res, err := http.Get(srv.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		want := "event:flavor\ndata:vanilla 1\n\nevent:flavor\ndata:vanilla 2\n\n"
		if string(b) != want || res.Header.Get("Cache-Status") != "dumper; fwd=uri-miss; detail=no-cache" {
			t.Errorf("body %q, Cache-Status %q; want %q, no-cache", b, res.Header.Get("Cache-Status"), want)
		}
	}
}
