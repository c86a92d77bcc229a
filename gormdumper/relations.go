package gormdumper

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// What a read of a relation depends on, besides the relation's own tags. Writes stamp the
// tables they write, so a read of anything but a plain table would carry tags no write
// stamps: a view's rows are its base tables', a materialized view's change only when it is
// refreshed, a foreign table's in another server. The plugin reads the relation's kind once
// per table (until RefreshKeys), with the catalog:
//   - a plain or partitioned table is read as such, and so are its inheritance children and
//     partitions, to any depth, which hold rows it returns (see readDescendants): a write that names
//     a child (a partition's own triggers' notifications, the SQL capture's write to the
//     child, a model of the child) stamps the child's tags, not the parent's. The SQL
//     capture reads a parent so too;
//   - a view (PostgreSQL) is read as a scan of itself and of every table it reads, through
//     other views, as pg_depend gives the dependencies of its rewrite rule: the writes to those
//     tables stamp their scan tags. A view that reads a relation of another kind, or calls a
//     user function (which may read any table), keeps its page out of the cache;
//   - any other relation (a materialized view, a foreign table; a view on SQLite, whose base
//     tables only its SQL text names) keeps its page out of the cache (dumper.NoStore);
//   - a relation whose kind cannot be read, too.
//
// Writes through a view are covered by the catalog's rules: every view has its rewrite rule,
// so a write to one stamps dumper.DatabaseTag (see propagation). A write to an inheritance
// child or a partition stamps its ancestors' table tags too (see propagation).

// relationQuery describes the relation named by $1 (as to_regclass reads it): its kind
// (pg_class.relkind); for a view, the relations its rewrite rule reads, through other views,
// with their kinds, and whether those rules call a function outside pg_catalog; and the
// inheritance children and partitions, to any depth, of the relation and of those it reads.
// No row: no such relation.
const relationQuery = `WITH RECURSIVE dep(oid, kind) AS (
    SELECT c.oid, c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = pg_catalog.to_regclass($1::text)
  UNION
    SELECT rc.oid, rc.relkind FROM dep
    JOIN pg_catalog.pg_rewrite AS r ON r.ev_class = dep.oid AND dep.kind = 'v'
    JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
      AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> dep.oid
    JOIN pg_catalog.pg_class AS rc ON rc.oid = d.refobjid)
SELECT json_build_object(
  'kind', c.relkind,
  'descendants', coalesce((WITH RECURSIVE des(oid) AS (
      SELECT h.inhrelid FROM dep JOIN pg_catalog.pg_inherits AS h ON h.inhparent = dep.oid
    UNION
      SELECT h.inhrelid FROM des JOIN pg_catalog.pg_inherits AS h ON h.inhparent = des.oid)
    SELECT json_agg(DISTINCT hn.nspname || '.' || hc.relname) FROM des JOIN pg_catalog.pg_class AS hc ON hc.oid = des.oid
      JOIN pg_catalog.pg_namespace AS hn ON hn.oid = hc.relnamespace), '[]'::json),
  'bases', coalesce((SELECT json_agg(json_build_object('kind', dep.kind, 'name', bc.relname))
    FROM dep JOIN pg_catalog.pg_class AS bc ON bc.oid = dep.oid WHERE dep.oid <> c.oid), '[]'::json),
  'calls', EXISTS (SELECT FROM dep
    JOIN pg_catalog.pg_rewrite AS r ON r.ev_class = dep.oid AND dep.kind = 'v'
    JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
      AND d.refclassid = 'pg_catalog.pg_proc'::regclass
    JOIN pg_catalog.pg_proc AS p ON p.oid = d.refobjid
    WHERE p.pronamespace <> 'pg_catalog'::regnamespace))::text
FROM pg_catalog.pg_class AS c WHERE c.oid = pg_catalog.to_regclass($1::text)`

// relation is what the plugin knows of the kind of a relation a statement names.
type relation struct {
	// tables: the tables a read of the relation reads besides itself (a view's base
	// tables, bare); opaque: a read of it cannot be attributed (dumper.NoStore).
	tables []string
	opaque bool
	view   bool
	// descendants: of a plain or partitioned table, its inheritance children and
	// partitions, to any depth, with their schemas ("public.items_2024"), as their catalogs
	// are read; they are among tables too (bare).
	descendants []string
	// binaryText: on SQLite, whether each text column (by its name in lower case: SQLite's
	// names ignore case) compares byte-wise (BINARY); a column missing from it is not a
	// text column. nil on PostgreSQL.
	binaryText map[string]bool
}

