// Package promdumper exports the metrics of a [dumper.Cache] to Prometheus.
//
// A [Collector] is a [prometheus.Collector]: it counts what the cache reports to its
// [dumper.Observer] (requests by result, misses by reason, stores, invalidations by
// source, store errors by operation, with histograms of render times, store round trips
// and invalidation latency), and reads the store's entries and bytes from
// [dumper.Cache.Stats] at scrape time:
//
//	m := promdumper.New(promdumper.Options{Cache: "pages"})
//	c, err := dumper.New(dumper.Options{Name: "pages", Observers: []dumper.Observer{m.Observer()}})
//	…
//	m.Watch(c) // the store's gauges
//	reg.MustRegister(m)
//
// Every metric carries the constant label cache (Options.Cache), so that several caches
// can be registered with one registry. No label takes a value from a request or a tag:
// results, Cache-Status fwd and detail, status classes ("2xx"), store operations and
// invalidation sources come from fixed, small vocabularies, and a value outside them is
// counted under "other" (see [Options.Sources]).
package promdumper
