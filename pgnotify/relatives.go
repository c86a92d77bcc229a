package pgnotify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// A statement that names a table with inheritance children or partitions fires that table's
// triggers only, yet changes the children's rows too, which reads of a child name by the
// child's own name; and the rows of a child are its parents' rows, which reads of a parent
// name by the parent's name. A change of a table is therefore also a change of its
// relatives: its inheritance children and partitions, to any depth, and every table that
// one of them, or the table itself, is a child or a partition of, to any depth. The
// notification does not say which of them holds a row (transition tables have no tableoid),
// so the Listener stamps every relative, row by row where it can (see relativeTags).
//
// The relatives come from pg_inherits, read on the Listener's connection when the change
// arrives: PostgreSQL delivers a notification after its transaction commits, so a catalog
// read made after it sees every partition or child the statement could write. The read is
// reused for the changes of every transaction its snapshot already shows committed, so a
// stream of notifications costs one read per notification of a transaction that committed
// after the last read began, not one per row. A first query says whether any of the tables
// has relatives at all (most have none); the second, which reads them, runs only if so.

// catalogTimeout bounds a read of the relatives.
const catalogTimeout = 5 * time.Second

// maxRelativeRows bounds the row-level changes of one table in a batch, times its relatives,
// that the Listener maps row by row to the relatives' tags: past it, each relative's table
// tag is invalidated instead, as a burst past MaxRows does for the table itself (a table with
// a thousand partitions must not turn one batch into millions of tags).
const maxRelativeRows = 4096

// A relative is a table whose reads return rows that a change of another table may have
// changed, with its key columns as the triggers' installer finds them (see installerSQL).
type relative struct {
	Name string   `json:"t"` // bare, as tags name tables
	Keys []string `json:"k"`
}

// relativesQuery returns, as JSON, the snapshot of the query (txid_current_snapshot) and, for
// each table named by $1 (schemas, an empty one meaning any) and $2 (names), in order, its
// relatives: its inheritance children and partitions to any depth, and the tables that it or
// any of them is a child or a partition of, to any depth, each with its key columns (the
// columns of its primary key, unique constraints, unique indexes and foreign keys, of a
// canonical type: the rule of installerSQL, which this must follow). A table not found has
// none.
const relativesQuery = `WITH RECURSIVE
  input(i, s, t) AS (SELECT u.i, u.s, u.t FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(s, t, i)),
  roots(i, oid) AS (
    SELECT u.i, c.oid FROM input AS u
    JOIN pg_catalog.pg_class AS c ON c.relname = u.t AND c.relkind IN ('r', 'p')
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace AND (u.s = '' OR n.nspname = u.s)),
  des(i, oid) AS (
    SELECT r.i, h.inhrelid FROM roots AS r JOIN pg_catalog.pg_inherits AS h ON h.inhparent = r.oid
  UNION
    SELECT d.i, h.inhrelid FROM des AS d JOIN pg_catalog.pg_inherits AS h ON h.inhparent = d.oid),
  anc(i, oid) AS (
    SELECT i, oid FROM roots UNION SELECT i, oid FROM des
  UNION
    SELECT a.i, h.inhparent FROM anc AS a JOIN pg_catalog.pg_inherits AS h ON h.inhrelid = a.oid)
SELECT pg_catalog.json_build_object('snapshot', pg_catalog.txid_current_snapshot()::text, 'tables', (
  SELECT pg_catalog.json_agg(coalesce((
      SELECT pg_catalog.json_agg(pg_catalog.json_build_object('t', c.relname, 'k', (
          SELECT coalesce(pg_catalog.json_agg(a.attname::text ORDER BY a.attnum), '[]'::json)
          FROM pg_catalog.pg_attribute AS a
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            AND a.atttypid IN (20, 21, 23, 25, 1043, 2950)
            AND (a.attcollation = 0 OR (SELECT coalesce((pg_catalog.to_jsonb(l) ->> 'collisdeterministic')::boolean, true)
              FROM pg_catalog.pg_collation AS l WHERE l.oid = a.attcollation))
            AND (EXISTS (SELECT FROM pg_catalog.pg_constraint AS k
                WHERE k.conrelid = c.oid AND k.contype IN ('p', 'u', 'f') AND a.attnum = ANY (k.conkey))
              OR EXISTS (SELECT FROM pg_catalog.pg_index AS x
                WHERE x.indrelid = c.oid AND x.indisunique AND a.attnum = ANY (x.indkey::int2[])))))
        ORDER BY c.relname)
      FROM (SELECT DISTINCT anc.oid FROM anc WHERE anc.i = u.i
        AND anc.oid NOT IN (SELECT roots.oid FROM roots WHERE roots.i = u.i)) AS r
      JOIN pg_catalog.pg_class AS c ON c.oid = r.oid), '[]'::json) ORDER BY u.i)
  FROM input AS u))::text`

