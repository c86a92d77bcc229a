package redisstore_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/redisstore"
	"github.com/dumperhq/dumper/storetest"
)

func TestConformanceStrict(t *testing.T) {
	t.Parallel()
	// A generous timeout: the suite checks the contract, not the machine's speed.
	storetest.Run(t, func(t *testing.T) dumper.Store {
		return newStore(t, redisstore.Options{Strict: true, Timeout: 5 * time.Second})
	})
	storetest.RunSoft(t, func(t *testing.T) dumper.Store {
		return newStore(t, redisstore.Options{Strict: true, Timeout: 5 * time.Second})
	})
}

func TestConformanceLocalTier(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) dumper.Store {
		return newStore(t, redisstore.Options{Timeout: 5 * time.Second})
	})
	storetest.RunSoft(t, func(t *testing.T) dumper.Store {
		return newStore(t, redisstore.Options{Timeout: 5 * time.Second})
	})
}

func TestOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []redisstore.Options{
		{},
		{URL: "redis://127.0.0.1:6379", Prefix: "a{b}"},
		{URL: "redis://127.0.0.1:6379", Timeout: -1},
		{URL: "not a url"},
	} {
		if s, err := redisstore.New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// site is a cache on a store in front of a handler that renders a version number.
type site struct {
	cache   *dumper.Cache
	handler http.Handler
}

func newSite(t *testing.T, s dumper.Store, version *atomic.Int64) site {
	t.Helper()
	c, err := dumper.New(dumper.Options{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return site{c, c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/vary") {
			w.Header().Set("Vary", "Accept-Language")
		}
		fmt.Fprintf(w, "v%d %s", version.Load(), r.Header.Get("Accept-Language"))
	}))}
}

func (s site) get(t *testing.T, path string, lang ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	if len(lang) > 0 {
		r.Header.Set("Accept-Language", lang[0])
	}
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	return w
}

func hit(w *httptest.ResponseRecorder) bool {
	return strings.HasSuffix(w.Header().Get("Cache-Status"), "; hit")
}

func TestRoundTrips(t *testing.T) {
	t.Parallel()
	s := newStore(t, redisstore.Options{Strict: true})
	var v atomic.Int64
	a := newSite(t, s, &v)
	steps := []struct {
		name, path, lang string
		hit              bool
		trips            uint64
	}{
		{"miss and store", "/plain", "", false, 2},
		{"hit", "/plain", "", true, 1},
		{"varied page: miss and store", "/vary", "en", false, 2},
		{"varied page: hit", "/vary", "en", true, 1},
		{"varied page: other variant, miss and store", "/vary", "fr", false, 2},
		{"varied page: other variant, hit", "/vary", "fr", true, 1},
	}
	for _, st := range steps {
		before := s.RoundTrips()
		w := a.get(t, st.path, st.lang)
		if hit(w) != st.hit {
			t.Fatalf("%s: Cache-Status %q", st.name, w.Header().Get("Cache-Status"))
		}
		if got := s.RoundTrips() - before; got != st.trips {
			t.Errorf("%s: %d round trips, want %d", st.name, got, st.trips)
		}
	}
}

// TestRoundTripsAcrossInstances pins what a varied page costs on an instance that has not
// seen its variant record (the record says which headers the page varies on, and is kept in
// memory once read): one more round trip, once.
func TestRoundTripsAcrossInstances(t *testing.T) {
	t.Parallel()
	prefix := uniquePrefix(t)
	var v atomic.Int64
	sa := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	sb := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	sc := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	a, b, c := newSite(t, sa, &v), newSite(t, sb, &v), newSite(t, sc, &v)
	steps := []struct {
		name  string
		site  site
		store *redisstore.Store
		lang  string
		hit   bool
		trips uint64
	}{
		{"A: miss and store", a, sa, "en", false, 2},
		{"B: first hit, record not in memory", b, sb, "en", true, 2},
		{"B: hit", b, sb, "en", true, 1},
		{"C: miss and store of another variant, record not in memory", c, sc, "fr", false, 3},
		{"C: miss and store of a third variant", c, sc, "de", false, 2},
		{"B: hit on C's variant", b, sb, "fr", true, 1},
	}
	for _, st := range steps {
		before := st.store.RoundTrips()
		w := st.site.get(t, "/vary", st.lang)
		if hit(w) != st.hit {
			t.Fatalf("%s: Cache-Status %q", st.name, w.Header().Get("Cache-Status"))
		}
		if got := st.store.RoundTrips() - before; got != st.trips {
			t.Errorf("%s: %d round trips, want %d", st.name, got, st.trips)
		}
	}
}

