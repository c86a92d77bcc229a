package crosslayer_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/pgnotify"
	"github.com/dumperhq/dumper/sqldumper"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Gadget declares only its primary key: the unique index on code and the foreign key on
// owner_id exist only in the migration (and so in the catalog).
type Gadget struct {
	ID      int64
	Code    string
	OwnerID int64
	Name    string
}

const migration = `
CREATE TABLE owners (id bigint PRIMARY KEY);
INSERT INTO owners VALUES (1), (2);
CREATE TABLE gadgets (
	id bigserial PRIMARY KEY,
	code varchar(20) NOT NULL,
	owner_id bigint NOT NULL,
	name text NOT NULL
);
CREATE UNIQUE INDEX gadgets_code ON gadgets (code);
ALTER TABLE gadgets ADD CONSTRAINT gadgets_owner FOREIGN KEY (owner_id) REFERENCES owners (id);
INSERT INTO gadgets (code, owner_id, name) VALUES ('a', 1, 'A'), ('b', 1, 'B'), ('c', 2, 'C');`

// shop is the gadgets behind a cache: pages read through sqldumper, writes through GORM.
type shop struct {
	dsn   string
	cache *dumper.Cache
	gorm  *gorm.DB
	h     http.Handler
}

// newShop migrates a schema of its own and serves /code/{code} and /owner/{id}, read through
// a *sql.DB opened with sqldumper.Open, behind a cache that gormdumper invalidates.
func newShop(t *testing.T, inv func(*dumper.Cache) dumper.Invalidator) *shop {
	t.Helper()
	_, dsn := testservice.PostgresSchema(t, "crosslayer_")
	cache, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	gdb, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := gdb.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	if err := gdb.Exec(migration).Error; err != nil {
		t.Fatalf("migrate: %v", err)
	}
	var gi dumper.Invalidator = cache
	if inv != nil {
		gi = inv(cache)
	}
	if err := gdb.Use(gormdumper.New(gi)); err != nil {
		t.Fatal(err)
	}
	sdb, err := sqldumper.Open("pgx", dsn, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sdb.Close() })
	mux := http.NewServeMux()
	list := func(w http.ResponseWriter, r *http.Request, query string, arg any) {
		rows, err := sdb.QueryContext(r.Context(), query, arg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer func() { _ = rows.Close() }()
		var names []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			names = append(names, name)
		}
		if err := rows.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(strings.Join(names, ",")))
	}
	mux.HandleFunc("GET /code/{code}", func(w http.ResponseWriter, r *http.Request) {
		list(w, r, `SELECT name FROM gadgets WHERE code = $1`, r.PathValue("code"))
	})
	mux.HandleFunc("GET /owner/{id}", func(w http.ResponseWriter, r *http.Request) {
		list(w, r, `SELECT name FROM gadgets WHERE owner_id = $1 ORDER BY id`, r.PathValue("id"))
	})
	return &shop{dsn: dsn, cache: cache, gorm: gdb, h: cache.Middleware(mux)}
}

// get requests path through the cache and reports whether it was a hit, with the body.
func (s *shop) get(t *testing.T, path string) (hit bool, body string) {
	t.Helper()
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
	}
	return strings.HasSuffix(w.Header().Get("Cache-Status"), "; hit"), w.Body.String()
}

// warm caches path: requested until it is a hit.
func (s *shop) warm(t *testing.T, path string) {
	t.Helper()
	s.get(t, path)
	if hit, _ := s.get(t, path); !hit {
		t.Fatalf("GET %s twice: not a hit", path)
	}
}

