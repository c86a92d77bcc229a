package gormdumper

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"reflect"
	"slices"
	"strings"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// An Analyzer classifies SQL that the plugin cannot read from GORM's clauses: the statements
// of db.Raw and db.Exec, and queries whose FROM or JOIN is a fragment of SQL. [Options.Analyzer]
// plugs one in (an adapter over a SQL parser such as sqldumper's); without one, such a read
// keeps the response out of the cache.
type Analyzer interface {
	// Read records what the statement sql, with arguments vars (as GORM binds them, after
	// its placeholders), reads, in the response being rendered for ctx, through
	// dumper.ReadRows, dumper.ReadTable or, if it cannot tell, dumper.NoStore. It is called
	// only within a render.
	Read(ctx context.Context, sql string, vars []any)
}

// registerReads registers the read-capture callbacks on the Query and Row processors; the
// callbacks of hand-written SQL are registerRaw's.
func (p *Plugin) registerReads(db *gorm.DB) []registration {
	cb := db.Callback()
	return []registration{
		{cb.Query().After("gorm:query").Before("gorm:preload").Register("gormdumper:query", p.read), "query"},
		{cb.Row().After("gorm:row").Register("gormdumper:row", p.readRow), "row"},
	}
}

type registration struct {
	err  error
	name string
}

// readRaw records a statement whose SQL was written by hand (db.Raw, db.Exec), before it
// runs: through the Analyzer, or, without one, by keeping the response out of the cache.
func (p *Plugin) readRaw(db *gorm.DB) {
	stmt := db.Statement
	if !dumper.Rendering(stmt.Context) {
		return
	}
	if stmt.SQL.Len() == 0 {
		// A statement GORM builds: learn its table's key columns from the catalog now,
		// before it runs (a Row statement's rows stay open on the connection after it).
		if name := relationName(stmt); name != "" && !p.keys.isPrepared(name) && plainTable(stmt) {
			epoch := p.keys.refreshes.Load()
			ready := p.keys.ensureCatalog(db, name)
			rel, ok := p.keys.relationOf(db, name, false)
			ready = ready && ok
			if ok {
				for _, d := range rel.descendants {
					// to narrow their reads as the parent's
					ready = p.keys.ensureCatalog(db, d) && ready
				}
			}
			if ready {
				p.keys.prepared(name, epoch)
			}
		}
		return
	}
	if p.analyzer != nil {
		p.analyzer.Read(stmt.Context, stmt.SQL.String(), stmt.Vars)
		return
	}
	dumper.NoStore(stmt.Context)
}

// read records, after GORM built it, what a query reads (docs/capture.md): the rows of its
// table narrowed by a key column, or the whole of every table it names (and of the tables
// of the views among them: see relations.go).
func (p *Plugin) read(db *gorm.DB) { p.readBuilt(db, false) }

// readRow is read for the Row processor, after which the statement's rows are still open on
// its connection: what the plugin does not know of the relations it names is not read then.
func (p *Plugin) readRow(db *gorm.DB) { p.readBuilt(db, true) }

func (p *Plugin) readBuilt(db *gorm.DB, rowsOpen bool) {
	stmt := db.Statement
	if !dumper.Rendering(stmt.Context) {
		return
	}
	c, built := stmt.Clauses["FROM"]
	if !built {
		return // hand-written SQL, seen by readRaw; or a statement that never ran
	}
	text := stmt.SQL.String()
	gen := p.keys.generation() // before the walk: a plan outlived by a change is not used
	if text != "" {
		if pl := p.plans.get(text, stmt.Schema, gen); pl != nil && p.replay(stmt, pl) {
			return
		}
	}
	rec := readRecord{readPlan: readPlan{gen: gen, schema: stmt.Schema}, keep: text != ""}
	p.walkRead(db, c, rowsOpen, &rec)
	p.apply(stmt, &rec.readPlan, rec.values)
	switch {
	case !rec.keep || len(rec.narrowed) == 0:
	case len(rec.raw) > manyValues:
		// The text binds more values than a read's row tags may number: every statement
		// of this text is recorded as a scan of its tables.
		rec.scans, rec.narrowed = append(rec.scans, rec.narrowed...), nil
	default:
		rec.pos, rec.keep = positions(rec.raw, stmt.Vars)
	}
	if rec.keep {
		pl := rec.readPlan
		pl.scans, pl.narrowed = slices.Clip(pl.scans), slices.Clip(pl.narrowed)
		pl.read = dumper.NewRead(pl.scans, pl.narrowed, pl.col)
		p.plans.put(text, &pl)
	}
}

