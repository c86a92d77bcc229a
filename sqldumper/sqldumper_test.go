package sqldumper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/dumperhq/dumper/sqldumper"
)

var pages = []string{"/author/1", "/author/2", "/author-by-slug/ann", "/authors", "/posts/ann", "/posts/bob"}

// warm requests every page once, so that each is cached.
func (e *env) warm(t *testing.T) {
	t.Helper()
	for _, p := range pages {
		e.get(t, p)
	}
	e.inv.Take()
}

func cachedExcept(dropped ...string) map[string]bool {
	m := map[string]bool{}
	for _, p := range pages {
		m[p] = !slices.Contains(dropped, p)
	}
	return m
}

func TestWritesDropWhatTheyChange(t *testing.T) {
	tests := []struct {
		name    string
		sql     string
		args    []any
		dropped []string
	}{
		{"insert by key drops the lists only", `INSERT INTO authors (id, slug, name) VALUES ($1, $2, $3)`, []any{3, "cy", "Cy"},
			[]string{"/authors"}},
		{"insert of a post drops its author's posts", `INSERT INTO posts (id, author_id, title) VALUES (13, 2, 'New')`, nil,
			[]string{"/posts/ann", "/posts/bob"}}, // the join reads posts as a scan
		{"update by key drops the table", `UPDATE authors SET name = $1 WHERE id = $2`, []any{"Anne", 1},
			[]string{"/author/1", "/author/2", "/author-by-slug/ann", "/authors", "/posts/ann", "/posts/bob"}},
		{"update of posts keeps the author pages", `UPDATE posts SET title = 'x' WHERE id = 10`, nil,
			[]string{"/posts/ann", "/posts/bob"}},
		{"a write that changes nothing still drops", `DELETE FROM posts WHERE id = 99`, nil,
			[]string{"/posts/ann", "/posts/bob"}},
		{"a failed write drops nothing", `INSERT INTO authors (id, slug, name) VALUES (1, 'dup', 'Dup')`, nil,
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			e.warm(t)
			_, _ = e.db.ExecContext(context.Background(), tt.sql, tt.args...)
			e.wantCached(t, cachedExcept(tt.dropped...))
		})
	}
}

func TestReadsRecordTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	e.exec(t, `UPDATE authors SET name = 'Robert' WHERE slug = 'bob'`) // the table tag
	e.wantCached(t, cachedExcept("/author/1", "/author/2", "/author-by-slug/ann", "/authors", "/posts/ann", "/posts/bob"))
	e.exec(t, `INSERT INTO authors VALUES (5, 'eve', 'Eve')`) // row tags and the scan tag
	e.wantCached(t, cachedExcept("/authors"))
}

