package sqldumper

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/sqldumper/pgcapture"
)

// conn is a driver connection that captures what it reads and writes. It implements every
// optional interface of database/sql/driver, falling back to what database/sql does when the
// wrapped connection does not.
type conn struct {
	inner driver.Conn
	an    *pgcapture.Analyzer
	sess  *pgcapture.Session
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var (
		s   driver.Stmt
		err error
	)
	if pc, ok := c.inner.(driver.ConnPrepareContext); ok {
		s, err = pc.PrepareContext(ctx, query)
	} else {
		s, err = c.inner.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &stmt{inner: s, conn: c, shape: c.an.Shape(query)}, nil
}

func (c *conn) Close() error { return c.inner.Close() }

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var (
		t   driver.Tx
		err error
	)
	if bc, ok := c.inner.(driver.ConnBeginTx); ok {
		t, err = bc.BeginTx(ctx, opts)
	} else {
		if opts.Isolation != driver.IsolationLevel(0) || opts.ReadOnly {
			return nil, errors.New("sqldumper: driver does not support non-default isolation level or read-only transactions")
		}
		//lint:ignore SA1019 the driver has nothing else
		t, err = c.inner.Begin()
	}
	if err != nil {
		return nil, err
	}
	c.sess.Begin()
	return &tx{inner: t, conn: c, ctx: context.WithoutCancel(ctx)}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ex, ok := c.inner.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip // database/sql prepares the statement instead
	}
	sh := c.an.Shape(query)
	res, err := ex.ExecContext(ctx, query, args)
	if errors.Is(err, driver.ErrSkip) {
		return nil, err
	}
	return res, c.after(ctx, sh, args, err)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.inner.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	sh := c.an.Shape(query)
	rows, err := q.QueryContext(ctx, query, args)
	if errors.Is(err, driver.ErrSkip) {
		return nil, err
	}
	return c.afterQuery(ctx, sh, args, rows, err)
}

// afterQuery is after for a statement that returns rows. A write whose RETURNING names the
// rows it wrote is invalidated once its rows are closed, by what they hold. Any other write is
// invalidated now (so that under Options.FailWrites the query returns the invalidation's
// error, and rows the caller never closes still invalidate) and, if it is committed by the
// end of its result (it ran outside a transaction), again once its rows are closed:
// PostgreSQL commits such a statement only after its last row, and a request that read the
// old row in between must not keep its page.
func (c *conn) afterQuery(ctx context.Context, sh *pgcapture.Shape, args []driver.NamedValue, rows driver.Rows, err error) (driver.Rows, error) {
	if err != nil || !c.an.Effects(sh) {
		return rows, c.after(ctx, sh, args, err)
	}
	vals := values(args)
	if dumper.Rendering(ctx) {
		c.an.Read(ctx, sh, vals)
	}
	if ret := c.an.Returned(ctx, sh); ret != nil {
		return &writeRows{Rows: rows, ret: ret, done: func(complete bool) {
			if complete {
				ret.Complete()
			}
			_ = c.sess.DoneReturned(ctx, sh, vals, ret, nil)
		}}, nil
	}
	again, ierr := c.sess.DoneQuery(ctx, sh, vals, nil)
	if ierr != nil {
		// database/sql drops rows returned with an error without closing them, which would
		// leave the connection busy: close them (the statement then runs to its end).
		_ = rows.Close()
		if again != nil {
			again()
		}
		return nil, ierr
	}
	if again == nil {
		return rows, nil
	}
	return &writeRows{Rows: rows, done: func(bool) { again() }}, nil
}

// after records what a statement that ran with ctx and args read and wrote, and returns the
// statement's error, or the invalidation's under Options.FailWrites.
func (c *conn) after(ctx context.Context, sh *pgcapture.Shape, args []driver.NamedValue, err error) error {
	read := sh.Reads() && err == nil && dumper.Rendering(ctx)
	if !read && !c.an.Effects(sh) {
		return err // a read outside a render: nothing to do
	}
	vals := values(args)
	if read {
		c.an.Read(ctx, sh, vals) // resolves the plan, which Effects then consults
	}
	if c.an.Effects(sh) {
		if ierr := c.sess.Done(ctx, sh, vals, "", err); ierr != nil && err == nil {
			return ierr
		}
	}
	return err
}

// values returns the arguments by position: $1 is the first.
func values(args []driver.NamedValue) []any {
	if len(args) == 0 {
		return nil
	}
	vals := make([]any, len(args))
	for _, a := range args {
		if a.Ordinal >= 1 && a.Ordinal <= len(vals) {
			vals[a.Ordinal-1] = a.Value
		}
	}
	return vals
}

func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.inner.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.inner.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// tx is a transaction of a conn: its commit invalidates its writes again.
type tx struct {
	inner driver.Tx
	conn  *conn
	ctx   context.Context // BeginTx's, without its cancellation
}

func (t *tx) Commit() error {
	err := t.inner.Commit()
	t.conn.sess.Commit(t.ctx, err)
	return err
}

func (t *tx) Rollback() error {
	err := t.inner.Rollback()
	t.conn.sess.Rollback()
	return err
}

// stmt is a prepared statement of a conn.
type stmt struct {
	inner driver.Stmt
	conn  *conn
	shape *pgcapture.Shape
}

var (
	_ driver.Stmt              = (*stmt)(nil)
	_ driver.StmtExecContext   = (*stmt)(nil)
	_ driver.StmtQueryContext  = (*stmt)(nil)
	_ driver.NamedValueChecker = (*stmt)(nil)
	//lint:ignore SA1019 kept for drivers that have it
	_ driver.ColumnConverter = (*stmt)(nil)
)

func (s *stmt) Close() error  { return s.inner.Close() }
func (s *stmt) NumInput() int { return s.inner.NumInput() }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	var (
		res driver.Result
		err error
	)
	if ec, ok := s.inner.(driver.StmtExecContext); ok {
		res, err = ec.ExecContext(ctx, args)
	} else {
		//lint:ignore SA1019 the driver has nothing else
		res, err = s.inner.Exec(plain(args))
	}
	return res, s.conn.after(ctx, s.shape, args, err)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	var (
		rows driver.Rows
		err  error
	)
	if qc, ok := s.inner.(driver.StmtQueryContext); ok {
		rows, err = qc.QueryContext(ctx, args)
	} else {
		//lint:ignore SA1019 the driver has nothing else
		rows, err = s.inner.Query(plain(args))
	}
	return s.conn.afterQuery(ctx, s.shape, args, rows, err)
}

func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.inner.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return s.conn.CheckNamedValue(nv)
}

func (s *stmt) ColumnConverter(idx int) driver.ValueConverter {
	//lint:ignore SA1019 kept for drivers that have it
	if cc, ok := s.inner.(driver.ColumnConverter); ok {
		return cc.ColumnConverter(idx)
	}
	return driver.DefaultParameterConverter
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

func plain(args []driver.NamedValue) []driver.Value {
	v := make([]driver.Value, len(args))
	for i, a := range args {
		v[i] = a.Value
	}
	return v
}
