//go:build unix

package sqldumper_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/sqldumper"
)

// benchDBs opens a plain and a captured database on a schema of the benchmark's own, with
// one table of 1000 rows.
func benchDBs(b *testing.B) (plain, captured *sql.DB, cache *dumper.Cache) {
	b.Helper()
	_, dsn := testservice.PostgresSchema(b, "sqlbench")
	plain, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { plain.Close() })
	for _, s := range []string{
		`CREATE TABLE authors (id int PRIMARY KEY, slug text UNIQUE NOT NULL, name text NOT NULL, score int NOT NULL)`,
		`CREATE TABLE posts (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id), title text NOT NULL)`,
		`INSERT INTO authors SELECT i, 'a' || i, 'Author ' || i, i % 10 FROM generate_series(1, 1000) i`,
		`INSERT INTO posts SELECT i, 1 + i % 1000, 'Post ' || i FROM generate_series(1, 5000) i`,
		`ANALYZE`,
	} {
		if _, err := plain.Exec(s); err != nil {
			b.Fatal(err)
		}
	}
	cache, err = dumper.New(dumper.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cache.Close() })
	captured, err = sqldumper.Open("pgx", dsn, cache, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { captured.Close() })
	return plain, captured, cache
}

// page renders a page that runs five queries.
func page(db *sql.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, _ := strconv.Atoi(r.URL.Query().Get("id"))
		var name, slug string
		var n int
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		must(db.QueryRowContext(ctx, `SELECT name, slug FROM authors WHERE id = $1`, id).Scan(&name, &slug))
		must(db.QueryRowContext(ctx, `SELECT count(*) FROM posts WHERE author_id = $1`, id).Scan(&n))
		must(db.QueryRowContext(ctx, `SELECT count(*) FROM authors WHERE id IN ($1, $2, $3)`, id, id+1, id+2).Scan(&n))
		rows, err := db.QueryContext(ctx, `SELECT p.title FROM posts p JOIN authors a ON a.id = p.author_id
			WHERE a.slug = $1 ORDER BY p.id LIMIT 10`, slug)
		must(err)
		for rows.Next() {
			var t string
			must(rows.Scan(&t))
			fmt.Fprintln(w, t)
		}
		rows.Close()
		must(db.QueryRowContext(ctx, `SELECT count(*) FROM authors WHERE score > $1`, id%10).Scan(&n))
		fmt.Fprintln(w, name, n)
	})
}

// BenchmarkMissPath renders, through the cache, pages that run five queries each, every
// request a miss; plain and captured pages alternate in one loop, and the benchmark reports
// each one's mean time and their ratio.
func BenchmarkMissPath(b *testing.B) {
	plain, captured, cache := benchDBs(b)
	hs := [2]http.Handler{cache.Middleware(page(plain)), cache.Middleware(page(captured))}
	var spent, cpu [2]time.Duration
	i := 0
	for b.Loop() {
		for j := range hs {
			k := (j + i/2) % 2 // ABBA: each goes first half of the time
			h := hs[k]
			i++
			r := httptest.NewRequest(http.MethodGet, "/author?id="+strconv.Itoa(1+i%990)+"&n="+strconv.Itoa(i), nil)
			w := httptest.NewRecorder()
			start, startCPU := time.Now(), cpuTime()
			h.ServeHTTP(w, r)
			spent[k] += time.Since(start)
			cpu[k] += cpuTime() - startCPU
			if w.Code != http.StatusOK {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	}
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "ns/plain")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), "ns/captured")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "captured/plain")
	b.ReportMetric(float64(cpu[0].Nanoseconds())/float64(b.N), "cpu-ns/plain")
	b.ReportMetric(float64(cpu[1].Nanoseconds())/float64(b.N), "cpu-ns/captured")
}

// cpuTime returns the CPU time the process has used (user and system), which measures the
// client's own work without the database's and the network's.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadOutsideRender runs a key lookup with no render in the context, plain and
// captured alternately, and reports their ratio.
func BenchmarkReadOutsideRender(b *testing.B) {
	plain, captured, _ := benchDBs(b)
	dbs := [2]*sql.DB{plain, captured}
	ctx := context.Background()
	var spent, cpu [2]time.Duration
	i := 0
	for b.Loop() {
		for j := range dbs {
			k := (j + i/2) % 2 // ABBA: each goes first half of the time
			db := dbs[k]
			i++
			var name string
			start, startCPU := time.Now(), cpuTime()
			if err := db.QueryRowContext(ctx, `SELECT name FROM authors WHERE id = $1`, 1+i%1000).Scan(&name); err != nil {
				b.Fatal(err)
			}
			spent[k] += time.Since(start)
			cpu[k] += cpuTime() - startCPU
		}
	}
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "ns/plain")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), "ns/captured")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "captured/plain")
	b.ReportMetric(float64(cpu[0].Nanoseconds())/float64(b.N), "cpu-ns/plain")
	b.ReportMetric(float64(cpu[1].Nanoseconds())/float64(b.N), "cpu-ns/captured")
}
