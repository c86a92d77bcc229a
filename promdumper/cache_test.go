package promdumper

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestWithCache: a real cache reports to the collector: a miss stored, a hit, a response
// that may not be stored, an unsafe request invalidating its own path, an invalidation
// from a named source, and the store's round trips.
func TestWithCache(t *testing.T) {
	t.Parallel()
	m := New(Options{Cache: "shop"})
	c, err := dumper.New(dumper.Options{Name: "shop", Observers: []dumper.Observer{m.Observer()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m.Watch(c)
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/me" {
			w.Header().Set("Cache-Control", "private")
		}
		fmt.Fprint(w, "page ", r.URL.Path)
	})))
	defer srv.Close()
	do := func(method, path string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do("GET", "/a")
	do("GET", "/a")
	do("GET", "/me")
	do("POST", "/a")
	do("GET", "/a")
	ctx := dumper.WithSource(t.Context(), "gorm", time.Now())
	if err := c.InvalidatePaths(ctx, "/a"); err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidateTags(context.Background(), "t1", "t2"); err != nil {
		t.Fatal(err)
	}

	want := `
# HELP dumper_misses_total Requests that ran the handler for want of a stored response, by Cache-Status fwd and detail (why the response was not stored, empty if it was).
# TYPE dumper_misses_total counter
dumper_misses_total{cache="shop",detail="",fwd="stale"} 1
dumper_misses_total{cache="shop",detail="",fwd="uri-miss"} 1
dumper_misses_total{cache="shop",detail="private",fwd="uri-miss"} 1
# HELP dumper_stores_total Responses stored.
# TYPE dumper_stores_total counter
dumper_stores_total{cache="shop"} 2
# HELP dumper_invalidations_total Invalidations the cache applied to its store or tried to, by source.
# TYPE dumper_invalidations_total counter
dumper_invalidations_total{cache="shop",source="direct"} 1
dumper_invalidations_total{cache="shop",source="gorm"} 1
dumper_invalidations_total{cache="shop",source="request"} 1
# HELP dumper_invalidated_tags_total Tags (paths included) named by the invalidations, by source.
# TYPE dumper_invalidated_tags_total counter
dumper_invalidated_tags_total{cache="shop",source="direct"} 2
dumper_invalidated_tags_total{cache="shop",source="gorm"} 1
dumper_invalidated_tags_total{cache="shop",source="request"} 1
# HELP dumper_store_entries Entries the store holds.
# TYPE dumper_store_entries gauge
dumper_store_entries{cache="shop"} 1
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "dumper_misses_total", "dumper_stores_total",
		"dumper_invalidations_total", "dumper_invalidated_tags_total", "dumper_store_entries"); err != nil {
		t.Error(err)
	}
	for result, want := range map[string]float64{"hit": 1, "miss": 3, "unsafe": 1} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(result, "2xx")); got != want {
			t.Errorf("%s requests: %v, want %v", result, got, want)
		}
	}
	if count, _ := histogram(t, m, "dumper_invalidation_latency_seconds", map[string]string{"source": "gorm"}); count != 1 {
		t.Errorf("gorm's invalidation latency observed %d times, want 1", count)
	}
	for _, op := range []string{"get", "set", "invalidate"} {
		if count, _ := histogram(t, m, "dumper_store_duration_seconds", map[string]string{"op": op}); count == 0 {
			t.Errorf("no %s round trip observed", op)
		}
	}
	if count, _ := histogram(t, m, "dumper_render_duration_seconds", nil); count != 4 {
		t.Errorf("%d renders observed, want 4 (three misses, one unsafe request)", count)
	}
}