// relationOf returns what is known of table (as the statement names it), reading it over
// db's connection unless cachedOnly; ok is false when it is not known (not read, or the
// read failed; a failed read is tried again at the next use).
func (r *keyRegistry) relationOf(db *gorm.DB, table string, cachedOnly bool) (*relation, bool) {
	if v, ok := r.relations.Load(table); ok {
		return v.(*relation), true
	}
	if cachedOnly || table == "" {
		return nil, false
	}
	var (
		rel *relation
		err error
	)
	switch r.dialect {
	case "postgres":
		rel, err = readRelation(db.Statement.Context, db.Statement.ConnPool, table)
	case "sqlite":
		rel, err = readSQLiteRelation(db.Statement.Context, db.Statement.ConnPool, table)
	default:
		rel = &relation{}
	}
	if err != nil {
		return nil, false
	}
	r.relations.Store(table, rel)
	r.gen.Add(1)
	return rel, true
}

// readsRelations reports whether the plugin reads the kinds of relations: on PostgreSQL and
// SQLite.
func (r *keyRegistry) readsRelations() bool { return r.dialect == "postgres" || r.dialect == "sqlite" }

func readRelation(ctx context.Context, pool gorm.ConnPool, table string) (*relation, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var text string
	err := pool.QueryRowContext(ctx, relationQuery, quoteRelation(table)).Scan(&text)
	if err == sql.ErrNoRows {
		return &relation{opaque: true}, nil // no such relation: the statement fails
	}
	if err != nil {
		return nil, fmt.Errorf("gormdumper: read the kind of %s: %w", table, err)
	}
	var desc struct {
		Kind  string `json:"kind"`
		Bases []struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"bases"`
		Calls       bool     `json:"calls"`
		Descendants []string `json:"descendants"`
	}
	if err := json.Unmarshal([]byte(text), &desc); err != nil {
		return nil, fmt.Errorf("gormdumper: read the kind of %s: %w", table, err)
	}
	rel := &relation{}
	switch desc.Kind {
	case "r", "p":
	case "v":
		rel.view, rel.opaque = true, desc.Calls
		for _, b := range desc.Bases {
			switch b.Kind {
			case "r", "p":
				rel.tables = append(rel.tables, b.Name)
			case "v":
			default:
				rel.opaque = true
			}
		}
	default:
		rel.opaque = true
	}
	for _, d := range desc.Descendants {
		rel.tables = append(rel.tables, bareTable(d))
	}
	if !rel.view {
		rel.descendants = desc.Descendants
	}
	return rel, nil
}

// sqliteTypeQuery gives the type of the schema object named ? (in any case): table or view.
const sqliteTypeQuery = `SELECT type FROM sqlite_master WHERE lower(name) = lower(?) AND type IN ('table', 'view')
UNION ALL SELECT type FROM sqlite_temp_master WHERE lower(name) = lower(?) AND type IN ('table', 'view')`

// sqliteTypeInQuery is sqliteTypeQuery for a table of a database a statement names (a
// template for sqliteQuery): "aux.items".
const sqliteTypeInQuery = `SELECT type FROM %[1]ssqlite_master WHERE lower(name) = lower(?) AND type IN ('table', 'view')`

// sqliteIndexCollationsQuery lists the columns of the indexes of the table ? with their
// collations (a template for sqliteQuery).
const sqliteIndexCollationsQuery = `SELECT x.name, x.coll FROM pragma_index_list(?%[2]s) AS l, pragma_index_xinfo(l.name%[2]s) AS x
WHERE x.key AND x.name IS NOT NULL`

// readSQLiteRelation reads, from SQLite's schema, whether table is a view (opaque), and
// which of its text columns compare byte-wise: a column is not when an index orders it by
// another collation (pragma_index_xinfo), or when the column's own collation (which a
// comparison with it uses, and which no pragma gives) folds case or trailing spaces, as a
// comparison of the column with literals, in a query that reads no row, shows: a compound
// SELECT's column takes the collation of its leftmost SELECT's.
func readSQLiteRelation(ctx context.Context, pool gorm.ConnPool, table string) (*relation, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	database, name := sqliteName(table)
	var kind string
	var err error
	if database == "" {
		err = pool.QueryRowContext(ctx, sqliteTypeQuery, name, name).Scan(&kind)
	} else {
		err = pool.QueryRowContext(ctx, sqliteQuery(sqliteTypeInQuery, database), name).Scan(&kind)
	}
	if err == sql.ErrNoRows {
		return &relation{opaque: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gormdumper: read the kind of %s: %w", table, err)
	}
	if kind != "table" {
		return &relation{opaque: true}, nil
	}
	rel := &relation{binaryText: map[string]bool{}}
	rows, err := pool.QueryContext(ctx, sqliteQuery(`SELECT name, type FROM pragma_table_info(?%[2]s)`, database), name)
	if err != nil {
		return nil, fmt.Errorf("gormdumper: read the columns of %s: %w", table, err)
	}
	var text []string
	for rows.Next() {
		var col, typ string
		if err := rows.Scan(&col, &typ); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("gormdumper: read the columns of %s: %w", table, err)
		}
		if t := strings.ToUpper(typ); strings.Contains(t, "CHAR") || strings.Contains(t, "TEXT") || strings.Contains(t, "CLOB") || t == "" {
			text = append(text, col) // SQLite's rules of text affinity, and none
		}
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gormdumper: read the columns of %s: %w", table, err)
	}
	for _, col := range text {
		q := `SELECT x = 'A' OR x = 'a ' FROM (SELECT ` + quoteIdent(col) + ` AS x FROM ` + sqliteQuery(`%[1]s`, database) + quoteIdent(name) + ` WHERE 0 UNION ALL SELECT 'a')`
		var folds bool
		if err := pool.QueryRowContext(ctx, q).Scan(&folds); err != nil {
			return nil, fmt.Errorf("gormdumper: read the collation of %s.%s: %w", table, col, err)
		}
		rel.binaryText[lowerASCII(col)] = !folds // SQLite's column names ignore case
	}
	rows, err = pool.QueryContext(ctx, sqliteQuery(sqliteIndexCollationsQuery, database), name)
	if err != nil {
		return nil, fmt.Errorf("gormdumper: read the indexes of %s: %w", table, err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var col, coll string
		if err := rows.Scan(&col, &coll); err != nil {
			return nil, fmt.Errorf("gormdumper: read the indexes of %s: %w", table, err)
		}
		if !strings.EqualFold(coll, "BINARY") {
			rel.binaryText[lowerASCII(col)] = false
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gormdumper: read the indexes of %s: %w", table, err)
	}
	return rel, nil
}

// quoteIdent quotes an SQL identifier with double quotes.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// readOfRelations adds to rec what reading own (the table a statement names, as it names
// it) and joined (the others) depends on besides their own tags, and returns, if the read of
// own may narrow by key, what it knows of own (nil for a view, or where relations are not
// read): the descendants of own are left to readDescendants. It makes rec keep the response
// out of the cache, and reports false, if one of them cannot be attributed, or is not known
// and cachedOnly forbids reading it now (rec is then not kept as a plan).
func (p *Plugin) readOfRelations(db *gorm.DB, rec *readRecord, own string, joined []string, cachedOnly bool) (plain bool, ownRel *relation, stored bool) {
	if !p.keys.readsRelations() {
		return true, nil, true
	}
	plain = true
	for i := -1; i < len(joined); i++ {
		t := own
		if i >= 0 {
			t = joined[i]
		}
		rel, ok := p.keys.relationOf(db, t, cachedOnly)
		if !ok || rel.opaque {
			rec.noStore = true
			rec.keep = rec.keep && ok
			return false, nil, false
		}
		if i < 0 && !rel.view {
			ownRel = rel
			continue
		}
		if i < 0 {
			plain = false
		}
		rec.scans = append(rec.scans, rel.tables...)
	}
	return plain, ownRel, true
}

// readDescendants adds to rec the read of the inheritance children and partitions of rel
// (what readOfRelations left out), whose rows a read of rel returns, narrowed as the read of
// rel is (by rec.col, if narrowed; else a scan): a child is narrowed where its catalog, read
// already, gives rec.col the kind rec.kind (a partition has its parent's keys; an
// inheritance child none of them), and scanned otherwise.
func (p *Plugin) readDescendants(rec *readRecord, rel *relation, narrowed bool) {
	if rel == nil {
		return
	}
	for _, d := range rel.descendants {
		bare := p.keys.bare(d)
		if narrowed && p.keys.catalogKnown(d) && p.keys.narrowKind(p.keys.table(nil, bare), d, rec.col) == rec.kind {
			rec.narrowed = append(rec.narrowed, bare)
		} else {
			rec.scans = append(rec.scans, bare)
		}
	}
}

// binaryText reports whether column col of table (as the statement names it) compares
// byte-wise on SQLite, as the schema read says (true elsewhere, and for a column that is
// not text).
func (r *keyRegistry) binaryText(table, col string) bool {
	if r.dialect != "sqlite" {
		return true
	}
	v, ok := r.relations.Load(table)
	if !ok {
		return false
	}
	b, text := v.(*relation).binaryText[lowerASCII(col)]
	return b || !text
}
