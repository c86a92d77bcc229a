package promdumper

import (
	"sync/atomic"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/metriclabel"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a [Collector]. The zero value is ready to use.
type Options struct {
	// Cache is the value of the constant label cache on every metric. Empty means "dumper".
	// Collectors registered with one registry need distinct values (registration fails
	// otherwise); using the cache's [dumper.Options.Name] keeps metrics and Cache-Status
	// headers in step.
	Cache string

	// Sources lists invalidation sources (the source given to [dumper.WithSource]) that get
	// a value of the label source of their own, besides the project's: "request", "gorm",
	// "pgnotify", "sql", "pgx", "purge", and "direct" for an invalidation called without a
	// source. Of the other sources, the first 8 distinct ones that are short tokens
	// (at most 32 lower-case letters, digits, '-', '_' or '.') get their own value too;
	// any other source is counted as "other". The list is copied.
	Sources []string
}

// A Collector counts what a cache reports to its observer and reads its store's figures
// at scrape time, as a [prometheus.Collector]. Give [Collector.Observer] to the cache's
// [dumper.Options.Observers], call [Collector.Watch] with the cache, and register the
// Collector. Its methods are safe for concurrent use.
//
// The metrics, each with the constant label cache:
//
//	dumper_requests_total{result,status_class}   requests the middlewares handled, by dumper.Result and status class ("2xx"; "none" for a bypass)
//	dumper_request_duration_seconds{result}      from the middleware's start to the end of the response
//	dumper_misses_total{fwd,detail}              misses by Cache-Status fwd and detail (why not stored; "" if stored)
//	dumper_stores_total                          responses stored
//	dumper_coalesced_total                       requests served from another request's render
//	dumper_render_duration_seconds               how long the handler ran, for misses and unsafe requests
//	dumper_invalidations_total{source}           invalidations the cache applied to its store, or tried to
//	dumper_invalidation_failures_total{source}   those the store failed
//	dumper_invalidated_tags_total{source}        the tags (paths included) they named
//	dumper_invalidation_latency_seconds{source}  from the write's commit to the invalidation applied, when the source said when
//	dumper_store_duration_seconds{op}            store round trips, by operation ("get", "set", "invalidate", "invalidate-all")
//	dumper_store_errors_total{op}                store operations that failed
//	dumper_store_entries, dumper_store_bytes     the store's entries and bytes (gauges; 0 if it does not report them)
//	dumper_store_evictions_total                 entries the store dropped for space or age
//
// The store's figures are read from [dumper.Cache.Stats] when scraped, and only once a
// cache is watched.
type Collector struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	misses          *prometheus.CounterVec
	stores          prometheus.Counter
	coalesced       prometheus.Counter
	render          prometheus.Histogram
	invalidations   *prometheus.CounterVec
	failures        *prometheus.CounterVec
	tags            *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	storeDuration   *prometheus.HistogramVec
	storeErrors     *prometheus.CounterVec

	entries, bytes, evictions *prometheus.Desc

	// The children of the request path's metrics, made once, so that counting a hit
	// looks nothing up.
	byResult   [len(metriclabel.Results)][len(metriclabel.Classes) + 1]prometheus.Counter
	durationBy [len(metriclabel.Results)]prometheus.Observer
	storeBy    [len(metriclabel.StoreOps) + 1]prometheus.Observer
	errorsBy   [len(metriclabel.StoreOps) + 1]prometheus.Counter

	sources, fwds, details *metriclabel.Vocabulary

	cache atomic.Pointer[dumper.Cache]
}

// New returns a Collector.
func New(opts Options) *Collector {
	name := opts.Cache
	if name == "" {
		name = "dumper"
	}
	cl := prometheus.Labels{"cache": name}
	counter := func(metric, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "dumper", Name: metric, Help: help, ConstLabels: cl}, labels)
	}
	histogram := func(metric, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "dumper", Name: metric, Help: help, Buckets: buckets, ConstLabels: cl}, labels)
	}
	m := &Collector{
		requests:        counter("requests_total", "Requests the cache's middlewares handled, by result and status class.", "result", "status_class"),
		requestDuration: histogram("request_duration_seconds", "Time from the middleware's start to the end of the response, by result.", metriclabel.RequestBuckets, "result"),
		misses:          counter("misses_total", "Requests that ran the handler for want of a stored response, by Cache-Status fwd and detail (why the response was not stored, empty if it was).", "fwd", "detail"),
		stores: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "dumper", Name: "stores_total",
			Help: "Responses stored.", ConstLabels: cl}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "dumper", Name: "coalesced_total",
			Help: "Requests served from another request's render, without running the handler.", ConstLabels: cl}),
		render: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "dumper", Name: "render_duration_seconds",
			Help: "How long the handler ran, for misses and unsafe requests.", Buckets: metriclabel.RenderBuckets, ConstLabels: cl}),
		invalidations: counter("invalidations_total", "Invalidations the cache applied to its store or tried to, by source.", "source"),
		failures:      counter("invalidation_failures_total", "Invalidations the store failed, by source.", "source"),
		tags:          counter("invalidated_tags_total", "Tags (paths included) named by the invalidations, by source.", "source"),
		latency:       histogram("invalidation_latency_seconds", "Time from a write's commit to its invalidation applied, by source, when the source said when the write committed.", metriclabel.InvalidationBuckets, "source"),
		storeDuration: histogram("store_duration_seconds", "Round trips of the cache's store operations, by operation.", metriclabel.StoreBuckets, "op"),
		storeErrors:   counter("store_errors_total", "Store operations that failed, by operation.", "op"),

		entries:   prometheus.NewDesc("dumper_store_entries", "Entries the store holds.", nil, cl),
		bytes:     prometheus.NewDesc("dumper_store_bytes", "Bytes the store's entries use.", nil, cl),
		evictions: prometheus.NewDesc("dumper_store_evictions_total", "Entries the store dropped for space or age.", nil, cl),

		sources: metriclabel.Sources(opts.Sources),
		fwds:    metriclabel.Fwds(),
		details: metriclabel.Details(),
	}
	for r, result := range metriclabel.Results {
		for c := range len(metriclabel.Classes) + 1 {
			m.byResult[r][c] = m.requests.WithLabelValues(result, metriclabel.ClassLabel(c))
		}
		m.durationBy[r] = m.requestDuration.WithLabelValues(result)
	}
	for i := range len(metriclabel.StoreOps) + 1 {
		m.storeBy[i] = m.storeDuration.WithLabelValues(metriclabel.OpLabel(i))
		m.errorsBy[i] = m.storeErrors.WithLabelValues(metriclabel.OpLabel(i))
	}
	return m
}

// Watch makes the Collector report cache's store figures (entries, bytes, evictions) when
// scraped. A later call replaces the cache; nil stops them.
func (m *Collector) Watch(cache *dumper.Cache) { m.cache.Store(cache) }

// Describe sends the descriptors of every metric the Collector reports.
func (m *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.entries
	ch <- m.bytes
	ch <- m.evictions
}

// Collect sends the metrics' current values; the store's are read from the watched
// cache's Stats.
func (m *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	c := m.cache.Load()
	if c == nil {
		return
	}
	st := c.Stats()
	ch <- prometheus.MustNewConstMetric(m.entries, prometheus.GaugeValue, float64(st.Entries))
	ch <- prometheus.MustNewConstMetric(m.bytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(m.evictions, prometheus.CounterValue, float64(st.Evictions))
}

func (m *Collector) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.requests, m.requestDuration, m.misses, m.stores, m.coalesced, m.render,
		m.invalidations, m.failures, m.tags, m.latency, m.storeDuration, m.storeErrors,
	}
}
