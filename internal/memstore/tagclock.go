package memstore

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// TagClock is the invalidation clock of a store: a counter advanced by every invalidation and,
// for each tag invalidated, the counter value at which it last was. A value stamped with born
// is stale when one of its tags was invalidated after born.
//
// The table keeps at most max tags, each as a 64-bit hash, so its memory does not depend on
// how long tags are: about 96 bytes a tag. Two tags with the same hash share a stamp, which
// can only make values stale early. When the table is full the tag invalidated longest ago
// is forgotten and its time becomes the floor: a tag the table does not hold counts as
// invalidated at the floor. Forgetting too can only make values stale early, never late.
type TagClock struct {
	clock atomic.Uint64 // written only under mu
	seed  maphash.Seed

	mu         sync.RWMutex
	at         map[uint64]*tagNode
	head, tail *tagNode // ordered by time of invalidation, oldest first
	floor      uint64
	max        int
}

type tagNode struct {
	hash       uint64
	at         uint64
	before     uint64 // the stamp before at (0: none)
	wall       int64  // the wall time at was given, in Unix nanoseconds
	prev, next *tagNode
}

// NewTagClock returns a clock that remembers at most maxTags tags (at least 1).
func NewTagClock(maxTags int) *TagClock {
	return &TagClock{at: make(map[uint64]*tagNode), max: max(maxTags, 1), seed: maphash.MakeSeed()}
}

// Now returns the current clock value.
func (t *TagClock) Now() uint64 { return t.clock.Load() }

// Stale reports whether one of tags was invalidated after born.
func (t *TagClock) Stale(tags []string, born uint64) bool {
	if born >= t.clock.Load() {
		return false // nothing was invalidated since born
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.floor > born {
		return true
	}
	for _, tag := range tags {
		if n := t.at[maphash.String(t.seed, tag)]; n != nil && n.at > born {
			return true
		}
	}
	return false
}

// StaleSince reports whether one of tags was invalidated after born and, if so, whether the
// wall time of the first such invalidation is known, and that time (Unix nanoseconds). It
// is known when each tag invalidated after born was invalidated once since born: a tag
// invalidated twice since, or a floor above born, leaves it unknown.
func (t *TagClock) StaleSince(tags []string, born uint64) (stale, known bool, since int64) {
	if born >= t.clock.Load() {
		return false, false, 0
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.floor > born {
		return true, false, 0
	}
	for _, tag := range tags {
		n := t.at[maphash.String(t.seed, tag)]
		switch {
		case n == nil || n.at <= born:
		case n.before > born:
			return true, false, 0
		case !stale || n.wall < since:
			stale, since = true, n.wall
		}
	}
	return stale, stale, since
}

// Invalidate advances the clock and marks every tag as invalidated at the new value, and
// returns that value.
func (t *TagClock) Invalidate(tags []string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stamp(tags, t.clock.Load()+1)
}

// InvalidateAt marks every tag as invalidated at least at time at, a value of a clock kept
// elsewhere (a remote store's), and moves the clock to at if it is behind. Stamps never move
// back.
func (t *TagClock) InvalidateAt(tags []string, at uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stamp(tags, max(at, t.clock.Load()))
}

// InvalidateAll advances the clock and makes every value born before its new value stale,
// as if every tag had been invalidated, in one step; it returns the new value. A value born
// at the new value or later is judged by the invalidations that follow, as usual.
func (t *TagClock) InvalidateAll() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Load() + 1
	t.floor = max(t.floor, now)
	t.clock.Store(now)
	return now
}

// Forget makes every value born before at stale, as if every tag had been invalidated at at.
func (t *TagClock) Forget(at uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.floor = max(t.floor, at)
	if at > t.clock.Load() {
		t.clock.Store(at)
	}
}

// Reset forgets every stamp and the floor and moves the clock back to 0, as a new TagClock.
// It is for a store that has dropped every value it held and takes only values read after
// the reset: the stamps were there to judge the values it held.
func (t *TagClock) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.at)
	t.head, t.tail, t.floor = nil, nil, 0
	t.clock.Store(0)
}

func (t *TagClock) stamp(tags []string, now uint64) uint64 {
	for _, tag := range tags {
		h := maphash.String(t.seed, tag)
		n := t.at[h]
		if n == nil {
			n = &tagNode{hash: h}
			t.at[h] = n
		} else {
			t.unlink(n)
		}
		if n.at != now {
			n.before, n.at = n.at, now
		}
		n.wall = time.Now().UnixNano()
		t.pushBack(n)
	}
	for len(t.at) > t.max {
		n := t.head
		t.unlink(n)
		delete(t.at, n.hash)
		t.floor = max(t.floor, n.at)
	}
	t.clock.Store(now)
	return now
}

// Len returns the number of tags remembered.
func (t *TagClock) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.at)
}

func (t *TagClock) unlink(n *tagNode) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		t.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		t.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

func (t *TagClock) pushBack(n *tagNode) {
	n.prev = t.tail
	if t.tail != nil {
		t.tail.next = n
	} else {
		t.head = n
	}
	t.tail = n
}
