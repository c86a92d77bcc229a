package gormdumper_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// The models of the propagation tests declare no relation: the foreign keys, their actions
// and the trigger are the migration's, which only the catalog knows.
type (
	Parent struct {
		ID   int64
		Code string
	}
	Child struct { // children: ON DELETE CASCADE
		ID       int64
		ParentID int64
		Name     string
	}
	Grandchild struct { // grandchildren: ON DELETE CASCADE from children
		ID      int64
		ChildID int64
	}
	Tenant struct { // tenants: ON UPDATE CASCADE on parents.code
		ID         int64
		ParentCode string
	}
	Orphan struct { // orphans: ON DELETE SET NULL
		ID       int64
		ParentID *int64
	}
	Memo struct { // memos: a trigger writes audits on every update
		ID   int64
		Body string
	}
	Event struct { // events: partitioned, a trigger on one partition
		ID   int64
		Year int
	}
	Audit struct {
		ID     int64
		MemoID int64
		Body   string
	}
)

const propagationMigration = `
CREATE TABLE parents (id bigint PRIMARY KEY, code text NOT NULL UNIQUE);
CREATE TABLE children (id bigint PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parents (id) ON DELETE CASCADE, name text NOT NULL);
CREATE TABLE grandchildren (id bigint PRIMARY KEY, child_id bigint NOT NULL REFERENCES children (id) ON DELETE CASCADE);
CREATE TABLE tenants (id bigint PRIMARY KEY, parent_code text NOT NULL REFERENCES parents (code) ON UPDATE CASCADE);
CREATE TABLE orphans (id bigint PRIMARY KEY, parent_id bigint REFERENCES parents (id) ON DELETE SET NULL);
CREATE TABLE memos (id bigint PRIMARY KEY, body text NOT NULL);
CREATE TABLE audits (id bigserial PRIMARY KEY, memo_id bigint NOT NULL, body text NOT NULL);
CREATE FUNCTION audit_memo() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audits (memo_id, body) VALUES (NEW.id, NEW.body);
	RETURN NEW;
END $$;
CREATE TRIGGER memos_audit AFTER UPDATE ON memos FOR EACH ROW EXECUTE FUNCTION audit_memo();
CREATE TABLE events (id bigint NOT NULL, year int NOT NULL, PRIMARY KEY (id, year)) PARTITION BY LIST (year);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES IN (2025);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES IN (2026);
CREATE FUNCTION audit_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audits (memo_id, body) VALUES (NEW.id, 'event');
	RETURN NEW;
END $$;
CREATE TRIGGER events_2026_audit AFTER INSERT ON events_2026 FOR EACH ROW EXECUTE FUNCTION audit_event();
INSERT INTO parents VALUES (1, 'p1'), (2, 'p2'), (3, 'p3'), (4, 'p4');
INSERT INTO children VALUES (10, 1, 'c10'), (20, 2, 'c20');
INSERT INTO grandchildren VALUES (100, 10);
INSERT INTO tenants VALUES (30, 'p3');
INSERT INTO orphans VALUES (40, 4);
INSERT INTO memos VALUES (50, 'first');
INSERT INTO audits (memo_id, body) VALUES (50, 'first');`

// openPropagation opens PostgreSQL with the propagation migration and the plugin, invalidating
// in inv.
func openPropagation(t *testing.T, inv gormdumper.Invalidator) *gorm.DB {
	t.Helper()
	db := openPostgres(t, &gorm.Config{Logger: logger.Discard})
	if err := db.Exec(propagationMigration).Error; err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := db.Use(gormdumper.New(inv)); err != nil {
		t.Fatalf("Use: %v", err)
	}
	return db
}

