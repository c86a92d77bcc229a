package oteldumper

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// sdk is a Recorder on the real SDK, with an in-memory metric reader and span recorder.
type sdk struct {
	rec    *Recorder
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func newSDK(t *testing.T, opts Options) *sdk {
	t.Helper()
	s := &sdk{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = s.tp.Shutdown(context.Background())
	})
	opts.MeterProvider = mp
	var err error
	if s.rec, err = New(opts); err != nil {
		t.Fatal(err)
	}
	return s
}

// inSpan runs f under a recording span and returns the span once ended.
func (s *sdk) inSpan(t *testing.T, f func(ctx context.Context)) sdktrace.ReadOnlySpan {
	t.Helper()
	ctx, span := s.tp.Tracer("test").Start(t.Context(), "GET /")
	f(ctx)
	span.End()
	ended := s.spans.Ended()
	return ended[len(ended)-1]
}

// collect returns the metric named name, or fails.
func (s *sdk) collect(t *testing.T, name string) metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, ScopeName)
		}
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

// TestSpanAttributes: each result is put on the request's span, with fwd, detail and
// stored as the Cache-Status has them.
func TestSpanAttributes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   dumper.RequestEvent
		want []attribute.KeyValue
	}{
		{"hit", dumper.RequestEvent{Result: dumper.ResultHit, Status: 200},
			[]attribute.KeyValue{CacheName.String("pages"), CacheResult.String("hit")}},
		{"stored miss", dumper.RequestEvent{Result: dumper.ResultMiss, Fwd: "uri-miss", Stored: true, Status: 200, Render: time.Millisecond},
			[]attribute.KeyValue{CacheName.String("pages"), CacheResult.String("miss"), CacheFwd.String("uri-miss"), CacheStored.Bool(true)}},
		{"miss not stored", dumper.RequestEvent{Result: dumper.ResultMiss, Fwd: "stale", Detail: "private", Status: 200},
			[]attribute.KeyValue{CacheName.String("pages"), CacheResult.String("miss"), CacheFwd.String("stale"), CacheDetail.String("private"), CacheStored.Bool(false)}},
		{"coalesced", dumper.RequestEvent{Result: dumper.ResultCoalesced, Status: 200},
			[]attribute.KeyValue{CacheName.String("pages"), CacheResult.String("coalesced")}},
		{"bypass", dumper.RequestEvent{Result: dumper.ResultBypass, Fwd: "bypass", Detail: "request-body"},
			[]attribute.KeyValue{CacheName.String("pages"), CacheResult.String("bypass"), CacheFwd.String("bypass"), CacheDetail.String("request-body")}},
		{"refused", dumper.RequestEvent{Result: dumper.ResultRefused, Detail: "only-if-cached", Status: 504},
			[]attribute.KeyValue{CacheName.String("pages"), CacheResult.String("refused"), CacheDetail.String("only-if-cached")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSDK(t, Options{Cache: "pages"})
			span := s.inSpan(t, func(ctx context.Context) { s.rec.Observer().Request(ctx, tt.ev) })
			if got := span.Attributes(); !slices.Equal(got, tt.want) {
				t.Errorf("span attributes\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestRequestMetrics: dumper.requests counts each result, misses with their fwd, detail
// and whether they were stored; render and request durations are recorded in seconds.
func TestRequestMetrics(t *testing.T) {
	t.Parallel()
	s := newSDK(t, Options{})
	o := s.rec.Observer()
	for _, ev := range []dumper.RequestEvent{
		{Result: dumper.ResultHit, Status: 200, Duration: 250 * time.Millisecond},
		{Result: dumper.ResultHit, Status: 304, Duration: 250 * time.Millisecond},
		{Result: dumper.ResultMiss, Fwd: "uri-miss", Stored: true, Status: 200, Render: 500 * time.Millisecond},
		{Result: dumper.ResultMiss, Fwd: "stale", Detail: "set-cookie", Status: 200, Render: time.Second},
		{Result: dumper.ResultCoalesced, Status: 200},
		{Result: dumper.Result(99)},
	} {
		o.Request(context.Background(), ev) // no span: metrics alone
	}
	name := CacheName.String("dumper")
	point := func(n int64, kv ...attribute.KeyValue) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(append(kv, name)...), Value: n}
	}
	want := metricdata.Metrics{
		Name: "dumper.requests", Description: "Requests the cache's middlewares handled, by result.", Unit: "{request}",
		Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: []metricdata.DataPoint[int64]{
			point(2, CacheResult.String("hit")),
			point(1, CacheResult.String("miss"), CacheFwd.String("uri-miss"), CacheDetail.String(""), CacheStored.Bool(true)),
			point(1, CacheResult.String("miss"), CacheFwd.String("stale"), CacheDetail.String("set-cookie"), CacheStored.Bool(false)),
			point(1, CacheResult.String("coalesced")),
			point(1, CacheResult.String("other")),
		}},
	}
	metricdatatest.AssertEqual(t, want, s.collect(t, "dumper.requests"), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	render := s.collect(t, "dumper.render.duration")
	if render.Unit != "s" {
		t.Errorf("render unit %q, want s", render.Unit)
	}
	if dp := render.Data.(metricdata.Histogram[float64]).DataPoints; len(dp) != 1 || dp[0].Count != 2 || dp[0].Sum != 1.5 {
		t.Errorf("render: %+v, want one point of 2 renders summing 1.5 s", dp)
	}
	for _, dp := range s.collect(t, "dumper.request.duration").Data.(metricdata.Histogram[float64]).DataPoints {
		if v, _ := dp.Attributes.Value(CacheResult); v.AsString() == "hit" && (dp.Count != 2 || dp.Sum != .5) {
			t.Errorf("request duration of hits: %d, %v s; want 2, 0.5 s", dp.Count, dp.Sum)
		}
	}
}

// TestInvalidations: counted by source, tags too, failures with error.type; the latency
// only when the write's time is known and the store did not fail; a span event on the
// recording span, with at most 32 tags listed.
func TestInvalidations(t *testing.T) {
	t.Parallel()
	s := newSDK(t, Options{Sources: []string{"import"}})
	o := s.rec.Observer()
	tags := make([]string, 40)
	for i := range tags {
		tags[i] = fmt.Sprintf("/p/%02d", i)
	}
	span := s.inSpan(t, func(ctx context.Context) {
		o.Invalidation(ctx, dumper.InvalidationEvent{Tags: tags, Source: "gorm", Written: time.Now().Add(-2 * time.Second)})
	})
	o.Invalidation(t.Context(), dumper.InvalidationEvent{Tags: []string{"a"}, Source: "import", Err: context.DeadlineExceeded, Written: time.Now()})
	o.Invalidation(t.Context(), dumper.InvalidationEvent{Tags: []string{"a"}})

	events := span.Events()
	if len(events) != 1 || events[0].Name != "dumper.invalidation" {
		t.Fatalf("span events %+v, want one dumper.invalidation", events)
	}
	attrs := attribute.NewSet(events[0].Attributes...)
	if v, _ := attrs.Value(InvalidationTags); len(v.AsStringSlice()) != 32 || v.AsStringSlice()[0] != "/p/00" {
		t.Errorf("event's tags %v, want the first 32", v.AsStringSlice())
	}
	if v, _ := attrs.Value(InvalidationTagCount); v.AsInt64() != 40 {
		t.Errorf("event's tag count %d, want 40", v.AsInt64())
	}
	if v, _ := attrs.Value(InvalidationSource); v.AsString() != "gorm" {
		t.Errorf("event's source %q, want gorm", v.AsString())
	}

	name := CacheName.String("dumper")
	point := func(n int64, kv ...attribute.KeyValue) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(append(kv, name)...), Value: n}
	}
	metricdatatest.AssertAggregationsEqual(t, metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: []metricdata.DataPoint[int64]{
		point(1, InvalidationSource.String("gorm")),
		point(1, InvalidationSource.String("import"), ErrorType.String("timeout")),
		point(1, InvalidationSource.String("direct")),
	}}, s.collect(t, "dumper.invalidations").Data, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metricdatatest.AssertAggregationsEqual(t, metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: []metricdata.DataPoint[int64]{
		point(40, InvalidationSource.String("gorm")),
		point(1, InvalidationSource.String("import")),
		point(1, InvalidationSource.String("direct")),
	}}, s.collect(t, "dumper.invalidation.tags").Data, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	// time.Since of a time two seconds ago is at least two seconds: a bound, not a timing.
	if dp := s.collect(t, "dumper.invalidation.latency").Data.(metricdata.Histogram[float64]).DataPoints; len(dp) != 1 || dp[0].Count != 1 || dp[0].Sum < 2 {
		t.Errorf("latency %+v, want gorm's alone, at least 2 s", dp)
	}
}

// TestStoreOperations: round trips by operation, failures with error.type and as an error
// on the recording span.
func TestStoreOperations(t *testing.T) {
	t.Parallel()
	s := newSDK(t, Options{})
	o := s.rec.Observer()
	span := s.inSpan(t, func(ctx context.Context) {
		o.Store(ctx, dumper.StoreEvent{Op: "get", Duration: time.Millisecond})
		o.Store(ctx, dumper.StoreEvent{Op: "get", Duration: time.Millisecond, Err: errors.New("redis: connection refused")})
	})
	o.Store(t.Context(), dumper.StoreEvent{Op: "scan", Err: context.Canceled})
	if ev := span.Events(); len(ev) != 1 || ev[0].Name != "dumper.store.error" {
		t.Errorf("span events %+v, want the store error", ev)
	} else {
		for _, kv := range ev[0].Attributes {
			if strings.Contains(kv.Value.String(), "refused") {
				t.Errorf("the span event carries the error's text: %v", kv)
			}
		}
	}
	got := map[string]uint64{}
	for _, dp := range s.collect(t, "dumper.store.duration").Data.(metricdata.Histogram[float64]).DataPoints {
		op, _ := dp.Attributes.Value(StoreOperation)
		errType, _ := dp.Attributes.Value(ErrorType)
		got[op.AsString()+"/"+errType.AsString()] += dp.Count
	}
	want := map[string]uint64{"get/": 1, "get/_OTHER": 1, "other/canceled": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("store round trips by op/error.type %v, want %v", got, want)
	}
}

// TestStoreFigures: once a cache is watched, a collection reports its store's entries,
// bytes and evictions as Stats has them; before it, and after Watch(nil), none.
func TestStoreFigures(t *testing.T) {
	t.Parallel()
	s := newSDK(t, Options{Cache: "pages"})
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	figures := func() map[string]int64 {
		var rm metricdata.ResourceMetrics
		if err := s.reader.Collect(t.Context(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name != "dumper.requests" {
					for _, dp := range sum.DataPoints {
						got[m.Name] = dp.Value
					}
				}
			}
		}
		return got
	}
	if got := figures(); len(got) != 0 {
		t.Errorf("store figures before Watch: %v", got)
	}
	s.rec.Watch(c)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "page ", r.URL.Path) }))
	for _, path := range []string{"/a", "/b", "/a"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	st := c.Stats()
	want := map[string]int64{"dumper.store.entries": 2, "dumper.store.usage": st.Bytes, "dumper.store.evictions": 0}
	if got := figures(); fmt.Sprint(got) != fmt.Sprint(want) || st.Bytes <= 0 {
		t.Errorf("store figures %v, want %v", got, want)
	}
	s.rec.Watch(nil)
	if got := figures(); len(got) != 0 {
		t.Errorf("store figures after Watch(nil): %v", got)
	}
}
