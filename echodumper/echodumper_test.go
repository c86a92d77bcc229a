package echodumper_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/echodumper"
	"github.com/dumperhq/dumper/internal/adaptertest"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

func newEcho() *echo.Echo {
	e := echo.New()
	e.Logger.SetOutput(io.Discard)
	return e
}

// TestServer runs scenarios through an echo server with the middleware for the whole server:
// echo's renderers, handler errors and its router's answers, HEAD, ETags, unsafe methods.
func TestServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy *dumper.Policy
		setup  func(e *echo.Echo, runs *atomic.Int64)
		steps  []adaptertest.Step
	}{
		{
			name: "c.String, route params",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/icecream/:slug", func(c echo.Context) error {
					return c.String(http.StatusOK, fmt.Sprintf("n=%d %s", runs.Add(1), c.Param("slug")))
				})
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: adaptertest.Stored, Body: "n=1 vanilla"},
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: adaptertest.Hit, Body: "n=1 vanilla", Runs: 1,
					Also: adaptertest.WantHeader("Content-Type", "text/plain; charset=UTF-8")},
				{Method: "GET", Target: "/icecream/chocolate", Code: 200, CacheStatus: adaptertest.Stored, Body: "n=2 chocolate"},
			},
		},
		{
			name: "c.JSON, c.Blob, c.NoContent",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/json", func(c echo.Context) error {
					runs.Add(1)
					return c.JSON(http.StatusOK, map[string]string{"flavor": "vanilla"})
				})
				e.GET("/blob", func(c echo.Context) error { runs.Add(1); return c.Blob(http.StatusOK, "image/png", []byte("png")) })
				e.GET("/none", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/json", Code: 200, CacheStatus: adaptertest.Stored, Body: "{\"flavor\":\"vanilla\"}\n"},
				{Method: "GET", Target: "/json", Code: 200, CacheStatus: adaptertest.Hit, Body: "{\"flavor\":\"vanilla\"}\n", Runs: 1,
					Also: adaptertest.WantHeader("Content-Type", "application/json")},
				{Method: "GET", Target: "/blob", Code: 200, CacheStatus: adaptertest.Stored, Body: "png"},
				{Method: "GET", Target: "/blob", Code: 200, CacheStatus: adaptertest.Hit, Body: "png", Runs: 2, Also: adaptertest.WantHeader("Content-Type", "image/png")},
				{Method: "GET", Target: "/none", Code: 204, CacheStatus: adaptertest.ByStatus},
			},
		},
		{
			name: "handler errors are rendered by echo's error handler, within the render",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/missing", func(c echo.Context) error {
					runs.Add(1)
					return echo.NewHTTPError(http.StatusNotFound, "no such flavor")
				})
				e.GET("/broken", func(c echo.Context) error { runs.Add(1); return errors.New("database down") })
				e.GET("/late", func(c echo.Context) error {
					runs.Add(1)
					_ = c.String(http.StatusOK, "partial")
					return errors.New("template failed")
				})
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/missing", Code: 404, CacheStatus: adaptertest.ByStatus, Body: "{\"message\":\"no such flavor\"}\n"},
				{Method: "GET", Target: "/missing", Code: 404, CacheStatus: adaptertest.ByStatus, Body: "{\"message\":\"no such flavor\"}\n", Runs: 2},
				{Method: "GET", Target: "/broken", Code: 500, CacheStatus: adaptertest.ByStatus, Body: "{\"message\":\"Internal Server Error\"}\n"},
				{Method: "GET", Target: "/broken", Code: 500, CacheStatus: adaptertest.ByStatus, Body: "{\"message\":\"Internal Server Error\"}\n", Runs: 4},
				// An error after the page started: the error handler cannot replace it, and
				// it is not stored.
				{Method: "GET", Target: "/late", Code: 200, CacheStatus: "dumper; fwd=uri-miss; detail=handler", Body: "partial", Runs: 5},
				{Method: "GET", Target: "/late", Code: 200, CacheStatus: "dumper; fwd=uri-miss; detail=handler", Body: "partial", Runs: 6},
			},
		},
		{
			name:   "a policy that stores 404s stores the error response, as a 404; never a 5xx",
			policy: &dumper.Policy{Statuses: map[int]time.Duration{200: 0, 404: time.Minute}},
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/missing", func(c echo.Context) error {
					runs.Add(1)
					return echo.NewHTTPError(http.StatusNotFound, "no such flavor")
				})
				e.GET("/broken", func(c echo.Context) error { runs.Add(1); return echo.ErrServiceUnavailable })
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/missing", Code: 404, CacheStatus: adaptertest.Stored, Body: "{\"message\":\"no such flavor\"}\n"},
				{Method: "GET", Target: "/missing", Code: 404, CacheStatus: adaptertest.Hit, Body: "{\"message\":\"no such flavor\"}\n", Runs: 1,
					Also: adaptertest.WantHeader("Content-Type", "application/json")},
				{Method: "GET", Target: "/nowhere", Code: 404, CacheStatus: adaptertest.Stored, Body: "{\"message\":\"Not Found\"}\n"},
				{Method: "GET", Target: "/nowhere", Code: 404, CacheStatus: adaptertest.Hit, Body: "{\"message\":\"Not Found\"}\n"},
				{Method: "GET", Target: "/broken", Code: 503, CacheStatus: adaptertest.ByStatus, Body: "{\"message\":\"Service Unavailable\"}\n"},
				{Method: "GET", Target: "/broken", Code: 503, CacheStatus: adaptertest.ByStatus, Body: "{\"message\":\"Service Unavailable\"}\n", Runs: 3},
			},
		},
		{
			name: "router 404 and 405",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.POST("/form", func(c echo.Context) error { return nil })
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/nowhere", Code: 404, CacheStatus: adaptertest.ByStatus, Body: "{\"message\":\"Not Found\"}\n"},
				{Method: "GET", Target: "/form", Code: 405, CacheStatus: adaptertest.ByStatus, Body: "{\"message\":\"Method Not Allowed\"}\n",
					Also: adaptertest.WantHeader("Allow", "OPTIONS, POST")},
			},
		},
		{
			name: "HEAD routed, and HEAD echo does not route",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.Match([]string{"GET", "HEAD"}, "/both", func(c echo.Context) error { runs.Add(1); return c.String(http.StatusOK, "both") })
				e.GET("/get", func(c echo.Context) error { runs.Add(1); return c.String(http.StatusOK, "get") })
			},
			steps: []adaptertest.Step{
				{Method: "HEAD", Target: "/both", Code: 200, CacheStatus: adaptertest.HeadMiss, Body: "both", Runs: 1}, // a HEAD that misses is the handler's (a server drops the body)
				{Method: "GET", Target: "/both", Code: 200, CacheStatus: adaptertest.Stored, Body: "both", Runs: 2},
				{Method: "HEAD", Target: "/both", Code: 200, CacheStatus: adaptertest.Hit, Runs: 2, Also: adaptertest.WantHeader("Content-Length", "4")},
				{Method: "GET", Target: "/get", Code: 200, CacheStatus: adaptertest.Stored, Body: "get", Runs: 3},
				// echo answers 405 to a HEAD on a GET route; the cache does not answer it
				// from the GET's page.
				{Method: "HEAD", Target: "/get", Code: 405, CacheStatus: "-", Runs: 3},
			},
		},
		{
			name: "ETag and 304 from the cache",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/p", func(c echo.Context) error {
					runs.Add(1)
					c.Response().Header().Set("ETag", `"v1"`)
					return c.String(http.StatusOK, "page")
				})
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/p", Code: 200, CacheStatus: adaptertest.Stored, Body: "page", Also: adaptertest.WantHeader("Etag", `"v1"`)},
				{Method: "GET", Target: "/p", Header: []string{"If-None-Match", `"v1"`}, Code: 304, CacheStatus: adaptertest.Hit, Runs: 1},
				{Method: "GET", Target: "/p", Header: []string{"If-None-Match", `"v0"`}, Code: 200, CacheStatus: adaptertest.Hit, Body: "page", Runs: 1},
			},
		},
		{
			name: "unsafe methods invalidate",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/icecream/:slug", func(c echo.Context) error { return c.String(http.StatusOK, fmt.Sprintf("n=%d", runs.Add(1))) })
				e.PATCH("/icecream/:slug", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
				e.POST("/icecream", func(c echo.Context) error {
					c.Response().Header().Set("Location", "/icecream/"+c.QueryParam("slug"))
					return c.NoContent(http.StatusCreated)
				})
				e.DELETE("/icecream/:slug", func(c echo.Context) error { return echo.ErrForbidden })
			},
			steps: []adaptertest.Step{
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: adaptertest.Stored, Body: "n=1"},
				{Method: "PATCH", Target: "/icecream/vanilla", Code: 204, CacheStatus: "dumper; fwd=method"},
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: "dumper; fwd=stale; stored", Body: "n=2"},
				{Method: "DELETE", Target: "/icecream/vanilla", Code: 403, CacheStatus: "dumper; fwd=method", Body: "{\"message\":\"Forbidden\"}\n"},
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: adaptertest.Hit, Body: "n=2"}, // a refusal invalidates nothing
				{Method: "POST", Target: "/icecream?slug=vanilla", Code: 201, CacheStatus: "dumper; fwd=method"},
				{Method: "GET", Target: "/icecream/vanilla", Code: 200, CacheStatus: "dumper; fwd=stale; stored", Body: "n=3"}, // by Location
			},
		},
		{
			name: "Cache-Control and cookies from the handler",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/private", func(c echo.Context) error {
					c.Response().Header().Set("Cache-Control", "private")
					return c.String(http.StatusOK, "mine")
				})
				e.GET("/cookie", func(c echo.Context) error {
					c.SetCookie(&http.Cookie{Name: "s", Value: "1"})
					return c.String(http.StatusOK, "c")
				})
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
			e := newEcho()
			if tt.policy != nil {
				e.Use(echodumper.MiddlewareWith(c, *tt.policy))
			} else {
				e.Use(echodumper.Middleware(c))
			}
			var runs atomic.Int64
			tt.setup(e, &runs)
			for _, s := range tt.steps {
				s.Do(t, e, &runs)
			}
		})
	}
}

