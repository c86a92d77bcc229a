package echodumper_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/echodumper"
	"github.com/labstack/echo/v4"
)

// The whole server cached: the first request for a page runs the handler, the next one is
// answered from the cache; the handler tags the page through the request's context, and
// invalidating the tag makes the next request render it again.
func Example() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	e := echo.New()
	e.Use(echodumper.Middleware(c))
	renders := 0
	e.GET("/icecream/:slug", func(ec echo.Context) error {
		renders++
		dumper.Tag(ec.Request().Context(), "icecream:"+ec.Param("slug"))
		return ec.String(http.StatusOK, fmt.Sprintf("Ice cream %s (render %d)", ec.Param("slug"), renders))
	})

	get := func() {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/icecream/vanilla", nil))
		fmt.Printf("%d %s: %s\n", w.Code, w.Header().Get("Cache-Status"), w.Body)
	}
	get()
	get()
	if err := c.InvalidateTags(context.Background(), "icecream:vanilla"); err != nil {
		log.Fatal(err)
	}
	get()
	// Output:
	// 200 dumper; fwd=uri-miss; stored: Ice cream vanilla (render 1)
	// 200 dumper; hit: Ice cream vanilla (render 1)
	// 200 dumper; fwd=stale; stored: Ice cream vanilla (render 2)
}

// A handler's error is rendered by echo's error handler within the render: a group whose
// policy keeps 404s for a minute stores it as the 404 it is.
func ExampleMiddlewareWith() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	e := echo.New()
	e.Use(echodumper.Middleware(c))
	reports := e.Group("/reports", echodumper.MiddlewareWith(c, dumper.Policy{
		Statuses: map[int]time.Duration{http.StatusOK: 0, http.StatusNotFound: time.Minute},
	}))
	reports.GET("/:id", func(ec echo.Context) error {
		return echo.NewHTTPError(http.StatusNotFound, "no report "+ec.Param("id"))
	})

	for range 2 {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/reports/7", nil))
		fmt.Printf("%d %s: %s", w.Code, w.Header().Get("Cache-Status"), w.Body)
	}
	// Output:
	// 404 dumper; fwd=uri-miss; stored: {"message":"no report 7"}
	// 404 dumper; hit: {"message":"no report 7"}
}
