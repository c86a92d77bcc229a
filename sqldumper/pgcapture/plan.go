package pgcapture

import (
	"context"
	"unicode/utf8"

	"github.com/dumperhq/dumper"
)

// A plan is a shape resolved against one generation of the catalog: what recording its reads
// records and what each of its statements stamps, less the arguments.
type plan struct {
	gen     uint64
	noStore bool       // reading it keeps the response out of the cache
	effects bool       // a step changes data, the transaction or the catalog (step.acts)
	reads   []readPlan // the relations it reads
	steps   []step     // per statement, in order
}

// readPlan is one relation read: narrowed by col when col is set, a scan otherwise. read is its
// tags, built once: narrowed by col, or a scan. (A narrowed read whose values do not convert
// records a scan with dumper.ReadTable, which builds them.)
type readPlan struct {
	table string
	col   string
	kind  dumper.KeyKind
	vals  []value
	array *value

	read *dumper.Read
}

// step is what one statement does to data and transactions. A field added here is one
// that acts must consider.
type step struct {
	tx        txOp
	opaque    bool         // writes what the capture cannot tell: DatabaseTag
	refresh   bool         // changes the catalog
	tags      []string     // stamped whatever the arguments
	rows      []rowSet     // INSERT … VALUES whose key values are known
	keyed     []keyedSet   // UPDATE and DELETE whose WHERE narrows every key column
	returning []*returnSet // writes whose RETURNING gives every key column
}

// acts reports whether the statement gives [Session.Done] anything to do: a transaction
// statement, a catalog change, or a write that stamps tags.
func (s *step) acts() bool {
	return s.tx != txNone || s.opaque || s.refresh || len(s.tags) > 0 || len(s.rows) > 0 ||
		len(s.keyed) > 0 || len(s.returning) > 0
}

// keyedSet is the rows an UPDATE or DELETE changes in one relation, known by the values its
// WHERE narrows each key column to, and those UPDATE assigns.
type keyedSet struct {
	table string
	keys  []keyValues
}

type keyValues struct {
	col  string
	kind dumper.KeyKind
	len  int    // varchar(n)
	old  *cond  // the condition on the column: its values before the write
	new  *value // the value UPDATE assigns, if it assigns one
}

// rowSet is the rows one INSERT … VALUES writes to one relation, by their key values.
type rowSet struct {
	table string
	keys  []string
	kinds []dumper.KeyKind
	lens  []int     // varchar(n) lengths
	vals  [][]value // per row, per key
}

// maxDepth of views in views, and of cascades, the resolver follows.
const maxResolveDepth = 32

type resolver struct {
	single  bool // the shape is one statement: its result is its own
	a       *Analyzer
	ctx     context.Context
	depth   int
	err     error
	missing bool // a relation was not found: the plan is not kept
}

// resolve returns the plan of sh for the current catalog, computing it if needed; a catalog
// query it makes is bounded by catalogContext.
func (a *Analyzer) resolve(ctx context.Context, sh *Shape) (*plan, error) {
	gen := a.cat.generation()
	if p := sh.plan.Load(); p != nil && p.gen == gen {
		return p, nil
	}
	ctx, cancel := catalogContext(ctx)
	defer cancel()
	r := &resolver{a: a, ctx: ctx}
	p := r.plan(sh, gen)
	if r.err != nil {
		return p, r.err // not cached: the next call tries the catalog again
	}
	if !r.missing {
		sh.plan.Store(p)
	}
	return p, nil
}

func (r *resolver) plan(sh *Shape, gen uint64) *plan {
	p := &plan{gen: gen}
	if sh.err != nil {
		p.noStore, p.effects = true, true
		p.steps = []step{{opaque: true}}
		return p
	}
	r.prefetch(sh)
	r.single = len(sh.stmts) == 1
	for _, st := range sh.stmts {
		s := r.stmt(st, p)
		p.effects = p.effects || s.acts()
		p.steps = append(p.steps, s)
	}
	return p
}

// prefetch loads the relations a shape names directly, in one catalog query.
func (r *resolver) prefetch(sh *Shape) {
	var names []string
	for _, st := range sh.stmts {
		for _, it := range st.tables {
			names = append(names, it.rel.qualified())
		}
		for _, w := range st.writes {
			names = append(names, w.rel.qualified())
		}
	}
	if len(names) > 0 {
		if _, err := r.a.cat.lookup(r.ctx, names); err != nil {
			r.err = err
		}
	}
}

func (r *resolver) rel(name string) *relation {
	m, err := r.a.cat.lookup(r.ctx, []string{name})
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return &relation{}
	}
	rel := m[name]
	if !rel.Found {
		r.missing = true
	}
	return rel
}

