package gormdumper

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm/schema"
)

// keyColumns is what the plugin knows of a table's key columns (docs/capture.md): the union of
// the primary-key, unique and foreign-key columns, of a type with a canonical text, that the
// models seen on the table declare (schema) and, on PostgreSQL and SQLite, that the database
// catalog has (catalog). Writes stamp the row tags of all of them, so that a read through one
// model, or through another data layer that reads the catalog (sqldumper, pgxdumper,
// pgnotify's triggers), and a write through another model agree. Reads narrow by the columns
// every writer of the table knows whatever models it has seen (see keyRegistry.narrowing): the
// catalog's, or where there is none the table's own models' (own). A column whose kind two
// models disagree on is no key, unless the catalog gives its kind.
type keyColumns struct {
	kinds   map[string]dumper.KeyKind // column → kind; 0: not a key (conflicting kinds)
	cols    []string                  // the columns of a kind, sorted
	version uint64                    // bumped whenever kinds changes

	schema map[string]dumper.KeyKind // from the models: 0 for conflicting kinds
	// own: the part of schema that the models of the table itself declare, each of its own
	// fields (its primary key, unique columns and belongs-to foreign keys), not the keys
	// that other models' relations give it (a has-many's foreign key): 0 for conflicting
	// kinds.
	own     map[string]dumper.KeyKind
	catalog map[string]dumper.KeyKind // from the database catalog: the union of catalogs
	// catalogs: the key columns of each relation of the table's name that the catalog was
	// read for, by the relation's name as statements give it ("items", "other.items"):
	// two tables of one name in two schemas share their tags, and writes stamp the union of
	// their keys (catalog), but a read narrows only by the keys of the table it reads (see
	// keyRegistry.narrowKind).
	catalogs map[string]map[string]dumper.KeyKind

	ownKeys map[string]dumper.KeyKind // own, less the columns whose kind in kinds is another
}

// with returns a copy of k (or a new keyColumns if k is nil) with schema, own and catalog
// replaced by the results of the functions given (nil: unchanged), its kinds recomputed, and
// its version bumped if they changed.
func (k *keyColumns) with(schema, own, catalog func(map[string]dumper.KeyKind) map[string]dumper.KeyKind) *keyColumns {
	if k == nil {
		k = &keyColumns{}
	}
	nk := &keyColumns{schema: k.schema, own: k.own, catalog: k.catalog, catalogs: k.catalogs, version: k.version}
	if schema != nil {
		nk.schema = schema(maps.Clone(k.schema))
	}
	if own != nil {
		nk.own = own(maps.Clone(k.own))
	}
	if catalog != nil {
		nk.catalog = catalog(maps.Clone(k.catalog))
	}
	nk.kinds = make(map[string]dumper.KeyKind, len(nk.schema)+len(nk.catalog))
	maps.Copy(nk.kinds, nk.schema)
	maps.Copy(nk.kinds, nk.catalog) // the catalog knows the column's type
	nk.ownKeys = make(map[string]dumper.KeyKind, len(nk.own))
	for c, kind := range nk.own {
		if kind != 0 && nk.kinds[c] == kind {
			nk.ownKeys[c] = kind
		}
	}
	if maps.Equal(nk.kinds, k.kinds) {
		nk.kinds, nk.cols = k.kinds, k.cols
		return nk
	}
	nk.version++
	for c, kind := range nk.kinds {
		if kind != 0 {
			nk.cols = append(nk.cols, c)
		}
	}
	slices.Sort(nk.cols)
	return nk
}

// keyRegistry holds the key columns of the tables the plugin has seen, per plugin. A model is
// registered the first time a read or a write uses it, with its relations: a has-many
// relation's foreign key is a key column of the related table (for writes: reads narrow by
// what every writer knows, see narrowing).
type keyRegistry struct {
	dialect string // the dialector's name: text keys only where comparison is byte-wise

	seen   atomic.Pointer[map[seenKey]struct{}] // (model, table) pairs registered; copied on write under mu
	loaded sync.Map                             // table name, as statements give it → catalogState: catalog read
	// propagation: table name, as statements give it → *propagation (see propagate.go)
	propagation sync.Map
	// relations: table name, as statements give it → *relation (see relations.go)
	relations sync.Map
	mu        sync.Mutex
	tables    atomic.Pointer[map[string]*keyColumns] // copied on write under mu

	// gen is bumped after every change of what the registry knows (tables, seen, loaded,
	// relations), so that what was computed from an older state is not used (see plans.go).
	gen atomic.Uint64

	// ready: the tables (as statements name them) whose catalog, relation and descendants'
	// catalogs are known, so that a statement on them has nothing to read first; copied on
	// write under mu, emptied by refresh, which bumps refreshes.
	ready     atomic.Pointer[map[string]struct{}]
	refreshes atomic.Uint64

	// onLost is called, outside mu, with the tables that lost a key column (see lostKeys):
	// the pages that read them narrowed by it must be dropped, since no write stamps its row
	// tags any more. Nil: nothing is called.
	onLost func(tables []string)
}

