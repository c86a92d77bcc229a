package gindumper_test

import (
	"net/http"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gindumper"
	"github.com/dumperhq/dumper/internal/adaptertest"
	"github.com/gin-gonic/gin"
)

// BenchmarkHit prices the adapter on a hit, against the net/http middleware ("nethttp"):
//   - gin/wraph: a gin engine whose route is that middleware (gin.WrapH): gin's own cost;
//   - gin/adapter: a gin engine with gindumper.Middleware in front of a gin handler;
//   - gin/nocache: the gin handler, without the cache.
func BenchmarkHit(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	ginPage := func(body []byte) gin.HandlerFunc {
		return func(g *gin.Context) { g.Data(http.StatusOK, "text/html; charset=utf-8", body) }
	}
	adaptertest.BenchmarkHit(b,
		adaptertest.BenchCase{Name: "gin/wraph", Hit: true, Handler: func(c *dumper.Cache, page http.HandlerFunc, _ []byte) http.Handler {
			r := gin.New()
			r.GET("/p", gin.WrapH(c.Middleware(page)))
			return r
		}},
		adaptertest.BenchCase{Name: "gin/adapter", Hit: true, Handler: func(c *dumper.Cache, _ http.HandlerFunc, body []byte) http.Handler {
			r := gin.New()
			r.Use(gindumper.Middleware(c))
			r.GET("/p", ginPage(body))
			return r
		}},
		adaptertest.BenchCase{Name: "gin/nocache", Handler: func(_ *dumper.Cache, _ http.HandlerFunc, body []byte) http.Handler {
			r := gin.New()
			r.GET("/p", ginPage(body))
			return r
		}},
	)
}
