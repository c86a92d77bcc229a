package dumper_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
)

// The benchmarks measure the cache, not the recorder: they serve into a discardWriter whose
// header map is cleared and reused between iterations, reuse one *http.Request, and compare
// with BenchmarkBare, the same handler without the cache, measured in the same run. See
// docs/benchmarks.md for the command and the figures.

// benchSizes are the body sizes of the sub-benchmarks.
var benchSizes = []struct {
	name string
	n    int
}{
	{"4KiB", 4 << 10},
	{"64KiB", 64 << 10},
}

// discardWriter is an http.ResponseWriter that keeps nothing but the status, and whose header
// map survives reset, so that serving into it allocates nothing of its own.
type discardWriter struct {
	h      http.Header
	status int
}

func newDiscardWriter() *discardWriter { return &discardWriter{h: make(http.Header, 16)} }

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) reset() {
	clear(w.h)
	w.status = 0
}

// benchBody returns n bytes of HTML-ish text.
func benchBody(n int) []byte {
	const line = "<p>Pistachio, hazelnut, stracciatella and lemon sorbet.</p>\n"
	return bytes.Repeat([]byte(line), n/len(line)+1)[:n]
}

// pageHandler is the handler of every benchmark: it sets Content-Type, Vary when vary is set,
// and writes body.
func pageHandler(body []byte, vary string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		if vary != "" {
			h.Set("Vary", vary)
		}
		_, _ = w.Write(body)
	})
}

// newBenchCache returns a cache with a memory store of maxBytes (0: the default), closed when
// the benchmark ends.
func newBenchCache(b *testing.B, maxBytes int64) *dumper.Cache {
	b.Helper()
	c, err := dumper.New(dumper.Options{MaxBytes: maxBytes})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// serveOnce serves r into w and checks the status and, if wantCS is not empty, that the
// Cache-Status contains it. It runs outside the timed loops.
func serveOnce(b *testing.B, h http.Handler, w *discardWriter, r *http.Request, wantStatus int, wantCS string) {
	b.Helper()
	w.reset()
	h.ServeHTTP(w, r)
	checkServed(b, w, wantStatus, wantCS)
}

func checkServed(b *testing.B, w *discardWriter, wantStatus int, wantCS string) {
	b.Helper()
	if w.status != wantStatus {
		b.Fatalf("status %d, want %d", w.status, wantStatus)
	}
	if cs := w.h.Get("Cache-Status"); !strings.Contains(cs, wantCS) {
		b.Fatalf("Cache-Status %q, want it to contain %q", cs, wantCS)
	}
}

// BenchmarkBare is the baseline, measured three ways:
//   - handler: the page handler alone (it sets Content-Type and writes the body);
//   - samebytes: a handler writing the same bytes as a hit does — every header field the
//     cache sends (Content-Type, Content-Length, ETag, Cache-Control,
//     Cache-Status) set the usual way, with Header().Set, and the body;
//   - limit: the same bytes with header values built once and assigned directly: the least
//     any Go handler can do to send this response.
func BenchmarkBare(b *testing.B) {
	for _, size := range benchSizes {
		body := benchBody(size.n)
		sent := cachedHeader(b, body)
		handlers := []struct {
			name string
			h    http.Handler
		}{
			{"handler", pageHandler(body, "")},
			{"samebytes", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				for k, v := range sent {
					h.Set(k, v[0])
				}
				_, _ = w.Write(body)
			})},
			{"limit", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				for k, v := range sent {
					h[k] = v
				}
				_, _ = w.Write(body)
			})},
		}
		for _, hh := range handlers {
			b.Run(hh.name+"/"+size.name, func(b *testing.B) {
				r := httptest.NewRequest(http.MethodGet, "/p", nil)
				w := newDiscardWriter()
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					w.reset()
					hh.h.ServeHTTP(w, r)
				}
				checkServed(b, w, http.StatusOK, "")
			})
		}
	}
}

// cachedHeader returns the header fields the cache sends with a hit on the page handler's
// response of body.
func cachedHeader(b *testing.B, body []byte) http.Header {
	b.Helper()
	c := newBenchCache(b, 0)
	h := c.Middleware(pageHandler(body, ""))
	r := httptest.NewRequest(http.MethodGet, "/p", nil)
	w := newDiscardWriter()
	serveOnce(b, h, w, r, http.StatusOK, "stored")
	serveOnce(b, h, w, r, http.StatusOK, "dumper; hit")
	return w.h.Clone()
}

