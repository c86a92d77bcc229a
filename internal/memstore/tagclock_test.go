package memstore

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// clockStep is one call on a TagClock: Invalidate(tags) when stale is nil, else
// Stale(tags, born).
type clockStep struct {
	invalidate []string
	wantNow    uint64 // the value Invalidate returns

	tags  []string
	born  uint64
	stale *bool
}

func inval(now uint64, tags ...string) clockStep {
	return clockStep{invalidate: tags, wantNow: now}
}

func stale(want bool, born uint64, tags ...string) clockStep {
	return clockStep{tags: tags, born: born, stale: &want}
}

func TestTagClock(t *testing.T) {
	tests := []struct {
		name    string
		maxTags int
		steps   []clockStep
		wantLen int
	}{
		{"fresh", 10, []clockStep{
			stale(false, 0, "a"),
			stale(false, 0),
		}, 0},
		{"one tag", 10, []clockStep{
			inval(1, "a"),
			stale(true, 0, "a"),
			stale(false, 1, "a"),
			stale(false, 2, "a"),
			stale(false, 0, "b"),
			stale(false, 0),
			stale(true, 0, "b", "a"),
		}, 1},
		{"several tags at once share one time", 10, []clockStep{
			inval(1, "a", "b", "c"),
			stale(true, 0, "b"),
			stale(false, 1, "a", "b", "c"),
			inval(2, "b"),
			stale(false, 1, "a", "c"),
			stale(true, 1, "b"),
		}, 3},
		{"duplicate tags", 10, []clockStep{
			inval(1, "a", "a", "a"),
			stale(true, 0, "a"),
		}, 1},
		{"no tag advances the clock", 10, []clockStep{
			inval(1),
			inval(2),
			stale(false, 0, "a"),
			inval(3, "a"),
			stale(true, 2, "a"),
		}, 1},
		{"exact match only", 10, []clockStep{
			inval(1, "/x"),
			stale(false, 0, "/x/y", "/x/", "/X", "/", "x", ""),
			inval(2, ""),
			stale(true, 1, ""),
			stale(false, 1, "/x"),
		}, 2},
		{"forgetting the oldest raises the floor", 2, []clockStep{
			inval(1, "a"),
			inval(2, "b"),
			inval(3, "a"), // a is now the newest; b the oldest
			inval(4, "c"), // forgets b: floor 2
			stale(true, 1, "x"),
			stale(false, 2, "x"),
			stale(true, 1, "b"),
			stale(false, 2, "b"),
			stale(true, 2, "a"),
			stale(true, 3, "c"),
			stale(false, 4, "a", "b", "c"),
		}, 2},
		{"at most max tags in one call", 2, []clockStep{
			inval(1, "a", "b", "c", "d"),
			stale(true, 0),
			stale(false, 1, "a", "b", "c", "d"),
		}, 2},
		{"max below 1 means 1", 0, []clockStep{
			inval(1, "a"),
			inval(2, "b"), // forgets a: floor 1
			stale(true, 0, "x"),
			stale(false, 1, "x"),
			stale(false, 2, "a", "x"),
			stale(true, 1, "b"),
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewTagClock(tt.maxTags)
			for i, s := range tt.steps {
				if s.stale == nil {
					if got := c.Invalidate(s.invalidate); got != s.wantNow {
						t.Fatalf("step %d: Invalidate(%q) = %d, want %d", i, s.invalidate, got, s.wantNow)
					}
					if got := c.Now(); got != s.wantNow {
						t.Fatalf("step %d: Now() = %d after Invalidate, want %d", i, got, s.wantNow)
					}
					continue
				}
				if got := c.Stale(s.tags, s.born); got != *s.stale {
					t.Errorf("step %d: Stale(%q, %d) = %v, want %v", i, s.tags, s.born, got, *s.stale)
				}
			}
			if got := c.Len(); got != tt.wantLen {
				t.Errorf("Len() = %d, want %d", got, tt.wantLen)
			}
		})
	}
}

// TestTagClockForgetsSafely compares a small clock with one large enough to forget nothing:
// whatever the small one forgets, it never calls a value valid that the large one calls
// stale. Forgetting may only make values stale early.
func TestTagClockForgetsSafely(t *testing.T) {
	for _, maxTags := range []int{1, 2, 5, 16} {
		t.Run(fmt.Sprint(maxTags), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(uint64(maxTags), 99))
			small, exact := NewTagClock(maxTags), NewTagClock(1<<20)
			tag := func() string { return fmt.Sprint("t", r.IntN(24)) }
			for i := range 3000 {
				if r.IntN(3) == 0 {
					tags := make([]string, r.IntN(4))
					for j := range tags {
						tags[j] = tag()
					}
					a, b := small.Invalidate(tags), exact.Invalidate(tags)
					if a != b {
						t.Fatalf("op %d: Invalidate returned %d and %d", i, a, b)
					}
					if n := small.Len(); n > maxTags {
						t.Fatalf("op %d: Len() = %d, more than max %d", i, n, maxTags)
					}
					continue
				}
				tags := []string{tag(), tag()}
				born := r.Uint64N(exact.Now() + 2)
				if exact.Stale(tags, born) && !small.Stale(tags, born) {
					t.Fatalf("op %d: Stale(%q, %d) is false on a clock of %d tags, true on an exact one", i, tags, born, maxTags)
				}
				if born >= exact.Now() && small.Stale(tags, born) {
					t.Fatalf("op %d: Stale(%q, %d) is true with nothing invalidated since", i, tags, born)
				}
			}
		})
	}
}

