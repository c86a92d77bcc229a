package dumper_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
)

// BenchmarkSoftUnderWrites serves an expensive page (a render of 20 ms) to 32 readers, each
// sending a request every 10 ms (3,200 requests/s in all, open loop, so that the latencies
// measure the cache rather than a saturated scheduler), while a writer invalidates the page
// every 50 ms, with hard invalidation (the default) and with a stale-while-revalidate window.
// b.N is the number of requests. It reports the readers' p50, p99 and p99.9 latency, the
// renders per second and the share of stale responses. See docs/benchmarks.md.
func BenchmarkSoftUnderWrites(b *testing.B) {
	const render = 20 * time.Millisecond
	const writeEvery = 50 * time.Millisecond
	for _, mode := range []struct {
		name   string
		policy dumper.Policy
	}{
		{"hard", dumper.Policy{}},
		{"soft", dumper.Policy{StaleWhileRevalidate: 10 * time.Second}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			c, err := dumper.New(dumper.Options{Policy: mode.policy})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var renders atomic.Int64
			mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				renders.Add(1)
				time.Sleep(render) // the database's work
				w.Write(benchBody(4 << 10))
			}))
			do := func() {
				w := newDiscardWriter()
				mw.ServeHTTP(w, httptest.NewRequest("GET", "/report", nil))
			}
			do()
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() {
				tick := time.NewTicker(writeEvery)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						_ = c.InvalidatePaths(ctx, "/report")
					}
				}
			})
			const readers = 32
			const pace = 10 * time.Millisecond
			var mu sync.Mutex
			var lat []time.Duration
			renders.Store(0)
			b.ResetTimer()
			start := time.Now()
			var rg sync.WaitGroup
			for i := range readers {
				n := b.N / readers
				if i < b.N%readers {
					n++
				}
				rg.Go(func() {
					tick := time.NewTicker(pace)
					defer tick.Stop()
					mine := make([]time.Duration, 0, n)
					for range n {
						<-tick.C
						t := time.Now()
						do()
						mine = append(mine, time.Since(t))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
			}
			rg.Wait()
			elapsed := time.Since(start)
			stop()
			wg.Wait()
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(0.999), "p99.9-ms")
			b.ReportMetric(float64(renders.Load())/elapsed.Seconds(), "renders/s")
			s := c.Stats()
			b.ReportMetric(float64(s.StaleServed)/float64(len(lat)), "stale/op")
		})
	}
}