// BenchmarkHit serves a stored response, without and with Vary: Accept-Language (two store
// lookups: the variant record, then the variant).
//
// Requests are in origin form ("/p", Host example.com), as browsers send them and net/http
// servers receive them.
func BenchmarkHit(b *testing.B) {
	for _, vary := range []string{"", "Accept-Language"} {
		name := "novary"
		if vary != "" {
			name = "vary"
		}
		for _, size := range benchSizes {
			b.Run(name+"/"+size.name, func(b *testing.B) {
				c := newBenchCache(b, 0)
				h := c.Middleware(pageHandler(benchBody(size.n), vary))
				r := httptest.NewRequest(http.MethodGet, "/p", nil)
				r.Header.Set("Accept-Language", "fr")
				w := newDiscardWriter()
				serveOnce(b, h, w, r, http.StatusOK, "fwd=uri-miss; stored")
				serveOnce(b, h, w, r, http.StatusOK, "dumper; hit")
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					w.reset()
					h.ServeHTTP(w, r)
				}
				checkServed(b, w, http.StatusOK, "dumper; hit")
			})
		}
	}
}

// BenchmarkHit304 answers a revalidation whose If-None-Match matches the stored ETag.
func BenchmarkHit304(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			c := newBenchCache(b, 0)
			h := c.Middleware(pageHandler(benchBody(size.n), ""))
			r := httptest.NewRequest(http.MethodGet, "/p", nil)
			w := newDiscardWriter()
			serveOnce(b, h, w, r, http.StatusOK, "stored")
			r.Header.Set("If-None-Match", w.h.Get("Etag"))
			serveOnce(b, h, w, r, http.StatusNotModified, "dumper; hit")
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, r)
			}
			checkServed(b, w, http.StatusNotModified, "dumper; hit")
		})
	}
}

// BenchmarkMissStore renders and stores a response in each iteration: every request has a
// query string of its own (?v=N), so each is a miss under a new key, and nothing is
// invalidated. So that no iteration pays for an eviction, the cache is replaced by an empty
// one, with the timer stopped, before it could fill up; the query strings are built then too.
func BenchmarkMissStore(b *testing.B) {
	const maxBytes = 256 << 20
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			next := pageHandler(benchBody(size.n), "")
			// An entry weighs its body, its key and headers (well under 1 KiB); fill at most
			// half the budget.
			batch := maxBytes / 2 / (size.n + 1<<10)
			queries := make([]string, batch)
			r := httptest.NewRequest(http.MethodGet, "/p", nil)
			w := newDiscardWriter()
			var (
				c *dumper.Cache
				h http.Handler
			)
			refill := func(from int) {
				if c != nil {
					_ = c.Close()
				}
				var err error
				c, err = dumper.New(dumper.Options{MaxBytes: maxBytes})
				if err != nil {
					b.Fatal(err)
				}
				h = c.Middleware(next)
				for j := range queries {
					queries[j] = "v=" + strconv.Itoa(from+j)
				}
			}
			refill(0)
			defer func() { _ = c.Close() }()
			serveOnce(b, h, w, r, http.StatusOK, "fwd=uri-miss; stored")
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i > 0 && i%batch == 0 {
					b.StopTimer()
					refill(i)
					b.StartTimer()
				}
				r.URL.RawQuery = queries[i%batch]
				w.reset()
				h.ServeHTTP(w, r)
				i++
			}
			checkServed(b, w, http.StatusOK, "fwd=uri-miss; stored")
			if s := c.Stats(); s.Evictions != 0 {
				b.Errorf("%d evictions: the cache is too small for a batch", s.Evictions)
			}
		})
	}
}

// BenchmarkInvalidatePath invalidates one path with 1 and with 10,000 variants of it stored
// (distinct query strings × Accept-Language values, the response varying on
// Accept-Language). Invalidation only stamps the path's tag on the store's clock: nothing is
// indexed or deleted, so the variants stay stored (to be dropped lazily when read) and every
// iteration faces the same 10,000 entries. After the loop the benchmark checks that they are
// still held and that one of them is now a miss.
func BenchmarkInvalidatePath(b *testing.B) {
	langs := []string{"en", "fr", "de", "it", "es", "nl", "pt", "pl", "sv", "da"}
	for _, size := range benchSizes {
		for _, variants := range []int{1, 10_000} {
			b.Run(size.name+"/variants="+strconv.Itoa(variants), func(b *testing.B) {
				benchInvalidatePath(b, langs, size.n, variants)
			})
		}
	}
}

