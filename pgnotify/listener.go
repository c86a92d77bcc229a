package pgnotify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Invalidator is [dumper.Invalidator]: *dumper.Cache satisfies it; tests and composite
// setups may pass their own.
type Invalidator = dumper.Invalidator

// Timeouts of the Listener's own round trips.
// Source is the [dumper.InvalidationEvent] source of the listener's invalidations.
const Source = "pgnotify"

const (
	connectTimeout = 10 * time.Second
	closeTimeout   = time.Second
	pingTimeout    = time.Second      // a live server answers a ping on loopback or a LAN in milliseconds
	stableAfter    = 10 * time.Second // a session up this long resets the reconnection backoff
	queueLen       = 1024             // changes read but not yet invalidated
	maxBatch       = 512              // changes invalidated in one go
)

// A Listener receives the notifications of the triggers on a dedicated connection and
// invalidates what each change maps to. Create it with [NewListener] and run it with
// [Listener.Run]; while it is not live ([Listener.Live]) the cache must be bypassed, which
// [Listener.Ignore] does when set as the cache's [dumper.Policy.Ignore].
type Listener struct {
	config  *pgx.ConnConfig
	o       resolved
	tables  []Table
	byName  map[string][]*Table
	allTags []string // every table's tag, invalidated on (re)connection

	live    atomic.Bool
	running atomic.Bool

	changes, deduplicated, late atomic.Uint64
}

// ListenerStats are a [Listener]'s counters since it was created.
type ListenerStats struct {
	// Changes counts the changes processed: invalidated, or found covered by the
	// application's own invalidation after commit (see [Commits]).
	Changes uint64
	// Deduplicated counts the changes that invalidated nothing because everything they map
	// to had been invalidated after their commit by the application (see [Commits]).
	Deduplicated uint64
	// Late counts the transactions whose writer had not reported within
	// [CommitsOptions.Wait]: their changes were invalidated in full.
	Late uint64
}

// Stats returns the Listener's counters.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{Changes: l.changes.Load(), Deduplicated: l.deduplicated.Load(), Late: l.late.Load()}
}

// NewListener returns a listener that connects with config (from pgx.ParseConfig; it is
// copied, and given application_name "dumper-pgnotify" unless it has one) and maps the
// changes of tables as each Table says. The tables and opts.Channel must match those the
// triggers were installed with.
//
// The connection is the Listener's own, outside any pool: LISTEN is a property of a
// session, and a pooled connection would be handed to other code.
func NewListener(config *pgx.ConnConfig, opts Options, tables ...Table) (*Listener, error) {
	if config == nil {
		return nil, errors.New("pgnotify: nil pgx.ConnConfig")
	}
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if err := validateTables(tables); err != nil {
		return nil, err
	}
	l := &Listener{config: config.Copy(), o: o, tables: slices.Clone(tables), byName: make(map[string][]*Table)}
	if l.config.RuntimeParams == nil {
		l.config.RuntimeParams = make(map[string]string)
	}
	if l.config.RuntimeParams["application_name"] == "" {
		l.config.RuntimeParams["application_name"] = "dumper-pgnotify"
	}
	for i := range l.tables {
		t := &l.tables[i]
		t.Key, t.Columns = slices.Clone(t.Key), slices.Clone(t.Columns)
		l.byName[t.Name] = append(l.byName[t.Name], t)
		l.allTags = append(l.allTags, o.tableTag(t.Name))
	}
	slices.Sort(l.allTags)
	l.allTags = slices.Compact(l.allTags)
	return l, nil
}

// Live reports whether every change committed so far will reach the cache: the Listener is
// connected, listening, and has invalidated what may have changed while it was not. It is
// false before [Listener.Run] first connects, from the moment a connection is found lost (or
// an invalidation fails) until the Listener has reconnected and caught up, and after Run
// returns.
//
// While Live is false, cached pages may be stale: serve them from the database (see
// [Listener.Ignore]).
func (l *Listener) Live() bool { return l.live.Load() }

// Ignore reports whether the cache must leave r alone because the Listener is not live. Set
// it as the cache's [dumper.Policy.Ignore] (combined with any other rule) so that, while
// changes may be missed, pages are neither served from the cache nor stored:
//
//	cache, err := dumper.New(dumper.Options{Policy: dumper.Policy{Ignore: listener.Ignore}})
func (l *Listener) Ignore(*http.Request) bool { return !l.live.Load() }

