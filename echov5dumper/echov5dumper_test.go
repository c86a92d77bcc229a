package echov5dumper_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/echov5dumper"
	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"
)

func newCache(t *testing.T) *dumper.Cache {
	t.Helper()
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newEcho() *echo.Echo {
	e := echo.New()
	e.Logger = slog.New(slog.DiscardHandler)
	return e
}

// response returns the *echo.Response beneath c.Response().
func response(t *testing.T, c *echo.Context) *echo.Response {
	t.Helper()
	r, err := echo.UnwrapResponse(c.Response())
	if err != nil {
		t.Fatal(err)
	}
	return r
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
	stored   = "dumper; fwd=uri-miss; stored"
	hit      = "dumper; hit"
	byStatus = "dumper; fwd=uri-miss; detail=status"
)

func wantHeader(name, value string) func(*testing.T, *httptest.ResponseRecorder) {
	return func(t *testing.T, w *httptest.ResponseRecorder) {
		t.Helper()
		if got := w.Header().Get(name); got != value {
			t.Errorf("%s: %q, want %q", name, got, value)
		}
	}
}

// TestServer runs scenarios through an echo v5 server with the middleware for the whole server:
// echo's renderers, handler errors and its router's answers, HEAD, ETags, unsafe methods.
func TestServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy *dumper.Policy
		setup  func(e *echo.Echo, runs *atomic.Int64)
		steps  []step
	}{
		{
			name: "c.String, route params",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/icecream/:slug", func(c *echo.Context) error {
					return c.String(http.StatusOK, fmt.Sprintf("n=%d %s", runs.Add(1), c.Param("slug")))
				})
			},
			steps: []step{
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: stored, body: "n=1 vanilla"},
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: hit, body: "n=1 vanilla", runs: 1,
					also: wantHeader("Content-Type", "text/plain; charset=UTF-8")},
				{method: "GET", target: "/icecream/chocolate", code: 200, cacheStatus: stored, body: "n=2 chocolate"},
			},
		},
		{
			name: "c.JSON, c.Blob, c.NoContent",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/json", func(c *echo.Context) error {
					runs.Add(1)
					return c.JSON(http.StatusOK, map[string]string{"flavor": "vanilla"})
				})
				e.GET("/blob", func(c *echo.Context) error { runs.Add(1); return c.Blob(http.StatusOK, "image/png", []byte("png")) })
				e.GET("/none", func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) })
			},
			steps: []step{
				{method: "GET", target: "/json", code: 200, cacheStatus: stored, body: "{\"flavor\":\"vanilla\"}\n"},
				{method: "GET", target: "/json", code: 200, cacheStatus: hit, body: "{\"flavor\":\"vanilla\"}\n", runs: 1,
					also: wantHeader("Content-Type", "application/json")},
				{method: "GET", target: "/blob", code: 200, cacheStatus: stored, body: "png"},
				{method: "GET", target: "/blob", code: 200, cacheStatus: hit, body: "png", runs: 2, also: wantHeader("Content-Type", "image/png")},
				{method: "GET", target: "/none", code: 204, cacheStatus: byStatus},
			},
		},
		{
			name: "handler errors are rendered by echo's error handler, within the render",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/missing", func(c *echo.Context) error {
					runs.Add(1)
					return echo.NewHTTPError(http.StatusNotFound, "no such flavor")
				})
				e.GET("/broken", func(c *echo.Context) error { runs.Add(1); return errors.New("database down") })
				e.GET("/late", func(c *echo.Context) error {
					runs.Add(1)
					_ = c.String(http.StatusOK, "partial")
					return errors.New("template failed")
				})
			},
			steps: []step{
				{method: "GET", target: "/missing", code: 404, cacheStatus: byStatus, body: "{\"message\":\"no such flavor\"}\n"},
				{method: "GET", target: "/missing", code: 404, cacheStatus: byStatus, body: "{\"message\":\"no such flavor\"}\n", runs: 2},
				{method: "GET", target: "/broken", code: 500, cacheStatus: byStatus, body: "{\"message\":\"Internal Server Error\"}\n"},
				{method: "GET", target: "/broken", code: 500, cacheStatus: byStatus, body: "{\"message\":\"Internal Server Error\"}\n", runs: 4},
				// An error after the page started: the error handler cannot replace it, and
				// it is not stored.
				{method: "GET", target: "/late", code: 200, cacheStatus: "dumper; fwd=uri-miss; detail=handler", body: "partial", runs: 5},
				{method: "GET", target: "/late", code: 200, cacheStatus: "dumper; fwd=uri-miss; detail=handler", body: "partial", runs: 6},
			},
		},
		{
			name:   "a policy that stores 404s stores the error response, as a 404; never a 5xx",
			policy: &dumper.Policy{Statuses: map[int]time.Duration{200: 0, 404: time.Minute}},
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/missing", func(c *echo.Context) error {
					runs.Add(1)
					return echo.NewHTTPError(http.StatusNotFound, "no such flavor")
				})
				e.GET("/broken", func(c *echo.Context) error { runs.Add(1); return echo.ErrServiceUnavailable })
			},
			steps: []step{
				{method: "GET", target: "/missing", code: 404, cacheStatus: stored, body: "{\"message\":\"no such flavor\"}\n"},
				{method: "GET", target: "/missing", code: 404, cacheStatus: hit, body: "{\"message\":\"no such flavor\"}\n", runs: 1,
					also: wantHeader("Content-Type", "application/json")},
				{method: "GET", target: "/nowhere", code: 404, cacheStatus: stored, body: "{\"message\":\"Not Found\"}\n"},
				{method: "GET", target: "/nowhere", code: 404, cacheStatus: hit, body: "{\"message\":\"Not Found\"}\n"},
				{method: "GET", target: "/broken", code: 503, cacheStatus: byStatus, body: "{\"message\":\"Service Unavailable\"}\n"},
				{method: "GET", target: "/broken", code: 503, cacheStatus: byStatus, body: "{\"message\":\"Service Unavailable\"}\n", runs: 3},
			},
		},
		{
			name: "router 404 and 405",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.POST("/form", func(c *echo.Context) error { return nil })
			},
			steps: []step{
				{method: "GET", target: "/nowhere", code: 404, cacheStatus: byStatus, body: "{\"message\":\"Not Found\"}\n"},
				{method: "GET", target: "/form", code: 405, cacheStatus: byStatus, body: "{\"message\":\"Method Not Allowed\"}\n",
					also: wantHeader("Allow", "OPTIONS, POST")},
			},
		},
		{
			name: "HEAD routed, and HEAD echo does not route",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.Match([]string{"GET", "HEAD"}, "/both", func(c *echo.Context) error { runs.Add(1); return c.String(http.StatusOK, "both") })
				e.GET("/get", func(c *echo.Context) error { runs.Add(1); return c.String(http.StatusOK, "get") })
			},
			steps: []step{
				{method: "HEAD", target: "/both", code: 200, cacheStatus: stored, also: wantHeader("Content-Length", "4")},
				{method: "GET", target: "/both", code: 200, cacheStatus: hit, body: "both", runs: 1},
				{method: "HEAD", target: "/both", code: 200, cacheStatus: hit, runs: 1},
				{method: "GET", target: "/get", code: 200, cacheStatus: stored, body: "get", runs: 2},
				// echo answers 405 to a HEAD on a GET route; the cache does not answer it
				// from the GET's page.
				{method: "HEAD", target: "/get", code: 405, cacheStatus: "-", runs: 2},
			},
		},
		{
			name: "ETag and 304 from the cache",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/p", func(c *echo.Context) error {
					runs.Add(1)
					c.Response().Header().Set("ETag", `"v1"`)
					return c.String(http.StatusOK, "page")
				})
			},
			steps: []step{
				{method: "GET", target: "/p", code: 200, cacheStatus: stored, body: "page", also: wantHeader("Etag", `"v1"`)},
				{method: "GET", target: "/p", header: []string{"If-None-Match", `"v1"`}, code: 304, cacheStatus: hit, runs: 1},
				{method: "GET", target: "/p", header: []string{"If-None-Match", `"v0"`}, code: 200, cacheStatus: hit, body: "page", runs: 1},
			},
		},
		{
			name: "unsafe methods invalidate",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/icecream/:slug", func(c *echo.Context) error { return c.String(http.StatusOK, fmt.Sprintf("n=%d", runs.Add(1))) })
				e.PATCH("/icecream/:slug", func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) })
				e.POST("/icecream", func(c *echo.Context) error {
					c.Response().Header().Set("Location", "/icecream/"+c.QueryParam("slug"))
					return c.NoContent(http.StatusCreated)
				})
				e.DELETE("/icecream/:slug", func(c *echo.Context) error { return echo.ErrForbidden })
			},
			steps: []step{
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: stored, body: "n=1"},
				{method: "PATCH", target: "/icecream/vanilla", code: 204, cacheStatus: "dumper; fwd=method"},
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: "dumper; fwd=stale; stored", body: "n=2"},
				{method: "DELETE", target: "/icecream/vanilla", code: 403, cacheStatus: "dumper; fwd=method", body: "{\"message\":\"Forbidden\"}\n"},
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: hit, body: "n=2"}, // a refusal invalidates nothing
				{method: "POST", target: "/icecream?slug=vanilla", code: 201, cacheStatus: "dumper; fwd=method"},
				{method: "GET", target: "/icecream/vanilla", code: 200, cacheStatus: "dumper; fwd=stale; stored", body: "n=3"}, // by Location
			},
		},
		{
			name: "Cache-Control and cookies from the handler",
			setup: func(e *echo.Echo, runs *atomic.Int64) {
				e.GET("/private", func(c *echo.Context) error {
					c.Response().Header().Set("Cache-Control", "private")
					return c.String(http.StatusOK, "mine")
				})
				e.GET("/cookie", func(c *echo.Context) error {
					c.SetCookie(&http.Cookie{Name: "s", Value: "1"})
					return c.String(http.StatusOK, "c")
				})
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
			e := newEcho()
			if tt.policy != nil {
				e.Use(echov5dumper.MiddlewareWith(c, *tt.policy))
			} else {
				e.Use(echov5dumper.Middleware(c))
			}
			var runs atomic.Int64
			tt.setup(e, &runs)
			for _, s := range tt.steps {
				s.do(t, e, &runs)
			}
		})
	}
}