func TestPreparedStatements(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	st, err := e.db.Prepare(`INSERT INTO authors (id, slug, name) VALUES ($1, $2, $3)`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Exec(7, "gil", "Gil"); err != nil {
		t.Fatal(err)
	}
	if got := e.inv.Take(); len(got) != 1 || !slices.Contains(got[0], "row:authors:id=7") {
		t.Errorf("invalidations %v, want one with row:authors:id=7", got)
	}
	e.wantCached(t, cachedExcept("/authors"))
}

// TestAfterCommit: a request rendered while a transaction is open reads the old row and is
// cached; the commit drops it.
func TestAfterCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	ctx := context.Background()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE authors SET name = 'Annie' WHERE id = 1`); err != nil {
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
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := e.inv.Take(); len(got) != 1 || !slices.Contains(got[0], "table:authors") {
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
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE authors SET name = 'Annie' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	e.get(t, "/author/1")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := e.inv.Take(); len(got) != 1 {
		t.Errorf("invalidations: %v, want only the one when the write was made", got)
	}
	if body, hit := e.get(t, "/author/1"); !hit || body != "1=Ann" {
		t.Errorf("after rollback GET /author/1 = %q (hit %v), want the cached old row", body, hit)
	}
}

// TestTransactionStatements: BEGIN and COMMIT sent as SQL on one connection.
func TestTransactionStatements(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	ctx := context.Background()
	c, err := e.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{"BEGIN", "UPDATE authors SET name = 'Bobby' WHERE id = 2"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	e.get(t, "/author/2") // the old row, cached
	e.inv.Take()
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if got := e.inv.Take(); len(got) != 1 || !slices.Contains(got[0], "table:authors") {
		t.Fatalf("invalidations at COMMIT: %v, want one with table:authors", got)
	}
	e.wantCached(t, map[string]bool{"/author/2": false})

	// The same in one text: invalidated once, after it ran.
	e.get(t, "/author/2")
	if _, err := c.ExecContext(ctx, "BEGIN; UPDATE authors SET name = 'Rob' WHERE id = 2; COMMIT"); err != nil {
		t.Fatal(err)
	}
	e.wantCached(t, map[string]bool{"/author/2": false})

	// ROLLBACK: no second invalidation.
	for _, q := range []string{"START TRANSACTION", "UPDATE authors SET name = 'X' WHERE id = 2", "ROLLBACK"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.inv.Take(); len(got) != 2 { // the previous text's, and the UPDATE's
		t.Errorf("invalidations: %v, want 2", got)
	}
}

func TestReadsOutsideARenderRecordNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var n int
	if err := e.db.QueryRowContext(context.Background(), `SELECT count(*) FROM authors WHERE id = $1`, 1).Scan(&n); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if got := e.inv.Take(); len(got) != 0 {
		t.Errorf("a read invalidated %v", got)
	}
}

func TestUnclassifiableReadIsNotStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.exec(t, `CREATE FUNCTION author_count() RETURNS bigint STABLE LANGUAGE sql AS 'SELECT count(*) FROM authors'`)
	h := e.cache.Middleware(httpHandler(func(ctx context.Context) string {
		var n string
		if err := e.db.QueryRowContext(ctx, `SELECT author_count()::text`).Scan(&n); err != nil {
			return err.Error()
		}
		return n
	}))
	for range 2 {
		if w := serve(h, "/count"); w.Header().Get("Cache-Status") == "" || contains(w.Header().Get("Cache-Status"), "hit") {
			t.Fatalf("GET /count: Cache-Status %q, want a miss each time", w.Header().Get("Cache-Status"))
		}
	}
}

func TestUnattributableWriteDropsEveryCapturedPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	e.exec(t, `CREATE TABLE other (id int)`) // DDL
	e.wantCached(t, cachedExcept(pages...))
}

func TestInvalidationErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("store down")
	var reported []error
	e := newEnv(t, &sqldumper.Options{OnError: func(_ context.Context, err error) { reported = append(reported, err) }})
	e.inv.SetFail(boom)
	e.exec(t, `UPDATE authors SET name = 'x' WHERE id = 1`) // does not fail
	if len(reported) != 1 || !errors.Is(reported[0], boom) {
		t.Errorf("reported %v, want the store's error", reported)
	}

	f := newEnv(t, &sqldumper.Options{FailWrites: true})
	f.inv.SetFail(boom)
	if _, err := f.db.Exec(`UPDATE authors SET name = 'x' WHERE id = 1`); !errors.Is(err, boom) || !errors.Is(err, sqldumper.ErrInvalidation) {
		t.Errorf("FailWrites: Exec error %v, want the invalidation's", err)
	}
	var name string
	if err := f.direct.QueryRow(`SELECT name FROM authors WHERE id = 1`).Scan(&name); err != nil || name != "x" {
		t.Errorf("the write was not made: %q, %v", name, err)
	}
}

// TestSchemaChangeRefreshesTheCatalog: a unique index created through the wrapper makes its
// column a key column: reads by it are narrowed from then on.
func TestSchemaChangeRefreshesTheCatalog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	h := e.cache.Middleware(httpHandler(func(ctx context.Context) string {
		var id string
		if err := e.db.QueryRowContext(ctx, `SELECT id::text FROM authors WHERE name = $1`, "Ann").Scan(&id); err != nil {
			return err.Error()
		}
		return id
	}))
	hit := func() bool { return contains(serve(h, "/by-name").Header().Get("Cache-Status"), "hit") }
	serve(h, "/by-name")
	e.exec(t, `INSERT INTO authors VALUES (8, 'hal', 'Hal')`)
	if hit() {
		t.Fatal("a read by a column that is not a key survived an insert")
	}
	e.exec(t, `CREATE UNIQUE INDEX authors_name ON authors (name)`) // drops every page, refreshes
	serve(h, "/by-name")
	e.exec(t, `INSERT INTO authors VALUES (9, 'ivy', 'Ivy')`)
	if !hit() {
		t.Error("a read by a key column was dropped by an insert of another row")
	}
}

// TestConcurrentUse renders pages and writes from several goroutines at once; then no page
// is stale.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				serve(e.h, pages[(g+i)%len(pages)])
				switch i % 5 {
				case 0:
					_, _ = e.db.ExecContext(ctx, `UPDATE authors SET name = $1 WHERE id = $2`, fmt.Sprint("n", g, i), 1+i%2)
				case 1:
					tx, err := e.db.BeginTx(ctx, nil)
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = tx.ExecContext(ctx, `UPDATE posts SET title = $1 WHERE id = $2`, fmt.Sprint("t", g, i), 10+i%3)
					serve(e.h, pages[(g+i+1)%len(pages)])
					_ = tx.Commit()
				}
			}
		}()
	}
	wg.Wait()
	for _, p := range pages {
		if body, fresh := serve(e.h, p).Body.String(), e.render(t, p); body != fresh {
			t.Errorf("GET %s = %q, stale: the database gives %q", p, body, fresh)
		}
	}
}

// TestTableCreatedInATransaction: a table a transaction creates is unknown to the catalog
// until the commit (writes to it stamp DatabaseTag), and known after it.
func TestTableCreatedInATransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`CREATE TABLE flavors (id int PRIMARY KEY)`, `INSERT INTO flavors VALUES (1)`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.inv.Take(); !has(got, sqldumper.DatabaseTag) {
		t.Errorf("invalidations in the transaction: %v, want %s", got, sqldumper.DatabaseTag)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	e.inv.Take()
	e.exec(t, `INSERT INTO flavors VALUES (2)`)
	if got := e.inv.Take(); len(got) != 1 || has(got, sqldumper.DatabaseTag) || !has(got, "row:flavors:id=2") {
		t.Errorf("invalidations after commit: %v, want row:flavors:id=2 alone", got)
	}
}

// TestReturning: a write whose RETURNING gives every key column invalidates the rows it
// returned, not its table.
func TestReturning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.warm(t)
	var id int
	var slug string
	if err := e.db.QueryRowContext(context.Background(), `UPDATE authors SET name = $1 WHERE id = $2 RETURNING id, slug`, "Anne", 1).Scan(&id, &slug); err != nil {
		t.Fatal(err)
	}
	if got := e.inv.Take(); len(got) != 1 || has(got, "table:authors") || !has(got, "row:authors:slug=ann") {
		t.Errorf("invalidations %v, want the row's tags, not the table's", got)
	}
	e.wantCached(t, cachedExcept("/author/1", "/author-by-slug/ann", "/authors", "/posts/ann"))

	// In a transaction: again after commit; rows left unread are read before closing.
	ctx := context.Background()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, `DELETE FROM posts WHERE author_id = 1 RETURNING *`)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := e.inv.Take()
	if len(got) != 2 || has(got, "table:posts") || !has(got, "row:posts:id=10") || !has(got, "row:posts:id=12") {
		t.Errorf("invalidations %v, want the deleted rows' tags twice", got)
	}
}
