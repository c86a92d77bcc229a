package gormdumper

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
	"gorm.io/gorm/utils"
)

// op is the kind of write a callback runs for.
type op uint8

const (
	opCreate op = iota
	opUpdate
	opDelete
)

// state is what the before callback of a statement hands to its after callback.
type state struct {
	keys   [][]any // primary keys of the rows the statement named before the write
	before batch   // what the rows declared before the write

	// ownerOnly: an update that selects only associations (Association(…).Append and
	// Replace update the owner so): it changes no column of the owner, only what its
	// associations write, which their own statements invalidate.
	ownerOnly bool
	// existing: a create … ON CONFLICT DO NOTHING: the keys (utils.ToStringKey) of the rows
	// it names that were in the table already, and that it therefore leaves alone.
	existing map[string]bool
	// selected: a delete that names no row by its model value: the rows matching its WHERE
	// were loaded and collected in before; byKey: that WHERE names primary keys only.
	selected, byKey bool
	// locked: the number of rows, named by key, loaded (and locked: see lockedFrom) before
	// an update or a delete; counted: locked is all the rows the write may change, unless
	// another transaction inserted one since (a phantom), which the write's RowsAffected
	// then exceeds.
	locked  int
	counted bool
	// loose: an update or a delete whose model names rows, with a WHERE clause that is not
	// a conjunction to which GORM's condition on their keys is sure to be ANDed (see
	// keyedConjunction): it may change other rows. A delete's rows were loaded with the
	// WHERE clause GORM builds, as for selected.
	loose bool
}

// stateKey keys a statement's state in its Settings. The statement pointer keeps nested
// statements, which copy their parent's Settings, from reading their parent's state.
type stateKey struct{ stmt *gorm.Statement }

// before runs after the statement's transaction began and before any model hook or write:
// it records what the rows about to change declare as they are.
func (p *Plugin) before(op op) func(*gorm.DB) {
	return func(db *gorm.DB) {
		if db.Error != nil || db.DryRun {
			return
		}
		p.learnTx(db) // before the write, so that its notifications carry the mark
		if db.Error != nil {
			return
		}
		if t := writeTable(db.Statement); t != "" && p.keys.readsPropagation() {
			// Known before the write, for its after callback even if the write fails.
			p.propagationOf(db, t, false)
		}
		if db.Statement.Schema == nil {
			return
		}
		w := inspect(db, op)
		st := &state{keys: w.keys}
		st.loose = op != opCreate && len(w.keys) > 0 && !keyedConjunction(db.Statement)
		var err error
		switch {
		case op == opCreate:
			switch updating, _ := upsert(db.Statement, w, p.replacing(db, w.table)); {
			case updating:
				// Only an upsert can change existing rows; those named by key are loaded.
				_, err = p.collect(db, w.schema, p.lockedFrom(db, w, op), w.schema.PrimaryFields, w.keys, &st.before)
			case doNothing(db.Statement):
				st.existing, err = p.existingKeys(db, w)
			}
		case op == opUpdate && associationsOnly(db.Statement):
			st.ownerOnly = true
		case w.joins != nil:
			var rows []reflect.Value
			if rows, err = p.selectJoinRows(db, w, op); err == nil {
				st.locked, st.counted = len(rows), op == opDelete
				err = p.collectJoined(db, w, rows, &st.before)
			}
		case op == opDelete && (len(w.keys) == 0 || st.loose):
			err = p.collectWhere(db, w, st)
		default:
			st.locked, err = p.collect(db, w.schema, p.lockedFrom(db, w, op), w.schema.PrimaryFields, w.keys, &st.before)
			st.counted = true
		}
		if err != nil {
			db.AddError(fmt.Errorf("gormdumper: %w", err))
			return
		}
		db.Statement.Settings.Store(stateKey{db.Statement}, st)
	}
}