// TestRenderContext checks that the request's context in a handler carries the render: what
// dumper.Tag and the data layers' capture (dumper.ReadRows, which gormdumper, sqldumper and
// pgxdumper call with the context a query gets) record counts.
func TestRenderContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handle     func(c *echo.Context)
		invalidate string // the tag invalidated
		stale      bool   // whether that drops the page
	}{
		{"Tag", func(c *echo.Context) { dumper.Tag(c.Request().Context(), "icecream:1") }, "icecream:1", true},
		{"ReadRows", func(c *echo.Context) { dumper.ReadRows(c.Request().Context(), "ice_creams", "slug", "vanilla") },
			dumper.RowTag("ice_creams", "slug", "vanilla"), true},
		{"ReadRows, another row written", func(c *echo.Context) { dumper.ReadRows(c.Request().Context(), "ice_creams", "slug", "vanilla") },
			dumper.RowTag("ice_creams", "slug", "chocolate"), false},
		{"a Cache-Tag header", func(c *echo.Context) { c.Response().Header().Set("Cache-Tag", "icecream:1") }, "icecream:1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			e := newEcho()
			e.Use(echov5dumper.Middleware(c))
			var runs atomic.Int64
			e.GET("/p", func(ec *echo.Context) error {
				if !dumper.Rendering(ec.Request().Context()) {
					t.Error("the handler's request context is not the render's")
				}
				tt.handle(ec)
				return ec.String(http.StatusOK, fmt.Sprintf("n=%d", runs.Add(1)))
			})
			step{method: "GET", target: "/p", code: 200, cacheStatus: stored, body: "n=1", also: wantHeader("Cache-Tag", "")}.do(t, e, &runs)
			if err := c.InvalidateTags(t.Context(), tt.invalidate); err != nil {
				t.Fatal(err)
			}
			want := step{method: "GET", target: "/p", code: 200, cacheStatus: hit, body: "n=1"}
			if tt.stale {
				want = step{method: "GET", target: "/p", code: 200, cacheStatus: "dumper; fwd=stale; stored", body: "n=2"}
			}
			want.do(t, e, &runs)
		})
	}
}