func (r *resolver) stmt(st *stmt, p *plan) step {
	s := step{tx: st.tx}
	if st.opaque || st.ddl {
		s.opaque, s.refresh = true, true
		p.noStore = true
	}
	if st.noStore || len(st.writes) > 0 {
		p.noStore = true // a write during a render: the page shows what its own request changed
	}
	for _, rt := range st.routines {
		vol, err := r.a.cat.routine(r.ctx, rt, r.a.pure)
		if err != nil && r.err == nil {
			r.err = err
		}
		if vol >= reading {
			p.noStore = true
		}
		if vol == writing {
			s.opaque = true
		}
	}
	r.reads(st, p, &s)
	for _, w := range st.writes {
		r.write(w, &s)
	}
	if r.err != nil {
		s.opaque = true
		p.noStore = true
	}
	return s
}

// reads adds to p what recording the reads of st records.
func (r *resolver) reads(st *stmt, p *plan, s *step) {
	narrow := map[*item][]*cond{}
	for _, lv := range st.levels {
		for _, c := range lv.conds {
			if it := r.target(c); it != nil {
				narrow[it] = append(narrow[it], c)
			}
		}
	}
	for _, it := range st.tables {
		rel := r.rel(it.rel.qualified())
		r.read(rel, narrow[it], it.rel.only, p, s)
	}
}

// weight orders the conditions that could narrow one table: fewest values first.
func (c *cond) weight() int {
	if c.array != nil {
		return 1 << 30
	}
	return len(c.vals)
}

// target returns the table item the condition's column belongs to, if the condition may
// narrow it, or nil.
func (r *resolver) target(c *cond) *item {
	var found *item
	if len(c.qual) > 0 {
		q := c.qual[len(c.qual)-1]
		for _, it := range c.visible {
			if it.refname != q || (len(c.qual) == 2 && it.schema != c.qual[0]) {
				continue
			}
			if found != nil {
				return nil
			}
			found = it
		}
	} else {
		for _, it := range c.visible {
			if it.rel == nil {
				return nil // a subquery, function or CTE may have the column
			}
			rel := r.rel(it.rel.qualified())
			if !rel.Found {
				return nil
			}
			if rel.cols[c.col] != nil {
				if found != nil {
					return nil // ambiguous
				}
				found = it
			}
		}
	}
	if found == nil || found.rel == nil {
		return nil
	}
	for _, it := range c.allowed {
		if it == found {
			return found
		}
	}
	return nil
}

// read adds the read of rel to p, narrowed by the condition of conds that fits it best.
func (r *resolver) read(rel *relation, conds []*cond, only bool, p *plan, s *step) {
	if !rel.Found || rel.RLS {
		p.noStore = true
		return
	}
	switch rel.Kind {
	case "r", "p", "m", "t":
	case "v":
		r.view(rel, p, s)
		return
	default:
		p.noStore = true // a foreign table, a sequence: changed by no write the capture sees
		return
	}
	rp := readPlan{table: rel.Name}
	var best *cond
	for _, c := range conds {
		if k := rel.kinds[c.col]; k != 0 && c.fits(k) && (best == nil || c.weight() < best.weight()) {
			best = c
			rp.col, rp.kind, rp.vals, rp.array = c.col, k, c.vals, c.array
		}
	}
	if rp.col != "" {
		rp.read = dumper.NewRead(nil, []string{rp.table}, rp.col)
	} else {
		rp.read = dumper.NewRead([]string{rp.table}, nil, "")
	}
	p.reads = append(p.reads, rp)
	if only {
		return
	}
	if r.depth++; r.depth > maxResolveDepth {
		p.noStore = true
	} else {
		for _, child := range rel.Children {
			r.read(r.rel(child), conds, false, p, s)
		}
	}
	r.depth--
}

// fits reports whether every value of c converts for a column of kind k, as far as it can be
// told before the arguments are known.
func (c *cond) fits(k dumper.KeyKind) bool {
	if c.array != nil {
		if c.array.bad || !c.array.cast.fits(k) {
			return false
		}
		if c.array.param == 0 {
			_, ok := c.array.elements(k, nil)
			return ok
		}
		return true
	}
	for _, v := range c.vals {
		if !v.static(k) {
			return false
		}
	}
	return true
}

// view adds the reads of a view's definition.
func (r *resolver) view(rel *relation, p *plan, s *step) {
	if r.depth++; r.depth > maxResolveDepth {
		p.noStore = true
		r.depth--
		return
	}
	defer func() { r.depth-- }()
	sh := r.a.Shape(rel.View)
	sub := r.plan(sh, p.gen)
	if sh.err != nil || len(sh.stmts) != 1 {
		p.noStore = true
		return
	}
	p.noStore = p.noStore || sub.noStore
	p.reads = append(p.reads, sub.reads...)
	for _, ss := range sub.steps {
		s.opaque = s.opaque || ss.opaque
	}
}