// after runs after the write and the model hooks, before the statement's own transaction
// (if any) commits: it invalidates what the rows declared before and after the write, now
// and, inside a transaction, again after commit.
func (p *Plugin) after(op op) func(*gorm.DB) {
	return func(db *gorm.DB) {
		if db.DryRun {
			return
		}
		var b batch
		st := &state{}
		if v, ok := db.Statement.Settings.LoadAndDelete(stateKey{db.Statement}); ok {
			st = v.(*state)
			b.merge(&st.before)
		}
		w := inspect(db, op)
		if db.Error != nil {
			// The write failed but may have been partly made: nested writes without a
			// transaction, or a failed statement in a transaction that its caller still
			// commits. Invalidate what is known without querying a database in error, and
			// leave the statement's error alone.
			if w.table != "" {
				b.addTags(TableTag(p.keys.bare(w.table)))
			}
			ev := failedEvents[op]
			if p.replacing(db, w.table) {
				ev |= eventDelete
			}
			p.propagated(db, w.table, ev, nil, true, &b)
			p.scheduleFailed(db, &b)
			return
		}
		if err := p.collectAfter(db, op, w, st, &b); err != nil {
			db.AddError(fmt.Errorf("gormdumper: %w", err))
			return
		}
		if db.Statement.SQL.Len() > 0 { // a statement ran (an association change may run none)
			ev, assigned := writeEvent(db.Statement, op, p.replacing(db, w.table))
			p.propagated(db, w.table, ev, assigned, false, &b)
		}
		p.schedule(db, &b)
	}
}

// collectAfter adds to b what the rows written by the statement declare after the write, or
// the table's tag when the rows are unknown.
func (p *Plugin) collectAfter(db *gorm.DB, op op, w *write, st *state, b *batch) error {
	if w.schema == nil {
		if w.table == "" {
			p.log.WarnContext(db.Statement.Context, "gormdumper: write to an unknown table; nothing invalidated", "sql", db.Statement.SQL.String())
			return nil
		}
		b.addTags(TableTag(p.keys.bare(w.table)))
		return nil
	}
	if op == opCreate && doNothing(db.Statement) && db.RowsAffected == 0 {
		return nil // every row was there already: nothing written
	}
	if op == opDelete {
		// The actions the model's relations declare; the database's own are propagated's.
		for _, t := range referencingTables(w.schema, nil) {
			b.addTags(TableTag(p.keys.bare(t)))
		}
	}
	if w.joins != nil {
		if op == opDelete {
			if st.grew(db) {
				b.addTags(TableTag(p.keys.bare(w.table)))
			}
			return nil // the joined rows were collected before the join rows went
		}
		if op == opUpdate && (len(w.keys) == 0 || st.loose) {
			// A bulk update of join rows: those rows were collected before; what they
			// are now is not known.
			b.addTags(TableTag(p.keys.bare(w.table)))
			return nil
		}
		rows := rowsOf(db.Statement.ReflectValue, w.schema.ModelType)
		if st.existing != nil {
			rows = slices.DeleteFunc(rows, func(r reflect.Value) bool { return st.existing[w.rowKey(db, r)] })
		}
		return p.collectJoined(db, w, rows, b)
	}
	keys := w.keys
	bulk := false
	switch op {
	case opCreate:
		updating, byKey := upsert(db.Statement, w, p.replacing(db, w.table))
		bulk = w.unnamed || (updating && !byKey)
		if st.existing != nil {
			keys = slices.DeleteFunc(slices.Clone(keys), func(k []any) bool { return st.existing[utils.ToStringKey(k...)] })
			// More rows inserted than were missing: a row found before was deleted by
			// another transaction since, and inserted anew, with values not known here.
			bulk = bulk || db.RowsAffected > int64(len(keys))
		}
	case opUpdate:
		if st.ownerOnly && !assignsColumns(db.Statement) {
			if _, set := db.Statement.Clauses["SET"]; !set {
				return nil
			}
			// GORM's automatic update time changed the owner's row, and nothing else:
			// its change tags, for the reads that show that column, not what it declares.
			_, err := p.load(db, w.schema, w.from, w.schema.PrimaryFields, unionKeys(st.keys, w.keys), false, b)
			return err
		}
		keys = unionKeys(st.keys, w.keys)
		// Rows the model did not name before the write are not known, whatever it names
		// after: GORM gives the model the values it set, a primary key among them
		// (db.Model(&T{}).Where(…).Update("id", 5)).
		// An update that replaces deletes the rows whose unique keys it gives the rows.
		bulk = len(st.keys) == 0 || p.replacing(db, w.table) || st.loose || st.grew(db)
	case opDelete:
		keys = nil // gone, or hidden by a soft delete: collected before
		bulk = (len(st.keys) == 0 && len(w.keys) == 0 && !(st.selected && st.byKey)) || st.loose || st.grew(db)
	}
	if bulk {
		b.addTags(TableTag(p.keys.bare(w.table)))
	}
	_, err := p.collect(db, w.schema, w.from, w.schema.PrimaryFields, keys, b)
	return err
}

