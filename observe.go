package dumper

import (
	"context"
	"time"
	"unicode/utf8"
)

// An Observer is told what a cache does, for metrics, traces and edge purges (see
// [Options.Observers]). Any of its functions may be nil. They are called synchronously, on
// the goroutine doing the work and with its context (the request's, for a request), so they
// must return quickly; they must not keep the slices they are given.
//
// Only what this process's cache does is reported: an invalidation that reaches a shared
// store from another instance (over redisstore's channel, say) is reported by the instance
// that made it, so that a purge driven by Invalidation is sent once.
type Observer struct {
	// Request is called once for each request a middleware handled, whatever its method,
	// after its response was written.
	Request func(ctx context.Context, ev RequestEvent)

	// Invalidation is called after the cache applied an invalidation to its store, or
	// failed to.
	Invalidation func(ctx context.Context, ev InvalidationEvent)

	// Store is called after each operation the cache made on its store.
	Store func(ctx context.Context, ev StoreEvent)
}

// A Result is what the cache did with a request.
type Result uint8

const (
	// ResultHit: served from the store, a 304, 412 or 206 made from a stored response
	// included.
	ResultHit Result = iota + 1
	// ResultMiss: the handler ran; RequestEvent.Stored says whether its response was
	// stored.
	ResultMiss
	// ResultCoalesced: served from the render of a concurrent request for the same page,
	// without running the handler.
	ResultCoalesced
	// ResultBypass: the cache did not handle the request (Policy.Ignore, a request it
	// cannot key, a GET with a body); the handler ran.
	ResultBypass
	// ResultUnsafe: a method other than GET and HEAD; the handler ran, and an unsafe
	// method's success invalidated its path.
	ResultUnsafe
	// ResultRefused: a request marked only-if-cached with nothing stored for it, answered
	// with a 504 without running the handler.
	ResultRefused
	// ResultStale: served an invalidated response within its soft window (see
	// [Policy.StaleWhileRevalidate]); RequestEvent.Detail says "stale" while it is
	// revalidated, "stale-if-error" when the render failed.
	ResultStale
)

var resultNames = [...]string{
	ResultHit:       "hit",
	ResultMiss:      "miss",
	ResultCoalesced: "coalesced",
	ResultBypass:    "bypass",
	ResultUnsafe:    "unsafe",
	ResultRefused:   "refused",
	ResultStale:     "stale",
}

// String returns the result's name: "hit", "miss", "coalesced", "bypass", "unsafe",
// "refused" or "stale".
func (r Result) String() string {
	if int(r) < len(resultNames) && resultNames[r] != "" {
		return resultNames[r]
	}
	return "unknown"
}

// A RequestEvent describes a request a middleware handled. Its strings come from fixed
// vocabularies, fit for metric labels.
type RequestEvent struct {
	Result Result

	// Fwd is why the request went to the handler, as Cache-Status's fwd parameter says it
	// (RFC 9211): "uri-miss", "vary-miss", "stale", "request", "miss", "method" or
	// "bypass"; empty for a hit.
	Fwd string

	// Detail is why the handler's response was not stored, as Cache-Status's detail
	// parameter says it ("private", "set-cookie", "too-large"…); empty when there is no
	// such reason.
	Detail string

	// Stored reports that the handler's response was stored.
	Stored bool

	// Status is the status code sent; zero when the cache did not see it (a bypass, an
	// OPTIONS). A hit served as a range reports 206.
	Status int

	// Render is how long the handler ran; zero when it did not.
	Render time.Duration

	// Duration is the time from the middleware's start to the end of the response.
	Duration time.Duration

	// Panicked reports that the handler panicked (a miss): the panic goes on, to the
	// server or a recovering middleware in front, and nothing was stored.
	Panicked bool
}

// An InvalidationEvent describes an invalidation the cache sent to its store.
type InvalidationEvent struct {
	// Tags are the distinct tags invalidated, sorted; path tags start with "/". They must
	// not be kept or modified.
	Tags []string

	// All reports an invalidation of everything ([Cache.InvalidateAll]), which has no
	// tags.
	All bool

	// Source is who asked, as [WithSource] said; empty for a call that did not say.
	Source string

	// Written is when the write behind the invalidation committed, if its source said;
	// zero otherwise.
	Written time.Time

	// Write describes the write behind the invalidation, as [WithWrite] said ("UPDATE
	// flavors (2 rows)", the statement's SQL text…); empty if the caller did not say. It is
	// never a metric label: it may hold SQL text.
	Write string

	// Duration is the store's round trip.
	Duration time.Duration

	// Err is the store's error, if it failed.
	Err error
}