// write adds to s what writing w stamps.
func (r *resolver) write(w *write, s *step) {
	rel := r.rel(w.rel.qualified())
	var ret *returnSet
	if w.returning != nil && r.single && rel.Found && rel.Kind != "v" {
		ret = &returnSet{}
		for _, c := range w.returning {
			if c.star {
				ret.names = append(ret.names, columnNames(rel)...)
			} else {
				ret.names = append(ret.names, c.col)
			}
		}
	}
	r.writeRel(rel, w, s, map[*relation]bool{}, ret)
	if ret != nil && len(ret.rels) > 0 {
		s.returning = append(s.returning, ret)
	}
}

func (r *resolver) writeRel(rel *relation, w *write, s *step, seen map[*relation]bool, ret *returnSet) {
	if !rel.Found {
		s.opaque = true // a temporary table, or one the catalog's connection cannot see
		return
	}
	if seen[rel] {
		return
	}
	seen[rel] = true
	if r.depth++; r.depth > maxResolveDepth {
		s.opaque = true
		r.depth--
		return
	}
	defer func() { r.depth-- }()
	if rel.Triggers {
		s.opaque = true // a trigger or rule may write any table
	}
	if rel.Kind == "v" {
		// An updatable view writes the tables of its definition.
		vs := r.a.Shape(rel.View)
		if vs.err != nil {
			s.opaque = true
			return
		}
		for _, st := range vs.stmts {
			for _, it := range st.tables {
				r.writeRel(r.rel(it.rel.qualified()), &write{op: w.op, rel: it.rel}, s, seen, nil)
			}
		}
		return
	}
	if rs, ok := r.rowSet(rel, w); ok {
		s.rows = append(s.rows, rs)
	} else if ks, ok := r.keyedSet(rel, w); ok {
		s.keyed = append(s.keyed, ks)
	} else if rr, ok := ret.add(rel, w); ok {
		ret.rels = append(ret.rels, rr)
		ret.fallback = append(ret.fallback, dumper.TableTag(rel.Name))
	} else {
		s.tags = append(s.tags, dumper.TableTag(rel.Name))
	}
	if !w.rel.only || w.op == opInsert {
		for _, child := range rel.Children {
			cw := *w
			if w.cols == nil && w.rows != nil {
				cw.cols = columnNames(rel) // by name, as the child may order its columns otherwise
			}
			cw.rel = &relRef{name: child}
			r.writeRel(r.rel(child), &cw, s, seen, ret)
		}
	}
	// The rows written are the parents' rows too, which a read of a parent (through another
	// layer, which may not read the children) names by the parent's name: the write stamps
	// them as the parent's, by the same conditions and values (a TRUNCATE of a child, as a
	// TRUNCATE of the parent: its table tag). A parent's other children (and a parent's
	// triggers, which do not fire) cost a few extra tags at most.
	for _, parent := range rel.Parents {
		pw := *w
		if w.cols == nil && w.rows != nil {
			pw.cols = columnNames(rel) // the values are in the child's order
		}
		pw.rel = &relRef{name: parent, only: true}
		r.writeRel(r.rel(parent), &pw, s, seen, nil)
	}
	// Foreign keys whose actions write the referencing tables.
	deletes := w.op == opDelete || w.op == opMerge || (w.op == opTruncate && w.cascade)
	updates := w.op == opUpdate || w.op == opMerge || w.upsert
	for _, f := range rel.Refs {
		if (w.op == opTruncate && w.cascade) ||
			deletes && isAction(f.OnDelete) || updates && isAction(f.OnUpdate) {
			op := opUpdate
			if w.op == opTruncate {
				op = opTruncate
			} else if deletes && f.OnDelete == "c" {
				op = opDelete
			}
			r.writeRel(r.rel(f.Table), &write{op: op, rel: &relRef{name: f.Table}, cascade: w.cascade}, s, seen, nil)
		}
	}
}

// isAction reports whether a foreign key action writes the referencing rows: CASCADE, SET
// NULL, SET DEFAULT.
func isAction(a string) bool { return a == "c" || a == "n" || a == "d" }

func columnNames(rel *relation) []string {
	names := make([]string, len(rel.Columns))
	for i, c := range rel.Columns {
		names[i] = c.Name
	}
	return names
}

