package staleness_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/testservice"
)

// The lateness allowed to writes whose invalidation is asynchronous, as the sources state it:
//
//   - notifyBound, raw SQL seen through NOTIFY: docs/postgres.md states p99 < 20 ms from COMMIT
//     on loopback; the bound adds the margin a loaded 2-core CI machine needs (runs here saw
//     at most 59–121 ms), and a listener 10× slower than stated fails it;
//   - localTierLease, a write through one instance seen by another's local tier: the lease
//     of its stores (2 × Heartbeat), which redisstore guarantees exactly.
//
// ciBound is the allowance of the fault tests, which include a reconnection.
const (
	notifyBound    = 250 * time.Millisecond
	localHeartbeat = 100 * time.Millisecond
	localTierLease = 2 * localHeartbeat
	ciBound        = time.Second
)

// TestStaleReads drives the demo's full stack over HTTP with 8 readers and 2 writers, in
// each configuration, and checks the recorded history: no read returns a flavor's name older
// than a write that completed before the read started (beyond the stated bound for the
// asynchronous paths), and every page ends up showing the last write.
func TestStaleReads(t *testing.T) {
	seed := seed(t)
	run := 3 * time.Second
	if long() {
		run = 60 * time.Second
	}
	configs := []struct {
		name  string
		stack func(t *testing.T) *stack
	}{
		{"memory-sqlite", memoryStack},
		{"memory-sqlite-varnish", varnishStack},
		{"redis-strict-2-instances-varnish", func(t *testing.T) *stack {
			return varnishRedisStack(t, testservice.RedisAddr(t))
		}},
		{"redis-strict-2-instances", func(t *testing.T) *stack {
			return redisStack(t, testservice.RedisAddr(t), true, time.Second)
		}},
		{"redis-local-tier-2-instances", func(t *testing.T) *stack {
			s := redisStack(t, testservice.RedisAddr(t), false, time.Second)
			s.appBound = localTierLease
			return s
		}},
		{"postgres-notify", func(t *testing.T) *stack {
			s := postgresStack(t, 10*time.Millisecond)
			s.rawBound = notifyBound
			return s
		}},
		{"postgres-notify-redis-2-instances", func(t *testing.T) *stack {
			s := postgresStackOn(t, 10*time.Millisecond, testservice.RedisAddr(t), 2)
			s.rawBound = notifyBound
			return s
		}},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			l := newLoad(t, c.stack(t), seed)
			ctx, cancel := context.WithTimeout(t.Context(), run)
			defer cancel()
			began := time.Now()
			l.run(ctx, 8, 2, 10*time.Millisecond)
			rep := l.settle(10 * time.Second)
			t.Logf("%s, %v: %v; %d page reads (%d hits), %d writes (%d in transactions mixing GORM and raw SQL), %d 5xx, %d other failures",
				c.name, time.Since(began).Round(time.Millisecond), rep, l.reads.Load(), l.hits.Load(), l.writes.Load(), l.mixed.Load(),
				l.serverErrors.Load(), l.failed.Load())
			var notes []string
			for _, in := range l.s.instances {
				if in.listener != nil {
					st := in.listener.Stats()
					notes = append(notes, fmt.Sprintf("%s: %d changes, %d deduplicated, %d late", in.name, st.Changes, st.Deduplicated, st.Late))
				}
			}
			if len(notes) > 0 {
				t.Logf("listeners: %s", strings.Join(notes, "; "))
			}
			for i, e := range l.s.edges {
				if i == 0 {
					t.Logf("edges: %d of the reads were Varnish hits", l.edgeHits.Load())
				}
				t.Logf("edge of %s: purges %+v", l.s.instances[i].name, e.Stats())
			}
			if l.s.raw != nil && l.mixed.Load() == 0 {
				t.Error("no transaction mixed GORM and raw SQL")
			}
		})
	}
}

// softWindow is the stale-while-revalidate window of TestStaleReadsSoft.
const softWindow = 2 * time.Second

// TestStaleReadsSoft drives the stack as TestStaleReads does, with soft invalidation: every
// read that is late is reported with its age, and none may be later than the window past
// the write, nor late at all for the client that made the write, which reads the page it
// wrote right after each write.
func TestStaleReadsSoft(t *testing.T) {
	seed := seed(t)
	run := 3 * time.Second
	if long() {
		run = 60 * time.Second
	}
	configs := []struct {
		name  string
		stack func(t *testing.T) *stack
	}{
		{"memory-sqlite", func(t *testing.T) *stack { return softMemoryStack(t, softWindow) }},
		{"redis-strict-2-instances", func(t *testing.T) *stack {
			return softRedisStack(t, testservice.RedisAddr(t), true, softWindow)
		}},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			l := newLoad(t, c.stack(t), seed)
			ctx, cancel := context.WithTimeout(t.Context(), run)
			defer cancel()
			l.run(ctx, 8, 2, 50*time.Millisecond)
			rep := l.settle(10 * time.Second)
			var byWriter, maxAge = 0, time.Duration(0)
			for _, late := range rep.Late {
				maxAge = max(maxAge, late.Age)
				if late.Read.Client != "" {
					byWriter++
				}
			}
			for _, v := range rep.Violations {
				if v.Read.Client != "" {
					byWriter++
				}
			}
			t.Logf("%s: %v; %d page reads (%d hits, %d stale hits), %d writes; %d stale reads, the oldest %v past the write (bound %v); %d by the writing client",
				c.name, rep, l.reads.Load(), l.hits.Load(), l.staleHits.Load(), l.writes.Load(), len(rep.Late), maxAge, softWindow, byWriter)
			if testing.Verbose() {
				for i, late := range rep.Late {
					if i == 20 {
						t.Logf("  … and %d more", len(rep.Late)-i)
						break
					}
					t.Logf("  stale read %s of %s v%d, %v past the write", late.Read.What, late.Read.Entity, late.Read.Version, late.Age)
				}
			}
			if byWriter != 0 {
				t.Errorf("%d stale reads by the writing client, want 0", byWriter)
			}
			if maxAge > softWindow {
				t.Errorf("a read %v past the write, beyond the window %v", maxAge, softWindow)
			}
			if l.staleHits.Load() == 0 {
				t.Error("no stale hit: the run did not exercise soft invalidation")
			}
		})
	}
}