// Run listens until ctx is done, invalidating in inv, and then returns nil. It connects, runs
// LISTEN, invalidates the tag of every table (changes committed before LISTEN were not
// heard) and then reports [Listener.Live]. When the connection is lost it reconnects, waiting
// between attempts as [Options] say, and catches up the same way; it never gives up. It
// returns an error without doing anything if inv is nil or if the Listener is already running.
//
// If inv is a [*Commits], the one the application's ORM plugin invalidates through, the
// Listener leaves out of each change what the plugin invalidated after the change's commit,
// waiting for the plugin's report when it has not come yet, at most [CommitsOptions.Wait]:
// the changes behind are processed after that wait.
func (l *Listener) Run(ctx context.Context, inv Invalidator) error {
	if inv == nil {
		return errors.New("pgnotify: nil Invalidator")
	}
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("pgnotify: Listener is already running")
	}
	defer l.running.Store(false)
	for attempt := 0; ; attempt++ {
		liveAt, err := l.session(ctx, inv)
		l.live.Store(false)
		if ctx.Err() != nil {
			l.o.log.InfoContext(ctx, "pgnotify: listener stopped", "channel", l.o.channel)
			return nil
		}
		// Start the backoff over only after a session that lasted: one that dies right after
		// LISTEN (and invalidates every table's tag each time) must not be retried at once.
		if !liveAt.IsZero() && time.Since(liveAt) >= stableAfter {
			attempt = 0
		}
		wait := backoff(l.o.minBackoff, l.o.maxBackoff, attempt, rand.Float64())
		l.o.log.WarnContext(ctx, "pgnotify: not listening; cache bypassed until reconnected",
			"channel", l.o.channel, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			l.o.log.InfoContext(ctx, "pgnotify: listener stopped", "channel", l.o.channel)
			return nil
		case <-t.C:
		}
	}
}

// session connects, listens and catches up, then invalidates changes as they come until the
// connection fails, an invalidation fails or ctx is done. liveAt is when it went live, or
// zero if it did not get that far.
func (l *Listener) session(ctx context.Context, inv Invalidator) (liveAt time.Time, err error) {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	conn, err := pgx.ConnectConfig(cctx, l.config)
	cancel()
	if err != nil {
		return time.Time{}, fmt.Errorf("pgnotify: connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		_ = conn.Close(cctx)
		cancel()
	}()
	if err := genericPlans(ctx, conn); err != nil {
		return time.Time{}, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+quoteIdent(l.o.channel)); err != nil {
		return time.Time{}, fmt.Errorf("pgnotify: listen: %w", err)
	}
	// From here on every commit is heard. What committed before may not have been: drop the
	// pages of every table, and of its relatives, before trusting the cache again.
	rel := &relatives{}
	tags, err := l.everyTag(ctx, conn, rel)
	if err != nil {
		return time.Time{}, err
	}
	if err := inv.InvalidateTags(dumper.WithSource(ctx, Source, time.Time{}), tags...); err != nil {
		return time.Time{}, fmt.Errorf("pgnotify: invalidate after connecting: %w", err)
	}
	l.live.Store(true)
	liveAt = time.Now()
	l.o.log.InfoContext(ctx, "pgnotify: listening", "channel", l.o.channel, "tables", len(l.tables))
	return liveAt, l.pump(ctx, conn, rel, inv)
}

// everyTag returns the tag of every table and of each of its relatives, as they are now,
// reading them on conn into rel.
func (l *Listener) everyTag(ctx context.Context, conn *pgx.Conn, rel *relatives) ([]string, error) {
	names := make([]tableName, len(l.tables))
	for i := range l.tables {
		names[i] = tableName{l.tables[i].Schema, l.tables[i].Name}
	}
	if err := rel.load(ctx, conn, names); err != nil {
		return nil, err
	}
	tags := slices.Clone(l.allTags)
	for _, rs := range rel.known {
		for _, r := range rs {
			tags = append(tags, l.o.tableTag(r.Name))
		}
	}
	return distinct(tags), nil
}

// pump reads notifications on this goroutine and invalidates them on another, so that what
// arrives while an invalidation is under way is invalidated together next.
func (l *Listener) pump(ctx context.Context, conn *pgx.Conn, rel *relatives, inv Invalidator) error {
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	changes := make(chan notice, queueLen)
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		commits, _ := inv.(*Commits)
		if err := l.apply(sctx, inv, commits, changes); err != nil {
			l.live.Store(false)
			stop(err)
		}
	}()
	err := l.read(sctx, conn, rel, changes)
	l.live.Store(false) // before anything else: a page served now might be stale
	stop(err)
	<-applied
	if ctx.Err() != nil {
		return nil
	}
	return context.Cause(sctx)
}

