package gormdumper

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"sync"

	"gorm.io/gorm"
)

// wrapConnPool puts a connPool around the pool of db, under GORM's prepared-statement layer
// when there is one, so that every transaction begun through db is a txConn. A pool that is a
// transaction already (a gorm.DB opened over a *sql.Tx) is left alone: GORM recognizes it as a
// gorm.TxCommitter, runs db.Transaction in it as a savepoint, and would try to begin a new
// transaction on anything else. Its writes are invalidated when they are made only.
func (p *Plugin) wrapConnPool(db *gorm.DB) error {
	switch cp := db.ConnPool.(type) {
	case nil:
		return errors.New("gormdumper: the gorm.DB has no connection pool")
	case *connPool:
		return errors.New("gormdumper: the connection pool is already wrapped by another gormdumper plugin")
	case gorm.TxCommitter:
		p.leaveTx(db, db.ConnPool)
	case *gorm.PreparedStmtDB:
		// Wrap below the prepared-statement layer: GORM recognizes *gorm.PreparedStmtDB and
		// *gorm.PreparedStmtTX by type (savepoints, migrations), and PreparedStmtDB.BeginTx
		// wraps our txConn in a PreparedStmtTX whose Commit calls ours.
		switch inner := cp.ConnPool.(type) {
		case *connPool:
			if inner.p != p {
				return errors.New("gormdumper: the connection pool is already wrapped by another gormdumper plugin")
			}
		case gorm.TxCommitter:
			p.leaveTx(db, cp.ConnPool)
		default:
			cp.ConnPool = &connPool{ConnPool: cp.ConnPool, p: p}
		}
	default:
		wrapped := &connPool{ConnPool: cp, p: p}
		db.ConnPool = wrapped
		if db.Statement != nil {
			db.Statement.ConnPool = wrapped
		}
	}
	return nil
}

// leaveTx records that db's pool tx is a transaction the plugin cannot see commit, and says
// so once.
func (p *Plugin) leaveTx(db *gorm.DB, tx gorm.ConnPool) {
	p.txPools = append(p.txPools, tx)
	ctx := context.Background()
	if db.Statement != nil && db.Statement.Context != nil {
		ctx = db.Statement.Context
	}
	p.log.WarnContext(ctx, "gormdumper: the database is a transaction (a gorm.DB opened over a *sql.Tx): "+
		"its writes are invalidated when they are made, not again after it commits")
}

// isTxPool reports whether cp is a transaction that was the pool of a database the plugin was
// registered on (see leaveTx).
func (p *Plugin) isTxPool(cp gorm.ConnPool) bool {
	if cp == nil || !reflect.TypeOf(cp).Comparable() {
		return false
	}
	for _, t := range p.txPools {
		if t == cp {
			return true
		}
	}
	return false
}

// connPool is the connection pool of a database the plugin is registered on. It begins
// transactions as txConns.
type connPool struct {
	gorm.ConnPool
	p *Plugin
}

// BeginTx begins a transaction on the wrapped pool. It makes connPool a
// gorm.ConnPoolBeginner; it must not be a gorm.TxBeginner, whose BeginTx returns *sql.Tx.
func (c *connPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	var (
		inner     gorm.ConnPool
		committer gorm.TxCommitter
	)
	switch b := c.ConnPool.(type) {
	case gorm.TxBeginner:
		tx, err := b.BeginTx(ctx, opts)
		if err != nil {
			return nil, err
		}
		inner, committer = tx, tx
	case gorm.ConnPoolBeginner:
		cp, err := b.BeginTx(ctx, opts)
		if err != nil {
			return nil, err
		}
		tc, ok := cp.(gorm.TxCommitter)
		if !ok {
			return nil, gorm.ErrInvalidTransaction
		}
		inner, committer = cp, tc
	default:
		return nil, gorm.ErrInvalidTransaction
	}
	t := &txConn{ConnPool: inner, committer: committer, pool: c, ctx: context.WithoutCancel(ctx)}
	if s, ok := inner.(stmtContexter); ok {
		return &stmtTxConn{txConn: t, s: s}, nil
	}
	return t, nil
}

