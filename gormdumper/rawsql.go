package gormdumper

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm"
)

// A WriteAnalyzer is an [Analyzer] that also tells what the writes of hand-written SQL stamp:
// db.Exec, and db.Raw with Find, Scan, Row or Rows, of UPDATE, INSERT, DELETE, DDL… The plugin
// invalidates the tags it returns when the statement has run and, in a transaction begun
// through GORM, again after the transaction commits, as it does for the writes it builds;
// outside a transaction, a statement whose rows are read after it (Row, Rows, Scan) again once
// they are closed.
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
// (told by the WriteAnalyzer, or, without one, unattributed: see unattributedWrite).
func (p *Plugin) registerRaw(db *gorm.DB) []registration {
	cb := db.Callback()
	return []registration{
		{cb.Query().Before("gorm:query").Register("gormdumper:raw_query", p.beforeRaw), "raw_query"},
		{cb.Row().Before("gorm:row").Register("gormdumper:raw_row", p.beforeRawRow), "raw_row"},
		{cb.Raw().Before("gorm:raw").Register("gormdumper:raw", p.beforeRaw), "raw"},
		{cb.Query().After("gorm:query").Register("gormdumper:raw_query_written", p.afterRaw), "raw_query_written"},
		{cb.Row().After("gorm:row").Register("gormdumper:raw_row_written", p.afterRawRow), "raw_row_written"},
		{cb.Raw().After("gorm:raw").Register("gormdumper:raw_written", p.afterRaw), "raw_written"},
	}
}

// beforeRaw records the reads of hand-written SQL in a render, and marks it for afterRaw.
func (p *Plugin) beforeRaw(db *gorm.DB) {
	if p.readCap {
		p.readRaw(db)
	}
	if db.Error == nil && !db.DryRun && db.Statement.SQL.Len() > 0 {
		db.Statement.Settings.Store(rawKey{db.Statement}, true)
	}
}

// afterRaw invalidates what the WriteAnalyzer says a statement of hand-written SQL stamps
// (without one, dumper.DatabaseTag for a statement that may write: see unattributedWrite):
// now and, in a transaction begun through the plugin's pool, again after it commits. A schema
// change (which stamps dumper.DatabaseTag) makes the plugin read the catalog's key columns
// again.
func (p *Plugin) afterRaw(db *gorm.DB) { p.rawWritten(db) }

// rawWritten is afterRaw; it returns what it invalidated, if the statement succeeded and
// stamps anything, nil otherwise.
func (p *Plugin) rawWritten(db *gorm.DB) *batch {
	stmt := db.Statement
	if _, built := stmt.Clauses["FROM"]; built {
		return nil // a query GORM built: beforeRaw marked nothing (and a first use of Settings allocates)
	}
	if _, ok := stmt.Settings.LoadAndDelete(rawKey{stmt}); !ok {
		return nil
	}
	tags, refresh := p.rawTags(stmt, db.Error)
	if len(tags) == 0 {
		return nil
	}
	if refresh {
		p.keys.refresh()
	}
	b := &batch{}
	b.addTags(tags...)
	if db.Error != nil {
		p.scheduleFailed(db, b)
		return nil
	}
	p.schedule(db, b)
	return b
}

// rawTags returns what the statement of hand-written SQL of stmt, run with err, stamps, and
// whether it may change the schema.
func (p *Plugin) rawTags(stmt *gorm.Statement, err error) (tags []string, refresh bool) {
	if p.writes != nil {
		tags = p.writes.Written(stmt.Context, stmt.SQL.String(), stmt.Vars, err)
		return tags, slices.Contains(tags, dumper.DatabaseTag)
	}
	if write, ddl := unattributedWrite(stmt.SQL.String(), p.keys.dialect); write {
		return []string{dumper.DatabaseTag}, ddl
	}
	return nil, false
}