// TestContextValues shows what the key leaves out: values a middleware in front sets with
// c.Set reach the handler, but are not part of the key, so a handler that renders from them
// calls dumper.NoStore (or the response says Vary or private).
func TestContextValues(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	e := newEcho()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if u := c.Request().Header.Get("X-User"); u != "" {
				c.Set("user", u)
			}
			return next(c)
		}
	}, echov5dumper.Middleware(c))
	var runs atomic.Int64
	e.GET("/me", func(c *echo.Context) error {
		runs.Add(1)
		u, _ := c.Get("user").(string)
		if u != "" {
			dumper.NoStore(c.Request().Context())
		}
		return c.String(http.StatusOK, fmt.Sprintf("hello %q", u))
	})
	for _, s := range []step{
		{method: "GET", target: "/me", header: []string{"X-User", "ada"}, code: 200, cacheStatus: "dumper; fwd=uri-miss; detail=handler", body: `hello "ada"`},
		{method: "GET", target: "/me", header: []string{"X-User", "bob"}, code: 200, cacheStatus: "dumper; fwd=uri-miss; detail=handler", body: `hello "bob"`},
		{method: "GET", target: "/me", code: 200, cacheStatus: stored, body: `hello ""`},
		{method: "GET", target: "/me", code: 200, cacheStatus: hit, body: `hello ""`, runs: 3},
	} {
		s.do(t, e, &runs)
	}
}

