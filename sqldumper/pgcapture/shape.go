package pgcapture

import (
	"sync/atomic"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// A Shape is what the SQL text of a call says, before the catalog is consulted: the tables
// each statement reads and writes, the conditions that may narrow its reads, the values it
// inserts, the routines it calls and the transaction statements among it. Shapes are cached
// by SQL text ([Analyzer.Shape]); they are immutable and safe for concurrent use.
type Shape struct {
	sql   string
	stmts []*stmt
	err   error // the parser rejected the text: nothing about it is known

	reads   bool // recording reads may record something
	effects bool // a write, a transaction statement, or something unknown

	plan atomic.Pointer[plan] // resolved against the catalog
}

// Err returns the parser's error for SQL it rejected, or nil. A rejected text is
// unclassifiable: as a read it keeps the response out of the cache; as a write it stamps
// [DatabaseTag].
func (s *Shape) Err() error { return s.err }

// Reads reports whether recording the reads of the statement may record anything: it is
// false for statements that read no table and call no routine that might (SET, SELECT 1,
// BEGIN…). A caller outside a render skips [Analyzer.Read] altogether.
func (s *Shape) Reads() bool { return s.reads }

// Effects reports whether the statement may change data or transaction state, so that its
// caller must pass it to [Session.Done] once it has run.
func (s *Shape) Effects() bool { return s.effects }

// stmt is one statement of a text.
type stmt struct {
	tx      txOp // a transaction statement
	opaque  bool // cannot be classified: reads NoStore, writes DatabaseTag, catalog refreshed
	noStore bool // returns data the capture cannot attribute (FETCH from a cursor)
	ddl     bool // changes the schema: DatabaseTag and catalog refresh

	tables   []*item   // every relation read, in FROM lists and elsewhere
	levels   []*level  // SELECT levels, with the conditions that may narrow their tables
	writes   []*write  // relations written
	routines []routine // functions and operators called
}

type txOp uint8

const (
	txNone txOp = iota
	txBegin
	txCommit
	txCommitChain
	txRollback
	txRollbackChain
	txSavepoint // SAVEPOINT, RELEASE, ROLLBACK TO: the transaction goes on
	txPrepare   // PREPARE TRANSACTION: the transaction leaves the session
	txCommitPrepared
	txRollbackPrepared
)

// An item is an entry of a FROM list: a relation (table, view… as the catalog will tell) or
// something opaque whose columns are not known (a subquery, a function, a CTE, a join with an
// alias).
type item struct {
	refname string // the name it is referred to by: its alias, or its relation's name
	schema  string // the relation's schema as written, when it has no alias
	rel     *relRef
}

type relRef struct {
	schema, name string
	only         bool // ONLY: without its inheritance children
}

// A level is the FROM list of one SELECT (or the target and FROM of a write) with the
// conjuncts that may narrow its tables.
type level struct {
	items []*item
	conds []*cond
}

// A cond is a conjunct col = value, col IN (values) or col = ANY(array) of a WHERE or of the
// ON of a join.
type cond struct {
	qual    []string // the column's qualifiers: table, or schema and table; nil if none
	col     string
	vals    []value // = and IN
	array   *value  // = ANY(array)
	visible []*item // the items an unqualified column is looked for in
	allowed []*item // the items the condition may narrow
}

type writeOp uint8

const (
	opInsert writeOp = iota + 1
	opUpdate
	opDelete
	opMerge
	opTruncate
	opCopy
	opRefresh
)

// A write is one relation a statement writes.
type write struct {
	op      writeOp
	rel     *relRef
	upsert  bool      // INSERT … ON CONFLICT DO UPDATE
	cascade bool      // TRUNCATE … CASCADE
	cols    []string  // INSERT: the target columns; nil: every column, in order
	rows    [][]value // INSERT … VALUES: the values of each row; nil: rows not known

	// UPDATE and DELETE: the target's item, the level whose conditions may narrow it (its
	// WHERE), and the values UPDATE assigns by column.
	target *item
	where  *level
	set    map[string]value

	// returning lists what RETURNING gives, by result column; from: the statement has
	// other FROM items (UPDATE … FROM, DELETE … USING), which an unqualified column may
	// belong to.
	returning []retCol
}

// retCol is a column of a RETURNING list: every column of the target (*), one of them, or
// anything else (col "").
type retCol struct {
	star bool
	col  string
}

// A routine is a function or an operator a statement calls.
type routine struct {
	name     string
	operator bool
	builtin  bool // qualified with pg_catalog
}

// parse analyses sql. It never panics on any input the parser accepts.
func parse(sql string) *Shape {
	sh := &Shape{sql: sql}
	tree, err := pg.Parse(sql)
	if err != nil {
		sh.err = err
		sh.reads, sh.effects = true, true
		return sh
	}
	for _, raw := range tree.GetStmts() {
		p := &parser{st: &stmt{}}
		p.statement(raw.GetStmt(), nil)
		sh.stmts = append(sh.stmts, p.st)
	}
	for _, st := range sh.stmts {
		if st.opaque || st.noStore || len(st.tables) > 0 || len(st.routines) > 0 || len(st.writes) > 0 || st.ddl {
			sh.reads = true
		}
		if st.opaque || st.ddl || st.tx != txNone || len(st.writes) > 0 || len(st.routines) > 0 {
			// A routine may write: whether it can is known only from the catalog.
			sh.effects = true
		}
	}
	return sh
}

// scope holds the names of the common table expressions visible where a FROM list is read.
type scope struct {
	ctes   map[string]bool
	parent *scope
}

func (s *scope) isCTE(name string) bool {
	for ; s != nil; s = s.parent {
		if s.ctes[name] {
			return true
		}
	}
	return false
}

type parser struct {
	st    *stmt
	depth int
}

// maxDepth bounds the nesting the walker follows; deeper text is opaque.
const maxDepth = 200

// Opaque returns the shape of a statement whose SQL text is not known (a query rewriter the
// data layer cannot run, say): unclassifiable, like a text the parser rejects. err says why.
func Opaque(err error) *Shape {
	return &Shape{err: err, reads: true, effects: true}
}