// rowKey marks, in its Settings, a statement of hand-written SQL made with Row() that
// beforeRawRow made a query of rows, for afterRawRow to hand back as the *sql.Row Row returns.
type rowKey struct{ stmt *gorm.Statement }

// beforeRawRow is beforeRaw for the Row processor (Row, Rows, and Scan, which reads Rows). A
// statement outside a transaction made with Row() that may write is run as Rows() runs it,
// with QueryContext, so that afterRawRow has its rows. Whether it may write is judged from its
// text (unattributedWrite, which errs towards a write), not by the WriteAnalyzer, which is
// told of a statement once, when it has run.
func (p *Plugin) beforeRawRow(db *gorm.DB) {
	p.beforeRaw(db)
	stmt := db.Statement
	if rows, ok := db.Get("rows"); !ok || rows != false {
		return // Rows() sets it true, Row() false
	}
	if _, ok := stmt.Settings.Load(rawKey{stmt}); !ok || inTransaction(stmt.ConnPool) {
		return
	}
	if write, _ := unattributedWrite(stmt.SQL.String(), p.keys.dialect); !write {
		return
	}
	stmt.Settings.Store("rows", true)
	stmt.Settings.Store(rowKey{stmt}, true)
}

// afterRawRow is afterRaw for the Row processor, whose rows are read after it: GORM hands them
// to the application (Row, Rows) or reads them after the callbacks (Scan). Outside a
// transaction, PostgreSQL commits a write that returns rows (UPDATE … RETURNING) only once it
// has sent the last one, which may be after the invalidation afterRaw makes, and a request
// that reads the old row in between could store it. Such a write is therefore invalidated again
// once its rows are closed: the plugin hands GORM, in place of the database's *sql.Rows (or
// the *sql.Row made of them), rows of the relay (relay.go) that read them through and see
// their Close. The invalidation made now stays: under Options.FailWrites its error is the
// statement's, and rows never closed are invalidated all the same.
func (p *Plugin) afterRawRow(db *gorm.DB) {
	stmt := db.Statement
	_, asRow := stmt.Settings.LoadAndDelete(rowKey{stmt})
	rows, _ := stmt.Dest.(*sql.Rows)
	qerr := db.Error
	b := p.rawWritten(db)
	var again func()
	if b != nil && rows != nil && !inTransaction(stmt.ConnPool) {
		ctx := stmt.Context
		again = func() {
			if err := p.invalidate(context.WithoutCancel(ctx), b); err != nil {
				p.report(ctx, b, "gormdumper: invalidation after the rows were closed failed; pages rendered before the write committed may be stale",
					fmt.Errorf("%w: %w", ErrInvalidation, err))
			}
		}
	}
	switch {
	case !asRow && rows != nil && qerr == nil && db.Error != nil:
		// The invalidation failed under FailWrites: Rows returns its error, and a caller does
		// not close rows returned with an error (Scan does not), which would hold the
		// connection and keep the write from its end. Read them to the end (SQLite rolls
		// back a write whose rows are closed before) and close them.
		for rows.Next() {
		}
		_ = rows.Close()
		if again != nil {
			again()
		}
	case asRow:
		stmt.Dest = relayRow(stmt.Context, rows, qerr, again)
		if qerr != nil {
			db.Error = nil // QueryRowContext leaves it to Scan
		}
	case again != nil:
		stmt.Dest = relayRows(stmt.Context, rows, again)
	}
}

// inTransaction reports whether cp is a transaction: the plugin's, a prepared-statement one,
// or one it was not given.
func inTransaction(cp gorm.ConnPool) bool {
	_, ok := cp.(gorm.TxCommitter)
	return ok
}

