package gormpg_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/gormpg"
	"github.com/dumperhq/dumper/internal/testservice"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// A page that reads one row with db.Raw stays cached while db.Exec changes other rows, and is
// dropped when its row changes.
func Example() {
	dsn, drop := exampleDatabase("gormpg_example",
		`CREATE TABLE flavors (id int PRIMARY KEY, name text NOT NULL)`,
		`INSERT INTO flavors VALUES (1, 'vanilla'), (2, 'mint')`)
	defer drop()

	cache, _ := dumper.New(dumper.Options{})
	defer cache.Close()
	db, _ := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	db.Use(gormdumper.NewWithOptions(cache, gormdumper.Options{Analyzer: gormpg.New(sqlDB, nil)}))

	site := cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var name string
		err := db.WithContext(r.Context()).Raw(`SELECT name FROM flavors WHERE id = ?`,
			strings.TrimPrefix(r.URL.Path, "/flavors/")).Row().Scan(&name)
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
	db.Exec(`UPDATE flavors SET name = ? WHERE id = ?`, "fresh mint", 2) // row:flavors:id=2
	get()
	db.Exec(`UPDATE flavors SET name = ? WHERE id = ?`, "bourbon vanilla", 1) // row:flavors:id=1
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