// TestResponseAfterMiddleware checks what a middleware in front of the cache sees of echo's
// Response (Committed, Status, Size, a logger's fields), the error, and the request once the
// cache is done; and the Before and After hooks: those registered in front run on every
// response that goes out, hits included, and are not stored; those the handler registers
// run within the render, and what they add is stored.
func TestResponseAfterMiddleware(t *testing.T) {
	t.Parallel()
	c := newCache(t)
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
		return func(c *echo.Context) error {
			last = seen{}
			front := response(t, c)
			front.Before(func() {
				last.before++
				front.Header().Set("X-Front", "yes")
			})
			err := next(c)
			res := response(t, c)
			last.committed, last.status, last.size, last.method, last.err = res.Committed, res.Status, res.Size, c.Request().Method, err != nil
			return err
		}
	}, echov5dumper.Middleware(c))
	e.Match([]string{"GET", "HEAD"}, "/p", func(c *echo.Context) error {
		res := response(t, c)
		if res.Committed {
			t.Error("the handler's Response starts committed")
		}
		res.Before(func() { res.Header().Set("X-Handler", "yes") })
		res.Header().Set("ETag", `"v1"`)
		return c.String(http.StatusOK, "page!")
	})
	e.GET("/err", func(c *echo.Context) error { return echo.NewHTTPError(http.StatusTeapot, "I'm a teapot") })
	tests := []struct {
		name, method, target string
		header               []string
		want                 seen
		cacheStatus          string
	}{
		{"miss", "GET", "/p", nil, seen{true, 200, 5, "GET", false, 1}, stored},
		{"hit", "GET", "/p", nil, seen{true, 200, 5, "GET", false, 1}, hit},
		{"304", "GET", "/p", []string{"If-None-Match", `"v1"`}, seen{true, 304, 0, "GET", false, 1}, hit},
		{"HEAD", "HEAD", "/p", nil, seen{true, 200, 0, "HEAD", false, 1}, hit},
		{"error", "GET", "/err", nil, seen{true, 418, int64(len("{\"message\":\"I'm a teapot\"}\n")), "GET", true, 1}, byStatus},
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
	c := newCache(t)
	e := newEcho()
	e.Use(echov5dumper.Middleware(c))
	var runs atomic.Int64
	g := e.Group("/reports", echov5dumper.MiddlewareWith(c, dumper.Policy{Statuses: map[int]time.Duration{200: 0, 404: time.Minute}}))
	g.GET("/:id", func(c *echo.Context) error {
		runs.Add(1)
		if c.Param("id") != "1" {
			return echo.NewHTTPError(http.StatusNotFound, "no report")
		}
		return c.String(http.StatusOK, "report 1")
	})
	e.GET("/missing", func(c *echo.Context) error { return echo.ErrNotFound })
	e.GET("/one", func(c *echo.Context) error { return c.String(http.StatusOK, "one") },
		echov5dumper.MiddlewareWith(c, dumper.Policy{BrowserCacheControl: "max-age=60"}))
	for _, s := range []step{
		{method: "GET", target: "/reports/2", code: 404, cacheStatus: stored, body: "{\"message\":\"no report\"}\n"},
		{method: "GET", target: "/reports/2", code: 404, cacheStatus: hit, body: "{\"message\":\"no report\"}\n", runs: 1},
		{method: "GET", target: "/reports/1", code: 200, cacheStatus: stored, body: "report 1"},
		{method: "GET", target: "/missing", code: 404, cacheStatus: byStatus, body: "{\"message\":\"Not Found\"}\n"},
		{method: "GET", target: "/one", code: 200, cacheStatus: stored, body: "one", also: wantHeader("Cache-Control", "max-age=60")},
		{method: "GET", target: "/one", code: 200, cacheStatus: hit, body: "one", also: wantHeader("Cache-Control", "max-age=60")},
	} {
		s.do(t, e, &runs)
	}
	if got := c.Stats().Stores; got != 3 {
		t.Errorf("%d stores, want 3", got)
	}
}

