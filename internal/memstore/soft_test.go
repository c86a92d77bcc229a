package memstore

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestStaleSince(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := NewTagClock(4)
		c.Invalidate([]string{"b"})
		born := c.Now()
		if stale, _, _ := c.StaleSince([]string{"a", "b"}, born); stale {
			t.Fatal("stale before any invalidation since born")
		}
		c.Invalidate([]string{"x"})
		if stale, _, _ := c.StaleSince([]string{"a", "b"}, born); stale {
			t.Fatal("stale after an invalidation of another tag")
		}
		first := time.Now()
		c.Invalidate([]string{"a"})
		time.Sleep(time.Second)
		c.Invalidate([]string{"b"})
		stale, known, since := c.StaleSince([]string{"a", "b"}, born)
		if !stale || !known || since != first.UnixNano() {
			t.Fatalf("StaleSince = %v, %v, %d; want the first invalidation, at %d", stale, known, since, first.UnixNano())
		}
		// a, invalidated twice since born: when the first was is not known.
		c.Invalidate([]string{"a"})
		if stale, known, _ := c.StaleSince([]string{"a"}, born); !stale || known {
			t.Fatalf("after two invalidations: StaleSince = %v, %v; want stale, unknown", stale, known)
		}
		// Born after the first of them: the second is the first since.
		mid := c.Now() - 1
		if stale, known, since := c.StaleSince([]string{"a"}, mid); !stale || !known || since != time.Now().UnixNano() {
			t.Fatalf("born between: StaleSince = %v, %v, %d", stale, known, since)
		}
		// A floor above born (a forgotten tag): unknown.
		c.Invalidate([]string{"c", "d", "e", "f", "g"})
		if stale, known, _ := c.StaleSince([]string{"zz"}, born); !stale || known {
			t.Fatalf("below the floor: StaleSince = %v, %v; want stale, unknown", stale, known)
		}
	})
}

func TestGetSoft(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Options[*value]{
			MaxBytes: 1 << 20,
			MaxTags:  16,
			Weigh:    func(_ string, v *value) int { return v.weight },
			Stamp:    func(v *value) ([]string, uint64) { return v.tags, v.born },
			Window: func(v *value) (time.Duration, int64) {
				if v.name == "soft" {
					return 10 * time.Second, v.made
				}
				return 0, 0
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Set("soft", &value{name: "soft", tags: []string{"t"}, weight: 1, made: time.Now().UnixNano()}, 0)
		s.Set("hard", &value{name: "hard", tags: []string{"t"}, weight: 1}, 0)
		s.Invalidate([]string{"t"})
		time.Sleep(4 * time.Second)
		if _, ok, stale, _ := s.Get("soft"); ok || !stale {
			t.Fatalf("Get of a soft entry within its window: ok %v, stale %v; want a stale miss", ok, stale)
		}
		if v, ok, stale, age, _ := s.GetSoft("soft"); !ok || !stale || age != 4*time.Second || v.name != "soft" {
			t.Fatalf("GetSoft within the window = %v, %v, %v, %v", v, ok, stale, age)
		}
		if _, ok, stale, _, _ := s.GetSoft("hard"); ok || !stale {
			t.Fatalf("GetSoft of an entry without a window: ok %v, stale %v", ok, stale)
		}
		// Invalidated again: the first invalidation is not known any more, and the age
		// counts from when the value was made.
		time.Sleep(time.Second)
		s.Invalidate([]string{"t"})
		if _, ok, stale, age, _ := s.GetSoft("soft"); !ok || !stale || age != 5*time.Second {
			t.Fatalf("GetSoft after two invalidations = %v, %v, %v; want the value, 5s old", ok, stale, age)
		}
		time.Sleep(5*time.Second + 1)
		if _, ok, stale, _, _ := s.GetSoft("soft"); ok || !stale {
			t.Fatalf("GetSoft past the window: ok %v, stale %v; want a stale miss", ok, stale)
		}
		if _, ok, stale, _, _ := s.GetSoft("soft"); ok || stale {
			t.Fatalf("GetSoft after the entry went past its window: ok %v, stale %v; want it gone", ok, stale)
		}
		// A value made at an unknown time is gone as soon as its first invalidation is not
		// known.
		s.Set("unknown", &value{name: "soft", tags: []string{"u"}, born: s.clock.Now(), weight: 1}, 0)
		s.Invalidate([]string{"u"})
		s.Invalidate([]string{"u"})
		if _, ok, _, _, _ := s.GetSoft("unknown"); ok {
			t.Fatal("GetSoft returned a value made at an unknown time, invalidated twice")
		}
	})
}

func TestLeases(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var l Leases
		release, ok := l.Take("k", time.Second)
		if !ok {
			t.Fatal("first Take refused")
		}
		if _, ok := l.Take("k", time.Second); ok {
			t.Fatal("second Take granted while the lease is held")
		}
		if _, ok := l.Take("other", time.Second); !ok {
			t.Fatal("Take of another key refused")
		}
		time.Sleep(time.Second + 1)
		release2, ok := l.Take("k", time.Second)
		if !ok {
			t.Fatal("Take refused after the lease ran out")
		}
		release() // the first holder's lease ran out: its release must not free the second's
		if _, ok := l.Take("k", time.Second); ok {
			t.Fatal("a stale release freed the lease of the next holder")
		}
		release2()
		if _, ok := l.Take("k", time.Second); !ok {
			t.Fatal("Take refused after release")
		}
	})
}
