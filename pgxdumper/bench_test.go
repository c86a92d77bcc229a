//go:build unix

package pgxdumper_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/pgxdumper"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// benchSchema is the benchmarks' database: 1,000 authors and 5,000 posts.
var benchSchema = []string{
	`CREATE TABLE authors (id int PRIMARY KEY, slug text UNIQUE NOT NULL, name text NOT NULL, score int NOT NULL)`,
	`CREATE TABLE posts (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id), title text NOT NULL)`,
	`INSERT INTO authors SELECT i, 'a' || i, 'Author ' || i, i % 10 FROM generate_series(1, 1000) i`,
	`INSERT INTO posts SELECT i, 1 + i % 1000, 'Post ' || i FROM generate_series(1, 5000) i`,
	`ANALYZE`,
}

// benchPools returns pools on a seeded schema of the benchmark's own, one for each of
// captures: with the tracer (true) or without any (false), the configuration otherwise the
// same, each with a cache of its own.
func benchPools(b *testing.B, captures ...bool) (pools []*pgxpool.Pool, caches []*dumper.Cache) {
	b.Helper()
	ctx := context.Background()
	_, dsn := testservice.PostgresSchema(b, "pgxbench")
	direct, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range benchSchema {
		if _, err := direct.Exec(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	direct.Close(ctx)
	for _, capture := range captures {
		cache, err := dumper.New(dumper.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cache.Close() })
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			b.Fatal(err)
		}
		if capture {
			cfg.ConnConfig.Tracer = pgxdumper.NewTracer(cache, nil)
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		pools, caches = append(pools, pool), append(caches, cache)
	}
	return pools, caches
}

// fivePages renders a page that runs five queries: a key lookup, a read of posts by an IN
// on their foreign key (as a preload makes it), a join narrowed by the author's slug, a
// list in order and a count. The author is the query's id.
func fiveQueries(pool *pgxpool.Pool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, _ := strconv.Atoi(r.URL.Query().Get("id"))
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		list := func(sql string, args ...any) {
			rows, err := pool.Query(ctx, sql, args...)
			must(err)
			for rows.Next() {
				var n int
				var s string
				must(rows.Scan(&n, &s))
				fmt.Fprintln(w, n, s)
			}
			must(rows.Err())
		}
		var name, slug string
		var n int
		must(pool.QueryRow(ctx, `SELECT name, slug FROM authors WHERE id = $1`, id).Scan(&name, &slug))
		list(`SELECT id, title FROM posts WHERE author_id IN ($1, $2, $3) ORDER BY id`, id, id+1, id+2)
		list(`SELECT p.id, p.title FROM posts p JOIN authors a ON a.id = p.author_id
			WHERE a.slug = $1 ORDER BY p.id LIMIT 10`, slug)
		list(`SELECT id, name FROM authors ORDER BY name LIMIT 20`)
		must(pool.QueryRow(ctx, `SELECT count(*) FROM authors WHERE score > $1`, id%10).Scan(&n))
		fmt.Fprintln(w, name, n)
	})
}

// missRequest is the i-th request of the miss path: a new path each time.
func missRequest(i int) *http.Request {
	return httptest.NewRequest(http.MethodGet, "/author?id="+strconv.Itoa(1+i%990)+"&n="+strconv.Itoa(i), nil)
}

// serveStored serves r and fails unless the response was stored: a capture that kept the
// page out of the cache would skip the store's work.
func serveStored(b *testing.B, h http.Handler, r *http.Request) {
	b.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Cache-Status"), "stored") {
		b.Fatalf("%s: %d, Cache-Status %q: %s", r.URL, w.Code, w.Header().Get("Cache-Status"), w.Body)
	}
}

// checkCapture fails unless the page of h, behind cache, is dropped by a change to the
// author it reads when capture is true, and kept when it is false: the benchmark measures
// what it says.
func checkCapture(b *testing.B, h http.Handler, cache *dumper.Cache, capture bool) {
	b.Helper()
	const path = "/author?id=5&check"
	serveStored(b, h, httptest.NewRequest(http.MethodGet, path, nil))
	if err := cache.InvalidateTags(context.Background(), dumper.RowTag("authors", "id", "5")); err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	if hit := strings.Contains(w.Header().Get("Cache-Status"), "hit"); hit == capture {
		b.Fatalf("capture %v: after a change to its author the page is served from the cache: %v", capture, hit)
	}
}

// median returns the median of ds, sorting them.
func median(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2])
}