// TestTwoInstancesStrict: an invalidation through instance A is respected by instance B for
// every request B starts after it returned.
func TestTwoInstancesStrict(t *testing.T) {
	t.Parallel()
	prefix := uniquePrefix(t)
	var v atomic.Int64
	a := newSite(t, newStore(t, redisstore.Options{Prefix: prefix, Strict: true}), &v)
	b := newSite(t, newStore(t, redisstore.Options{Prefix: prefix, Strict: true}), &v)
	for i := range 50 {
		want := fmt.Sprintf("v%d ", i)
		b.get(t, "/p")
		if w := b.get(t, "/p"); !hit(w) || w.Body.String() != want {
			t.Fatalf("B: %q %q, want a hit of %q", w.Header().Get("Cache-Status"), w.Body.String(), want)
		}
		if w := a.get(t, "/p"); !hit(w) {
			t.Fatalf("A does not share B's entry: %q", w.Header().Get("Cache-Status"))
		}
		v.Add(1)
		if err := a.cache.InvalidatePaths(t.Context(), "/p"); err != nil {
			t.Fatal(err)
		}
		if w := b.get(t, "/p"); hit(w) || w.Body.String() != fmt.Sprintf("v%d ", i+1) {
			t.Fatalf("B after A's invalidation: %q %q", w.Header().Get("Cache-Status"), w.Body.String())
		}
	}
}

// TestTwoInstancesLocalTier: with the local tier, B serves hits from memory, and A's
// invalidation reaches B's memory through the channel.
func TestTwoInstancesLocalTier(t *testing.T) {
	t.Parallel()
	prefix := uniquePrefix(t)
	var v atomic.Int64
	sa := newStore(t, redisstore.Options{Prefix: prefix})
	sb := newStore(t, redisstore.Options{Prefix: prefix})
	a, b := newSite(t, sa, &v), newSite(t, sb, &v)
	waitLocal(t, sa)
	waitLocal(t, sb)
	for i := range 20 {
		b.get(t, "/vary", "fr") // a miss: B renders and stores in Redis
		b.get(t, "/vary", "fr") // a hit from Redis, kept in B's memory
		before := sb.RoundTrips()
		if w := b.get(t, "/vary", "fr"); !hit(w) {
			t.Fatalf("B: %q", w.Header().Get("Cache-Status"))
		}
		if sb.RoundTrips() != before {
			t.Errorf("a local hit cost %d round trips", sb.RoundTrips()-before)
		}
		v.Add(1)
		if err := a.cache.InvalidatePaths(t.Context(), "/vary"); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("v%d fr", i+1)
		wait.For(t, 5*time.Second, "B to serve "+want, func() bool { return b.get(t, "/vary", "fr").Body.String() == want })
	}
}

// waitLocal waits until s's local tier is subscribed and in use.
func waitLocal(t testing.TB, s *redisstore.Store) {
	t.Helper()
	wait.For(t, 5*time.Second, "the local tier in use", s.LocalTierInUse)
}

// TestOwnInvalidationIsImmediate: an invalidation through an instance reaches its own local
// tier before it returns.
func TestOwnInvalidationIsImmediate(t *testing.T) {
	t.Parallel()
	s := newStore(t, redisstore.Options{})
	waitLocal(t, s)
	var v atomic.Int64
	a := newSite(t, s, &v)
	for i := range 50 {
		a.get(t, "/p")
		v.Add(1)
		if err := a.cache.InvalidatePaths(t.Context(), "/p"); err != nil {
			t.Fatal(err)
		}
		if w := a.get(t, "/p"); hit(w) || w.Body.String() != fmt.Sprintf("v%d ", i+1) {
			t.Fatalf("after own invalidation: %q %q", w.Header().Get("Cache-Status"), w.Body.String())
		}
	}
}

