// Package memstore is the machinery of dumper's memory store: a byte-bounded W-TinyLFU cache
// (otter) of values stamped with tags and a birth time, checked against a [TagClock] on read.
package memstore

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// EntryOverhead is what the store itself spends on each value, in bytes: otter's node (64
// bytes with the key's and the item's headers), its share of the hash table (17 to 34 bytes
// by the table's fill) and of the frequency sketch (8 to 16). A Weigh function adds it.
const EntryOverhead = 104

// TagBytes is what the tag clock spends on each tag it remembers: its node (48 bytes) and
// its share of the map (18 to 37 bytes by the map's fill), rounded up.
const TagBytes = 96

// Store holds values of type V. It is safe for concurrent use.
type Store[V comparable] struct {
	cache     *otter.Cache[string, item[V]]
	clock     *TagClock
	stamp     func(V) ([]string, uint64)
	window    func(V) (time.Duration, int64) // nil: no value has a soft window
	evictions atomic.Uint64
}

// item is what otter keeps inline in its node for a value: no allocation of its own.
type item[V comparable] struct {
	v       V
	expires int64 // unix ns; 0: never
}

// Options configure a [Store].
type Options[V comparable] struct {
	// MaxBytes bounds the weight of the values and the memory of the tag clock together: the
	// values get what the clock may take at most (MaxTags × TagBytes) leaves, and at least
	// half.
	MaxBytes int64
	// MaxTags bounds the invalidated tags the clock remembers.
	MaxTags int
	// Weigh returns the weight of the value v stored under key: the bytes it holds, its key's
	// and the store's own (EntryOverhead) included. It is called once per Set.
	Weigh func(key string, v V) int
	// Stamp returns the tags and the birth time of v, which Get checks against the clock.
	Stamp func(v V) (tags []string, born uint64)
	// Window, if not nil, returns the soft window of v: how long past the invalidation that
	// condemned it v is kept for GetSoft (0: not at all); and the wall time v was made, in
	// Unix nanoseconds (0: unknown), before it was stored. Nil means none has a window.
	Window func(v V) (window time.Duration, made int64)
}

