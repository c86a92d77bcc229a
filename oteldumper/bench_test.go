package oteldumper

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkHit serves a stored 4 KiB page: without observers, with an observer that does
// nothing (what the cache spends measuring and reporting), with the Recorder on the SDK (a
// manual reader), and with it under a recording span.
//
//	go test -run '^$' -bench Hit -benchmem ./oteldumper/
func BenchmarkHit(b *testing.B) {
	for _, name := range []string{"none", "empty", "otel", "otel+span"} {
		b.Run(name, func(b *testing.B) {
			var opts dumper.Options
			if name == "empty" {
				opts.Observers = []dumper.Observer{{Request: func(context.Context, dumper.RequestEvent) {}}}
			}
			if strings.HasPrefix(name, "otel") {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				defer mp.Shutdown(context.Background())
				rec, err := New(Options{MeterProvider: mp})
				if err != nil {
					b.Fatal(err)
				}
				opts.Observers = []dumper.Observer{rec.Observer()}
			}
			c, err := dumper.New(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			body := bytes.Repeat([]byte("x"), 4096)
			h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
			r := httptest.NewRequest(http.MethodGet, "/p", nil)
			if name == "otel+span" {
				tp := sdktrace.NewTracerProvider()
				defer tp.Shutdown(context.Background())
				ctx, span := tp.Tracer("bench").Start(r.Context(), "GET /p")
				defer span.End()
				r = r.WithContext(ctx)
			}
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
