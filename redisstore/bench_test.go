package redisstore_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/redisstore"
)

// discard is a ResponseWriter that keeps nothing and reuses its header map.
type discard struct {
	h      http.Header
	status int
}

func (w *discard) Header() http.Header         { return w.h }
func (w *discard) Write(p []byte) (int, error) { return len(p), nil }
func (w *discard) WriteHeader(code int)        { w.status = code }
func (w *discard) reset()                      { clear(w.h); w.status = 0 }

// BenchmarkStores serves a 4 KiB page through the cache on each store, with the bare handler
// as the baseline, and reports the round trips to Redis per request.
//
//	go test -run '^$' -bench Stores -benchmem ./redisstore/
func BenchmarkStores(b *testing.B) {
	body := bytes.Repeat([]byte("<p>Stracciatella</p>\n"), 4096/21+1)[:4096]
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Vary", "Accept-Language")
		w.Write(body)
	})
	stores := []struct {
		name string
		new  func(b *testing.B) dumper.Store
	}{
		{"memory", func(b *testing.B) dumper.Store {
			s, err := dumper.NewMemoryStore(0)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"redis-strict", func(b *testing.B) dumper.Store {
			return newStore(b, redisstore.Options{Strict: true, Timeout: time.Second})
		}},
		{"redis-local", func(b *testing.B) dumper.Store {
			s := newStore(b, redisstore.Options{Timeout: time.Second})
			waitLocal(b, s)
			return s
		}},
	}
	b.Run("bare", func(b *testing.B) {
		w, r := &discard{h: http.Header{}}, httptest.NewRequest("GET", "/p", nil)
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			page.ServeHTTP(w, r)
		}
	})
	for _, st := range stores {
		b.Run("hit/"+st.name, func(b *testing.B) {
			s := st.new(b)
			c, _ := dumper.New(dumper.Options{Store: s})
			h := c.Middleware(page)
			w, r := &discard{h: http.Header{}}, httptest.NewRequest("GET", "/p", nil)
			r.Header.Set("Accept-Language", "fr")
			for range 3 { // miss, hit from Redis, hit from the local tier if any
				w.reset()
				h.ServeHTTP(w, r)
			}
			trips := roundTrips(s)
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, r)
			}
			if got := w.h.Get("Cache-Status"); got != "dumper; hit" {
				b.Fatalf("Cache-Status %q", got)
			}
			b.ReportMetric(float64(roundTrips(s)-trips)/float64(b.N), "roundtrips/op")
		})
		b.Run("miss+store/"+st.name, func(b *testing.B) {
			s := st.new(b)
			c, _ := dumper.New(dumper.Options{Store: s})
			h := c.Middleware(page)
			w := &discard{h: http.Header{}}
			reqs := make([]*http.Request, 0, 1<<16)
			for i := range cap(reqs) {
				reqs = append(reqs, httptest.NewRequest("GET", "/p?i="+string(rune('a'+i%26))+itoa(i), nil))
			}
			trips := roundTrips(s)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, reqs[i%len(reqs)])
				i++
			}
			if i <= len(reqs) {
				if got := w.h.Get("Cache-Status"); got != "dumper; fwd=uri-miss; stored" {
					b.Fatalf("Cache-Status %q", got)
				}
			}
			b.ReportMetric(float64(roundTrips(s)-trips)/float64(b.N), "roundtrips/op")
		})
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func roundTrips(s dumper.Store) uint64 {
	if rs, ok := s.(*redisstore.Store); ok {
		return rs.RoundTrips()
	}
	return 0
}