// rowSet returns the key values an INSERT … VALUES gives rel's rows, if every key column has
// one that converts (or may, for a parameter) in every row.
func (r *resolver) rowSet(rel *relation, w *write) (rowSet, bool) {
	if w.op != opInsert || w.upsert || w.rows == nil || len(w.rows) > maxRows {
		return rowSet{}, false
	}
	cols := w.cols
	if cols == nil {
		cols = columnNames(rel)
	}
	rs := rowSet{table: rel.Name, keys: rel.keys, lens: make([]int, len(rel.keys))}
	pos := make([]int, len(rel.keys))
	for i, k := range rel.keys {
		pos[i] = -1
		for j, c := range cols {
			if c == k {
				pos[i] = j
			}
		}
		if pos[i] < 0 {
			return rowSet{}, false // takes its default: unknown
		}
		rs.kinds = append(rs.kinds, rel.kinds[k])
		rs.lens[i] = rel.cols[k].Len
	}
	for _, row := range w.rows {
		if len(row) != len(cols) {
			return rowSet{}, false
		}
		vals := make([]value, len(rel.keys))
		for i, j := range pos {
			v := row[j]
			if !v.static(rs.kinds[i]) && !(v.param == 0 && !v.bad && v.konst == nil) {
				return rowSet{}, false
			}
			vals[i] = v
		}
		rs.vals = append(rs.vals, vals)
	}
	return rs, true
}

// maxRows bounds the rows of one INSERT stamped by their keys; past it the table tag is.
const maxRows = 256

// tags returns the tags a row set stamps for args.
func (rs *rowSet) tags(args []any) []string {
	var out []string
	m := make(map[string]string, len(rs.keys))
	for _, row := range rs.vals {
		clear(m)
		present := make([]string, 0, len(rs.keys))
		for i, v := range row {
			if v.isNull(args) {
				continue // a NULL key matches no read narrowed by it
			}
			c, ok := v.canonical(rs.kinds[i], args)
			if !ok {
				return []string{dumper.TableTag(rs.table)}
			}
			m[rs.keys[i]] = stored(c, rs.lens[i])
			present = append(present, rs.keys[i])
		}
		out = append(out, dumper.ChangeTags(rs.table, present, nil, m)...)
	}
	if len(rs.vals) == 0 {
		out = append(out, dumper.ScanTag(rs.table))
	}
	return out
}

// stored returns the value a varchar(n) column stores for a key value written to it:
// PostgreSQL cuts trailing spaces past n (and rejects any other excess).
func stored(v string, n int) string {
	if n <= 0 || utf8.RuneCountInString(v) <= n {
		return v
	}
	i, count := 0, 0
	for i = range v {
		if count == n {
			break
		}
		count++
	}
	return v[:i]
}

// keyedSet returns the rows an UPDATE or DELETE of rel changes by their key values, if its
// WHERE narrows every key column of rel (as a top-level conjunct col = v, IN, = ANY) and, for
// an UPDATE, it assigns each key column nothing or a parameter or constant.
func (r *resolver) keyedSet(rel *relation, w *write) (keyedSet, bool) {
	if (w.op != opUpdate && w.op != opDelete) || w.where == nil || len(rel.keys) == 0 {
		return keyedSet{}, false
	}
	var conds []*cond
	for _, c := range w.where.conds {
		if r.target(c) == w.target {
			conds = append(conds, c)
		}
	}
	ks := keyedSet{table: rel.Name}
	for _, k := range rel.keys {
		kind, col := rel.kinds[k], rel.cols[k]
		kv := keyValues{col: k, kind: kind, len: col.Len}
		for _, c := range conds {
			if c.col == k && c.fits(kind) && (kv.old == nil || c.weight() < kv.old.weight()) {
				kv.old = c
			}
		}
		if kv.old == nil {
			return keyedSet{}, false
		}
		if w.op == opUpdate {
			if col.Generated && len(w.set) > 0 {
				return keyedSet{}, false // recomputed from the columns assigned
			}
			if v, ok := w.set[k]; ok {
				if !v.static(kind) && !(v.param == 0 && !v.bad && v.konst == nil) {
					return keyedSet{}, false
				}
				kv.new = &v
			}
		}
		ks.keys = append(ks.keys, kv)
	}
	return ks, true
}

// tags returns the tags a keyed set stamps for args: the row tags of every value each key
// column may hold before and after the write, and the table's scan tag.
func (ks *keyedSet) tags(args []any) []string {
	out := []string{dumper.ScanTag(ks.table)}
	for _, kv := range ks.keys {
		rp := readPlan{kind: kv.kind, vals: kv.old.vals, array: kv.old.array}
		vals, ok := rp.values(nil, args)
		if !ok {
			return []string{dumper.TableTag(ks.table)}
		}
		for _, v := range vals {
			out = append(out, dumper.RowTag(ks.table, kv.col, v))
		}
		if kv.new != nil && !kv.new.isNull(args) {
			c, ok := kv.new.canonical(kv.kind, args)
			if !ok {
				return []string{dumper.TableTag(ks.table)}
			}
			out = append(out, dumper.RowTag(ks.table, kv.col, stored(c, kv.len)))
		}
	}
	return out
}
