package gormdumper

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// What the database itself writes when a statement writes a table: foreign-key actions (ON
// DELETE / ON UPDATE CASCADE, SET NULL, SET DEFAULT) change the rows of the tables that
// reference it, and user triggers and rules may write any table. Neither is named by the
// statement, so the rows they change are not known: a foreign-key action stamps the
// referencing table's tag (and what the action in turn sets off there), a trigger or a rule
// stamps dumper.DatabaseTag, which every captured read carries. A write to a table with
// inheritance children or partitions may change their rows, which reads of a child name by
// the child's name: it stamps each child's table tag and what the child's triggers and
// foreign keys set off. PostgreSQL's catalog (propagationQuery) says all of it; SQLite's
// schema (sqliteReferencesQuery, sqliteTriggersQuery) the foreign keys and the triggers, and
// SQLite has neither rules nor inheritance.

// propagationQuery describes the relation named by $1 (as to_regclass reads it): whether it
// has rules, the events its user triggers fire on (the bits of pg_trigger.tgtype, OR-ed:
// INSERT 4, DELETE 8, UPDATE 16, TRUNCATE 32; pgnotify's triggers, which only notify, aside),
// and the foreign keys of other tables that reference it, with their actions (confdeltype,
// confupdtype: a no action, r restrict, c cascade, n set null, d set default), their
// referencing columns and the columns of the relation they reference, and its inheritance
// children and partitions, which hold rows a write to it changes, and the tables it is a
// child or a partition of, to any depth. No row: no such relation.
const propagationQuery = `SELECT json_build_object(
  'rules', c.relhasrules,
  'triggers', coalesce((SELECT bit_or(t.tgtype::int) FROM pg_catalog.pg_trigger AS t
      WHERE t.tgrelid = c.oid AND NOT t.tgisinternal
        AND NOT EXISTS (SELECT FROM pg_catalog.pg_proc AS p
          WHERE p.oid = t.tgfoid AND p.proname LIKE 'dumper\_pgnotify\_v%')), 0),
  'refs', coalesce((SELECT json_agg(json_build_object(
      'table', format('%I.%I', fn.nspname, fc.relname), 'name', fc.relname,
      'del', f.confdeltype, 'upd', f.confupdtype,
      'cols', (SELECT json_agg(a.attname::text) FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = f.conrelid AND a.attnum = ANY (f.conkey)),
      'refcols', (SELECT json_agg(a.attname::text) FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = f.confrelid AND a.attnum = ANY (f.confkey))))
    FROM pg_catalog.pg_constraint AS f JOIN pg_catalog.pg_class AS fc ON fc.oid = f.conrelid
    JOIN pg_catalog.pg_namespace AS fn ON fn.oid = fc.relnamespace
    WHERE f.contype = 'f' AND f.confrelid = c.oid), '[]'::json),
  'children', coalesce((SELECT json_agg(json_build_object(
      'table', format('%I.%I', hn.nspname, hc.relname), 'name', hc.relname))
    FROM pg_catalog.pg_inherits AS h JOIN pg_catalog.pg_class AS hc ON hc.oid = h.inhrelid
    JOIN pg_catalog.pg_namespace AS hn ON hn.oid = hc.relnamespace
    WHERE h.inhparent = c.oid), '[]'::json),
  'ancestors', coalesce((WITH RECURSIVE anc(oid) AS (
      SELECT h.inhparent FROM pg_catalog.pg_inherits AS h WHERE h.inhrelid = c.oid
    UNION
      SELECT h.inhparent FROM anc JOIN pg_catalog.pg_inherits AS h ON h.inhrelid = anc.oid)
    SELECT json_agg(DISTINCT ac.relname::text) FROM anc JOIN pg_catalog.pg_class AS ac ON ac.oid = anc.oid), '[]'::json))::text
FROM pg_catalog.pg_class AS c WHERE c.oid = pg_catalog.to_regclass($1::text)`

// The events of a write, as pg_trigger.tgtype spells them.
const (
	eventInsert = 1 << 2
	eventDelete = 1 << 3
	eventUpdate = 1 << 4
)

// propagation is what the catalog (or SQLite's schema) says a write to a table sets off.
type propagation struct {
	Rules    bool        `json:"rules"`
	Triggers int         `json:"triggers"` // tgtype bits of its user triggers
	Refs     []reference `json:"refs"`
	Children []child     `json:"children"`
	// Ancestors are the tables it is a child or a partition of, to any depth (bare): their
	// reads return its rows.
	Ancestors []string `json:"ancestors"`
	// Replaces: on SQLite, the table's definition declares the conflict clause REPLACE on
	// a column or a constraint (see declaresReplace): a plain INSERT or UPDATE that
	// conflicts deletes the rows it conflicts with.
	Replaces bool `json:"-"`
}