// New returns a store configured by o.
func New[V comparable](o Options[V]) (*Store[V], error) {
	s := &Store[V]{clock: NewTagClock(o.MaxTags), stamp: o.Stamp, window: o.Window}
	maxWeight := max(o.MaxBytes-int64(max(o.MaxTags, 1))*TagBytes, o.MaxBytes/2, 1)
	weigh := o.Weigh
	c, err := otter.New(&otter.Options[string, item[V]]{
		MaximumWeight: uint64(maxWeight),
		Weigher: func(k string, it item[V]) uint32 {
			return uint32(min(max(weigh(k, it.v), 0), math.MaxUint32))
		},
		OnDeletion: func(e otter.DeletionEvent[string, item[V]]) {
			if e.Cause.IsEviction() {
				s.evictions.Add(1)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	s.cache = c
	return s, nil
}

// Get returns the value under key if it is there and still valid; stale reports a value that
// was there but is no longer valid (it is removed, unless GetSoft may still return it). now
// is the clock read before the lookup.
func (s *Store[V]) Get(key string) (v V, ok, stale bool, now uint64) {
	v, ok, stale, _, now = s.GetSoft(key)
	if stale {
		var zero V
		return zero, false, true, now
	}
	return v, ok, false, now
}

// GetSoft is Get, except that a value condemned by an invalidation given at most its soft
// window (Options.Window) ago is returned, with stale set and age the time since that
// invalidation. When the first invalidation since the value was born is not known (see
// [TagClock.StaleSince]), age is the time since the value was made, which that invalidation
// cannot precede: Set refuses a value already condemned. A value past its window, or whose
// age cannot be told, is removed.
func (s *Store[V]) GetSoft(key string) (v V, ok, stale bool, age time.Duration, now uint64) {
	now = s.clock.Now()
	it, found := s.cache.GetIfPresent(key)
	if !found {
		return v, false, false, 0, now
	}
	// Expiry is checked here rather than by otter, so that entries without a lifetime (the
	// usual case) cost no clock read. An expired entry holds its space until it is read or
	// evicted.
	tags, born := s.stamp(it.v)
	var window time.Duration
	var made int64
	if s.window != nil {
		window, made = s.window(it.v)
	}
	switch {
	case window == 0:
		if s.clock.Stale(tags, born) {
			s.remove(key, it)
			return v, false, true, 0, now
		}
	default:
		condemned, known, since := s.clock.StaleSince(tags, born)
		if condemned {
			wall := time.Now().UnixNano()
			if !known {
				since = made
			}
			age = time.Duration(wall - since)
			if since <= 0 || age < 0 || age > window {
				s.remove(key, it)
				return v, false, true, 0, now
			}
			stale = true
		}
	}
	if it.expires != 0 && time.Now().UnixNano() > it.expires {
		if s.remove(key, it) {
			s.evictions.Add(1)
		}
		return v, false, true, 0, now
	}
	return it.v, true, stale, age, now
}

// Set stores v under key for at most ttl (0: no limit), unless one of its tags was already
// invalidated after it was born.
func (s *Store[V]) Set(key string, v V, ttl time.Duration) {
	if tags, born := s.stamp(v); s.clock.Stale(tags, born) {
		return
	}
	it := item[V]{v: v}
	if ttl > 0 {
		it.expires = time.Now().Add(ttl).UnixNano()
	}
	s.cache.Set(key, it)
}

// Invalidate marks every tag as invalidated now.
func (s *Store[V]) Invalidate(tags []string) { s.clock.Invalidate(tags) }

// InvalidateAt marks every tag as invalidated at time at of a clock kept elsewhere; see
// [TagClock.InvalidateAt].
func (s *Store[V]) InvalidateAt(tags []string, at uint64) { s.clock.InvalidateAt(tags, at) }

// InvalidateAll makes every value held stale at once ([TagClock.InvalidateAll]) and drops
// them, so that their memory is free at once. A value stored while it runs may be dropped
// too, which can only cost a miss.
func (s *Store[V]) InvalidateAll() {
	s.clock.InvalidateAll()
	s.cache.InvalidateAll()
}

// Forget makes every value born before at stale.
func (s *Store[V]) Forget(at uint64) { s.clock.Forget(at) }

// Remove drops the value under key.
func (s *Store[V]) Remove(key string) { s.cache.Invalidate(key) }

// Clear drops every value.
func (s *Store[V]) Clear() { s.cache.InvalidateAll() }

// Reset drops every value and resets the clock ([TagClock.Reset]): the store is as new, and
// a clock value it was given that was implausibly far ahead no longer keeps values out. Use
// it only when every value stored afterwards is judged by invalidations given afterwards.
func (s *Store[V]) Reset() {
	s.cache.InvalidateAll()
	s.clock.Reset()
}

// remove drops key if it still holds it, and not a value stored since.
// It reports whether it dropped it.
func (s *Store[V]) remove(key string, it item[V]) bool {
	removed := false
	s.cache.ComputeIfPresent(key, func(old item[V]) (item[V], otter.ComputeOp) {
		if old == it {
			removed = true
			return item[V]{}, otter.InvalidateOp
		}
		return old, otter.CancelOp
	})
	return removed
}

// Settle applies pending bookkeeping (weights, evictions) so that Len and Bytes are current.
func (s *Store[V]) Settle() { s.cache.CleanUp() }

// Len returns the number of values held.
func (s *Store[V]) Len() int { return s.cache.EstimatedSize() }

// Bytes returns the weight of the values held.
func (s *Store[V]) Bytes() int64 { return int64(s.cache.WeightedSize()) }

// Evictions returns how many values were dropped for space or because they expired.
func (s *Store[V]) Evictions() uint64 { return s.evictions.Load() }

// Tags returns the number of invalidated tags remembered.
func (s *Store[V]) Tags() int { return s.clock.Len() }

// Close stops the store's background work.
func (s *Store[V]) Close() { s.cache.StopAllGoroutines() }
