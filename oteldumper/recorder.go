package oteldumper

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/metriclabel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the Recorder's meter.
const ScopeName = "github.com/dumperhq/dumper/oteldumper"

// Attribute keys, on spans and metrics.
const (
	CacheName   = attribute.Key("dumper.cache.name")   // the cache: Options.Cache
	CacheResult = attribute.Key("dumper.cache.result") // hit, miss, coalesced, bypass, unsafe, refused (dumper.Result)
	CacheFwd    = attribute.Key("dumper.cache.fwd")    // why the request went to the handler: Cache-Status fwd
	CacheDetail = attribute.Key("dumper.cache.detail") // why the response was not stored: Cache-Status detail
	CacheStored = attribute.Key("dumper.cache.stored") // the handler's response was stored

	InvalidationSource = attribute.Key("dumper.invalidation.source") // who asked: dumper.WithSource
	StoreOperation     = attribute.Key("dumper.store.operation")     // get, set, invalidate, invalidate-all
	ErrorType          = attribute.Key("error.type")                 // semantic conventions: the class of a failure

	// Span events only: the invalidation's tags (the first maxSpanTags) and their number.
	InvalidationTags     = attribute.Key("dumper.invalidation.tags")
	InvalidationTagCount = attribute.Key("dumper.invalidation.tag_count")
)

// maxSpanTags bounds the tags an invalidation's span event lists.
const maxSpanTags = 32

// Options configure a [Recorder]. The zero value records through the global meter
// provider.
type Options struct {
	// Cache is the value of the attribute dumper.cache.name on every measurement and span.
	// Empty means "dumper".
	Cache string

	// MeterProvider provides the Recorder's meter. Nil means the global one
	// (otel.GetMeterProvider), which records nothing unless the program set one; a
	// noop.MeterProvider records spans only.
	MeterProvider metric.MeterProvider

	// Sources lists invalidation sources, beyond the project's ("request", "gorm",
	// "pgnotify", "sql", "pgx", "purge", and "direct" for an invalidation without a source),
	// that get a value of dumper.invalidation.source of their own. Of the others, the
	// first 8 short tokens (at most 32 lower-case letters, digits, '-', '_' or '.') do too;
	// the rest are "other".
	Sources []string
}

// A Recorder records what a cache reports to its observer: on the active span of each
// request it handled, and as metrics. Give [Recorder.Observer] to the cache's
// [dumper.Options.Observers] and call [Recorder.Watch] with the cache. Its methods are
// safe for concurrent use.
//
// Span attributes, on the request's active span when it is recording: dumper.cache.name,
// dumper.cache.result, dumper.cache.fwd and dumper.cache.detail when the Cache-Status has
// them, dumper.cache.stored for a miss. An invalidation made under a recording span adds
// a span event dumper.invalidation (its source, tags and their number, error.type if the
// store failed); a store operation that failed is recorded as an error on the span, with
// dumper.store.operation.
//
// Metrics, each with dumper.cache.name:
//
//	dumper.requests               {request}       requests the middlewares handled: dumper.cache.result; for a miss dumper.cache.fwd, dumper.cache.detail ("" if stored) and dumper.cache.stored
//	dumper.request.duration       s  histogram    from the middleware's start to the end of the response: dumper.cache.result
//	dumper.render.duration        s  histogram    how long the handler ran, for misses and unsafe requests
//	dumper.invalidations          {invalidation}  invalidations applied or tried: dumper.invalidation.source, error.type if the store failed
//	dumper.invalidation.tags      {tag}           the tags (paths included) they named: dumper.invalidation.source
//	dumper.invalidation.latency   s  histogram    from the write's commit to the invalidation applied, when the source said: dumper.invalidation.source
//	dumper.store.duration         s  histogram    store round trips: dumper.store.operation, error.type if it failed
//	dumper.store.entries          {entry}         the store's entries (an asynchronous up-down counter)
//	dumper.store.usage            By              the bytes they use (likewise)
//	dumper.store.evictions        {entry}         entries dropped for space or age (an asynchronous counter)
//
// Hits and coalesced requests are dumper.requests by result; stores, the misses with
// dumper.cache.stored true; store errors, dumper.store.duration's count with error.type.
// The store's figures are read from [dumper.Cache.Stats] at collection, once a cache is
// watched; they are 0 when the store does not report them.
type Recorder struct {
	name attribute.KeyValue

	requests        metric.Int64Counter
	requestDuration metric.Float64Histogram
	render          metric.Float64Histogram
	invalidations   metric.Int64Counter
	tags            metric.Int64Counter
	latency         metric.Float64Histogram
	storeDuration   metric.Float64Histogram

	// Attribute sets of the request path, made once, so that a hit builds none.
	addResult    [len(metriclabel.Results)][]metric.AddOption
	recordResult [len(metriclabel.Results)][]metric.RecordOption
	recordOp     [len(metriclabel.StoreOps) + 1][]metric.RecordOption
	recordPlain  []metric.RecordOption
	spanHit      []attribute.KeyValue

	sources, fwds, details *metriclabel.Vocabulary

	cache atomic.Pointer[dumper.Cache]
}

