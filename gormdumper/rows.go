package gormdumper

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
	"gorm.io/gorm/utils"
)

// loadChunk bounds the number of keys in one IN (…) when rows are loaded.
const loadChunk = 500

// write describes the rows a write statement names.
type write struct {
	schema    *schema.Schema // nil when GORM has no model for the statement (db.Table(…) with a map)
	table     string
	tableExpr *clause.Expr
	joins     []*schema.Relationship // the relations to the joined tables when schema is a many-to-many join table
	keys      [][]any                // primary keys of the rows named by the statement's model value
	unnamed   bool                   // some rows in the model value have no primary key (or it is a map)
}

// inspect describes the statement of db.
func inspect(db *gorm.DB, op op) *write {
	stmt := db.Statement
	w := &write{schema: stmt.Schema, table: stmt.Table, tableExpr: stmt.TableExpr}
	if w.schema == nil {
		return w
	}
	if w.table == "" {
		w.table = w.schema.Table
	}
	w.joins = joinRelations(w.schema)
	w.keys, w.unnamed = rowKeys(stmt.Context, stmt.ReflectValue, w.schema.ModelType, w.schema.PrimaryFields)
	if op == opDelete && stmt.Model != nil && stmt.Model != stmt.Dest {
		// GORM deletes the rows named by db.Model(…) as well as those of the argument.
		more, _ := rowKeys(stmt.Context, reflect.ValueOf(stmt.Model), w.schema.ModelType, w.schema.PrimaryFields)
		w.keys = unionKeys(w.keys, more)
	}
	return w
}

// from makes q read the statement's table, when it is not the model's own.
func (w *write) from(q *gorm.DB) *gorm.DB {
	switch {
	case w.tableExpr != nil:
		q.Statement.TableExpr = w.tableExpr
		q.Statement.Table = w.table
	case w.table != w.schema.Table:
		q = q.Table(w.table)
	}
	return q
}

// rowKeys returns the distinct values of fields in the rows of v (a struct, or a slice or
// array of structs or pointers to structs, of type typ), and whether some row lacks one of
// them (or v is not made of such rows).
func rowKeys(ctx context.Context, v reflect.Value, typ reflect.Type, fields []*schema.Field) (keys [][]any, unnamed bool) {
	if len(fields) == 0 {
		return nil, true
	}
	seen := map[string]bool{}
	row := func(r reflect.Value) {
		r = reflect.Indirect(r)
		if !r.IsValid() || r.Type() != typ {
			unnamed = true
			return
		}
		key := make([]any, len(fields))
		for i, f := range fields {
			fv, zero := f.ValueOf(ctx, r)
			if zero {
				unnamed = true
				return
			}
			key[i] = fv
		}
		if s := utils.ToStringKey(key...); !seen[s] {
			seen[s] = true
			keys = append(keys, key)
		}
	}
	v = reflect.Indirect(v)
	switch {
	case !v.IsValid():
		unnamed = true
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
		for i := range v.Len() {
			row(v.Index(i))
		}
	default:
		row(v)
	}
	return keys, unnamed
}

// unionKeys returns the distinct keys of a and b.
func unionKeys(a, b [][]any) [][]any {
	if len(a) == 0 {
		return b
	}
	seen := make(map[string]bool, len(a)+len(b))
	var out [][]any
	for _, k := range slices.Concat(a, b) {
		if s := utils.ToStringKey(k...); !seen[s] {
			seen[s] = true
			out = append(out, k)
		}
	}
	return out
}

// declares reports whether values of the model type t declare paths or tags.
func declares(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	_, paths := pt.MethodByName("DependentPaths")
	_, tags := pt.MethodByName("DependentTags")
	return paths || tags
}

// newQuery starts a read on the connection of db's statement (its transaction, if any) that
// sees soft-deleted rows and runs the models' query hooks.
func newQuery(db *gorm.DB) *gorm.DB {
	q := db.Session(&gorm.Session{NewDB: true}).Unscoped()
	q.Statement.SkipHooks = false
	return q
}