// isPrepared reports whether table (as a statement names it) is ready: see prepared.
func (r *keyRegistry) isPrepared(table string) bool {
	m := r.ready.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[table]
	return ok
}

// prepared records that table's catalog, relation and descendants' catalogs are known,
// unless the registry was refreshed since refreshes read epoch (before they were looked up).
func (r *keyRegistry) prepared(table string, epoch uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refreshes.Load() != epoch {
		return
	}
	m := map[string]struct{}{}
	if old := r.ready.Load(); old != nil {
		m = maps.Clone(*old)
	}
	m[table] = struct{}{}
	r.ready.Store(&m)
}

// generation returns the registry's generation: it changes whenever what the registry knows
// of its tables does.
func (r *keyRegistry) generation() uint64 { return r.gen.Load() }

type seenKey struct {
	s     *schema.Schema
	table string
}

// bareTable returns table without its schema ("public.ice_creams" → "ice_creams"), as tags
// name tables.
func bareTable(table string) string {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		return table[i+1:]
	}
	return table
}

// bare returns the name by which tags know table: without its schema (bareTable) and, on a
// database whose table names ignore case, with its ASCII letters in lower case, so that every
// spelling of one table gives one set of tags (db.Table("FLAVORS") on SQLite reads the table
// flavors). That is every database but PostgreSQL, whose names GORM quotes, and so compares
// exactly: there the name is kept as the catalog spells it, as pgnotify's triggers and the
// SQL capture spell it. (MySQL compares table names exactly or not depending on its
// configuration; folding them merges the tags of tables that differ only in case, which
// invalidates more, never less.)
func (r *keyRegistry) bare(table string) string {
	t := bareTable(table)
	if r.dialect == "postgres" {
		return t
	}
	return lowerASCII(t)
}

// lowerASCII returns s with its ASCII letters in lower case; s itself if it has none in
// upper case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// table returns the key columns of table, registering s (the model a statement uses on it)
// first. table is bare (see bare).
func (r *keyRegistry) table(s *schema.Schema, table string) *keyColumns {
	if s != nil {
		if !r.registered(s, table) {
			r.register(s, table)
		}
	}
	if m := r.tables.Load(); m != nil {
		if k := (*m)[table]; k != nil {
			return k
		}
	}
	return &keyColumns{}
}

// version returns the version of table's key columns, 0 if it has none.
func (r *keyRegistry) version(table string) uint64 {
	if m := r.tables.Load(); m != nil {
		if k := (*m)[table]; k != nil {
			return k.version
		}
	}
	return 0
}

