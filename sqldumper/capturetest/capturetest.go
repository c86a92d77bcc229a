// Package capturetest is the property test of automatic dependency capture through a data
// layer against a real PostgreSQL: generated tables (an integer primary key, a unique text
// column, a foreign key to another generated table, non-key columns), generated reads (key
// lookups, IN and ANY lists, scans, ranges, joins, subqueries, CTEs, unions, a view, raw SQL
// with constants) rendered as pages through a dumper cache, and generated writes (single-row
// INSERT, UPDATE and DELETE by key, key changes, bulk UPDATE by condition, DELETE by range,
// INSERT … SELECT, upserts, transactions, texts of several statements) made through the
// layers. After each write it re-runs every read on the database directly; every read whose
// result changed must carry, on the entry the cache holds, a tag the write stamped, and the
// cache must serve it fresh. Every data layer of dumper runs it ([Run]); a layer with an API
// of its own (an ORM: gormpg runs GORM) adds reads and writes of that API on the same tables
// ([Config.Reads], [Config.Write]), checked the same way, and may run them alone, on another
// database ([Config.OwnOnly]).
package capturetest

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the generator's connection
)

// A Layer is a data layer under test, which captures what it reads and writes.
type Layer struct {
	Name string
	// Query runs a read with ctx and returns its rows, each column as text and NULL as
	// "NULL".
	Query func(ctx context.Context, sql string, args ...any) ([][]string, error)
	// Exec runs a write.
	Exec func(ctx context.Context, sql string, args ...any) error
	// Tx runs fn in a transaction of the layer, committed if fn returns nil and rolled back
	// otherwise; exec runs a statement in it.
	Tx func(ctx context.Context, fn func(exec func(sql string, args ...any) error) error) error
}

// Config configures [Run].
type Config struct {
	// DSN points at a schema of the test's own (testservice.PostgresSchema), where Run
	// creates its tables.
	DSN string
	// Layers returns the layers to read and write through, invalidating through inv. They
	// must be opened on DSN.
	Layers func(inv dumper.Invalidator) []Layer
	// Seed seeds the generator; 0 means the environment's CAPTURE_SEED, or the time.
	Seed uint64
	// Writes is the number of writes; 0 means 300.
	Writes int

	// Direct, if not nil, is the database the run makes its tables in and reads ids and
	// slugs from, instead of DSN's. With OwnOnly it need not be PostgreSQL (SQLite, for an
	// ORM's layer); it is not closed.
	Direct *sql.DB
	// OwnOnly leaves out the generated SQL reads and writes: the run reads through Reads
	// and writes through Write (which must then return a write) only, and needs no
	// PostgreSQL. Layers may return no layer.
	OwnOnly bool

	// Setup, if not nil, are statements run after the generated tables are made and
	// filled: tables of the layer's own reads and writes (a join table of an ORM's models).
	Setup []string
	// Reads, if not nil, returns reads of a layer's own API (an ORM's queries) on the
	// generated tables, rendered as pages besides the generated SQL reads.
	Reads func(g *Gen) []Read
	// Write, if not nil, returns the next write of a layer's own API, or false to let the
	// generator make a SQL write through one of the layers.
	Write func(g *Gen) (Write, bool)
}

// A Read is a read of a layer's own API (an ORM's query), as a page renders it.
type Read struct {
	Desc string
	// Run runs the read with ctx and returns its result as text. Called outside a
	// render, it must record nothing and give the database's current result: the run
	// calls it so to check the page.
	Run func(ctx context.Context) (string, error)
}

// A Write is a write of a layer's own API.
type Write struct {
	Desc string
	// Run makes the write; its error is ignored (a write the database rejects is part of
	// the run).
	Run func(ctx context.Context) error
}

// Result holds the figures of a run.
type Result struct {
	Seed        uint64
	Writes      int // writes made (including those the database rejected)
	Checks      int // (read, write) pairs checked
	Changed     int // pairs where the write changed the read's result, of a stored page
	Invalidated int // pairs where the stored page carried a tag the write stamped
	Misses      int // changed but not invalidated: must be 0
	NotStored   int // pairs where the page was not stored (unclassifiable read)

	// ByWriter splits Changed and Invalidated by what made the write: the name of the
	// layer of a generated SQL write, or "own" for one of Config.Write.
	ByWriter map[string][2]int
}

