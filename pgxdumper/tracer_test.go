package pgxdumper_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/dumperhq/dumper/pgxdumper"
	"github.com/jackc/pgx/v5"
)

func TestWritesDropWhatTheyChange(t *testing.T) {
	tests := []struct {
		name    string
		sql     string
		args    []any
		dropped []string
	}{
		{"insert by key", `INSERT INTO authors (id, slug, name) VALUES ($1, $2, $3)`, []any{3, "cy", "Cy"},
			[]string{"/authors"}},
		{"insert with named arguments", `INSERT INTO authors (id, slug, name) VALUES (@id, @slug, 'x')`, []any{pgx.NamedArgs{"id": 4, "slug": "di"}},
			[]string{"/authors"}},
		{"simple protocol", `INSERT INTO authors (id, slug, name) VALUES ($1, $2, 'x')`, []any{pgx.QueryExecModeSimpleProtocol, 5, "ed"},
			[]string{"/authors"}},
		{"update by key", `UPDATE authors SET name = $1 WHERE id = $2`, []any{"Anne", 1},
			pages},
		{"posts", `UPDATE posts SET title = 'x' WHERE id = 10`, nil,
			[]string{"/posts/ann", "/posts/bob"}},
		{"failed", `INSERT INTO authors (id, slug, name) VALUES (1, 'dup', 'Dup')`, nil,
			nil},
		{"DDL", `CREATE TABLE other (id int)`, nil,
			pages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			e.warm(t)
			_, _ = e.pool.Exec(context.Background(), tt.sql, tt.args...)
			e.wantCached(t, tt.dropped...)
		})
	}
}

func TestAfterCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE authors SET name = 'Annie' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if got := e.inv.Take(); len(got) != 1 {
		t.Fatalf("invalidations when the write is made: %v, want 1", got)
	}
	if body, hit := e.get(t, "/author/1"); hit || body != "1=Ann" {
		t.Fatalf("during the transaction GET /author/1 = %q (hit %v), want the old row rendered", body, hit)
	}
	if _, hit := e.get(t, "/author/1"); !hit {
		t.Fatal("the page rendered during the transaction was not cached")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.inv.Take(); len(got) != 1 || !has(got, "table:authors") {
		t.Fatalf("invalidations after commit: %v, want one with table:authors", got)
	}
	if body, hit := e.get(t, "/author/1"); hit || body != "1=Annie" {
		t.Errorf("after commit GET /author/1 = %q (hit %v), want the new row", body, hit)
	}
}

func TestRollbackInvalidatesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE authors SET name = 'Annie' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	e.get(t, "/author/1")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.inv.Take(); len(got) != 1 {
		t.Errorf("invalidations: %v, want only the one when the write was made", got)
	}
	if body, hit := e.get(t, "/author/1"); !hit || body != "1=Ann" {
		t.Errorf("after rollback GET /author/1 = %q (hit %v), want the cached old row", body, hit)
	}
}

// TestCommitOfAFailedTransaction: COMMIT of a transaction a statement aborted rolls back.
func TestCommitOfAFailedTransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE authors SET name = 'Annie' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO authors VALUES (2, 'dup', 'Dup')`); err == nil {
		t.Fatal("duplicate key accepted")
	}
	e.inv.Take()
	if err := tx.Commit(ctx); !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("Commit: %v, want ErrTxCommitRollback", err)
	}
	if got := e.inv.Take(); len(got) != 0 {
		t.Errorf("invalidations at a commit that rolled back: %v, want none", got)
	}
}

func TestSavepoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	nested, err := tx.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nested.Exec(ctx, `UPDATE posts SET title = 'x' WHERE id = 10`); err != nil {
		t.Fatal(err)
	}
	if err := nested.Commit(ctx); err != nil { // RELEASE SAVEPOINT: not the commit
		t.Fatal(err)
	}
	e.get(t, "/posts/ann") // the old rows, cached
	e.inv.Take()
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.inv.Take(); !has(got, "table:posts") {
		t.Errorf("invalidations at commit: %v, want table:posts", got)
	}
	e.wantCached(t, "/posts/ann", "/posts/bob")
}

func TestBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	ctx := context.Background()
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO authors (id, slug, name) VALUES ($1, $2, $3)`, 6, "fay", "Fay")
	b.Queue(`UPDATE posts SET title = $1 WHERE id = $2`, "t", 11)
	b.Queue(`SELECT count(*) FROM authors`)
	if err := e.pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	got := e.inv.Take()
	if !has(got, "row:authors:id=6") || !has(got, "table:posts") {
		t.Errorf("invalidations %v, want row:authors:id=6 and table:posts", got)
	}
	e.wantCached(t, "/authors", "/posts/ann", "/posts/bob")
}