func TestTagClockConcurrent(t *testing.T) {
	c := NewTagClock(8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			c.Invalidate([]string{fmt.Sprint("t", i%20), "all"})
		}
	}()
	last := uint64(0)
	for {
		select {
		case <-done:
			if got := c.Now(); got != 2000 {
				t.Fatalf("Now() = %d after 2000 invalidations", got)
			}
			return
		default:
		}
		n := c.Now()
		if n < last {
			t.Fatalf("Now() went back from %d to %d", last, n)
		}
		last = n
		// "all" is invalidated by every call: a value born before the latest one is stale.
		if n > 0 && !c.Stale([]string{"all"}, n-1) {
			t.Fatalf("Stale([all], %d) = false with Now() = %d", n-1, n)
		}
		_ = c.Len()
	}
}

// TestTagClockFollowsRemoteClock covers InvalidateAt and Forget, with which a local clock
// mirrors a remote store's.
func TestTagClockFollowsRemoteClock(t *testing.T) {
	type check struct {
		tags  []string
		born  uint64
		stale bool
	}
	tests := []struct {
		name    string
		maxTags int
		ops     func(c *TagClock)
		wantNow uint64
		checks  []check
	}{
		{"InvalidateAt jumps ahead", 10, func(c *TagClock) {
			c.InvalidateAt([]string{"a"}, 100)
		}, 100, []check{
			{[]string{"a"}, 99, true},
			{[]string{"a"}, 100, false},
			{[]string{"b"}, 0, false},
		}},
		{"InvalidateAt behind the clock stamps at the clock", 10, func(c *TagClock) {
			c.InvalidateAt([]string{"a"}, 100)
			c.InvalidateAt([]string{"b"}, 50)
		}, 100, []check{
			{[]string{"b"}, 60, true},
			{[]string{"b"}, 100, false},
		}},
		{"a stamp never moves back", 10, func(c *TagClock) {
			c.InvalidateAt([]string{"a"}, 100)
			c.InvalidateAt([]string{"a"}, 10)
		}, 100, []check{
			{[]string{"a"}, 99, true},
		}},
		{"Invalidate after InvalidateAt", 10, func(c *TagClock) {
			c.InvalidateAt([]string{"a"}, 100)
			c.Invalidate([]string{"b"})
		}, 101, []check{
			{[]string{"b"}, 100, true},
			{[]string{"a"}, 100, false},
		}},
		{"Forget", 10, func(c *TagClock) {
			c.Invalidate([]string{"a"})
			c.Forget(10)
		}, 10, []check{
			{nil, 9, true},
			{[]string{"x"}, 9, true},
			{[]string{"x"}, 10, false},
		}},
		{"Forget behind the clock keeps the clock", 10, func(c *TagClock) {
			c.InvalidateAt([]string{"a"}, 20)
			c.Forget(10)
		}, 20, []check{
			{nil, 9, true},
			{nil, 10, false},
			{[]string{"a"}, 19, true},
		}},
		{"Forget is not undone by forgetting an older tag", 2, func(c *TagClock) {
			c.Invalidate([]string{"a"}) // 1
			c.Forget(10)
			c.Invalidate([]string{"b"}) // 11
			c.Invalidate([]string{"c"}) // 12: table full, forgets a, invalidated at 1
		}, 12, []check{
			{nil, 5, true},
			{[]string{"x"}, 9, true},
			{[]string{"x"}, 10, false},
		}},
		{"a lower Forget does not lower the floor", 10, func(c *TagClock) {
			c.Forget(10)
			c.Forget(5)
		}, 10, []check{
			{nil, 7, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewTagClock(tt.maxTags)
			tt.ops(c)
			if got := c.Now(); got != tt.wantNow {
				t.Errorf("Now() = %d, want %d", got, tt.wantNow)
			}
			for _, ch := range tt.checks {
				if got := c.Stale(ch.tags, ch.born); got != ch.stale {
					t.Errorf("Stale(%q, %d) = %v, want %v", ch.tags, ch.born, got, ch.stale)
				}
			}
		})
	}
}
