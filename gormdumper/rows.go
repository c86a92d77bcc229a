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
	table     string         // as relationName gives it: with its schema, if db.Table named one
	tableExpr *clause.Expr
	joins     []joinSide // when schema is a many-to-many join table: the relations through it
	keys      [][]any    // primary keys of the rows named by the statement's model value
	unnamed   bool       // some rows in the model value have no primary key (or it is a map)
}

// inspect describes the statement of db.
func inspect(db *gorm.DB, op op) *write {
	stmt := db.Statement
	w := &write{schema: stmt.Schema, table: relationName(stmt), tableExpr: stmt.TableExpr}
	if w.schema == nil {
		return w
	}
	if w.table == "" {
		w.table = w.schema.Table
	}
	w.joins = joinSides(w.schema)
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

// collect loads the rows of s whose fields take one of the values in keys and adds to b
// their change tags and, for a model that declares dependencies, what each row declares
// (loaded with its direct associations). scope, if not nil, sets the table to read (and a
// lock: see lockedFrom). It returns the number of rows loaded.
func (p *Plugin) collect(db *gorm.DB, s *schema.Schema, scope func(*gorm.DB) *gorm.DB, fields []*schema.Field, keys [][]any, b *batch) (int, error) {
	return p.load(db, s, scope, fields, keys, declares(s.ModelType), b)
}

// load is collect, adding what the rows declare only if dec.
func (p *Plugin) load(db *gorm.DB, s *schema.Schema, scope func(*gorm.DB) *gorm.DB, fields []*schema.Field, keys [][]any, dec bool, b *batch) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	n := 0
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
		if dec {
			q = q.Preload(clause.Associations)
		} else {
			q = q.Select(p.loadColumns(db, s, table))
		}
		column, values := schema.ToQueryValues(table, names, chunk)
		rows := reflect.New(reflect.SliceOf(s.ModelType))
		err := q.Where(clause.IN{Column: column, Values: values}).Find(rows.Interface()).Error
		if err != nil {
			return n, fmt.Errorf("load %s: %w", table, err)
		}
		n += rows.Elem().Len()
		if err := p.addRows(db, s, table, rows.Elem(), dec, b); err != nil {
			return n, err
		}
	}
	return n, nil
}

// addRows adds to b the change tags of the loaded rows (a slice of s's model) and, if dec,
// what they declare.
func (p *Plugin) addRows(db *gorm.DB, s *schema.Schema, table string, rows reflect.Value, dec bool, b *batch) error {
	rs := make([]reflect.Value, 0, rows.Len())
	for _, m := range rows.Seq2() {
		rs = append(rs, m)
		if dec {
			if err := addDependencies(m.Addr().Interface(), b); err != nil {
				return err
			}
		}
	}
	p.stampRows(db, s, table, rs, b)
	return nil
}

// maxSelected bounds the number of rows a delete that names none by key (db.Where(…).
// Delete(&T{}), db.Delete(&T{}, id)) loads to invalidate what they declare; past it, the
// delete invalidates its table's tag only.
const maxSelected = 1000

// rowsOf returns the rows of v: a struct of type typ, or a slice or array of such structs or
// of pointers to them. Other values are skipped.
func rowsOf(v reflect.Value, typ reflect.Type) []reflect.Value {
	var rows []reflect.Value
	add := func(r reflect.Value) {
		if r = reflect.Indirect(r); r.IsValid() && r.Type() == typ {
			rows = append(rows, r)
		}
	}
	switch v = reflect.Indirect(v); {
	case !v.IsValid():
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
		for i := range v.Len() {
			add(v.Index(i))
		}
	default:
		add(v)
	}
	return rows
}

// rowKey returns the primary key of row r of the statement's model, as utils.ToStringKey.
func (w *write) rowKey(db *gorm.DB, r reflect.Value) string {
	key := make([]any, len(w.schema.PrimaryFields))
	for i, f := range w.schema.PrimaryFields {
		key[i], _ = f.ValueOf(db.Statement.Context, r)
	}
	return utils.ToStringKey(key...)
}

