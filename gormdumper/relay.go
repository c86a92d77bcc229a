package gormdumper

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"sync"
)

// The relay is a database/sql database of no server of its own, through which the plugin hands
// GORM the rows of a statement as a *sql.Rows or *sql.Row whose Close it sees: its one query
// takes a *relayed as its argument and returns the rows of the database's *sql.Rows it holds,
// read through as they are read, without buffering. database/sql builds *sql.Rows and *sql.Row
// only over a driver, and calls no code of the caller when they are closed; GORM passes them
// to the application (Row, Rows) or closes them itself (Scan) after the plugin's callbacks.
var relayDB = sync.OnceValue(func() *sql.DB { return sql.OpenDB(relayConnector{}) })

// relayed is the argument of the relay's query: the rows of the database, or the query's
// error (for a *sql.Row, which carries it to Scan), and what to run once they are closed.
type relayed struct {
	rows   *sql.Rows
	err    error
	closed func() // nil: nothing
}

// relayRows returns rows, of the database, as a *sql.Rows that calls closed once it has
// closed them.
func relayRows(ctx context.Context, rows *sql.Rows, closed func()) *sql.Rows {
	r, err := relayDB().QueryContext(context.WithoutCancel(ctx), "", &relayed{rows: rows, closed: closed})
	if err != nil {
		return rows // the relay does not fail; if it did, closed would only not be called
	}
	return r
}

// relayRow returns the first row of rows, of the database, or the error of their query, as
// the *sql.Row QueryRowContext would have returned; closed runs once Scan has closed the rows.
func relayRow(ctx context.Context, rows *sql.Rows, err error, closed func()) *sql.Row {
	return relayDB().QueryRowContext(context.WithoutCancel(ctx), "", &relayed{rows: rows, err: err, closed: closed})
}

type relayConnector struct{}

func (relayConnector) Connect(context.Context) (driver.Conn, error) { return relayConn{}, nil }
func (relayConnector) Driver() driver.Driver                        { return relayDriver{} }

type relayDriver struct{}

func (relayDriver) Open(string) (driver.Conn, error) { return relayConn{}, nil }

// relayConn is a connection of the relay: it runs only the relay's query.
type relayConn struct{}

var (
	_ driver.QueryerContext    = relayConn{}
	_ driver.NamedValueChecker = relayConn{}
)

var errRelay = errors.New("gormdumper: the relay runs no statement")

func (relayConn) Prepare(string) (driver.Stmt, error) { return nil, errRelay }
func (relayConn) Close() error                        { return nil }
func (relayConn) Begin() (driver.Tx, error)           { return nil, errRelay }

// CheckNamedValue takes the *relayed argument as it is.
func (relayConn) CheckNamedValue(*driver.NamedValue) error { return nil }

func (relayConn) QueryContext(_ context.Context, _ string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) != 1 {
		return nil, errRelay
	}
	r, ok := args[0].Value.(*relayed)
	switch {
	case !ok:
		return nil, errRelay
	case r.err != nil:
		return nil, r.err
	case r.rows == nil:
		return nil, errRelay
	}
	rr := &relayedRows{relayed: r}
	rr.types, _ = r.rows.ColumnTypes()
	return rr, nil
}

// relayedRows are the driver rows of the relay: the values of the database's rows, as their
// driver gave them (database/sql's Scan into *any keeps them, copying []byte), and their
// column types.
type relayedRows struct {
	*relayed
	types []*sql.ColumnType
	vals  []any
	ptrs  []any
	once  sync.Once
}

var (
	_ driver.RowsNextResultSet              = (*relayedRows)(nil)
	_ driver.RowsColumnTypeScanType         = (*relayedRows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*relayedRows)(nil)
	_ driver.RowsColumnTypeLength           = (*relayedRows)(nil)
	_ driver.RowsColumnTypeNullable         = (*relayedRows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*relayedRows)(nil)
)

func (r *relayedRows) Columns() []string {
	cols, _ := r.rows.Columns()
	return cols
}

func (r *relayedRows) Next(dest []driver.Value) error {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	if len(r.vals) != len(dest) {
		r.vals, r.ptrs = make([]any, len(dest)), make([]any, len(dest))
		for i := range r.vals {
			r.ptrs[i] = &r.vals[i]
		}
	}
	if err := r.rows.Scan(r.ptrs...); err != nil {
		return err
	}
	for i, v := range r.vals {
		dest[i] = v
	}
	return nil
}

// Close closes the database's rows, which ends the statement, then runs closed.
func (r *relayedRows) Close() error {
	err := r.rows.Close()
	if r.closed != nil {
		r.once.Do(r.closed)
	}
	return err
}

// HasNextResultSet reports whether the database's rows are still open once their result set
// is read: database/sql closes them at its end when there is no other.
func (r *relayedRows) HasNextResultSet() bool {
	_, err := r.rows.Columns()
	return err == nil
}

func (r *relayedRows) NextResultSet() error {
	if !r.rows.NextResultSet() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	r.types, _ = r.rows.ColumnTypes()
	return nil
}

func (r *relayedRows) column(i int) *sql.ColumnType {
	if i < 0 || i >= len(r.types) {
		return nil
	}
	return r.types[i]
}

func (r *relayedRows) ColumnTypeScanType(i int) reflect.Type {
	if c := r.column(i); c != nil && c.ScanType() != nil {
		return c.ScanType()
	}
	return reflect.TypeFor[any]()
}

func (r *relayedRows) ColumnTypeDatabaseTypeName(i int) string {
	if c := r.column(i); c != nil {
		return c.DatabaseTypeName()
	}
	return ""
}

func (r *relayedRows) ColumnTypeLength(i int) (int64, bool) {
	if c := r.column(i); c != nil {
		return c.Length()
	}
	return 0, false
}

func (r *relayedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if c := r.column(i); c != nil {
		return c.Nullable()
	}
	return false, false
}

func (r *relayedRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if c := r.column(i); c != nil {
		return c.DecimalSize()
	}
	return 0, 0, false
}
