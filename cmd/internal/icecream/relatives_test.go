package icecream_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/pgnotify"
	"github.com/dumperhq/dumper/sqldumper"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// TestNotifyRelatives checks that writes made outside the application (raw SQL, no ORM) to
// tables with inheritance children or partitions refresh the pages that read the changed
// rows under any name: a statement that names the parent fires the parent's triggers only,
// and a page that reads a child or a partition by its own name (through gormdumper or the
// SQL capture) carries the child's tags only; a statement that names a child fires the
// child's, and a page that reads the parent carries the parent's. The triggers are on the
// parents and on the children, as pgnotify's documentation says.
func TestNotifyRelatives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := postgresDSN(t)
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close(context.Background()) })
	exec := func(sql string) {
		t.Helper()
		if _, err := raw.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE TABLE heirs (id int PRIMARY KEY, v text NOT NULL);
		CREATE TABLE heirs_kid (extra int) INHERITS (heirs);
		CREATE TABLE events (id int, kind text, v text NOT NULL, PRIMARY KEY (id, kind)) PARTITION BY LIST (kind);
		CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a') PARTITION BY RANGE (id);
		CREATE TABLE events_a1 PARTITION OF events_a FOR VALUES FROM (0) TO (100);
		CREATE TABLE events_b PARTITION OF events FOR VALUES IN ('b');
		INSERT INTO heirs VALUES (1, 'parent');
		INSERT INTO heirs_kid VALUES (2, 'kid', 0), (3, 'other kid', 0);
		INSERT INTO events VALUES (1, 'a', 'one'), (5, 'a', 'five'), (2, 'b', 'two')`)
	opts := pgnotify.Options{Channel: config.RuntimeParams["search_path"]}
	key := []string{"id", "kind"}
	tables := []pgnotify.Table{
		{Name: "heirs"}, {Name: "heirs_kid"},
		{Name: "events", Key: key}, {Name: "events_a", Key: key}, {Name: "events_a1", Key: key}, {Name: "events_b", Key: key},
	}
	if err := pgnotify.Install(ctx, raw, opts, tables...); err != nil {
		t.Fatal(err)
	}
	listener, err := pgnotify.NewListener(config, opts, tables...)
	if err != nil {
		t.Fatal(err)
	}
	cache := listening(t, listener)

	gdb, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := gdb.Use(gormdumper.New(cache)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if db, err := gdb.DB(); err == nil {
			_ = db.Close()
		}
	})
	sdb, err := sqldumper.Open("pgx", dsn, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sdb.Close() })

	// /gorm/{table}/{id} and /sql/{table}/{id} show the value of the row of table whose id
	// is id, or "none" (the ids of events are unique across kinds).
	mux := http.NewServeMux()
	show := func(w http.ResponseWriter, v string, err error) {
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
			fmt.Fprint(w, "none")
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			fmt.Fprint(w, v)
		}
	}
	mux.HandleFunc("GET /gorm/{table}/{id}", func(w http.ResponseWriter, r *http.Request) {
		var row struct{ V string }
		err := gdb.WithContext(r.Context()).Table(r.PathValue("table")).Select("v").Where("id = ?", r.PathValue("id")).Take(&row).Error
		show(w, row.V, err)
	})
	mux.HandleFunc("GET /sql/{table}/{id}", func(w http.ResponseWriter, r *http.Request) {
		query := "SELECT v FROM " + pgx.Identifier{r.PathValue("table")}.Sanitize() + " WHERE id = $1"
		var v string
		err := sdb.QueryRowContext(r.Context(), query, r.PathValue("id")).Scan(&v)
		show(w, v, err)
	})
	srv := httptest.NewServer(cache.Middleware(mux))
	t.Cleanup(srv.Close)
	s := &captureSite{t: t, srv: srv, cache: cache, conn: raw}
	both := func(table, id string) []string {
		return []string{"/gorm/" + table + "/" + id, "/sql/" + table + "/" + id}
	}
	fresh := func(want string, paths ...string) {
		t.Helper()
		for _, p := range paths {
			s.fresh(p, want)
		}
	}

	// A write that names the parent of an inheritance hierarchy: pages that read the child.
	s.warm(both("heirs_kid", "2")...)
	s.warm(both("heirs", "2")...)
	s.exec("UPDATE heirs SET v = 'newer' WHERE id = 2")
	fresh("newer", both("heirs_kid", "2")...)
	fresh("newer", both("heirs", "2")...)

	// A write that names the child: pages that read the parent.
	s.warm(both("heirs", "3")...)
	s.exec("UPDATE heirs_kid SET v = 'renamed kid' WHERE id = 3")
	fresh("renamed kid", both("heirs", "3")...)

	// Through the parent, DELETE and INSERT.
	s.warm(slices.Concat(both("heirs_kid", "3"), both("heirs", "3"))...)
	s.exec("DELETE FROM heirs WHERE id = 3")
	fresh("none", slices.Concat(both("heirs_kid", "3"), both("heirs", "3"))...)

	// A write that names a partitioned table: pages that read a partition two levels down,
	// at row precision (a partition has its parent's keys).
	s.warm(slices.Concat(both("events_a1", "1"), both("events_a1", "5"), both("events_a", "1"), both("events", "1"))...)
	s.exec("UPDATE events SET v = 'uno' WHERE id = 1 AND kind = 'a'")
	fresh("uno", slices.Concat(both("events_a1", "1"), both("events_a", "1"), both("events", "1"))...)
	s.kept(both("events_a1", "5")...)

	// A write that names the partition: pages that read its parents.
	s.warm(slices.Concat(both("events", "5"), both("events_a", "5"), both("events", "1"))...)
	s.exec("UPDATE events_a1 SET v = 'cinq' WHERE id = 5")
	fresh("cinq", slices.Concat(both("events", "5"), both("events_a", "5"))...)
	s.kept(both("events", "1")...)

	// INSERT and DELETE through the parent.
	s.warm(slices.Concat(both("events_a1", "7"), both("events_a1", "5"))...)
	s.exec("INSERT INTO events VALUES (7, 'a', 'sept')")
	fresh("sept", both("events_a1", "7")...)
	s.kept(both("events_a1", "5")...)
	s.exec("DELETE FROM events WHERE id = 7")
	fresh("none", both("events_a1", "7")...)

	// TRUNCATE of the parents.
	s.warm(slices.Concat(both("heirs_kid", "2"), both("events_a1", "5"))...)
	s.exec("TRUNCATE heirs, events")
	fresh("none", slices.Concat(both("heirs_kid", "2"), both("events_a1", "5"))...)
}
