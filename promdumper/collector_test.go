package promdumper

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// TestRequests: each result is counted under its own label with its status class, misses
// by their fwd and detail, stores, coalesced requests and render times on their own.
func TestRequests(t *testing.T) {
	t.Parallel()
	m := New(Options{Cache: "pages"})
	o := m.Observer()
	ctx := t.Context()
	for _, ev := range []dumper.RequestEvent{
		{Result: dumper.ResultHit, Status: 200, Duration: time.Millisecond},
		{Result: dumper.ResultHit, Status: 304, Duration: time.Millisecond},
		{Result: dumper.ResultMiss, Fwd: "uri-miss", Stored: true, Status: 200, Render: 250 * time.Millisecond, Duration: 250 * time.Millisecond},
		{Result: dumper.ResultMiss, Fwd: "stale", Detail: "private", Status: 200, Render: 500 * time.Millisecond, Duration: 500 * time.Millisecond},
		{Result: dumper.ResultMiss, Fwd: "uri-miss", Detail: "status", Status: 404, Render: 250 * time.Millisecond},
		{Result: dumper.ResultCoalesced, Status: 200},
		{Result: dumper.ResultBypass, Fwd: "bypass"},
		{Result: dumper.ResultUnsafe, Fwd: "method", Status: 204, Render: time.Second},
		{Result: dumper.ResultRefused, Detail: "only-if-cached", Status: 504},
		{Result: dumper.ResultStale, Detail: "stale", Status: 200},
		{Result: dumper.Result(200), Status: 700},
	} {
		o.Request(ctx, ev)
	}
	want := `
# HELP dumper_requests_total Requests the cache's middlewares handled, by result and status class.
# TYPE dumper_requests_total counter
` + requestLines("pages", map[string]int{
		"hit/2xx": 1, "hit/3xx": 1, "miss/2xx": 2, "miss/4xx": 1, "coalesced/2xx": 1,
		"bypass/none": 1, "unsafe/2xx": 1, "refused/5xx": 1, "stale/2xx": 1, "other/none": 1,
	}) + `
# HELP dumper_misses_total Requests that ran the handler for want of a stored response, by Cache-Status fwd and detail (why the response was not stored, empty if it was).
# TYPE dumper_misses_total counter
dumper_misses_total{cache="pages",detail="",fwd="uri-miss"} 1
dumper_misses_total{cache="pages",detail="private",fwd="stale"} 1
dumper_misses_total{cache="pages",detail="status",fwd="uri-miss"} 1
# HELP dumper_stores_total Responses stored.
# TYPE dumper_stores_total counter
dumper_stores_total{cache="pages"} 1
# HELP dumper_coalesced_total Requests served from another request's render, without running the handler.
# TYPE dumper_coalesced_total counter
dumper_coalesced_total{cache="pages"} 1
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"dumper_requests_total", "dumper_misses_total", "dumper_stores_total", "dumper_coalesced_total"); err != nil {
		t.Error(err)
	}
	if count, sum := histogram(t, m, "dumper_render_duration_seconds", nil); count != 4 || sum != 2 {
		t.Errorf("render histogram: count %d, sum %v s; want 4, 2 s", count, sum)
	}
	if count, sum := histogram(t, m, "dumper_request_duration_seconds", map[string]string{"result": "miss"}); count != 3 || sum != .75 {
		t.Errorf("request duration of misses: count %d, sum %v s; want 3, 0.75 s", count, sum)
	}
}

// requestLines renders the dumper_requests_total lines of cache: every result and class,
// with the counts given as "result/class" (0 elsewhere), in the exposition's order.
func requestLines(cache string, counts map[string]int) string {
	var b strings.Builder
	sorted := []string{"bypass", "coalesced", "hit", "miss", "other", "refused", "stale", "unsafe"}
	for _, r := range sorted {
		for _, c := range []string{"1xx", "2xx", "3xx", "4xx", "5xx", "none"} {
			fmt.Fprintf(&b, "dumper_requests_total{cache=%q,result=%q,status_class=%q} %d\n", cache, r, c, counts[r+"/"+c])
		}
	}
	return b.String()
}

// histogram returns the sample count and sum of the histogram name whose labels include
// labels, as m reports it.
func histogram(t *testing.T, m prometheus.Collector, name string, labels map[string]string) (uint64, float64) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, metric := range f.GetMetric() {
			for k, v := range labels {
				if !hasLabel(metric, k, v) {
					continue metrics
				}
			}
			return metric.GetHistogram().GetSampleCount(), metric.GetHistogram().GetSampleSum()
		}
	}
	t.Fatalf("no histogram %s with labels %v", name, labels)
	return 0, 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}

// TestInvalidations: invalidations and their tags are counted by source, failures apart;
// the latency from the write is observed when the source said when it was written, and
// not for a failure.
func TestInvalidations(t *testing.T) {
	t.Parallel()
	m := New(Options{})
	o := m.Observer()
	ctx := t.Context()
	o.Invalidation(ctx, dumper.InvalidationEvent{Tags: []string{"/a", "/b"}, Source: "gorm", Written: time.Now().Add(-2 * time.Second)})
	o.Invalidation(ctx, dumper.InvalidationEvent{Tags: []string{"/a"}, Source: "gorm", Written: time.Now().Add(time.Hour)}) // another clock: counted as 0
	o.Invalidation(ctx, dumper.InvalidationEvent{Tags: []string{"t"}, Source: dumper.SourceRequest})
	o.Invalidation(ctx, dumper.InvalidationEvent{Tags: []string{"t"}, Written: time.Now().Add(-time.Hour), Err: errors.New("down")})
	want := `
# HELP dumper_invalidations_total Invalidations the cache applied to its store or tried to, by source.
# TYPE dumper_invalidations_total counter
dumper_invalidations_total{cache="dumper",source="direct"} 1
dumper_invalidations_total{cache="dumper",source="gorm"} 2
dumper_invalidations_total{cache="dumper",source="request"} 1
# HELP dumper_invalidation_failures_total Invalidations the store failed, by source.
# TYPE dumper_invalidation_failures_total counter
dumper_invalidation_failures_total{cache="dumper",source="direct"} 1
# HELP dumper_invalidated_tags_total Tags (paths included) named by the invalidations, by source.
# TYPE dumper_invalidated_tags_total counter
dumper_invalidated_tags_total{cache="dumper",source="direct"} 1
dumper_invalidated_tags_total{cache="dumper",source="gorm"} 3
dumper_invalidated_tags_total{cache="dumper",source="request"} 1
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"dumper_invalidations_total", "dumper_invalidation_failures_total", "dumper_invalidated_tags_total"); err != nil {
		t.Error(err)
	}
	// Time.Since of a time two seconds ago is at least two seconds: a bound, not a timing.
	if count, sum := histogram(t, m, "dumper_invalidation_latency_seconds", map[string]string{"source": "gorm"}); count != 2 || sum < 2 || sum > 3600 {
		t.Errorf("gorm's latency: count %d, sum %v s; want 2 and at least 2 s (the future write as 0)", count, sum)
	}
	if n := testutil.CollectAndCount(m, "dumper_invalidation_latency_seconds"); n != 1 {
		t.Errorf("latency histograms: %d, want 1 (gorm's; a failure and an unknown write time have none)", n)
	}
}

