package pgnotify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
// A table-level change (All) says only that rows of the table changed: the statement changed
// more rows than [Options.MaxRows] (or its transaction had sent that many row-level
// notifications already), a row's notification would have exceeded PostgreSQL's payload
// limit, a key value was NULL, or the table was truncated.
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
		if p.Key != nil || p.Old != nil || p.New != nil {
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
	if (c.Op == Insert && c.Old != nil) || (c.Op == Delete && c.New != nil) {
		return Change{}, fmt.Errorf("%w: %s with values it cannot have", errPayload, c.Op)
	}
	return c, nil
}