// Ratio is the over-invalidation ratio: pages invalidated per page whose result changed.
func (r Result) Ratio() float64 {
	if r.Changed == 0 {
		return 0
	}
	return float64(r.Invalidated) / float64(r.Changed)
}

func (r Result) String() string {
	s := fmt.Sprintf("seed=%d writes=%d checks=%d changed=%d invalidated=%d misses=%d not-stored=%d over-invalidation=%.2f",
		r.Seed, r.Writes, r.Checks, r.Changed, r.Invalidated, r.Misses, r.NotStored, r.Ratio())
	if len(r.ByWriter) > 1 {
		for _, name := range slices.Sorted(maps.Keys(r.ByWriter)) {
			c := r.ByWriter[name]
			ratio := 0.0
			if c[0] > 0 {
				ratio = float64(c[1]) / float64(c[0])
			}
			s += fmt.Sprintf("; writes through %s: changed=%d invalidated=%d over-invalidation=%.2f", name, c[0], c[1], ratio)
		}
	}
	return s
}

// Run runs the property test and reports each miss and each stale page as an error of t.
func Run(t *testing.T, cfg Config) Result {
	t.Helper()
	seed := cfg.Seed
	if seed == 0 {
		if s, err := strconv.ParseUint(os.Getenv("CAPTURE_SEED"), 10, 64); err == nil {
			seed = s
		} else {
			seed = uint64(time.Now().UnixNano())
		}
	}
	nWrites := cfg.Writes
	if nWrites == 0 {
		nWrites = 300
	}
	t.Logf("capturetest seed %d (set CAPTURE_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	direct := cfg.Direct
	if direct == nil {
		var err error
		if direct, err = sql.Open("pgx", cfg.DSN); err != nil {
			t.Fatal(err)
		}
		defer direct.Close()
	}
	g := &gen{rng: rng, direct: direct}
	g.setup(t)
	for _, q := range cfg.Setup {
		g.must(t, q)
	}

	store := &tagStore{tags: map[string][]string{}}
	ms, err := dumper.NewMemoryStore(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	store.Store = ms
	cache, err := dumper.New(dumper.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	inv := &recorder{next: cache}
	layers := cfg.Layers(inv)
	var reads []read
	if !cfg.OwnOnly {
		reads = g.reads(layers)
	}
	if cfg.Reads != nil {
		for _, r := range cfg.Reads(&Gen{g}) {
			reads = append(reads, read{sql: r.Desc, own: r.Run})
		}
	}
	site := cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/read/"))
		rd := reads[i]
		var body string
		if rd.own != nil {
			var err error
			if body, err = rd.own(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		} else {
			rows, err := rd.layer.Query(r.Context(), rd.sql, rd.args...)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			body = format(rows)
		}
		w.Header().Set("X-Capture-Read", strconv.Itoa(i))
		fmt.Fprint(w, body)
	}))
	get := func(i int) (body string, stored bool) {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/read/"+strconv.Itoa(i), nil))
		if w.Code != http.StatusOK {
			t.Fatalf("read %s%s: %d %s", reads[i].sql, reads[i].through(), w.Code, w.Body)
		}
		cs := w.Header().Get("Cache-Status")
		return w.Body.String(), strings.Contains(cs, "hit") || strings.Contains(cs, "stored")
	}

	var dc *pgx.Conn
	if !cfg.OwnOnly {
		if dc, err = pgx.Connect(context.Background(), cfg.DSN); err != nil {
			t.Fatal(err)
		}
		defer dc.Close(context.Background())
	}

	results := make([]string, len(reads))
	stored := make([]bool, len(reads))
	for i := range reads {
		results[i], stored[i] = get(i)
	}
	res := Result{Seed: seed, ByWriter: map[string][2]int{}}
	for range nWrites {
		var w write
		if !cfg.OwnOnly {
			w = g.write(layers)
		}
		if cfg.Write != nil {
			if own, ok := cfg.Write(&Gen{g}); ok {
				w = write{desc: own.Desc, run: func(ctx context.Context) { _ = own.Run(ctx) }}
			}
		}
		if w.run == nil {
			t.Fatal("capturetest: OwnOnly, and Write returned no write")
		}
		inv.take()
		w.run(context.Background())
		stamps := inv.take()
		res.Writes++
		fresh := queryAll(t, dc, reads)
		for i, rd := range reads {
			now := fresh[i]
			changed := now != results[i]
			res.Checks++
			if !stored[i] {
				res.NotStored++
			} else {
				hit := intersects(store.get(i), stamps)
				by := res.ByWriter[w.writer()]
				if changed {
					res.Changed++
					by[0]++
				}
				if hit {
					res.Invalidated++
					by[1]++
				}
				res.ByWriter[w.writer()] = by
				if changed && !hit {
					res.Misses++
					t.Errorf("miss: %s changed the result of read %d, %s %v%s, from %q to %q; the page's tags %v, the write stamped %v",
						w, i, rd.sql, rd.args, rd.through(), results[i], now, store.get(i), stamps)
				}
			}
			body, ok := get(i)
			if body != now {
				t.Errorf("stale: after %s, read %d %s %v served %q, the database gives %q", w, i, rd.sql, rd.args, body, now)
			}
			results[i], stored[i] = now, ok
		}
		if t.Failed() && res.Misses > 10 {
			break
		}
	}
	t.Log(res)
	return res
}

// queryAll runs every read again outside a render: the SQL reads on the database directly,
// in one round trip, and the layers' own reads through them.
func queryAll(t *testing.T, conn *pgx.Conn, reads []read) []string {
	t.Helper()
	b := &pgx.Batch{}
	for _, rd := range reads {
		if rd.own == nil {
			b.Queue(rd.sql, rd.args...)
		}
	}
	var br pgx.BatchResults
	if b.Len() > 0 {
		br = conn.SendBatch(context.Background(), b)
		defer br.Close()
	}
	out := make([]string, len(reads))
	for i, rd := range reads {
		if rd.own != nil {
			body, err := rd.own(context.Background())
			if err != nil {
				t.Fatalf("%s: %v", rd.sql, err)
			}
			out[i] = body
			continue
		}
		rows, err := br.Query()
		if err != nil {
			t.Fatalf("%s: %v", rd.sql, err)
		}
		var all [][]string
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatalf("%s: %v", rd.sql, err)
			}
			row := make([]string, len(vals))
			for j, v := range vals {
				row[j] = Text(v)
			}
			all = append(all, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", rd.sql, err)
		}
		out[i] = format(all)
	}
	return out
}