// TestSourcesBounded: the project's sources and Options.Sources have a label each, the
// first 8 other short tokens too; the rest, and anything that is not a short token, are
// "other".
func TestSourcesBounded(t *testing.T) {
	t.Parallel()
	m := New(Options{Sources: []string{"Import Job"}})
	o := m.Observer()
	sources := []string{"pgnotify", "purge", "Import Job", "Not A Token", strings.Repeat("x", 33), "other"}
	for i := range 20 {
		sources = append(sources, fmt.Sprintf("job-%02d", i))
	}
	for _, s := range sources {
		o.Invalidation(t.Context(), dumper.InvalidationEvent{Source: s})
	}
	wantLabels := map[string]float64{"pgnotify": 1, "purge": 1, "Import Job": 1, "other": 1 + 1 + 1 + 12}
	for i := range 8 {
		wantLabels[fmt.Sprintf("job-%02d", i)] = 1
	}
	for label, want := range wantLabels {
		if got := testutil.ToFloat64(m.invalidations.WithLabelValues(label)); got != want {
			t.Errorf("invalidations from %q: %v, want %v", label, got, want)
		}
	}
	if n := testutil.CollectAndCount(m, "dumper_invalidations_total"); n != len(wantLabels) {
		t.Errorf("%d source labels, want %d", n, len(wantLabels))
	}
}