// walkRead walks the clauses of a statement GORM built, whose FROM clause is fromClause, and adds
// to rec what it reads.
func (p *Plugin) walkRead(db *gorm.DB, fromClause clause.Clause, rowsOpen bool, rec *readRecord) {
	stmt := db.Statement
	r := readSet{keys: p.keys}
	table := stmt.Table
	if table == "" && stmt.Schema != nil {
		table = stmt.Schema.Table
	}
	if !plainTable(stmt) || table == "" {
		r.unknown = true
	}
	relation := cmp.Or(relationName(stmt), table) // as the catalog is read for it
	table = p.keys.bare(table)
	rec.table = table
	joined := false
	if from, ok := fromClause.Expression.(clause.From); ok {
		for _, t := range from.Tables {
			if t.Raw {
				r.unknown = true
			} else if t.Name != clause.CurrentTable && p.keys.bare(t.Name) != table {
				r.scan(t.Name)
				joined = true
			}
		}
		for _, j := range from.Joins {
			joined = true
			if j.Expression != nil || j.Table.Raw || j.Table.Name == "" {
				r.unknown = true
				continue
			}
			r.scan(j.Table.Name)
			r.walk(stmt, j.ON)
		}
	} else if fromClause.Expression != nil {
		r.unknown = true
	}
	for name, cl := range stmt.Clauses {
		if name == "FROM" {
			continue
		}
		r.walk(stmt, cl.Expression)
		r.walk(stmt, cl.BeforeExpression)
		r.walk(stmt, cl.AfterExpression)
		r.walk(stmt, cl.AfterNameExpression)
	}
	if r.unknown {
		if p.analyzer != nil && stmt.SQL.Len() > 0 {
			rec.analyze = true
		} else {
			rec.noStore = true
		}
		return
	}
	plain, rel, stored := p.readOfRelations(db, rec, relation, r.relations, rowsOpen)
	if !stored {
		return
	}
	rec.scans = append(rec.scans, r.tables...)
	if !joined && plain && !r.unsealed { // a fragment that is not balanced could undo any conjunct
		if p.narrowing(stmt, table, relation, rec) {
			rec.narrowed = append(rec.narrowed, table)
			p.readDescendants(rec, rel, true)
			return
		}
	}
	rec.scans = append(rec.scans, table)
	p.readDescendants(rec, rel, false)
}

// relationName returns the name of the relation the statement names, as the plugin reads its
// catalog, its kind and what its writes set off: Statement.Table, or, when db.Table was given
// a name with its schema ("other.items"), of which GORM keeps only the table in
// Statement.Table and the whole name, quoted, in TableExpr, that whole name, so that a
// statement on other.items is not taken for one on the search_path's (or SQLite's main
// database's) items. Tags name the table without its schema (see keyRegistry.bare).
func relationName(stmt *gorm.Statement) string {
	te := stmt.TableExpr
	if te == nil || stmt.Table == "" || len(te.Vars) > 0 {
		return stmt.Table
	}
	prefix, ok := strings.CutSuffix(te.SQL, "."+stmt.Quote(stmt.Table))
	if !ok || prefix == "" {
		return stmt.Table
	}
	name := strings.Map(func(r rune) rune {
		switch r {
		case '"', '`', '[', ']':
			return -1
		}
		return r
	}, prefix) + "." + stmt.Table
	if stmt.Quote(name) != te.SQL {
		return stmt.Table // not a name GORM quoted
	}
	return name
}

