package pgcapture

import (
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// statement analyses one statement (a top-level one, or one nested in a CTE, EXPLAIN, COPY
// or DECLARE).
func (p *parser) statement(n *pg.Node, sc *scope) {
	if n == nil {
		return
	}
	switch x := n.GetNode().(type) {
	case *pg.Node_SelectStmt:
		if x.SelectStmt.GetIntoClause() != nil {
			p.st.ddl = true // SELECT … INTO creates a table
		}
		p.selectStmt(x.SelectStmt, sc)
	case *pg.Node_InsertStmt:
		p.insert(x.InsertStmt, sc)
	case *pg.Node_UpdateStmt:
		u := x.UpdateStmt
		sc = p.with(u.GetWithClause(), sc)
		lv, w := p.target(opUpdate, u.GetRelation())
		for _, f := range u.GetFromClause() {
			lv.items = append(lv.items, p.fromItem(f, lv, sc)...)
		}
		if w != nil {
			p.conjuncts(u.GetWhereClause(), lv, lv.items, []*item{w.target})
			w.set = map[string]value{}
			for _, n := range u.GetTargetList() {
				rt := n.GetResTarget()
				v := valueOf(rt.GetVal())
				if len(rt.GetIndirection()) > 0 {
					v = value{bad: true} // a part of the column
				}
				w.set[rt.GetName()] = v
			}
		}
		if w != nil {
			w.returning = returningOf(u.GetReturningList(), w.target.refname, len(lv.items) > 1)
		}
		p.exprs(sc, u.GetTargetList(), u.GetReturningList())
		p.expr(u.GetWhereClause(), sc)
	case *pg.Node_DeleteStmt:
		d := x.DeleteStmt
		sc = p.with(d.GetWithClause(), sc)
		lv, w := p.target(opDelete, d.GetRelation())
		for _, f := range d.GetUsingClause() {
			lv.items = append(lv.items, p.fromItem(f, lv, sc)...)
		}
		if w != nil {
			p.conjuncts(d.GetWhereClause(), lv, lv.items, []*item{w.target})
			w.returning = returningOf(d.GetReturningList(), w.target.refname, len(lv.items) > 1)
		}
		p.exprs(sc, d.GetReturningList())
		p.expr(d.GetWhereClause(), sc)
	case *pg.Node_MergeStmt:
		m := x.MergeStmt
		sc = p.with(m.GetWithClause(), sc)
		lv, _ := p.target(opMerge, m.GetRelation())
		if m.GetSourceRelation() != nil {
			lv.items = append(lv.items, p.fromItem(m.GetSourceRelation(), lv, sc)...)
		}
		p.expr(m.GetJoinCondition(), sc)
		p.exprs(sc, m.GetMergeWhenClauses(), m.GetReturningList())
	case *pg.Node_TruncateStmt:
		t := x.TruncateStmt
		for _, r := range t.GetRelations() {
			if rv := r.GetRangeVar(); rv != nil {
				p.st.writes = append(p.st.writes, &write{op: opTruncate, rel: relOf(rv), cascade: t.GetBehavior() == pg.DropBehavior_DROP_CASCADE})
			}
		}
	case *pg.Node_CopyStmt:
		c := x.CopyStmt
		switch {
		case c.GetRelation() != nil && c.GetIsFrom():
			p.st.writes = append(p.st.writes, &write{op: opCopy, rel: relOf(c.GetRelation())})
		case c.GetRelation() != nil:
			lv := &level{}
			lv.items = append(lv.items, p.fromItem(&pg.Node{Node: &pg.Node_RangeVar{RangeVar: c.GetRelation()}}, lv, sc)...)
			p.st.levels = append(p.st.levels, lv)
		default:
			p.statement(c.GetQuery(), sc)
		}
		p.expr(c.GetWhereClause(), sc)
	case *pg.Node_ExplainStmt:
		p.statement(x.ExplainStmt.GetQuery(), sc) // EXPLAIN ANALYZE runs it
	case *pg.Node_DeclareCursorStmt:
		p.statement(x.DeclareCursorStmt.GetQuery(), sc)
	case *pg.Node_RefreshMatViewStmt:
		p.st.writes = append(p.st.writes, &write{op: opRefresh, rel: relOf(x.RefreshMatViewStmt.GetRelation())})
	case *pg.Node_TransactionStmt:
		p.st.tx = txOf(x.TransactionStmt)
	case *pg.Node_FetchStmt:
		if !x.FetchStmt.GetIsmove() {
			p.st.noStore = true // rows of a cursor declared by an earlier statement
		}
	case *pg.Node_VariableSetStmt, *pg.Node_VariableShowStmt, *pg.Node_ListenStmt,
		*pg.Node_UnlistenStmt, *pg.Node_NotifyStmt, *pg.Node_DiscardStmt, *pg.Node_DeallocateStmt,
		*pg.Node_CheckPointStmt, *pg.Node_VacuumStmt, *pg.Node_LockStmt, *pg.Node_ClusterStmt,
		*pg.Node_ReindexStmt, *pg.Node_ConstraintsSetStmt, *pg.Node_ClosePortalStmt,
		*pg.Node_PrepareStmt:
		// Changes no data. (PREPARE runs nothing; the EXECUTE that does is opaque.)
	case *pg.Node_CallStmt, *pg.Node_DoStmt, *pg.Node_ExecuteStmt, *pg.Node_LoadStmt:
		p.st.opaque = true // runs code or a statement the text does not show
	default:
		p.st.ddl = true // CREATE, ALTER, DROP, GRANT, COMMENT… and anything unknown
	}
}

func txOf(t *pg.TransactionStmt) txOp {
	switch t.GetKind() {
	case pg.TransactionStmtKind_TRANS_STMT_BEGIN, pg.TransactionStmtKind_TRANS_STMT_START:
		return txBegin
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT:
		if t.GetChain() {
			return txCommitChain
		}
		return txCommit
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		if t.GetChain() {
			return txRollbackChain
		}
		return txRollback
	case pg.TransactionStmtKind_TRANS_STMT_SAVEPOINT, pg.TransactionStmtKind_TRANS_STMT_RELEASE,
		pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		return txSavepoint
	case pg.TransactionStmtKind_TRANS_STMT_PREPARE:
		return txPrepare
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
		return txCommitPrepared
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		return txRollbackPrepared
	}
	return txSavepoint
}

func relOf(rv *pg.RangeVar) *relRef {
	return &relRef{schema: rv.GetSchemaname(), name: rv.GetRelname(), only: !rv.GetInh()}
}

// target records the relation a write statement writes, and returns the level of its FROM
// (USING, MERGE source) list and the write. The target is read too: RETURNING, and the rows
// it matches.
func (p *parser) target(op writeOp, rv *pg.RangeVar) (*level, *write) {
	lv := &level{}
	if rv == nil {
		p.st.opaque = true
		return lv, nil
	}
	it := &item{refname: rv.GetRelname(), schema: rv.GetSchemaname(), rel: relOf(rv)}
	if a := rv.GetAlias(); a != nil {
		it.refname, it.schema = a.GetAliasname(), ""
	}
	w := &write{op: op, rel: relOf(rv), target: it, where: lv}
	p.st.writes = append(p.st.writes, w)
	p.st.tables = append(p.st.tables, it)
	lv.items = append(lv.items, it)
	p.st.levels = append(p.st.levels, lv)
	return lv, w
}

func (p *parser) insert(ins *pg.InsertStmt, sc *scope) {
	sc = p.with(ins.GetWithClause(), sc)
	rv := ins.GetRelation()
	if rv == nil {
		p.st.opaque = true
		return
	}
	w := &write{op: opInsert, rel: relOf(rv)}
	p.st.writes = append(p.st.writes, w)
	refname := rv.GetRelname()
	if a := rv.GetAlias(); a != nil {
		refname = a.GetAliasname()
	}
	w.returning = returningOf(ins.GetReturningList(), refname, false)
	if oc := ins.GetOnConflictClause(); oc != nil {
		w.upsert = oc.GetAction() == pg.OnConflictAction_ONCONFLICT_UPDATE
		w.set = map[string]value{}
		for _, n := range oc.GetTargetList() {
			w.set[n.GetResTarget().GetName()] = value{bad: true}
		}
		p.exprs(sc, oc.GetTargetList())
		p.expr(oc.GetWhereClause(), sc)
		if inf := oc.GetInfer(); inf != nil {
			p.exprs(sc, inf.GetIndexElems())
			p.expr(inf.GetWhereClause(), sc)
		}
	}
	if len(ins.GetReturningList()) > 0 {
		// RETURNING reads the rows written.
		it := &item{refname: rv.GetRelname(), rel: relOf(rv)}
		if a := rv.GetAlias(); a != nil {
			it.refname = a.GetAliasname()
		}
		p.st.tables = append(p.st.tables, it)
		p.exprs(sc, ins.GetReturningList())
	}
	known := true
	for _, c := range ins.GetCols() {
		rt := c.GetResTarget()
		if rt == nil || len(rt.GetIndirection()) > 0 {
			known = false // a part of a column (an array element, a field)
		}
		w.cols = append(w.cols, rt.GetName())
	}
	sel := ins.GetSelectStmt().GetSelectStmt()
	if sel == nil {
		return // DEFAULT VALUES: every column takes its default
	}
	if !isPlainValues(sel) {
		p.selectStmt(sel, sc)
		return
	}
	for _, row := range sel.GetValuesLists() {
		var vals []value
		for _, e := range row.GetList().GetItems() {
			vals = append(vals, valueOf(e))
			p.expr(e, sc)
		}
		w.rows = append(w.rows, vals)
	}
	if !known || ins.GetOverride() == pg.OverridingKind_OVERRIDING_USER_VALUE {
		// OVERRIDING USER VALUE: identity columns take their generated values, whatever the
		// row gives them.
		w.rows = nil
	}
}

// returningOf reads a RETURNING list: the target's columns it gives, by position. refname is
// the target's name or alias; with others, an unqualified column might be another item's.
func returningOf(list []*pg.Node, refname string, others bool) []retCol {
	if len(list) == 0 {
		return nil
	}
	cols := make([]retCol, len(list))
	for i, n := range list {
		cr := n.GetResTarget().GetVal().GetColumnRef()
		if cr == nil {
			continue
		}
		f := cr.GetFields()
		switch {
		case len(f) == 1 && f[0].GetAStar() != nil && !others:
			cols[i].star = true
		case len(f) == 1 && f[0].GetString_() != nil && !others:
			cols[i].col = f[0].GetString_().GetSval()
		case len(f) == 2 && f[0].GetString_().GetSval() == refname && f[1].GetAStar() != nil:
			cols[i].star = true
		case len(f) == 2 && f[0].GetString_().GetSval() == refname && f[1].GetString_() != nil:
			cols[i].col = f[1].GetString_().GetSval()
		}
	}
	return cols
}

// isPlainValues reports whether sel is a bare VALUES list.
func isPlainValues(sel *pg.SelectStmt) bool {
	return len(sel.GetValuesLists()) > 0 && sel.GetWithClause() == nil && len(sel.GetSortClause()) == 0 &&
		sel.GetLimitCount() == nil && sel.GetLimitOffset() == nil && sel.GetOp() == pg.SetOperation_SETOP_NONE
}

// with analyses a WITH clause and returns the scope its CTE names are visible in.
func (p *parser) with(w *pg.WithClause, sc *scope) *scope {
	if w == nil || len(w.GetCtes()) == 0 {
		return sc
	}
	inner := &scope{ctes: map[string]bool{}, parent: sc}
	for _, c := range w.GetCtes() {
		if cte := c.GetCommonTableExpr(); cte != nil {
			inner.ctes[cte.GetCtename()] = true
		}
	}
	for _, c := range w.GetCtes() {
		cte := c.GetCommonTableExpr()
		if cte == nil {
			continue
		}
		// A recursive WITH sees every name; a plain one, in PostgreSQL, only the earlier
		// ones — seeing all is wrong only for a query that PostgreSQL rejects.
		p.statement(cte.GetCtequery(), inner)
	}
	return inner
}

// selectStmt analyses a SELECT (or VALUES, or a set operation) at a level of its own.
func (p *parser) selectStmt(s *pg.SelectStmt, sc *scope) {
	if s == nil {
		return
	}
	if p.depth++; p.depth > maxDepth {
		p.st.opaque = true
		return
	}
	defer func() { p.depth-- }()
	sc = p.with(s.GetWithClause(), sc)
	if s.GetOp() != pg.SetOperation_SETOP_NONE {
		p.selectStmt(s.GetLarg(), sc)
		p.selectStmt(s.GetRarg(), sc)
		p.exprs(sc, s.GetSortClause())
		p.expr(s.GetLimitCount(), sc)
		p.expr(s.GetLimitOffset(), sc)
		return
	}
	lv := &level{}
	for _, f := range s.GetFromClause() {
		lv.items = append(lv.items, p.fromItem(f, lv, sc)...)
	}
	p.conjuncts(s.GetWhereClause(), lv, lv.items, lv.items)
	p.expr(s.GetWhereClause(), sc)
	p.exprs(sc, s.GetTargetList(), s.GetGroupClause(), s.GetWindowClause(), s.GetValuesLists(),
		s.GetSortClause(), s.GetDistinctClause())
	p.expr(s.GetHavingClause(), sc)
	p.expr(s.GetLimitCount(), sc)
	p.expr(s.GetLimitOffset(), sc)
	p.st.levels = append(p.st.levels, lv)
}

// fromItem analyses an entry of a FROM list and returns the items it makes visible to the
// rest of its SELECT. Tables anywhere inside it are recorded as read; conditions of the ON of
// its joins are added to lv.
func (p *parser) fromItem(n *pg.Node, lv *level, sc *scope) []*item {
	switch x := n.GetNode().(type) {
	case *pg.Node_RangeVar:
		rv := x.RangeVar
		it := &item{refname: rv.GetRelname(), schema: rv.GetSchemaname()}
		if a := rv.GetAlias(); a != nil {
			it.refname, it.schema = a.GetAliasname(), ""
		}
		if rv.GetSchemaname() == "" && rv.GetCatalogname() == "" && sc.isCTE(rv.GetRelname()) {
			return []*item{it} // a CTE: analysed with its WITH
		}
		it.rel = relOf(rv)
		p.st.tables = append(p.st.tables, it)
		return []*item{it}
	case *pg.Node_JoinExpr:
		j := x.JoinExpr
		left := p.fromItem(j.GetLarg(), lv, sc)
		right := p.fromItem(j.GetRarg(), lv, sc)
		both := append(append([]*item{}, left...), right...)
		if q := j.GetQuals(); q != nil && !j.GetIsNatural() && len(j.GetUsingClause()) == 0 {
			switch j.GetJointype() {
			case pg.JoinType_JOIN_INNER:
				p.conjuncts(q, lv, both, both)
			case pg.JoinType_JOIN_LEFT:
				p.conjuncts(q, lv, both, right)
			case pg.JoinType_JOIN_RIGHT:
				p.conjuncts(q, lv, both, left)
			}
			p.expr(q, sc)
		}
		if a := j.GetAlias(); a != nil {
			return []*item{{refname: a.GetAliasname()}}
		}
		if a := j.GetJoinUsingAlias(); a != nil {
			both = append(both, &item{refname: a.GetAliasname()})
		}
		return both
	case *pg.Node_RangeSubselect:
		p.statement(x.RangeSubselect.GetSubquery(), sc)
		return []*item{{refname: x.RangeSubselect.GetAlias().GetAliasname()}}
	case *pg.Node_RangeTableSample:
		items := p.fromItem(x.RangeTableSample.GetRelation(), lv, sc)
		p.exprs(sc, x.RangeTableSample.GetArgs())
		p.expr(x.RangeTableSample.GetRepeatable(), sc)
		return items
	case *pg.Node_RangeFunction:
		p.expr(n, sc)
		return []*item{{refname: x.RangeFunction.GetAlias().GetAliasname()}}
	default:
		// XMLTABLE, JSON_TABLE…: expressions over the other items.
		p.expr(n, sc)
		return []*item{{}}
	}
}

// conjuncts adds to lv the top-level conjuncts of e that compare a column with values.
func (p *parser) conjuncts(e *pg.Node, lv *level, visible, allowed []*item) {
	if e == nil {
		return
	}
	if b := e.GetBoolExpr(); b != nil {
		if b.GetBoolop() == pg.BoolExprType_AND_EXPR {
			for _, a := range b.GetArgs() {
				p.conjuncts(a, lv, visible, allowed)
			}
		}
		return
	}
	a := e.GetAExpr()
	if a == nil || !isEquals(a.GetName()) {
		return
	}
	c := &cond{visible: visible, allowed: allowed}
	switch a.GetKind() {
	case pg.A_Expr_Kind_AEXPR_OP:
		col, v := a.GetLexpr(), a.GetRexpr()
		if !isColumn(col) {
			col, v = v, col
		}
		if !c.setColumn(col) {
			return
		}
		c.vals = []value{valueOf(v)}
	case pg.A_Expr_Kind_AEXPR_IN:
		if !c.setColumn(a.GetLexpr()) {
			return
		}
		list := a.GetRexpr().GetList()
		if list == nil {
			return
		}
		for _, e := range list.GetItems() {
			c.vals = append(c.vals, valueOf(e))
		}
	case pg.A_Expr_Kind_AEXPR_OP_ANY:
		if !c.setColumn(a.GetLexpr()) {
			return
		}
		r := a.GetRexpr()
		if arr := r.GetAArrayExpr(); arr != nil {
			for _, e := range arr.GetElements() {
				c.vals = append(c.vals, valueOf(e))
			}
		} else {
			v := arrayValueOf(r)
			c.array = &v
		}
	default:
		return
	}
	for _, v := range c.vals {
		if v.bad {
			return // compared with a column or an expression
		}
	}
	if c.array != nil && c.array.bad {
		return
	}
	lv.conds = append(lv.conds, c)
}

// isEquals reports whether an operator name is = (or OPERATOR(pg_catalog.=)).
func isEquals(name []*pg.Node) bool {
	switch len(name) {
	case 1:
		return name[0].GetString_().GetSval() == "="
	case 2:
		return name[0].GetString_().GetSval() == "pg_catalog" && name[1].GetString_().GetSval() == "="
	}
	return false
}

func isColumn(n *pg.Node) bool { return n.GetColumnRef() != nil }

// setColumn sets the condition's column from a column reference.
func (c *cond) setColumn(n *pg.Node) bool {
	cr := n.GetColumnRef()
	if cr == nil {
		return false
	}
	var names []string
	for _, f := range cr.GetFields() {
		s := f.GetString_()
		if s == nil {
			return false // t.*
		}
		names = append(names, s.GetSval())
	}
	if len(names) == 0 || len(names) > 3 {
		return false
	}
	c.col, c.qual = names[len(names)-1], names[:len(names)-1]
	return true
}

// valueOf returns the value an expression stands for, if it is a parameter or a constant,
// possibly cast.
func valueOf(n *pg.Node) value {
	cast := castNone
	for {
		tc := n.GetTypeCast()
		if tc == nil {
			break
		}
		c := castOf(tc.GetTypeName())
		if c == castOther || len(tc.GetTypeName().GetArrayBounds()) > 0 || (cast != castNone && c != cast) {
			return value{bad: true}
		}
		cast = c
		n = tc.GetArg()
	}
	v := value{cast: cast}
	switch x := n.GetNode().(type) {
	case *pg.Node_ParamRef:
		if x.ParamRef.GetNumber() <= 0 {
			return value{bad: true}
		}
		v.param = int(x.ParamRef.GetNumber())
	case *pg.Node_AConst:
		c := x.AConst
		switch {
		case c.GetIsnull():
		case c.GetIval() != nil:
			v.konst = int64(c.GetIval().GetIval())
		case c.GetSval() != nil:
			v.konst = c.GetSval().GetSval()
		case c.GetFval() != nil:
			v.konst = c.GetFval().GetFval() // converts only if it is an integer's text
		default:
			return value{bad: true} // a boolean, a bit string
		}
	default:
		return value{bad: true}
	}
	return v
}

// arrayValueOf returns the value of the array an = ANY compares with: a parameter or a
// string constant, possibly cast to an array type.
func arrayValueOf(n *pg.Node) value {
	cast := castNone
	if tc := n.GetTypeCast(); tc != nil {
		tn := tc.GetTypeName()
		if len(tn.GetArrayBounds()) != 1 {
			return value{bad: true}
		}
		if cast = castOf(tn); cast == castOther {
			return value{bad: true}
		}
		n = tc.GetArg()
	}
	v := value{cast: cast}
	switch x := n.GetNode().(type) {
	case *pg.Node_ParamRef:
		if x.ParamRef.GetNumber() <= 0 {
			return value{bad: true}
		}
		v.param = int(x.ParamRef.GetNumber())
	case *pg.Node_AConst:
		if x.AConst.GetSval() == nil {
			return value{bad: true}
		}
		v.konst = x.AConst.GetSval().GetSval()
	default:
		return value{bad: true}
	}
	return v
}

// castOf returns the key kind a type name denotes, without modifiers (varchar(3) truncates).
func castOf(tn *pg.TypeName) castTo {
	if tn == nil || len(tn.GetTypmods()) > 0 || tn.GetSetof() || tn.GetPctType() {
		return castOther
	}
	names := tn.GetNames()
	if len(names) == 2 && names[0].GetString_().GetSval() == "pg_catalog" {
		names = names[1:]
	}
	if len(names) != 1 {
		return castOther
	}
	switch names[0].GetString_().GetSval() {
	case "int2", "int4", "int8", "smallint", "integer", "bigint", "int":
		return castInt
	case "text", "varchar":
		return castText
	case "uuid":
		return castUUID
	}
	return castOther
}

func (p *parser) exprs(sc *scope, lists ...[]*pg.Node) {
	for _, l := range lists {
		for _, n := range l {
			p.expr(n, sc)
		}
	}
}

// expr walks an expression (or any node) for what it may read: subqueries, which are
// analysed as SELECTs of their own, the routines it calls, and relations named in it.
func (p *parser) expr(n *pg.Node, sc *scope) {
	if n == nil {
		return
	}
	p.visit(n, sc)
}

func (p *parser) visit(m proto.Message, sc *scope) {
	if p.depth++; p.depth > maxDepth {
		p.st.opaque = true
		p.depth--
		return
	}
	defer func() { p.depth-- }()
	switch x := m.(type) {
	case *pg.SelectStmt:
		p.selectStmt(x, sc)
		return
	case *pg.InsertStmt:
		p.statement(&pg.Node{Node: &pg.Node_InsertStmt{InsertStmt: x}}, sc)
		return
	case *pg.UpdateStmt:
		p.statement(&pg.Node{Node: &pg.Node_UpdateStmt{UpdateStmt: x}}, sc)
		return
	case *pg.DeleteStmt:
		p.statement(&pg.Node{Node: &pg.Node_DeleteStmt{DeleteStmt: x}}, sc)
		return
	case *pg.MergeStmt:
		p.statement(&pg.Node{Node: &pg.Node_MergeStmt{MergeStmt: x}}, sc)
		return
	case *pg.RangeVar:
		// A relation named outside a FROM list: read as a whole.
		lv := &level{}
		lv.items = p.fromItem(&pg.Node{Node: &pg.Node_RangeVar{RangeVar: x}}, lv, sc)
		p.st.levels = append(p.st.levels, lv)
		return
	case *pg.FuncCall:
		p.routine(x.GetFuncname(), false)
	case *pg.A_Expr:
		switch x.GetKind() {
		case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN,
			pg.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
			p.st.routines = append(p.st.routines, routine{name: ">=", operator: true}, routine{name: "<=", operator: true})
		default:
			p.routine(x.GetName(), true)
		}
	case *pg.SubLink:
		p.routine(x.GetOperName(), true)
	}
	p.children(m, sc)
}

func (p *parser) children(m proto.Message, sc *scope) {
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := range l.Len() {
				p.visit(l.Get(i).Message().Interface(), sc)
			}
		} else if !fd.IsMap() {
			p.visit(v.Message().Interface(), sc)
		}
		return true
	})
}

// routine records a call of the function or operator named by names.
func (p *parser) routine(names []*pg.Node, operator bool) {
	if len(names) == 0 {
		return
	}
	r := routine{name: names[len(names)-1].GetString_().GetSval(), operator: operator}
	if len(names) >= 2 && names[len(names)-2].GetString_().GetSval() == "pg_catalog" {
		r.builtin = true
	}
	p.st.routines = append(p.st.routines, r)
}