// TestStoreOperations: round trips and errors are counted by operation; an operation the
// collector does not know is "other".
func TestStoreOperations(t *testing.T) {
	t.Parallel()
	m := New(Options{Cache: "c"})
	o := m.Observer()
	boom := errors.New("boom")
	for _, ev := range []dumper.StoreEvent{
		{Op: "get", Duration: time.Millisecond}, {Op: "get", Err: boom}, {Op: "set"},
		{Op: "invalidate", Err: boom}, {Op: "scan", Err: boom},
	} {
		o.Store(t.Context(), ev)
	}
	want := `
# HELP dumper_store_errors_total Store operations that failed, by operation.
# TYPE dumper_store_errors_total counter
dumper_store_errors_total{cache="c",op="get"} 1
dumper_store_errors_total{cache="c",op="invalidate"} 1
dumper_store_errors_total{cache="c",op="invalidate-all"} 0
dumper_store_errors_total{cache="c",op="other"} 1
dumper_store_errors_total{cache="c",op="set"} 0
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "dumper_store_errors_total"); err != nil {
		t.Error(err)
	}
	if count, _ := histogram(t, m, "dumper_store_duration_seconds", map[string]string{"op": "get"}); count != 2 {
		t.Errorf("get round trips: %d, want 2", count)
	}
}

// TestLint: every metric passes Prometheus's naming lint (client_golang's testutil), with
// every family populated.
func TestLint(t *testing.T) {
	t.Parallel()
	m := New(Options{})
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m.Watch(c)
	o := m.Observer()
	o.Request(t.Context(), dumper.RequestEvent{Result: dumper.ResultMiss, Fwd: "uri-miss", Stored: true, Status: 200, Render: time.Millisecond})
	o.Request(t.Context(), dumper.RequestEvent{Result: dumper.ResultCoalesced, Status: 200})
	o.Invalidation(t.Context(), dumper.InvalidationEvent{Tags: []string{"/"}, Written: time.Now(), Err: nil})
	o.Invalidation(t.Context(), dumper.InvalidationEvent{Err: errors.New("down")})
	o.Store(t.Context(), dumper.StoreEvent{Op: "get", Err: errors.New("down")})
	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	if problems, err = testutil.GatherAndLint(reg); err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("gathered %s: %s", p.Metric, p.Text)
	}
}

// TestSeveralCaches: collectors of caches with distinct names register with one registry;
// a second collector under a name already registered is refused.
func TestSeveralCaches(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(New(Options{Cache: "pages"})); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(New(Options{Cache: "api"})); err != nil {
		t.Errorf("a second cache's collector: %v", err)
	}
	if err := reg.Register(New(Options{Cache: "pages"})); err == nil {
		t.Error("a second collector named pages registered")
	}
	if _, err := reg.Gather(); err != nil {
		t.Error(err)
	}
}

// TestStoreGauges: once a cache is watched, a scrape reports its store's entries and bytes
// as Stats has them; before, it reports none.
func TestStoreGauges(t *testing.T) {
	t.Parallel()
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := New(Options{})
	if n := testutil.CollectAndCount(m, "dumper_store_entries", "dumper_store_bytes", "dumper_store_evictions_total"); n != 0 {
		t.Errorf("%d store figures before Watch, want 0", n)
	}
	m.Watch(c)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "page ", r.URL.Path) }))
	for _, path := range []string{"/a", "/b", "/a"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	st := c.Stats()
	if st.Entries != 2 || st.Bytes <= 0 {
		t.Fatalf("Stats after two stored pages: %d entries, %d bytes", st.Entries, st.Bytes)
	}
	want := fmt.Sprintf(`
# HELP dumper_store_bytes Bytes the store's entries use.
# TYPE dumper_store_bytes gauge
dumper_store_bytes{cache="dumper"} %d
# HELP dumper_store_entries Entries the store holds.
# TYPE dumper_store_entries gauge
dumper_store_entries{cache="dumper"} 2
# HELP dumper_store_evictions_total Entries the store dropped for space or age.
# TYPE dumper_store_evictions_total counter
dumper_store_evictions_total{cache="dumper"} 0
`, st.Bytes)
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "dumper_store_entries", "dumper_store_bytes", "dumper_store_evictions_total"); err != nil {
		t.Error(err)
	}
	m.Watch(nil)
	if n := testutil.CollectAndCount(m, "dumper_store_entries"); n != 0 {
		t.Errorf("%d store figures after Watch(nil), want 0", n)
	}
}

// TestHitAllocatesNothing: counting a hit, and its store lookup, looks nothing up.
func TestHitAllocatesNothing(t *testing.T) {
	m := New(Options{})
	o := m.Observer()
	ctx := context.Background()
	ev := dumper.RequestEvent{Result: dumper.ResultHit, Status: 200, Duration: time.Microsecond}
	get := dumper.StoreEvent{Op: "get", Duration: time.Microsecond}
	if n := testing.AllocsPerRun(1000, func() { o.Store(ctx, get); o.Request(ctx, ev) }); n != 0 {
		t.Errorf("a hit allocates %v times, want 0", n)
	}
}