// grew reports whether the write of db changed more rows than the rows by key loaded and
// locked before it (see state.counted).
func (st *state) grew(db *gorm.DB) bool {
	return st.counted && db.RowsAffected > int64(st.locked)
}

// lockedFrom returns the scope of a load of the rows that a write of op is about to change,
// made before the write in its transaction: w.from, with a row lock on PostgreSQL and MySQL,
// so that no other transaction changes the rows between the load and the write. Without it,
// under READ COMMITTED, a write that waits for the lock of a row another transaction is
// changing (a delete while a rename from b to y commits) writes the row as that transaction
// left it (y), not as the load saw it (b), and the old values stamped would not be the
// row's. FOR UPDATE, which a delete takes anyway, for a delete; PostgreSQL's FOR NO KEY
// UPDATE for an update (the lock an UPDATE that keeps key columns takes: it does not keep
// other transactions from inserting rows that reference the row), which blocks every other
// writer of the row as well. No lock on a relation with rules (a view: its writes stamp
// dumper.DatabaseTag), or whose catalog could not be read; none on SQLite, whose writers
// are serialized (a transaction that read a row another then changed fails to write), or in
// other dialects. The lock lasts as long as the transaction: outside one
// (SkipDefaultTransaction), only as long as the load, and a row changed by another
// transaction between the load and the write may keep pages of its values.
func (p *Plugin) lockedFrom(db *gorm.DB, w *write, op op) func(*gorm.DB) *gorm.DB {
	var strength string
	switch p.keys.dialect {
	case "postgres":
		if pr, ok := p.propagationOf(db, w.table, true); !ok || pr.Rules {
			return w.from
		}
		strength = "NO KEY UPDATE"
		if op == opDelete {
			strength = clause.LockingStrengthUpdate
		}
	case "mysql":
		strength = clause.LockingStrengthUpdate
	default:
		return w.from
	}
	return func(q *gorm.DB) *gorm.DB { return w.from(q).Clauses(clause.Locking{Strength: strength}) }
}

// schedule invalidates b now and, when the write runs in a transaction begun through the
// plugin's pool, again after that transaction commits. A failed invalidation is reported
// (Options.OnError), and becomes the statement's error with Options.FailWrites.
func (p *Plugin) schedule(db *gorm.DB, b *batch) {
	if b.empty() {
		return
	}
	b.writes = append(b.writes, describeWrite(db))
	ctx := db.Statement.Context
	if t := p.txOf(db.Statement.ConnPool); t != nil {
		t.deferUntilCommit(b)
	} else {
		p.warnForeignTx(db)
	}
	if err := p.invalidate(ctx, b); err != nil {
		err = fmt.Errorf("%w: %w", ErrInvalidation, err)
		p.report(ctx, b, "gormdumper: invalidation failed", err)
		if p.failWrites {
			db.AddError(err)
		}
	}
}

// scheduleFailed invalidates b, known from a write that failed. In a transaction begun
// through the plugin's pool it waits for commit: most such transactions roll back (GORM's
// implicit one always does), and then nothing changed. Elsewhere it invalidates now. The
// statement has its error already: an invalidation error is only reported.
func (p *Plugin) scheduleFailed(db *gorm.DB, b *batch) {
	if b.empty() {
		return
	}
	b.writes = append(b.writes, describeWrite(db))
	if t := p.txOf(db.Statement.ConnPool); t != nil {
		t.deferUntilCommit(b)
		return
	}
	p.warnForeignTx(db)
	ctx := db.Statement.Context
	if err := p.invalidate(ctx, b); err != nil {
		p.report(ctx, b, "gormdumper: invalidation failed", fmt.Errorf("%w: %w", ErrInvalidation, err))
	}
}

// warnForeignTx warns when db writes in a transaction the plugin did not begin and that it
// was not told about at Initialize.
func (p *Plugin) warnForeignTx(db *gorm.DB) {
	if _, ok := db.Statement.ConnPool.(gorm.TxCommitter); ok && !p.isTxPool(db.Statement.ConnPool) {
		p.log.WarnContext(db.Statement.Context, "gormdumper: write in a transaction not begun through the plugin's connection pool: pages invalidated now but not after commit",
			"table", db.Statement.Table)
	}
}

