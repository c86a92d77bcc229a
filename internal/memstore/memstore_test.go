package memstore

import (
	"testing"
	"time"
)

func newStore(t *testing.T, maxBytes int64, maxTags int) *Store[string] {
	t.Helper()
	s, err := New[string](maxBytes, maxTags)
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

func get(s *Store[string], key string) lookup {
	v, ok, stale, now := s.Get(key)
	return lookup{v, ok, stale, now}
}

func TestStoreGetSet(t *testing.T) {
	t.Parallel()
	s := newStore(t, 1<<20, 100)
	if got := get(s, "k"); got != (lookup{}) {
		t.Fatalf("Get on an empty store = %+v, want the zero lookup", got)
	}
	s.Set("k", "v1", []string{"a", "b"}, 0, 0, 100)
	if got, want := get(s, "k"), (lookup{v: "v1", ok: true}); got != want {
		t.Fatalf("Get after Set = %+v, want %+v", got, want)
	}
	s.Set("k", "v2", []string{"a"}, 0, 0, 100)
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
	s.Set("late", "v", []string{"a"}, 1, 0, 100)
	if got, want := get(s, "late"), (lookup{now: 2}); got != want {
		t.Fatalf("Get of a value set born before its tag's invalidation = %+v, want %+v", got, want)
	}
	// One born at the invalidation is.
	s.Set("late", "v", []string{"a"}, 2, 0, 100)
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
	s.Set("k", "old", []string{"a"}, 0, 0, 100)
	old, ok := s.cache.GetIfPresent("k")
	if !ok {
		t.Fatal("value not stored")
	}
	s.Invalidate([]string{"a"})
	s.Set("k", "new", []string{"a"}, 1, 0, 100)
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

func TestStoreTTL(t *testing.T) {
	t.Parallel()
	s := newStore(t, 1<<20, 100)
	const ttl = 20 * time.Millisecond
	s.Set("short", "v", nil, 0, ttl, 10)
	s.Set("forever", "v", nil, 0, 0, 10)
	s.Set("shortened", "v", nil, 0, 0, 10)
	s.Set("shortened", "v", nil, 0, ttl, 10) // replacing takes the new ttl
	s.Set("lengthened", "v", nil, 0, ttl, 10)
	s.Set("lengthened", "v", nil, 0, 0, 10)
	for _, k := range []string{"short", "shortened"} {
		eventually(t, k+" expired", func() bool { return !get(s, k).ok })
	}
	for _, k := range []string{"forever", "lengthened"} {
		if !get(s, k).ok {
			t.Errorf("%q expired; it was last set with no ttl", k)
		}
	}
}

func TestStoreWeight(t *testing.T) {
	t.Parallel()
	const maxBytes = 10_000
	s := newStore(t, maxBytes, 100)
	s.Set("a", "v", nil, 0, 0, 1000)
	s.Set("b", "v", nil, 0, 0, 2000)
	// The figures are updated by the cache's maintenance, a little after the writes.
	eventually(t, "Bytes() = 3000", func() bool { return s.Bytes() == 3000 })
	if got := s.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
	for i := range 100 {
		s.Set(string(rune('c'+i)), "v", nil, 0, 0, 1000)
	}
	eventually(t, "evictions after writing 10 times the budget", func() bool { return s.Evictions() > 0 })
	eventually(t, "Bytes() within the budget", func() bool { return s.Bytes() <= maxBytes })
	// A value heavier than the whole budget is not kept.
	s.Set("huge", "v", nil, 0, 0, 1<<40)
	eventually(t, "the value heavier than the budget dropped", func() bool { return !get(s, "huge").ok })
	if got := s.Bytes(); got > maxBytes {
		t.Errorf("Bytes() = %d, over the budget %d", got, maxBytes)
	}
}

// eventually waits until cond holds, for at most 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
