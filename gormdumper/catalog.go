package gormdumper

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm"
)

// catalogKeysQuery returns the key columns of the relation named by $1 (as to_regclass reads
// it) and their kinds, by the rule of pgnotify's triggers and of the SQL capture
// (docs/capture.md): every column of the primary key, of a unique or foreign-key constraint
// and of a unique index, of type int2 (21), int4 (23), int8 (20), text (25), varchar (1043)
// with a deterministic collation, or uuid (2950). Columns of partial unique indexes and the
// INCLUDE columns of unique indexes count too, as the SQL capture counts them: stamping a
// column that a reader does not narrow by costs a tag, never a miss. collisdeterministic is
// read through to_jsonb: PostgreSQL 11 has no such column (and only deterministic
// collations).
const catalogKeysQuery = `SELECT a.attname::text,
	CASE WHEN a.atttypid IN (20, 21, 23) THEN 'int' WHEN a.atttypid = 2950 THEN 'uuid' ELSE 'text' END
FROM pg_catalog.pg_attribute AS a
WHERE a.attrelid = pg_catalog.to_regclass($1::text) AND a.attnum > 0 AND NOT a.attisdropped
	AND a.atttypid IN (20, 21, 23, 25, 1043, 2950)
	AND (a.attcollation = 0 OR (SELECT coalesce((pg_catalog.to_jsonb(l) ->> 'collisdeterministic')::boolean, true)
		FROM pg_catalog.pg_collation AS l WHERE l.oid = a.attcollation))
	AND (EXISTS (SELECT FROM pg_catalog.pg_constraint AS k
			WHERE k.conrelid = a.attrelid AND k.contype IN ('p', 'u', 'f') AND a.attnum = ANY (k.conkey))
		OR EXISTS (SELECT FROM pg_catalog.pg_index AS i
			WHERE i.indrelid = a.attrelid AND i.indisunique AND a.attnum = ANY (i.indkey::int2[])))`

// catalogState is what the registry knows of a table's catalog: read, or not readable (the
// plugin then stamps the table tag for the key columns it may lack).
type catalogState uint8

const (
	catalogRead catalogState = iota + 1
	catalogFailed
)

// usesCatalog reports whether the plugin reads key columns from the database catalog: on
// PostgreSQL, where the SQL capture and pgnotify take theirs from it, and on SQLite, from its
// schema (readSQLiteKeys), so that what reads narrow by is known to every writer of the table,
// in every process, whatever models it has seen (a process that only writes posts knows
// posts.author_id from the schema's foreign key, not from the has-many relation of authors
// that the process rendering authors' pages uses). In other dialects the models are the
// source, and reads narrow only by the columns of the table's own models (see narrowing).
func (r *keyRegistry) usesCatalog() bool { return r.dialect == "postgres" || r.dialect == "sqlite" }

// ensureCatalog reads the key columns of table (as the statement names it, maybe with its
// schema) from the catalog, once per table until Refresh, over the connection of db's
// statement (inside its transaction, if any: a catalog read takes no lock a writer waits for).
// It reports whether the table's catalog is known; a failed read is retried at the next use.
func (r *keyRegistry) ensureCatalog(db *gorm.DB, table string) bool {
	if !r.usesCatalog() || table == "" {
		return true
	}
	if v, ok := r.loaded.Load(table); ok && v.(catalogState) == catalogRead {
		return true
	}
	read := readCatalogKeys
	if r.dialect == "sqlite" {
		read = readSQLiteKeys
	}
	cols, err := read(db.Statement.Context, db.Statement.ConnPool, table)
	if err != nil {
		r.loaded.Store(table, catalogFailed)
		r.gen.Add(1)
		return false
	}
	var lost []string
	defer func() { r.lost(lost) }() // after the unlock
	r.mu.Lock()
	defer r.mu.Unlock()
	var tables map[string]*keyColumns
	if m := r.tables.Load(); m != nil {
		tables = maps.Clone(*m)
	} else {
		tables = map[string]*keyColumns{}
	}
	bare := r.bare(table)
	old := tables[bare]
	var catalogs map[string]map[string]dumper.KeyKind
	if old != nil {
		catalogs = maps.Clone(old.catalogs)
	}
	if catalogs == nil {
		catalogs = map[string]map[string]dumper.KeyKind{}
	}
	catalogs[table] = cols
	nk := old.with(nil, nil, func(map[string]dumper.KeyKind) map[string]dumper.KeyKind {
		m := map[string]dumper.KeyKind{}
		for _, c := range catalogs {
			maps.Copy(m, c) // two tables of one name in two schemas: the union, for writes
		}
		return m
	})
	nk.catalogs = catalogs
	tables[bare] = nk
	lost = lostKeys(r.tables.Load(), tables)
	r.tables.Store(&tables)
	r.loaded.Store(table, catalogRead)
	r.gen.Add(1)
	return true
}

