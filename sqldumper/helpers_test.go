package sqldumper_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/sqldumper"
	"github.com/dumperhq/dumper/sqldumper/capturetest"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// recorder is the Invalidator tests read invalidations back from.
type recorder = capturetest.Recorder

// env is a cache in front of a site that reads a database through sqldumper.
type env struct {
	db, direct *sql.DB
	cache      *dumper.Cache
	inv        *recorder
	h          http.Handler
}

const envSchema = `
CREATE TABLE authors (id int PRIMARY KEY, slug text UNIQUE NOT NULL, name text NOT NULL);
CREATE TABLE posts (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id), title text NOT NULL);
INSERT INTO authors VALUES (1, 'ann', 'Ann'), (2, 'bob', 'Bob');
INSERT INTO posts VALUES (10, 1, 'Hello'), (11, 2, 'World'), (12, 1, 'Again');`

func newEnv(t *testing.T, opts *sqldumper.Options) *env {
	t.Helper()
	return newEnvWith(t, func(dsn string, inv dumper.Invalidator) (*sql.DB, error) {
		return sqldumper.Open("pgx", dsn, inv, opts)
	})
}

// newEnvWith is newEnv with the captured database that open returns for dsn and inv.
func newEnvWith(t *testing.T, open func(dsn string, inv dumper.Invalidator) (*sql.DB, error)) *env {
	t.Helper()
	_, dsn := testservice.PostgresSchema(t, "sqldumper")
	direct, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	if _, err := direct.Exec(envSchema); err != nil {
		t.Fatal(err)
	}
	cache, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	e := &env{direct: direct, cache: cache, inv: &recorder{Next: cache}}
	e.db, err = open(dsn, e.inv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.h = cache.Middleware(site(e.db))
	return e
}

// site serves /author/{id}, /author-by-slug/{slug}, /authors and /posts/{author}.
func site(db *sql.DB) http.Handler {
	mux := http.NewServeMux()
	list := func(w http.ResponseWriter, r *http.Request, q string, args ...any) {
		rows, err := db.QueryContext(r.Context(), q, args...)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			out = append(out, a+"="+b)
		}
		fmt.Fprint(w, strings.Join(out, ","))
	}
	mux.HandleFunc("/author/{id}", func(w http.ResponseWriter, r *http.Request) {
		list(w, r, `SELECT id::text, name FROM authors WHERE id = $1`, r.PathValue("id"))
	})
	mux.HandleFunc("/author-by-slug/{slug}", func(w http.ResponseWriter, r *http.Request) {
		list(w, r, `SELECT slug, name FROM authors WHERE slug = $1`, r.PathValue("slug"))
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

// get requests path and returns its body and whether the cache answered it.
func (e *env) get(t *testing.T, path string) (body string, hit bool) {
	t.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	if w.Code != 200 {
		t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
	}
	return w.Body.String(), strings.Contains(w.Header().Get("Cache-Status"), "hit")
}

// wantCached checks which of paths the cache answers, and that none of them is stale.
func (e *env) wantCached(t *testing.T, cached map[string]bool) {
	t.Helper()
	for path, want := range cached {
		fresh := e.render(t, path)
		body, hit := e.get(t, path)
		if body != fresh {
			t.Errorf("GET %s = %q, stale: the database gives %q", path, body, fresh)
		}
		if hit != want {
			t.Errorf("GET %s: served from the cache %v, want %v", path, hit, want)
		}
	}
}

// render renders path from the database directly, without the cache.
func (e *env) render(t *testing.T, path string) string {
	t.Helper()
	w := httptest.NewRecorder()
	site(e.direct).ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Body.String()
}

func (e *env) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := e.db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func httpHandler(body func(ctx context.Context) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body(r.Context())) })
}

func serve(h http.Handler, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

var has = capturetest.Has
