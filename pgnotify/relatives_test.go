package pgnotify_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/pgnotify"
)

// family is a test's tables with inheritance children or partitions, their triggers
// installed, and a Listener running on them that records what it invalidates.
type family struct {
	*shop
	rec *recorder
}

// newFamily creates the tables of ddl and the sentinel table in a schema of the test's,
// installs the triggers on tables and on the sentinel, and runs a Listener on them.
func newFamily(t *testing.T, ddl string, tables ...pgnotify.Table) *family {
	t.Helper()
	p := newPG(t)
	p.exec(ddl + "; CREATE TABLE sentinel (id bigserial PRIMARY KEY)")
	tables = append(tables, pgnotify.Table{Name: "sentinel", Map: func(_ context.Context, c pgnotify.Change) ([]string, []string, error) {
		return nil, []string{"sentinel:" + c.Key[0]}, nil
	}})
	opts := pgnotify.Options{Channel: p.channel}
	p.install(opts, tables...)
	s := &shop{pg: p, tables: tables, opts: opts}
	rec := newRecorder(nil)
	run(t, s.listener(p.config()), rec)
	return &family{shop: s, rec: rec}
}

// tags runs sql and returns the tags its changes invalidated, sorted and without repeats.
func (f *family) tags(sql string) []string {
	f.t.Helper()
	f.rec.reset()
	f.exec(sql)
	f.sentinel(f.rec)
	var got []string
	for _, inv := range f.rec.all() {
		if !fromSentinel(inv) {
			got = append(got, strings.TrimPrefix(inv, "tag "))
		}
	}
	slices.Sort(got)
	return slices.Compact(got)
}

// rowTags returns, for each table, its scan tag and the row tags of cols (col, value pairs).
func rowTags(tables []string, cols ...string) []string {
	var tags []string
	for _, t := range tables {
		tags = append(tags, dumper.ScanTag(t))
		for i := 0; i < len(cols); i += 2 {
			tags = append(tags, dumper.RowTag(t, cols[i], cols[i+1]))
		}
	}
	return tags
}

// tableTags returns the table tag of each table.
func tableTags(tables ...string) []string {
	var tags []string
	for _, t := range tables {
		tags = append(tags, "table:"+t)
	}
	return tags
}

// check compares the tags that sql invalidated with want (in any order).
func (f *family) check(name, sql string, want ...[]string) {
	f.t.Helper()
	got := f.tags(sql)
	w := slices.Concat(want...)
	slices.Sort(w)
	if w = slices.Compact(w); !slices.Equal(got, w) {
		f.t.Errorf("%s: %s invalidated\n%q\nwant\n%q", name, sql, got, w)
	}
}

// TestInheritanceWrites checks what a write to a table with inheritance children
// invalidates: a statement that names the parent fires the parent's triggers only, yet its
// rows may be any child's, to any depth, and so any of those children's other parents': each
// of them gets the row tags of the change's key values (a child has none of its parent's keys
// but those it declares; the values are the rows' all the same), or its table tag when it has
// a key column the parent's notification does not carry. A statement that names a child
// stamps the tables it is a child of, to any depth, which return its rows, and not its
// siblings. A child created after the Listener connected is stamped too.
func TestInheritanceWrites(t *testing.T) {
	t.Parallel()
	f := newFamily(t, `CREATE TABLE heirs (id int PRIMARY KEY, v text);
		CREATE TABLE others (id int PRIMARY KEY, w text);
		CREATE TABLE heirs_kid (extra int) INHERITS (heirs);           -- no key of its own
		CREATE TABLE heirs_coded (code text UNIQUE) INHERITS (heirs);  -- a key the parent does not have
		CREATE TABLE heirs_grand () INHERITS (heirs_kid, others);      -- two levels, and a second parent
		INSERT INTO heirs VALUES (1, 'parent');
		INSERT INTO heirs_kid VALUES (2, 'kid', 0);
		INSERT INTO heirs_grand VALUES (3, 'grand', 0, 'w')`,
		pgnotify.Table{Name: "heirs"}, pgnotify.Table{Name: "heirs_kid"})
	// Every table a write to heirs may reach, but heirs_coded, whose code no notification of
	// heirs carries.
	fromParent := []string{"heirs", "heirs_kid", "heirs_grand", "others"}

	f.check("update through the parent", "UPDATE heirs SET v = 'new' WHERE id = 3",
		rowTags(fromParent, "id", "3"), tableTags("heirs_coded"))
	f.check("insert through the parent", "INSERT INTO heirs VALUES (4, 'new')",
		rowTags(fromParent, "id", "4"), tableTags("heirs_coded"))
	f.check("delete through the parent", "DELETE FROM heirs WHERE id = 2",
		rowTags(fromParent, "id", "2"), tableTags("heirs_coded"))
	f.check("update naming a child", "UPDATE heirs_kid SET v = 'kid' WHERE id = 3",
		rowTags([]string{"heirs_kid", "heirs_grand", "heirs", "others"}, "id", "3"))
	f.check("a child created after the Listener connected",
		"CREATE TABLE heirs_late () INHERITS (heirs); INSERT INTO heirs_late VALUES (7, 'late'); UPDATE heirs SET v = 'later' WHERE id = 7",
		rowTags(append(fromParent, "heirs_late"), "id", "7"), tableTags("heirs_coded"))
	// TRUNCATE fires the triggers of every table it empties, heirs_kid's too.
	f.check("truncate of the parent", "TRUNCATE heirs",
		tableTags("heirs", "heirs_kid", "heirs_coded", "heirs_grand", "heirs_late", "others"))
}