// TestRenderContext: the request's context in an echo handler carries the render.
func TestRenderContext(t *testing.T) {
	t.Parallel()
	adaptertest.RenderContext(t, func(c *dumper.Cache, page func(*http.Request, http.Header) string) http.Handler {
		e := newEcho()
		e.Use(echodumper.Middleware(c))
		e.GET("/p", func(c echo.Context) error { return c.String(http.StatusOK, page(c.Request(), c.Response().Header())) })
		return e
	})
}

// TestContextValues shows what the key leaves out: values a middleware in front sets with
// c.Set reach the handler, but are not part of the key, so a handler that renders from them
// calls dumper.NoStore (or the response says Vary or private).
func TestContextValues(t *testing.T) {
	t.Parallel()
	c := adaptertest.NewCache(t)
	e := newEcho()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if u := c.Request().Header.Get("X-User"); u != "" {
				c.Set("user", u)
			}
			return next(c)
		}
	}, echodumper.Middleware(c))
	var runs atomic.Int64
	e.GET("/me", func(c echo.Context) error {
		runs.Add(1)
		u, _ := c.Get("user").(string)
		if u != "" {
			dumper.NoStore(c.Request().Context())
		}
		return c.String(http.StatusOK, fmt.Sprintf("hello %q", u))
	})
	for _, s := range []adaptertest.Step{
		{Method: "GET", Target: "/me", Header: []string{"X-User", "ada"}, Code: 200, CacheStatus: "dumper; fwd=uri-miss; detail=handler", Body: `hello "ada"`},
		{Method: "GET", Target: "/me", Header: []string{"X-User", "bob"}, Code: 200, CacheStatus: "dumper; fwd=uri-miss; detail=handler", Body: `hello "bob"`},
		{Method: "GET", Target: "/me", Code: 200, CacheStatus: adaptertest.Stored, Body: `hello ""`},
		{Method: "GET", Target: "/me", Code: 200, CacheStatus: adaptertest.Hit, Body: `hello ""`, Runs: 3},
	} {
		s.Do(t, e, &runs)
	}
}