// BenchmarkLocalTierLag measures how long an entry in instance B's local tier outlives an
// invalidation made through instance A: from A's Invalidate returning to B no longer serving
// the entry from memory. It reports the median and 99th percentile.
//
//	go test -run '^$' -bench LocalTierLag -benchtime 2000x ./redisstore/
func BenchmarkLocalTierLag(b *testing.B) {
	prefix := uniquePrefix(b)
	a := newStore(b, redisstore.Options{Prefix: prefix, Strict: true, Timeout: time.Second})
	bs := newStore(b, redisstore.Options{Prefix: prefix, Timeout: time.Second})
	waitLocal(b, bs)
	ctx := b.Context()
	lags := make([]time.Duration, 0, b.N)
	for b.Loop() {
		now, err := bs.Get(ctx, "k")
		if err != nil {
			b.Fatal(err)
		}
		e := &dumper.Entry{Status: 200, Body: []byte("x"), Tags: []string{"/k"}, Born: now.Now, Stored: time.Now().UnixNano()}
		if err := a.Set(ctx, 0, dumper.Item{Key: "k", Entry: e}); err != nil {
			b.Fatal(err)
		}
		if l, _ := bs.Get(ctx, "k"); l.Entry == nil { // from Redis, now also in B's memory
			b.Fatal("entry not found")
		}
		before := bs.RoundTrips()
		if l, _ := bs.Get(ctx, "k"); l.Entry == nil || bs.RoundTrips() != before {
			b.Fatal("entry not served from B's memory")
		}
		if err := a.Invalidate(ctx, "/k"); err != nil {
			b.Fatal(err)
		}
		done := time.Now()
		for {
			before := bs.RoundTrips()
			l, err := bs.Get(ctx, "k")
			if err != nil {
				b.Fatal(err)
			}
			if l.Entry == nil || bs.RoundTrips() != before {
				break // B's memory dropped it (and Redis, asked, has no valid entry)
			}
			// Yield: on a machine with few CPUs a loop that never does delays the
			// subscriber goroutine, and so the message it waits for, by a scheduler time
			// slice (10 ms), which is the benchmark's own doing, not the store's.
			runtime.Gosched()
		}
		lags = append(lags, time.Since(done))
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds()), "max-µs")
}

// BenchmarkLocalTierAfterBadMessage serves a hit from the local tier through the cache, as
// BenchmarkStores does, on a healthy tier and after a message the tier cannot use was
// published on its channel (foreign text; a corrupt message shaped like an invalidation)
// and the tier is back on: a hit must cost what it cost before, with no round trip.
// back-on-µs is how long the tier was off after the message.
//
//	go test -run '^$' -bench LocalTierAfterBadMessage -benchmem ./redisstore/
func BenchmarkLocalTierAfterBadMessage(b *testing.B) {
	body := bytes.Repeat([]byte("<p>Stracciatella</p>\n"), 4096/21+1)[:4096]
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Vary", "Accept-Language")
		w.Write(body)
	})
	for _, bad := range []struct{ name, msg string }{
		{"healthy", ""},
		{"after-foreign", "hello from another program"},
		{"after-unreadable", "c not-a-clock\n/p"},
	} {
		b.Run(bad.name, func(b *testing.B) {
			prefix := uniquePrefix(b)
			s := newStore(b, redisstore.Options{Prefix: prefix, Timeout: time.Second})
			wait.For(b, 5*time.Second, "the local tier on", s.LocalTierInUse)
			c, _ := dumper.New(dumper.Options{Store: s})
			h := c.Middleware(page)
			w, r := &discard{h: http.Header{}}, httptest.NewRequest("GET", "/p", nil)
			r.Header.Set("Accept-Language", "fr")
			serve := func() {
				for range 3 { // a miss or a hit from Redis, then hits from the local tier
					w.reset()
					h.ServeHTTP(w, r)
				}
			}
			serve()
			var backOn time.Duration
			if bad.msg != "" {
				raw := rawClient(b, redisAddr(b))
				before := s.Stats()
				if err := raw.Do(b.Context(), raw.B().Publish().Channel("{"+prefix+"}:inv").Message(bad.msg).Build()).Error(); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				wait.For(b, 5*time.Second, "the tier back on", func() bool {
					st := s.Stats()
					return st.ChannelForeign+st.ChannelUnreadable > before.ChannelForeign+before.ChannelUnreadable && s.LocalTierInUse()
				})
				backOn = time.Since(start)
				serve()
			}
			trips := s.RoundTrips()
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, r)
			}
			if got := w.h.Get("Cache-Status"); got != "dumper; hit" {
				b.Fatalf("Cache-Status %q", got)
			}
			b.ReportMetric(float64(s.RoundTrips()-trips)/float64(b.N), "roundtrips/op")
			if bad.msg != "" {
				b.ReportMetric(float64(backOn.Microseconds()), "back-on-µs")
			}
		})
	}
}
