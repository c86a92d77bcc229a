package oteldumper_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/oteldumper"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The cache's result on each request's span, and its metrics: a miss, then a hit. The
// spans are started by a handler in front of the cache, as otelhttp.NewHandler would.
func Example() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer tp.Shutdown(context.Background())
	defer mp.Shutdown(context.Background())

	rec, err := oteldumper.New(oteldumper.Options{Cache: "pages", MeterProvider: mp})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := dumper.New(dumper.Options{Name: "pages", Observers: []dumper.Observer{rec.Observer()}})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	rec.Watch(cache)

	pages := cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "vanilla")
	}))
	traced := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tp.Tracer("server").Start(r.Context(), r.Method+" "+r.URL.Path)
		defer span.End()
		pages.ServeHTTP(w, r.WithContext(ctx))
	})
	srv := httptest.NewServer(traced)
	defer srv.Close()
	for range 2 {
		resp, err := http.Get(srv.URL + "/icecream/vanilla")
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
	}

	for _, span := range spans.Ended() {
		fmt.Print(span.Name(), ":")
		for _, kv := range span.Attributes() {
			fmt.Printf(" %s=%s", kv.Key, kv.Value.String())
		}
		fmt.Println()
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	var lines []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch data := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range data.DataPoints {
				switch m.Name {
				case "dumper.requests":
					result, _ := dp.Attributes.Value(oteldumper.CacheResult)
					lines = append(lines, fmt.Sprintf("%s{result=%s}: %d", m.Name, result.String(), dp.Value))
				case "dumper.store.entries":
					lines = append(lines, fmt.Sprintf("%s: %d", m.Name, dp.Value))
				}
			}
		case metricdata.Histogram[float64]:
			if m.Name == "dumper.render.duration" {
				lines = append(lines, fmt.Sprintf("%s (%s): %d", m.Name, m.Unit, data.DataPoints[0].Count))
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// GET /icecream/vanilla: dumper.cache.name=pages dumper.cache.result=miss dumper.cache.fwd=uri-miss dumper.cache.stored=true
	// GET /icecream/vanilla: dumper.cache.name=pages dumper.cache.result=hit
	// dumper.render.duration (s): 1
	// dumper.requests{result=hit}: 1
	// dumper.requests{result=miss}: 1
	// dumper.store.entries: 1
}
