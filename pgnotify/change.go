package pgnotify

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/dumperhq/dumper"
)

// Op is the kind of statement that made a [Change].
type Op byte

// The operations, as the notification payload spells them.
const (
	Insert   Op = 'I'
	Update   Op = 'U'
	Delete   Op = 'D'
	Truncate Op = 'T'
)

// String returns INSERT, UPDATE, DELETE or TRUNCATE.
func (op Op) String() string {
	switch op {
	case Insert:
		return "INSERT"
	case Update:
		return "UPDATE"
	case Delete:
		return "DELETE"
	case Truncate:
		return "TRUNCATE"
	}
	return fmt.Sprintf("Op(%d)", byte(op))
}

// A Change is one committed change, decoded from a notification.
//
// A row-level change names one row: Key, and the requested columns before (Old, for UPDATE
// and DELETE) and after (New, for INSERT and UPDATE). An UPDATE that changed a row's key
// comes as two changes: one with Old only and one with New only.
//
// A row-level change also carries the table's key columns (KeyColumns: its primary key,
// unique and foreign-key columns of a canonical type, as the catalog had them when the
// triggers were installed) with their values before (OldKeys) and after (NewKeys), from which
// the Listener computes the change's tags (see [Table.Map]).
//
// A table-level change (All) says only that rows of the table changed: the statement changed
// more rows than [Options.MaxRows] (or its transaction had sent that many row-level
// notifications already), a row's notification would have exceeded PostgreSQL's payload
// limit, a Key value was NULL, or the table was truncated.
type Change struct {
	Schema string
	Table  string
	Op     Op

	// All reports a table-level change: Key, Old and New are nil.
	All bool

	// Key holds the values of the key columns, in the order of [Table.Key].
	Key []string

	// Old and New map the requested columns ([Table.Columns]) to their values, as PostgreSQL
	// renders them in JSON (numbers as digits, timestamps in ISO 8601…). A NULL column is
	// absent. Old is nil for an INSERT, New for a DELETE.
	Old, New map[string]string

	// KeyColumns lists the table's key columns, in the table's order; nil for a table-level
	// change and from triggers installed by an earlier version of this package (which did
	// not send them).
	KeyColumns []string

	// OldKeys and NewKeys map the key columns to their values before and after the change,
	// as PostgreSQL prints them (col::text, the canonical text of dumper.KeyKind). A NULL is
	// absent. OldKeys is nil for an INSERT, NewKeys for a DELETE, and both are nil when
	// KeyColumns is.
	OldKeys, NewKeys map[string]string
}

// tags returns the tags that c invalidates by itself, as [dumper.ChangeTags] gives them for
// the table's key columns: the table's scan tag and, for the old and the new version of the
// row, the row tag of each key column's value and of each value of t's Key (key must be
// [Table.Key], nil meaning id). A NULL value has no row tag (no read narrowed by equality
// can match it) and is left out. It returns nil for a table-level change and for a change
// that carries no key columns (see KeyColumns).
func (c *Change) tags(key []string) []string {
	if c.All || c.KeyColumns == nil {
		return nil
	}
	if key == nil {
		key = []string{"id"}
	}
	return c.tagsAs(c.Table, key)
}

// tagsAs returns what tags does for a row-level change with key columns, under the name of
// table: c's own table, or a relative whose rows c may have changed (see relativeTags).
func (c *Change) tagsAs(table string, key []string) []string {
	tags := []string{dumper.ScanTag(table)}
	for _, row := range [2]map[string]string{c.OldKeys, c.NewKeys} {
		if row == nil {
			continue
		}
		for _, k := range c.KeyColumns {
			if v, ok := row[k]; ok {
				tags = append(tags, dumper.RowTag(table, k, v))
			}
		}
		for i, k := range key {
			if _, ok := row[k]; !ok && i < len(c.Key) {
				tags = append(tags, dumper.RowTag(table, k, c.Key[i]))
			}
		}
	}
	return tags
}

// A notice is a change as the Listener handles it: with what the notification says of its
// transaction.
type notice struct {
	Change
	// tx is the id of the transaction that made the change (txid_current), 0 if the
	// notification has none (triggers of version 1); pid is the process id of the backend
	// that sent it. Together they name the transaction for [Commits].
	tx  uint64
	pid uint32
	// recorded: the writer said it will record what it invalidated after commit where
	// every instance can read it (see Commits.TxQuery).
	recorded bool
	// relatives are the tables whose rows the change may have changed besides its own
	// table's (see relatives.go), as the catalog had them after the change's commit.
	relatives []relative
}

// txKey returns the name of the change's transaction in [Commits], or "" if the
// notification did not carry its id.
func (n *notice) txKey() string {
	if n.tx == 0 {
		return ""
	}
	return txKey(n.pid, n.tx)
}

// txKey names a transaction as Commits.TxQuery does: the backend's process id and the
// transaction's id, in decimal, joined by a colon.
func txKey(pid uint32, tx uint64) string {
	return strconv.FormatUint(uint64(pid), 10) + ":" + strconv.FormatUint(tx, 10)
}