// plainTable reports whether the statement reads the table it names, Statement.Table: its
// TableExpr, if any, is what db.Table(name) sets for a plain name (the name quoted, maybe
// after a schema), not an alias or a fragment of SQL.
func plainTable(stmt *gorm.Statement) bool {
	te := stmt.TableExpr
	if te == nil {
		return true
	}
	return len(te.Vars) == 0 && stmt.Table != "" && strings.HasSuffix(te.SQL, stmt.Quote(stmt.Table)) &&
		!strings.ContainsAny(te.SQL, " \t\n(),;")
}

// readSet collects the tables a statement reads besides its own, whether it reads some the
// plugin cannot name, and whether a fragment of SQL it holds is not balanced (see balanced),
// which keeps the read from being narrowed.
type readSet struct {
	keys   *keyRegistry
	tables []string // bare (see keyRegistry.bare)
	// relations: the same, as the statement names them (with their schemas, if it names
	// them), for the lookups of their kinds (see readOfRelations)
	relations []string
	unknown   bool
	unsealed  bool
	depth     int // of walk, bounded by maxValueDepth
}

// scan records that the statement reads table (as it names it) whole.
func (r *readSet) scan(table string) {
	r.tables = append(r.tables, r.keys.bare(table))
	r.relations = append(r.relations, table)
}

// comparison returns a comparison clause as the clause.Eq it is defined from (clause.Neq,
// Gt, Gte, Lt, Lte and Like are all types of clause.Eq).
func comparison(e any) clause.Eq {
	switch e := e.(type) {
	case clause.Neq:
		return clause.Eq(e)
	case clause.Gt:
		return clause.Eq(e)
	case clause.Gte:
		return clause.Eq(e)
	case clause.Lt:
		return clause.Eq(e)
	case clause.Lte:
		return clause.Eq(e)
	case clause.Like:
		return clause.Eq(e)
	}
	return e.(clause.Eq)
}

// walk looks through a clause expression, or an argument GORM writes into one, for what the
// statement reads besides its own table: subqueries (a *gorm.DB), each of which reads its
// table, which is scanned; and fragments of SQL (see text), with those of the expressions
// among the arguments, as GORM writes them (gorm.Statement.AddVar): a clause.Expression
// (gorm.Expr), a gorm.Valuer's expression, the elements of a list, the values of named
// arguments. An expression type of another package is built, and its text read as a
// fragment. A subquery the plugin cannot name makes the read unknown.
func (r *readSet) walk(stmt *gorm.Statement, e any) {
	if r.depth >= maxValueDepth {
		r.unknown = true // nested too deep to follow (a cycle?)
		return
	}
	r.depth++
	defer func() { r.depth-- }()
	switch e := e.(type) {
	case nil, string, []byte, bool,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
	case *gorm.DB:
		r.subquery(stmt, e)
	case clause.Where:
		r.walkExprs(stmt, e.Exprs)
	case clause.AndConditions:
		r.walkExprs(stmt, e.Exprs)
	case clause.OrConditions:
		r.walkExprs(stmt, e.Exprs)
	case clause.NotConditions:
		r.walkExprs(stmt, e.Exprs)
	case clause.Expr:
		r.text(e.SQL)
		r.walkArgs(stmt, e.Vars, false)
	case clause.NamedExpr:
		r.text(e.SQL)
		r.walkArgs(stmt, e.Vars, true)
	case clause.Column:
		if e.Raw {
			r.text(e.Table)
			r.text(e.Name)
			r.text(e.Alias)
		}
	case clause.Table:
		if e.Raw {
			r.text(e.Name)
			r.text(e.Alias)
		}
	case clause.Eq, clause.Neq, clause.Gt, clause.Gte, clause.Lt, clause.Lte, clause.Like:
		c := comparison(e)
		r.walk(stmt, c.Column)
		r.walk(stmt, c.Value)
	case clause.IN:
		r.walk(stmt, e.Column)
		r.walkArgs(stmt, e.Values, false)
	case clause.Select:
		for _, c := range e.Columns {
			r.walk(stmt, c)
		}
		r.walk(stmt, e.Expression)
	case clause.GroupBy:
		for _, c := range e.Columns {
			r.walk(stmt, c)
		}
		r.walkExprs(stmt, e.Having)
	case clause.OrderBy:
		for _, c := range e.Columns {
			r.walk(stmt, c.Column)
		}
		r.walk(stmt, e.Expression)
	case clause.Limit, clause.Locking, clause.Returning:
	case []any:
		r.walkArgs(stmt, e, false)
	case sql.NamedArg:
		r.walk(stmt, e.Value)
	case map[string]any: // named arguments
		for _, v := range e {
			r.walk(stmt, v)
		}
	case gorm.Valuer: // before clause.Expression and driver.Valuer, as AddVar
		if rv := reflect.ValueOf(e); rv.Kind() != reflect.Pointer || !rv.IsNil() {
			r.walk(stmt, e.GormValue(stmt.Context, stmt.DB))
		}
	case clause.Interface:
		c := clause.Clause{Name: e.Name()}
		e.MergeClause(&c)
		r.built(stmt, c)
	case clause.Expression:
		r.built(stmt, e)
	case driver.Valuer:
	default:
		// A list GORM binds element by element; anything else is a value.
		rv := reflect.ValueOf(e)
		if k := rv.Kind(); (k == reflect.Slice || k == reflect.Array) && !scalarKind(rv.Type().Elem().Kind()) {
			for i := range rv.Len() {
				if v := rv.Index(i); v.CanInterface() {
					r.walk(stmt, v.Interface())
				}
			}
		}
	}
}