// GetDBConn returns the *sql.DB under the pool, for gorm.DB.DB.
func (c *connPool) GetDBConn() (*sql.DB, error) {
	switch cp := c.ConnPool.(type) {
	case *sql.DB:
		return cp, nil
	case gorm.GetDBConnector:
		return cp.GetDBConn()
	}
	return nil, gorm.ErrInvalidDB
}

// Ping pings the database under the pool.
func (c *connPool) Ping() error {
	if p, ok := c.ConnPool.(interface{ Ping() error }); ok {
		return p.Ping()
	}
	db, err := c.GetDBConn()
	if err != nil {
		return err
	}
	return db.Ping()
}

// txConn is a transaction begun through a connPool. It keeps the invalidations of the
// writes made in it and runs them again once Commit has returned from the database.
type txConn struct {
	gorm.ConnPool
	committer gorm.TxCommitter
	pool      *connPool
	ctx       context.Context // the context the transaction began with, without its cancellation

	mu      sync.Mutex
	pending batch

	// The transaction's name for the plugin's CommitRecorder (see commits.go).
	idMu  sync.Mutex
	asked bool   // TxQuery has been run
	id    string // its answer, "" if it failed
}

// deferUntilCommit adds b to the invalidations run after commit.
func (t *txConn) deferUntilCommit(b *batch) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending.merge(b)
}

// take empties the pending invalidations and returns them.
func (t *txConn) take() batch {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.pending
	t.pending = batch{}
	return b
}

// Commit commits the transaction, then invalidates again what its writes invalidated. It
// does so even when the database reports an error: a COMMIT whose answer was lost may have
// been applied, and an extra invalidation is harmless. Invalidation errors do not change
// what Commit returns; see [Options.OnError]. With a CommitRecorder, the transaction is
// reported to it before COMMIT and after that invalidation.
func (t *txConn) Commit() error {
	p := t.pool.p
	id := t.commitID()
	if id != "" {
		p.commits.Committing(id)
	}
	err := t.committer.Commit()
	b := t.take()
	var ierr error
	if !b.empty() {
		ierr = p.afterCommit(t.ctx, &b)
	}
	if id != "" {
		p.commits.Committed(t.ctx, id, b.paths, b.tags, errors.Join(err, ierr))
	}
	return err
}

// Rollback rolls the transaction back and forgets its pending invalidations: nothing it
// wrote becomes visible, and the invalidations made at each write are enough.
func (t *txConn) Rollback() error {
	t.take()
	return t.committer.Rollback()
}

// GetDBConn returns the *sql.DB under the pool, for gorm.DB.DB inside a transaction.
func (t *txConn) GetDBConn() (*sql.DB, error) { return t.pool.GetDBConn() }

type stmtContexter interface {
	StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt
}

// stmtTxConn is a txConn over a transaction that can run prepared statements (a *sql.Tx):
// it is a gorm.Tx, which GORM's prepared-statement mode requires.
type stmtTxConn struct {
	*txConn
	s stmtContexter
}

func (t *stmtTxConn) StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt {
	return t.s.StmtContext(ctx, stmt)
}

// txOf returns the transaction of p that cp is, or nil when cp is not one: no transaction,
// or one begun elsewhere (see [Plugin.schedule]).
func (p *Plugin) txOf(cp gorm.ConnPool) *txConn {
	if ps, ok := cp.(*gorm.PreparedStmtTX); ok {
		cp = ps.Tx
	}
	var t *txConn
	switch c := cp.(type) {
	case *txConn:
		t = c
	case *stmtTxConn:
		t = c.txConn
	}
	if t == nil || t.pool.p != p {
		return nil
	}
	return t
}
