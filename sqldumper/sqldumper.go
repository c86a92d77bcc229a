package sqldumper

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/sqldumper/pgcapture"
)

// DatabaseTag is the tag every captured read carries and that a write the capture cannot
// attribute to tables stamps; see [pgcapture.DatabaseTag].
const DatabaseTag = pgcapture.DatabaseTag

// ErrInvalidation is wrapped by the error of a write whose invalidation failed, under
// Options.FailWrites.
var ErrInvalidation = pgcapture.ErrInvalidation

// Options configure the capture; see [pgcapture.Options]. The zero value is ready to use.
type Options = pgcapture.Options

// Open opens a database like [sql.Open] whose connections capture what they read and write:
// driverName and dsn are given to sql.Open's driver, and writes are invalidated through inv.
// opts may be nil. See [Wrap].
func Open(driverName, dsn string, inv dumper.Invalidator, opts *Options) (*sql.DB, error) {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	d := db.Driver()
	db.Close() // it was only the way to the registered driver
	var c driver.Connector
	if dc, ok := d.(driver.DriverContext); ok {
		if c, err = dc.OpenConnector(dsn); err != nil {
			return nil, err
		}
	} else {
		c = &dsnConnector{d: d, dsn: dsn}
	}
	return sql.OpenDB(Wrap(c, inv, opts)), nil
}

// A Connector wraps the [driver.Connector] of a PostgreSQL driver so that the connections it
// makes capture reads and writes. Give it to [sql.OpenDB]. It is safe for concurrent use.
type Connector struct {
	inner driver.Connector
	an    *pgcapture.Analyzer

	mu      sync.Mutex
	catalog *sql.DB // over inner, opened on first need
	closed  bool
}

var _ io.Closer = (*Connector)(nil)

// Wrap returns a Connector whose connections, made by c, record what a render reads and
// invalidate through inv what writes change. opts may be nil; it is not retained.
//
// A query or statement made with the context of a request a dumper middleware is rendering
// records its tags ([pgcapture.Analyzer.Read]); a write invalidates its tags when it is made
// and, in a transaction, again after the transaction commits ([pgcapture.Session]).
// Transactions begun with [sql.DB.BeginTx] and with BEGIN statements are both followed.
//
// The capture reads the database catalog (key columns, views, triggers) over connections of
// its own made by c, so its search_path is that of the application's connections.
func Wrap(c driver.Connector, inv dumper.Invalidator, opts *Options) *Connector {
	w := &Connector{inner: c}
	w.an = pgcapture.New(inv, w.load, opts)
	return w
}

// Connect returns a connection of the wrapped connector that captures reads and writes.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	inner, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{inner: inner, an: c.an, sess: c.an.Session()}, nil
}

// Driver returns the wrapped connector's driver.
func (c *Connector) Driver() driver.Driver { return c.inner.Driver() }

// Refresh forgets what the capture read of the catalog; see [pgcapture.Analyzer.Refresh].
func (c *Connector) Refresh() { c.an.Refresh() }

// Close closes the connections the capture reads the catalog with, and the wrapped
// connector if it is an [io.Closer]. [sql.DB.Close] calls it.
func (c *Connector) Close() error {
	c.mu.Lock()
	db := c.catalog
	c.catalog, c.closed = nil, true
	c.mu.Unlock()
	var err error
	if db != nil {
		err = db.Close()
	}
	if cl, ok := c.inner.(io.Closer); ok {
		if cerr := cl.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// load runs a catalog query over a pool of the wrapped connector's own connections.
func (c *Connector) load(ctx context.Context, query string, arg []string) (string, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return "", fmt.Errorf("sqldumper: connector closed")
	}
	if c.catalog == nil {
		c.catalog = sql.OpenDB(plainConnector{c.inner})
		c.catalog.SetMaxOpenConns(2)
		c.catalog.SetMaxIdleConns(1)
		c.catalog.SetConnMaxIdleTime(time.Minute)
	}
	db := c.catalog
	c.mu.Unlock()
	return pgcapture.DBLoader(db)(ctx, query, arg)
}

// plainConnector hides the wrapped connector's Close from the catalog's pool.
type plainConnector struct{ c driver.Connector }

func (p plainConnector) Connect(ctx context.Context) (driver.Conn, error) { return p.c.Connect(ctx) }
func (p plainConnector) Driver() driver.Driver                            { return p.c.Driver() }

// dsnConnector is the connector of a driver that has no OpenConnector.
type dsnConnector struct {
	d   driver.Driver
	dsn string
}

func (c *dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c *dsnConnector) Driver() driver.Driver                        { return c.d }