// keyedConjunction reports whether the WHERE clause of an update or delete statement whose
// model value names rows is a conjunction that GORM's condition on their primary keys, which
// it appends to the clause's expressions without parentheses, is sure to be ANDed to, so
// that the statement changes no row but those: the clause with that condition appended is a
// conjunction of clean conjuncts, as a read's must be to be narrowed (see whereConjuncts),
// and every fragment of SQL in it is balanced. db.Model(&T{ID: 1}).Where("slug = ?",
// "b").Or("qty = ?", 5).Update(…) runs WHERE slug = 'b' OR qty = 5 AND id = 1, and
// db.Or("slug = ?", "c").Delete(&T{ID: 1}) deletes the row of slug c too.
func keyedConjunction(stmt *gorm.Statement) bool {
	c, ok := stmt.Clauses["WHERE"]
	if !ok || c.Expression == nil {
		return true
	}
	where, ok := c.Expression.(clause.Where)
	if !ok {
		return false
	}
	if len(where.Exprs) == 0 {
		return true
	}
	// GORM's condition on the keys (its values do not matter here).
	exprs := append(slices.Clip(where.Exprs), clause.IN{Column: clause.PrimaryColumn, Values: []any{0}})
	conj, pure := whereConjuncts(exprs, nil)
	if !pure {
		return false
	}
	for _, c := range conj {
		if !c.clean {
			return false
		}
	}
	return fragmentsBalanced(where.Exprs)
}

// fragmentsBalanced reports whether every fragment of SQL among exprs, in groups too, is
// balanced (see balanced): one that is not could close the parentheses GORM puts around it.
func fragmentsBalanced(exprs []clause.Expression) bool {
	for _, e := range exprs {
		switch x := e.(type) {
		case clause.Expr:
			if !balanced(x.SQL) {
				return false
			}
		case clause.NamedExpr:
			if !balanced(x.SQL) {
				return false
			}
		case clause.AndConditions:
			if !fragmentsBalanced(x.Exprs) {
				return false
			}
		case clause.OrConditions:
			if !fragmentsBalanced(x.Exprs) {
				return false
			}
		case clause.NotConditions:
			if !fragmentsBalanced(x.Exprs) {
				return false
			}
		case clause.Where:
			if !fragmentsBalanced(x.Exprs) {
				return false
			}
		}
	}
	return true
}

// doNothing reports whether a create statement leaves alone the rows it conflicts with (ON
// CONFLICT DO NOTHING, as GORM saves associations).
func doNothing(stmt *gorm.Statement) bool {
	c, ok := stmt.Clauses["ON CONFLICT"]
	if !ok || c.Expression == nil {
		return false
	}
	oc, ok := c.Expression.(clause.OnConflict)
	return ok && (oc.DoNothing || (!oc.UpdateAll && len(oc.DoUpdates) == 0))
}

// associationsOnly reports whether an update statement selects associations and no column,
// as Association(…).Append and Replace do on the owner of a many-to-many relation:
// db.Select("Sizes", "SizeID").Updates(&owner), where SizeID is a field of the join table.
func associationsOnly(stmt *gorm.Statement) bool {
	if len(stmt.Selects) == 0 || reflect.Indirect(reflect.ValueOf(stmt.Dest)).Kind() == reflect.Map {
		return false
	}
	if _, ok := stmt.Clauses["SET"]; ok {
		return false
	}
	relations := 0
	for _, name := range stmt.Selects {
		rel, _, _ := strings.Cut(name, ".")
		switch _, isRel := stmt.Schema.Relationships.Relations[rel]; {
		case name == clause.Associations || isRel:
			relations++
		case name == "*":
			return false
		case strings.Contains(name, "."):
			return false // table.column
		default:
			// A column, or a name GORM ignores for a struct, such as a field of the join
			// table.
			if f := stmt.Schema.LookUpField(name); f != nil && f.DBName != "" {
				return false
			}
		}
	}
	return relations > 0
}

// assignsColumns reports whether an update statement sets a column other than the
// automatic update times that GORM sets on every update, association changes included.
func assignsColumns(stmt *gorm.Statement) bool {
	c, ok := stmt.Clauses["SET"]
	if !ok || c.Expression == nil {
		return false
	}
	set, ok := c.Expression.(clause.Set)
	if !ok {
		return true
	}
	for _, a := range set {
		if f := stmt.Schema.LookUpField(a.Column.Name); f == nil || f.AutoUpdateTime == 0 {
			return true
		}
	}
	return false
}