// child is an inheritance child or a partition of the table.
type child struct {
	Table string `json:"table"` // qualified and quoted, as to_regclass reads it
	Name  string `json:"name"`  // bare
}

// reference is a foreign key of another table to the table.
type reference struct {
	Table    string   `json:"table"`   // qualified and quoted, as to_regclass reads it
	Name     string   `json:"name"`    // the referencing table, bare
	OnDelete string   `json:"del"`     // as pg_constraint.confdeltype spells it
	OnUpdate string   `json:"upd"`     // as pg_constraint.confupdtype spells it
	Cols     []string `json:"cols"`    // its columns
	RefCols  []string `json:"refcols"` // the columns of the table it references; nil: not known
}

// isAction reports whether a foreign-key action writes the referencing rows.
func isAction(a string) bool { return a == "c" || a == "n" || a == "d" }

// readsPropagation reports whether the plugin reads from the database what its writes set
// off: on PostgreSQL and SQLite.
func (r *keyRegistry) readsPropagation() bool { return r.usesCatalog() }

// propagationOf returns what the catalog says a write to table sets off, read once per table
// (until RefreshKeys) over the connection of db's statement. With cachedOnly it does not
// query (the statement is in error) and reports false for a table it has not read. A read
// that fails, or finds no such relation, reports false and is tried again at the next use.
func (p *Plugin) propagationOf(db *gorm.DB, table string, cachedOnly bool) (*propagation, bool) {
	if v, ok := p.keys.propagation.Load(table); ok {
		return v.(*propagation), true
	}
	if cachedOnly {
		return nil, false
	}
	read := readPropagation
	if p.keys.dialect == "sqlite" {
		read = readSQLitePropagation
	}
	pr, err := read(db.Statement.Context, db.Statement.ConnPool, table)
	if err != nil {
		p.log.WarnContext(db.Statement.Context, "gormdumper: catalog unreadable: every captured page invalidated", "table", table, "error", err)
		return nil, false
	}
	p.keys.propagation.Store(table, pr)
	return pr, true
}

func readPropagation(ctx context.Context, pool gorm.ConnPool, table string) (*propagation, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var text string
	if err := pool.QueryRowContext(ctx, propagationQuery, quoteRelation(table)).Scan(&text); err != nil {
		return nil, fmt.Errorf("gormdumper: read the foreign keys and triggers of %s: %w", table, err)
	}
	pr := &propagation{}
	if err := json.Unmarshal([]byte(text), pr); err != nil {
		return nil, fmt.Errorf("gormdumper: read the foreign keys and triggers of %s: %w", table, err)
	}
	return pr, nil
}

// sqliteReferencesQuery lists, from SQLite's schema, the foreign keys that reference the
// table ? (its name in any case), one row per column: the table that holds the key, the
// key's id there, its column, the column it references (NULL: the primary key) and its
// actions.
const sqliteReferencesQuery = `SELECT m.name, p.id, p."from", p."to", upper(p.on_delete), upper(p.on_update)
FROM %[1]ssqlite_master AS m, pragma_foreign_key_list(m.name%[2]s) AS p
WHERE m.type = 'table' AND lower(p."table") = lower(?)
ORDER BY m.name, p.id, p.seq`

// sqliteTriggersQuery counts the triggers on the table ? (its name in any case).
const sqliteTriggersQuery = `SELECT count(*) FROM %[1]ssqlite_master WHERE type = 'trigger' AND lower(tbl_name) = lower(?)`

// sqliteTableSQLQuery gives the SQL text of the definition of the table ? (its name in any
// case), in the database sqliteQuery names (or a temporary table of that name: more, never less).
const sqliteTableSQLQuery = `SELECT sql FROM %[1]ssqlite_master WHERE type = 'table' AND lower(name) = lower(?)
UNION ALL SELECT sql FROM sqlite_temp_master WHERE type = 'table' AND lower(name) = lower(?)`

// sqliteActions spells SQLite's foreign-key actions as pg_constraint does.
var sqliteActions = map[string]string{"NO ACTION": "a", "RESTRICT": "r", "CASCADE": "c", "SET NULL": "n", "SET DEFAULT": "d"}

