package redisstore_test

import (
	"context"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/redisstore"
	"github.com/redis/rueidis"
)

// lagSetup is instance A (strict, straight to Redis) and instance B (local tier, through a
// proxy that can stall its link) sharing a prefix, with a plain client to publish on the
// channel as another program would.
type lagSetup struct {
	a, b      *redisstore.Store
	proxy     *proxy
	heartbeat time.Duration
	prefix    string
	raw       rueidis.Client
	log       *syncBuffer // B's log
}

func newLagSetup(t *testing.T, heartbeat time.Duration) lagSetup {
	t.Helper()
	addr := redisAddr(t)
	px := startProxy(t, addr)
	prefix := uniquePrefix(t)
	log := new(syncBuffer)
	a := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	b := newStore(t, redisstore.Options{URL: "redis://" + px.Addr(), Prefix: prefix, Heartbeat: heartbeat, Timeout: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(log, nil))})
	waitLocal(t, b)
	return lagSetup{a: a, b: b, proxy: px, heartbeat: heartbeat, prefix: prefix, raw: rawClient(t, addr), log: log}
}

// publish publishes msg on the invalidation channel.
func (ls lagSetup) publish(t *testing.T, msg string) {
	t.Helper()
	if err := ls.raw.Do(t.Context(), ls.raw.B().Publish().Channel("{"+ls.prefix+"}:inv").Message(msg).Build()).Error(); err != nil {
		t.Fatal(err)
	}
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
			e := &dumper.Entry{Status: 200, Body: []byte("old"), Tags: []string{tag}, Born: l.Now, Stored: time.Now().UnixNano()}
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
	return ls.staleAfter(t, key, func() {
		if err := ls.a.Invalidate(t.Context(), tag); err != nil {
			t.Fatal(err)
		}
	})
}

// staleAfter runs invalidate, which must condemn key in Redis, then reads key through B as
// staleFor does.
func (ls lagSetup) staleAfter(t *testing.T, key string, invalidate func()) time.Duration {
	t.Helper()
	invalidate()
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

// corruptInvalidate invalidates tag in Redis as the invalidation script does, but publishes
// the message with a clock the local tier cannot read: an invalidation whose message is lost
// to corruption.
func (ls lagSetup) corruptInvalidate(t *testing.T, tag string) {
	t.Helper()
	const script = `
local t = redis.call('TIME')
local c = math.max(tonumber(redis.call('HGET', KEYS[1], 'c')) + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
local cs = string.format('%d', c)
redis.call('HSET', KEYS[1], 'c', cs)
redis.call('SET', KEYS[2], cs, 'PX', 3600000)
redis.call('PUBLISH', KEYS[3], 'c ' .. cs .. '?\n' .. ARGV[1])
return cs`
	slot := "{" + ls.prefix + "}"
	cmd := ls.raw.B().Eval().Script(script).Numkeys(3).Key(slot+":clock", slot+":t:"+tag, slot+":inv").Arg(tag).Build()
	if err := ls.raw.Do(t.Context(), cmd).Error(); err != nil {
		t.Fatal(err)
	}
}

// backOn waits until B has read an unreadable message more than it had in before and its
// tier serves again, and returns how long that took from start.
func (ls lagSetup) backOn(t *testing.T, before dumper.StoreStats, start time.Time) time.Duration {
	t.Helper()
	wait.For(t, 10*time.Second, "the local tier back on after an unreadable message", func() bool {
		return ls.b.Stats().ChannelUnreadable > before.ChannelUnreadable && ls.b.LocalTierInUse()
	})
	return time.Since(start)
}

// warned reports whether log holds a Warn line with every one of parts.
func warned(log string, parts ...string) bool {
	for line := range strings.Lines(log) {
		if strings.Contains(line, "level=WARN") && !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			return true
		}
	}
	return false
}

// foreignMessages are messages another program might publish on the channel. None can be
// an invalidation: their first word is not c or f.
var foreignMessages = []string{
	"hello",
	"",
	`{"event":"deploy","version":"1.2.3"}`,
	"cache cleared",
	"flush all",
	"ch 1\n/k",
	"C 1\n/k",
	"c\x00 1\n/k",
	"h",
	"h not a heartbeat",
	"h 0123456789abcdef not-a-time",
	"h 0123456789abcdef 12\nextra",
	"\x00\xff\xfe binary",
}

// unreadableMessages are shaped like our invalidations but cannot be read: each may have been
// an invalidation.
var unreadableMessages = []string{
	"c not-a-clock\n/k",
	"c 123",
	"c 123\n",
	"c 123\n/k\n\n/j",
	"c -1\n/k",
	"c 99999999999999999999999\n/k",
	"c\n/k",
	"c",
	"f",
	"f 12x",
	"f 12\nextra",
	"f  12",
}