// TestDatabasePropagatedWrites checks, with the middleware and real pages, that a write
// through GORM invalidates the pages that read rows the database changes in turn: a cascade
// delete (two levels down), an ON UPDATE CASCADE key change, a SET NULL, and a trigger that
// writes another table. Each page reads its rows by key, so that the write's own row tags
// would leave it stale. Pages of tables a write does not reach stay cached.
func TestDatabasePropagatedWrites(t *testing.T) {
	t.Parallel()
	cache, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	db := openPropagation(t, cache)
	page := func(read func(db *gorm.DB) (any, error)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v, err := read(db.WithContext(r.Context()))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_ = json.NewEncoder(w).Encode(v)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/children/of/1", page(func(db *gorm.DB) (any, error) {
		var cs []Child
		return cs, db.Where("parent_id = ?", 1).Find(&cs).Error
	}))
	mux.Handle("/children/10", page(func(db *gorm.DB) (any, error) {
		var c Child
		return c, db.Where("id = ?", 10).Find(&c).Error
	}))
	mux.Handle("/children/20", page(func(db *gorm.DB) (any, error) {
		var c Child
		return c, db.Where("id = ?", 20).Find(&c).Error
	}))
	mux.Handle("/grandchildren/100", page(func(db *gorm.DB) (any, error) {
		var g Grandchild
		return g, db.Where("id = ?", 100).Find(&g).Error
	}))
	mux.Handle("/tenants/30", page(func(db *gorm.DB) (any, error) {
		var x Tenant
		return x, db.Where("id = ?", 30).Find(&x).Error
	}))
	mux.Handle("/orphans/40", page(func(db *gorm.DB) (any, error) {
		var o Orphan
		return o, db.Where("id = ?", 40).Find(&o).Error
	}))
	mux.Handle("/audits/of/50", page(func(db *gorm.DB) (any, error) {
		var as []Audit
		return as, db.Where("memo_id = ?", 50).Order("id").Find(&as).Error
	}))
	site := cache.Middleware(mux)
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
		}
		return w
	}
	pages := []string{"/children/of/1", "/children/10", "/children/20", "/grandchildren/100",
		"/tenants/30", "/orphans/40", "/audits/of/50"}
	bodies := map[string]string{}
	for _, p := range pages {
		bodies[p] = get(p).Body.String()
		if w := get(p); !isHit(w) {
			t.Fatalf("GET %s twice: not a hit (Cache-Status %q)", p, w.Header().Get("Cache-Status"))
		}
	}
	tests := []struct {
		name    string
		write   func() error
		changed []string // pages whose rows the database changed
		kept    []string // pages the write leaves cached
	}{
		{
			name:    "cascade delete, two levels",
			write:   func() error { return db.Delete(&Parent{ID: 1}).Error },
			changed: []string{"/children/of/1", "/children/10", "/grandchildren/100"},
			kept:    []string{"/tenants/30", "/audits/of/50"},
		},
		{
			name:    "ON UPDATE CASCADE key change",
			write:   func() error { return db.Model(&Parent{ID: 3}).Update("code", "p3-renamed").Error },
			changed: []string{"/tenants/30"},
			kept:    []string{"/children/10", "/audits/of/50"},
		},
		{
			name:    "SET NULL",
			write:   func() error { return db.Delete(&Parent{ID: 4}).Error },
			changed: []string{"/orphans/40"},
			kept:    []string{"/tenants/30", "/audits/of/50"},
		},
		{
			name:    "a trigger writes another table",
			write:   func() error { return db.Model(&Memo{ID: 50}).Update("body", "second").Error },
			changed: []string{"/audits/of/50"},
		},
	}
	for _, tt := range tests {
		if err := tt.write(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, p := range tt.changed {
			w := get(p)
			if isHit(w) {
				t.Errorf("%s: GET %s is a hit of the old page %s", tt.name, p, w.Body)
			}
			if w.Body.String() == bodies[p] {
				t.Errorf("%s: GET %s = %s, unchanged: the write did not reach it", tt.name, p, w.Body)
			}
			bodies[p] = w.Body.String()
		}
		for _, p := range tt.kept {
			if w := get(p); !isHit(w) {
				t.Errorf("%s: GET %s is not a hit (Cache-Status %q)", tt.name, p, w.Header().Get("Cache-Status"))
			}
		}
	}
}