// existingKeys returns the keys (utils.ToStringKey) of the rows named by a create statement
// that exist already, soft-deleted or not: ON CONFLICT DO NOTHING leaves them alone.
func (p *Plugin) existingKeys(db *gorm.DB, w *write) (map[string]bool, error) {
	existing := map[string]bool{}
	for chunk := range slices.Chunk(w.keys, loadChunk) {
		q := w.from(newQuery(db))
		column, values := schema.ToQueryValues(w.table, w.schema.PrimaryFieldDBNames, chunk)
		rows := reflect.New(reflect.SliceOf(w.schema.ModelType))
		err := q.Select(w.schema.PrimaryFieldDBNames).Where(clause.IN{Column: column, Values: values}).Find(rows.Interface()).Error
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", w.table, err)
		}
		for _, r := range rows.Elem().Seq2() {
			existing[w.rowKey(db, r)] = true
		}
	}
	return existing, nil
}

// collectWhere loads the rows that a delete naming none by its model value (or a loose one:
// see state.loose) is about to delete — those matching its WHERE clause, as the delete sees
// them, with GORM's condition on the keys its model value names — and adds to st.before
// their change tags and what they declare. It gives up past maxSelected rows: the table's
// tag is invalidated then.
func (p *Plugin) collectWhere(db *gorm.DB, w *write, st *state) error {
	c, ok := db.Statement.Clauses["WHERE"]
	if !ok {
		return nil
	}
	dec := declares(w.schema.ModelType)
	where, ok := c.Expression.(clause.Where)
	if !ok || len(where.Exprs) == 0 {
		return nil
	}
	if len(w.keys) > 0 {
		// As GORM appends it to the clause, which ANDs an IN of the argument's keys and
		// one of the model's: an IN of their union matches the same rows or more.
		column, values := schema.ToQueryValues(w.table, w.schema.PrimaryFieldDBNames, w.keys)
		where.Exprs = append(slices.Clip(where.Exprs), clause.IN{Column: column, Values: values})
	}
	q := db.Session(&gorm.Session{NewDB: true})
	q.Statement.SkipHooks = false
	if db.Statement.Unscoped {
		q = q.Unscoped()
	}
	rows := reflect.New(reflect.SliceOf(w.schema.ModelType))
	q = p.lockedFrom(db, w, opDelete)(q).Clauses(where)
	if dec {
		q = q.Preload(clause.Associations)
	} else {
		q = q.Select(p.loadColumns(db, w.schema, w.table))
	}
	err := q.Limit(maxSelected + 1).Find(rows.Interface()).Error
	if err != nil {
		return fmt.Errorf("load %s: %w", w.table, err)
	}
	if rows.Elem().Len() > maxSelected {
		return nil
	}
	if err := p.addRows(db, w.schema, w.table, rows.Elem(), dec, &st.before); err != nil {
		return err
	}
	st.selected, st.byKey = true, byPrimaryKey(where)
	st.locked, st.counted = rows.Elem().Len(), st.byKey
	return nil
}