// TestResponseAfterMiddleware checks what a middleware in front of the cache sees of echo's
// Response (Committed, Status, Size, a logger's fields), the error, and the request once the
// cache is done; and the Before and After hooks: those registered in front run on every
// response that goes out, hits included, and are not stored; those the handler registers
// run within the render, and what they add is stored.
func TestResponseAfterMiddleware(t *testing.T) {
	t.Parallel()
	c := adaptertest.NewCache(t)
	e := newEcho()
	type seen struct {
		committed bool
		status    int
		size      int64
		method    string
		err       bool
		before    int // Before hooks run, of the middleware in front
	}
	var last seen
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			last = seen{}
			c.Response().Before(func() {
				last.before++
				c.Response().Header().Set("X-Front", "yes")
			})
			err := next(c)
			res := c.Response()
			last.committed, last.status, last.size, last.method, last.err = res.Committed, res.Status, res.Size, c.Request().Method, err != nil
			return err
		}
	}, echodumper.Middleware(c))
	e.Match([]string{"GET", "HEAD"}, "/p", func(c echo.Context) error {
		res := c.Response()
		if res.Committed {
			t.Error("the handler's Response starts committed")
		}
		res.Before(func() { res.Header().Set("X-Handler", "yes") })
		res.Header().Set("ETag", `"v1"`)
		return c.String(http.StatusOK, "page!")
	})
	e.GET("/err", func(c echo.Context) error { return echo.ErrTeapot })
	tests := []struct {
		name, method, target string
		header               []string
		want                 seen
		cacheStatus          string
	}{
		{"miss", "GET", "/p", nil, seen{true, 200, 5, "GET", false, 1}, adaptertest.Stored},
		{"hit", "GET", "/p", nil, seen{true, 200, 5, "GET", false, 1}, adaptertest.Hit},
		{"304", "GET", "/p", []string{"If-None-Match", `"v1"`}, seen{true, 304, 0, "GET", false, 1}, adaptertest.Hit},
		{"HEAD", "HEAD", "/p", nil, seen{true, 200, 0, "HEAD", false, 1}, adaptertest.Hit},
		{"error", "GET", "/err", nil, seen{true, 418, int64(len("{\"message\":\"I'm a teapot\"}\n")), "GET", true, 1}, adaptertest.ByStatus},
	}
	for _, tt := range tests {
		rq := httptest.NewRequest(tt.method, tt.target, nil)
		for i := 0; i+1 < len(tt.header); i += 2 {
			rq.Header.Set(tt.header[i], tt.header[i+1])
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, rq)
		if last != tt.want {
			t.Errorf("%s: the middleware in front saw %+v, want %+v", tt.name, last, tt.want)
		}
		if got := w.Header().Get("Cache-Status"); got != tt.cacheStatus {
			t.Errorf("%s: Cache-Status %q, want %q", tt.name, got, tt.cacheStatus)
		}
		if w.Header().Get("X-Front") != "yes" {
			t.Errorf("%s: the front middleware's Before hook did not run", tt.name)
		}
		if tt.target == "/p" && tt.name != "304" && w.Header().Get("X-Handler") != "yes" {
			t.Errorf("%s: the handler's Before hook's header is not in the response", tt.name)
		}
	}
}

