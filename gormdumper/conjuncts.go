package gormdumper

import (
	"database/sql"
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// A read is narrowed by a conjunct of its WHERE clause only when the text GORM writes is sure
// to be that conjunct ANDed with the others: an OR that GORM writes without parentheses would
// take the other conjuncts in ("slug = ? AND name = 'x' OR true"). What GORM parenthesizes
// (clause.Where, buildExprs, AndConditions, OrConditions and NotConditions in gorm's
// clause/where.go) is, exactly:
//   - a group (AndConditions, OrConditions) of more than one expression, always, and the
//     expressions of a NOT of more than one;
//   - among the items of a list of more than one (a WHERE's, a group's), a clause.Expr or a
//     clause.NamedExpr whose text holds " AND " or " OR " (in any case), and a group of one
//     whose only item is such a clause.Expr — not one holding a NamedExpr, nor a group;
//   - under a NOT, a clause.Expr whose text holds " AND " or " OR " — not a NamedExpr.
//
// Everything else is written bare: a WHERE nested in another, a group of one, a NamedExpr in
// a group of one or under a NOT, a comparison (clause.Eq…), an IN, and an expression type of
// another package, whose text is not known here (it is never trusted).
//
// Parentheses protect only a text that closes what it opens: "a = 1) OR (b = 2", written as
// "(a = 1) OR (b = 2)", does not. A read is therefore narrowed only when every fragment of
// SQL of the statement is balanced (see balanced), and when no argument that GORM writes as
// SQL (see holdsSQL) stands in a conjunct beside others.

// conjunct is a top-level conjunct of a WHERE clause; clean: its text stands in the clause as
// one operand of AND, whatever the others are.
type conjunct struct {
	e     clause.Expression
	clean bool
}

// whereConjuncts appends to out the conjuncts of a WHERE clause of exprs, as clause.Where
// writes them; pure is false when the clause is not their conjunction (an OrConditions of
// one is joined to its neighbour by OR).
func whereConjuncts(exprs []clause.Expression, out []conjunct) (_ []conjunct, pure bool) {
	if len(exprs) == 1 {
		if and, ok := exprs[0].(clause.AndConditions); ok {
			exprs = and.Exprs
		}
	}
	return listConjuncts(exprs, out)
}

// listConjuncts is whereConjuncts for a list of expressions that GORM joins with AND
// (buildExprs).
func listConjuncts(exprs []clause.Expression, out []conjunct) (_ []conjunct, pure bool) {
	if len(exprs) == 0 {
		return out, false // nothing written: "… AND  AND …"
	}
	for _, e := range exprs {
		if or, ok := e.(clause.OrConditions); ok && len(or.Exprs) == 1 {
			return out, false
		}
	}
	listed := len(exprs) > 1
	for _, e := range exprs {
		var ok bool
		if out, ok = itemConjuncts(e, listed, out); !ok {
			return out, false
		}
	}
	return out, true
}

// itemConjuncts appends to out the conjuncts of e, an item of a list joined with AND; listed:
// the list has other items (GORM's parentheses apply).
func itemConjuncts(e clause.Expression, listed bool, out []conjunct) (_ []conjunct, pure bool) {
	switch x := e.(type) {
	case clause.AndConditions:
		switch len(x.Exprs) {
		case 0:
			return out, false
		case 1:
			return itemConjuncts(x.Exprs[0], listed && isExpr(x.Exprs[0]), out)
		}
		// In parentheses: its items are conjuncts of the whole, or, if they are not a
		// conjunction, the group is one.
		n := len(out)
		if more, ok := listConjuncts(x.Exprs, out); ok {
			return more, true
		}
		return append(out[:n], conjunct{e, sealed(e)}), true
	case clause.OrConditions:
		switch len(x.Exprs) {
		case 0:
			return out, false
		case 1: // outside a list of more than one: the expression, bare
			return itemConjuncts(x.Exprs[0], false, out)
		}
		return append(out, conjunct{e, sealed(e)}), true
	case clause.Where: // bare
		return whereConjuncts(x.Exprs, out)
	}
	return append(out, conjunct{e, operand(e, listed)}), true
}

func isExpr(e clause.Expression) bool {
	_, ok := e.(clause.Expr)
	return ok
}

// operand reports whether the text of e, written as an item of a list joined with AND
// (listed: among others, where GORM's parentheses apply), stands as one operand of that AND.
func operand(e clause.Expression, listed bool) bool {
	switch x := e.(type) {
	case clause.Expr:
		return !holdsSQL(x.Vars) && cleanText(x.SQL, listed && andOr(x.SQL))
	case clause.NamedExpr:
		return !holdsSQL(x.Vars) && cleanText(x.SQL, listed && andOr(x.SQL))
	case clause.Eq, clause.Neq, clause.Gt, clause.Gte, clause.Lt, clause.Lte, clause.Like:
		c := comparison(x)
		return plainColumn(c.Column) && !holdsSQL([]any{c.Value})
	case clause.IN:
		return plainColumn(x.Column) && !holdsSQL(x.Values)
	case clause.AndConditions:
		switch len(x.Exprs) {
		case 0:
			return false
		case 1:
			return operand(x.Exprs[0], listed && isExpr(x.Exprs[0]))
		}
		return sealed(e)
	case clause.OrConditions:
		switch len(x.Exprs) {
		case 0:
			return false
		case 1:
			return operand(x.Exprs[0], false)
		}
		return sealed(e)
	case clause.Where:
		conj, pure := whereConjuncts(x.Exprs, nil)
		for _, c := range conj {
			pure = pure && c.clean
		}
		return pure
	case clause.NotConditions:
		return notOperand(x)
	}
	return false // a type of another package
}

// notOperand is operand for a NOT, as NotConditions.Build writes it: its expressions in
// parentheses when it has more than one; else, for a comparison or an IN, the negated
// comparison; else "NOT " and the expression, in parentheses only if it is a clause.Expr
// holding " AND " or " OR ".
func notOperand(not clause.NotConditions) bool {
	switch len(not.Exprs) {
	case 0:
		return false
	case 1:
	default:
		return sealed(not)
	}
	e := not.Exprs[0]
	switch x := e.(type) {
	case clause.Eq, clause.Neq, clause.Gt, clause.Gte, clause.Lt, clause.Lte, clause.Like, clause.IN:
		return operand(x, false) // negated in place: "col <> ?", "col NOT IN (…)"
	case clause.Expr:
		return !holdsSQL(x.Vars) && cleanText(x.SQL, andOr(x.SQL))
	case clause.NegationExpressionBuilder:
		return false // another package's: its negation is not known
	}
	return operand(e, false)
}

// sealed reports whether e, written in parentheses, stays within them: no argument of it is
// written as SQL (which could close them) and its columns are plain. The fragments of SQL it
// holds are balanced when the statement's are (see readSet.text).
func sealed(e clause.Expression) bool {
	switch x := e.(type) {
	case clause.Expr:
		return !holdsSQL(x.Vars)
	case clause.NamedExpr:
		return !holdsSQL(x.Vars)
	case clause.Eq, clause.Neq, clause.Gt, clause.Gte, clause.Lt, clause.Lte, clause.Like, clause.IN:
		return operand(x, false)
	case clause.AndConditions:
		return allSealed(x.Exprs)
	case clause.OrConditions:
		return allSealed(x.Exprs)
	case clause.NotConditions:
		return allSealed(x.Exprs)
	case clause.Where:
		return allSealed(x.Exprs)
	}
	return false
}

func allSealed(es []clause.Expression) bool {
	for _, e := range es {
		if !sealed(e) {
			return false
		}
	}
	return len(es) > 0
}

// andOr reports whether GORM puts a fragment of SQL in parentheses: it holds " AND " or
// " OR " in any case (GORM upper-cases it with strings.ToUpper, which folds every ASCII
// letter as containsFold does).
func andOr(sql string) bool { return containsFold(sql, " AND ") || containsFold(sql, " OR ") }

// cleanText reports whether a balanced fragment of SQL, written in parentheses (wrapped) or
// bare, stands as one operand of an AND: bare, it must hold no operator that binds more
// loosely than AND — OR, and MySQL's XOR and || — nor a BETWEEN, whose AND would take the next
// conjunct in as its upper bound ("id BETWEEN 0" + " AND " + "id = ?"). Words are looked for
// anywhere, string literals included.
func cleanText(sql string, wrapped bool) bool {
	return wrapped || !hasAnyWord(sql, looseWords) && !strings.Contains(sql, "||")
}

var looseWords = []string{"OR", "XOR", "BETWEEN"}

// plainColumn reports whether GORM writes the column of a comparison as a quoted name: a
// name or a clause.Column, not raw, without an alias, and with no quote character that
// quoting would have to escape. Anything else (a clause.Expr, a raw column) is SQL.
func plainColumn(c any) bool {
	switch c := c.(type) {
	case string:
		return plainName(c)
	case clause.Column:
		return !c.Raw && c.Alias == "" && plainName(c.Name) && plainName(c.Table)
	}
	return false
}

func plainName(s string) bool { return !strings.ContainsAny(s, "\"`'[]\\") }

// maxValueDepth bounds how deep holdsSQL and readSet.walk look into expressions and values:
// one nested deeper (or a cycle) is taken to hold anything.
const maxValueDepth = 32

// holdsSQL reports whether one of vars is an argument GORM writes into the statement as SQL
// (see writesSQL), or holds one where GORM takes arguments from (see argHoldsSQL), or is a
// struct (or a pointer to one) one of whose exported fields does: clause.NamedExpr reads
// them as named arguments, with those of the structs it embeds (see namedHoldsSQL).
func holdsSQL(vars []any) bool {
	for _, v := range vars {
		if argHoldsSQL(v, 0) || namedHoldsSQL(v, 0) {
			return true
		}
	}
	return false
}

// argHoldsSQL reports whether GORM writes the argument v as SQL, or one of the arguments it
// takes from v: the elements of a list (which it binds one by one), the value of a
// sql.NamedArg, the values of a map[string]any (named arguments).
func argHoldsSQL(v any, depth int) bool {
	if depth > maxValueDepth {
		return true
	}
	switch x := v.(type) {
	case nil, string, int, int64, int32, uint, uint64, uint32, bool, []byte, *gorm.DB:
		return false // the usual, and a subquery, which cannot stand in a condition unparenthesized
	case sql.NamedArg:
		return argHoldsSQL(x.Value, depth+1)
	case map[string]any:
		for _, e := range x {
			if argHoldsSQL(e, depth+1) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range x {
			if argHoldsSQL(e, depth+1) {
				return true
			}
		}
		return false
	}
	if writesSQL(v) {
		return true
	}
	rv := reflect.ValueOf(v)
	if k := rv.Kind(); (k == reflect.Slice || k == reflect.Array) && !scalarKind(rv.Type().Elem().Kind()) {
		for i := range rv.Len() {
			if e := rv.Index(i); e.CanInterface() && argHoldsSQL(e.Interface(), depth+1) {
				return true
			}
		}
	}
	return false
}

// namedHoldsSQL reports whether v is a struct, or a pointer to one, an exported field of
// which holds SQL (argHoldsSQL), or of a struct it embeds, as clause.NamedExpr reads them.
func namedHoldsSQL(v any, depth int) bool {
	switch v.(type) {
	case nil, sql.NamedArg, *gorm.DB:
		return false // not read so, or nothing to read
	}
	return fieldsHoldSQL(reflect.ValueOf(v), depth)
}

func fieldsHoldSQL(rv reflect.Value, depth int) bool {
	rv = reflect.Indirect(rv)
	if rv.Kind() != reflect.Struct {
		return false
	}
	if depth > maxValueDepth {
		return true
	}
	t := rv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if argHoldsSQL(rv.Field(i).Interface(), depth+1) || f.Anonymous && fieldsHoldSQL(rv.Field(i), depth+1) {
			return true
		}
	}
	return false
}

// writesSQL reports whether GORM writes v, an argument, into the statement as SQL (see
// gorm.Statement.AddVar): a gorm.Valuer, a clause.Interface or clause.Expression (gorm.Expr),
// a raw column or table. Columns and tables that are not raw are quoted.
func writesSQL(v any) bool {
	switch x := v.(type) {
	case clause.Column:
		return x.Raw || !plainName(x.Name) || !plainName(x.Table) || !plainName(x.Alias)
	case clause.Table:
		return x.Raw || !plainName(x.Name) || !plainName(x.Alias)
	case gorm.Valuer, clause.Interface, clause.Expression:
		return true
	}
	return false
}

// scalarKind reports whether values of kind k hold nothing but themselves.
func scalarKind(k reflect.Kind) bool {
	return reflect.Bool <= k && k <= reflect.Complex128 || k == reflect.String
}

// balanced reports whether a fragment of SQL closes what it opens, as GORM writes it into the
// statement: every quoted string or name ('…', "…", `…`, […], with the quote doubled within),
// every parenthesis and every CASE (by its END), in order; with no comment (--, /* or #)
// and no dollar sign but those of parameters ($1; $$…$$ and $tag$…$tag$ quote strings on
// PostgreSQL) outside strings, and no backslash anywhere (an escape in MySQL's strings and
// PostgreSQL's E'…'), which could hide a closing from this reading. A fragment that
// is not balanced could close what GORM puts around it.
func balanced(sql string) bool {
	if strings.IndexByte(sql, '\\') >= 0 {
		return false // even in a string: MySQL's strings end elsewhere
	}
	var stackBuf [16]byte
	stack := stackBuf[:0] // '(' and 'C' (CASE)
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; c {
		case '#':
			return false
		case '$':
			if i+1 == len(sql) || sql[i+1] < '0' || sql[i+1] > '9' {
				return false // not a parameter ($1, as GORM writes them on PostgreSQL)
			}
		case '-':
			if i+1 < len(sql) && sql[i+1] == '-' {
				return false
			}
		case '/':
			if i+1 < len(sql) && sql[i+1] == '*' {
				return false
			}
		case '\'', '"', '`', '[':
			end := c
			if c == '[' {
				end = ']'
			}
			j := i + 1
			for {
				k := strings.IndexByte(sql[j:], end)
				if k < 0 {
					return false // not closed
				}
				j += k + 1
				if end == ']' || j >= len(sql) || sql[j] != end {
					break
				}
				j++ // doubled: part of the string
			}
			i = j - 1
		case '(':
			stack = append(stack, '(')
		case ')':
			if len(stack) == 0 || stack[len(stack)-1] != '(' {
				return false
			}
			stack = stack[:len(stack)-1]
		default:
			if !identChar(c) {
				continue
			}
			j := i + 1
			for j < len(sql) && identChar(sql[j]) {
				j++
			}
			if i == 0 || !identChar(sql[i-1]) {
				switch w := sql[i:j]; {
				case len(w) == 4 && equalFoldASCII(w, "CASE"):
					stack = append(stack, 'C')
				case len(w) == 3 && equalFoldASCII(w, "END"):
					if len(stack) == 0 || stack[len(stack)-1] != 'C' {
						return false
					}
					stack = stack[:len(stack)-1]
				}
			}
			i = j - 1
		}
	}
	return len(stack) == 0
}