func TestForeignAndCorruptValuesAreMisses(t *testing.T) {
	t.Parallel()
	addr := redisAddr(t)
	prefix := uniquePrefix(t)
	s := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	var v atomic.Int64
	a := newSite(t, s, &v)
	a.get(t, "/p")
	raw := rawClient(t, addr)
	var keys []string
	wait.For(t, time.Second, "one entry key in Redis", func() bool {
		keys, _ = raw.Do(t.Context(), raw.B().Keys().Pattern("{"+prefix+"}:e:*").Build()).AsStrSlice()
		return len(keys) == 1
	})
	stamp := "{" + prefix + "}:t:/p"
	clock := "{" + prefix + "}:clock"
	for _, cmd := range [][]string{
		{"HSET", keys[0], "v", "garbage"},
		{"DEL", keys[0]},
		{"SET", keys[0], "a string, not a hash"},
		{"SET", stamp, "not-a-number"},
		{"DEL", stamp},
		{"EVAL", "redis.call('DEL', KEYS[1]) return redis.call('HSET', KEYS[1], 'x', '1')", "1", stamp},
		{"SET", clock, "a string, not a hash"},
		{"HSET", clock, "c", "not-a-number"},
		{"HDEL", clock, "f"},
	} {
		a.get(t, "/p") // make sure something valid was there
		if err := raw.Do(t.Context(), raw.B().Arbitrary(cmd...).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		errs := s.Errors()
		w := a.get(t, "/p")
		if hit(w) || w.Code != 200 {
			t.Errorf("after %v: %d %q, want a clean miss", cmd, w.Code, w.Header().Get("Cache-Status"))
		}
		// A stamp that was missing or not ours is recreated at the clock by the store, which
		// refuses the entry if it was born before (it cannot tell what the stamp said): the
		// next miss stores it.
		wait.For(t, time.Second, fmt.Sprintf("a hit on /p after %v", cmd), func() bool { return hit(a.get(t, "/p")) })
		if n := s.Errors() - errs; n != 0 {
			t.Errorf("after %v: %d store errors, want none", cmd, n)
		}
		if err := a.cache.InvalidatePaths(t.Context(), "/p"); err != nil {
			t.Errorf("after %v: Invalidate: %v", cmd, err)
		}
	}
}

// TestClockLoss: if Redis loses the clock (eviction, a flush), every older entry is stale.
func TestClockLoss(t *testing.T) {
	t.Parallel()
	addr := redisAddr(t)
	prefix := uniquePrefix(t)
	s := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	var v atomic.Int64
	a := newSite(t, s, &v)
	a.get(t, "/p")
	raw := rawClient(t, addr)
	raw.Do(t.Context(), raw.B().Del().Key("{"+prefix+"}:clock").Build())
	if w := a.get(t, "/p"); hit(w) {
		t.Error("an entry older than the lost clock was served")
	}
	if w := a.get(t, "/p"); !hit(w) {
		t.Errorf("nothing stored after the clock was recreated: %q", w.Header().Get("Cache-Status"))
	}
}

// TestClockLossReachesLocalTiers: the recreated clock's floor is published, so that another
// instance's local tier forgets its older entries too.
func TestClockLossReachesLocalTiers(t *testing.T) {
	t.Parallel()
	ls := newLagSetup(t, 100*time.Millisecond)
	ls.fillLocal(t, "k", "/k")
	raw := rawClient(t, redisAddr(t))
	raw.Do(t.Context(), raw.B().Del().Key("{"+ls.prefix+"}:clock").Build())
	if _, err := ls.a.Get(t.Context(), "other"); err != nil { // recreates the clock
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, "B to forget k", func() bool {
		found, _ := ls.get(t.Context(), "k")
		return !found
	})
}

// TestStoreAfterStampEviction: a response whose rendering started before an invalidation is
// not stored when the invalidation's stamp was evicted in between; the next rendering is.
func TestStoreAfterStampEviction(t *testing.T) {
	t.Parallel()
	prefix := uniquePrefix(t)
	s := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	raw := rawClient(t, redisAddr(t))
	ctx := t.Context()
	entry := func(born uint64) *dumper.Entry {
		return &dumper.Entry{Status: 200, Body: []byte("x"), Tags: []string{"/k"}, Born: born, Stored: time.Now().UnixNano()}
	}
	// The tag is known: an entry carrying it was stored.
	l, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, 0, dumper.Item{Key: "k", Entry: entry(l.Now)}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Get(ctx, "k"); l.Entry == nil {
		t.Fatal("entry not stored")
	}

	born := l.Now // a rendering starts
	if err := s.Invalidate(ctx, "/k"); err != nil {
		t.Fatal(err)
	}
	if err := raw.Do(ctx, raw.B().Del().Key("{"+prefix+"}:t:/k").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, 0, dumper.Item{Key: "k", Entry: entry(born)}); err != nil {
		t.Fatal(err)
	}
	if l, err := s.Get(ctx, "k"); err != nil || l.Entry != nil {
		t.Fatalf("Get after a late store over an evicted stamp: entry %v, err %v; want a miss", l.Entry != nil, err)
	}
	l, err = s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, 0, dumper.Item{Key: "k", Entry: entry(l.Now)}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Get(ctx, "k"); l.Entry == nil {
		t.Error("the next rendering was not stored")
	}
}

// TestEntryTTL checks the lifetime each entry is given in Redis: the ttl of the Set, or
// MaxAge when the ttl is 0 or longer, in whole milliseconds. Redis's own clock cannot be
// moved, so the test reads the key's PTTL rather than waiting for it to run out: the PTTL is
// the lifetime minus the time since the Set, which the test measures, so the check is exact
// however slow the machine. The stamps of the entry's tags must outlive it.
func TestEntryTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		maxAge time.Duration // Options.MaxAge
		ttl    time.Duration
		want   time.Duration
	}{
		{"ttl", 0, time.Hour, time.Hour},
		{"ttl with a fraction of a millisecond", 0, time.Hour + 999*time.Microsecond, time.Hour},
		{"no ttl: MaxAge by default", 0, 0, 24 * time.Hour},
		{"ttl over MaxAge by default", 0, 48 * time.Hour, 24 * time.Hour},
		{"no ttl: MaxAge", 2 * time.Hour, 0, 2 * time.Hour},
		{"ttl under MaxAge", 2 * time.Hour, 90 * time.Minute, 90 * time.Minute},
		{"ttl over MaxAge", 2 * time.Hour, 3 * time.Hour, 2 * time.Hour},
	}
	raw := rawClient(t, redisAddr(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prefix := uniquePrefix(t)
			s := newStore(t, redisstore.Options{Prefix: prefix, Strict: true, MaxAge: tt.maxAge})
			ctx := t.Context()
			l, err := s.Get(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			e := &dumper.Entry{Status: 200, Body: []byte("x"), Tags: []string{"/k", "t"}, Born: l.Now, Stored: time.Now().UnixNano()}
			start := time.Now()
			if err := s.Set(ctx, tt.ttl, dumper.Item{Key: "k", Entry: e}); err != nil {
				t.Fatal(err)
			}
			pttl := func(key string) time.Duration {
				t.Helper()
				ms, err := raw.Do(ctx, raw.B().Pttl().Key(key).Build()).AsInt64()
				if err != nil {
					t.Fatalf("PTTL %s: %v", key, err)
				}
				if ms < 0 {
					t.Fatalf("PTTL %s = %d: no key, or no lifetime", key, ms)
				}
				return time.Duration(ms) * time.Millisecond
			}
			got := pttl("{" + prefix + "}:e:k")
			elapsed := time.Since(start)
			// Redis counts whole milliseconds: the PTTL may be up to 1 ms short of the
			// lifetime less the time elapsed.
			if got > tt.want || got < tt.want-elapsed-time.Millisecond {
				t.Errorf("PTTL of the entry = %v, %v after a Set with ttl %v; want %v less at most that", got, elapsed, tt.ttl, tt.want)
			}
			for _, tag := range e.Tags {
				if stamp := pttl("{" + prefix + "}:t:" + tag); stamp <= got {
					t.Errorf("PTTL of the stamp of %q = %v, want more than the entry's %v", tag, stamp, got)
				}
			}
		})
	}
}