// narrowKind returns the kind of col as a key a read of relation (a table whose key columns
// are k, as the statement names it: "items", "other.items") may be narrowed by, 0 if it is
// none: a key every writer of the table stamps, whatever models its process has seen. Where
// the catalog is used (PostgreSQL, SQLite), only a key column of the catalog of relation
// itself: every writer of it reads that catalog before it stamps, and every data layer's
// writers stamp those (pgnotify's triggers send exactly them), while a key only a model
// declares — a uniqueIndex the database lacks, a unique column of a case-insensitive type
// such as citext, which the catalog does not count, a foreign key that only another model's
// relation names — would be narrowed by a value a writer that has not seen that model, or a
// raw-SQL write, does not stamp, or that the database compares otherwise. Not a key of
// another table of the same name in another schema, whose catalog writes of relation need
// not have read (and whose column may compare otherwise, by a nondeterministic collation);
// where the catalog of relation has not been read under that name, only a key of every
// table of the name whose catalog has been. Writes still stamp every column of keys.kinds.
// Elsewhere, the columns of the table's own models (their primary keys, unique columns and
// belongs-to foreign keys), which a writer through those models knows: not the foreign key
// of another model's has-one or has-many relation.
func (r *keyRegistry) narrowKind(k *keyColumns, relation, col string) dumper.KeyKind {
	if !r.usesCatalog() {
		return k.ownKeys[col]
	}
	kind := k.kinds[col]
	if kind == 0 || len(k.catalogs) == 0 {
		return 0
	}
	if c, ok := k.catalogs[relation]; ok {
		if c[col] == kind {
			return kind
		}
		return 0
	}
	for _, c := range k.catalogs {
		if c[col] != kind {
			return 0
		}
	}
	return kind
}

// mayNarrow reports whether a read of a table whose key columns are k may be narrowed by
// any column at all (see narrowKind).
func (r *keyRegistry) mayNarrow(k *keyColumns) bool {
	if r.usesCatalog() {
		return len(k.catalog) > 0
	}
	return len(k.ownKeys) > 0
}

// catalogKnown reports whether the catalog of table has been read (or is not used).
func (r *keyRegistry) catalogKnown(table string) bool {
	if !r.usesCatalog() {
		return true
	}
	v, ok := r.loaded.Load(table)
	return ok && v.(catalogState) == catalogRead
}

// refresh forgets what the catalog gave: each table's catalog is read again at its next use.
// The key versions change, so that writes whose tags were computed before stamp their tables'
// tags.
func (r *keyRegistry) refresh() {
	var lost []string
	defer func() { r.lost(lost) }() // after the unlock
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.gen.Add(1)
	r.refreshes.Add(1)
	r.ready.Store(nil)
	r.loaded.Clear()
	r.propagation.Clear()
	r.relations.Clear()
	m := r.tables.Load()
	if m == nil {
		return
	}
	tables := maps.Clone(*m)
	for t, k := range tables {
		if k.catalog != nil {
			nk := k.with(nil, nil, func(map[string]dumper.KeyKind) map[string]dumper.KeyKind { return nil })
			nk.catalogs = nil
			if nk.version == k.version {
				nk.version++
			}
			tables[t] = nk
		}
	}
	lost = lostKeys(r.tables.Load(), tables)
	r.tables.Store(&tables)
}

