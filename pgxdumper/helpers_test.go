package pgxdumper_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/pgxdumper"
	"github.com/dumperhq/dumper/sqldumper/capturetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// recorder is the Invalidator tests read invalidations back from.
type recorder = capturetest.Recorder

var has = capturetest.Has

type env struct {
	pool   *pgxpool.Pool
	direct *pgx.Conn
	cache  *dumper.Cache
	inv    *recorder
	h      http.Handler
}

const envSchema = `
CREATE TABLE authors (id int PRIMARY KEY, slug text UNIQUE NOT NULL, name text NOT NULL);
CREATE TABLE posts (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id), title text NOT NULL);
INSERT INTO authors VALUES (1, 'ann', 'Ann'), (2, 'bob', 'Bob');
INSERT INTO posts VALUES (10, 1, 'Hello'), (11, 2, 'World'), (12, 1, 'Again');`

func newEnv(t *testing.T, opts *pgxdumper.Options) *env {
	t.Helper()
	ctx := context.Background()
	_, dsn := testservice.PostgresSchema(t, "pgxdumper")
	direct, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close(context.Background()) })
	if _, err := direct.Exec(ctx, envSchema); err != nil {
		t.Fatal(err)
	}
	cache, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	e := &env{direct: direct, cache: cache, inv: &recorder{Next: cache}}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = pgxdumper.NewTracer(e.inv, opts)
	if e.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)
	e.h = cache.Middleware(site(e.pool))
	return e
}

// querier is what the site reads with: a pool, a connection, a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func site(db querier) http.Handler {
	mux := http.NewServeMux()
	list := func(w http.ResponseWriter, r *http.Request, q string, args ...any) {
		rows, err := db.Query(r.Context(), q, args...)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
			var a, b string
			err := row.Scan(&a, &b)
			return a + "=" + b, err
		})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, strings.Join(out, ","))
	}
	mux.HandleFunc("/author/{id}", func(w http.ResponseWriter, r *http.Request) {
		list(w, r, `SELECT id::text, name FROM authors WHERE id = $1`, r.PathValue("id"))
	})
	mux.HandleFunc("/author-named/{id}", func(w http.ResponseWriter, r *http.Request) {
		list(w, r, `SELECT id::text, name FROM authors WHERE id = @id`, pgx.NamedArgs{"id": r.PathValue("id")})
	})
	mux.HandleFunc("/authors", func(w http.ResponseWriter, r *http.Request) {
		list(w, r, `SELECT id::text, name FROM authors ORDER BY id`)
	})
	mux.HandleFunc("/posts/{author}", func(w http.ResponseWriter, r *http.Request) {
		list(w, r, `SELECT p.id::text, p.title FROM posts p JOIN authors a ON a.id = p.author_id
			WHERE a.slug = $1 ORDER BY p.id`, r.PathValue("author"))
	})
	return mux
}

func (e *env) get(t *testing.T, path string) (body string, hit bool) {
	t.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	if w.Code != 200 {
		t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
	}
	return w.Body.String(), strings.Contains(w.Header().Get("Cache-Status"), "hit")
}

var pages = []string{"/author/1", "/author/2", "/author-named/1", "/authors", "/posts/ann", "/posts/bob"}

func (e *env) warm(t *testing.T) {
	t.Helper()
	for _, p := range pages {
		e.get(t, p)
	}
	e.inv.Take()
}

// wantCached checks which pages the cache answers (all of pages but dropped), and that none
// is stale.
func (e *env) wantCached(t *testing.T, dropped ...string) {
	t.Helper()
	for _, path := range pages {
		w := httptest.NewRecorder()
		site(e.direct).ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		body, hit := e.get(t, path)
		if body != w.Body.String() {
			t.Errorf("GET %s = %q, stale: the database gives %q", path, body, w.Body)
		}
		if want := !slices.Contains(dropped, path); hit != want {
			t.Errorf("GET %s: served from the cache %v, want %v", path, hit, want)
		}
	}
}

func serve(h http.Handler, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
