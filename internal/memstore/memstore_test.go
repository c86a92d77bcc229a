package memstore

import (
	"math"
	"testing"
	"testing/synctest"
	"time"
)

// value is what the tests store: a name, with its tags, birth time and weight.
type value struct {
	name   string
	tags   []string
	born   uint64
	weight int
	made   int64 // Unix ns, for Options.Window
}

func newStore(t *testing.T, maxBytes int64, maxTags int) *Store[*value] {
	t.Helper()
	s, err := New(Options[*value]{
		MaxBytes: maxBytes,
		MaxTags:  maxTags,
		Weigh:    func(_ string, v *value) int { return v.weight },
		Stamp:    func(v *value) ([]string, uint64) { return v.tags, v.born },
	})
	if err != nil {
		t.Fatalf("New(%d, %d): %v", maxBytes, maxTags, err)
	}
	t.Cleanup(s.Close)
	return s
}

// lookup is what Store.Get returns.
type lookup struct {
	v         string
	ok, stale bool
	now       uint64
}

func get(s *Store[*value], key string) lookup {
	v, ok, stale, now := s.Get(key)
	l := lookup{ok: ok, stale: stale, now: now}
	if v != nil {
		l.v = v.name
	}
	return l
}

// set stores the value name under key.
func set(s *Store[*value], key, name string, tags []string, born uint64, ttl time.Duration, weight int) {
	s.Set(key, &value{name: name, tags: tags, born: born, weight: weight}, ttl)
}

func TestStoreGetSet(t *testing.T) {
	t.Parallel()
	s := newStore(t, 1<<20, 100)
	if got := get(s, "k"); got != (lookup{}) {
		t.Fatalf("Get on an empty store = %+v, want the zero lookup", got)
	}
	set(s, "k", "v1", []string{"a", "b"}, 0, 0, 100)
	if got, want := get(s, "k"), (lookup{v: "v1", ok: true}); got != want {
		t.Fatalf("Get after Set = %+v, want %+v", got, want)
	}
	set(s, "k", "v2", []string{"a"}, 0, 0, 100)
	if got, want := get(s, "k"), (lookup{v: "v2", ok: true}); got != want {
		t.Fatalf("Get after overwrite = %+v, want %+v", got, want)
	}

	s.Invalidate([]string{"b"}) // v1's tag, not v2's
	if got, want := get(s, "k"), (lookup{v: "v2", ok: true, now: 1}); got != want {
		t.Fatalf("Get after invalidating another tag = %+v, want %+v", got, want)
	}
	s.Invalidate([]string{"a"})
	if got, want := get(s, "k"), (lookup{stale: true, now: 2}); got != want {
		t.Fatalf("Get after invalidating its tag = %+v, want %+v", got, want)
	}
	// The stale value was removed: the next lookup is a plain miss.
	if got, want := get(s, "k"), (lookup{now: 2}); got != want {
		t.Fatalf("second Get after invalidating = %+v, want %+v", got, want)
	}

	// A value born before an invalidation of its tag is not stored.
	set(s, "late", "v", []string{"a"}, 1, 0, 100)
	if got, want := get(s, "late"), (lookup{now: 2}); got != want {
		t.Fatalf("Get of a value set born before its tag's invalidation = %+v, want %+v", got, want)
	}
	// One born at the invalidation is.
	set(s, "late", "v", []string{"a"}, 2, 0, 100)
	if got, want := get(s, "late"), (lookup{v: "v", ok: true, now: 2}); got != want {
		t.Fatalf("Get of a value born after the invalidation = %+v, want %+v", got, want)
	}
	if got := s.Tags(); got != 2 {
		t.Errorf("Tags() = %d, want 2", got)
	}
}

// TestStoreRemoveKeepsNewerValue checks that dropping a stale value, found by a Get, does not
// drop a value that another goroutine stored under the key in the meantime.
func TestStoreRemoveKeepsNewerValue(t *testing.T) {
	t.Parallel()
	s := newStore(t, 1<<20, 100)
	set(s, "k", "old", []string{"a"}, 0, 0, 100)
	old, ok := s.cache.GetIfPresent("k")
	if !ok {
		t.Fatal("value not stored")
	}
	s.Invalidate([]string{"a"})
	set(s, "k", "new", []string{"a"}, 1, 0, 100)
	s.remove("k", old) // what a Get that found old stale does, after the new Set
	if got, want := get(s, "k"), (lookup{v: "new", ok: true, now: 1}); got != want {
		t.Fatalf("Get after removing the old value = %+v, want %+v", got, want)
	}
	cur, _ := s.cache.GetIfPresent("k")
	s.remove("k", cur)
	if got, want := get(s, "k"), (lookup{now: 1}); got != want {
		t.Fatalf("Get after removing the current value = %+v, want %+v", got, want)
	}
	s.remove("absent", cur) // no-op
}