// TestGroupPolicy gives a group and a route their own policies under the server's middleware.
func TestGroupPolicy(t *testing.T) {
	t.Parallel()
	c := adaptertest.NewCache(t)
	e := newEcho()
	e.Use(echodumper.Middleware(c))
	var runs atomic.Int64
	g := e.Group("/reports", echodumper.MiddlewareWith(c, dumper.Policy{Statuses: map[int]time.Duration{200: 0, 404: time.Minute}}))
	g.GET("/:id", func(c echo.Context) error {
		runs.Add(1)
		if c.Param("id") != "1" {
			return echo.NewHTTPError(http.StatusNotFound, "no report")
		}
		return c.String(http.StatusOK, "report 1")
	})
	e.GET("/missing", func(c echo.Context) error { return echo.ErrNotFound })
	e.GET("/one", func(c echo.Context) error { return c.String(http.StatusOK, "one") },
		echodumper.MiddlewareWith(c, dumper.Policy{BrowserCacheControl: "max-age=60"}))
	for _, s := range []adaptertest.Step{
		{Method: "GET", Target: "/reports/2", Code: 404, CacheStatus: adaptertest.Stored, Body: "{\"message\":\"no report\"}\n"},
		{Method: "GET", Target: "/reports/2", Code: 404, CacheStatus: adaptertest.Hit, Body: "{\"message\":\"no report\"}\n", Runs: 1},
		{Method: "GET", Target: "/reports/1", Code: 200, CacheStatus: adaptertest.Stored, Body: "report 1"},
		{Method: "GET", Target: "/missing", Code: 404, CacheStatus: adaptertest.ByStatus, Body: "{\"message\":\"Not Found\"}\n"},
		{Method: "GET", Target: "/one", Code: 200, CacheStatus: adaptertest.Stored, Body: "one", Also: adaptertest.WantHeader("Cache-Control", "max-age=60")},
		{Method: "GET", Target: "/one", Code: 200, CacheStatus: adaptertest.Hit, Body: "one", Also: adaptertest.WantHeader("Cache-Control", "max-age=60")},
	} {
		s.Do(t, e, &runs)
	}
	if got := c.Stats().Stores; got != 3 {
		t.Errorf("%d stores, want 3", got)
	}
}

