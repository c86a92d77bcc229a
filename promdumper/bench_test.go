package promdumper

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dumperhq/dumper"
)

// BenchmarkHit serves a stored 4 KiB page: without observers, with an observer that does
// nothing (what the cache spends measuring and reporting), and with the collector's.
//
//	go test -run '^$' -bench Hit -benchmem ./promdumper/
func BenchmarkHit(b *testing.B) {
	for _, name := range []string{"none", "empty", "prometheus"} {
		b.Run(name, func(b *testing.B) {
			var opts dumper.Options
			switch name {
			case "empty":
				opts.Observers = []dumper.Observer{{Request: func(context.Context, dumper.RequestEvent) {}}}
			case "prometheus":
				opts.Observers = []dumper.Observer{New(Options{}).Observer()}
			}
			c, err := dumper.New(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			body := bytes.Repeat([]byte("x"), 4096)
			h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
			r := httptest.NewRequest(http.MethodGet, "/p", nil)
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, r)
			h.ServeHTTP(w, r)
			if got := w.h.Get("Cache-Status"); got != "dumper; hit" {
				b.Fatalf("Cache-Status %q, want a hit", got)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}

// discard is a ResponseWriter that keeps the header only.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
