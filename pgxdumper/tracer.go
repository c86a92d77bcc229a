package pgxdumper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/sqldumper/pgcapture"
	"github.com/jackc/pgx/v5"
)

// DatabaseTag is the tag every captured read carries and that a write the capture cannot
// attribute to tables stamps; see [pgcapture.DatabaseTag].
const DatabaseTag = pgcapture.DatabaseTag

// ErrInvalidation is wrapped by the errors of invalidations that failed, given to
// Options.OnError.
var ErrInvalidation = pgcapture.ErrInvalidation

// Options configure the capture; see [pgcapture.Options]. The zero value is ready to use.
// FailWrites has no effect: a tracer cannot fail the call it traces.
type Options = pgcapture.Options

// A Tracer captures what the connections it traces read and write: set it as the Tracer of
// a [pgx.ConnConfig] (config.ConnConfig.Tracer for pgxpool). It implements
// [pgx.QueryTracer] (Query, QueryRow, Exec, and so transactions, whose BEGIN, COMMIT and
// ROLLBACK pgx sends as statements), [pgx.BatchTracer], [pgx.CopyFromTracer] and
// [pgx.PrepareTracer]. One Tracer may trace any number of connections and pools; it keeps
// the state of each connection with the connection ([pgconn.PgConn.CustomData]). It is safe
// for concurrent use.
type Tracer struct {
	an  *pgcapture.Analyzer
	key string // of the connection state in CustomData

	cfg   atomic.Pointer[pgx.ConnConfig] // of a traced connection, for the catalog's
	named atomic.Bool                    // a connection has a statement prepared with a name of the application's
}

var (
	_ pgx.QueryTracer    = (*Tracer)(nil)
	_ pgx.BatchTracer    = (*Tracer)(nil)
	_ pgx.CopyFromTracer = (*Tracer)(nil)
	_ pgx.PrepareTracer  = (*Tracer)(nil)
)

// NewTracer returns a Tracer that invalidates through inv. opts may be nil; it is not
// retained.
//
// The capture reads the database catalog (key columns, views, triggers) over short-lived
// connections of its own, made with the configuration of the connections it traces (less
// their tracer and AfterConnect hooks), so unqualified names resolve with the same
// search_path as long as it is set in the configuration.
func NewTracer(inv dumper.Invalidator, opts *Options) *Tracer {
	t := &Tracer{}
	t.key = fmt.Sprintf("pgxdumper.%p", t)
	t.an = pgcapture.New(inv, t.load, opts)
	return t
}

// Refresh forgets what the capture read of the catalog; see [pgcapture.Analyzer.Refresh].
func (t *Tracer) Refresh() { t.an.Refresh() }

// connState is what the tracer keeps of one connection.
type connState struct {
	sess     *pgcapture.Session
	prepared map[string]string // prepared statement names to their SQL
	batch    bool              // a batch outside a transaction is running: its own
}

func (t *Tracer) state(conn *pgx.Conn) *connState {
	data := conn.PgConn().CustomData()
	if st, ok := data[t.key].(*connState); ok {
		return st
	}
	st := &connState{sess: t.an.Session()}
	data[t.key] = st
	t.config(conn)
	return st
}

// config keeps the configuration of conn, less its tracer, for the catalog's connections,
// unless one is kept already.
func (t *Tracer) config(conn *pgx.Conn) {
	if t.cfg.Load() == nil {
		cfg := conn.Config().Copy()
		cfg.Tracer = nil
		t.cfg.CompareAndSwap(nil, cfg)
	}
}

// load runs a catalog query over a connection of its own.
func (t *Tracer) load(ctx context.Context, query string, arg []string) (string, error) {
	cfg := t.cfg.Load()
	if cfg == nil {
		return "", errors.New("pgxdumper: no traced connection to read the catalog with")
	}
	c, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return "", err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var s string
	err = c.QueryRow(ctx, query, arg).Scan(&s)
	return s, err
}

// call is a statement between its start and its end.
type call struct {
	shape *pgcapture.Shape
	args  []any
}

type callKey struct{ t *Tracer }