// TestGormWritesDropSQLReads checks that GORM writes through a model that declares only its
// primary key invalidate the pages that sqldumper read narrowed by a unique index and by a
// foreign key made by the migration, and only those.
func TestGormWritesDropSQLReads(t *testing.T) {
	t.Parallel()
	s := newShop(t, nil)
	update := func(id int64, col string, v any) {
		t.Helper()
		if err := s.gorm.Model(&Gadget{ID: id}).Update(col, v).Error; err != nil {
			t.Fatalf("update %d %s: %v", id, col, err)
		}
	}
	type want struct {
		path string
		hit  bool
		body string
	}
	steps := []struct {
		name  string
		warm  []string
		write func()
		want  []want
	}{
		{
			name:  "a non-key column of a",
			warm:  []string{"/code/a", "/code/b"},
			write: func() { update(1, "name", "A2") },
			want:  []want{{"/code/a", false, "A2"}, {"/code/b", true, "B"}},
		},
		{
			name:  "another row",
			warm:  []string{"/code/a"},
			write: func() { update(2, "name", "B2") },
			want:  []want{{"/code/a", true, "A2"}, {"/code/b", false, "B2"}},
		},
		{
			name:  "the code of a",
			warm:  []string{"/code/a", "/code/z", "/code/c"},
			write: func() { update(1, "code", "z") },
			want:  []want{{"/code/a", false, ""}, {"/code/z", false, "A2"}, {"/code/c", true, "C"}},
		},
		{
			name:  "b to another owner",
			warm:  []string{"/owner/1", "/owner/2", "/owner/3", "/code/b"},
			write: func() { update(2, "owner_id", int64(2)) },
			want: []want{{"/owner/1", false, "A2"}, {"/owner/2", false, "B2,C"}, {"/owner/3", true, ""},
				{"/code/b", false, "B2"}},
		},
		{
			name:  "an owner's other row",
			warm:  []string{"/owner/1", "/owner/2", "/code/z"},
			write: func() { update(3, "name", "C2") },
			want:  []want{{"/owner/1", true, "A2"}, {"/owner/2", false, "B2,C2"}, {"/code/z", true, "A2"}},
		},
		{
			name: "GORM create",
			warm: []string{"/code/n", "/owner/1", "/code/z"},
			write: func() {
				if err := s.gorm.Create(&Gadget{Code: "n", OwnerID: 1, Name: "N"}).Error; err != nil {
					t.Fatal(err)
				}
			},
			want: []want{{"/code/n", false, "N"}, {"/owner/1", false, "A2,N"}, {"/code/z", true, "A2"}},
		},
	}
	for _, st := range steps {
		for _, p := range st.warm {
			s.warm(t, p)
		}
		st.write()
		for _, w := range st.want {
			hit, body := s.get(t, w.path)
			if hit != w.hit || body != w.body {
				t.Errorf("%s: GET %s: hit %v body %q, want hit %v body %q", st.name, w.path, hit, body, w.hit, w.body)
			}
		}
	}
}

// tagLog is an Invalidator that records the tags it is given, in front of another.
type tagLog struct {
	next dumper.Invalidator
	mu   sync.Mutex
	tags []string
}

func (l *tagLog) InvalidatePaths(ctx context.Context, paths ...string) error {
	return l.next.InvalidatePaths(ctx, paths...)
}

func (l *tagLog) InvalidateTags(ctx context.Context, tags ...string) error {
	l.mu.Lock()
	l.tags = append(l.tags, tags...)
	l.mu.Unlock()
	return l.next.InvalidateTags(ctx, tags...)
}

// take returns the distinct tags recorded since the last take, sorted.
func (l *tagLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Compact(slices.Sorted(slices.Values(l.tags)))
	l.tags = nil
	return out
}

// has reports whether every tag of want has been recorded since the last take.
func (l *tagLog) has(want []string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range want {
		if !slices.Contains(l.tags, w) {
			return false
		}
	}
	return true
}