// New returns a Recorder, or an error if its instruments cannot be created.
func New(opts Options) (*Recorder, error) {
	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	name := opts.Cache
	if name == "" {
		name = "dumper"
	}
	m := mp.Meter(ScopeName)
	r := &Recorder{
		name:    CacheName.String(name),
		sources: metriclabel.Sources(opts.Sources),
		fwds:    metriclabel.Fwds(),
		details: metriclabel.Details(),
	}
	seconds := func(buckets []float64, desc string) []metric.Float64HistogramOption {
		return []metric.Float64HistogramOption{metric.WithUnit("s"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(buckets...)}
	}
	var errs []error
	try := func(err error) { errs = append(errs, err) }
	var err error
	r.requests, err = m.Int64Counter("dumper.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests the cache's middlewares handled, by result."))
	try(err)
	r.requestDuration, err = m.Float64Histogram("dumper.request.duration",
		seconds(metriclabel.RequestBuckets, "Time from the middleware's start to the end of the response, by result.")...)
	try(err)
	r.render, err = m.Float64Histogram("dumper.render.duration",
		seconds(metriclabel.RenderBuckets, "How long the handler ran, for misses and unsafe requests.")...)
	try(err)
	r.invalidations, err = m.Int64Counter("dumper.invalidations", metric.WithUnit("{invalidation}"),
		metric.WithDescription("Invalidations the cache applied to its store or tried to, by source."))
	try(err)
	r.tags, err = m.Int64Counter("dumper.invalidation.tags", metric.WithUnit("{tag}"),
		metric.WithDescription("Tags (paths included) named by the invalidations, by source."))
	try(err)
	r.latency, err = m.Float64Histogram("dumper.invalidation.latency",
		seconds(metriclabel.InvalidationBuckets, "Time from a write's commit to its invalidation applied, when the source said when the write committed.")...)
	try(err)
	r.storeDuration, err = m.Float64Histogram("dumper.store.duration",
		seconds(metriclabel.StoreBuckets, "Round trips of the cache's store operations, by operation.")...)
	try(err)
	entries, err := m.Int64ObservableUpDownCounter("dumper.store.entries", metric.WithUnit("{entry}"),
		metric.WithDescription("Entries the store holds."))
	try(err)
	usage, err := m.Int64ObservableUpDownCounter("dumper.store.usage", metric.WithUnit("By"),
		metric.WithDescription("Bytes the store's entries use."))
	try(err)
	evictions, err := m.Int64ObservableCounter("dumper.store.evictions", metric.WithUnit("{entry}"),
		metric.WithDescription("Entries the store dropped for space or age."))
	try(err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	plain := metric.WithAttributeSet(attribute.NewSet(r.name))
	if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c := r.cache.Load()
		if c == nil {
			return nil
		}
		st := c.Stats()
		o.ObserveInt64(entries, st.Entries, plain)
		o.ObserveInt64(usage, st.Bytes, plain)
		o.ObserveInt64(evictions, int64(st.Evictions), plain)
		return nil
	}, entries, usage, evictions); err != nil {
		return nil, err
	}

	r.recordPlain = []metric.RecordOption{plain}
	for i, result := range metriclabel.Results {
		set := metric.WithAttributeSet(attribute.NewSet(r.name, CacheResult.String(result)))
		r.addResult[i], r.recordResult[i] = []metric.AddOption{set}, []metric.RecordOption{set}
	}
	for i := range r.recordOp {
		r.recordOp[i] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(r.name, StoreOperation.String(metriclabel.OpLabel(i))))}
	}
	r.spanHit = []attribute.KeyValue{r.name, CacheResult.String("hit")}
	return r, nil
}