// BenchmarkMissFiveQueries is the miss path of a page that runs five queries through a
// pgxpool, with the tracer and without it: each request is a new path, so it renders and
// stores. nocapture-parsed is nocapture in a process that has loaded the capture's parser
// (a traced pool has run the page once): its live heap holds the parser's tables too, so
// that the collector's share of the capture can be told from that of the parser's memory.
func BenchmarkMissFiveQueries(b *testing.B) {
	for _, bc := range []struct {
		name  string
		pools []bool // the first is measured; the others are traced pools run once
	}{{"capture", []bool{true}}, {"nocapture", []bool{false}}, {"nocapture-parsed", []bool{false, true}}} {
		b.Run(bc.name, func(b *testing.B) {
			pools, caches := benchPools(b, bc.pools...)
			for i := 1; i < len(pools); i++ {
				checkCapture(b, caches[i].Middleware(fiveQueries(pools[i])), caches[i], true)
			}
			h := caches[0].Middleware(fiveQueries(pools[0]))
			checkCapture(b, h, caches[0], bc.pools[0])
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), missRequest(i))
				i++
			}
		})
	}
}

// BenchmarkMissRatio runs the miss path of BenchmarkMissFiveQueries with and without the
// tracer in turns, in one loop, so that both see the same machine and the same database, and
// reports the ratio of the medians of their request times (capture/nocapture; the target is
// at most 1.05), which ignore the requests that other work held up, and the ratio of the
// process's CPU time spent in each (the client's own work, without the database's).
func BenchmarkMissRatio(b *testing.B) {
	pools, caches := benchPools(b, true, false)
	var hs [2]http.Handler
	for k := range hs {
		hs[k] = caches[k].Middleware(fiveQueries(pools[k]))
		checkCapture(b, hs[k], caches[k], k == 0)
	}
	var times [2][]time.Duration
	var cpu [2]time.Duration
	n := 0
	for b.Loop() {
		for j := range 2 {
			k := (n + j) % 2 // alternate which goes first
			r := missRequest(n)
			start, startCPU := time.Now(), cpuTime()
			hs[k].ServeHTTP(httptest.NewRecorder(), r)
			times[k] = append(times[k], time.Since(start))
			cpu[k] += cpuTime() - startCPU
		}
		n++
	}
	c, nc := median(times[0]), median(times[1])
	b.ReportMetric(c/nc, "capture/nocapture")
	b.ReportMetric(c, "ns/capture")
	b.ReportMetric(nc, "ns/nocapture")
	b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "cpu-capture/nocapture")
}

// cpuTime returns the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHitFiveQueries is the hit path of the same page, with the tracer and without: no
// query runs, so both allocate the same.
func BenchmarkHitFiveQueries(b *testing.B) {
	withAndWithout(b, func(b *testing.B, capture bool) {
		pools, caches := benchPools(b, capture)
		h := caches[0].Middleware(fiveQueries(pools[0]))
		serveStored(b, h, httptest.NewRequest(http.MethodGet, "/author?id=7", nil))
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/author?id=7", nil))
			if !strings.Contains(w.Header().Get("Cache-Status"), "hit") {
				b.Fatalf("not a hit: %q", w.Header().Get("Cache-Status"))
			}
		}
	})
}

// withAndWithout runs bench as the sub-benchmarks capture (with the tracer) and nocapture.
func withAndWithout(b *testing.B, bench func(b *testing.B, capture bool)) {
	b.Run("capture", func(b *testing.B) { bench(b, true) })
	b.Run("nocapture", func(b *testing.B) { bench(b, false) })
}

// BenchmarkReadOutsideRender runs a key lookup with no render in the context through the
// pool with the tracer and the one without it, in turns, and reports the ratio of the
// medians of their times (capture/nocapture) and of their CPU time; the sub-benchmarks give
// each one's allocations.
func BenchmarkReadOutsideRender(b *testing.B) {
	ctx := context.Background()
	lookup := func(b *testing.B, pool *pgxpool.Pool, i int) {
		var name string
		if err := pool.QueryRow(ctx, `SELECT name FROM authors WHERE id = $1`, 1+i%1000).Scan(&name); err != nil {
			b.Fatal(err)
		}
	}
	withAndWithout(b, func(b *testing.B, capture bool) {
		pools, _ := benchPools(b, capture)
		lookup(b, pools[0], 0) // the statement parsed and resolved: what follows is each read's cost
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			lookup(b, pools[0], i)
			i++
		}
	})
	b.Run("ratio", func(b *testing.B) {
		pools, _ := benchPools(b, true, false)
		lookup(b, pools[0], 0)
		lookup(b, pools[1], 0)
		var times [2][]time.Duration
		var cpu [2]time.Duration
		n := 0
		for b.Loop() {
			for j := range 2 {
				k := (n + j) % 2
				start, startCPU := time.Now(), cpuTime()
				lookup(b, pools[k], n)
				times[k] = append(times[k], time.Since(start))
				cpu[k] += cpuTime() - startCPU
			}
			n++
		}
		b.ReportMetric(median(times[0])/median(times[1]), "capture/nocapture")
		b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "cpu-capture/nocapture")
	})
}
