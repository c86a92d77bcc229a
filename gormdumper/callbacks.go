package gormdumper

import (
	"fmt"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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
}

// stateKey keys a statement's state in its Settings. The statement pointer keeps nested
// statements, which copy their parent's Settings, from reading their parent's state.
type stateKey struct{ stmt *gorm.Statement }

// before runs after the statement's transaction began and before any model hook or write:
// it records what the rows about to change declare as they are.
func (p *Plugin) before(op op) func(*gorm.DB) {
	return func(db *gorm.DB) {
		if db.Error != nil || db.DryRun || db.Statement.Schema == nil {
			return
		}
		w := inspect(db, op)
		st := &state{keys: w.keys}
		var err error
		switch {
		case op == opCreate:
			// Only an upsert can change existing rows; those named by key are loaded.
			if updating, _ := upsert(db.Statement, w); updating {
				err = p.collect(db, w.schema, w.from, w.schema.PrimaryFields, w.keys, &st.before)
			}
		case w.joins != nil:
			var rows joinRows
			if rows, err = p.selectJoinRows(db, w); err == nil {
				err = p.collectJoined(db, w, rows, &st.before)
			}
		default:
			err = p.collect(db, w.schema, w.from, w.schema.PrimaryFields, w.keys, &st.before)
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
				b.addTags(TableTag(w.table))
			}
			p.schedule(db, &b, false)
			return
		}
		if err := p.collectAfter(db, op, w, st, &b); err != nil {
			db.AddError(fmt.Errorf("gormdumper: %w", err))
			return
		}
		p.schedule(db, &b, true)
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
		b.addTags(TableTag(w.table))
		return nil
	}
	if w.joins != nil {
		if op == opDelete {
			return nil // the joined rows were collected before the join rows went
		}
		rows := joinRows{v: db.Statement.ReflectValue}
		if op == opUpdate && len(w.keys) == 0 {
			return nil // a bulk update of join rows: those rows were collected before
		}
		return p.collectJoined(db, w, rows, b)
	}
	keys := w.keys
	bulk := false
	switch op {
	case opCreate:
		updating, byKey := upsert(db.Statement, w)
		bulk = w.unnamed || (updating && !byKey)
	case opUpdate:
		keys = unionKeys(st.keys, w.keys)
		bulk = len(keys) == 0
	case opDelete:
		keys = nil // gone, or hidden by a soft delete: collected before
		bulk = len(st.keys) == 0 && len(w.keys) == 0
	}
	if bulk {
		b.addTags(TableTag(w.table))
	}
	return p.collect(db, w.schema, w.from, w.schema.PrimaryFields, keys, b)
}

// schedule invalidates b now and, when the write runs in a transaction begun through the
// plugin's pool, again after that transaction commits. With report, an invalidation error
// becomes the statement's error (rolling back GORM's implicit transaction); otherwise it is
// only logged.
func (p *Plugin) schedule(db *gorm.DB, b *batch, report bool) {
	if b.empty() {
		return
	}
	ctx := db.Statement.Context
	if t := p.txOf(db.Statement.ConnPool); t != nil {
		t.deferUntilCommit(b)
	} else if _, ok := db.Statement.ConnPool.(gorm.TxCommitter); ok {
		p.log.WarnContext(ctx, "gormdumper: write in a transaction not begun through the plugin's connection pool: pages invalidated now but not after commit",
			"table", db.Statement.Table)
	}
	if err := p.invalidate(ctx, b); err != nil {
		err = fmt.Errorf("%w: %w", ErrInvalidation, err)
		p.log.ErrorContext(ctx, "gormdumper: invalidation failed", "paths", b.paths, "tags", b.tags, "err", err)
		if report {
			db.AddError(err)
		}
	}
}

// upsert reports whether a create statement may update existing rows (ON CONFLICT … DO
// UPDATE), and whether the conflict is on the primary key, so that the rows it may update
// are the ones it names by key.
func upsert(stmt *gorm.Statement, w *write) (updating, byKey bool) {
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
	if len(oc.Columns) == 0 {
		return true, true // GORM's default target is the primary key
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