// TestStartWhileRedisDown: an instance started during an outage comes up; lookups fail
// open until Redis is reachable, and an invalidation made meanwhile is applied then.
func TestStartWhileRedisDown(t *testing.T) {
	t.Parallel()
	p := testservice.StartRedis(t)
	p.Stop()
	prefix := uniquePrefix(t)
	s := newStore(t, redisstore.Options{URL: "redis://" + p.Addr(), Prefix: prefix, Timeout: 50 * time.Millisecond})
	ctx := t.Context()
	if _, err := s.Get(ctx, "k"); err == nil {
		t.Error("Get succeeded with Redis down")
	}
	if err := s.Invalidate(ctx, "/k"); err == nil {
		t.Error("Invalidate succeeded with Redis down")
	}
	p.Start()
	raw := rawClient(t, p.Addr())
	wait.For(t, 15*time.Second, "a lookup to succeed once Redis is up", func() bool {
		_, err := s.Get(ctx, "k")
		return err == nil
	})
	if n, err := raw.Do(ctx, raw.B().Exists().Key("{"+prefix+"}:t:/k").Build()).AsInt64(); err != nil || n != 1 {
		t.Errorf("the invalidation made while Redis was down was not applied (EXISTS = %d, %v)", n, err)
	}
	waitLocal(t, s)
}