// walkArgs walks the arguments of a clause expression; named: of a clause.NamedExpr, which
// also reads the exported fields of a struct argument (or of a pointer to one) as named
// arguments, with those of the structs it embeds.
func (r *readSet) walkArgs(stmt *gorm.Statement, args []any, named bool) {
	for _, a := range args {
		r.walk(stmt, a)
		if named {
			r.walkFields(stmt, a)
		}
	}
}

// walkFields walks the exported fields of the struct v, or that v points to, and of the
// structs it embeds: the named arguments clause.NamedExpr takes from it.
func (r *readSet) walkFields(stmt *gorm.Statement, v any) {
	switch v.(type) {
	case nil, sql.NamedArg, *gorm.DB:
		return // not read so, or nothing to read
	}
	r.fields(stmt, reflect.ValueOf(v))
}

func (r *readSet) fields(stmt *gorm.Statement, v reflect.Value) {
	if r.depth >= maxValueDepth {
		r.unknown = true
		return
	}
	v = reflect.Indirect(v)
	if v.Kind() != reflect.Struct {
		return
	}
	r.depth++
	defer func() { r.depth-- }()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		r.walk(stmt, v.Field(i).Interface())
		if f.Anonymous {
			r.fields(stmt, v.Field(i))
		}
	}
}

// built reads the text of e, an expression of a type the plugin does not know, as GORM
// writes it into the statement: as a fragment of SQL (see text). Its arguments are written in
// it, subqueries among them: one makes the read unknown, since the text then reads another
// relation. A text that cannot be built makes the read unknown.
func (r *readSet) built(stmt *gorm.Statement, e clause.Expression) {
	text, ok := buildText(stmt, e)
	if !ok || text == "" {
		r.unknown = true // an empty text may be one the builder would not write here
		return
	}
	r.text(text)
}

// buildText returns the SQL text of e, built on a statement of its own, in a session of db's
// of its own (which its errors do not reach), for the statement's table and model.
func buildText(stmt *gorm.Statement, e clause.Expression) (text string, ok bool) {
	defer func() {
		if recover() != nil {
			text, ok = "", false
		}
	}()
	tx := stmt.DB.Session(&gorm.Session{NewDB: true, DryRun: true})
	failed := tx.Error // the statement's own, if any
	scratch := &gorm.Statement{
		DB: tx, ConnPool: stmt.ConnPool, Context: stmt.Context, Clauses: map[string]clause.Clause{},
		Table: stmt.Table, TableExpr: stmt.TableExpr, Schema: stmt.Schema, Model: stmt.Model, Dest: stmt.Dest,
	}
	tx.Statement = scratch
	e.Build(scratch)
	return scratch.SQL.String(), tx.Error == failed
}

