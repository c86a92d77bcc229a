package memstore

import (
	"testing"
)

// TestTagClockInvalidateAll: every value born before the call is stale, whatever its tags
// (none included); values born at the new time are not; later invalidations work as before.
func TestTagClockInvalidateAll(t *testing.T) {
	c := NewTagClock(10)
	c.Invalidate([]string{"a"}) // 1
	if got := c.InvalidateAll(); got != 2 {
		t.Fatalf("InvalidateAll() = %d, want 2", got)
	}
	if got := c.Now(); got != 2 {
		t.Errorf("Now() = %d, want 2", got)
	}
	tests := []struct {
		tags  []string
		born  uint64
		stale bool
	}{
		{nil, 0, true},
		{nil, 1, true},
		{[]string{"b"}, 1, true},
		{[]string{"a"}, 1, true},
		{nil, 2, false},
		{[]string{"a", "b"}, 2, false},
	}
	for _, tt := range tests {
		if got := c.Stale(tt.tags, tt.born); got != tt.stale {
			t.Errorf("Stale(%q, %d) = %v, want %v", tt.tags, tt.born, got, tt.stale)
		}
	}
	if got := c.Invalidate([]string{"b"}); got != 3 {
		t.Fatalf("Invalidate(b) = %d, want 3", got)
	}
	if !c.Stale([]string{"b"}, 2) || c.Stale([]string{"a"}, 2) {
		t.Errorf("after Invalidate(b): Stale(b, 2) = %v, Stale(a, 2) = %v; want true, false", c.Stale([]string{"b"}, 2), c.Stale([]string{"a"}, 2))
	}
}

// TestStoreInvalidateAll: the store drops what it holds, and a value rendered before the call
// and stored after it is refused.
func TestStoreInvalidateAll(t *testing.T) {
	type val struct {
		tags string
		born uint64
	}
	s, err := New(Options[*val]{
		MaxBytes: 1 << 20, MaxTags: 16,
		Weigh: func(string, *val) int { return 100 },
		Stamp: func(v *val) ([]string, uint64) { return []string{v.tags}, v.born },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Set("k1", &val{"t1", 0}, 0)
	s.Set("k2", &val{"t2", 0}, 0)
	s.InvalidateAll()
	s.Settle()
	if n := s.Len(); n != 0 {
		t.Errorf("Len() after InvalidateAll = %d, want 0", n)
	}
	s.Set("late", &val{"t3", 0}, 0)
	if _, ok, _, _ := s.Get("late"); ok {
		t.Error("a value born before InvalidateAll was stored after it")
	}
	_, _, _, now := s.Get("k1")
	s.Set("k1", &val{"t1", now}, 0)
	if _, ok, _, _ := s.Get("k1"); !ok {
		t.Errorf("a value born at %d, after InvalidateAll, was not stored", now)
	}
}