// TestLocalTierIgnoresForeignMessages: a message on the channel that is not ours is counted,
// logged and ignored: B keeps serving from memory without a round trip, and an invalidation
// published after it still reaches B.
func TestLocalTierIgnoresForeignMessages(t *testing.T) {
	t.Parallel()
	const heartbeat = 500 * time.Millisecond // a lease that load does not make lapse
	ls := newLagSetup(t, heartbeat)
	for _, msg := range foreignMessages {
		ls.fillLocal(t, "k", "/k")
		before := ls.b.Stats()
		ls.publish(t, msg)
		wait.For(t, 5*time.Second, "a foreign message to be counted", func() bool { return ls.b.Stats().ChannelForeign > before.ChannelForeign })
		if _, fromMemory := ls.get(t.Context(), "k"); !fromMemory {
			t.Errorf("after foreign message %q: B no longer serves from memory", msg)
		}
		st := ls.b.Stats()
		if n := st.ChannelForeign - before.ChannelForeign; n != 1 {
			t.Errorf("after foreign message %q: ChannelForeign moved by %d, want 1", msg, n)
		}
		if st.ChannelUnreadable != before.ChannelUnreadable || !maps.Equal(st.LocalTierOff, before.LocalTierOff) {
			t.Errorf("after foreign message %q: unreadable %d → %d, off %v → %v; want no change", msg,
				before.ChannelUnreadable, st.ChannelUnreadable, before.LocalTierOff, st.LocalTierOff)
		}
		if stale := ls.staleFor(t, "k", "/k"); stale >= 2*heartbeat {
			t.Errorf("after foreign message %q: an invalidation was outlived by %v", msg, stale)
		}
	}
	// One warning, then at most one every 10 s saying how many were left out.
	if log := ls.log.String(); !warned(log, "not this store's", "payload=hello") {
		t.Errorf("foreign message not logged at Warn:\n%s", log)
	}
}

// TestLocalTierUnreadableMessage: a message shaped like an invalidation that cannot be read
// empties B's tier, which is off until a heartbeat comes back, well within a lease, and then
// serves from memory again.
func TestLocalTierUnreadableMessage(t *testing.T) {
	t.Parallel()
	const heartbeat = 500 * time.Millisecond // a lease that load does not make lapse
	lease := 2 * heartbeat
	ls := newLagSetup(t, heartbeat)
	for _, msg := range unreadableMessages {
		ls.fillLocal(t, "k", "/k")
		before := ls.b.Stats()
		ls.publish(t, msg)
		start := time.Now()
		if d := ls.backOn(t, before, start); d > 10*lease {
			t.Errorf("after unreadable message %q: tier back on after %v, want within the lease %v (+ margin)", msg, d, lease)
		}
		st := ls.b.Stats()
		if n := st.ChannelUnreadable - before.ChannelUnreadable; n != 1 {
			t.Errorf("after unreadable message %q: ChannelUnreadable moved by %d, want 1", msg, n)
		}
		if n := st.LocalTierOff["unreadable-message"] - before.LocalTierOff["unreadable-message"]; n != 1 {
			t.Errorf("after unreadable message %q: LocalTierOff[unreadable-message] moved by %d, want 1", msg, n)
		}
		if found, fromMemory := ls.get(t.Context(), "k"); !found || fromMemory {
			t.Errorf("after unreadable message %q: found %v, from memory %v; want the entry read again from Redis", msg, found, fromMemory)
		}
		if _, fromMemory := ls.get(t.Context(), "k"); !fromMemory {
			t.Errorf("after unreadable message %q: B does not serve from memory again", msg)
		}
	}
	if log := ls.log.String(); !warned(log, "unreadable message", "reason=unreadable-message", "not-a-clock") {
		t.Errorf("unreadable message not logged at Warn with its reason:\n%s", log)
	}
}

