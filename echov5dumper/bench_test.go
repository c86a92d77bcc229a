package echov5dumper_test

import (
	"net/http"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/echov5dumper"
	"github.com/dumperhq/dumper/internal/adaptertest"
	"github.com/labstack/echo/v5"
)

// BenchmarkHit prices the adapter on a hit, against the net/http middleware ("nethttp"):
//   - echo/wraph: an echo server whose route is that middleware (echo.WrapHandler): echo's own cost;
//   - echo/adapter: an echo server with echov5dumper.Middleware in front of an echo handler;
//   - echo/nocache: the echo handler, without the cache.
func BenchmarkHit(b *testing.B) {
	echoPage := func(body []byte) echo.HandlerFunc {
		return func(c *echo.Context) error { return c.Blob(http.StatusOK, "text/html; charset=utf-8", body) }
	}
	adaptertest.BenchmarkHit(b,
		adaptertest.BenchCase{Name: "echo/wraph", Hit: true, Handler: func(c *dumper.Cache, page http.HandlerFunc, _ []byte) http.Handler {
			e := echo.New()
			e.GET("/p", echo.WrapHandler(c.Middleware(page)))
			return e
		}},
		adaptertest.BenchCase{Name: "echo/adapter", Hit: true, Handler: func(c *dumper.Cache, _ http.HandlerFunc, body []byte) http.Handler {
			e := echo.New()
			e.Use(echov5dumper.Middleware(c))
			e.GET("/p", echoPage(body))
			return e
		}},
		adaptertest.BenchCase{Name: "echo/nocache", Handler: func(_ *dumper.Cache, _ http.HandlerFunc, body []byte) http.Handler {
			e := echo.New()
			e.GET("/p", echoPage(body))
			return e
		}},
	)
}