// payload is a notification as the trigger function encodes it.
type payload struct {
	Schema string            `json:"s"`
	Table  string            `json:"t"`
	Op     string            `json:"op"`
	All    bool              `json:"all"`
	Key    []*string         `json:"k"`
	Old    map[string]string `json:"o"`
	New    map[string]string `json:"n"`
	Tx     uint64            `json:"x"`
	Rec    bool              `json:"r"`
	// Version 3: the key columns, and their values before and after, in that order.
	KeyCols []string  `json:"c"`
	OldKeys []*string `json:"ko"`
	NewKeys []*string `json:"kn"`
}

// errPayload is wrapped by the errors of decode.
var errPayload = errors.New("pgnotify: malformed notification payload")

// decode parses a notification payload sent by the trigger function.
func decode(s string) (notice, error) {
	var p payload
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return notice{}, fmt.Errorf("%w: %v", errPayload, err)
	}
	c, err := p.change()
	if err != nil {
		return notice{}, err
	}
	return notice{Change: c, tx: p.Tx, recorded: p.Rec}, nil
}

// change checks p and returns its Change.
func (p *payload) change() (Change, error) {
	c := Change{Schema: p.Schema, Table: p.Table, All: p.All, Old: p.Old, New: p.New}
	switch {
	case p.Schema == "" || p.Table == "":
		return Change{}, fmt.Errorf("%w: no schema or table", errPayload)
	case len(p.Op) != 1:
		return Change{}, fmt.Errorf("%w: operation %q", errPayload, p.Op)
	}
	c.Op = Op(p.Op[0])
	switch c.Op {
	case Insert, Update, Delete, Truncate:
	default:
		return Change{}, fmt.Errorf("%w: operation %q", errPayload, p.Op)
	}
	if c.All {
		if p.Key != nil || p.Old != nil || p.New != nil || p.KeyCols != nil || p.OldKeys != nil || p.NewKeys != nil {
			return Change{}, fmt.Errorf("%w: a table-level change with row values", errPayload)
		}
		return c, nil
	}
	switch {
	case c.Op == Truncate:
		return Change{}, fmt.Errorf("%w: a row-level TRUNCATE", errPayload)
	case len(p.Key) == 0:
		return Change{}, fmt.Errorf("%w: a row-level change without a key", errPayload)
	}
	c.Key = make([]string, len(p.Key))
	for i, k := range p.Key {
		if k == nil {
			return Change{}, fmt.Errorf("%w: NULL key value", errPayload)
		}
		c.Key[i] = *k
	}
	if (c.Op == Insert && (c.Old != nil || p.OldKeys != nil)) || (c.Op == Delete && (c.New != nil || p.NewKeys != nil)) {
		return Change{}, fmt.Errorf("%w: %s with values it cannot have", errPayload, c.Op)
	}
	if p.KeyCols == nil {
		if p.OldKeys != nil || p.NewKeys != nil {
			return Change{}, fmt.Errorf("%w: key values without key columns", errPayload)
		}
		return c, nil // version 2
	}
	for i, k := range p.KeyCols {
		if slices.Contains(p.KeyCols[:i], k) {
			return Change{}, fmt.Errorf("%w: key column %q listed twice", errPayload, k)
		}
	}
	c.KeyColumns = p.KeyCols
	var err error
	if c.OldKeys, err = keyValues(p.KeyCols, p.OldKeys); err != nil {
		return Change{}, err
	}
	if c.NewKeys, err = keyValues(p.KeyCols, p.NewKeys); err != nil {
		return Change{}, err
	}
	return c, nil
}

// withColumns returns c with the requested columns (cols, [Table.Columns]) that are key
// columns put back in Old and New, from OldKeys and NewKeys: the triggers send such a column
// once, with the key columns.
func (c Change) withColumns(cols []string) Change {
	fill := func(vals, keys map[string]string) map[string]string {
		if keys == nil {
			return vals
		}
		out := vals
		cloned := false
		for _, col := range cols {
			v, ok := keys[col]
			if !ok || !slices.Contains(c.KeyColumns, col) {
				continue
			}
			if !cloned {
				out, cloned = maps.Clone(vals), true
				if out == nil {
					out = make(map[string]string)
				}
			}
			out[col] = v
		}
		if !cloned && vals == nil && len(cols) > 0 {
			// Every requested column was a NULL key column: a row version with no values.
			return map[string]string{}
		}
		return out
	}
	c.Old, c.New = fill(c.Old, c.OldKeys), fill(c.New, c.NewKeys)
	return c
}

// keyValues maps the key columns to their values, leaving out NULLs; nil for no values.
func keyValues(cols []string, vals []*string) (map[string]string, error) {
	if vals == nil {
		return nil, nil
	}
	if len(vals) != len(cols) {
		return nil, fmt.Errorf("%w: %d key values for %d key columns", errPayload, len(vals), len(cols))
	}
	m := make(map[string]string, len(vals))
	for i, v := range vals {
		if v != nil {
			m[cols[i]] = *v
		}
	}
	return m, nil
}
