package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// maxIdentBytes is the longest identifier PostgreSQL keeps (NAMEDATALEN - 1); longer names
// are silently truncated by the server, so they are refused instead.
const maxIdentBytes = 63

// A Table is a table whose committed changes are notified, and what its changes invalidate.
// The same list of tables is given to [Install] (or [SQL]) and to [NewListener].
type Table struct {
	// Schema qualifies Name. Empty means the table that the search_path finds when the
	// triggers are installed; the Listener then accepts this table's notifications from any
	// schema (use one channel per database schema if tables of the same name in several
	// schemas must be told apart).
	Schema string

	// Name is the table's name, as PostgreSQL has it (case-sensitive, not folded).
	Name string

	// Key lists the primary key columns (or those of another unique key); their values
	// identify the row in every row-level [Change], pairing its old and new versions. Nil
	// means {"id"}. The columns should be NOT NULL, as a primary key's are: a statement that
	// changes a row whose Key holds a NULL is notified as a table-level change, which
	// invalidates the table's tag. (A NULL in any other key column is only left out of the
	// change's tags: no read narrowed by equality can match it.) The Key's columns count as
	// key columns for the change's tags, with those the catalog gives (see Map).
	Key []string

	// Columns lists the columns whose values before and after each change travel with it,
	// such as a slug the pages' paths are built from. They should be short: a row whose
	// notification would exceed PostgreSQL's payload limit (8000 bytes) is reported as a
	// table-level change instead.
	Columns []string

	// Map returns paths and tags that a row-level change of this table invalidates beyond
	// its automatic tags: for example "/icecream/"+c.Old["slug"] and
	// "/icecream/"+c.New["slug"], for pages that are not tagged by dependency capture. It is
	// an escape hatch, never a requirement. It runs on the Listener's goroutine, one change
	// at a time, and may query the database with ctx. If Map returns an error or panics, the
	// table's tag is invalidated instead (and the error logged), which is never wrong, only
	// wider.
	//
	// Every row-level change invalidates its automatic tags, with or without Map: the scan
	// tag of the table and, for the old and the new version of the row, the row tag of the
	// value of each key column ([dumper.ChangeTags], [dumper.RowTag]). The key columns are
	// the columns of the table's primary key, unique constraints and indexes and foreign keys
	// of a canonical type (integers, text and varchar with a deterministic collation, uuid;
	// see docs/capture.md), which [Install] and [SQL] find in the catalog, and the Key's. So
	// pages tagged by capture (gormdumper's reads) are invalidated at row precision by raw
	// SQL, migrations and other services too. Nil Map means the automatic tags only; a change
	// from triggers installed by an earlier version of this package, which carry no key
	// columns, then invalidates the table's tag. Table-level changes (see [Change.All]), and
	// a burst of more than [Options.MaxRows] changes of the table arriving together, always
	// invalidate the table's tag ([Options.TableTag]) and never call Map. The table's
	// partitions, inheritance children and parents, listed or not, get the change's automatic
	// tags under their own names, or their table tags, and no Map (see the package
	// documentation, Inheritance and partitions).
	Map func(ctx context.Context, c Change) (paths, tags []string, err error)
}

// key returns the key columns, defaulting to id.
func (t *Table) key() []string {
	if t.Key == nil {
		return []string{"id"}
	}
	return t.Key
}

// qualified returns the table's quoted, schema-qualified (if Schema is set) name.
func (t *Table) qualified() string {
	if t.Schema == "" {
		return quoteIdent(t.Name)
	}
	return quoteIdent(t.Schema) + "." + quoteIdent(t.Name)
}

// String returns schema.name or name, unquoted, for messages.
func (t *Table) String() string {
	if t.Schema == "" {
		return t.Name
	}
	return t.Schema + "." + t.Name
}

// validate checks the names of t.
func (t *Table) validate() error {
	var errs []error
	check := func(what, name string) {
		if err := checkIdent(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	if t.Schema != "" {
		check("Schema", t.Schema)
	}
	check("Name", t.Name)
	if t.Key != nil && len(t.Key) == 0 {
		errs = append(errs, errors.New("empty Key (nil means id)"))
	}
	seen := make(map[string]bool)
	for _, c := range t.key() {
		check("key column", c)
		if seen[c] {
			errs = append(errs, fmt.Errorf("key column %q listed twice", c))
		}
		seen[c] = true
	}
	seen = make(map[string]bool)
	for _, c := range t.Columns {
		check("column", c)
		if seen[c] {
			errs = append(errs, fmt.Errorf("column %q listed twice", c))
		}
		seen[c] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pgnotify: table %q: %w", t.String(), err)
	}
	return nil
}

// validateTables checks every table and that none is listed twice.
func validateTables(tables []Table) error {
	if len(tables) == 0 {
		return errors.New("pgnotify: no tables")
	}
	var errs []error
	var seen []string
	for i := range tables {
		t := &tables[i]
		if err := t.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		q := t.qualified()
		if slices.Contains(seen, q) {
			errs = append(errs, fmt.Errorf("pgnotify: table %q listed twice", t.String()))
		}
		seen = append(seen, q)
	}
	return errors.Join(errs...)
}

// checkIdent reports whether name can be used as a PostgreSQL identifier as it is: not empty,
// no NUL byte (which PostgreSQL refuses), and not longer than the server keeps.
func checkIdent(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("name %q contains a NUL byte", name)
	case len(name) > maxIdentBytes:
		return fmt.Errorf("name %q is longer than %d bytes", name, maxIdentBytes)
	}
	return nil
}

// quoteIdent quotes name as a PostgreSQL identifier: any name is safe, including one holding
// quotes, spaces or SQL.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// quoteLiteral quotes s as an escape string constant (E'…'), which means the same whatever
// standard_conforming_strings is set to.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `''`)
	return `E'` + s + `'`
}
