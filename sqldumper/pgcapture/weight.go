package pgcapture

// The shape cache ([Options.MaxShapeBytes]) counts each shape for what it keeps, with the plan
// it is resolved to: its text, a base, and a share for each part of it that grows with the
// statement (a value of an IN list or of an INSERT's rows, a row, a relation, a condition, a
// routine called). TestShapeWeight measures the retained heap of statements of each kind against
// these weights.
const (
	weightBase    = 512 // a shape, one statement and its plan, less what follows
	weightStmt    = 128 // each further statement of the text
	weightItem    = 360 // each relation or other FROM item, with what the plan reads of it and its tags
	weightLevel   = 64  // each SELECT level (or a write's target)
	weightCond    = 96  // each condition that may narrow a relation
	weightValue   = 48  // each value compared with or written to a column, besides a text constant's bytes
	weightRow     = 32  // each row of an INSERT … VALUES, besides its values
	weightWrite   = 256 // each relation written
	weightRoutine = 40  // each function or operator called
)

// shapeWeight is the weight the shape cache counts the shape sh of sql for.
func shapeWeight(sql string, sh *Shape) uint32 {
	w := len(sql) + weightBase
	values := func(vs ...value) int {
		n := len(vs) * weightValue
		for _, v := range vs {
			if s, ok := v.konst.(string); ok {
				n += len(s)
			}
		}
		return n
	}
	for i, st := range sh.stmts {
		if i > 0 {
			w += weightStmt
		}
		w += len(st.tables)*weightItem + len(st.routines)*weightRoutine
		for _, lv := range st.levels {
			w += weightLevel + 8*len(lv.items)
			for _, c := range lv.conds {
				w += weightCond + values(c.vals...)
				if c.array != nil {
					w += values(*c.array)
				}
			}
		}
		for _, wr := range st.writes {
			w += weightWrite + 16*len(wr.cols)
			for _, row := range wr.rows {
				w += weightRow + values(row...)
			}
			for _, v := range wr.set {
				w += 16 + values(v)
			}
		}
	}
	return uint32(min(w, 1<<31))
}