// statement returns the shape and arguments of a statement as pgx is given it: the leading
// options dropped, NamedArgs rewritten, a prepared statement's name replaced by its SQL.
func (t *Tracer) statement(ctx context.Context, conn *pgx.Conn, sql string, args []any) (*pgcapture.Shape, []any) {
	if t.named.Load() { // else no connection's state need be looked up
		if q, ok := t.state(conn).prepared[sql]; ok {
			sql = q
		}
	}
options:
	for len(args) > 0 {
		switch a := args[0].(type) {
		case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
			args = args[1:]
		case pgx.NamedArgs, pgx.StrictNamedArgs:
			var err error
			sql, args, err = a.(pgx.QueryRewriter).RewriteQuery(ctx, conn, sql, args[1:])
			if err != nil {
				return pgcapture.Opaque(err), nil
			}
		case pgx.QueryRewriter:
			return pgcapture.Opaque(fmt.Errorf("pgxdumper: query rewriter %T", a)), nil
		default:
			break options
		}
	}
	return t.an.Shape(sql), args
}

// TraceQueryStart records the reads of a query made during a render.
func (t *Tracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	t.config(conn) // before a read resolves its statement against the catalog
	sh, args := t.statement(ctx, conn, data.SQL, data.Args)
	t.an.Read(ctx, sh, args) // nothing outside a render
	if !t.an.Effects(sh) {
		return ctx // a read: nothing to do when it ends
	}
	return context.WithValue(ctx, callKey{t}, &call{shape: sh, args: args})
}

// TraceQueryEnd invalidates what a statement wrote, and follows transactions.
func (t *Tracer) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	c, ok := ctx.Value(callKey{t}).(*call)
	if !ok {
		return
	}
	_ = t.state(conn).sess.Done(ctx, c.shape, c.args, data.CommandTag.String(), data.Err)
}

// TraceBatchStart begins following a batch. Outside a transaction, a batch runs in one
// implicit transaction of its own: its writes are invalidated as each is read, and again when
// the batch ends, unless it failed.
func (t *Tracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	st := t.state(conn)
	if !st.sess.InTransaction() {
		st.sess.Begin()
		st.batch = true
	}
	return ctx
}

// TraceBatchQuery records the reads of a query of a batch made during a render, and the
// writes it made.
func (t *Tracer) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	st := t.state(conn)
	sh, args := t.statement(ctx, conn, data.SQL, data.Args)
	if sh.Reads() && dumper.Rendering(ctx) && data.Err == nil {
		t.an.Read(ctx, sh, args)
	}
	if t.an.Effects(sh) {
		_ = st.sess.Done(ctx, sh, args, data.CommandTag.String(), data.Err)
	}
}

// TraceBatchEnd ends a batch: one of its own commits, unless it failed.
func (t *Tracer) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	st := t.state(conn)
	if !st.batch {
		return
	}
	st.batch = false
	if st.sess.InTransaction() {
		st.sess.Commit(ctx, data.Err)
	}
}

// TraceCopyFromStart notes a CopyFrom, which writes its table.
func (t *Tracer) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	sh := t.an.Shape("COPY " + data.TableName.Sanitize() + " FROM STDIN")
	return context.WithValue(ctx, callKey{t}, &call{shape: sh})
}

// TraceCopyFromEnd invalidates the table a CopyFrom wrote.
func (t *Tracer) TraceCopyFromEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromEndData) {
	if c, ok := ctx.Value(callKey{t}).(*call); ok {
		_ = t.state(conn).sess.Done(ctx, c.shape, nil, data.CommandTag.String(), data.Err)
	}
}

// TracePrepareStart remembers the SQL of a statement prepared with a name of the
// application's, which pgx runs when given the name. (The names of pgx's own statement cache
// never reach the tracer as SQL.)
func (t *Tracer) TracePrepareStart(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	if data.Name != "" && data.Name != data.SQL && !strings.HasPrefix(data.Name, "stmtcache_") {
		st := t.state(conn)
		if st.prepared == nil {
			st.prepared = map[string]string{}
		}
		st.prepared[data.Name] = data.SQL
		t.named.Store(true)
	}
	return ctx
}

// TracePrepareEnd does nothing.
func (t *Tracer) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}
