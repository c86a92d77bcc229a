package echov5dumper_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/echov5dumper"
	"github.com/labstack/echo/v5"
)

// discardWriter keeps nothing but the status; its header map survives reset, so that serving
// into it allocates nothing of its own (as in the root module's benchmarks).
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// BenchmarkHit serves a stored 4 KiB page four ways, to price the adapter:
//   - nethttp: the net/http middleware around a net/http handler, the baseline;
//   - echo/wraph: an echo server whose route is that middleware (echo.WrapHandler): echo's own cost;
//   - echo/adapter: an echo server with echov5dumper.Middleware in front of an echo handler;
//   - echo/nocache: an echo handler writing the page, without the cache.
func BenchmarkHit(b *testing.B) {
	body := bytes.Repeat([]byte("<p>Pistachio, hazelnut, stracciatella.</p>\n"), 100)[:4<<10]
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(body)
	})
	echoPage := func(c *echo.Context) error { return c.Blob(http.StatusOK, "text/html; charset=utf-8", body) }
	newCache := func(b *testing.B) *dumper.Cache {
		c, err := dumper.New(dumper.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	handlers := []struct {
		name    string
		handler func(c *dumper.Cache) http.Handler
		hit     bool
	}{
		{"nethttp", func(c *dumper.Cache) http.Handler { return c.Middleware(page) }, true},
		{"echo/wraph", func(c *dumper.Cache) http.Handler {
			e := echo.New()
			e.GET("/p", echo.WrapHandler(c.Middleware(page)))
			return e
		}, true},
		{"echo/adapter", func(c *dumper.Cache) http.Handler {
			e := echo.New()
			e.Use(echov5dumper.Middleware(c))
			e.GET("/p", echoPage)
			return e
		}, true},
		{"echo/nocache", func(c *dumper.Cache) http.Handler {
			e := echo.New()
			e.GET("/p", echoPage)
			return e
		}, false},
	}
	for _, hh := range handlers {
		b.Run(hh.name, func(b *testing.B) {
			h := hh.handler(newCache(b))
			r := httptest.NewRequest(http.MethodGet, "/p", nil)
			w := &discardWriter{h: make(http.Header, 16)}
			h.ServeHTTP(w, r)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.status = 0
				h.ServeHTTP(w, r)
			}
			if hh.hit && w.h.Get("Cache-Status") != "dumper; hit" {
				b.Fatalf("Cache-Status %q, want a hit", w.h.Get("Cache-Status"))
			}
		})
	}
}