func benchInvalidatePath(b *testing.B, langs []string, bodySize, variants int) {
	c := newBenchCache(b, 1<<30)
	h := c.Middleware(pageHandler(benchBody(bodySize), "Accept-Language"))
	r := httptest.NewRequest(http.MethodGet, "/p", nil)
	w := newDiscardWriter()
	for i := range variants {
		r.URL.RawQuery = "q=" + strconv.Itoa(i/len(langs))
		r.Header.Set("Accept-Language", langs[i%len(langs)])
		serveOnce(b, h, w, r, http.StatusOK, "stored")
	}
	// One variant record per query string, plus the variants.
	wantEntries := int64(variants + (variants+len(langs)-1)/len(langs))
	if got := c.Stats().Entries; got != wantEntries {
		b.Fatalf("%d entries stored, want %d", got, wantEntries)
	}
	serveOnce(b, h, w, r, http.StatusOK, "dumper; hit")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.InvalidatePaths(ctx, "/p"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := c.Stats().Entries; got != wantEntries {
		b.Fatalf("%d entries after invalidating, want %d still stored", got, wantEntries)
	}
	serveOnce(b, h, w, r, http.StatusOK, "fwd=stale")
}

// BenchmarkHitParallel compares hits with the bare handler on every P. Each goroutine has its
// own writer and request.
func BenchmarkHitParallel(b *testing.B) {
	for _, cached := range []bool{false, true} {
		name := "bare"
		if cached {
			name = "hit"
		}
		for _, size := range benchSizes {
			b.Run(name+"/"+size.name, func(b *testing.B) {
				h := pageHandler(benchBody(size.n), "")
				if cached {
					h = newBenchCache(b, 0).Middleware(h)
				}
				r0 := httptest.NewRequest(http.MethodGet, "/p", nil)
				serveOnce(b, h, newDiscardWriter(), r0, http.StatusOK, "")
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					r := r0.Clone(context.Background())
					w := newDiscardWriter()
					for pb.Next() {
						w.reset()
						h.ServeHTTP(w, r)
					}
					if cached && w.status != 0 && w.h.Get("Cache-Status") != "dumper; hit" {
						b.Errorf("Cache-Status %q, want a hit", w.h.Get("Cache-Status"))
					}
				})
			})
		}
	}
}

// BenchmarkEntryMemory fills a memory store through the middleware with n responses (GET
// /p/N, a body of the given size, the handler setting Content-Type only) and reports what
// each entry costs beyond its body and key: the live heap after a collection (HeapAlloc after
// runtime.GC), before and after the fill, per entry, minus the body and key lengths
// (B/entry), and what the store charges for it (charged-B/entry: Stats().Bytes the same
// way). The budget leaves room for every entry: nothing is evicted. The 1M case needs about
// 5 GiB; run it with
//
//	go test -run '^$' -bench EntryMemory -benchtime 1x .
func BenchmarkEntryMemory(b *testing.B) {
	// The process's one-time set-up (the CRC-64 table, the allocator's first spans…) is no
	// entry's: a first fill of each size, not measured, does it.
	entryMemory(b, 256, 1000)
	entryMemory(b, 4<<10, 1000)
	for _, size := range []struct {
		name string
		n    int
	}{{"256B", 256}, {"4KiB", 4 << 10}} {
		for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
			b.Run(size.name+"/entries="+strconv.Itoa(n), func(b *testing.B) {
				var beyond, charged float64
				for range b.N {
					h, c := entryMemory(b, size.n, n)
					beyond += h
					charged += c
				}
				b.ReportMetric(beyond/float64(b.N), "B/entry")
				b.ReportMetric(charged/float64(b.N), "charged-B/entry")
			})
		}
	}
}

// entryMemory fills a cache with n entries of bodySize bytes and returns the heap and the
// charge per entry beyond body and key.
func entryMemory(b *testing.B, bodySize, n int) (heap, charged float64) {
	b.Helper()
	body := benchBody(bodySize)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(body)
	})
	c := newBenchCache(b, int64(n)*int64(bodySize+1024)+8<<20)
	mw := c.Middleware(handler)
	w := newDiscardWriter()
	before := liveHeap()
	keys := 0
	for i := range n {
		target := "/p/" + strconv.Itoa(i)
		r := httptest.NewRequest(http.MethodGet, target, nil)
		keys += len("G http://example.com") + len(target)
		w.reset()
		mw.ServeHTTP(w, r)
	}
	after := liveHeap()
	st := c.Stats()
	if st.Entries != int64(n) || st.Evictions != 0 {
		b.Fatalf("%d entries held, %d evicted; want %d and none", st.Entries, st.Evictions, n)
	}
	beyond := float64(n*bodySize + keys)
	heap = (float64(after) - float64(before) - beyond) / float64(n)
	charged = (float64(st.Bytes) - beyond) / float64(n)
	runtime.KeepAlive(mw)
	return heap, charged
}
