package pgcapture

import (
	"context"
	"database/sql/driver"

	"github.com/dumperhq/dumper"
)

// returnSet is the relations a write names its rows in by what its RETURNING gives: each
// key column's value in every row written, before (DELETE) or after (INSERT) the write, or
// both when the write assigns no key column (UPDATE).
type returnSet struct {
	names    []string    // the written relation's column at each result position, or ""
	rels     []returnRel // the target, and the children its rows may be in
	fallback []string    // table tags, stamped if the rows are not all read
}

type returnRel struct {
	table string
	keys  []string
	kinds []dumper.KeyKind
	lens  []int
	pos   []int // the result position of each key column
}

// add returns how rel's rows are named by the result, if the write allows it and the result
// has every key column of rel.
func (ret *returnSet) add(rel *relation, w *write) (returnRel, bool) {
	if ret == nil || len(rel.keys) == 0 {
		return returnRel{}, false
	}
	switch w.op {
	case opDelete:
	case opInsert, opUpdate:
		// The result gives the values after the write; they are those before too only if
		// the write assigns no key column (an upsert's DO UPDATE, an UPDATE's SET).
		for _, k := range rel.keys {
			if _, assigned := w.set[k]; assigned || (rel.cols[k].Generated && len(w.set) > 0) {
				return returnRel{}, false
			}
		}
	default:
		return returnRel{}, false
	}
	rr := returnRel{table: rel.Name, keys: rel.keys}
	for _, k := range rel.keys {
		pos := -1
		for i, n := range ret.names {
			if n == k {
				pos = i
				break
			}
		}
		if pos < 0 {
			return returnRel{}, false
		}
		rr.pos = append(rr.pos, pos)
		rr.kinds = append(rr.kinds, rel.kinds[k])
		rr.lens = append(rr.lens, rel.cols[k].Len)
	}
	return rr, true
}

// Returned collects the key values of the rows a statement's RETURNING gives, so that
// [Session.DoneReturned] stamps those rows' tags rather than their tables'. A data layer that
// sees the statement's result rows gets one from [Analyzer.Returned], passes it each row with
// Row, and calls Complete once it has passed every row. It is not safe for concurrent use.
type Returned struct {
	sets     []*returnSet
	tags     []string
	failed   map[string]bool // tables whose values did not convert
	complete bool
}

// Returned returns a Returned for the statement of shape sh, or nil if its result cannot
// name the rows it writes: it is not one statement, or has no RETURNING that gives every key
// column of a table it writes with values that name its rows.
func (a *Analyzer) Returned(ctx context.Context, sh *Shape) *Returned {
	if !sh.effects || len(sh.stmts) != 1 {
		return nil
	}
	p, err := a.resolve(ctx, sh)
	if err != nil || len(p.steps) != 1 || len(p.steps[0].returning) == 0 {
		return nil
	}
	return &Returned{sets: p.steps[0].returning}
}

// Row passes the values of one row of the statement's result, in the result's order.
func (r *Returned) Row(values []driver.Value) {
	for _, set := range r.sets {
		for _, rr := range set.rels {
			if r.failed[rr.table] {
				continue
			}
			m := make(map[string]string, len(rr.keys))
			present := make([]string, 0, len(rr.keys))
			ok := true
			for i, k := range rr.keys {
				if rr.pos[i] >= len(values) {
					ok = false
					break
				}
				v := values[rr.pos[i]]
				if v == nil {
					continue // a NULL key matches no read
				}
				c, converted := canonical(rr.kinds[i], v)
				if !converted {
					ok = false
					break
				}
				m[k] = stored(c, rr.lens[i])
				present = append(present, k)
			}
			if !ok {
				if r.failed == nil {
					r.failed = map[string]bool{}
				}
				r.failed[rr.table] = true
				continue
			}
			r.tags = append(r.tags, dumper.ChangeTags(rr.table, present, nil, m)...)
		}
	}
}

// Complete records that every row of the result was passed to Row.
func (r *Returned) Complete() { r.complete = true }

// stamps returns what a write named by its result stamps: the rows' tags if every row was
// read, the tables' tags otherwise.
func (set *returnSet) stamps(r *Returned) []string {
	if r == nil || !r.complete {
		return set.fallback
	}
	var tags []string
	for i, rr := range set.rels {
		if r.failed[rr.table] {
			tags = append(tags, set.fallback[i])
		} else {
			tags = append(tags, dumper.ScanTag(rr.table))
		}
	}
	return tags
}
