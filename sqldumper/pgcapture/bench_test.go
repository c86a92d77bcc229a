package pgcapture

import (
	"context"
	"testing"
)

var benchStatements = map[string]string{
	"lookup": `SELECT id, slug, n FROM t WHERE id = $1`,
	"join": `SELECT a.id, b.slug FROM t a JOIN p b ON b.id = a.id LEFT JOIN c ON c.id = b.id
		WHERE a.slug = ANY($1) AND b.n > 3 ORDER BY a.id DESC LIMIT 20`,
	"cte": `WITH recent AS (SELECT * FROM t WHERE n > $1 ORDER BY id DESC LIMIT 10)
		SELECT r.id, (SELECT count(*) FROM c WHERE c.id = r.id), v.slug FROM recent r
		JOIN v ON v.id = r.id WHERE r.id IN (SELECT id FROM p WHERE slug = $2) UNION ALL
		SELECT id, 0, slug FROM t WHERE id = 1`,
	"insert": `INSERT INTO t (id, slug, n) VALUES ($1, $2, $3)`,
}

// BenchmarkParse measures what a distinct statement costs the first time: parsing and
// walking its tree (without the catalog).
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"lookup", "join", "cte", "insert"} {
		sql := benchStatements[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				parse(sql)
			}
		})
	}
}

// BenchmarkResolve measures the first use of a parsed statement with the catalog's answers
// already cached: resolving it to a plan.
func BenchmarkResolve(b *testing.B) {
	a := New(nopInvalidator{}, fakeLoader, nil)
	ctx := context.Background()
	for _, name := range []string{"lookup", "join", "cte", "insert"} {
		sql := benchStatements[name]
		sh := a.Shape(sql)
		if _, err := a.resolve(ctx, sh); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := &resolver{a: a, ctx: ctx}
				r.plan(sh, 0)
			}
		})
	}
}

// BenchmarkShapeCached measures the lookup of a statement seen before.
func BenchmarkShapeCached(b *testing.B) {
	a := New(nopInvalidator{}, fakeLoader, nil)
	sql := benchStatements["join"]
	a.Shape(sql)
	b.ReportAllocs()
	for b.Loop() {
		a.Shape(sql)
	}
}

type nopRecorder struct{}

func (nopRecorder) rows(context.Context, *readPlan, []string) {}
func (nopRecorder) table(context.Context, *readPlan)          {}
func (nopRecorder) tag(context.Context, string)               {}
func (nopRecorder) noStore(context.Context)                   {}

// BenchmarkRecord measures recording a read whose plan is cached, less the dumper calls: into
// a recorder of the test's, which is given a copy of the values.
func BenchmarkRecord(b *testing.B) {
	a := New(nopInvalidator{}, fakeLoader, nil)
	ctx := context.Background()
	for _, name := range []string{"lookup", "join"} {
		sh := a.Shape(benchStatements[name])
		args := []any{int64(42), []string{"a", "b"}}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.record(ctx, sh, args, nopRecorder{})
			}
		})
	}
}

// BenchmarkInsertStamps measures the tags of an INSERT … VALUES of n rows.
func BenchmarkInsertStamps(b *testing.B) {
	a := New(nopInvalidator{}, fakeLoader, nil)
	sql := `INSERT INTO t (id, slug, n) VALUES ($1, $2, $3)`
	p, err := a.resolve(context.Background(), a.Shape(sql))
	if err != nil {
		b.Fatal(err)
	}
	args := []any{int64(7), "seven", 1}
	b.ReportAllocs()
	for b.Loop() {
		p.steps[0].stamps(args, nil)
	}
}
