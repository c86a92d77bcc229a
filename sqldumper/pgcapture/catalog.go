package pgcapture

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dumperhq/dumper"
)

// A Loader runs one of the capture's catalog queries and returns its result: one row of one
// text column (JSON). query has one parameter, $1, of type text[], bound to arg. The query
// must run on a connection whose search_path is the one the application's statements run
// with, so that unqualified names resolve to the same relations; it may run while another
// statement of the application is in progress, so it must not use that statement's
// connection.
type Loader func(ctx context.Context, query string, arg []string) (string, error)

// DBLoader returns a Loader that runs the catalog queries on db, passing the array as its
// text, which every driver can pass.
func DBLoader(db *sql.DB) Loader {
	return func(ctx context.Context, query string, arg []string) (string, error) {
		var s string
		err := db.QueryRowContext(ctx, query, arrayText(arg)).Scan(&s)
		return s, err
	}
}

// arrayText returns the text of a PostgreSQL array of strings.
func arrayText(elems []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(e); j++ {
			if e[j] == '"' || e[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(e[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// relation is what the catalog says of a relation named in a statement.
type relation struct {
	Found    bool      `json:"found"`
	Name     string    `json:"name"`     // relname, without its schema
	Schema   string    `json:"schema"`   // its schema, quoted if need be
	Kind     string    `json:"kind"`     // relkind: r, p, v, m, f, S…
	RLS      bool      `json:"rls"`      // row-level security is enabled
	Triggers bool      `json:"triggers"` // user triggers or rules, which may write anything
	View     string    `json:"view"`     // a view's definition
	Columns  []column  `json:"columns"`
	Children []string  `json:"children"`    // inheritance children and partitions, qualified
	Parents  []string  `json:"parents"`     // the tables it is a child or a partition of, qualified
	Refs     []foreign `json:"referencing"` // foreign keys of other tables to this one
	keys     []string  // key columns
	kinds    map[string]dumper.KeyKind
	cols     map[string]*column
}

type column struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"` // int, text, uuid, or "" for any other type
	Key       bool   `json:"key"`
	Len       int    `json:"len"`       // varchar(n): n, which trailing spaces are cut to
	Generated bool   `json:"generated"` // GENERATED ALWAYS AS (…) STORED
}

// foreign is a foreign key of another table that references a relation, with its actions.
type foreign struct {
	Table    string `json:"table"` // qualified
	OnDelete string `json:"del"`   // confdeltype: a, r, c, n, d
	OnUpdate string `json:"upd"`
}

func (r *relation) index() {
	r.kinds = map[string]dumper.KeyKind{}
	r.cols = map[string]*column{}
	for i := range r.Columns {
		c := &r.Columns[i]
		r.cols[c.Name] = c
		var k dumper.KeyKind
		switch c.Kind {
		case "int":
			k = dumper.KeyInt
		case "text":
			k = dumper.KeyText
		case "uuid":
			k = dumper.KeyUUID
		}
		if c.Key && k != 0 {
			r.keys = append(r.keys, c.Name)
			r.kinds[c.Name] = k
		}
	}
}

// relationQuery describes each relation named in $1 (as to_regclass reads it): its schema, kind,
// columns and which are key columns (primary key, unique constraint or index, foreign key)
// of a type with a canonical text, inheritance children and parents, foreign keys that reference it,
// user triggers (pgnotify's, which only notify, aside) and rules, row-level security, and a
// view's definition.
const relationQuery = `
SELECT coalesce(json_agg(json_build_object(
  'request', q.name, 'found', c.oid IS NOT NULL, 'name', c.relname, 'kind', c.relkind,
  'schema', c.relnamespace::regnamespace::text,
  'rls', coalesce(c.relrowsecurity, false),
  'triggers', coalesce(c.relhasrules AND c.relkind <> 'v', false) OR EXISTS (
      SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal
        -- pgnotify's triggers only notify: they change no table
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
          WHERE p.oid = t.tgfoid AND p.proname LIKE 'dumper\_pgnotify\_v%')),
  'view', CASE WHEN c.relkind = 'v' THEN pg_catalog.pg_get_viewdef(c.oid) END,
  'columns', (SELECT json_agg(json_build_object(
      'name', a.attname,
      'kind', CASE
        WHEN a.atttypid IN (20, 21, 23) THEN 'int'
        WHEN a.atttypid IN (25, 1043) AND coalesce((SELECT co.collisdeterministic
          FROM pg_catalog.pg_collation co WHERE co.oid = a.attcollation), false) THEN 'text'
        WHEN a.atttypid = 2950 THEN 'uuid'
        ELSE '' END,
      'len', CASE WHEN a.atttypid = 1043 AND a.atttypmod > 4 THEN a.atttypmod - 4 ELSE 0 END,
      'generated', a.attgenerated <> '',
      'key', EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
          WHERE k.conrelid = c.oid AND k.contype IN ('p', 'u', 'f') AND a.attnum = ANY (k.conkey))
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i
          WHERE i.indrelid = c.oid AND i.indisunique AND a.attnum = ANY (i.indkey::int2[])))
      ORDER BY a.attnum)
    FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  'children', (SELECT json_agg(format('%I.%I', cn.nspname, cc.relname))
    FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class cc ON cc.oid = h.inhrelid
    JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace WHERE h.inhparent = c.oid),
  'parents', (SELECT json_agg(format('%I.%I', pn.nspname, pc.relname))
    FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class pc ON pc.oid = h.inhparent
    JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace WHERE h.inhrelid = c.oid),
  'referencing', (SELECT json_agg(json_build_object('table', format('%I.%I', fn.nspname, fc.relname),
      'del', f.confdeltype, 'upd', f.confupdtype))
    FROM pg_catalog.pg_constraint f JOIN pg_catalog.pg_class fc ON fc.oid = f.conrelid
    JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
    WHERE f.contype = 'f' AND f.confrelid = c.oid)
)), '[]')::text
FROM unnest($1::text[]) AS q(name) LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(q.name)`

// routineQuery returns the names of the functions and operators of pg_catalog and
// information_schema (builtins), and for each name of one defined elsewhere, or implemented
// by a function defined elsewhere, the most volatile of its definitions: 1 immutable, 2
// stable, 3 volatile. $1 is not used.
const routineQuery = `
SELECT json_build_object(
  'builtinFunctions', (SELECT json_agg(DISTINCT p.proname) FROM pg_catalog.pg_proc p
    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname IN ('pg_catalog', 'information_schema')),
  'builtinOperators', (SELECT json_agg(DISTINCT o.oprname) FROM pg_catalog.pg_operator o),
  'functions', (SELECT coalesce(json_object_agg(name, vol), '{}') FROM (
    SELECT p.proname AS name, max(CASE p.provolatile WHEN 'i' THEN 1 WHEN 's' THEN 2 ELSE 3 END) AS vol
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') GROUP BY p.proname) f),
  'operators', (SELECT coalesce(json_object_agg(name, vol), '{}') FROM (
    SELECT o.oprname AS name, max(CASE p.provolatile WHEN 'i' THEN 1 WHEN 's' THEN 2 ELSE 3 END) AS vol
    FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') GROUP BY o.oprname) o)
)::text WHERE cardinality($1::text[]) >= 0`

// volatility of a routine, as far as the capture is concerned.
type volatility uint8

const (
	pure    volatility = iota // reads and writes no table
	reading                   // may read tables (STABLE), never writes
	writing                   // may read and write tables (VOLATILE)
)

// catalog caches what the database says of relations and routines, per generation: Refresh
// starts a new one.
type catalog struct {
	load Loader

	gen atomic.Uint64 // advanced by refresh

	mu        sync.Mutex
	relations map[string]*relation // by the name as requested
	routines  *routineSet

	// keys holds, across refreshes, the key columns the catalog last gave each relation
	// (by schema and name), and for which generation: see keysLost.
	keys map[string]keyRecord

	// lost, if not nil, is called, outside mu, with the names of the relations whose key
	// columns a reader may have narrowed its reads by while their writes no longer stamp
	// them (see keysLost).
	lost func(ctx context.Context, tables []string)
}

// keyRecord is the key columns, with their kinds, the catalog gave a relation for generation
// gen.
type keyRecord struct {
	gen   uint64
	kinds map[string]dumper.KeyKind
}

type routineSet struct {
	BuiltinFunctions []string       `json:"builtinFunctions"`
	BuiltinOperators []string       `json:"builtinOperators"`
	Functions        map[string]int `json:"functions"`
	Operators        map[string]int `json:"operators"`

	builtinFunctions, builtinOperators map[string]bool
}

func (c *catalog) refresh() {
	c.mu.Lock()
	c.gen.Add(1)
	c.relations = nil
	c.routines = nil
	c.mu.Unlock()
}

func (c *catalog) generation() uint64 { return c.gen.Load() }

// relations returns what the catalog says of each name (a qualified name as to_regclass reads
// it), loading those it does not know in one query.
func (c *catalog) lookup(ctx context.Context, names []string) (map[string]*relation, error) {
	out := make(map[string]*relation, len(names))
	var missing []string
	c.mu.Lock()
	gen := c.gen.Load()
	for _, n := range names {
		if r, ok := c.relations[n]; ok {
			out[n] = r
		} else if !containsString(missing, n) {
			missing = append(missing, n)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	text, err := c.load(ctx, relationQuery, missing)
	if err != nil {
		return nil, fmt.Errorf("pgcapture: load catalog: %w", err)
	}
	var rows []struct {
		Request string `json:"request"`
		relation
	}
	if err := json.Unmarshal([]byte(text), &rows); err != nil {
		return nil, fmt.Errorf("pgcapture: load catalog: %w", err)
	}
	var lost []string
	defer func() { // after the unlock
		if len(lost) > 0 && c.lost != nil {
			c.lost(ctx, lost)
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.relations == nil {
		c.relations = map[string]*relation{}
	}
	for i := range rows {
		r := rows[i].relation
		r.index()
		out[rows[i].Request] = &r
		if r.Found && c.keysLost(&r, gen) && !containsString(lost, r.Name) {
			lost = append(lost, r.Name)
		}
		// A relation not found is asked for again next time: it may be one a transaction
		// is creating, visible once it commits.
		if r.Found && c.gen.Load() == gen {
			c.relations[rows[i].Request] = &r
		}
	}
	for _, n := range missing {
		if out[n] == nil {
			out[n] = &relation{}
		}
	}
	return out, nil
}

// keysLost records the key columns the catalog gave r for generation gen, and reports whether
// pages may have read r narrowed by a key column that writes to r do not stamp: the catalog
// read r before (in an earlier generation: a Refresh since) and then had a key column that r
// lacks or has with another kind (a migration dropped a unique index, or changed the column's
// type), or r was read for a generation older than the one last recorded (a load that a
// Refresh overtook) and has a key column the newer lacks. c.mu is held.
func (c *catalog) keysLost(r *relation, gen uint64) bool {
	if c.keys == nil {
		c.keys = map[string]keyRecord{}
	}
	id := r.Schema + "." + quoteIdent(r.Name)
	old, known := c.keys[id]
	if known && gen < old.gen {
		return dropsKey(r.kinds, old.kinds)
	}
	c.keys[id] = keyRecord{gen: gen, kinds: r.kinds}
	return known && dropsKey(old.kinds, r.kinds)
}

// dropsKey reports whether a key column of old is not one of new, or has another kind there.
func dropsKey(old, new map[string]dumper.KeyKind) bool {
	for col, k := range old {
		if new[col] != k {
			return true
		}
	}
	return false
}

// routine returns what the capture assumes of the function or operator named name.
func (c *catalog) routine(ctx context.Context, r routine, pureNames map[string]bool) (volatility, error) {
	if r.builtin && !r.operator {
		return builtinVolatility(r.name), nil
	}
	if !r.operator && pureNames[r.name] {
		return pure, nil
	}
	c.mu.Lock()
	set, gen := c.routines, c.gen.Load()
	c.mu.Unlock()
	if set == nil {
		text, err := c.load(ctx, routineQuery, []string{})
		if err != nil {
			return writing, fmt.Errorf("pgcapture: load catalog: %w", err)
		}
		set = &routineSet{}
		if err := json.Unmarshal([]byte(text), set); err != nil {
			return writing, fmt.Errorf("pgcapture: load catalog: %w", err)
		}
		set.builtinFunctions = setOf(set.BuiltinFunctions)
		set.builtinOperators = setOf(set.BuiltinOperators)
		c.mu.Lock()
		if c.gen.Load() == gen {
			c.routines = set
		}
		c.mu.Unlock()
	}
	m, builtins := set.Functions, set.builtinFunctions
	if r.operator {
		m, builtins = set.Operators, set.builtinOperators
	}
	switch m[r.name] {
	case 0:
		switch {
		case !builtins[r.name]:
			return writing, nil // created since the catalog was read, or no such routine
		case r.operator:
			return pure, nil
		}
		return builtinVolatility(r.name), nil
	case 1:
		return pure, nil // IMMUTABLE: PostgreSQL requires that it read no table
	case 2:
		return reading, nil
	}
	return writing, nil
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// builtinVolatility is what the capture assumes of a function of pg_catalog: nothing, except
// for the few that run a query or read a table or file by name, and those that write large
// objects (pg_largeobject and its metadata, which a page may read).
func builtinVolatility(name string) volatility {
	switch name {
	case "lo_create", "lo_creat", "lo_from_bytea", "lo_import", "lo_unlink", "lo_put", "lowrite",
		"lo_truncate", "lo_truncate64", "be_lo_unlink", "be_lo_put":
		return writing
	}
	switch {
	case strings.HasPrefix(name, "query_to_xml"), strings.HasPrefix(name, "table_to_xml"),
		strings.HasPrefix(name, "cursor_to_xml"), strings.HasPrefix(name, "schema_to_xml"),
		strings.HasPrefix(name, "database_to_xml"), strings.HasPrefix(name, "pg_read_"),
		name == "currval", name == "lastval", name == "lo_get", name == "loread":
		return reading
	}
	return pure
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// quoteIdent quotes a name for to_regclass.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// qualified returns the name to_regclass reads for a relation as a statement names it.
func (r *relRef) qualified() string {
	if r.schema != "" {
		return quoteIdent(r.schema) + "." + quoteIdent(r.name)
	}
	return quoteIdent(r.name)
}
