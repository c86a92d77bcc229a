package storetest

import (
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
)

// RunSoft runs the conformance suite of soft invalidation (see [dumper.Store]) against the
// stores newStore returns, as subtests of t, and the lease tests if they are
// [dumper.Leaser]s. Run it in addition to [Run] for a store that supports soft
// invalidation. It waits for real time to pass (a window of one second to run out), as a
// remote store's clock cannot be faked.
func RunSoft(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	t.Helper()
	tests := []struct {
		name string
		f    func(t *testing.T, newStore func(t *testing.T) dumper.Store)
	}{
		{"WithinWindow", testSoftWithinWindow},
		{"NoWindowIsHard", testSoftNoWindowIsHard},
		{"InvalidatedTwice", testSoftInvalidatedTwice},
		{"AgeFromFirstInvalidation", testSoftAgeFromFirst},
		{"Replaced", testSoftReplaced},
		{"RefusedAfterInvalidation", testSoftRefused},
		{"PastWindow", testSoftPastWindow},
		{"Lease", testLease},
	}
	t.Run("Soft", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tt.f(t, newStore)
			})
		}
	})
}

// softSample is sample with soft windows, in seconds.
func softSample(key string, born uint64, whileRevalidate, ifError uint16, tags ...string) *dumper.Entry {
	e := sample(key, born, tags...)
	e.StaleWhileRevalidate, e.StaleIfError = whileRevalidate, ifError
	return e
}

// getSoft looks key up and checks what a lookup may hold.
func getSoft(t *testing.T, s dumper.Store, key string) dumper.Lookup {
	t.Helper()
	l, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if l.Entry != nil && l.Stale && l.StaleFor < 0 {
		t.Errorf("Get(%q): StaleFor %v", key, l.StaleFor)
	}
	return l
}

func mustStale(t *testing.T, s dumper.Store, key string, want *dumper.Entry) dumper.Lookup {
	t.Helper()
	l := getSoft(t, s, key)
	if l.Entry == nil || !l.Stale {
		t.Fatalf("Get(%q) = {Entry: %v, Stale: %v}, want the stale entry", key, l.Entry != nil, l.Stale)
	}
	if diff := diffEntry(l.Entry, want); diff != "" {
		t.Errorf("Get(%q): %s", key, diff)
	}
	if w := time.Duration(max(want.StaleWhileRevalidate, want.StaleIfError)) * time.Second; l.StaleFor > w {
		t.Errorf("Get(%q): StaleFor %v, past the window %v", key, l.StaleFor, w)
	}
	return l
}

func mustGone(t *testing.T, s dumper.Store, key string) {
	t.Helper()
	if l := getSoft(t, s, key); l.Entry != nil {
		t.Fatalf("Get(%q) returned the entry born at %d (Stale %v, StaleFor %v), want none", key, l.Entry.Born, l.Stale, l.StaleFor)
	}
}

func testSoftWithinWindow(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	for _, w := range [][2]uint16{{60, 0}, {0, 60}, {5, 60}} {
		e := softSample("a", now(t, s), w[0], w[1], "ta")
		set(t, s, "a", e, 0)
		mustHit(t, s, "a", e)
		invalidate(t, s, "ta")
		mustStale(t, s, "a", e)
		mustStale(t, s, "a", e) // it stays until its window runs out or it is replaced
	}
}

func testSoftNoWindowIsHard(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	e := sample("a", now(t, s), "ta")
	set(t, s, "a", e, 0)
	invalidate(t, s, "ta")
	mustGone(t, s, "a")
}

func testSoftInvalidatedTwice(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	for _, stored := range []int64{time.Now().UnixNano(), 0} { // 0: made at an unknown time
		e := softSample("a", now(t, s), 60, 60, "ta", "tb")
		e.Stored = stored
		set(t, s, "a", e, 0)
		invalidate(t, s, "tb")
		afterFirst := time.Now()
		mustStale(t, s, "a", e)
		// Once a tag is invalidated twice since the entry was born, its first invalidation
		// cannot be told: the store may drop the entry, or keep it with an age that cannot
		// be less than the first invalidation's.
		invalidate(t, s, "tb")
		elapsed := time.Since(afterFirst)
		if l := getSoft(t, s, "a"); l.Entry != nil && l.StaleFor < elapsed-time.Millisecond {
			t.Errorf("after two invalidations: StaleFor %v, less than the %v since the first", l.StaleFor, elapsed)
		}
	}
}