// readSQLitePropagation is readPropagation from SQLite's schema: the foreign keys that
// reference table, whether it has triggers, which count for every event (the events
// are in the trigger's SQL text only), and whether its definition declares a conflict
// clause REPLACE.
func readSQLitePropagation(ctx context.Context, pool gorm.ConnPool, table string) (*propagation, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	database, name := sqliteName(table)
	pr := &propagation{}
	var triggers int
	if err := pool.QueryRowContext(ctx, sqliteQuery(sqliteTriggersQuery, database), name).Scan(&triggers); err != nil {
		return nil, fmt.Errorf("gormdumper: read the triggers of %s: %w", table, err)
	}
	if triggers > 0 {
		pr.Triggers = eventInsert | eventDelete | eventUpdate
	}
	defs, err := pool.QueryContext(ctx, sqliteQuery(sqliteTableSQLQuery, database), name, name)
	if err != nil {
		return nil, fmt.Errorf("gormdumper: read the definition of %s: %w", table, err)
	}
	for defs.Next() {
		var def sql.NullString
		if err := defs.Scan(&def); err != nil {
			_ = defs.Close()
			return nil, fmt.Errorf("gormdumper: read the definition of %s: %w", table, err)
		}
		pr.Replaces = pr.Replaces || declaresReplace(def.String)
	}
	_ = defs.Close()
	if err := defs.Err(); err != nil {
		return nil, fmt.Errorf("gormdumper: read the definition of %s: %w", table, err)
	}
	rows, err := pool.QueryContext(ctx, sqliteQuery(sqliteReferencesQuery, database), name)
	if err != nil {
		return nil, fmt.Errorf("gormdumper: read the foreign keys that reference %s: %w", table, err)
	}
	defer func() { _ = rows.Close() }()
	lastHolder, lastID := "", -1
	for rows.Next() {
		var (
			holder, from, del, upd string
			id                     int
			to                     sql.NullString
		)
		if err := rows.Scan(&holder, &id, &from, &to, &del, &upd); err != nil {
			return nil, fmt.Errorf("gormdumper: read the foreign keys that reference %s: %w", table, err)
		}
		if holder != lastHolder || id != lastID {
			lastHolder, lastID = holder, id
			qualified := holder // in the database of table: SQLite's foreign keys reference no other
			if database != "" {
				qualified = database + "." + holder
			}
			pr.Refs = append(pr.Refs, reference{Table: qualified, Name: holder,
				OnDelete: sqliteActions[del], OnUpdate: sqliteActions[upd], RefCols: []string{}})
		}
		f := &pr.Refs[len(pr.Refs)-1]
		f.Cols = append(f.Cols, from)
		if !to.Valid || f.RefCols == nil {
			f.RefCols = nil // the referenced table's primary key, by default
		} else {
			f.RefCols = append(f.RefCols, to.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gormdumper: read the foreign keys that reference %s: %w", table, err)
	}
	return pr, nil
}

// propagated adds to b what the database writes, besides the rows the statement of db
// names, when that statement writes table (as the statement names it): on PostgreSQL and
// SQLite, see propagation. event is the statement's (an upsert that may update is both an
// insert and an update); assigned the columns an update sets, nil if unknown (all of them).
func (p *Plugin) propagated(db *gorm.DB, table string, event int, assigned []string, cachedOnly bool, b *batch) {
	if !p.keys.readsPropagation() || table == "" {
		return
	}
	seen := map[string]bool{}
	var walk func(table string, event int, assigned []string)
	walk = func(table string, event int, assigned []string) {
		key := fmt.Sprint(table, event, assigned)
		if seen[key] {
			return
		}
		seen[key] = true
		pr, ok := p.propagationOf(db, table, cachedOnly)
		if !ok {
			b.addTags(dumper.DatabaseTag) // nothing known: a trigger may write anything
			return
		}
		if pr.Rules || pr.Triggers&event != 0 {
			b.addTags(dumper.DatabaseTag) // a trigger or a rule may write any table
		}
		for _, a := range pr.Ancestors {
			b.addTags(dumper.TableTag(p.keys.bare(a))) // the rows are the ancestor's too
		}
		for _, c := range pr.Children {
			// The rows written may be the child's, which reads of the child itself see
			// under its own name: which rows is not known here. Its triggers fire too.
			b.addTags(dumper.TableTag(p.keys.bare(c.Name)))
			walk(c.Table, event, assigned)
		}
		for _, f := range pr.Refs {
			switch {
			case event&eventDelete != 0 && isAction(f.OnDelete):
				b.addTags(dumper.TableTag(p.keys.bare(f.Name)))
				if f.OnDelete == "c" {
					walk(f.Table, eventDelete, nil)
				} else {
					walk(f.Table, eventUpdate, f.Cols)
				}
			case event&eventUpdate != 0 && isAction(f.OnUpdate) &&
				(assigned == nil || f.RefCols == nil ||
					slices.ContainsFunc(f.RefCols, func(c string) bool { return slices.Contains(assigned, c) })):
				// CASCADE, SET NULL and SET DEFAULT all update the referencing columns.
				b.addTags(dumper.TableTag(p.keys.bare(f.Name)))
				walk(f.Table, eventUpdate, f.Cols)
			}
		}
	}
	walk(table, event, assigned)
}

// writeEvent returns the trigger events of a successful write statement and the columns an
// update among them assigns (nil: unknown). A delete that GORM made an UPDATE (a soft
// delete) is an update; a create or an update that replacing says may delete rows (see
// Plugin.replacing) is a delete too.
func writeEvent(stmt *gorm.Statement, op op, replacing bool) (int, []string) {
	ev, assigned := writeEvents(stmt, op)
	if op != opDelete && replacing {
		ev |= eventDelete
	}
	return ev, assigned
}

func writeEvents(stmt *gorm.Statement, op op) (int, []string) {
	switch op {
	case opCreate:
		c, ok := stmt.Clauses["ON CONFLICT"]
		if !ok || c.Expression == nil || doNothing(stmt) {
			return eventInsert, nil
		}
		oc, ok := c.Expression.(clause.OnConflict)
		if !ok || oc.UpdateAll || oc.OnConstraint != "" && len(oc.DoUpdates) == 0 {
			return eventInsert | eventUpdate, nil
		}
		return eventInsert | eventUpdate, setColumns(clause.Set(oc.DoUpdates))
	case opDelete:
		if !strings.HasPrefix(strings.TrimSpace(stmt.SQL.String()), "UPDATE") {
			return eventDelete, nil
		}
	}
	c, ok := stmt.Clauses["SET"]
	if !ok {
		return eventUpdate, nil
	}
	set, ok := c.Expression.(clause.Set)
	if !ok {
		return eventUpdate, nil
	}
	return eventUpdate, setColumns(set)
}

// setColumns returns the columns set assigns, nil if one is not a plain column name.
func setColumns(set clause.Set) []string {
	cols := make([]string, 0, len(set))
	for _, a := range set {
		if a.Column.Raw || a.Column.Name == "" {
			return nil
		}
		cols = append(cols, a.Column.Name)
	}
	return cols
}

// failedEvents are the events a write that failed may have set off, by its op.
var failedEvents = [...]int{
	opCreate: eventInsert | eventUpdate,
	opUpdate: eventUpdate,
	opDelete: eventDelete | eventUpdate, // a soft delete is an update
}

// writeTable returns the table a write statement names (see relationName), "" if none.
func writeTable(stmt *gorm.Statement) string {
	if t := relationName(stmt); t != "" {
		return t
	}
	if stmt.Schema != nil {
		return stmt.Schema.Table
	}
	return ""
}

// declaresReplace reports whether def, the SQL text of an SQLite table's definition, holds
// the words ON CONFLICT REPLACE (in any case, comments between them counting as white space)
// outside string literals and quoted identifiers: a conflict clause REPLACE on a column (its
// PRIMARY KEY, UNIQUE or NOT NULL) or on a table constraint. It errs towards true: a text
// it cannot read to its end (an unterminated literal or comment) counts as one that does.
func declaresReplace(def string) bool {
	want := [...]string{"ON", "CONFLICT", "REPLACE"}
	matched := 0 // words of want just read, in order
	for i := 0; i < len(def); {
		c := def[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(def) && def[i+1] == '-':
			j := strings.IndexByte(def[i:], '\n')
			if j < 0 {
				return false // a comment to the end
			}
			i += j + 1
		case c == '/' && i+1 < len(def) && def[i+1] == '*':
			j := strings.Index(def[i+2:], "*/")
			if j < 0 {
				return true
			}
			i += 2 + j + 2
		case c == '\'' || c == '"' || c == '`' || c == '[':
			end := c
			if c == '[' {
				end = ']'
			}
			j := i + 1
			for {
				k := strings.IndexByte(def[j:], end)
				if k < 0 {
					return true
				}
				j += k + 1
				if end == ']' || j >= len(def) || def[j] != end {
					break // a doubled quote is one quote inside the literal
				}
				j++
			}
			i, matched = j, 0
		case identChar(c):
			j := i
			for j < len(def) && identChar(def[j]) {
				j++
			}
			switch word := def[i:j]; {
			case strings.EqualFold(word, want[matched]):
				matched++
				if matched == len(want) {
					return true
				}
			case strings.EqualFold(word, want[0]):
				matched = 1
			default:
				matched = 0
			}
			i = j
		default:
			i, matched = i+1, 0
		}
	}
	return false
}
