package dumper

import "context"

// A Read is what one kind of statement reads, prepared once: the tables it reads whole and
// the tables it reads narrowed by one key column, with their tags built. A data layer that
// keeps its analysis of each statement text (gormdumper, the SQL capture) keeps a Read with
// it, so that recording an execution of the statement costs one lookup of the render and the
// row tags of its values, rather than building every tag again.
//
// Recording a Read is [ReadTable] of its scanned tables followed by [ReadRows] of each of its
// narrowed tables, by its column, with the values given: the same tags, the same bounds. A
// Read is immutable and may be recorded concurrently.
type Read struct {
	scans []readTable
	rows  []readTable
}

// NewRead returns the Read of a statement that reads the tables of scans whole and those of
// narrowed narrowed by column (a key column of each: see [ReadRows]).
func NewRead(scans, narrowed []string, column string) *Read {
	r := &Read{scans: make([]readTable, len(scans)), rows: make([]readTable, len(narrowed))}
	for i, t := range scans {
		r.scans[i] = readTable{table: t, tag: TableTag(t), scan: ScanTag(t)}
	}
	for i, t := range narrowed {
		r.rows[i] = readTable{table: t, tag: TableTag(t), scan: ScanTag(t),
			row: string(appendRowPrefix(nil, t, column))}
	}
	return r
}

// Record records r in the response being rendered for the request whose context is ctx, its
// narrowed tables narrowed to the rows whose key column holds one of values, each in
// canonical form ([KeyKind.Canonical]). Outside a render it does nothing.
func (r *Read) Record(ctx context.Context, values ...string) {
	rs, ok := ctx.Value(renderKey{}).(*renderState)
	if !ok {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.startCapture()
	for i := range r.scans {
		rs.scanLocked(&r.scans[i])
	}
	for i := range r.rows {
		rs.rowsLocked(&r.rows[i], "", values)
	}
}
