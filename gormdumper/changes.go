package gormdumper

import (
	"context"
	"database/sql/driver"
	"reflect"
	"slices"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm/schema"
)

// stampRows adds to b the tags that a change to each of rows (values of the model s, as they
// are in table before or after a write) stamps (dumper.ChangeTags): the row tag of the value
// of every key column of table, and the table's scan tag. A key column that s does not map,
// or whose value has no canonical text, makes the row's change unknown for it: the table tag
// is stamped too. A NULL matches no read narrowed by a value and gives no row tag.
func (p *Plugin) stampRows(ctx context.Context, s *schema.Schema, table string, rows []reflect.Value, b *batch) {
	if len(rows) == 0 {
		return
	}
	table = bareTable(table)
	keys := p.keys.table(s, table)
	b.noteKeys(table, keys.version)
	cols := make([]string, 0, len(keys.cols))
	for _, r := range rows {
		r = reflect.Indirect(r)
		vals := make(map[string]string, len(keys.cols))
		cols = cols[:0]
		for _, c := range keys.cols {
			f := s.FieldsByDBName[c]
			if f == nil {
				cols = append(cols, c) // unknown here: ChangeTags adds the table tag
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
		b.addTags(dumper.ChangeTags(table, cols, vals, nil)...)
	}
}

// loadColumns returns the columns of s to load to stamp its rows' changes in table: its
// primary key and the table's key columns that s maps.
func (p *Plugin) loadColumns(s *schema.Schema, table string) []string {
	cols := append([]string(nil), s.PrimaryFieldDBNames...)
	for _, c := range p.keys.table(s, bareTable(table)).cols {
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
