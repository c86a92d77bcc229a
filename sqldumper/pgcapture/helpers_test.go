package pgcapture

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/testservice"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// testDB opens a schema of the test's own with the statements of setup run in it.
func testDB(t testing.TB, setup ...string) *sql.DB {
	t.Helper()
	_, dsn := testservice.PostgresSchema(t, "pgcapture")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, s := range setup {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return db
}

// dbLoader runs catalog queries on db.
func dbLoader(db *sql.DB) Loader {
	return func(ctx context.Context, query string, arg []string) (string, error) {
		var s string
		err := db.QueryRowContext(ctx, query, arg).Scan(&s)
		return s, err
	}
}

// tagRecorder collects what a read records, as the tags the response would carry.
type tagRecorder struct {
	tags  []string
	store bool
}

func (r *tagRecorder) rows(_ context.Context, rp *readPlan, values []string) {
	r.tags = append(r.tags, DatabaseTag, dumper.TableTag(rp.table))
	for _, v := range values {
		r.tags = append(r.tags, dumper.RowTag(rp.table, rp.col, v))
	}
}
func (r *tagRecorder) table(_ context.Context, rp *readPlan) {
	r.tags = append(r.tags, DatabaseTag, dumper.TableTag(rp.table), dumper.ScanTag(rp.table))
}
func (r *tagRecorder) tag(_ context.Context, tag string) { r.tags = append(r.tags, tag) }
func (r *tagRecorder) noStore(context.Context)           { r.store = false }

// readTags returns the tags reading sql with args records, sorted and without DatabaseTag,
// or "no-store".
func readTags(t testing.TB, a *Analyzer, sql string, args ...any) string {
	t.Helper()
	rec := &tagRecorder{store: true}
	a.record(context.Background(), a.Shape(sql), args, rec)
	if !rec.store {
		return "no-store"
	}
	if len(rec.tags) > 0 && !slices.Contains(rec.tags, DatabaseTag) {
		t.Errorf("read %s: tags %v lack %s", sql, rec.tags, DatabaseTag)
	}
	return joinTags(slices.DeleteFunc(rec.tags, func(s string) bool { return s == DatabaseTag }))
}

// writeTags returns the tags the statements of sql stamp with args, sorted.
func writeTags(t testing.TB, a *Analyzer, sql string, args ...any) string {
	t.Helper()
	p, err := a.resolve(context.Background(), a.Shape(sql))
	if err != nil {
		t.Fatalf("resolve %s: %v", sql, err)
	}
	var tags []string
	for i := range p.steps {
		tags = append(tags, p.steps[i].stamps(args, nil)...)
	}
	return joinTags(tags)
}

func joinTags(tags []string) string {
	tags = slices.Clone(tags)
	slices.Sort(tags)
	return strings.Join(slices.Compact(tags), " ")
}

// nopInvalidator invalidates nothing.
type nopInvalidator struct{}

func (nopInvalidator) InvalidatePaths(context.Context, ...string) error { return nil }
func (nopInvalidator) InvalidateTags(context.Context, ...string) error  { return nil }