// inheritsQuery returns the snapshot of the query (txid_current_snapshot) and whether any of
// the tables named by $1 (schemas, an empty one meaning any) and $2 (names) is a parent or a
// child in pg_inherits: most tables are neither, and this costs a fraction of relativesQuery.
const inheritsQuery = `SELECT pg_catalog.txid_current_snapshot()::text, coalesce(pg_catalog.bool_or(
    EXISTS (SELECT FROM pg_catalog.pg_inherits AS h WHERE h.inhparent = c.oid)
    OR EXISTS (SELECT FROM pg_catalog.pg_inherits AS h WHERE h.inhrelid = c.oid)), false)
  FROM unnest($1::text[], $2::text[]) AS u(s, t)
  JOIN pg_catalog.pg_class AS c ON c.relname = u.t AND c.relkind IN ('r', 'p')
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace AND (u.s = '' OR n.nspname = u.s)`

// A tableName names a table as a notification does; an empty schema means any schema (a
// Table without Schema, a salvaged payload).
type tableName struct{ schema, table string }

// relatives holds the relatives of the tables whose changes a session has seen, as one
// catalog read found them; it is used by the goroutine that reads the notifications only.
type relatives struct {
	snap  snapshot
	known map[tableName][]relative // nil before the first read
}

// of returns the relatives of table, for a change made by transaction tx (0: not known):
// those of the last read if its snapshot shows tx committed, else those of a new read, made
// on conn, of table and of every table read before (so that one snapshot serves them all).
func (r *relatives) of(ctx context.Context, conn *pgx.Conn, table tableName, tx uint64) ([]relative, error) {
	if rel, ok := r.known[table]; ok && tx != 0 && r.snap.visible(tx) {
		return rel, nil
	}
	names := []tableName{table}
	for n := range r.known {
		if n != table {
			names = append(names, n)
		}
	}
	if err := r.load(ctx, conn, names); err != nil {
		return nil, err
	}
	return r.known[table], nil
}

// load reads the relatives of names on conn, replacing what r knew.
func (r *relatives) load(ctx context.Context, conn *pgx.Conn, names []tableName) error {
	schemas, tables := make([]string, len(names)), make([]string, len(names))
	for i, n := range names {
		schemas[i], tables[i] = n.schema, n.table
	}
	ctx, cancel := context.WithTimeout(ctx, catalogTimeout)
	defer cancel()
	var (
		text     string
		inherits bool
	)
	if err := conn.QueryRow(ctx, inheritsQuery, schemas, tables).Scan(&text, &inherits); err != nil {
		return fmt.Errorf("pgnotify: read the inheritance children and partitions: %w", err)
	}
	if !inherits {
		return r.set(text, names, nil)
	}
	if err := conn.QueryRow(ctx, relativesQuery, schemas, tables).Scan(&text); err != nil {
		return fmt.Errorf("pgnotify: read the inheritance children and partitions: %w", err)
	}
	var out struct {
		Snapshot string       `json:"snapshot"`
		Tables   [][]relative `json:"tables"`
	}
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		return fmt.Errorf("pgnotify: read the inheritance children and partitions: %w", err)
	}
	if len(out.Tables) != len(names) {
		return fmt.Errorf("pgnotify: read the inheritance children and partitions: %d results for %d tables", len(out.Tables), len(names))
	}
	return r.set(out.Snapshot, names, out.Tables)
}