// upsert reports whether a create statement may change existing rows (ON CONFLICT … DO
// UPDATE; replacing: it may delete the rows it conflicts with, see Plugin.replacing), and
// whether the conflict is on the primary key, so that the rows it may change are the ones
// it names by key. On MySQL (ON DUPLICATE KEY UPDATE) and in other dialects, any unique key
// may conflict.
func upsert(stmt *gorm.Statement, w *write, replacing bool) (updating, byKey bool) {
	if replacing {
		return true, false // the rows of every unique key its rows take
	}
	c, ok := stmt.Clauses["ON CONFLICT"]
	if !ok || c.Expression == nil {
		return false, false
	}
	oc, ok := c.Expression.(clause.OnConflict)
	if !ok {
		return true, false // unknown: assume the worst
	}
	if oc.DoNothing || (!oc.UpdateAll && len(oc.DoUpdates) == 0) {
		return false, false
	}
	if oc.OnConstraint != "" {
		return true, false
	}
	if d := stmt.DB.Dialector.Name(); d != "postgres" && d != "sqlite" {
		return true, false
	}
	if len(oc.Columns) == 0 {
		// GORM gives UpdateAll the primary key as its target; DoUpdates without one is,
		// on SQLite, a conflict on any unique key.
		return true, oc.UpdateAll
	}
	names := make([]string, len(oc.Columns))
	for i, col := range oc.Columns {
		names[i] = col.Name
	}
	pk := slices.Clone(w.schema.PrimaryFieldDBNames)
	slices.Sort(names)
	slices.Sort(pk)
	return true, slices.Equal(names, pk)
}

// replacing reports whether a create or update statement of db, on table (as the statement
// names it), may delete rows it does not name: its modifier replaces (see replaces), or, on
// SQLite, the table's definition declares a conflict clause REPLACE (propagation.Replaces),
// which a plain INSERT or UPDATE then follows, or that definition is not known (it is read
// with the rest of propagation before the write).
func (p *Plugin) replacing(db *gorm.DB, table string) bool {
	if replaces(db.Statement) {
		return true
	}
	if p.keys.dialect != "sqlite" || table == "" {
		return false
	}
	pr, ok := p.propagationOf(db, table, true)
	return !ok || pr.Replaces
}

// replaces reports whether a create or update statement's modifier may make it delete rows
// it does not name: SQLite's INSERT OR REPLACE and UPDATE OR REPLACE delete the rows whose
// unique keys the rows written take. A modifier made of words other than those known to
// only skip rows or change how a conflict fails (IGNORE, OR ABORT, OR FAIL, OR ROLLBACK,
// MySQL's LOW_PRIORITY…) counts as one that may.
func replaces(stmt *gorm.Statement) bool {
	for _, name := range [...]string{"INSERT", "UPDATE"} {
		c, ok := stmt.Clauses[name]
		if !ok || c.Expression == nil {
			continue
		}
		var modifier string
		switch e := c.Expression.(type) {
		case clause.Insert:
			modifier = e.Modifier
		case clause.Update:
			modifier = e.Modifier
		default:
			return true
		}
		for _, word := range strings.Fields(modifier) {
			if !keepingModifiers[strings.ToUpper(word)] {
				return true
			}
		}
	}
	return false
}

// keepingModifiers are the words of INSERT and UPDATE modifiers that delete no row.
var keepingModifiers = map[string]bool{
	"OR": true, "IGNORE": true, "ABORT": true, "FAIL": true, "ROLLBACK": true,
	"LOW_PRIORITY": true, "HIGH_PRIORITY": true, "DELAYED": true,
}

// referencingTables returns the tables whose foreign keys, as the relations of the model s
// declare them (the constraint: tag), reference s's table with an ON DELETE action that
// changes their rows (CASCADE, SET NULL, SET DEFAULT): a delete from s's table changes rows
// of theirs that it does not name. It follows CASCADE through the models of those tables:
// their rows deleted in turn set off their own actions. seen holds the models visited.
func referencingTables(s *schema.Schema, seen map[*schema.Schema]bool) []string {
	if seen == nil {
		seen = map[*schema.Schema]bool{}
	}
	seen[s] = true
	var out []string
	for _, rel := range s.Relationships.Relations {
		c := rel.ParseConstraint()
		if c == nil || c.ReferenceSchema != s || c.Schema == nil {
			continue
		}
		switch strings.ToUpper(strings.TrimSpace(c.OnDelete)) {
		case "CASCADE":
			out = append(out, bareTable(c.Schema.Table))
			if !seen[c.Schema] {
				out = append(out, referencingTables(c.Schema, seen)...)
			}
		case "SET NULL", "SET DEFAULT":
			out = append(out, bareTable(c.Schema.Table))
		}
	}
	return out
}