// TestGormAndPgnotifyStampEqualTags checks that for the same row change of the gadgets, the
// tags gormdumper stamps and those pgnotify's Listener invalidates from its triggers are the
// same set: the catalog's key columns, which pgnotify.Commits relies on to leave out the
// Listener's copy of the application's own writes.
func TestGormAndPgnotifyStampEqualTags(t *testing.T) {
	t.Parallel()
	var gormLog tagLog
	s := newShop(t, func(c *dumper.Cache) dumper.Invalidator { gormLog.next = c; return &gormLog })
	ctx, cancel := context.WithCancel(context.Background())
	config, err := pgx.ParseConfig(s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	opts := pgnotify.Options{Channel: config.RuntimeParams["search_path"]}
	tables := []pgnotify.Table{{Name: "gadgets"}}
	err = pgnotify.Install(ctx, conn, opts, tables...)
	_ = conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l, err := pgnotify.NewListener(config, opts, tables...)
	if err != nil {
		t.Fatal(err)
	}
	notifyLog := &tagLog{next: s.cache}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, notifyLog) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
	wait.For(t, 10*time.Second, "the listener to be live", l.Live)
	notifyLog.take()
	gormLog.take()

	writes := []struct {
		name string
		gorm func(db *gorm.DB) error
		raw  string // the same change in SQL, on the row as the GORM write left it
	}{
		{
			name: "non-key column",
			gorm: func(db *gorm.DB) error { return db.Model(&Gadget{ID: 1}).Update("name", "A2").Error },
			raw:  `UPDATE gadgets SET name = 'A3' WHERE id = 1`,
		},
		{
			name: "code",
			gorm: func(db *gorm.DB) error { return db.Model(&Gadget{ID: 1}).Update("code", "z").Error },
			raw:  `UPDATE gadgets SET code = 'a' WHERE id = 1`,
		},
		{
			name: "owner",
			gorm: func(db *gorm.DB) error { return db.Model(&Gadget{ID: 2}).Update("owner_id", 2).Error },
			raw:  `UPDATE gadgets SET owner_id = 1 WHERE id = 2`,
		},
	}
	var sqlDB *sql.DB
	if sqlDB, err = s.gorm.DB(); err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		if err := w.gorm(s.gorm); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		stamped := gormLog.take()
		wait.For(t, 10*time.Second, "the listener to hear "+w.name, func() bool { return notifyLog.has(stamped) })
		// The Listener's set may not hold more than the plugin's either.
		if heard := notifyLog.take(); !slices.Equal(heard, stamped) {
			t.Errorf("%s: gormdumper stamped %q, pgnotify invalidated %q", w.name, stamped, heard)
		}
		if !slices.ContainsFunc(stamped, func(tag string) bool {
			return strings.HasPrefix(tag, "row:gadgets:code=") || strings.HasPrefix(tag, "row:gadgets:owner_id=")
		}) {
			t.Errorf("%s: gormdumper stamped %q: no tag of the catalog's key columns", w.name, stamped)
		}
		// The raw write back stamps, through the triggers, the same set: the old and the
		// new values of the same key columns, swapped.
		if _, err := sqlDB.Exec(w.raw); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		wait.For(t, 10*time.Second, "the listener to hear the raw "+w.name, func() bool { return notifyLog.has(stamped) })
		if heard := notifyLog.take(); !slices.Equal(heard, stamped) {
			t.Errorf("raw %s: pgnotify invalidated %q, want %q (gormdumper's for the reverse change)", w.name, heard, stamped)
		}
		gormLog.take()
	}
}

// TestPgnotifyTriggersKeepSQLWritesPrecise: pgnotify's triggers only notify, so a write
// through sqldumper to a table that has them is still attributed to its table, not taken for
// one that may change anything (dumper.DatabaseTag, which drops every captured page).
func TestPgnotifyTriggersKeepSQLWritesPrecise(t *testing.T) {
	t.Parallel()
	s := newShop(t, nil)
	ctx := context.Background()
	config, err := pgx.ParseConfig(s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	err = pgnotify.Install(ctx, conn, pgnotify.Options{Channel: config.RuntimeParams["search_path"]}, pgnotify.Table{Name: "gadgets"})
	_ = conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	log := &tagLog{next: s.cache}
	sdb, err := sqldumper.Open("pgx", s.dsn, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sdb.Close() })
	if _, err := sdb.ExecContext(ctx, `UPDATE gadgets SET name = 'A3' WHERE code = 'a'`); err != nil {
		t.Fatal(err)
	}
	got := log.take()
	if slices.Contains(got, dumper.DatabaseTag) || !slices.Contains(got, dumper.TableTag("gadgets")) {
		t.Errorf("a write to a table with pgnotify's triggers stamped %q, want its table's tag and not %q", got, dumper.DatabaseTag)
	}
}
