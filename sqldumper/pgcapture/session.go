package pgcapture

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
)

// A Session follows the writes and the transaction state of one database connection. Writes
// are invalidated when they are made and, when they are made in a transaction, again once it
// has committed: the first invalidation drops what was cached before the write, the second
// what a request rendered while the transaction was open, from data the commit has just made
// old. A transaction that rolls back gets no second invalidation.
//
// Transactions are followed whether they are begun by the driver ([Session.Begin],
// [Session.Commit], [Session.Rollback]) or by statements (BEGIN, COMMIT, ROLLBACK, in any
// spelling PostgreSQL accepts, several to a text or not). A Session is safe for concurrent
// use, though a connection runs one statement at a time.
type Session struct {
	a *Analyzer

	mu      sync.Mutex
	tx      bool
	pending []string
	writes  []string // describe the statements behind pending (see describeWrite)
	ddl     bool     // the transaction changed the schema: refresh the catalog when it commits
}

// maxWrites is how many statements a transaction's invalidation after commit describes;
// past it, "…".
const maxWrites = 4

// addWrite adds w to the descriptions of the writes pending. s.mu is held.
func (s *Session) addWrite(w string) {
	switch {
	case len(s.writes) < maxWrites:
		s.writes = append(s.writes, w)
	case len(s.writes) == maxWrites:
		s.writes = append(s.writes, "…")
	}
}

// maxDescribed is how many bytes of a statement's text describeWrite keeps.
const maxDescribed = 160

// describeWrite describes the statement of shape sh for dumper.WithWrite: its text (with
// its placeholders, never its arguments), white space collapsed, cut to maxDescribed bytes,
// and its command tag if the driver told it.
func describeWrite(sh *Shape, tag string) string {
	w := strings.Join(strings.Fields(sh.sql), " ")
	if len(w) > maxDescribed {
		w = strings.ToValidUTF8(w[:maxDescribed], "") + "…"
	}
	if tag != "" {
		w += " (" + tag + ")"
	}
	return w
}

// Session returns a new Session, outside any transaction, for a connection of a.
func (a *Analyzer) Session() *Session { return &Session{a: a} }

// Begin records that the connection began a transaction.
func (s *Session) Begin() {
	s.mu.Lock()
	s.tx, s.pending, s.writes, s.ddl = true, nil, nil, false
	s.mu.Unlock()
}

// InTransaction reports whether the connection is in a transaction, as far as the session
// has seen.
func (s *Session) InTransaction() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tx
}

// Commit records that the connection's commit returned err, and invalidates the
// transaction's writes again unless the commit is known to have failed (the server's error:
// the transaction rolled back). A failed invalidation is reported and not returned: the data
// has changed.
func (s *Session) Commit(ctx context.Context, err error) {
	s.mu.Lock()
	tags, writes, ddl := s.pending, s.writes, s.ddl
	s.tx, s.pending, s.writes, s.ddl = false, nil, nil, false
	s.mu.Unlock()
	if err != nil && isServerError(err) {
		return
	}
	if ddl {
		s.a.Refresh()
	}
	_ = s.a.invalidate(ctx, tags, strings.Join(writes, "; "))
}

// Rollback records that the connection rolled its transaction back.
func (s *Session) Rollback() {
	s.mu.Lock()
	s.tx, s.pending, s.writes, s.ddl = false, nil, nil, false
	s.mu.Unlock()
}

// Done records that the statement of shape sh ran with args and returned err, and tag, its
// command tag ("UPDATE 1", "ROLLBACK"…), if the driver tells it ("" otherwise). It
// invalidates what the statement's writes stamp, now and, in a transaction, again when it
// commits; it follows the transaction statements among it. It returns the error of the
// invalidation made now when [Options.FailWrites] is set, nil otherwise.
//
// A statement the server rejected (an error with an SQLSTATE, from a text of one statement)
// changed nothing and stamps nothing. Any other error may have come after the write was made,
// and is ignored.
func (s *Session) Done(ctx context.Context, sh *Shape, args []any, tag string, err error) error {
	_, ierr := s.done(ctx, sh, args, tag, err, nil)
	return ierr
}

// DoneQuery is [Session.Done] for a statement whose result rows are read after it returns (a
// query through database/sql, whose rows the caller reads and closes). PostgreSQL commits a
// statement run outside a transaction only once it has sent its last row, so the invalidation
// Done makes may come before the commit, and a request that reads the old row in between could
// store it. DoneQuery therefore also returns, when the statement stamped anything that is
// committed by the end of its result (it ran outside a transaction, or it committed one), a
// function that invalidates the same tags again: call it once the rows are closed. It returns
// nil when there is nothing to invalidate again (a read, a write in a transaction, whose commit
// invalidates it again).
func (s *Session) DoneQuery(ctx context.Context, sh *Shape, args []any, err error) (again func(), ierr error) {
	return s.done(ctx, sh, args, "", err, nil)
}