// text looks at a fragment of SQL the statement holds (a condition, a raw column, an ORDER BY
// or GROUP BY expression, an expression's text): one that could read another relation makes
// the read unknown; one that is not balanced keeps the read from being narrowed.
func (r *readSet) text(sql string) {
	if sql == "" {
		return
	}
	if mayRead(sql) {
		r.unknown = true
	}
	if !balanced(sql) {
		r.unsealed = true
	}
}

// readKeywords are the words that let a fragment of SQL name a relation: a subquery, a
// join, a table or VALUES list, a CTE.
var readKeywords = []string{"SELECT", "FROM", "JOIN", "EXISTS", "TABLE", "VALUES", "LATERAL", "WITH"}

// pureCalls are the names before a parenthesis that mayRead trusts: built-in functions that
// read no relation, and keywords that precede a parenthesized list or expression. Any other
// name( may be a function of the database's that reads a table (or a schema-qualified one).
var pureCalls = map[string]bool{
	// functions
	"lower": true, "upper": true, "coalesce": true, "nullif": true, "ifnull": true,
	"length": true, "char_length": true, "abs": true, "round": true, "floor": true, "ceil": true,
	"now": true, "date_trunc": true, "cast": true, "trim": true, "substr": true, "substring": true,
	"concat": true, "greatest": true, "least": true,
	"count": true, "sum": true, "min": true, "max": true, "avg": true,
	// keywords
	"in": true, "and": true, "or": true, "not": true, "as": true, "distinct": true, "between": true,
	"like": true, "ilike": true, "is": true, "case": true, "when": true, "then": true, "else": true,
	"end": true, "any": true, "all": true, "some": true, "array": true, "row": true,
	// keywords of whole statements (callsImpure reads them): those of readKeywords make
	// mayRead true by themselves
	"select": true, "from": true, "join": true, "exists": true, "values": true, "lateral": true,
	"with": true, "where": true, "on": true, "using": true, "over": true, "filter": true,
	"union": true, "intersect": true, "except": true, "by": true, "having": true, "limit": true,
	"offset": true, "asc": true, "desc": true, "nulls": true, "first": true, "last": true,
	"set": true, "returning": true,
}

// mayRead reports whether a fragment of SQL could read a relation other than the statement's
// own, without parsing it: it holds one of readKeywords as a word (in any case, even inside a
// string literal), or a call of a function not in pureCalls.
func mayRead(sql string) bool {
	return hasAnyWord(sql, readKeywords) || callsImpure(sql)
}

// callsImpure reports whether a fragment of SQL calls a function not in pureCalls (or one
// whose name is qualified or quoted), which may read or write any relation.
func callsImpure(sql string) bool { return callsOutside(sql, nil) }

// callsOutside reports whether a fragment of SQL calls a function in neither pureCalls nor
// also, or one whose name is qualified or quoted.
func callsOutside(sql string, also map[string]bool) bool {
	for i := 0; i < len(sql); i++ {
		if sql[i] != '(' {
			continue
		}
		j := i
		for j > 0 && (sql[j-1] == ' ' || sql[j-1] == '\t' || sql[j-1] == '\n' || sql[j-1] == '\r') {
			j--
		}
		end := j
		for j > 0 && identChar(sql[j-1]) {
			j--
		}
		if j == end {
			if j > 0 && (sql[j-1] == '"' || sql[j-1] == '`' || sql[j-1] == ']') {
				return true // a quoted name called
			}
			continue // a parenthesis after an operator, a comma or another parenthesis
		}
		if j > 0 && (sql[j-1] == '.' || sql[j-1] == '"' || sql[j-1] == '`') {
			return true // a qualified or quoted name called
		}
		if name := strings.ToLower(sql[j:end]); !pureCalls[name] && !also[name] && !isNumber(name) {
			return true
		}
	}
	return false
}

