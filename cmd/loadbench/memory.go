package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dumperhq/dumper"
)

// memBodySize is the body of every entry in memory mode.
const memBodySize = 4 << 10

// memResult is one entry count's figures.
type memResult struct {
	n                int
	heapDelta        uint64        // live heap after filling and GC, minus before
	perEntry         float64       // (heapDelta - n*body) / n
	storeEstimate    float64       // the store's own accounting per entry, minus the body
	fill             time.Duration // filling through the middleware (n misses)
	hitMean, hitP99  time.Duration // hits on random keys
	hitMin           time.Duration // fastest round's mean
	hotMean          time.Duration // hits on 1,000 random keys only: the lookup without DRAM misses
	allocsPerHit     float64
	evictions        uint64
	entries          int64
	hits, hitsWanted int
	firstNonHit      string // the Cache-Status and path of the first lookup that was not a hit
}

// runMemory fills a memory store with n entries of 4 KiB through the middleware, for each
// n of -entries, and reports the heap the entries take beyond their bodies and the latency
// of hits on random keys.
func runMemory(f *flags) error {
	var ns []int
	for _, s := range strings.Split(f.memSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad -entries %q", f.memSizes)
		}
		ns = append(ns, n)
	}
	m := machine()
	// Keep the heap close to what is live while filling: the 1M case holds about 5 GiB.
	debug.SetGCPercent(25)
	var out []memResult
	for _, n := range ns {
		fmt.Fprintf(os.Stderr, "load: memory: %d entries\n", n)
		r, err := measureMemory(n)
		if err != nil {
			return err
		}
		out = append(out, r)
	}
	fmt.Printf("\n| entries of 4 KiB | heap beyond bodies | per entry beyond body | store's own estimate per entry | hit mean, uniform over all (min of rounds) | hit p99, uniform | hit mean, 1,000 hot keys | allocs/hit | fill (misses) | lookups that were not hits |\n")
	fmt.Printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range out {
		fmt.Printf("| %d | %.1f MiB | %.0f B | %.0f B | %d ns (%d ns) | %d ns | %d ns | %.1f | %.1f s | %d of %d |\n",
			r.n, float64(r.heapDelta-uint64(r.n)*memBodySize)/(1<<20), r.perEntry, r.storeEstimate,
			r.hitMean.Nanoseconds(), r.hitMin.Nanoseconds(), r.hitP99.Nanoseconds(), r.hotMean.Nanoseconds(), r.allocsPerHit, r.fill.Seconds(), r.hitsWanted-r.hits, r.hitsWanted)
	}
	fmt.Println()
	fmt.Printf("- Machine: %s CPUs, %s, Linux %s; %s; GOMAXPROCS=%d; load average %s.\n", m.cpus, m.model, m.kernel, m.goVersion, runtime.GOMAXPROCS(0), loadavg())
	fmt.Printf("- Command: `go run ./cmd/loadbench %s`. Heap: runtime.MemStats.HeapAlloc after runtime.GC, before and after the fill; GOGC=25 while filling.\n", strings.Join(os.Args[1:], " "))
	fmt.Println("- Hits: one goroutine, c.Middleware(handler).ServeHTTP into a writer that discards the body, one reused *http.Request whose path and RequestURI are set to a random stored key (65,536 keys drawn uniformly from all n, or from 1,000 keys spread over them); p99 from per-op times, which include two time.Now calls.")
	return nil
}

func measureMemory(n int) (memResult, error) {
	res := memResult{n: n}
	body := bytes.Repeat([]byte("<p>Pistachio, hazelnut, stracciatella and lemon sorbet.</p>\n"), memBodySize/60+1)[:memBodySize]
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(body)
	})

	before := liveHeap()
	c, err := dumper.New(dumper.Options{MaxBytes: int64(n) * 8 << 10})
	if err != nil {
		return res, err
	}
	mw := c.Middleware(handler)
	start := time.Now()
	for i := range n {
		req := httptest.NewRequest(http.MethodGet, "http://bench.local/p/"+strconv.Itoa(i), nil)
		mw.ServeHTTP(newDiscard(), req)
	}
	res.fill = time.Since(start)
	st := c.Stats()
	res.entries, res.evictions = st.Entries, st.Evictions
	if st.Entries != int64(n) || st.Evictions != 0 {
		return res, fmt.Errorf("memory: %d entries held, %d evicted, want %d and 0", st.Entries, st.Evictions, n)
	}
	after := liveHeap()
	res.heapDelta = after - before
	res.perEntry = (float64(res.heapDelta) - float64(n)*memBodySize) / float64(n)
	res.storeEstimate = float64(st.Bytes)/float64(n) - memBodySize

	// Hits on random stored keys.
	r := rand.New(rand.NewPCG(uint64(n), 9))
	paths := make([]string, 1<<16)
	for k := range paths {
		paths[k] = "/p/" + strconv.Itoa(r.IntN(n))
	}
	req := httptest.NewRequest(http.MethodGet, "http://bench.local/", nil)
	w := newDiscard()
	const perRound, rounds = 1 << 18, 5
	lat := make([]int64, 0, perRound)
	var means []time.Duration
	var ms0, ms1 runtime.MemStats
	for round := range rounds {
		lat = lat[:0]
		runtime.ReadMemStats(&ms0)
		t0 := time.Now()
		for k := range perRound {
			req.URL.Path = paths[k&(len(paths)-1)]
			req.RequestURI = req.URL.Path // the cache keys on what the client sent
			w.reset()
			s := time.Now()
			mw.ServeHTTP(w, req)
			lat = append(lat, int64(time.Since(s)))
			if round == 0 {
				res.hitsWanted++
				if cs := w.h["Cache-Status"]; len(cs) == 1 && cs[0] == "dumper; hit" {
					res.hits++
				} else if res.firstNonHit == "" {
					res.firstNonHit = fmt.Sprintf("%q on %s", cs, req.URL.Path)
				}
			}
		}
		means = append(means, time.Since(t0)/perRound)
		runtime.ReadMemStats(&ms1)
		if round == 0 {
			res.allocsPerHit = float64(ms1.Mallocs-ms0.Mallocs) / perRound
		}
	}
	if res.hits != res.hitsWanted {
		fmt.Fprintf(os.Stderr, "load: memory: %d entries: %d of %d lookups were hits; first other: %s\n", n, res.hits, res.hitsWanted, res.firstNonHit)
	}
	slices.Sort(means)
	res.hitMean, res.hitMin = means[len(means)/2], means[0]

	// The same, over a hot set of 1,000 keys, which fits in the CPU caches whatever n is.
	for k := range paths {
		paths[k] = "/p/" + strconv.Itoa(r.IntN(min(n, 1000))*(n/min(n, 1000)))
	}
	means = means[:0]
	for range rounds {
		t0 := time.Now()
		for k := range perRound {
			req.URL.Path = paths[k&(len(paths)-1)]
			req.RequestURI = req.URL.Path
			w.reset()
			mw.ServeHTTP(w, req)
		}
		means = append(means, time.Since(t0)/perRound)
	}
	slices.Sort(means)
	res.hotMean = means[len(means)/2]
	slices.Sort(lat)
	res.hitP99 = time.Duration(lat[len(lat)*99/100])
	runtime.KeepAlive(mw)
	c.Close()
	return res, nil
}

// liveHeap returns the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// discard is an http.ResponseWriter that keeps the header and drops the body.
type discard struct{ h http.Header }

func newDiscard() *discard                     { return &discard{h: make(http.Header, 16)} }
func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) reset()                      { clear(d.h) }
