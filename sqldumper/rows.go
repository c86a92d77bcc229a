package sqldumper

import (
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"sync"

	"github.com/dumperhq/dumper/sqldumper/pgcapture"
)

// returningRows are the rows of a write's RETURNING: they pass each row to ret, and when
// closed invalidate the write (by its rows if every row was read, by its tables otherwise).
// They implement the optional interfaces of driver.Rows, falling back to what database/sql
// assumes when the wrapped rows do not.
type returningRows struct {
	driver.Rows
	ret      *pgcapture.Returned
	done     func(complete bool)
	complete bool // every row was read
	switched bool // to another result set
	once     sync.Once
}

var (
	_ driver.RowsNextResultSet              = (*returningRows)(nil)
	_ driver.RowsColumnTypeScanType         = (*returningRows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*returningRows)(nil)
	_ driver.RowsColumnTypeLength           = (*returningRows)(nil)
	_ driver.RowsColumnTypeNullable         = (*returningRows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*returningRows)(nil)
)

func (r *returningRows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	switch {
	case err == nil:
		r.ret.Row(dest)
	case errors.Is(err, io.EOF):
		r.complete = true
	}
	return err
}

// Close reads the rows the caller left (as closing would, to discard them: QueryRow reads
// one), then closes them and invalidates the write.
func (r *returningRows) Close() error {
	if !r.complete && !r.switched {
		dest := make([]driver.Value, len(r.Rows.Columns()))
		for {
			err := r.Rows.Next(dest)
			if err == nil {
				r.ret.Row(dest)
				continue
			}
			r.complete = errors.Is(err, io.EOF)
			break
		}
	}
	err := r.Rows.Close()
	r.once.Do(func() { r.done(r.complete && !r.switched) })
	return err
}

func (r *returningRows) HasNextResultSet() bool {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return n.HasNextResultSet()
	}
	return false
}

func (r *returningRows) NextResultSet() error {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		r.switched = true // a result the capture does not follow
		return n.NextResultSet()
	}
	return io.EOF
}

func (r *returningRows) ColumnTypeScanType(i int) reflect.Type {
	if c, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return c.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *returningRows) ColumnTypeDatabaseTypeName(i int) string {
	if c, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return c.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *returningRows) ColumnTypeLength(i int) (int64, bool) {
	if c, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return c.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *returningRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if c, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return c.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *returningRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if c, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return c.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