func isNumber(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// walkExprs walks clause expressions.
func (r *readSet) walkExprs(stmt *gorm.Statement, es []clause.Expression) {
	for _, e := range es {
		r.walk(stmt, e)
	}
}

// subquery scans the table a subquery reads; one written in SQL, or on a table the plugin
// cannot name, makes the read unknown.
func (r *readSet) subquery(stmt *gorm.Statement, sub *gorm.DB) {
	s := sub.Statement
	if s == nil || s.SQL.Len() > 0 || !plainTable(s) || len(s.Joins) > 0 {
		r.unknown = true
		return
	}
	table := relationName(s)
	if table == "" {
		model := s.Model
		if model == nil {
			model = s.Dest
		}
		if model == nil {
			r.unknown = true
			return
		}
		tmp := &gorm.Statement{DB: stmt.DB}
		if err := tmp.Parse(model); err != nil || tmp.Table == "" {
			r.unknown = true
			return
		}
		table = tmp.Table
	}
	r.scan(table)
	for _, cl := range s.Clauses {
		if from, ok := cl.Expression.(clause.From); ok && (len(from.Tables) > 0 || len(from.Joins) > 0) {
			r.unknown = true
		}
		r.walk(stmt, cl.Expression)
	}
}

// narrowing finds the key column, its kind and the values (in canonical form) that the WHERE
// clause of the statement on table narrows its rows to: one of its top-level conjuncts is
// col = v or col IN (v, …) on a key column of table. It reports false when the clause narrows
// nothing, or is not a conjunction; else it sets rec's col, kind, values and raw (the values
// as the clause holds them). A value that does not convert to its key's text makes rec not
// kept as a plan: with other arguments the same text may narrow.
func (p *Plugin) narrowing(stmt *gorm.Statement, table, relation string, rec *readRecord) bool {
	c, has := stmt.Clauses["WHERE"]
	if !has {
		return false
	}
	where, isWhere := c.Expression.(clause.Where)
	if !isWhere {
		return false
	}
	var conjBuf [8]conjunct
	conj, pure := whereConjuncts(where.Exprs, conjBuf[:0])
	if !pure {
		return false
	}
	if len(conj) > 1 {
		for _, c := range conj {
			if !c.clean {
				return false
			}
		}
	}
	keys := p.keys.table(stmt.Schema, table)
	if !p.keys.mayNarrow(keys) {
		return false
	}
	best := -1
	var rawBuf [4]any
	var valBuf [4]string
	for _, cj := range conj {
		c, found, isNarrowed := narrowed(stmt, table, cj.e, rawBuf[:0])
		if !isNarrowed {
			continue
		}
		k := p.keys.narrowKind(keys, relation, c)
		if k == 0 || k == dumper.KeyText && !p.keys.binaryText(relation, c) {
			continue // not a key; text that SQLite compares otherwise than byte-wise
		}
		out := valBuf[:0]
		if best >= 0 {
			out = nil // valBuf holds the values found first
		}
		vs, conv := canonicalValues(k, found, out)
		if !conv {
			rec.keep = false
			continue
		}
		if best < 0 || len(vs) < best {
			rec.col, rec.kind, rec.values, best = c, k, vs, len(vs)
			rec.raw = append(rec.raw[:0], found...)
		}
	}
	return best >= 0
}

// hasAnyWord reports whether s holds one of words (upper-case ASCII), in any case, with no
// letter, digit or underscore on either side: as a whole run of identChar bytes. SQL folds
// the case of keywords in ASCII only.
func hasAnyWord(s string, words []string) bool {
	for i := 0; i < len(s); {
		if !identChar(s[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && identChar(s[j]) {
			j++
		}
		c := s[i] &^ 0x20 // upper case, for a letter
		for _, w := range words {
			if len(w) == j-i && w[0] == c && equalFoldASCII(s[i:j], w) {
				return true
			}
		}
		i = j
	}
	return false
}

// containsFold reports whether s holds sub (upper-case ASCII) in any case, ASCII-folded.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether s equals up (upper-case ASCII) with ASCII letters of s
// upper-cased.
func equalFoldASCII(s, up string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != up[i] {
			return false
		}
	}
	return true
}

func identChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c >= 0x80
}

// narrowed returns the column of table that the conjunct e compares with = or IN, and the
// values it compares it with (flattened, as GORM binds them, appended to buf).
func narrowed(stmt *gorm.Statement, table string, e clause.Expression, buf []any) (col string, values []any, ok bool) {
	switch e := e.(type) {
	case clause.Eq:
		if eqNil(e.Value) {
			return "", nil, false // IS NULL
		}
		col, ok = columnOf(stmt, table, e.Column)
		if !ok {
			return "", nil, false
		}
		switch e.Value.(type) {
		case []string, []int, []int32, []int64, []uint, []uint32, []uint64, []any:
			values, ok = flatten([]any{e.Value}, buf)
		default:
			values, ok = flatten([]any{e.Value}, buf)
			ok = ok && len(values) == 1
		}
		return col, values, ok
	case clause.IN:
		col, ok = columnOf(stmt, table, e.Column)
		if !ok {
			return "", nil, false
		}
		values, ok = flatten(e.Values, buf)
		return col, values, ok
	case clause.Expr:
		return exprNarrowed(stmt, table, e, buf)
	}
	return "", nil, false
}

// exprNarrowed reads the exact shapes "col = ?", "col IN ?" and "col IN (?)" of a fragment of
// SQL with one argument, col being a column name, optionally quoted or qualified by the table.
// Anything else is left to a parser: it narrows nothing.
func exprNarrowed(stmt *gorm.Statement, table string, e clause.Expr, buf []any) (col string, values []any, ok bool) {
	if len(e.Vars) != 1 || e.WithoutParentheses {
		return "", nil, false
	}
	var fbuf [4]string
	f := appendFields(fbuf[:0], e.SQL)
	var in bool
	switch {
	case len(f) == 3 && f[1] == "=" && f[2] == "?":
	case len(f) == 3 && strings.EqualFold(f[1], "IN") && (f[2] == "?" || f[2] == "(?)"):
		in = true
	case len(f) == 1 && strings.HasSuffix(f[0], "=?"):
		f = []string{strings.TrimSuffix(f[0], "=?")}
	default:
		return "", nil, false
	}
	col, ok = identColumn(stmt, table, f[0])
	if !ok {
		return "", nil, false
	}
	v := e.Vars[0]
	if isSubquery(v) {
		return "", nil, false
	}
	values, ok = flatten([]any{v}, buf)
	if !in && (!ok || len(values) != 1 || isList(v)) {
		return "", nil, false
	}
	return col, values, ok
}

// identColumn resolves an identifier of a fragment of SQL (col, "col", `col`, t.col) to a
// column of table, if it is one of the statement's schema.
func identColumn(stmt *gorm.Statement, table, ident string) (string, bool) {
	var buf [2]string
	parts := buf[:1]
	if t, c, qualified := strings.Cut(ident, "."); qualified {
		if strings.Contains(c, ".") {
			return "", false
		}
		parts = append(parts[:0], t, c)
	} else {
		parts[0] = ident
	}
	for i, p := range parts {
		if len(p) >= 2 && (p[0] == '"' && p[len(p)-1] == '"' || p[0] == '`' && p[len(p)-1] == '`') {
			p = p[1 : len(p)-1]
		}
		if p == "" || strings.ContainsAny(p, "\"`'() \t") {
			return "", false
		}
		parts[i] = p
	}
	if len(parts) == 2 && parts[0] != table && parts[0] != stmt.Table {
		return "", false
	}
	return parts[len(parts)-1], true
}

// columnOf resolves the column of a clause (a clause.Column or a name) to a column of table.
func columnOf(stmt *gorm.Statement, table string, c any) (string, bool) {
	switch c := c.(type) {
	case clause.Column:
		if c.Raw || c.Alias != "" {
			return "", false
		}
		if c.Table != "" && c.Table != clause.CurrentTable && c.Table != stmt.Table && bareTable(c.Table) != table {
			return "", false
		}
		if c.Name == clause.PrimaryKey {
			if stmt.Schema == nil || stmt.Schema.PrioritizedPrimaryField == nil {
				return "", false
			}
			return stmt.Schema.PrioritizedPrimaryField.DBName, true
		}
		return c.Name, c.Name != ""
	case string:
		t, name, qualified := strings.Cut(c, ".")
		if !qualified {
			return c, c != ""
		}
		if strings.Contains(name, ".") || (t != stmt.Table && t != table) {
			return "", false
		}
		return name, name != ""
	}
	return "", false
}

// flatten returns the values vars bind, as GORM's AddVar expands them: slices (other than
// []byte) into their elements. ok is false for what it does not expand to plain values:
// expressions, subqueries, nested lists. The values are appended to values.
func flatten(vars []any, values []any) (_ []any, ok bool) {
	for _, v := range vars {
		switch x := v.(type) {
		case string, int, int64, int32, uint, uint64, uint32, bool:
			values = append(values, v) // the usual: a type with no method, checked first
			continue
		case nil, []byte, driver.Valuer:
			values = append(values, v)
			continue
		case clause.Expression, *gorm.DB, gorm.Valuer:
			return nil, false
		case []any:
			for _, e := range x {
				if isList(e) {
					return nil, false
				}
				var ok bool
				if values, ok = flatten([]any{e}, values); !ok {
					return nil, false
				}
			}
			continue
		}
		rv := reflect.ValueOf(v)
		if k := rv.Kind(); k == reflect.Slice || k == reflect.Array {
			for i := range rv.Len() {
				e := rv.Index(i).Interface()
				if isList(e) || isSubquery(e) {
					return nil, false
				}
				values = append(values, e)
			}
			continue
		}
		values = append(values, v)
	}
	return values, true
}

// isList reports whether GORM would bind v as a list of values.
func isList(v any) bool {
	switch v.(type) {
	case string, int, int64, int32, uint, uint64, uint32, bool:
		return false
	case nil, []byte, driver.Valuer:
		return false
	}
	k := reflect.ValueOf(v).Kind()
	return k == reflect.Slice || k == reflect.Array
}

func isSubquery(v any) bool {
	_, ok := v.(*gorm.DB)
	return ok
}

// eqNil reports whether clause.Eq builds "IS NULL" for v, as gorm's clause.eqNil does: for
// nil, a nil pointer, and a driver.Valuer (not a nil pointer) whose Value is one of them
// (sql.NullInt64{}), whatever error it returns.
func eqNil(v any) bool {
	if vr, ok := v.(driver.Valuer); ok && !nilPointer(v) {
		v, _ = vr.Value()
	}
	return v == nil || nilPointer(v)
}

func nilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// canonicalValues converts values to the canonical text of kind; NULLs match no row and are
// dropped. ok is false if a value does not convert exactly. The texts are appended to out.
func canonicalValues(kind dumper.KeyKind, values []any, out []string) (_ []string, ok bool) {
	for _, v := range values {
		switch v.(type) {
		case string, int, int64, int32, uint, uint64, uint32: // the usual: neither pointer, Valuer nor NULL
		default:
			v = deref(v)
			if isNull(v) {
				continue
			}
		}
		s, ok := kind.Canonical(v)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// isNull reports whether v binds as NULL.
func isNull(v any) bool {
	if v == nil {
		return true
	}
	if vr, ok := v.(driver.Valuer); ok {
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			return true
		}
		dv, err := vr.Value()
		return err == nil && dv == nil
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// appendFields appends to f the fields of s separated by ASCII white space, as strings.Fields
// splits them for ASCII text, up to cap(f)+1 of them: callers only need to know there are
// more.
func appendFields(f []string, s string) []string {
	for i := 0; i < len(s); {
		if c := s[i]; c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
			i++
			continue
		}
		if s[i] >= 0x80 {
			return strings.Fields(s) // Unicode white space: as strings.Fields splits it
		}
		j := i + 1
		for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' && s[j] != '\v' && s[j] != '\f' {
			if s[j] >= 0x80 {
				return strings.Fields(s)
			}
			j++
		}
		if len(f) == cap(f) {
			return append(f, s[i:j]) // one more than fits: the caller sees too many
		}
		f = append(f, s[i:j])
		i = j
	}
	return f
}