// A StoreEvent describes one operation on the cache's store.
type StoreEvent struct {
	Op       string // "get", "set", "invalidate" or "invalidate-all"
	Duration time.Duration
	Err      error
}

// SourceRequest is the [InvalidationEvent.Source] of the invalidation an unsafe request
// makes of its own path when it succeeds.
const SourceRequest = "request"

type sourceKey struct{}

type source struct {
	name    string
	written time.Time
}

// WithSource returns a copy of ctx under which the cache reports invalidations to its
// observers as coming from source, of a write committed at written (zero if unknown). The
// source should be a constant naming the kind of writer ("gorm", "pgnotify", "purge"…):
// metrics take it as a label.
func WithSource(ctx context.Context, src string, written time.Time) context.Context {
	return context.WithValue(ctx, sourceKey{}, source{src, written})
}

type writeKey struct{}

// maxWrite is the length in bytes past which WithWrite shortens a description.
const maxWrite = 200

// WithWrite returns a copy of ctx under which the cache reports invalidations, to its
// observers ([InvalidationEvent.Write]) and in [Cache.ExplainHandler], as made because of the
// write what describes: the statement's SQL text, "UPDATE flavors (2 rows)", "INSERT on
// sizes, 1 row"… A description past 200 bytes is cut at a character boundary and
// ends with "…". It keeps the source [WithSource] set.
func WithWrite(ctx context.Context, what string) context.Context {
	return context.WithValue(ctx, writeKey{}, shortenWrite(what))
}

// shortenWrite cuts what to maxWrite bytes at most, at a UTF-8 character boundary.
func shortenWrite(what string) string {
	if len(what) <= maxWrite {
		return what
	}
	const ellipsis = "…"
	n := maxWrite - len(ellipsis)
	for n > 0 && !utf8.RuneStart(what[n]) {
		n--
	}
	return what[:n] + ellipsis
}

// writeOf returns the description of the write under ctx (see WithWrite), "" if none.
func writeOf(ctx context.Context) string {
	w, _ := ctx.Value(writeKey{}).(string)
	return w
}

// observers are a cache's Observers, sorted by what they observe, so that a cache without
// observers of a kind does no work for them.
type observers struct {
	request      []func(context.Context, RequestEvent)
	invalidation []func(context.Context, InvalidationEvent)
	store        []func(context.Context, StoreEvent)
}

func newObservers(obs []Observer) observers {
	var o observers
	for _, ob := range obs {
		if ob.Request != nil {
			o.request = append(o.request, ob.Request)
		}
		if ob.Invalidation != nil {
			o.invalidation = append(o.invalidation, ob.Invalidation)
		}
		if ob.Store != nil {
			o.store = append(o.store, ob.Store)
		}
	}
	return o
}

// requestStart returns the time a request's handling starts, for its RequestEvent; the
// zero time when nobody observes requests, so that the hit path reads no clock for them.
func (c *Cache) requestStart() time.Time {
	if len(c.obs.request) == 0 {
		return time.Time{}
	}
	return time.Now()
}

// observeRequest reports ev, of a request handled since start, to the request observers.
func (c *Cache) observeRequest(ctx context.Context, start time.Time, ev RequestEvent) {
	if len(c.obs.request) == 0 {
		return
	}
	ev.Duration = time.Since(start)
	for _, f := range c.obs.request {
		f(ctx, ev)
	}
}

// storeStart returns the start time of a store operation; zero when nobody observes them
// (or their invalidations).
func (c *Cache) storeStart() time.Time {
	if len(c.obs.store) == 0 && len(c.obs.invalidation) == 0 {
		return time.Time{}
	}
	return time.Now()
}

// observeStore reports a store operation started at start to the store observers.
func (c *Cache) observeStore(ctx context.Context, op string, start time.Time, err error) {
	if len(c.obs.store) == 0 {
		return
	}
	ev := StoreEvent{Op: op, Duration: time.Since(start), Err: err}
	for _, f := range c.obs.store {
		f(ctx, ev)
	}
}

// observeInvalidation reports an invalidation of tags, or of everything (all), sent to the
// store at start, to the store and invalidation observers.
func (c *Cache) observeInvalidation(ctx context.Context, tags []string, all bool, start time.Time, err error) {
	op := "invalidate"
	if all {
		op = "invalidate-all"
	}
	c.observeStore(ctx, op, start, err)
	if len(c.obs.invalidation) == 0 {
		return
	}
	src, _ := ctx.Value(sourceKey{}).(source)
	ev := InvalidationEvent{Tags: tags, All: all, Source: src.name, Written: src.written, Write: writeOf(ctx), Duration: time.Since(start), Err: err}
	for _, f := range c.obs.invalidation {
		f(ctx, ev)
	}
}
