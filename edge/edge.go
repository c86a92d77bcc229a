package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dumperhq/dumper"
)

// Options configure an [Edge]. Dialect is required; the zero value of every other field is
// documented.
type Options struct {
	// Dialect is the edge's: which headers carry tags and lifetime, and their limits.
	Dialect Dialect

	// Purger sends purges to the edge. Nil means the edge is only told how to store
	// responses, and Purge queues nothing (an edge purged by other means, or tests).
	Purger Purger

	// MaxAge is how long the edge may keep a response, in its own lifetime field apart
	// from the browser's Cache-Control (Surrogate-Control, CDN-Cache-Control…): the bound on
	// what a purge that was given up on could leave stale. Zero means 24 hours.
	MaxAge time.Duration

	// Delay is how long after the first purge of an invalidation the second one is sent,
	// and the longest a render may take for the edge to store its response (see
	// [dumper.Edge]). A response rendered from data read before a write reaches the edge
	// before its render has lasted Delay, so the second purge, sent Delay after the first,
	// drops it even when it arrived after the first. Zero means 2 seconds; negative means no
	// second purge and no bound on renders (then the edge may keep a response stale on
	// arrival from another instance until MaxAge).
	Delay time.Duration

	// MaxQueued bounds the keys waiting to be sent, first purges and second ones. When an
	// invalidation would go past it, the queue is replaced by one purge of [AllTag], which
	// every response the edge stores carries: the edge is emptied rather than left stale.
	// Zero means 100,000.
	MaxQueued int

	// GiveUp is how long the queue keeps retrying while every attempt fails (the edge is
	// down, or refuses): past it, the keys waiting are dropped, counted and logged, and the
	// edge may serve what they would have purged until MaxAge. Zero means 15 minutes.
	GiveUp time.Duration

	// MinBackoff and MaxBackoff bound the wait between two failed attempts, doubled after
	// each failure; a rate-limited answer's Retry-After replaces it. Zero means 100
	// milliseconds and 30 seconds.
	MinBackoff, MaxBackoff time.Duration

	// Pace is the least time between two purge requests. Zero means none but the
	// Purger's own limits: a [LimitedPurger] (every Purger of this package for a
	// rate-limited API) is kept under the limits its API documents, whatever Pace says.
	Pace time.Duration

	// Wait is how long Purge — and so the invalidation that calls it through
	// [Edge.Observer], on the goroutine of the write — waits for the edge to acknowledge the
	// first purge of its keys. A write that returns then leaves nothing of the old data at
	// the edge for the reads that follow it, but for the races the second purge closes.
	// Zero means Purge does not wait: the edge may serve the old version for the purge's own
	// trip after the write returns. Keep it short (observers must return quickly): the
	// time a purge takes on a good day, 50 ms for Varnish nearby.
	Wait time.Duration

	// Logger receives purges given up on (Error) and queue overflows (Warn). Nil means no
	// logging.
	Logger *slog.Logger
}

// An Edge is a cache in front of the application — Varnish, a CDN — that a dumper cache
// drives: it is the [dumper.Edge] of a policy, which writes each stored response's tags in
// the edge's dialect, and it purges the edge of the tags of every invalidation the cache
// applies ([Edge.Observer]), twice, from a bounded queue that retries with backoff while the
// edge is down. Its methods are safe for concurrent use.
type Edge struct {
	d       Dialect
	l       limits
	purger  Purger
	maxAge  string // the lifetime field's value
	delay   time.Duration
	max     int
	giveUp  time.Duration
	minBack time.Duration
	maxBack time.Duration
	pace    time.Duration
	reqs    bucket // the Purger's limit on requests (see LimitedPurger)
	keys    bucket // and on keys
	wait    time.Duration
	log     *slog.Logger

	mu         sync.Mutex
	pending    []string            // keys to send now, in order
	queued     map[string]struct{} // pending, as a set
	flushed    bool                // Close's flush is over: nothing queued would be sent
	later      []delayed           // second purges, by due time
	nLater     int                 // keys in later
	inflight   int                 // keys of the request being sent
	added      uint64              // keys ever put in pending
	done       uint64              // keys of pending ever sent or dropped, in order
	progress   chan struct{}       // closed and replaced when done grows
	epoch      uint64              // overflows so far
	takenEpoch uint64              // epoch when the batch in flight was taken
	wake       chan struct{}

	closing chan struct{}
	stopped chan struct{}
	close   sync.Once

	stats struct {
		sent, requests, failures, givenUp, overflows, second atomic.Uint64
		late                                                 atomic.Uint64
		coarsened, refused                                   atomic.Uint64
	}
}

