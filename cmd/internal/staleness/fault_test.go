package staleness_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
)

// background runs l with 8 readers and writers until the returned stop is called; stop
// waits for them.
func background(l *load, writers int, pace time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(l.t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.run(ctx, 8, writers, pace)
	}()
	return func() { cancel(); <-done }
}

// grows waits until counter has grown by n.
func grows(t *testing.T, what string, counter interface{ Load() int64 }, n int64) {
	t.Helper()
	from := counter.Load()
	wait.For(t, 30*time.Second, what, func() bool { return counter.Load() >= from+n })
}

// TestFaultRedisRestart kills the Redis server of a two-instance strict setup mid-load and
// starts it again — empty, or with its data (append-only file, fsync always) — while readers
// and a writer go on through the outage. No request may fail (lookups fail open,
// invalidations are retried), no read may be stale, and after recovery the cache serves hits
// again and every page shows the last write.
func TestFaultRedisRestart(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"restarted-empty", nil},
		{"restarted-with-its-data", []string{"--appendonly", "yes", "--appendfsync", "always"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			redis := testservice.StartRedis(t, tt.args...)
			s := redisStack(t, redis.Addr(), true, 100*time.Millisecond)
			l := newLoad(t, s, seed(t))
			stop := background(l, 1, 20*time.Millisecond)
			defer stop()

			grows(t, "hits before the fault", &l.hits, 50)
			const faults = 2
			for range faults {
				redis.Stop()
				grows(t, "reads during the outage", &l.reads, 100)
				grows(t, "writes during the outage", &l.writes, 5)
				redis.Start()
				grows(t, "hits after Redis restarted", &l.hits, 50)
				grows(t, "writes after Redis restarted", &l.writes, 5)
			}
			stop()
			rep := l.settle(10 * time.Second)
			var errs uint64
			for _, in := range s.instances {
				errs += in.cache.Stats().Errors
			}
			t.Logf("redis %s: %d faults survived; %v; %d page reads (%d hits), %d writes, %d failed store operations served from the handler, %d 5xx, %d other failures",
				tt.name, faults, rep, l.reads.Load(), l.hits.Load(), l.writes.Load(), errs, l.serverErrors.Load(), l.failed.Load())
			if errs == 0 {
				t.Error("no store operation failed: the outage did not happen")
			}
		})
	}
}

// TestFaultListenerKilled kills the pgnotify listener's connection with
// pg_terminate_backend mid-load and writes raw SQL while it is down. The cache is bypassed
// until the listener has reconnected and invalidated every table, so no read may be later
// than the bound, and every page ends up showing the last write.
func TestFaultListenerKilled(t *testing.T) {
	t.Parallel()
	s := postgresStack(t, 500*time.Millisecond) // an outage of 250–500 ms
	s.rawBound = ciBound
	seed := seed(t)
	l := newLoad(t, s, seed)
	stop := background(l, 2, 20*time.Millisecond)
	defer stop()
	rng := rand.New(rand.NewPCG(seed, 2000))

	grows(t, "hits before the fault", &l.hits, 50)
	const faults = 3
	var duringOutage int
	for range faults {
		var killed bool
		err := s.raw.QueryRow(t.Context(),
			"SELECT coalesce(bool_and(pg_terminate_backend(pid)), false) FROM pg_stat_activity WHERE application_name = $1",
			s.listenAs).Scan(&killed)
		if err != nil || !killed {
			t.Fatalf("pg_terminate_backend of the listener: %v, %v", killed, err)
		}
		wait.For(t, 10*time.Second, "the listener to notice", func() bool { return !s.listener.Live() })
		for range 3 {
			l.write(t.Context(), rng, true, 0)
			if !s.listener.Live() {
				duringOutage++
			}
		}
		wait.For(t, 10*time.Second, "the listener to reconnect", s.listener.Live)
		grows(t, "hits after the listener reconnected", &l.hits, 50)
	}
	stop()
	rep := l.settle(10 * time.Second)
	t.Logf("listener killed: %d faults survived; %d raw SQL writes while it was down; %v; %d page reads (%d hits), %d writes, %d 5xx, %d other failures",
		faults, duringOutage, rep, l.reads.Load(), l.hits.Load(), l.writes.Load(), l.serverErrors.Load(), l.failed.Load())
	if duringOutage == 0 {
		t.Error("no raw SQL write happened while the listener was down")
	}
}