// TestPropagationTags checks what writes stamp for the database's own writes: the table tags
// of the tables that foreign-key actions change, following the actions there; the database
// tag for a table with user triggers (on the trigger's events only) and not for pgnotify's
// notifying triggers; the partitions of a partitioned table, with their triggers; nothing more
// for a table that nothing references, for a write that assigns no referenced column, or for
// an action the write does not set off.
func TestPropagationTags(t *testing.T) {
	t.Parallel()
	var log tagLog
	db := openPropagation(t, &log)
	// A function named as pgnotify's trigger function: its triggers only notify.
	if err := db.Exec(`CREATE FUNCTION dumper_pgnotify_v3() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
		CREATE TRIGGER pgnotify_children AFTER INSERT OR UPDATE OR DELETE ON children FOR EACH STATEMENT EXECUTE FUNCTION dumper_pgnotify_v3();`).Error; err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		write func() error
		want  []string // the tags of other tables, and the database tag
	}{
		{
			name:  "delete: cascades to children and grandchildren",
			write: func() error { return db.Delete(&Parent{ID: 1}).Error },
			want:  []string{"table:children", "table:grandchildren", "table:orphans"},
		},
		{
			name:  "update of a non-referenced column: no action",
			write: func() error { return db.Model(&Child{ID: 20}).Update("name", "c20b").Error },
		},
		{
			name:  "update of a referenced column: ON UPDATE CASCADE",
			write: func() error { return db.Model(&Parent{ID: 2}).Update("code", "p2b").Error },
			want:  []string{"table:tenants"},
		},
		{
			name:  "insert into a table with an UPDATE trigger",
			write: func() error { return db.Create(&Memo{ID: 51, Body: "x"}).Error },
		},
		{
			name:  "update of a table with an UPDATE trigger",
			write: func() error { return db.Model(&Memo{ID: 51}).Update("body", "y").Error },
			want:  []string{dumper.DatabaseTag},
		},
		{
			name:  "insert into a partitioned table: its partitions, and the trigger of one",
			write: func() error { return db.Create(&Event{ID: 1, Year: 2026}).Error },
			want:  []string{dumper.DatabaseTag, "table:events_2025", "table:events_2026"},
		},
		{
			name:  "delete from a table nothing references",
			write: func() error { return db.Delete(&Grandchild{ID: 100}).Error },
		},
	}
	log.take()
	for _, tt := range tests {
		if err := tt.write(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got []string
		for _, tag := range log.take() {
			if tag == dumper.DatabaseTag || slices.Contains([]string{"table:children", "table:grandchildren",
				"table:tenants", "table:orphans", "table:audits", "table:events_2025", "table:events_2026"}, tag) {
				got = append(got, tag)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: stamped %q, want %q", tt.name, got, tt.want)
		}
	}
}

// sqlitePropagationMigration is propagationMigration's foreign keys and trigger in SQLite's
// dialect: children and orphans reference parents by the primary key without naming it.
const sqlitePropagationMigration = `
CREATE TABLE parents (id integer PRIMARY KEY, code text NOT NULL UNIQUE);
CREATE TABLE children (id integer PRIMARY KEY, parent_id integer NOT NULL REFERENCES parents ON DELETE CASCADE, name text NOT NULL);
CREATE TABLE grandchildren (id integer PRIMARY KEY, child_id integer NOT NULL REFERENCES children (id) ON DELETE CASCADE);
CREATE TABLE tenants (id integer PRIMARY KEY, parent_code text NOT NULL REFERENCES parents (code) ON UPDATE CASCADE);
CREATE TABLE orphans (id integer PRIMARY KEY, parent_id integer REFERENCES parents ON DELETE SET NULL);
CREATE TABLE memos (id integer PRIMARY KEY, body text NOT NULL);
CREATE TABLE audits (id integer PRIMARY KEY, memo_id integer NOT NULL, body text NOT NULL);
CREATE TRIGGER memos_audit AFTER UPDATE ON memos BEGIN INSERT INTO audits (memo_id, body) VALUES (NEW.id, NEW.body); END;
INSERT INTO parents VALUES (1, 'p1'), (2, 'p2'), (3, 'p3'), (4, 'p4');
INSERT INTO children VALUES (10, 1, 'c10'), (20, 2, 'c20');
INSERT INTO grandchildren VALUES (100, 10);
INSERT INTO tenants VALUES (30, 'p3');
INSERT INTO orphans VALUES (40, 4);
INSERT INTO memos VALUES (50, 'first');`

// TestSQLitePropagationTags is TestPropagationTags on SQLite, whose schema gives the foreign
// keys (a key that names no column references the primary key, which any update of the
// table may set) and the triggers (any trigger counts for every event: its events are in its
// SQL text only).
func TestSQLitePropagationTags(t *testing.T) {
	t.Parallel()
	db := openSQLite(t, &gorm.Config{Logger: logger.Discard})
	for s := range strings.SplitSeq(strings.TrimSpace(sqlitePropagationMigration), ";\n") {
		if err := db.Exec(s).Error; err != nil {
			t.Fatalf("migrate: %s: %v", s, err)
		}
	}
	var log tagLog
	if err := db.Use(gormdumper.New(&log)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		write func() error
		want  []string // the tags of other tables, and the database tag
	}{
		{
			name:  "delete: cascades to children and grandchildren, sets orphans' key NULL",
			write: func() error { return db.Delete(&Parent{ID: 1}).Error },
			want:  []string{"table:children", "table:grandchildren", "table:orphans"},
		},
		{
			name:  "update of a column no key references: no action",
			write: func() error { return db.Model(&Child{ID: 20}).Update("name", "c20b").Error },
		},
		{
			name:  "update of a referencing column: no action",
			write: func() error { return db.Model(&Tenant{ID: 30}).Update("parent_code", "p2").Error },
		},
		{
			name:  "update of parents' code: ON UPDATE CASCADE",
			write: func() error { return db.Model(&Parent{ID: 2}).Update("code", "p2b").Error },
			want:  []string{"table:tenants"},
		},
		{
			name:  "a table with a trigger: the database tag, whatever the event",
			write: func() error { return db.Create(&Memo{ID: 51, Body: "x"}).Error },
			want:  []string{dumper.DatabaseTag},
		},
		{
			name:  "delete from a table nothing references",
			write: func() error { return db.Delete(&Grandchild{ID: 100}).Error },
		},
	}
	log.take()
	for _, tt := range tests {
		if err := tt.write(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got []string
		for _, tag := range log.take() {
			if tag == dumper.DatabaseTag || slices.Contains([]string{"table:children", "table:grandchildren",
				"table:tenants", "table:orphans", "table:audits"}, tag) {
				got = append(got, tag)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: stamped %q, want %q", tt.name, got, tt.want)
		}
	}
}
