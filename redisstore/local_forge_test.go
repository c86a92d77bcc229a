package redisstore_test

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/wait"
	"github.com/redis/rueidis"
)

// heartbeatOf returns the fields of a heartbeat of B's read off the channel, as anyone
// subscribed to it can: "h", the id, the sent time and whatever follows.
func (ls lagSetup) heartbeatOf(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got := make(chan string, 1)
	sub := rawClient(t, redisAddr(t))
	go sub.Receive(ctx, sub.B().Subscribe().Channel("{"+ls.prefix+"}:inv").Build(), func(m rueidis.PubSubMessage) {
		if strings.HasPrefix(m.Message, "h ") {
			select {
			case got <- m.Message:
				cancel()
			default:
			}
		}
	})
	select {
	case msg := <-got:
		return strings.Fields(msg)
	case <-ctx.Done():
		t.Fatal("no heartbeat of B's on the channel")
		return nil
	}
}

// TestLocalTierForgedHeartbeat: anyone can read B's heartbeat id off the channel and publish
// a heartbeat with it, sent (it says) far in the future. B must not take it for its own:
// were its lease extended that far, a link that stalls afterwards would let B serve a local
// copy that an invalidation through A condemned, for good. B counts and logs it as a
// foreign message and, once its link stalls, stops serving from memory within the lease of
// the stall. A heartbeat of B's replayed as it was is harmless.
func TestLocalTierForgedHeartbeat(t *testing.T) {
	t.Parallel()
	const heartbeat = 100 * time.Millisecond
	lease := 2 * heartbeat
	for _, tt := range []struct {
		name        string
		forge       func(hb []string) string // nil: the heartbeat itself
		wantForeign bool
	}{
		{"no mac", func(hb []string) string { return "h " + hb[1] + " " + future(hb[2]) }, true},
		{"another sent time's mac", func(hb []string) string { return "h " + hb[1] + " " + future(hb[2]) + " " + hb[3] }, true},
		{"made-up mac", func(hb []string) string {
			return "h " + hb[1] + " " + future(hb[2]) + " " + strings.Repeat("0", len(hb[3]))
		}, true},
		{"largest sent time", func(hb []string) string { return "h " + hb[1] + " " + strconv.FormatInt(math.MaxInt64, 10) }, true},
		{"replayed as it was", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ls := newLagSetup(t, heartbeat)
			ls.fillLocal(t, "k", "/k")
			hb := ls.heartbeatOf(t)
			if len(hb) < 3 {
				t.Fatalf("heartbeat %q: want h, id, sent time (and mac)", hb)
			}
			msg := strings.Join(hb, " ")
			if len(hb) == 3 {
				hb = append(hb, strings.Repeat("5", 32)) // a tier that sends no mac
			}
			before := ls.b.Stats()
			if tt.forge != nil {
				msg = tt.forge(hb)
			}
			ls.publish(t, msg)
			ls.publish(t, "hello") // read after the forged one: the channel delivers in order
			want := uint64(1)
			if tt.wantForeign {
				want = 2
			}
			foreign := func() uint64 { return ls.b.Stats().ChannelForeign - before.ChannelForeign }
			wait.For(t, 5*time.Second, "a message after the forged heartbeat read", func() bool { return foreign() > 0 })
			wait.Until(time.Second, func() bool { return foreign() >= want }) // the one after it too
			if got := foreign(); got != want {
				t.Errorf("ChannelForeign moved by %d, want %d", got, want)
			}
			if _, fromMemory := ls.get(t.Context(), "k"); !fromMemory {
				t.Fatal("B no longer serves from memory before its link stalls")
			}
			ls.proxy.Pause()
			stalled := time.Now()
			if err := ls.a.Invalidate(t.Context(), "/k"); err != nil {
				t.Fatal(err)
			}
			if last := ls.lastLocalServe(t, "k"); !last.IsZero() {
				if served := last.Sub(stalled); served >= lease {
					t.Errorf("B served an invalidated local copy in a read that started %v after its link stalled, want less than the lease %v", served, lease)
				}
			}
			ls.proxy.Resume()
			if tt.wantForeign && !warned(ls.log.String(), "not this store's", "h "+hb[1]) {
				t.Errorf("forged heartbeat not logged at Warn:\n%s", ls.log.String())
			}
		})
	}
}

