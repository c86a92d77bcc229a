package sqldumper

import (
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"sync"

	"github.com/dumperhq/dumper/sqldumper/pgcapture"
)

// writeRows are the rows of a write, which call done once closed: the write is invalidated
// then, its commit made (outside a transaction PostgreSQL commits a statement once it has sent
// its last row). With ret, the rows of a RETURNING that names the rows written, they pass each
// row to ret, and are read to the end when closed, so that done stamps the rows (complete: every
// row was read) rather than their tables. They implement the optional interfaces of
// driver.Rows, falling back to what database/sql assumes when the wrapped rows do not.
type writeRows struct {
	driver.Rows
	ret      *pgcapture.Returned // nil: a result the capture does not read
	done     func(complete bool)
	complete bool // every row was read
	switched bool // to another result set
	once     sync.Once
}

var (
	_ driver.RowsNextResultSet              = (*writeRows)(nil)
	_ driver.RowsColumnTypeScanType         = (*writeRows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*writeRows)(nil)
	_ driver.RowsColumnTypeLength           = (*writeRows)(nil)
	_ driver.RowsColumnTypeNullable         = (*writeRows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*writeRows)(nil)
)

func (r *writeRows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	switch {
	case err == nil:
		if r.ret != nil {
			r.ret.Row(dest)
		}
	case errors.Is(err, io.EOF):
		r.complete = true
	}
	return err
}

// Close reads the rows of a RETURNING the caller left (as closing would, to discard them:
// QueryRow reads one), then closes the rows and invalidates the write.
func (r *writeRows) Close() error {
	if r.ret != nil && !r.complete && !r.switched {
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

func (r *writeRows) HasNextResultSet() bool {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return n.HasNextResultSet()
	}
	return false
}

func (r *writeRows) NextResultSet() error {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		r.switched = true // a result the capture does not follow
		return n.NextResultSet()
	}
	return io.EOF
}

func (r *writeRows) ColumnTypeScanType(i int) reflect.Type {
	if c, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return c.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *writeRows) ColumnTypeDatabaseTypeName(i int) string {
	if c, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return c.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *writeRows) ColumnTypeLength(i int) (int64, bool) {
	if c, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return c.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *writeRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if c, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return c.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *writeRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if c, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return c.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