// TestRouteOnly puts the middleware on one route only.
func TestRouteOnly(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	e := newEcho()
	var runs atomic.Int64
	e.GET("/cached", func(c *echo.Context) error { return c.String(http.StatusOK, fmt.Sprintf("n=%d", runs.Add(1))) }, echov5dumper.Middleware(c))
	e.GET("/plain", func(c *echo.Context) error { return c.String(http.StatusOK, "plain") })
	for _, s := range []step{
		{method: "GET", target: "/cached", code: 200, cacheStatus: stored, body: "n=1"},
		{method: "GET", target: "/cached", code: 200, cacheStatus: hit, body: "n=1"},
		{method: "GET", target: "/plain", code: 200, cacheStatus: "-", body: "plain"},
		{method: "GET", target: "/nowhere", code: 404, cacheStatus: "-", body: "{\"message\":\"Not Found\"}\n"},
	} {
		s.do(t, e, &runs)
	}
}

// TestPanicUnderRecover: a handler that panics under middleware.Recover gets Recover's 500
// out, and nothing is stored.
func TestPanicUnderRecover(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	e := newEcho()
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true}), echov5dumper.Middleware(c))
	var runs atomic.Int64
	e.GET("/p", func(c *echo.Context) error {
		if runs.Add(1) == 1 {
			_ = c.String(http.StatusOK, "half")
			panic("boom")
		}
		return c.String(http.StatusOK, "whole")
	})
	step{method: "GET", target: "/p", code: 500, cacheStatus: "-", body: "{\"message\":\"Internal Server Error\"}\n"}.do(t, e, &runs)
	step{method: "GET", target: "/p", code: 200, cacheStatus: stored, body: "whole"}.do(t, e, &runs)
}

