package gormdumper

import (
	"database/sql/driver"
	"reflect"
	"slices"
	"strings"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
	"gorm.io/gorm/utils"
)

// tableKeys returns the key columns of table (as the statement names it), registering s
// first and, on PostgreSQL, reading the catalog of table once, over db's connection.
func (p *Plugin) tableKeys(db *gorm.DB, s *schema.Schema, table string) *keyColumns {
	p.keys.ensureCatalog(db, table)
	return p.keys.table(s, p.keys.bare(table))
}

// stampRows adds to b the tags that a change to each of rows (values of the model s, as they
// are in table before or after a write) stamps (dumper.ChangeTags): the row tag of the value
// of every key column of table, and the table's scan tag. The values of key columns that s
// does not map (a unique index or a foreign key that only the catalog or another model
// declares) are loaded from the table by the rows' primary keys, in db's transaction; where
// they cannot be (no primary key, a dialect without the catalog), or a value has no
// canonical text, the table tag is stamped too, as it is when the table's catalog could not
// be read. A NULL matches no read narrowed by a value and gives no row tag.
func (p *Plugin) stampRows(db *gorm.DB, s *schema.Schema, table string, rows []reflect.Value, b *batch) {
	if len(rows) == 0 {
		return
	}
	ctx := db.Statement.Context
	keys := p.tableKeys(db, s, table)
	bare := p.keys.bare(table)
	b.noteKeys(bare, keys.version)
	if !p.keys.catalogKnown(table) {
		b.addTags(dumper.TableTag(bare))
	}
	var unmapped []string
	for _, c := range keys.cols {
		if s.FieldsByDBName[c] == nil {
			unmapped = append(unmapped, c)
		}
	}
	loaded := len(unmapped) > 0 && p.stampUnmapped(db, s, table, rows, unmapped, keys, b)
	cols := make([]string, 0, len(keys.cols))
	for _, r := range rows {
		r = reflect.Indirect(r)
		vals := make(map[string]string, len(keys.cols))
		cols = cols[:0]
		for _, c := range keys.cols {
			f := s.FieldsByDBName[c]
			if f == nil {
				if !loaded {
					cols = append(cols, c) // unknown here: ChangeTags adds the table tag
				}
				continue
			}
			v, _ := f.ValueOf(ctx, r)
			v = deref(v)
			if isNull(v) {
				continue
			}
			if cv, ok := keys.kinds[c].Canonical(v); ok {
				vals[c] = cv
			}
			cols = append(cols, c)
		}
		b.addTags(dumper.ChangeTags(bare, cols, vals, nil)...)
	}
}

// stampUnmapped adds to b the row tags of the key columns cols, which s does not map, of the
// rows of table whose primary keys rows hold: it reads them as text (CAST(… AS TEXT): on
// PostgreSQL, the server's own output, the canonical text that pgnotify's triggers send). It
// reports whether it could: false when s has no primary key, a row lacks it, or the read
// failed.
func (p *Plugin) stampUnmapped(db *gorm.DB, s *schema.Schema, table string, rows []reflect.Value, cols []string, keys *keyColumns, b *batch) bool {
	if !p.keys.byteWiseText() || len(s.PrimaryFields) == 0 {
		return false
	}
	pks := make([][]any, 0, len(rows))
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		k, unnamed := rowKeys(db.Statement.Context, r, s.ModelType, s.PrimaryFields)
		if unnamed {
			return false
		}
		if key := utils.ToStringKey(k[0]...); !seen[key] {
			seen[key] = true
			pks = append(pks, k[0])
		}
	}
	bare := p.keys.bare(table)
	selects := make([]string, len(cols))
	for i, c := range cols {
		selects[i] = "CAST(" + db.Statement.Quote(c) + " AS TEXT)"
	}
	for chunk := range slices.Chunk(pks, loadChunk) {
		column, values := schema.ToQueryValues(table, s.PrimaryFieldDBNames, chunk)
		q := newQuery(db).Table(table).Select(strings.Join(selects, ", ")).Where(clause.IN{Column: column, Values: values})
		rs, err := q.Rows()
		if err != nil {
			return false
		}
		for rs.Next() {
			vs := make([]*string, len(cols))
			dest := make([]any, len(cols))
			for i := range vs {
				dest[i] = &vs[i]
			}
			if err := rs.Scan(dest...); err != nil {
				_ = rs.Close()
				return false
			}
			vals := make(map[string]string, len(cols))
			present := make([]string, 0, len(cols))
			for i, c := range cols {
				if vs[i] == nil {
					continue // NULL: no row tag
				}
				present = append(present, c)
				if cv, ok := keys.kinds[c].Canonical(*vs[i]); ok {
					vals[c] = cv
				}
			}
			b.addTags(dumper.ChangeTags(bare, present, vals, nil)...)
		}
		err = rs.Err()
		_ = rs.Close()
		if err != nil {
			return false
		}
	}
	return true
}

// loadColumns returns the columns of s to load to stamp its rows' changes in table: its
// primary key and the table's key columns that s maps.
func (p *Plugin) loadColumns(db *gorm.DB, s *schema.Schema, table string) []string {
	cols := append([]string(nil), s.PrimaryFieldDBNames...)
	for _, c := range p.tableKeys(db, s, table).cols {
		if s.FieldsByDBName[c] != nil && !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	return cols
}

// deref returns what v points to, for pointers to plain values (a *string field): nil for
// a nil pointer, v itself for a driver.Valuer or anything else.
func deref(v any) any {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		if _, ok := rv.Interface().(driver.Valuer); ok {
			return rv.Interface()
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil
	}
	return rv.Interface()
}