// readCatalogKeys runs catalogKeysQuery for table on pool. It goes to the pool directly, not
// through GORM, so that the plugin's own callbacks do not see it.
func readCatalogKeys(ctx context.Context, pool gorm.ConnPool, table string) (map[string]dumper.KeyKind, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	rows, err := pool.QueryContext(ctx, catalogKeysQuery, quoteRelation(table))
	if err != nil {
		return nil, fmt.Errorf("gormdumper: read the key columns of %s: %w", table, err)
	}
	defer func() { _ = rows.Close() }()
	cols := map[string]dumper.KeyKind{}
	for rows.Next() {
		var name, kind string
		if err := rows.Scan(&name, &kind); err != nil {
			return nil, fmt.Errorf("gormdumper: read the key columns of %s: %w", table, err)
		}
		switch kind {
		case "int":
			cols[name] = dumper.KeyInt
		case "uuid":
			cols[name] = dumper.KeyUUID
		default:
			cols[name] = dumper.KeyText
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gormdumper: read the key columns of %s: %w", table, err)
	}
	return cols, nil
}

// sqliteKeysQuery lists the key columns of the table ? (its name in any case) in SQLite's
// schema, with their declared types: the columns of its primary key, of each of its unique
// indexes (those of UNIQUE constraints, partial ones too; an expression is no column) and of
// each of its foreign keys. It is a template for sqliteQuery.
const sqliteKeysQuery = `SELECT c.name, c.type FROM pragma_table_info(?%[2]s) AS c
WHERE c.pk > 0
	OR c.name IN (SELECT i.name FROM pragma_index_list(?%[2]s) AS l, pragma_index_info(l.name%[2]s) AS i
		WHERE l."unique" AND i.name IS NOT NULL)
	OR c.name IN (SELECT f."from" FROM pragma_foreign_key_list(?%[2]s) AS f)`

// sqliteName splits table, as a statement names it, into the SQLite database it names
// ("aux" for "aux.items", an attached database; "" when it names none) and the table's name.
func sqliteName(table string) (database, name string) {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		return table[:i], table[i+1:]
	}
	return "", table
}

// sqliteQuery returns the query template q for the SQLite database database ("": the one
// SQLite finds an unqualified name in): %[1]s is where the schema table sqlite_master is
// qualified by it ("aux".sqlite_master), %[2]s where it is the last argument of a pragma
// function (pragma_table_info(?, 'aux')).
func sqliteQuery(q, database string) string {
	if database == "" {
		return fmt.Sprintf(q, "", "")
	}
	return fmt.Sprintf(q, quoteIdent(database)+".", ", '"+strings.ReplaceAll(database, "'", "''")+"'")
}

// readSQLiteKeys is readCatalogKeys from SQLite's schema: sqliteKeysQuery, each column's kind
// by SQLite's rules of type affinity (a declared type containing INT is an integer;
// CHAR, CLOB or TEXT, text; UUID, a uuid; any other type is no key). A text column that
// SQLite compares otherwise than byte-wise (COLLATE NOCASE) is a key for writes only: reads
// are not narrowed by it (see readSQLiteRelation).
func readSQLiteKeys(ctx context.Context, pool gorm.ConnPool, table string) (map[string]dumper.KeyKind, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	database, name := sqliteName(table)
	rows, err := pool.QueryContext(ctx, sqliteQuery(sqliteKeysQuery, database), name, name, name)
	if err != nil {
		return nil, fmt.Errorf("gormdumper: read the key columns of %s: %w", table, err)
	}
	defer func() { _ = rows.Close() }()
	cols := map[string]dumper.KeyKind{}
	for rows.Next() {
		var col, typ string
		if err := rows.Scan(&col, &typ); err != nil {
			return nil, fmt.Errorf("gormdumper: read the key columns of %s: %w", table, err)
		}
		switch t := strings.ToUpper(typ); {
		case strings.Contains(t, "INT"):
			cols[col] = dumper.KeyInt
		case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
			cols[col] = dumper.KeyText
		case strings.TrimSpace(t) == "UUID":
			cols[col] = dumper.KeyUUID
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gormdumper: read the key columns of %s: %w", table, err)
	}
	return cols, nil
}

// quoteRelation quotes each part of a table name as GORM names it ("public.IceCreams" →
// `"public"."IceCreams"`), as GORM quotes it in the SQL it builds, for to_regclass.
func quoteRelation(table string) string {
	parts := strings.Split(table, ".")
	for i, p := range parts {
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	return strings.Join(parts, ".")
}

// RefreshKeys makes the plugin read again, at their next use, the key columns that the
// database catalog gives its tables (on PostgreSQL and SQLite), and the foreign keys that reference
// them, their triggers and rules, and their inheritance children and partitions (on
// PostgreSQL; the foreign keys and triggers on SQLite): call it after a migration that adds
// or drops a unique index, a unique constraint, a foreign key, a trigger or a rule, in every
// process, as the SQL capture's Refresh. Writes in flight stamp their tables' tags. A schema
// change made with db.Exec through a [WriteAnalyzer] (gormpg) refreshes by itself.
func (p *Plugin) RefreshKeys() { p.keys.refresh() }
