package gormdumper

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// A CommitRecorder is an [Invalidator] that wants to know each transaction the plugin
// invalidates after commit, and what that invalidation covered. *pgnotify.Commits is one:
// given to [New] in place of the cache (it passes every invalidation on to the cache), it
// lets pgnotify's Listener leave out, when a transaction's notifications arrive, the pages
// the plugin has just invalidated after its commit, so that a write made through the
// application is invalidated once.
//
// The plugin detects a CommitRecorder by a type assertion on its Invalidator. It calls it
// only for transactions begun through its pool (db.Transaction, Begin…Commit and GORM's
// implicit ones), and never for writes made outside a transaction.
type CommitRecorder interface {
	Invalidator

	// TxQuery returns a query naming the current transaction: one row of one text column.
	// The plugin runs it once per transaction, in the transaction, before the first write it
	// handles there (or just before COMMIT if none of the transaction's writes got that
	// far). A failure fails that write; just before COMMIT, it is logged and the transaction
	// is not reported.
	TxQuery() string

	// Committing is called with the transaction's name just before COMMIT.
	Committing(id string)

	// Committed is called once COMMIT has returned and the invalidation after commit has
	// been made (or found empty), with the paths and tags it invalidated and the error of
	// COMMIT or of that invalidation; nil means both succeeded.
	Committed(ctx context.Context, id string, paths, tags []string, err error)
}

// learnTx runs the recorder's TxQuery in the transaction db writes in, once, if the plugin
// has a recorder and began that transaction. An error becomes the statement's.
func (p *Plugin) learnTx(db *gorm.DB) {
	if p.commits == nil {
		return
	}
	t := p.txOf(db.Statement.ConnPool)
	if t == nil {
		return
	}
	if err := t.learnID(db.Statement.Context); err != nil {
		db.AddError(fmt.Errorf("gormdumper: name the transaction: %w", err))
	}
}

// learnID runs the recorder's TxQuery in t unless it has run already.
func (t *txConn) learnID(ctx context.Context) error {
	t.idMu.Lock()
	defer t.idMu.Unlock()
	if t.asked {
		return nil
	}
	t.asked = true
	return t.ConnPool.QueryRowContext(ctx, t.pool.p.commits.TxQuery()).Scan(&t.id)
}

// commitID returns the name of t for its recorder, learning it now if t has invalidations
// to make after commit and no name yet; "" if it has none.
func (t *txConn) commitID() string {
	p := t.pool.p
	if p.commits == nil {
		return ""
	}
	t.mu.Lock()
	pending := !t.pending.empty()
	t.mu.Unlock()
	t.idMu.Lock()
	asked := t.asked
	t.idMu.Unlock()
	if !asked && pending {
		if err := t.learnID(t.ctx); err != nil {
			p.log.WarnContext(t.ctx, "gormdumper: cannot name the transaction before COMMIT; its notifications will be invalidated again", "err", err)
		}
	}
	t.idMu.Lock()
	defer t.idMu.Unlock()
	return t.id
}