// collect loads the rows of s whose fields take one of the values in keys, with their direct
// associations, and adds to b what each row declares. It loads nothing for a model that
// declares nothing. scope, if not nil, sets the table to read.
func (p *Plugin) collect(db *gorm.DB, s *schema.Schema, scope func(*gorm.DB) *gorm.DB, fields []*schema.Field, keys [][]any, b *batch) error {
	if len(keys) == 0 || !declares(s.ModelType) {
		return nil
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.DBName
	}
	for chunk := range slices.Chunk(keys, loadChunk) {
		q := newQuery(db)
		if scope != nil {
			q = scope(q)
		}
		table := q.Statement.Table
		if table == "" {
			table = s.Table
		}
		column, values := schema.ToQueryValues(table, names, chunk)
		rows := reflect.New(reflect.SliceOf(s.ModelType))
		err := q.Preload(clause.Associations).Where(clause.IN{Column: column, Values: values}).Find(rows.Interface()).Error
		if err != nil {
			return fmt.Errorf("load %s: %w", table, err)
		}
		for _, m := range rows.Elem().Seq2() {
			paths, tags, err := dumper.Dependencies(m.Addr().Interface())
			if errors.Is(err, dumper.ErrNoDependencies) {
				continue
			} else if err != nil {
				return err
			}
			b.addPaths(paths...)
			b.addTags(tags...)
		}
	}
	return nil
}

// joinRows are rows of a many-to-many join table: a slice of the join model, or one.
type joinRows struct{ v reflect.Value }

// selectJoinRows loads the rows of the join table that the statement of db is about to
// update or delete: those matching its WHERE clause and named by its model value.
func (p *Plugin) selectJoinRows(db *gorm.DB, w *write) (joinRows, error) {
	q := w.from(newQuery(db))
	if c, ok := db.Statement.Clauses["WHERE"]; ok {
		if where, ok := c.Expression.(clause.Where); ok && len(where.Exprs) > 0 {
			q = q.Clauses(where)
		}
	}
	if len(w.keys) > 0 {
		column, values := schema.ToQueryValues(w.table, w.schema.PrimaryFieldDBNames, w.keys)
		q = q.Where(clause.IN{Column: column, Values: values})
	}
	rows := reflect.New(reflect.SliceOf(w.schema.ModelType))
	if err := q.Find(rows.Interface()).Error; err != nil {
		return joinRows{}, fmt.Errorf("load %s: %w", w.table, err)
	}
	return joinRows{v: rows.Elem()}, nil
}

// collectJoined adds to b what the rows joined by rows declare, on both sides, loaded as
// they are now (with their associations, so with or without these joins).
func (p *Plugin) collectJoined(db *gorm.DB, w *write, rows joinRows, b *batch) error {
	for _, rel := range w.joins {
		var fks, pks []*schema.Field
		for _, ref := range rel.References {
			// Look the foreign key up by name: after SetupJoinTable the relation's references
			// may still point into the join model GORM generated, not the one in use.
			fk := w.schema.LookUpField(ref.ForeignKey.DBName)
			if fk == nil || ref.PrimaryKey == nil {
				return fmt.Errorf("join table %s: no column %s", w.table, ref.ForeignKey.DBName)
			}
			fks = append(fks, fk)
			pks = append(pks, ref.PrimaryKey)
		}
		keys, _ := rowKeys(db.Statement.Context, rows.v, w.schema.ModelType, fks)
		if err := p.collect(db, rel.FieldSchema, nil, pks, keys, b); err != nil {
			return err
		}
	}
	return nil
}

// joinRelations returns, when s is the join table of a many-to-many relation, its relations
// to the tables it joins, and nil otherwise.
func joinRelations(s *schema.Schema) []*schema.Relationship {
	var rels []*schema.Relationship
	join := false
	for _, r := range s.Relationships.Relations {
		if r.Type != schema.BelongsTo || r.FieldSchema == nil || len(r.References) == 0 {
			continue
		}
		rels = append(rels, r)
		for _, m := range r.FieldSchema.Relationships.Many2Many {
			if m.JoinTable != nil && (m.JoinTable == s || m.JoinTable.Table == s.Table) {
				join = true
			}
		}
	}
	if !join {
		return nil
	}
	slices.SortFunc(rels, func(a, b *schema.Relationship) int { return strings.Compare(a.Name, b.Name) })
	return rels
}