// TestCoalescing sends concurrent misses for one page through echo: the handler runs once.
func TestCoalescing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		e := newEcho()
		e.Use(echov5dumper.Middleware(c))
		started, release := make(chan struct{}), make(chan struct{})
		var runs atomic.Int64
		e.GET("/p", func(c *echo.Context) error {
			if runs.Add(1) == 1 {
				close(started)
				<-release
			}
			return c.String(http.StatusOK, "page")
		})
		const n = 8
		res := make([]*httptest.ResponseRecorder, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				res[i] = httptest.NewRecorder()
				e.ServeHTTP(res[i], httptest.NewRequest("GET", "/p", nil))
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
// writer.
func TestWriterInterfaces(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	e := newEcho()
	e.Use(echov5dumper.Middleware(c))
	firstRead := make(chan struct{})
	e.GET("/stream", func(c *echo.Context) error {
		_, _ = io.WriteString(c.Response(), "first\n")
		if err := http.NewResponseController(c.Response()).Flush(); err != nil {
			return err
		}
		<-firstRead
		_, err := io.WriteString(c.Response(), "second\n")
		return err
	})
	e.GET("/hijack", func(c *echo.Context) error {
		conn, rw, err := http.NewResponseController(c.Response()).Hijack()
		if err != nil {
			return err
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		return rw.Flush()
	})
	e.GET("/deadline", func(c *echo.Context) error {
		if err := http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline through the adapter: %v", err)
		}
		return c.String(http.StatusOK, "deadline")
	})
	srv := httptest.NewServer(e)
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

// TestSameAsNetHTTP renders the same page through echo with the adapter and through the
// net/http middleware: the responses are the same, header and body.
func TestSameAsNetHTTP(t *testing.T) {
	t.Parallel()
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<p>%s %s</p>", r.URL.RequestURI(), r.Header.Get("Accept-Language"))
	}
	ce, cn := newCache(t), newCache(t)
	e := newEcho()
	e.Use(echov5dumper.Middleware(ce))
	e.Match([]string{"GET", "HEAD"}, "/p", echo.WrapHandler(http.HandlerFunc(page)))
	std := cn.Middleware(http.HandlerFunc(page))
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
		for i, h := range []http.Handler{e, std} {
			rq := httptest.NewRequest(req.method, req.target, nil)
			for j := 0; j+1 < len(req.header); j += 2 {
				rq.Header.Set(req.header[j], req.header[j+1])
			}
			got[i] = httptest.NewRecorder()
			h.ServeHTTP(got[i], rq)
		}
		g, n := got[0], got[1]
		if g.Code != n.Code || g.Body.String() != n.Body.String() || fmt.Sprint(g.Header()) != fmt.Sprint(n.Header()) {
			t.Errorf("%s %s %v:\necho     %d %v %q\nnet/http %d %v %q", req.method, req.target, req.header,
				g.Code, g.Header(), g.Body, n.Code, n.Header(), n.Body)
		}
	}
}

// TestAutoHandleHEAD: with the router's AutoHandleHEAD, echo answers HEAD on a GET route with
// the GET handler, and so does the cache, from the GET's page on a hit. A HEAD miss is not
// stored: echo's HEAD writer drops the body the cache would store.
func TestAutoHandleHEAD(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	e := echo.NewWithConfig(echo.Config{
		Logger: slog.New(slog.DiscardHandler),
		Router: echo.NewRouter(echo.RouterConfig{AutoHandleHEAD: true}),
	})
	e.Use(echov5dumper.Middleware(c))
	var runs atomic.Int64
	e.GET("/p", func(c *echo.Context) error { runs.Add(1); return c.String(http.StatusOK, "get") })
	for _, s := range []step{
		{method: "HEAD", target: "/p", code: 200, cacheStatus: "dumper; fwd=uri-miss; detail=length-mismatch", also: wantHeader("Content-Length", "3")},
		{method: "GET", target: "/p", code: 200, cacheStatus: stored, body: "get", runs: 2},
		{method: "HEAD", target: "/p", code: 200, cacheStatus: hit, runs: 2, also: wantHeader("Content-Length", "3")},
	} {
		s.do(t, e, &runs)
	}
}