// TestCloseWithPendingInvalidations: Close tries once more to apply invalidations held
// during an outage, and logs them if it cannot.
func TestCloseWithPendingInvalidations(t *testing.T) {
	t.Parallel()
	p := testservice.StartRedis(t)
	var buf syncBuffer
	s, err := redisstore.New(redisstore.Options{URL: "redis://" + p.Addr(), Prefix: uniquePrefix(t), Strict: true,
		Timeout: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
	if err := s.Invalidate(t.Context(), "/lost"); err == nil {
		t.Error("Invalidate succeeded with Redis down")
	}
	start := time.Now()
	if err := s.Close(); err == nil {
		t.Error("Close reported no error with invalidations lost")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if log := buf.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "/lost") {
		t.Errorf("the lost invalidation was not logged at Error level:\n%s", log)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRedisDown stops the test's own Redis: requests are served by the handler, the
// invalidation made meanwhile is kept and applied when Redis is back, and the page cached
// before the outage is never served after it.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"strict", "local"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			p := testservice.StartRedis(t)
			s := newStore(t, redisstore.Options{URL: "redis://" + p.Addr(), Strict: mode == "strict", Timeout: 50 * time.Millisecond})
			if mode == "local" {
				waitLocal(t, s)
			}
			var v atomic.Int64
			a := newSite(t, s, &v)
			a.get(t, "/p")
			if w := a.get(t, "/p"); !hit(w) {
				t.Fatal("not cached to begin with")
			}

			// Slow (frozen) Redis: its data survives.
			p.Freeze()
			v.Add(1)
			if err := a.cache.InvalidatePaths(t.Context(), "/p"); err == nil {
				t.Error("an invalidation that could not reach Redis reported success")
			}
			for range 3 {
				w := a.get(t, "/p")
				if w.Code != 200 || w.Body.String() != "v1 " {
					t.Fatalf("while Redis is frozen: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"))
				}
			}
			p.Thaw()
			wait.For(t, 10*time.Second, "a hit once Redis has thawed", func() bool {
				w := a.get(t, "/p")
				if w.Body.String() != "v1 " {
					t.Fatalf("after Redis came back: served %q (%q)", w.Body.String(), w.Header().Get("Cache-Status"))
				}
				return hit(w)
			})

			// Crash: Redis restarts empty.
			p.Stop()
			v.Add(1)
			a.cache.InvalidatePaths(t.Context(), "/p")
			if w := a.get(t, "/p"); w.Code != 200 || w.Body.String() != "v2 " {
				t.Fatalf("while Redis is down: %d %q", w.Code, w.Body.String())
			}
			p.Start()
			wait.For(t, 10*time.Second, "a hit once Redis has restarted", func() bool {
				w := a.get(t, "/p")
				if w.Body.String() != "v2 " {
					t.Fatalf("after restart: served %q", w.Body.String())
				}
				return hit(w)
			})
			if a.cache.Stats().Errors == 0 {
				t.Error("no store errors were counted")
			}
		})
	}
}

// TestInvalidateWithABadTag: a tag Redis cannot carry (a newline) is reported, and the
// other tags of the same call are invalidated all the same.
func TestInvalidateWithABadTag(t *testing.T) {
	t.Parallel()
	s := newStore(t, redisstore.Options{Prefix: uniquePrefix(t), Strict: true})
	ctx := t.Context()
	l, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	e := &dumper.Entry{Status: 200, Body: []byte("x"), Tags: []string{"/k", "product:42"}, Born: l.Now, Stored: time.Now().UnixNano()}
	if err := s.Set(ctx, 0, dumper.Item{Key: "k", Entry: e}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Get(ctx, "k"); l.Entry == nil {
		t.Fatal("entry not stored")
	}
	if err := s.Invalidate(ctx, "product:42", "label:summer\nsale"); err == nil {
		t.Error("Invalidate with a newline in a tag: no error")
	}
	if l, _ := s.Get(ctx, "k"); l.Entry != nil {
		t.Error("the entry tagged product:42 is still served after an invalidation that also named a bad tag")
	}
	if err := s.Invalidate(ctx, "\n"); err == nil {
		t.Error("Invalidate of a bad tag alone: no error")
	}
}
