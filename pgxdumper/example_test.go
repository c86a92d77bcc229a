package pgxdumper_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/pgxdumper"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A page that reads one row stays cached while other rows change, and is dropped when its
// row does: after the transaction that changes it commits.
func Example() {
	ctx := context.Background()
	dsn, drop := exampleDatabase("pgxdumper_example",
		`CREATE TABLE flavors (id int PRIMARY KEY, name text NOT NULL)`,
		`INSERT INTO flavors VALUES (1, 'vanilla'), (2, 'mint')`)
	defer drop()

	cache, _ := dumper.New(dumper.Options{})
	defer cache.Close()
	cfg, _ := pgxpool.ParseConfig(dsn)
	cfg.ConnConfig.Tracer = pgxdumper.NewTracer(cache, nil)
	pool, _ := pgxpool.NewWithConfig(ctx, cfg)
	defer pool.Close()

	site := cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var name string
		err := pool.QueryRow(r.Context(), `SELECT name FROM flavors WHERE id = $1`,
			strings.TrimPrefix(r.URL.Path, "/flavors/")).Scan(&name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, name)
	}))
	get := func() {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest("GET", "/flavors/1", nil))
		fmt.Println(w.Body, strings.Contains(w.Header().Get("Cache-Status"), "hit"))
	}

	get()
	pool.Exec(ctx, `INSERT INTO flavors VALUES (3, 'lemon')`) // stamps row:flavors:id=3 and scan:flavors
	get()
	pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE flavors SET name = 'bourbon vanilla' WHERE id = 1`)
		get() // rendered from the old row while the transaction is open
		return err
	})
	get() // the commit dropped it
	// Output:
	// vanilla false
	// vanilla true
	// vanilla false
	// bourbon vanilla false
}

// exampleDatabase creates schema, runs the statements of setup in it, and returns a DSN whose
// search_path is that schema, and a function that drops it.
func exampleDatabase(schema string, setup ...string) (dsn string, drop func()) {
	ctx := context.Background()
	base := os.Getenv("DUMPER_POSTGRES_DSN")
	if base == "" {
		base = testservice.DefaultPostgresDSN
	}
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		panic(err)
	}
	for _, s := range append([]string{"DROP SCHEMA IF EXISTS " + schema + " CASCADE", "CREATE SCHEMA " + schema,
		"SET search_path TO " + schema}, setup...) {
		if _, err := admin.Exec(ctx, s); err != nil {
			panic(err)
		}
	}
	return testservice.WithParam(base, "search_path", schema), func() {
		admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		admin.Close(ctx)
	}
}
