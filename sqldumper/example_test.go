package sqldumper_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/dumperhq/dumper/internal/testservice"
	"strings"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/sqldumper"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// A page that reads one row stays cached while other rows change, and is dropped when its
// row does.
func Example() {
	dsn, drop := exampleDatabase("sqldumper_example",
		`CREATE TABLE flavors (id int PRIMARY KEY, name text NOT NULL)`,
		`INSERT INTO flavors VALUES (1, 'vanilla'), (2, 'mint')`)
	defer drop()

	cache, _ := dumper.New(dumper.Options{})
	defer cache.Close()
	db, _ := sqldumper.Open("pgx", dsn, cache, nil)
	defer db.Close()

	site := cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var name string
		err := db.QueryRowContext(r.Context(), `SELECT name FROM flavors WHERE id = $1`,
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
	db.Exec(`INSERT INTO flavors VALUES (3, 'lemon')`) // stamps row:flavors:id=3 and scan:flavors
	get()
	db.Exec(`UPDATE flavors SET name = 'bourbon vanilla' WHERE id = 1`) // the table tag
	get()
	// Output:
	// vanilla false
	// vanilla true
	// bourbon vanilla false
}

// exampleDatabase creates schema, runs the statements of setup in it, and returns a DSN whose
// search_path is that schema, and a function that drops it.
func exampleDatabase(schema string, setup ...string) (dsn string, drop func()) {
	base := os.Getenv("DUMPER_POSTGRES_DSN")
	if base == "" {
		base = testservice.DefaultPostgresDSN
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		panic(err)
	}
	for _, s := range []string{"DROP SCHEMA IF EXISTS " + schema + " CASCADE", "CREATE SCHEMA " + schema} {
		if _, err := admin.Exec(s); err != nil {
			panic(err)
		}
	}
	dsn = testservice.WithParam(base, "search_path", schema)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	for _, s := range setup {
		if _, err := db.Exec(s); err != nil {
			panic(err)
		}
	}
	return dsn, func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	}
}