// DoneReturned is [Session.Done] for a statement whose result rows the caller passed to ret
// (from [Analyzer.Returned]; nil is allowed): if ret is complete, the rows the statement
// wrote are stamped by the key values its RETURNING gave, rather than by their tables'
// tags. Call it once the result is closed.
func (s *Session) DoneReturned(ctx context.Context, sh *Shape, args []any, ret *Returned, err error) error {
	_, ierr := s.done(ctx, sh, args, "", err, ret)
	return ierr
}

// done follows the statement and invalidates what it stamps; it returns what invalidates the
// same tags again once its result has been read (see DoneQuery), nil if that is not needed.
func (s *Session) done(ctx context.Context, sh *Shape, args []any, tag string, err error, ret *Returned) (func(), error) {
	if !sh.effects {
		return nil, nil
	}
	if rejected(sh, err) {
		return nil, s.failed(sh)
	}
	p, perr := s.a.resolve(ctx, sh)
	if perr != nil {
		s.a.report(ctx, perr)
	}
	var (
		now    []string
		writes []string // what now's invalidation is for: this statement, and the writes a COMMIT in it commits
		this   string
	)
	s.mu.Lock()
	committed := !s.tx // what it stamps is committed by the end of its result
	for i := range p.steps {
		st := &p.steps[i]
		if tags := st.stamps(args, ret); len(tags) > 0 {
			now = append(now, tags...)
			if this == "" {
				this = describeWrite(sh, tag)
				writes = append(writes, this)
			}
			if s.tx {
				s.pending = append(s.pending, tags...)
				if len(s.writes) == 0 || s.writes[len(s.writes)-1] != this {
					s.addWrite(this)
				}
			}
		}
		switch st.tx {
		case txBegin:
			if !s.tx {
				s.tx, s.pending, s.writes = true, nil, nil
			}
		case txCommit, txCommitChain:
			if tag != "ROLLBACK" || i != len(p.steps)-1 {
				committed = true
				now = append(now, s.pending...)
				writes = append(writes, s.writes...)
				if s.ddl {
					defer s.a.Refresh()
				}
			}
			s.pending, s.writes, s.ddl = nil, nil, false
			s.tx = st.tx == txCommitChain
		case txRollback, txRollbackChain:
			s.pending, s.writes, s.ddl = nil, nil, false
			s.tx = st.tx == txRollbackChain
		case txPrepare:
			// The transaction leaves the session; COMMIT PREPARED, wherever it is run,
			// stamps DatabaseTag.
			s.pending, s.writes, s.tx = nil, nil, false
		case txCommitPrepared:
			now = append(now, DatabaseTag)
			if this == "" {
				this = describeWrite(sh, tag)
				writes = append(writes, this)
			}
		}
		if st.refresh {
			defer s.a.Refresh()
			s.ddl = s.ddl || s.tx
		}
	}
	committed = committed || !s.tx
	s.mu.Unlock()
	write := strings.Join(slices.Compact(writes), "; ")
	slices.Sort(now)
	now = slices.Compact(now) // as invalidate does, which again calls with now too
	var again func()
	if committed && len(now) > 0 {
		again = func() { _ = s.a.invalidate(ctx, now, write) }
	}
	ierr := s.a.invalidate(ctx, now, write)
	if ierr != nil && s.a.failWrites {
		return again, ierr
	}
	return again, nil
}

// rejected reports whether err says that the server rejected the statement of shape sh as a
// whole, so that it changed nothing: an error with an SQLSTATE, from a text of one statement or
// one the capture's parser rejected too (a syntax error). When the server parsed what the
// capture's parser rejected and then failed, part of a text of several statements may have
// been made.
func rejected(sh *Shape, err error) bool {
	if err == nil || !isServerError(err) || (len(sh.stmts) > 1 && sh.err == nil) {
		return false
	}
	return sh.err == nil || sqlState(err) == "42601"
}

// failed follows a statement the server rejected: it changed nothing, but a transaction
// statement that failed may still end the transaction (COMMIT of an aborted one rolls back).
func (s *Session) failed(sh *Shape) error {
	if len(sh.stmts) == 1 {
		switch sh.stmts[0].tx {
		case txCommit, txRollback, txPrepare:
			s.Rollback()
		}
	}
	return nil
}

// isServerError reports whether err is an error the PostgreSQL server sent (it has an
// SQLSTATE), as opposed to one of the network or of the client, after which the statement
// may have been made.
func isServerError(err error) bool { return sqlState(err) != "" }

func sqlState(err error) string {
	var se interface{ SQLState() string }
	if errors.As(err, &se) {
		return se.SQLState()
	}
	return ""
}

// stamps returns the tags the statement's writes stamp with args, and ret, what its result
// gave (nil if not known).
func (st *step) stamps(args []any, ret *Returned) []string {
	var tags []string
	if st.opaque {
		tags = append(tags, DatabaseTag)
	}
	tags = append(tags, st.tags...)
	for j := range st.rows {
		tags = append(tags, st.rows[j].tags(args)...)
	}
	for j := range st.keyed {
		tags = append(tags, st.keyed[j].tags(args)...)
	}
	if len(st.returning) > 0 {
		for _, set := range st.returning {
			tags = append(tags, set.stamps(ret)...)
		}
		if ret != nil && ret.complete {
			tags = append(tags, ret.tags...)
		}
	}
	return tags
}