// TestPartitionWrites checks the same for a partitioned table with two levels of partitions:
// a partition has its parent's keys, so a write through the parent stamps every partition's
// row tags, but those of a partition with a key of its own, which get its table tag.
func TestPartitionWrites(t *testing.T) {
	t.Parallel()
	key := []string{"id", "kind"}
	f := newFamily(t, `CREATE TABLE events (id int, kind text, v text, PRIMARY KEY (id, kind)) PARTITION BY LIST (kind);
		CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a') PARTITION BY RANGE (id);
		CREATE TABLE events_a1 PARTITION OF events_a FOR VALUES FROM (0) TO (100);
		CREATE TABLE events_a2 PARTITION OF events_a FOR VALUES FROM (100) TO (200);
		CREATE TABLE events_b PARTITION OF events FOR VALUES IN ('b');
		CREATE UNIQUE INDEX ON events_b (v);  -- a key of its own
		INSERT INTO events VALUES (1, 'a', 'one'), (150, 'a', 'many'), (2, 'b', 'two')`,
		pgnotify.Table{Name: "events", Key: key}, pgnotify.Table{Name: "events_a1", Key: key})
	fromParent := []string{"events", "events_a", "events_a1", "events_a2"}

	f.check("update through the parent", "UPDATE events SET v = 'uno' WHERE id = 1",
		rowTags(fromParent, "id", "1", "kind", "a"), tableTags("events_b"))
	f.check("insert through the parent", "INSERT INTO events VALUES (3, 'a', 'three')",
		rowTags(fromParent, "id", "3", "kind", "a"), tableTags("events_b"))
	f.check("delete through the parent", "DELETE FROM events WHERE id = 150",
		rowTags(fromParent, "id", "150", "kind", "a"), tableTags("events_b"))
	f.check("update naming a partition", "UPDATE events_a1 SET v = 'eins' WHERE id = 1",
		rowTags([]string{"events_a1", "events_a", "events"}, "id", "1", "kind", "a"))
	f.check("a row moved to another partition", "UPDATE events SET kind = 'b' WHERE id = 3",
		rowTags(fromParent, "id", "3", "kind", "a", "kind", "b"), tableTags("events_b"))
	f.check("a partition created after the Listener connected",
		"CREATE TABLE events_c PARTITION OF events FOR VALUES IN ('c'); INSERT INTO events VALUES (5, 'c', 'five')",
		rowTags(append(fromParent, "events_c"), "id", "5", "kind", "c"), tableTags("events_b"))
	f.check("truncate of the parent", "TRUNCATE events",
		tableTags("events", "events_a", "events_a1", "events_a2", "events_b", "events_c"))
}

// TestRelativesOnConnect checks that the Listener, once connected, invalidates the table tags
// of its tables' inheritance children and partitions, and of their parents, with its tables':
// changes made while it was not listening may have changed any of them.
func TestRelativesOnConnect(t *testing.T) {
	t.Parallel()
	f := newFamily(t, `CREATE TABLE heirs (id int PRIMARY KEY);
		CREATE TABLE heirs_kid () INHERITS (heirs);
		CREATE TABLE events (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE events_a PARTITION OF events FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (id);
		CREATE TABLE events_a1 PARTITION OF events_a FOR VALUES FROM (0) TO (10)`,
		pgnotify.Table{Name: "heirs"}, pgnotify.Table{Name: "events_a"})
	got := f.rec.all()
	for _, tag := range tableTags("heirs", "heirs_kid", "events", "events_a", "events_a1", "sentinel") {
		if !slices.Contains(got, "tag "+tag) {
			t.Errorf("on connecting, invalidated %q, want %s among them", got, tag)
		}
	}
}
