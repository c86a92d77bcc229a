package gindumper_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gindumper"
	"github.com/gin-gonic/gin"
)

// The whole engine cached: the first request for a page runs the handler, the next one is
// answered from the cache; the handler tags the page through the request's context, and
// invalidating the tag makes the next request render it again.
func Example() {
	gin.SetMode(gin.ReleaseMode)
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	r := gin.New()
	r.Use(gin.Recovery(), gindumper.Middleware(c))
	renders := 0
	r.GET("/icecream/:slug", func(g *gin.Context) {
		renders++
		dumper.Tag(g.Request.Context(), "icecream:"+g.Param("slug"))
		g.String(http.StatusOK, "Ice cream %s (render %d)", g.Param("slug"), renders)
	})

	get := func() {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/icecream/vanilla", nil))
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

// A group with a policy of its own, under the engine's middleware: its 404s are kept for a
// minute.
func ExampleMiddlewareWith() {
	gin.SetMode(gin.ReleaseMode)
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	r := gin.New()
	r.Use(gindumper.Middleware(c))
	reports := r.Group("/reports", gindumper.MiddlewareWith(c, dumper.Policy{
		Statuses: map[int]time.Duration{http.StatusOK: 0, http.StatusNotFound: time.Minute},
	}))
	reports.GET("/:id", func(g *gin.Context) {
		g.String(http.StatusNotFound, "no report %s", g.Param("id"))
	})

	for range 2 {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/reports/7", nil))
		fmt.Printf("%d %s: %s\n", w.Code, w.Header().Get("Cache-Status"), w.Body)
	}
	// Output:
	// 404 dumper; fwd=uri-miss; stored: no report 7
	// 404 dumper; hit: no report 7
}
