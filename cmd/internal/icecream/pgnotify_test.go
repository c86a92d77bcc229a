package icecream_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/pgnotify"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
)

// captureSite serves pages of the shop that tag themselves as dependency capture tags a
// response (docs/capture.md), through dumper.ReadRows and dumper.ReadTable, behind a cache
// that pgnotify's Listener, with icecream.NotifyTables, invalidates: what the demo's pages
// carry once their reads are tagged by capture, whatever the handlers' own code.
//
//   - /flavor/{slug}: the flavor by slug, its join rows by flavor id, its sizes by id;
//   - /size/{slug}: the size by slug, its join rows by size id, its flavors by id;
//   - /: every flavor (a scan of ice_creams).
type captureSite struct {
	t     *testing.T
	srv   *httptest.Server
	cache *dumper.Cache
	conn  *pgx.Conn // for raw SQL
}

func newCaptureSite(t *testing.T) *captureSite {
	t.Helper()
	ctx := context.Background()
	config, err := pgx.ParseConfig(postgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	db, err := icecream.Open(postgres.New(postgres.Config{Conn: stdlib.OpenDB(*config.Copy())}), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = icecream.Close(db) })
	if err := icecream.Seed(db); err != nil {
		t.Fatal(err)
	}
	listener, err := icecream.Listen(ctx, config, db, pgnotify.Options{Channel: config.RuntimeParams["search_path"]})
	if err != nil {
		t.Fatal(err)
	}
	cache := listening(t, listener)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		dumper.ReadTable(r.Context(), "ice_creams")
		var names []string
		if err := db.WithContext(r.Context()).Raw("SELECT name FROM ice_creams ORDER BY id").Scan(&names).Error; err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, strings.Join(names, ", "))
	})
	related := func(kind, table, otherTable, fk, otherFK string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			slug := r.PathValue("slug")
			dumper.ReadRows(ctx, table, "slug", slug)
			var row struct {
				ID   uint64
				Name string
			}
			if err := db.WithContext(ctx).Raw("SELECT id, name FROM "+table+" WHERE slug = ?", slug).Scan(&row).Error; err != nil || row.ID == 0 {
				http.Error(w, "no such "+kind, http.StatusNotFound)
				return
			}
			id := fmt.Sprint(row.ID)
			dumper.ReadRows(ctx, "ice_cream_sizes", fk, id)
			var ids []uint64
			if err := db.WithContext(ctx).Raw("SELECT "+otherFK+" FROM ice_cream_sizes WHERE "+fk+" = ?", row.ID).Scan(&ids).Error; err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			var values []string
			for _, x := range ids {
				values = append(values, fmt.Sprint(x))
			}
			dumper.ReadRows(ctx, otherTable, "id", values...)
			var names []string
			if len(ids) > 0 {
				if err := db.WithContext(ctx).Raw("SELECT name FROM "+otherTable+" WHERE id IN ? ORDER BY id", ids).Scan(&names).Error; err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
			}
			fmt.Fprintf(w, "%s: %s", row.Name, strings.Join(names, ", "))
		}
	}
	mux.HandleFunc("GET /flavor/{slug}", related("flavor", "ice_creams", "sizes", "ice_cream_id", "size_id"))
	mux.HandleFunc("GET /size/{slug}", related("size", "sizes", "ice_creams", "size_id", "ice_cream_id"))
	srv := httptest.NewServer(cache.Middleware(mux))
	t.Cleanup(srv.Close)
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &captureSite{t: t, srv: srv, cache: cache, conn: conn}
}

// get returns a page's body and whether the cache served it.
func (s *captureSite) get(path string) (body string, hit bool) {
	s.t.Helper()
	res, err := s.srv.Client().Get(s.srv.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b), strings.HasSuffix(res.Header.Get("Cache-Status"), "; hit")
}

// warm requests each page until it is cached.
func (s *captureSite) warm(paths ...string) {
	s.t.Helper()
	for _, p := range paths {
		s.get(p)
		if _, hit := s.get(p); !hit {
			s.t.Fatalf("GET %s: not cached", p)
		}
	}
}

// exec runs raw SQL, no ORM involved.
func (s *captureSite) exec(sql string) {
	s.t.Helper()
	if _, err := s.conn.Exec(context.Background(), sql); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
}

