// Package staleness checks that a cache never serves a version of a page older than the
// newest write that had completed when the request started. Tests record a [History] of
// writes and reads, each with the monotonic times it started and ended, and [Check] judges it
// per entity, linearizability-style, with an allowed lateness for writes whose invalidation
// arrives asynchronously (raw SQL seen through NOTIFY, another instance's local tier).
//
// The check is direct, no external checker: for each read of version v of entity e, every
// write of e with a version above v that ended before the read started is one the read
// should have seen. It is a violation unless the write's [Write.Bound] allows that much
// lateness. A read of a version that was never written, or whose write had not yet started
// when the read ended, is a violation too.
//
// Versions must increase in the order the writes take effect: a test that writes one entity
// from several goroutines must serialize those writes (a lock per entity) so that the last
// write to end is also the highest version.
package staleness

import (
	"sync"
	"time"
)

// A Write is a completed write of Version to Entity.
type Write struct {
	Entity  string
	Version int64
	// Start and End are the times, from the History's clock, when the write was sent and
	// when it returned. The initial state of an entity is a write with Start = End = 0.
	Start, End time.Duration
	// Bound is how long after End a read may still return an older version: zero for a
	// write whose invalidation is complete when it returns.
	Bound time.Duration
	// Via names the instance the write went through. A read through the same instance gets
	// no allowance (an instance's own invalidations are synchronous); empty means Bound
	// applies to every read.
	Via string
	// Client names the client that made the write. A read by the same client gets no
	// allowance (read your writes: with soft invalidation, the cache serves others a stale
	// page within Bound, never the writer); empty means none.
	Client string
	// Note says how the write was made ("api", "sql"…), for reports.
	Note string
}

// A Read is a version of Entity observed by a request; a page that shows several entities
// gives one Read for each.
type Read struct {
	Entity  string
	Version int64
	// Start and End are when the request was sent and when its body had been read in full.
	Start, End time.Duration
	Via        string // the instance that answered
	Client     string // the client that made the request (see [Write.Client]); empty: anonymous
	What       string // the request, for reports ("GET /sizes/small fr")
}

// A History records operations from many goroutines against one monotonic clock.
// The zero value is not usable; call [NewHistory].
type History struct {
	epoch time.Time

	mu     sync.Mutex
	writes []Write
	reads  []Read
}

// NewHistory returns an empty history whose clock starts now.
func NewHistory() *History { return &History{epoch: time.Now()} }

// Now returns the time since the history began, on the monotonic clock.
func (h *History) Now() time.Duration { return time.Since(h.epoch) }

// AddWrite records w.
func (h *History) AddWrite(w Write) {
	h.mu.Lock()
	h.writes = append(h.writes, w)
	h.mu.Unlock()
}

// AddRead records r.
func (h *History) AddRead(r Read) {
	h.mu.Lock()
	h.reads = append(h.reads, r)
	h.mu.Unlock()
}

// Ops returns copies of the recorded writes and reads.
func (h *History) Ops() ([]Write, []Read) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Write(nil), h.writes...), append([]Read(nil), h.reads...)
}