// Watch makes the Recorder report cache's store figures (entries, bytes, evictions) at
// each collection. A later call replaces the cache; nil stops them, and lets the
// Recorder's callback, which the meter keeps, release the cache.
func (r *Recorder) Watch(cache *dumper.Cache) { r.cache.Store(cache) }

// Observer returns the observer that feeds the Recorder, for [dumper.Options.Observers].
func (r *Recorder) Observer() dumper.Observer {
	return dumper.Observer{Request: r.request, Invalidation: r.invalidation, Store: r.store}
}

func (r *Recorder) request(ctx context.Context, ev dumper.RequestEvent) {
	i := metriclabel.Result(ev.Result)
	result := metriclabel.Results[i]
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		if ev.Result == dumper.ResultHit {
			span.SetAttributes(r.spanHit...)
		} else {
			attrs := make([]attribute.KeyValue, 0, 5)
			attrs = append(attrs, r.name, CacheResult.String(result))
			if ev.Fwd != "" {
				attrs = append(attrs, CacheFwd.String(ev.Fwd))
			}
			if ev.Detail != "" {
				attrs = append(attrs, CacheDetail.String(ev.Detail))
			}
			if ev.Result == dumper.ResultMiss {
				attrs = append(attrs, CacheStored.Bool(ev.Stored))
			}
			span.SetAttributes(attrs...)
		}
	}
	if ev.Result == dumper.ResultMiss {
		r.requests.Add(ctx, 1, metric.WithAttributes(r.name, CacheResult.String(result),
			CacheFwd.String(r.fwds.Label(ev.Fwd)), CacheDetail.String(r.details.Label(ev.Detail)), CacheStored.Bool(ev.Stored)))
	} else {
		r.requests.Add(ctx, 1, r.addResult[i]...)
	}
	r.requestDuration.Record(ctx, ev.Duration.Seconds(), r.recordResult[i]...)
	if ev.Render > 0 {
		r.render.Record(ctx, ev.Render.Seconds(), r.recordPlain...)
	}
}

func (r *Recorder) invalidation(ctx context.Context, ev dumper.InvalidationEvent) {
	source := InvalidationSource.String(r.sources.Label(ev.Source))
	var failure []attribute.KeyValue
	if ev.Err != nil {
		failure = []attribute.KeyValue{ErrorType.String(errorType(ev.Err))}
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		tags := ev.Tags[:min(len(ev.Tags), maxSpanTags)]
		span.AddEvent("dumper.invalidation", trace.WithAttributes(append([]attribute.KeyValue{
			r.name, source, InvalidationTags.StringSlice(tags), InvalidationTagCount.Int(len(ev.Tags)),
		}, failure...)...))
	}
	r.invalidations.Add(ctx, 1, metric.WithAttributes(append([]attribute.KeyValue{r.name, source}, failure...)...))
	r.tags.Add(ctx, int64(len(ev.Tags)), metric.WithAttributes(r.name, source))
	if ev.Err == nil && !ev.Written.IsZero() {
		// The write's time may come from another clock (the database's): a write that
		// seems to come after its invalidation counts as immediate.
		r.latency.Record(ctx, max(time.Since(ev.Written), 0).Seconds(), metric.WithAttributes(r.name, source))
	}
}

func (r *Recorder) store(ctx context.Context, ev dumper.StoreEvent) {
	i := metriclabel.Op(ev.Op)
	if ev.Err == nil {
		r.storeDuration.Record(ctx, ev.Duration.Seconds(), r.recordOp[i]...)
		return
	}
	op := StoreOperation.String(metriclabel.OpLabel(i))
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		// An event of its own rather than RecordError, which would put the error's text
		// (keys, addresses) on the span as exception.message.
		span.AddEvent("dumper.store.error", trace.WithAttributes(r.name, op, ErrorType.String(errorType(ev.Err))))
	}
	r.storeDuration.Record(ctx, ev.Duration.Seconds(), metric.WithAttributes(r.name, op, ErrorType.String(errorType(ev.Err))))
}

// errorType is the error.type of a failure: "timeout" or "canceled" when the context
// ended it, "_OTHER" (the conventions' value for anything else) otherwise. It takes
// nothing from the error's text, which may hold keys or addresses.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "_OTHER"
}