func format(rows [][]string) string {
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = strings.Join(r, "|")
	}
	return strings.Join(lines, "\n")
}

func intersects(tags []string, stamps map[string]bool) bool {
	for _, t := range tags {
		if stamps[t] {
			return true
		}
	}
	return false
}

// tagStore is a store that keeps the tags of the entry last stored for each read.
type tagStore struct {
	dumper.Store
	mu   sync.Mutex
	tags map[string][]string
}

func (s *tagStore) Set(ctx context.Context, ttl time.Duration, items ...dumper.Item) error {
	s.mu.Lock()
	for _, it := range items {
		if id := it.Entry.Header.Get("X-Capture-Read"); id != "" {
			s.tags[id] = slices.Clone(it.Entry.Tags)
		}
	}
	s.mu.Unlock()
	return s.Store.Set(ctx, ttl, items...)
}

func (s *tagStore) get(i int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tags[strconv.Itoa(i)]
}

// recorder passes invalidations on to the cache and keeps their tags.
type recorder struct {
	next dumper.Invalidator
	mu   sync.Mutex
	tags map[string]bool
}

func (r *recorder) InvalidatePaths(ctx context.Context, paths ...string) error {
	return r.next.InvalidatePaths(ctx, paths...)
}

func (r *recorder) InvalidateTags(ctx context.Context, tags ...string) error {
	r.mu.Lock()
	if r.tags == nil {
		r.tags = map[string]bool{}
	}
	for _, t := range tags {
		r.tags[t] = true
	}
	r.mu.Unlock()
	return r.next.InvalidateTags(ctx, tags...)
}

func (r *recorder) take() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tags
	r.tags = nil
	return t
}