func testSoftAgeFromFirst(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	e := softSample("a", now(t, s), 60, 0, "ta", "tb")
	set(t, s, "a", e, 0)
	invalidate(t, s, "ta")
	afterFirst := time.Now()
	// Some time passes between the two invalidations, however little.
	wait.For(t, 5*time.Second, "the clock to move", func() bool { return time.Since(afterFirst) > 2*time.Millisecond })
	invalidate(t, s, "tb")
	elapsed := time.Since(afterFirst)
	l := mustStale(t, s, "a", e)
	if l.StaleFor < elapsed-time.Millisecond {
		// The first invalidation was stamped before afterFirst: when the lookup starts, the
		// entry has been stale at least elapsed (less a millisecond, the resolution a
		// remote clock may have).
		t.Errorf("StaleFor %v, less than the %v since the first invalidation", l.StaleFor, elapsed)
	}
}

func testSoftReplaced(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	e := softSample("a", now(t, s), 60, 60, "ta")
	set(t, s, "a", e, 0)
	invalidate(t, s, "ta")
	mustStale(t, s, "a", e)
	f := softSample("a", now(t, s), 60, 60, "ta")
	f.Body = []byte("fresh")
	set(t, s, "a", f, 0)
	mustHit(t, s, "a", f)
	invalidate(t, s, "ta")
	mustStale(t, s, "a", f)
}

// testSoftRefused checks that an entry rendered before an invalidation does not replace the
// stale one.
func testSoftRefused(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	e := softSample("a", now(t, s), 60, 60, "ta")
	set(t, s, "a", e, 0)
	invalidate(t, s, "ta")
	mustStale(t, s, "a", e)
	born := now(t, s)
	invalidate(t, s, "ta")
	f := softSample("a", born, 60, 60, "ta")
	f.Body = []byte("rendered before the invalidation")
	set(t, s, "a", f, 0)
	if l := getSoft(t, s, "a"); l.Entry != nil {
		if diff := diffEntry(l.Entry, e); diff != "" || !l.Stale {
			t.Errorf("Get = {Stale: %v} %s; want the first entry, stale, or none", l.Stale, diff)
		}
	}
}

func testSoftPastWindow(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	e := softSample("a", now(t, s), 0, 1, "ta")
	set(t, s, "a", e, 0)
	invalidate(t, s, "ta")
	wait.For(t, 10*time.Second, "the entry to go past its window", func() bool {
		l := getSoft(t, s, "a")
		if l.Entry != nil && l.StaleFor > time.Second {
			t.Fatalf("Get returned the entry %v past the invalidation, its window is 1s", l.StaleFor)
		}
		return l.Entry == nil
	})
	mustGone(t, s, "a")
}

func testLease(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	ls, ok := s.(dumper.Leaser)
	if !ok {
		t.Skipf("%T is not a dumper.Leaser", s)
	}
	ctx := t.Context()
	release, ok, err := ls.Lease(ctx, "k", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lease = %v, %v; want it taken", ok, err)
	}
	if _, ok, err := ls.Lease(ctx, "k", time.Minute); err != nil || ok {
		t.Fatalf("second Lease = %v, %v; want it refused", ok, err)
	}
	if rel, ok, err := ls.Lease(ctx, "other", time.Minute); err != nil || !ok {
		t.Fatalf("Lease of another key = %v, %v; want it taken", ok, err)
	} else {
		rel()
	}
	release()
	release2, ok, err := ls.Lease(ctx, "k", 50*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("Lease after release = %v, %v; want it taken", ok, err)
	}
	var release3 func()
	wait.For(t, 5*time.Second, "the lease to run out", func() bool {
		r, ok, err := ls.Lease(ctx, "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		release3 = r
		return ok
	})
	release2() // ran out: it must not give back the lease taken since
	if _, ok, err := ls.Lease(ctx, "k", time.Minute); err != nil || ok {
		t.Fatalf("Lease after a stale release = %v, %v; want it refused", ok, err)
	}
	release3()
}