// TestStoreTTL runs in a synctest bubble, whose clock moves only when the test sleeps: a
// value set with a ttl is there until the ttl has passed, to the nanosecond, and gone after.
func TestStoreTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, 1<<20, 100)
		const ttl = 20 * time.Millisecond
		set(s, "short", "v", nil, 0, ttl, 10)
		set(s, "forever", "v", nil, 0, 0, 10)
		set(s, "shortened", "v", nil, 0, 0, 10)
		set(s, "shortened", "v", nil, 0, ttl, 10) // replacing takes the new ttl
		set(s, "lengthened", "v", nil, 0, ttl, 10)
		set(s, "lengthened", "v", nil, 0, 0, 10)
		set(s, "later", "v", nil, 0, 0, 10)

		time.Sleep(ttl / 2)
		set(s, "later", "v", nil, 0, ttl, 10) // its ttl runs from this Set
		time.Sleep(ttl/2 - time.Nanosecond)
		for _, k := range []string{"short", "shortened", "lengthened", "forever", "later"} {
			if got, want := get(s, k), (lookup{v: "v", ok: true}); got != want {
				t.Errorf("Get(%q) 1ns before the ttl ran out = %+v, want %+v", k, got, want)
			}
		}

		time.Sleep(2 * time.Nanosecond)
		for _, k := range []string{"short", "shortened"} {
			if got, want := get(s, k), (lookup{stale: true}); got != want {
				t.Errorf("Get(%q) 1ns after the ttl ran out = %+v, want %+v", k, got, want)
			}
			// The expired value was removed: the next lookup is a plain miss.
			if got := get(s, k); got != (lookup{}) {
				t.Errorf("second Get(%q) after the ttl = %+v, want the zero lookup", k, got)
			}
		}
		for _, k := range []string{"forever", "lengthened", "later"} {
			if !get(s, k).ok {
				t.Errorf("%q expired; it was last set with no ttl, or with one that has not run out", k)
			}
		}
		if got := s.Evictions(); got != 2 {
			t.Errorf("Evictions() = %d after 2 values expired, want 2", got)
		}

		time.Sleep(ttl / 2)
		if got := get(s, "later"); got.ok || !got.stale {
			t.Errorf("Get(%q) after its own ttl = %+v, want a stale lookup", "later", got)
		}
		time.Sleep(1000 * time.Hour)
		for _, k := range []string{"forever", "lengthened"} {
			if !get(s, k).ok {
				t.Errorf("%q expired after 1000 h; it was last set with no ttl", k)
			}
		}
	})
}

// TestStoreWeight runs in a synctest bubble: synctest.Wait returns once the cache's
// maintenance and its deletion callbacks, which run on goroutines of their own, are done, so
// the figures are checked when they are final rather than polled for.
func TestStoreWeight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const maxBytes = 10_000
		s := newStore(t, maxBytes, 100)
		settle := func() {
			s.Settle()
			synctest.Wait()
		}
		set(s, "a", "v", nil, 0, 0, 1000)
		set(s, "b", "v", nil, 0, 0, 2000)
		settle()
		if got := s.Bytes(); got != 3000 {
			t.Errorf("Bytes() = %d, want 3000", got)
		}
		if got := s.Len(); got != 2 {
			t.Errorf("Len() = %d, want 2", got)
		}
		const more = 100
		for i := range more {
			set(s, string(rune('c'+i)), "v", nil, 0, 0, 1000)
		}
		settle()
		if s.Evictions() == 0 {
			t.Error("no eviction after writing 10 times the budget")
		}
		if got := s.Bytes(); got > maxBytes {
			t.Errorf("Bytes() = %d, over the budget %d", got, maxBytes)
		}
		// Every value written is either held or was evicted.
		if held, evicted := s.Len(), s.Evictions(); uint64(held)+evicted != 2+more {
			t.Errorf("Len() %d + Evictions() %d = %d, want the %d values written", held, evicted, uint64(held)+evicted, 2+more)
		}
		// A value heavier than the whole budget is not kept.
		before := s.Evictions()
		set(s, "huge", "v", nil, 0, 0, 1<<40)
		settle()
		if get(s, "huge").ok {
			t.Error("a value heavier than the budget was kept")
		}
		if got := s.Evictions(); got != before+1 {
			t.Errorf("Evictions() = %d after the value heavier than the budget, want %d", got, before+1)
		}
		if got := s.Bytes(); got > maxBytes {
			t.Errorf("Bytes() = %d, over the budget %d", got, maxBytes)
		}
	})
}

// TestStoreReset: a clock value far ahead (a floor, or a tag's stamp) keeps every value born
// before it out of the store until Reset, after which the store takes values again.
func TestStoreReset(t *testing.T) {
	t.Parallel()
	const huge = math.MaxUint64
	tests := []struct {
		name   string
		poison func(s *Store[*value])
	}{
		{"floor", func(s *Store[*value]) { s.Forget(huge) }},
		{"stamp", func(s *Store[*value]) { s.InvalidateAt([]string{"/k"}, huge) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, 1<<20, 16)
			set(s, "k", "v", []string{"/k"}, 5, 0, 1)
			tt.poison(s)
			set(s, "k", "v", []string{"/k"}, 10, 0, 1)
			if got := get(s, "k"); got.ok {
				t.Fatalf("before Reset: Get = %+v, want the value kept out", got)
			}
			s.Reset()
			if got := get(s, "k"); got.ok || got.now != 0 {
				t.Fatalf("after Reset: Get = %+v, want an empty store at clock 0", got)
			}
			set(s, "k", "v", []string{"/k"}, 10, 0, 1)
			if got := get(s, "k"); !got.ok || got.v != "v" {
				t.Errorf("after Reset and Set: Get = %+v, want the value", got)
			}
			if n := s.Tags(); n != 0 {
				t.Errorf("after Reset: %d tags remembered, want 0", n)
			}
			s.InvalidateAt([]string{"/k"}, 11)
			if got := get(s, "k"); got.ok {
				t.Errorf("after an invalidation following Reset: Get = %+v, want it stale", got)
			}
		})
	}
}
