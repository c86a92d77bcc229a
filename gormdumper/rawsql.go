package gormdumper

import (
	"context"
	"slices"
	"strings"

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
// (told by the WriteAnalyzer, or, without one, unattributed: see unattributedWrite).
func (p *Plugin) registerRaw(db *gorm.DB) []registration {
	cb := db.Callback()
	return []registration{
		{cb.Query().Before("gorm:query").Register("gormdumper:raw_query", p.beforeRaw), "raw_query"},
		{cb.Row().Before("gorm:row").Register("gormdumper:raw_row", p.beforeRaw), "raw_row"},
		{cb.Raw().Before("gorm:raw").Register("gormdumper:raw", p.beforeRaw), "raw"},
		{cb.Query().After("gorm:query").Register("gormdumper:raw_query_written", p.afterRaw), "raw_query_written"},
		{cb.Row().After("gorm:row").Register("gormdumper:raw_row_written", p.afterRaw), "raw_row_written"},
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
//
// The statement has run when the callback runs, except that the rows of db.Raw(…).Row(),
// Rows() and Scan() are still to be read: outside a transaction, PostgreSQL commits such a
// statement (UPDATE … RETURNING) once it has sent them, which may be after the invalidation.
func (p *Plugin) afterRaw(db *gorm.DB) {
	stmt := db.Statement
	if _, built := stmt.Clauses["FROM"]; built {
		return // a query GORM built: beforeRaw marked nothing (and a first use of Settings allocates)
	}
	if _, ok := stmt.Settings.LoadAndDelete(rawKey{stmt}); !ok {
		return
	}
	var tags []string
	refresh := false
	if p.writes != nil {
		tags = p.writes.Written(stmt.Context, stmt.SQL.String(), stmt.Vars, db.Error)
		refresh = slices.Contains(tags, dumper.DatabaseTag)
	} else if write, ddl := unattributedWrite(stmt.SQL.String(), p.keys.dialect); write {
		tags, refresh = []string{dumper.DatabaseTag}, ddl
	}
	if len(tags) == 0 {
		return
	}
	if refresh {
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