// TestLocalTierBadMessageAroundInvalidation: however a foreign or unreadable message falls
// around an invalidation made through A, and when the unreadable message is the
// invalidation itself, B stops serving the condemned entry from memory within the lease
// (in practice the message's delivery time), and never serves it again.
func TestLocalTierBadMessageAroundInvalidation(t *testing.T) {
	t.Parallel()
	const heartbeat = 100 * time.Millisecond
	lease := 2 * heartbeat
	ls := newLagSetup(t, heartbeat)
	invalidate := func(t *testing.T) {
		if err := ls.a.Invalidate(t.Context(), "/k"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"unreadable message, then invalidation", func(t *testing.T) { ls.publish(t, "c ?\n/x"); invalidate(t) }},
		{"invalidation, then unreadable message", func(t *testing.T) { invalidate(t); ls.publish(t, "c ?\n/x") }},
		{"foreign message, then invalidation", func(t *testing.T) { ls.publish(t, "hello"); invalidate(t) }},
		{"invalidation, then foreign message", func(t *testing.T) { invalidate(t); ls.publish(t, "hello") }},
		{"the invalidation's own message unreadable", func(t *testing.T) { ls.corruptInvalidate(t, "/k") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var lags []time.Duration
			for range 10 {
				ls.fillLocal(t, "k", "/k")
				lags = append(lags, ls.staleAfter(t, "k", func() { tt.run(t) }))
				wait.For(t, 5*time.Second, "the local tier back on", ls.b.LocalTierInUse)
				if found, _ := ls.get(t.Context(), "k"); found {
					t.Fatal("B serves the condemned entry once its tier is back on")
				}
			}
			slices.Sort(lags)
			t.Logf("last stale serve after the invalidation returned: p50 %v, max %v (lease %v)", lags[len(lags)/2], lags[len(lags)-1], lease)
			if max := lags[len(lags)-1]; max >= lease {
				t.Errorf("B served a condemned local copy %v after the invalidation, want at most the lease %v (+ margin)", max, lease)
			}
		})
	}
}