// read passes the changes notified on conn to changes, with their tables' relatives (read
// on conn, into rel), until it fails or ctx is done.
func (l *Listener) read(ctx context.Context, conn *pgx.Conn, rel *relatives, changes chan<- notice) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, l.o.ping)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case err != nil && pgconn.Timeout(err) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("pgnotify: ping: %w", err)
			}
			continue
		case err != nil:
			return fmt.Errorf("pgnotify: wait for notification: %w", err)
		case n.Channel != l.o.channel:
			continue
		}
		c, err := decode(n.Payload)
		if err != nil {
			// A change of a table of ours that cannot be attributed to a row (it should not
			// happen: the triggers send a table-level notification for a NULL key) drops
			// the table's pages. Anything else is not from our triggers: someone else
			// NOTIFYs on the channel.
			var ok bool
			if c.Change, ok = l.salvage(n.Payload); !ok {
				l.o.log.ErrorContext(ctx, "pgnotify: ignored notification", "channel", n.Channel, "pid", n.PID, "err", err)
				continue
			}
			l.o.log.WarnContext(ctx, "pgnotify: malformed notification; invalidating the table's tag",
				"channel", n.Channel, "pid", n.PID, "table", c.Table, "err", err)
		}
		c.pid = n.PID
		if l.ours(&c.Change) {
			if c.relatives, err = rel.of(ctx, conn, tableName{c.Schema, c.Table}, c.tx); err != nil {
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				return err
			}
		}
		select {
		case changes <- c:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// apply invalidates the changes as they come, together those that are waiting, until ctx
// is done or an invalidation fails. With commits, it first waits for the reports of the
// batch's transactions that the application has not reported yet (at most the Wait of
// commits), and leaves out what they covered.
func (l *Listener) apply(ctx context.Context, inv Invalidator, commits *Commits, changes <-chan notice) error {
	batch := make([]notice, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return nil
		case c := <-changes:
			batch = append(batch, c)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case c := <-changes:
				batch = append(batch, c)
			default:
				break more
			}
		}
		var cv coverage
		if commits != nil {
			var late int
			cv, late = commits.resolve(ctx, batch)
			l.late.Add(uint64(late))
		}
		if err := l.invalidate(ctx, inv, batch, cv); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		l.changes.Add(uint64(len(batch)))
	}
}

// salvage returns a table-level change for a payload that decode refused but that names a
// table of l's ("t", and "s" if it has one), and false for any other.
func (l *Listener) salvage(payload string) (Change, bool) {
	var p struct {
		Schema string `json:"s"`
		Table  string `json:"t"`
	}
	if json.Unmarshal([]byte(payload), &p) != nil {
		return Change{}, false
	}
	for _, t := range l.byName[p.Table] {
		if l.matches(t, p.Schema) {
			return Change{Schema: p.Schema, Table: p.Table, All: true}, true
		}
	}
	return Change{}, false
}

// ours reports whether c is a change of one of l's tables.
func (l *Listener) ours(c *Change) bool {
	for _, t := range l.byName[c.Table] {
		if l.matches(t, c.Schema) {
			return true
		}
	}
	return false
}

// matches reports whether a change in schema is one of t's. An empty schema (only from a
// salvaged payload) matches any.
func (l *Listener) matches(t *Table, schema string) bool {
	return t.Schema == "" || schema == "" || t.Schema == schema
}

// invalidate invalidates what the changes map to, with the tags of their tables' relatives
// (see relativeTags), in one call for paths and one for tags, less what cv says the
// application invalidated after each change's commit. A table with more than MaxRows
// row-level changes in the batch has its tag, and its relatives', invalidated instead of each
// change mapped: a burst of small transactions costs the cache what one bulk statement does;
// so do its relatives past maxRelativeRows changes times relatives.
func (l *Listener) invalidate(ctx context.Context, inv Invalidator, batch []notice, cv coverage) error {
	rows := make(map[*Table]int)
	relRows := make(map[*Table]int) // row-level changes times their relatives
	for i := range batch {
		c := &batch[i]
		for _, t := range l.byName[c.Table] {
			if !c.All && l.matches(t, c.Schema) {
				rows[t]++
				relRows[t] += len(c.relatives)
			}
		}
	}
	var paths, tags []string
	var left int // paths and tags left out, for the log
	var what writes
	for i := range batch {
		c := &batch[i]
		key := c.txKey()
		mapped, kept := 0, 0
		for _, t := range l.byName[c.Table] {
			if !l.matches(t, c.Schema) {
				continue
			}
			ps, ts := l.mapped(ctx, t, &c.Change, rows[t] > l.o.maxRows)
			for _, p := range ps {
				mapped++
				if pts, _ := dumper.PathTags(p); !cv.hasPath(key, pts) { // mapChange checked p
					paths = append(paths, p)
					kept++
				}
			}
			for _, tg := range ts {
				mapped++
				if !cv.hasTag(key, t.Name, tg) {
					tags = append(tags, tg)
					kept++
				}
			}
			coarse := rows[t] > l.o.maxRows || relRows[t] > maxRelativeRows
			for _, r := range c.relatives {
				for _, tg := range l.relativeTags(&c.Change, t.Key, r, coarse) {
					mapped++
					if !cv.hasTag(key, r.Name, tg) {
						tags = append(tags, tg)
						kept++
					}
				}
			}
		}
		left += mapped - kept
		if mapped > 0 && kept == 0 {
			l.deduplicated.Add(1)
		}
		if kept > 0 {
			what.add(&c.Change)
		}
	}
	paths, tags = distinct(paths), distinct(tags)
	if left > 0 {
		l.o.log.DebugContext(ctx, "pgnotify: left out what the application invalidated after commit", "changes", len(batch), "left_out", left)
	}
	if len(paths) == 0 && len(tags) == 0 {
		return nil
	}
	l.o.log.DebugContext(ctx, "pgnotify: invalidate", "changes", len(batch), "paths", paths, "tags", tags)
	ctx = dumper.WithSource(ctx, Source, time.Time{}) // a notification does not say when its commit was
	ctx = dumper.WithWrite(ctx, what.String())
	if len(paths) > 0 {
		if err := inv.InvalidatePaths(ctx, paths...); err != nil {
			return fmt.Errorf("pgnotify: invalidate paths: %w", err)
		}
	}
	if len(tags) > 0 {
		if err := inv.InvalidateTags(ctx, tags...); err != nil {
			return fmt.Errorf("pgnotify: invalidate tags: %w", err)
		}
	}
	return nil
}

