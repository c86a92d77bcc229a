package redisstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/redisstore"
)

// lagSetup is instance A (strict, straight to Redis) and instance B (local tier, through a
// proxy that can stall its link) sharing a prefix.
type lagSetup struct {
	a, b      *redisstore.Store
	proxy     *proxy
	heartbeat time.Duration
	prefix    string
}

func newLagSetup(t *testing.T, heartbeat time.Duration) lagSetup {
	t.Helper()
	addr := redisAddr(t)
	px := startProxy(t, addr)
	prefix := uniquePrefix(t)
	a := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	b := newStore(t, redisstore.Options{URL: "redis://" + px.Addr(), Prefix: prefix, Heartbeat: heartbeat, Timeout: 200 * time.Millisecond})
	waitLocal(t, b)
	return lagSetup{a: a, b: b, proxy: px, heartbeat: heartbeat, prefix: prefix}
}

// fillLocal stores key through A, tagged tag, and reads it through B until B serves it from
// memory.
func (ls lagSetup) fillLocal(t *testing.T, key, tag string) {
	t.Helper()
	ctx := t.Context()
	wait.For(t, 10*time.Second, "B to serve "+key+" from memory", func() bool {
		l, err := ls.b.Get(ctx, key)
		if err != nil {
			return false
		}
		if l.Entry == nil {
			e := &dumper.Entry{Status: 200, Body: []byte("old"), Tags: []string{tag}, Born: l.Now, Stored: time.Now()}
			if err := ls.a.Set(ctx, 0, dumper.Item{Key: key, Entry: e}); err != nil {
				t.Fatal(err)
			}
			return false
		}
		_, fromMemory := ls.get(ctx, key)
		return fromMemory
	})
}

// get reads key through B, reporting whether B found an entry in memory.
func (ls lagSetup) get(ctx context.Context, key string) (found, fromMemory bool) {
	before := ls.b.RoundTrips()
	l, err := ls.b.Get(ctx, key)
	return err == nil && l.Entry != nil, err == nil && l.Entry != nil && ls.b.RoundTrips() == before
}

// lastLocalServe reads key through B until B no longer serves it from memory, and returns
// when the last read that did started (the zero Time if none did). The time is read before
// each read, so it is earlier than the read's check of B's lease: a bound on it is exact.
func (ls lagSetup) lastLocalServe(t *testing.T, key string) time.Time {
	t.Helper()
	ctx := t.Context()
	var last time.Time
	wait.For(t, 30*time.Second, "B to stop serving "+key+" from memory", func() bool {
		start := time.Now()
		found, fromMemory := ls.get(ctx, key)
		if !fromMemory {
			if found {
				t.Fatalf("B read the invalidated entry from Redis")
			}
			return true
		}
		last = start
		return false
	})
	return last
}

// staleFor invalidates tag through A, then reads key through B until B no longer serves it
// from memory, and returns how long after the invalidation returned the last read that
// served it from memory started (0 if none did).
func (ls lagSetup) staleFor(t *testing.T, key, tag string) time.Duration {
	t.Helper()
	if err := ls.a.Invalidate(t.Context(), tag); err != nil {
		t.Fatal(err)
	}
	done := time.Now()
	if last := ls.lastLocalServe(t, key); !last.IsZero() {
		return last.Sub(done)
	}
	return 0
}

// TestLocalTierLeaseOnStalledLink: when B's link to Redis stalls without breaking, B stops
// serving its local copies within the lease (twice the heartbeat) of the stall, so an
// invalidation made meanwhile through A is outlived by at most that.
//
// The bound is exact, with no margin for a slow machine: every heartbeat that reached B was
// sent before the stall, so B's lease ends less than a lease after it, and a read that
// starts later cannot be served from memory.
func TestLocalTierLeaseOnStalledLink(t *testing.T) {
	t.Parallel()
	const heartbeat = 100 * time.Millisecond
	lease := 2 * heartbeat
	ls := newLagSetup(t, heartbeat)
	ls.fillLocal(t, "k", "/k")
	ls.proxy.Pause()
	stalled := time.Now()
	if err := ls.a.Invalidate(t.Context(), "/k"); err != nil {
		t.Fatal(err)
	}
	if last := ls.lastLocalServe(t, "k"); !last.IsZero() {
		served := last.Sub(stalled)
		t.Logf("B served its local copy for %v after the stall (lease %v)", served, lease)
		if served >= lease {
			t.Errorf("B served an invalidated local copy in a read that started %v after its link stalled, want less than the lease %v", served, lease)
		}
	}
	if ls.b.LocalTierInUse() {
		t.Error("local tier reported in use over a stalled link")
	}
	ls.proxy.Resume()
	waitLocal(t, ls.b)
	if found, _ := ls.get(t.Context(), "k"); found {
		t.Error("B serves the invalidated entry after the link came back")
	}
}

// TestLocalTierStaleBound: over a healthy link, B never serves a local copy of an entry in a
// read that started a lease or more after A's invalidation returned; in practice it stops
// within the pub/sub delivery time.
//
// The bound is exact, with no margin for a slow machine: a heartbeat sent after the
// invalidation returned reaches B after the invalidation's message (one channel delivers in
// order), so until that message has arrived B's lease rests on heartbeats sent before, and
// ends less than a lease after the invalidation.
func TestLocalTierStaleBound(t *testing.T) {
	t.Parallel()
	const heartbeat = 100 * time.Millisecond
	lease := 2 * heartbeat
	ls := newLagSetup(t, heartbeat)
	var lags []time.Duration
	for range 50 {
		ls.fillLocal(t, "k", "/k")
		lags = append(lags, ls.staleFor(t, "k", "/k"))
	}
	slices.Sort(lags)
	t.Logf("last stale serve after the invalidation returned: p50 %v, p99 %v, max %v (lease %v)",
		lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1], lease)
	if max := lags[len(lags)-1]; max >= lease {
		t.Errorf("B served an invalidated local copy in a read that started %v after the invalidation returned, want less than the lease %v", max, lease)
	}
}