// unattributedWrite reports, for a statement of hand-written SQL that no WriteAnalyzer reads,
// whether it may write (it then stamps dumper.DatabaseTag, as the contract has a write whose
// rows and tables are not known do: docs/capture.md), and whether it may change the schema
// (the plugin then reads the catalog again). It does not parse: a statement is taken as a
// read only if its first word is SELECT, VALUES, TABLE or WITH and no word of it (in any
// case, even in a string literal or a comment) is one that writes or names a write (FOR
// UPDATE too); on PostgreSQL, not if it calls a function outside pureCalls and readOnlyCalls
// either, which may write. Transaction control (GORM sends SAVEPOINT and ROLLBACK TO for nested transactions)
// and session statements (SET, SHOW, LISTEN, NOTIFY, ANALYZE…) write nothing. Anything else
// may write; only INSERT, UPDATE, DELETE, REPLACE and MERGE are known not to change the
// schema.
func unattributedWrite(sql, dialect string) (write, ddl bool) {
	if severalStatements(sql) {
		// "ANALYZE; DELETE FROM t": its first word does not say what the others do.
		return true, true
	}
	first := firstWord(sql)
	switch first {
	case "SELECT", "VALUES", "TABLE", "WITH":
		if !hasAnyWord(sql, writeWords) && (dialect != "postgres" || !callsOutside(sql, readOnlyCalls)) {
			return false, false
		}
		return true, false
	case "INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE":
		return true, false
	case "SAVEPOINT", "RELEASE", "BEGIN", "START", "COMMIT", "END", "ROLLBACK",
		"SHOW", "SET", "RESET", "LISTEN", "UNLISTEN", "NOTIFY", "DEALLOCATE", "DISCARD", "ANALYZE", "VACUUM":
		// GORM's nested transactions, and statements that change no row
		return false, false
	}
	return true, true
}

// severalStatements reports whether sql may hold more than one statement: a semicolon
// followed by anything but white space and semicolons. A semicolon inside a string literal
// or a comment counts too, which can only make a read count as a write.
func severalStatements(sql string) bool {
	i := strings.IndexByte(sql, ';')
	if i < 0 {
		return false
	}
	return strings.TrimLeft(sql[i:], "; \t\r\n") != ""
}

// readOnlyCalls are PostgreSQL's built-in functions, besides pureCalls, that change no row
// of any table, no sequence and no session state, which health checks and diagnostics call
// (SELECT pg_is_in_recovery(), SELECT version()): a statement that calls them and no other
// function is no write. They read the server's state, not tables, so they are not trusted
// for reads (mayRead). A function that may write, such as nextval, set_config,
// pg_advisory_lock, pg_notify or txid_current (which assigns a transaction id), is not here.
var readOnlyCalls = map[string]bool{
	"version": true, "current_database": true, "current_schema": true, "current_schemas": true,
	"current_setting": true, "pg_backend_pid": true, "pg_is_in_recovery": true,
	"pg_is_wal_replay_paused": true, "pg_last_wal_receive_lsn": true, "pg_last_wal_replay_lsn": true,
	"pg_last_xact_replay_timestamp": true, "pg_current_wal_lsn": true, "pg_wal_lsn_diff": true,
	"pg_postmaster_start_time": true, "pg_conf_load_time": true, "pg_database_size": true,
	"pg_size_pretty": true, "inet_server_addr": true, "inet_server_port": true,
	"inet_client_addr": true, "inet_client_port": true, "clock_timestamp": true,
	"statement_timestamp": true, "transaction_timestamp": true, "timeofday": true,
}

// writeWords are the words that let a statement that begins as a read write: a data-changing
// CTE, SELECT … INTO, a locking clause.
var writeWords = []string{"INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "INTO", "CREATE", "DROP", "ALTER", "TRUNCATE", "COPY", "CALL", "DO", "REFRESH", "LOCK", "SHARE"}

// firstWord returns the first word of sql in upper case, past white space, parentheses and
// semicolons ("" if it begins with anything else, such as a comment).
func firstWord(sql string) string {
	i := 0
	for i < len(sql) && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r' || sql[i] == '(' || sql[i] == ';') {
		i++
	}
	j := i
	for j < len(sql) && identChar(sql[j]) {
		j++
	}
	return strings.ToUpper(sql[i:j])
}