// future returns a sent time an hour after sent.
func future(sent string) string {
	n, _ := strconv.ParseInt(sent, 10, 64)
	return strconv.FormatInt(n+int64(time.Hour), 10)
}

// TestLocalTierClockFarAhead: an "f" or "c" message whose clock is implausibly far ahead
// (more than an hour ahead of both Redis's clock and this machine's time) would keep every
// entry out of B's tier, or every entry with the tag, until the clock caught up with it:
// for good with the largest clock. It is unreadable instead: counted and logged as such, the
// tier emptied, and back on and serving from memory within the lease.
func TestLocalTierClockFarAhead(t *testing.T) {
	t.Parallel()
	const heartbeat = 500 * time.Millisecond // a lease that load does not make lapse
	lease := 2 * heartbeat
	ahead := func() string {
		return strconv.FormatInt(time.Now().Add(48*time.Hour).UnixMicro(), 10)
	}
	for _, tt := range []struct {
		name string
		msg  func() string
	}{
		{"largest floor", func() string { return "f " + strconv.FormatUint(math.MaxUint64, 10) }},
		{"largest stamp", func() string { return "c " + strconv.FormatUint(math.MaxUint64, 10) + "\n/k" }},
		{"floor two days ahead", func() string { return "f " + ahead() }},
		{"stamp two days ahead", func() string { return "c " + ahead() + "\n/k" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ls := newLagSetup(t, heartbeat)
			ls.fillLocal(t, "k", "/k")
			before := ls.b.Stats()
			msg := tt.msg()
			ls.publish(t, msg)
			start := time.Now()
			if d := ls.backOn(t, before, start); d > 10*lease {
				t.Errorf("tier back on after %v, want within the lease %v (+ margin)", d, lease)
			}
			st := ls.b.Stats()
			if n := st.ChannelUnreadable - before.ChannelUnreadable; n != 1 {
				t.Errorf("ChannelUnreadable moved by %d, want 1", n)
			}
			if n := st.LocalTierOff["unreadable-message"] - before.LocalTierOff["unreadable-message"]; n != 1 {
				t.Errorf("LocalTierOff[unreadable-message] moved by %d, want 1", n)
			}
			ls.fillLocal(t, "k", "/k") // fails unless B serves from memory again
			if !warned(ls.log.String(), "unreadable message", "reason=unreadable-message", strings.Fields(msg)[1][:10]) {
				t.Errorf("message not logged at Warn as unreadable:\n%s", ls.log.String())
			}
		})
	}
}

// TestLocalTierResetClearsClock: a floor ahead of Redis's clock, but not implausibly (half an
// hour), is applied, and keeps every entry out of B's tier; an unreadable message then
// resets the tier, its clock with it, and the tier serves from memory again.
func TestLocalTierResetClearsClock(t *testing.T) {
	t.Parallel()
	ls := newLagSetup(t, 500*time.Millisecond)
	ls.fillLocal(t, "k", "/k")
	before := ls.b.Stats()
	ls.publish(t, "f "+strconv.FormatInt(time.Now().Add(30*time.Minute).UnixMicro(), 10))
	ls.publish(t, "hello") // read after the floor
	wait.For(t, 5*time.Second, "the message after the floor read", func() bool {
		return ls.b.Stats().ChannelForeign > before.ChannelForeign
	})
	for range 3 {
		if _, fromMemory := ls.get(t.Context(), "k"); fromMemory {
			t.Fatal("B serves from memory an entry born before the floor")
		}
	}
	before = ls.b.Stats()
	ls.publish(t, "f oops")
	ls.backOn(t, before, time.Now())
	ls.fillLocal(t, "k", "/k") // fails unless B serves from memory again
}