// set makes r know the relatives found of names (nil: none), as a read whose snapshot's text
// is snapshot found them.
func (r *relatives) set(snapshot string, names []tableName, found [][]relative) error {
	snap, err := parseSnapshot(snapshot)
	if err != nil {
		return err
	}
	r.known = make(map[tableName][]relative, len(names))
	for i, n := range names {
		r.known[n] = nil
		if found != nil {
			r.known[n] = found[i]
		}
	}
	r.snap = snap
	return nil
}

// genericPlans makes the server plan the catalog reads once per connection (PostgreSQL 12 and
// later; the default keeps planning relativesQuery for each run, which costs several times
// the run).
func genericPlans(ctx context.Context, conn *pgx.Conn) error {
	v := conn.PgConn().ParameterStatus("server_version")
	major, _, _ := strings.Cut(v, ".")
	if n, err := strconv.Atoi(strings.TrimRightFunc(major, func(r rune) bool { return r < '0' || r > '9' })); err != nil || n < 12 {
		return nil
	}
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		return fmt.Errorf("pgnotify: set plan_cache_mode: %w", err)
	}
	return nil
}

// A snapshot is a txid_snapshot: the transactions below xmin have ended, those from xmax on
// had not started, and those in xip, between them, were in progress.
type snapshot struct {
	xmin, xmax uint64
	xip        []uint64
}

// parseSnapshot parses txid_snapshot's text, "xmin:xmax:xip,xip…".
func parseSnapshot(s string) (snapshot, error) {
	parts := strings.Split(s, ":")
	bad := fmt.Errorf("pgnotify: snapshot %q", s)
	if len(parts) != 3 {
		return snapshot{}, bad
	}
	var sn snapshot
	var err error
	if sn.xmin, err = strconv.ParseUint(parts[0], 10, 64); err != nil {
		return snapshot{}, bad
	}
	if sn.xmax, err = strconv.ParseUint(parts[1], 10, 64); err != nil || sn.xmax < sn.xmin {
		return snapshot{}, bad
	}
	if parts[2] != "" {
		for x := range strings.SplitSeq(parts[2], ",") {
			v, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return snapshot{}, bad
			}
			sn.xip = append(sn.xip, v)
		}
	}
	return sn, nil
}

// visible reports whether transaction tx, known to have committed, had committed when the
// snapshot was taken.
func (s snapshot) visible(tx uint64) bool {
	switch {
	case tx < s.xmin:
		return true
	case tx >= s.xmax:
		return false
	}
	return !slices.Contains(s.xip, tx)
}

// relativeTags returns what a change of a table whose Key is key (nil meaning id) invalidates
// of its relative r: the table tag of r for a table-level change, a burst (coarse), a change
// that carries no key columns, or when r has a key column whose values the change does not
// carry (an inheritance child's own unique column); otherwise, row by row, the change's
// automatic tags under r's name (its scan tag and the row tags of the change's key values),
// which cover every read of r narrowed by a key column of r, since the columns r inherits
// have the type, and so the text, of the table's.
func (l *Listener) relativeTags(c *Change, key []string, r relative, coarse bool) []string {
	whole := []string{l.o.tableTag(r.Name)}
	if c.All || coarse || c.KeyColumns == nil {
		return whole
	}
	if key == nil {
		key = []string{"id"}
	}
	for _, k := range r.Keys {
		if !slices.Contains(c.KeyColumns, k) && !slices.Contains(key, k) {
			return whole
		}
	}
	return c.tagsAs(r.Name, key)
}