// byPrimaryKey reports whether where only compares the primary key, as db.Delete(&T{}, id)
// does: then it names a fixed set of rows, and the rows loaded are all it deletes.
func byPrimaryKey(where clause.Where) bool {
	for _, e := range where.Exprs {
		switch e := e.(type) {
		case clause.IN:
			if e.Column != clause.PrimaryColumn {
				return false
			}
		case clause.Eq:
			if e.Column != clause.PrimaryColumn {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// addDependencies adds to b what the model value m (a pointer) declares.
func addDependencies(m any, b *batch) error {
	paths, tags, err := dumper.Dependencies(m)
	if errors.Is(err, dumper.ErrNoDependencies) {
		return nil
	} else if err != nil {
		return err
	}
	b.addPaths(paths...)
	b.addTags(tags...)
	return nil
}

// selectJoinRows loads the rows of the join table that the statement of db, of op, is about
// to update or delete, and locks them (see lockedFrom): those matching its WHERE clause and
// named by its model value.
func (p *Plugin) selectJoinRows(db *gorm.DB, w *write, op op) ([]reflect.Value, error) {
	q := p.lockedFrom(db, w, op)(newQuery(db))
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
		return nil, fmt.Errorf("load %s: %w", w.table, err)
	}
	return rowsOf(rows.Elem(), w.schema.ModelType), nil
}

// joinSide is a many-to-many relation seen from one of the tables it joins: the owner's
// relation field and, for each, the join table's columns.
type joinSide struct {
	rel          *schema.Relationship // the owner's many2many relation (rel.Schema is the owner)
	ownFK, ownPK []*schema.Field      // join table columns holding the owner's key; the owner's key
	relFK, relPK []*schema.Field      // join table columns holding the other row's key; its key
}

// joinSides returns, when s is the join table of many-to-many relations, those relations
// from each side that declares one, and nil otherwise.
func joinSides(s *schema.Schema) []joinSide {
	var sides []joinSide
	seen := map[*schema.Schema]bool{}
	for _, r := range s.Relationships.Relations {
		if r.Type != schema.BelongsTo || r.FieldSchema == nil || seen[r.FieldSchema] {
			continue
		}
		seen[r.FieldSchema] = true
		for _, m := range r.FieldSchema.Relationships.Many2Many {
			if m.JoinTable == nil || (m.JoinTable != s && m.JoinTable.Table != s.Table) {
				continue
			}
			side := joinSide{rel: m}
			ok := true
			for _, ref := range m.References {
				if ref.PrimaryValue != "" {
					continue // a constant (polymorphic) column, the same in every row
				}
				// Look the foreign key up by name: after SetupJoinTable the relation's
				// references may still point into the join model GORM generated, not the
				// one in use.
				fk := s.LookUpField(ref.ForeignKey.DBName)
				if fk == nil || ref.PrimaryKey == nil {
					ok = false
					break
				}
				if ref.OwnPrimaryKey {
					side.ownFK, side.ownPK = append(side.ownFK, fk), append(side.ownPK, ref.PrimaryKey)
				} else {
					side.relFK, side.relPK = append(side.relFK, fk), append(side.relPK, ref.PrimaryKey)
				}
			}
			if ok && len(side.ownFK) > 0 && len(side.relFK) > 0 {
				sides = append(sides, side)
			}
		}
	}
	slices.SortFunc(sides, func(a, b joinSide) int {
		return strings.Compare(a.rel.Schema.Name+"."+a.rel.Name, b.rel.Schema.Name+"."+b.rel.Name)
	})
	return sides
}

// collectJoined adds to b what the join rows, added or removed, change in what the rows they
// join declare. For a join row (A, B) and each side that has a relation field through the
// join table, that is what A declares because of B: what A declares with the field set to
// [B], less what it declares with the field empty — the page of B listed by A, not A's own
// pages nor those of its other associations. Both rows are loaded as they are now, with
// their other direct associations.
func (p *Plugin) collectJoined(db *gorm.DB, w *write, rows []reflect.Value, b *batch) error {
	if len(rows) == 0 {
		return nil
	}
	ctx := db.Statement.Context
	p.stampRows(db, w.schema, w.table, rows, b)
	keyOf := func(r reflect.Value, fields []*schema.Field) []any {
		key := make([]any, len(fields))
		for i, f := range fields {
			key[i], _ = f.ValueOf(ctx, r)
		}
		return key
	}
	// The keys to load per table (by the fields they are looked up on).
	type need struct {
		s      *schema.Schema
		fields []*schema.Field
		keys   [][]any
		rows   map[string]reflect.Value
	}
	needs := map[*schema.Schema]*need{}
	want := func(s *schema.Schema, fields []*schema.Field, key []any) {
		n := needs[s]
		if n == nil {
			n = &need{s: s, fields: fields}
			needs[s] = n
		}
		n.keys = unionKeys(n.keys, [][]any{key})
	}
	var sides []joinSide
	for _, side := range w.joins {
		if !declares(side.rel.Schema.ModelType) {
			continue
		}
		sides = append(sides, side)
		for _, r := range rows {
			want(side.rel.Schema, side.ownPK, keyOf(r, side.ownFK))
			want(side.rel.FieldSchema, side.relPK, keyOf(r, side.relFK))
		}
	}
	for _, n := range needs {
		var err error
		if n.rows, err = p.loadByKey(db, n.s, n.fields, n.keys, w.table); err != nil {
			return err
		}
	}
	for _, side := range sides {
		for _, r := range rows {
			owner, ok1 := needs[side.rel.Schema].rows[utils.ToStringKey(keyOf(r, side.ownFK)...)]
			other, ok2 := needs[side.rel.FieldSchema].rows[utils.ToStringKey(keyOf(r, side.relFK)...)]
			if !ok1 || !ok2 {
				continue // a row already gone: its own delete invalidated what it declared
			}
			if err := declaredBecauseOf(ctx, side.rel, owner, other, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadByKey loads the rows of s whose fields take the values keys, with their direct
// associations except the many-to-many relations through joinTable, and returns them by key
// (utils.ToStringKey of the fields' values).
func (p *Plugin) loadByKey(db *gorm.DB, s *schema.Schema, fields []*schema.Field, keys [][]any, joinTable string) (map[string]reflect.Value, error) {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.DBName
	}
	out := make(map[string]reflect.Value, len(keys))
	for chunk := range slices.Chunk(keys, loadChunk) {
		q := newQuery(db)
		for _, r := range s.Relationships.Relations {
			if r.JoinTable == nil || r.JoinTable.Table != joinTable {
				q = q.Preload(r.Name)
			}
		}
		column, values := schema.ToQueryValues(s.Table, names, chunk)
		rows := reflect.New(reflect.SliceOf(s.ModelType))
		if err := q.Where(clause.IN{Column: column, Values: values}).Find(rows.Interface()).Error; err != nil {
			return nil, fmt.Errorf("load %s: %w", s.Table, err)
		}
		for _, r := range rows.Elem().Seq2() {
			key := make([]any, len(fields))
			for i, f := range fields {
				key[i], _ = f.ValueOf(db.Statement.Context, r)
			}
			out[utils.ToStringKey(key...)] = r
		}
	}
	return out, nil
}

// declaredBecauseOf adds to b what owner declares with its relation field rel set to [other]
// and not with it empty. Both are set on copies of owner.
func declaredBecauseOf(ctx context.Context, rel *schema.Relationship, owner, other reflect.Value, b *batch) error {
	with := func(elem reflect.Value) (*batch, error) {
		cp := reflect.New(owner.Type())
		cp.Elem().Set(owner)
		ft := rel.Field.IndirectFieldType
		v := reflect.Zero(ft)
		if elem.IsValid() {
			if ft.Kind() != reflect.Slice {
				return nil, fmt.Errorf("%s.%s: many-to-many field of type %s, not a slice", rel.Schema.Name, rel.Name, ft)
			}
			e := reflect.New(elem.Type())
			e.Elem().Set(elem)
			if ft.Elem().Kind() != reflect.Pointer {
				e = e.Elem()
			}
			v = reflect.Append(reflect.MakeSlice(ft, 0, 1), e)
		}
		if err := rel.Field.Set(ctx, cp, v.Interface()); err != nil {
			return nil, fmt.Errorf("set %s.%s: %w", rel.Schema.Name, rel.Name, err)
		}
		var d batch
		return &d, addDependencies(cp.Interface(), &d)
	}
	withOther, err := with(other)
	if err != nil {
		return err
	}
	without, err := with(reflect.Value{})
	if err != nil {
		return err
	}
	for _, path := range withOther.paths {
		if !slices.Contains(without.paths, path) {
			b.addPaths(path)
		}
	}
	for _, tag := range withOther.tags {
		if !slices.Contains(without.tags, tag) {
			b.addTags(tag)
		}
	}
	return nil
}