// TestRouteOnly puts the middleware on one route only.
func TestRouteOnly(t *testing.T) {
	t.Parallel()
	c := adaptertest.NewCache(t)
	e := newEcho()
	var runs atomic.Int64
	e.GET("/cached", func(c echo.Context) error { return c.String(http.StatusOK, fmt.Sprintf("n=%d", runs.Add(1))) }, echodumper.Middleware(c))
	e.GET("/plain", func(c echo.Context) error { return c.String(http.StatusOK, "plain") })
	for _, s := range []adaptertest.Step{
		{Method: "GET", Target: "/cached", Code: 200, CacheStatus: adaptertest.Stored, Body: "n=1"},
		{Method: "GET", Target: "/cached", Code: 200, CacheStatus: adaptertest.Hit, Body: "n=1"},
		{Method: "GET", Target: "/plain", Code: 200, CacheStatus: "-", Body: "plain"},
		{Method: "GET", Target: "/nowhere", Code: 404, CacheStatus: "-", Body: "{\"message\":\"Not Found\"}\n"},
	} {
		s.Do(t, e, &runs)
	}
}

// TestPanicUnderRecover: a handler that panics under middleware.Recover gets Recover's 500
// out, and nothing is stored.
func TestPanicUnderRecover(t *testing.T) {
	t.Parallel()
	c := adaptertest.NewCache(t)
	e := newEcho()
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true}), echodumper.Middleware(c))
	var runs atomic.Int64
	e.GET("/p", func(c echo.Context) error {
		if runs.Add(1) == 1 {
			_ = c.String(http.StatusOK, "half")
			panic("boom")
		}
		return c.String(http.StatusOK, "whole")
	})
	adaptertest.Step{Method: "GET", Target: "/p", Code: 500, CacheStatus: "-", Body: "{\"message\":\"Internal Server Error\"}\n"}.Do(t, e, &runs)
	adaptertest.Step{Method: "GET", Target: "/p", Code: 200, CacheStatus: adaptertest.Stored, Body: "whole"}.Do(t, e, &runs)
}

// TestCoalescing sends concurrent misses for one page through echo: the handler runs once.
func TestCoalescing(t *testing.T) {
	t.Parallel()
	adaptertest.Coalescing(t, func(c *dumper.Cache, page func() string) http.Handler {
		e := newEcho()
		e.Use(echodumper.Middleware(c))
		e.GET("/p", func(c echo.Context) error { return c.String(http.StatusOK, page()) })
		return e
	})
}

// TestWriterInterfaces: c.Response() streams, hijacks and reaches the server's writer through
// http.ResponseController, over a real server.
func TestWriterInterfaces(t *testing.T) {
	t.Parallel()
	adaptertest.WriterInterfaces(t, func(c *dumper.Cache, routes map[string]http.HandlerFunc) http.Handler {
		e := newEcho()
		e.Use(echodumper.Middleware(c))
		for path, h := range routes {
			e.GET(path, func(c echo.Context) error { h(c.Response(), c.Request()); return nil })
		}
		return e
	})
}

// TestSameAsNetHTTP: echo with the adapter answers as the net/http middleware does.
func TestSameAsNetHTTP(t *testing.T) {
	t.Parallel()
	adaptertest.SameAsNetHTTP(t, func(c *dumper.Cache, page http.HandlerFunc) http.Handler {
		e := newEcho()
		e.Use(echodumper.Middleware(c))
		e.Match([]string{"GET", "HEAD"}, "/p", echo.WrapHandler(page))
		return e
	})
}