// TestLocalTierForeignPublisher: another program publishing on the channel all the while
// does not stop B serving from memory with no round trip. (The default heartbeat: this test
// loads the machine, and a lapse of a short lease under load is not what it checks.)
func TestLocalTierForeignPublisher(t *testing.T) {
	t.Parallel()
	ls := newLagSetup(t, 500*time.Millisecond)
	ls.fillLocal(t, "k", "/k")
	before := ls.b.Stats()
	const n = 2000
	done := make(chan error, 1)
	go func() {
		for i := range n {
			msg := foreignMessages[i%len(foreignMessages)]
			if err := ls.raw.Do(t.Context(), ls.raw.B().Publish().Channel("{"+ls.prefix+"}:inv").Message(msg).Build()).Error(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	hits := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		if _, fromMemory := ls.get(t.Context(), "k"); !fromMemory {
			t.Fatalf("after %d hits from memory while foreign messages arrive, a lookup was not served from memory (in use %v, stats %+v); log:\n%s",
				hits, ls.b.LocalTierInUse(), ls.b.Stats(), ls.log.String())
		}
		hits++
		runtime.Gosched()
	}
	wait.For(t, 10*time.Second, "every foreign message counted", func() bool { return ls.b.Stats().ChannelForeign-before.ChannelForeign == n })
	if st := ls.b.Stats(); !maps.Equal(st.LocalTierOff, before.LocalTierOff) {
		t.Errorf("the tier stopped serving: off %v → %v", before.LocalTierOff, st.LocalTierOff)
	}
	t.Logf("%d hits from memory while %d foreign messages arrived", hits, n)
}

// TestLocalTierRecoveryTime measures, with the default heartbeat (500 ms), how long B's tier
// is off after an unreadable message: from the PUBLISH returning to the tier serving again,
// and to the first hit from memory (after one read from Redis refills it).
func TestLocalTierRecoveryTime(t *testing.T) {
	t.Parallel()
	const heartbeat = 500 * time.Millisecond
	lease := 2 * heartbeat
	ls := newLagSetup(t, heartbeat)
	var on, hit []time.Duration
	for range 20 {
		ls.fillLocal(t, "k", "/k")
		before := ls.b.Stats()
		ls.publish(t, "c not-a-clock\n/k")
		start := time.Now()
		on = append(on, ls.backOn(t, before, start))
		wait.For(t, 10*time.Second, "a hit from memory after an unreadable message", func() bool {
			_, fromMemory := ls.get(t.Context(), "k")
			return fromMemory
		})
		hit = append(hit, time.Since(start))
	}
	slices.Sort(on)
	slices.Sort(hit)
	t.Logf("after an unreadable message (heartbeat %v, lease %v), 20 trials: tier on again p50 %v, max %v; first hit from memory p50 %v, max %v",
		heartbeat, lease, on[len(on)/2], on[len(on)-1], hit[len(hit)/2], hit[len(hit)-1])
	if max := on[len(on)-1]; max > lease {
		t.Errorf("tier back on after %v, want within the lease %v", max, lease)
	}
}

// TestRoundTripsAfterBadMessage: once the tier is back on after an unreadable message, hits
// from memory cost no round trip again; a foreign message costs nothing at all.
func TestRoundTripsAfterBadMessage(t *testing.T) {
	t.Parallel()
	ls := newLagSetup(t, 500*time.Millisecond)
	var v atomic.Int64
	b := newSite(t, ls.b, &v)
	steps := []struct {
		name    string
		publish string // before the request, then wait until it was read and the tier is on
		hit     bool
		trips   uint64
	}{
		{"miss and store", "", false, 2},
		{"hit from Redis", "", true, 1},
		{"hit from memory", "", true, 0},
		{"after a foreign message: hit from memory", "hello", true, 0},
		{"after an unreadable message: hit from Redis, the tier was emptied", "f oops", true, 1},
		{"hit from memory again", "", true, 0},
		{"and again", "", true, 0},
	}
	for _, st := range steps {
		if st.publish != "" {
			before := ls.b.Stats()
			ls.publish(t, st.publish)
			wait.For(t, 5*time.Second, "the message read and the tier on", func() bool {
				now := ls.b.Stats()
				return now.ChannelForeign+now.ChannelUnreadable > before.ChannelForeign+before.ChannelUnreadable && ls.b.LocalTierInUse()
			})
		}
		before := ls.b.RoundTrips()
		w := b.get(t, "/plain")
		if hit(w) != st.hit {
			t.Fatalf("%s: Cache-Status %q", st.name, w.Header().Get("Cache-Status"))
		}
		if got := ls.b.RoundTrips() - before; got != st.trips {
			t.Errorf("%s: %d round trips, want %d", st.name, got, st.trips)
		}
	}
}

// TestLocalTierOffIsLoggedAndCounted: every way B's tier stops serving is logged at Warn
// with its reason and counted in the cache's Stats, and the tier comes back on by itself.
func TestLocalTierOffIsLoggedAndCounted(t *testing.T) {
	t.Parallel()
	// A lease that load does not make lapse, but where a lapse is what is tested.
	const heartbeat = 500 * time.Millisecond
	for _, tt := range []struct {
		reason    string
		heartbeat time.Duration
		cause     func(t *testing.T, ls lagSetup)
		recover   func(t *testing.T, ls lagSetup)
	}{
		{"subscription-lost", heartbeat, func(t *testing.T, ls lagSetup) { ls.proxy.Break() }, nil},
		{"lease-lapsed", 100 * time.Millisecond, func(t *testing.T, ls lagSetup) { ls.proxy.Pause() }, func(t *testing.T, ls lagSetup) { ls.proxy.Resume() }},
		{"unreadable-message", heartbeat, func(t *testing.T, ls lagSetup) { ls.publish(t, "c ?\n/k") }, nil},
	} {
		t.Run(tt.reason, func(t *testing.T) {
			t.Parallel()
			ls := newLagSetup(t, tt.heartbeat)
			var v atomic.Int64
			b := newSite(t, ls.b, &v)
			if off := b.cache.Stats().LocalTierOff; len(off) == 0 || off[tt.reason] != 0 {
				t.Fatalf("Stats().LocalTierOff = %v before, want every reason at 0", off)
			}
			tt.cause(t, ls)
			wait.For(t, 10*time.Second, "the tier-off reason counted", func() bool { return b.cache.Stats().LocalTierOff[tt.reason] == 1 })
			if tt.recover != nil {
				tt.recover(t, ls)
			}
			wait.For(t, 10*time.Second, "the local tier back on", ls.b.LocalTierInUse)
			if log := ls.log.String(); !warned(log, "reason="+tt.reason) {
				t.Errorf("no Warn with reason=%s:\n%s", tt.reason, log)
			}
			for r, n := range b.cache.Stats().LocalTierOff {
				if r != tt.reason && n != 0 {
					t.Errorf("Stats().LocalTierOff[%s] = %d, want 0", r, n)
				}
			}
		})
	}
}

// TestLocalTierSubscribeFailed: a SUBSCRIBE that Redis refuses is logged at Warn with its
// reason; the tier is on once Redis accepts it.
func TestLocalTierSubscribeFailed(t *testing.T) {
	t.Parallel()
	p := testservice.StartRedis(t)
	raw := rawClient(t, p.Addr())
	if err := raw.Do(t.Context(), raw.B().Arbitrary("ACL", "SETUSER", "default", "-subscribe").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	log := new(syncBuffer)
	s := newStore(t, redisstore.Options{URL: "redis://" + p.Addr(), Heartbeat: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(log, nil))})
	wait.For(t, 5*time.Second, "a subscribe-failed warning", func() bool { return warned(log.String(), "subscribe failed", "reason=subscribe-failed") })
	if s.LocalTierInUse() {
		t.Error("local tier in use without a subscription")
	}
	if err := raw.Do(t.Context(), raw.B().Arbitrary("ACL", "SETUSER", "default", "+subscribe").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 15*time.Second, "the local tier on", s.LocalTierInUse)
}