// fresh waits until path, cached before the write, shows want: the change's invalidation
// has been made (one call for every tag of a batch of changes).
func (s *captureSite) fresh(path, want string) {
	s.t.Helper()
	wait.For(s.t, 10*time.Second, path+" to show "+want, func() bool {
		body, _ := s.get(path)
		return strings.Contains(body, want)
	})
}

// dropped checks that each page is rendered again, showing want.
func (s *captureSite) dropped(want string, paths ...string) {
	s.t.Helper()
	for _, p := range paths {
		if body, hit := s.get(p); hit || !strings.Contains(body, want) {
			s.t.Errorf("GET %s = %q (hit %v), want it rendered again, showing %q", p, body, hit, want)
		}
	}
}

// kept checks that each page is still served from the cache.
func (s *captureSite) kept(paths ...string) {
	s.t.Helper()
	for _, p := range paths {
		if body, hit := s.get(p); !hit {
			s.t.Errorf("GET %s = %q: rendered again, want it still cached", p, body)
		}
	}
}

// TestNotify checks that writes made outside the application — raw SQL through a second
// connection, no ORM — refresh exactly the pages whose reads they change, at row precision,
// through the triggers' key columns and the automatic tags of icecream.NotifyTables (no
// Map): a page that read a row by a key column is dropped when that row changes and kept
// otherwise; a page that scanned a table is dropped by every change of it.
//
// The pages are the test's own (captureSite), tagged as capture tags a response, so that
// the test states the contract of pgnotify's side whatever the demo's handlers do.
func TestNotify(t *testing.T) {
	t.Parallel()
	s := newCaptureSite(t)
	// Vanilla comes in small and medium; chocolate in medium and large.
	s.warm("/", "/flavor/vanilla", "/flavor/chocolate", "/size/small", "/size/medium", "/size/large")

	// A flavor renamed: its row tags (id, slug) and the scan tag of ice_creams.
	s.exec("UPDATE ice_creams SET name = 'Vanilla Bean' WHERE slug = 'vanilla'")
	s.fresh("/flavor/vanilla", "Vanilla Bean")
	s.dropped("Vanilla Bean", "/", "/size/small", "/size/medium") // a scan; and two reads of vanilla by id
	s.kept("/flavor/chocolate", "/size/large")                    // read ice_creams by slug=chocolate, or id=chocolate's

	// A new slug: the old slug's page is gone (the old value's row tag), the new one shows.
	s.warm("/", "/flavor/vanilla")
	s.exec("UPDATE ice_creams SET slug = 'vanilla-bean' WHERE slug = 'vanilla'")
	s.fresh("/flavor/vanilla", "no such flavor")
	s.dropped("Vanilla Bean", "/", "/size/small", "/size/medium") // a scan, and reads of vanilla's row by id
	s.kept("/flavor/chocolate", "/size/large")
	if body, _ := s.get("/flavor/vanilla-bean"); body != "Vanilla Bean: Small, Medium" {
		t.Errorf("GET /flavor/vanilla-bean = %q", body)
	}

	// A join row: the pages that read the join table by either of its foreign keys.
	s.warm("/flavor/vanilla-bean")
	s.exec(`INSERT INTO ice_cream_sizes (ice_cream_id, size_id)
		SELECT f.id, s.id FROM ice_creams f, sizes s WHERE f.slug = 'chocolate' AND s.slug = 'small'`)
	s.fresh("/size/small", "Chocolate")
	s.dropped("Small", "/flavor/chocolate")
	s.kept("/flavor/vanilla-bean", "/size/medium", "/size/large", "/")

	// A size renamed: its page, and the pages that read it by id.
	s.warm("/size/small", "/flavor/chocolate")
	s.exec("UPDATE sizes SET name = 'Huge' WHERE slug = 'large'")
	s.fresh("/size/large", "Huge")
	s.dropped("Huge", "/flavor/chocolate")
	s.kept("/size/small", "/size/medium", "/flavor/vanilla-bean", "/")

	// A statement past MaxRows is table-level: every page that read ice_creams.
	s.warm("/flavor/chocolate", "/size/large")
	s.exec("INSERT INTO ice_creams (slug, name) SELECT 'f' || i, 'F' || i FROM generate_series(1, 200) AS i")
	s.fresh("/", "F200")
	s.dropped("Chocolate", "/flavor/chocolate", "/size/large")
}