func TestCopyFrom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	n, err := e.pool.CopyFrom(context.Background(), pgx.Identifier{"posts"}, []string{"id", "author_id", "title"},
		pgx.CopyFromRows([][]any{{20, 1, "Copied"}}))
	if err != nil || n != 1 {
		t.Fatalf("CopyFrom: %d, %v", n, err)
	}
	e.wantCached(t, "/posts/ann", "/posts/bob")
}

func TestPreparedStatementName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	ctx := context.Background()
	c, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if _, err := c.Conn().Prepare(ctx, "rename", `UPDATE authors SET name = $1 WHERE id = $2`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "rename", "Bobby", 2); err != nil {
		t.Fatal(err)
	}
	e.wantCached(t, pages...)
}

// TestPreparedStatementNameRead: a read run by the name it was prepared with is read as its
// SQL: the page is stored, narrowed by its key, and kept by a write to another row.
func TestPreparedStatementNameRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	c, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if _, err := c.Conn().Prepare(ctx, "author_name", `SELECT name FROM authors WHERE id = $1`); err != nil {
		t.Fatal(err)
	}
	h := e.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var name string
		if err := c.QueryRow(r.Context(), "author_name", 1).Scan(&name); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, name)
	}))
	serve(h, "/named")
	if _, err := e.pool.Exec(ctx, `INSERT INTO authors VALUES (3, 'cy', 'Cy')`); err != nil {
		t.Fatal(err)
	}
	if w := serve(h, "/named"); !contains(w.Header().Get("Cache-Status"), "hit") || w.Body.String() != "Ann" {
		t.Errorf("GET /named after a write to another author: %q, Cache-Status %q; want Ann, a hit", w.Body, w.Header().Get("Cache-Status"))
	}
	if _, err := e.pool.Exec(ctx, `DELETE FROM authors WHERE id = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE authors SET name = 'Annie' WHERE id = 1 AND slug = 'ann'`); err != nil {
		t.Fatal(err)
	}
	if w := serve(h, "/named"); w.Body.String() != "Annie" {
		t.Errorf("GET /named after its author changed: %q, Cache-Status %q; want Annie", w.Body, w.Header().Get("Cache-Status"))
	}
}

func TestReadsOfATransactionDuringARender(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	h := e.cache.Middleware(site(tx))
	for _, want := range []bool{false, true} {
		w := serve(h, "/author/1")
		if hit := contains(w.Header().Get("Cache-Status"), "hit"); hit != want {
			t.Fatalf("GET /author/1 read in a transaction: hit %v, want %v", hit, want)
		}
	}
	if _, err := e.pool.Exec(ctx, `UPDATE authors SET name = 'x' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if w := serve(h, "/author/1"); contains(w.Header().Get("Cache-Status"), "hit") {
		t.Error("served the page after the write")
	}
}

func TestInvalidationErrorsAreReported(t *testing.T) {
	t.Parallel()
	boom := errors.New("store down")
	var reported []error
	e := newEnv(t, &pgxdumper.Options{OnError: func(_ context.Context, err error) { reported = append(reported, err) }})
	e.inv.SetFail(boom)
	if _, err := e.pool.Exec(context.Background(), `UPDATE authors SET name = 'x' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if len(reported) != 1 || !errors.Is(reported[0], boom) || !errors.Is(reported[0], pgxdumper.ErrInvalidation) {
		t.Errorf("reported %v, want the store's error", reported)
	}
}