// register adds the key columns that s, used on table, declares: its own, and those its
// relations give the tables they relate it to.
func (r *keyRegistry) register(s *schema.Schema, table string) {
	var lost []string
	defer func() { r.lost(lost) }() // after the unlock
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.registered(s, table) {
		return
	}
	var tables map[string]*keyColumns
	if m := r.tables.Load(); m != nil {
		tables = maps.Clone(*m)
	} else {
		tables = map[string]*keyColumns{}
	}
	// add registers f as a key column of table; own: f is a field of a model of table.
	add := func(table string, f *schema.Field, own bool) {
		kind, ok := r.kindOf(f)
		if !ok {
			return
		}
		known := func(m map[string]dumper.KeyKind) bool {
			k, seen := m[f.DBName]
			return seen && (k == kind || k == 0)
		}
		old := tables[table]
		if old != nil && known(old.schema) && (!own || known(old.own)) {
			return
		}
		merge := func(m map[string]dumper.KeyKind) map[string]dumper.KeyKind {
			if m == nil {
				m = map[string]dumper.KeyKind{}
			}
			if k, seen := m[f.DBName]; !seen {
				m[f.DBName] = kind
			} else if k != kind {
				m[f.DBName] = 0 // two models disagree
			}
			return m
		}
		var mergeOwn func(map[string]dumper.KeyKind) map[string]dumper.KeyKind
		if own {
			mergeOwn = merge
		}
		tables[table] = old.with(merge, mergeOwn, nil)
	}
	for _, f := range s.PrimaryFields {
		add(table, f, true)
	}
	for _, f := range s.Fields {
		if f.Unique || f.UniqueIndex != "" {
			add(table, f, true)
		}
	}
	for _, idx := range s.ParseIndexes() {
		if idx.Class == "UNIQUE" && len(idx.Fields) == 1 && idx.Where == "" {
			add(table, idx.Fields[0].Field, true)
		}
	}
	for _, rel := range s.Relationships.Relations {
		for _, ref := range rel.References {
			fk := ref.ForeignKey
			if fk == nil || fk.Schema == nil {
				continue
			}
			switch {
			case rel.JoinTable != nil && fk.Schema == rel.JoinTable:
				add(r.bare(rel.JoinTable.Table), fk, false)
			case fk.Schema == s:
				// Belongs to: the key is in s. GORM also lists in s the relations of other
				// models whose foreign key s holds (a has-many of theirs, once parsed):
				// those are not s's own.
				add(table, fk, rel.Schema == s)
			case rel.FieldSchema != nil && fk.Schema == rel.FieldSchema:
				add(r.bare(rel.FieldSchema.Table), fk, false) // has one, has many
			}
		}
	}
	lost = lostKeys(r.tables.Load(), tables)
	r.tables.Store(&tables)
	seen := map[seenKey]struct{}{}
	if m := r.seen.Load(); m != nil {
		seen = maps.Clone(*m)
	}
	seen[seenKey{s, table}] = struct{}{}
	r.seen.Store(&seen)
	r.gen.Add(1)
}

// lostKeys returns the tables of old that have a key column in new no longer, or with
// another kind: the row tags of their reads by it are no longer stamped by their writes.
func lostKeys(old *map[string]*keyColumns, new map[string]*keyColumns) []string {
	if old == nil {
		return nil
	}
	var lost []string
	for t, k := range *old {
		nk := new[t]
		for c, kind := range k.kinds {
			if kind == 0 {
				continue
			}
			if nk == nil || nk.kinds[c] != kind {
				lost = append(lost, t)
				break
			}
		}
	}
	return lost
}

// lost passes tables whose key columns were lost (see lostKeys) to onLost, if any.
func (r *keyRegistry) lost(tables []string) {
	if len(tables) > 0 && r.onLost != nil {
		r.onLost(tables)
	}
}

// registered reports whether s has been registered on table.
func (r *keyRegistry) registered(s *schema.Schema, table string) bool {
	m := r.seen.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[seenKey{s, table}]
	return ok
}

// kindOf returns the key kind of field f, if its type has a canonical text: integers, text
// compared byte-wise (on PostgreSQL and SQLite, with no collation in its type), uuid.
func (r *keyRegistry) kindOf(f *schema.Field) (dumper.KeyKind, bool) {
	if f == nil || f.DBName == "" {
		return 0, false
	}
	if t, ok := f.TagSettings["TYPE"]; ok {
		return r.kindOfType(strings.ToLower(strings.TrimSpace(t)))
	}
	switch f.DataType {
	case schema.Int, schema.Uint:
		return dumper.KeyInt, true
	case schema.String:
		return dumper.KeyText, r.byteWiseText()
	}
	if strings.EqualFold(string(f.DataType), "uuid") {
		return dumper.KeyUUID, true
	}
	return r.kindOfType(strings.ToLower(string(f.DataType)))
}

// kindOfType maps an SQL column type, in lower case, to a key kind.
func (r *keyRegistry) kindOfType(t string) (dumper.KeyKind, bool) {
	if strings.Contains(t, "collate") || strings.Contains(t, "[]") {
		return 0, false
	}
	name, _, _ := strings.Cut(t, "(")
	switch strings.TrimSpace(name) {
	case "smallint", "integer", "int", "bigint", "int2", "int4", "int8", "serial", "bigserial", "smallserial":
		return dumper.KeyInt, true
	case "text", "varchar", "character varying":
		return dumper.KeyText, r.byteWiseText()
	case "uuid":
		return dumper.KeyUUID, true
	}
	return 0, false
}

// byteWiseText reports whether the database compares text byte-wise by default: PostgreSQL
// (with a deterministic collation, which is the default) and SQLite (BINARY; a column declared
// with another collation is no key for reads: see readSQLiteRelation). MySQL's and SQL
// Server's default collations ignore case: text is no key there.
func (r *keyRegistry) byteWiseText() bool {
	return r.dialect == "postgres" || r.dialect == "sqlite"
}
