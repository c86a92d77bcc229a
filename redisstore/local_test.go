package redisstore_test

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
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
	eventually(t, 10*time.Second, func() bool {
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

// staleFor invalidates tag through A, then reads key through B until B no longer serves
// it from memory, and returns how long after the invalidation returned the last read that
// served it from memory started (0 if none did).
func (ls lagSetup) staleFor(t *testing.T, key, tag string) time.Duration {
	t.Helper()
	ctx := t.Context()
	if err := ls.a.Invalidate(ctx, tag); err != nil {
		t.Fatal(err)
	}
	done := time.Now()
	var last time.Duration
	for {
		start := time.Since(done)
		found, fromMemory := ls.get(ctx, key)
		if !fromMemory {
			if found {
				t.Fatalf("B read the invalidated entry from Redis")
			}
			return last
		}
		last = start
		// Let the subscriber run: on a machine with few CPUs, a loop that never yields
		// delays the very message it waits for by a scheduler time slice (10 ms).
		runtime.Gosched()
		if start > 30*time.Second {
			t.Fatalf("B still serves the invalidated entry from memory after %v", start)
		}
	}
}

// leaseMargin absorbs scheduling delays on a loaded machine between the lease check and the
// moment the test records the serve; a lease twice as long as stated exceeds it.
const leaseMargin = 150 * time.Millisecond

// TestLocalTierLeaseOnStalledLink: when B's link to Redis stalls without breaking, B stops
// serving its local copies within the lease (twice the heartbeat) of the stall, so an
// invalidation made meanwhile through A is outlived by at most that.
func TestLocalTierLeaseOnStalledLink(t *testing.T) {
	t.Parallel()
	const heartbeat = 100 * time.Millisecond
	lease := 2 * heartbeat
	ls := newLagSetup(t, heartbeat)
	ls.fillLocal(t, "k", "/k")
	ls.proxy.Pause()
	stale := ls.staleFor(t, "k", "/k")
	t.Logf("stale serves for %v after the invalidation (lease %v)", stale, lease)
	if stale > lease+leaseMargin {
		t.Errorf("B served an invalidated local copy %v after the invalidation over a stalled link, want at most the lease %v (+ margin)", stale, lease)
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

// TestLocalTierStaleBound: over a healthy link, B never serves a local copy of an entry
// later than the lease after A's invalidation returned; in practice within the pub/sub
// delivery time.
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
	if max := lags[len(lags)-1]; max > lease+leaseMargin {
		t.Errorf("B served an invalidated local copy %v after the invalidation, want at most the lease %v (+ margin)", max, lease)
	}
}
