package gormdumper

import (
	"context"
	"slices"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm"
)

// A WriteAnalyzer is an [Analyzer] that also tells what the writes of hand-written SQL stamp:
// db.Exec, and db.Raw with Find, Scan, Row or Rows, of UPDATE, INSERT, DELETE, DDL… The plugin
// invalidates the tags it returns when the statement has run and, in a transaction begun
// through GORM, again after the transaction commits, as it does for the writes it builds.
// Package gormpg adapts sqldumper's PostgreSQL analyzer to it.
type WriteAnalyzer interface {
	Analyzer
	// Written returns the tags that the statement sql (as GORM sent it, with its
	// placeholders), run with vars and returning err, stamps: the change tags of the rows it
	// names, the table tags of the tables it writes otherwise, [dumper.DatabaseTag] for what
	// it cannot attribute; nothing for a read, or for a statement the database rejected. It
	// is called for every statement of hand-written SQL, inside a render or not.
	Written(ctx context.Context, sql string, vars []any, err error) []string
}

// rawKey marks, in its Settings, a statement of hand-written SQL whose writes the
// WriteAnalyzer is told of once it has run.
type rawKey struct{ stmt *gorm.Statement }

// registerRaw registers the callbacks of hand-written SQL (db.Raw, db.Exec) on the Query, Row
// and Raw processors: before the statement, its reads (read capture); after it, its writes
// (with a WriteAnalyzer).
func (p *Plugin) registerRaw(db *gorm.DB) []registration {
	if !p.readCap && p.writes == nil {
		return nil
	}
	cb := db.Callback()
	regs := []registration{
		{cb.Query().Before("gorm:query").Register("gormdumper:raw_query", p.beforeRaw), "raw_query"},
		{cb.Row().Before("gorm:row").Register("gormdumper:raw_row", p.beforeRaw), "raw_row"},
		{cb.Raw().Before("gorm:raw").Register("gormdumper:raw", p.beforeRaw), "raw"},
	}
	if p.writes != nil {
		regs = append(regs,
			registration{cb.Query().After("gorm:query").Register("gormdumper:raw_query_written", p.afterRaw), "raw_query_written"},
			registration{cb.Row().After("gorm:row").Register("gormdumper:raw_row_written", p.afterRaw), "raw_row_written"},
			registration{cb.Raw().After("gorm:raw").Register("gormdumper:raw_written", p.afterRaw), "raw_written"},
		)
	}
	return regs
}

// beforeRaw records the reads of hand-written SQL in a render, and marks it for afterRaw.
func (p *Plugin) beforeRaw(db *gorm.DB) {
	if p.readCap {
		p.readRaw(db)
	}
	if p.writes != nil && db.Error == nil && !db.DryRun && db.Statement.SQL.Len() > 0 {
		db.Statement.Settings.Store(rawKey{db.Statement}, true)
	}
}

// afterRaw invalidates what the WriteAnalyzer says a statement of hand-written SQL stamps:
// now and, in a transaction begun through the plugin's pool, again after it commits. A schema
// change (which stamps dumper.DatabaseTag) makes the plugin read the catalog's key columns
// again.
//
// The statement has run when the callback runs, except that the rows of db.Raw(…).Row(),
// Rows() and Scan() are still to be read: outside a transaction, PostgreSQL commits such a
// statement (UPDATE … RETURNING) once it has sent them, which may be after the invalidation.
func (p *Plugin) afterRaw(db *gorm.DB) {
	stmt := db.Statement
	if _, ok := stmt.Settings.LoadAndDelete(rawKey{stmt}); !ok {
		return
	}
	tags := p.writes.Written(stmt.Context, stmt.SQL.String(), stmt.Vars, db.Error)
	if len(tags) == 0 {
		return
	}
	if slices.Contains(tags, dumper.DatabaseTag) {
		p.keys.refresh()
	}
	var b batch
	b.addTags(tags...)
	if db.Error != nil {
		p.scheduleFailed(db, &b)
		return
	}
	p.schedule(db, &b)
}