// mapped returns what a change of t invalidates: the table's tag for a table-level change or
// one of a burst (more than MaxRows changes of t in the batch); otherwise the change's own
// tags (the row tags of its key columns and the scan tag, from triggers of version 3) and
// what t.Map returns, both — a Map adds to the automatic tags, it never replaces them. A
// change that carries no key columns (version 2 triggers) and has no Map, or whose Map
// fails, invalidates the table's tag.
func (l *Listener) mapped(ctx context.Context, t *Table, c *Change, burst bool) (paths, tags []string) {
	whole := []string{l.o.tableTag(t.Name)}
	if c.All || burst {
		return nil, whole
	}
	auto := c.tags(t.Key)
	if t.Map == nil {
		if auto == nil {
			return nil, whole
		}
		return nil, auto
	}
	paths, tags, err := l.mapChange(ctx, t, c.withColumns(t.Columns))
	if err != nil {
		l.o.log.ErrorContext(ctx, "pgnotify: Map failed; invalidating the table's tag instead",
			"table", t.String(), "op", c.Op.String(), "key", c.Key, "err", err)
		return nil, whole
	}
	return paths, append(tags, auto...)
}

// mapChange calls t.Map, turning a panic into an error, and checks what it returns: a path
// the cache would refuse or an empty tag is an error, so the whole table is invalidated
// rather than a page missed.
func (l *Listener) mapChange(ctx context.Context, t *Table, c Change) (paths, tags []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			paths, tags, err = nil, nil, fmt.Errorf("pgnotify: Map panicked: %v", r)
		}
	}()
	paths, tags, err = t.Map(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range paths {
		if _, err := dumper.NormalizePath(p); err != nil {
			return nil, nil, err
		}
	}
	if slices.Contains(tags, "") {
		return nil, nil, errors.New("pgnotify: Map returned an empty tag")
	}
	return paths, tags, nil
}

// distinct sorts s and drops duplicates.
func distinct(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// writes describes the changes behind an invalidation for dumper.WithWrite, in the order
// first seen: "UPDATE on public.flavors, 2 rows; TRUNCATE on public.sizes".
type writes struct {
	order []writeKey
	rows  map[writeKey]int
}

type writeKey struct {
	op         Op
	table      string
	tableLevel bool
}

func (w *writes) add(c *Change) {
	k := writeKey{c.Op, c.Table, c.All}
	if c.Schema != "" {
		k.table = c.Schema + "." + c.Table
	}
	if w.rows == nil {
		w.rows = map[writeKey]int{}
	}
	if _, seen := w.rows[k]; !seen {
		w.order = append(w.order, k)
	}
	w.rows[k]++
}

func (w *writes) String() string {
	var b strings.Builder
	for i, k := range w.order {
		if i > 0 {
			b.WriteString("; ")
		}
		if k.op == 0 {
			b.WriteString("a change") // a salvaged payload: its operation is not known
		} else {
			b.WriteString(k.op.String())
		}
		b.WriteString(" on ")
		b.WriteString(k.table)
		switch n := w.rows[k]; {
		case k.tableLevel && k.op == Truncate:
		case k.tableLevel:
			b.WriteString(", rows not known")
		case n == 1:
			b.WriteString(", 1 row")
		default:
			fmt.Fprintf(&b, ", %d rows", n)
		}
		if b.Len() > 200 {
			break // dumper.WithWrite keeps no more
		}
	}
	return b.String()
}