type delayed struct {
	due  time.Time
	keys []string
}

// Stats are an edge's counters since New.
type Stats struct {
	Sent      uint64 // keys the edge acknowledged purging
	Requests  uint64 // purge requests it acknowledged
	Second    uint64 // second purges queued (see Options.Delay)
	Failures  uint64 // purge requests that failed (each retried, unless given up)
	GivenUp   uint64 // keys dropped after GiveUp, on a permanent error, or at Close
	Late      uint64 // keys of purges asked for after Close, which nothing sent
	Overflows uint64 // times the queue was replaced by a purge of AllTag
	Queued    int    // keys waiting now or being sent, first purges and second ones

	Coarsened uint64 // stored responses whose row tags were coarsened to fit the header
	Refused   uint64 // responses sent with the edge's no-store (see dumper.Edge)
}

// New returns an Edge for o, with its purge queue running if o has a Purger; Close stops it.
func New(o Options) (*Edge, error) {
	var errs []error
	if !o.Dialect.valid() {
		errs = append(errs, fmt.Errorf("edge: unknown dialect %d", o.Dialect))
	}
	if o.MaxAge < 0 || o.MaxQueued < 0 || o.GiveUp < 0 || o.MinBackoff < 0 || o.MaxBackoff < 0 || o.Pace < 0 || o.Wait < 0 {
		errs = append(errs, errors.New("edge: negative MaxAge, MaxQueued, GiveUp, MinBackoff, MaxBackoff, Pace or Wait"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e := &Edge{
		d:        o.Dialect,
		l:        o.Dialect.limits(),
		purger:   o.Purger,
		delay:    cmpOr(o.Delay, 2*time.Second),
		max:      cmpOr(o.MaxQueued, 100_000),
		giveUp:   cmpOr(o.GiveUp, 15*time.Minute),
		minBack:  cmpOr(o.MinBackoff, 100*time.Millisecond),
		maxBack:  cmpOr(o.MaxBackoff, 30*time.Second),
		pace:     o.Pace,
		wait:     o.Wait,
		progress: make(chan struct{}),
		log:      o.Logger,
		queued:   map[string]struct{}{},
		wake:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	maxAge := cmpOr(o.MaxAge, 24*time.Hour)
	e.maxAge = "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	if o.Dialect == Akamai {
		e.maxAge += "s"
	}
	if lp, ok := e.purger.(LimitedPurger); ok {
		e.reqs.l, e.keys.l = lp.Limits()
	}
	if e.purger == nil {
		close(e.stopped)
	} else {
		go e.run()
	}
	return e, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Dialect returns the edge's dialect.
func (e *Edge) Dialect() Dialect { return e.d }

var _ dumper.Edge = (*Edge)(nil)

// Header adds the edge's tag field (see [Dialect.Tags]) and lifetime field to h, the header
// of a response the cache is about to store with tags. A response whose tags cannot be
// written within the dialect's limits gets the edge's no-store instead; [Stats] counts it.
func (e *Edge) Header(h http.Header, tags []string) {
	v, fit := e.d.Tags(tags)
	switch fit {
	case Refused:
		e.Refuse(h)
		return
	case Coarsened:
		e.stats.coarsened.Add(1)
	}
	h[e.l.tagHeader] = []string{v}
	h[e.l.lifetimeHeader] = []string{e.maxAge}
}

// Refuse sets the edge's lifetime field of h to no-store and removes its tag field, so that
// the edge passes the response on without keeping it.
func (e *Edge) Refuse(h http.Header) {
	e.stats.refused.Add(1)
	delete(h, e.l.tagHeader)
	h[e.l.lifetimeHeader] = []string{"no-store"}
}

// MaxRender returns Options.Delay, or zero when there is no second purge.
func (e *Edge) MaxRender() time.Duration { return max(e.delay, 0) }

// Stats returns the edge's counters.
func (e *Edge) Stats() Stats {
	e.mu.Lock()
	q := len(e.pending) + e.nLater + e.inflight
	e.mu.Unlock()
	return Stats{
		Sent:      e.stats.sent.Load(),
		Requests:  e.stats.requests.Load(),
		Second:    e.stats.second.Load(),
		Failures:  e.stats.failures.Load(),
		GivenUp:   e.stats.givenUp.Load(),
		Late:      e.stats.late.Load(),
		Overflows: e.stats.overflows.Load(),
		Queued:    q,
		Coarsened: e.stats.coarsened.Load(),
		Refused:   e.stats.refused.Load(),
	}
}
