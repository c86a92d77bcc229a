package pgnotify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dumperhq/dumper"
)

// Defaults of [CommitsOptions].
const (
	defaultWait = 100 * time.Millisecond
	defaultKeep = 10 * time.Second
	maxCommits  = 1 << 16 // transactions remembered at once; past it the oldest are forgotten
)

// A RecordStore keeps small values that every instance of an application reads, for
// [Commits] to share its records: *redisstore.Store is one. It must answer for the same
// store as the cache's, so that an invalidation recorded there is one every instance's cache
// has seen.
type RecordStore interface {
	// PutRecord stores value under key for ttl, replacing any value there.
	PutRecord(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Records returns the values stored under keys, in order, nil for a key with none
	// (never stored, expired or evicted).
	Records(ctx context.Context, keys ...string) ([][]byte, error)
}

// CommitsOptions configure [Commits]. The zero value is ready to use, for one instance.
type CommitsOptions struct {
	// Shared, if not nil, is where the records are shared with the Listeners of the other
	// instances, which receive the same notifications: each record is written right after
	// the invalidation it describes has succeeded, so an instance that finds it knows the
	// pages were invalidated in the shared store after commit. Use the Redis store of the
	// cache (*redisstore.Store), the same on every instance: a record says the pages were
	// invalidated in the store it comes from. (With redisstore's local tier, the other
	// instances' copies of those pages then go when the writer's invalidation reaches them
	// through Redis, within the tier's lease, as for any write through another instance.)
	// Nil means this process's Listener alone knows its transactions: the others invalidate
	// their notifications in full.
	//
	// Records are keyed by "pid:txid" (see [Commits.TxQuery]), unique within one PostgreSQL
	// cluster only: every Commits that shares a Shared store must serve the same cluster.
	// A record of another cluster's transaction with the same key would make a Listener leave
	// out changes nothing invalidated. With several clusters (shards), use one Commits per
	// cluster and Shared nil, or a Shared store per cluster.
	Shared RecordStore

	// Wait bounds how long a Listener holds a notification whose transaction committed but
	// whose writer has not reported yet (it normally reports within a millisecond or two of
	// its COMMIT). Past it the notification is invalidated in full: a writer that died
	// between COMMIT and its invalidation, or whose invalidation is slow, is covered. While
	// it waits the Listener processes no other notification, so a change made outside the
	// application at that moment is invalidated up to Wait later. Zero means 100 ms.
	Wait time.Duration

	// Keep is how long a record is kept, here and in Shared: a Listener that processes a
	// notification later than that (a backlog of several seconds) invalidates it in full.
	// Zero means 10 s.
	Keep time.Duration

	// Logger receives failures to share or read records (Warn). Nil means no logging.
	Logger *slog.Logger
}

// Commits is the [Invalidator] through which both the application's ORM plugin
// (gormdumper) and the [Listener] invalidate, so that a write made through the application
// is invalidated once rather than twice: once by the plugin after commit, and not again when
// its own notification arrives a few milliseconds later (which would drop, and make render
// again, a page cached in between).
//
// The plugin learns the id of each transaction it will invalidate after commit, with
// [Commits.TxQuery], and reports to [Commits.Committing] before COMMIT and to
// [Commits.Committed] once its invalidation after commit has returned. The Listener, given a
// Commits as the Invalidator of [Listener.Run], matches each notification to its
// transaction by that id (the triggers send it, with the process id of the writing backend)
// and leaves out only the paths and tags that the plugin's invalidation after commit
// succeeded in invalidating. Whatever else the change maps to (a row written by raw SQL in
// the same transaction, a page Map finds that the model did not declare) is invalidated as
// usual, and so is every change of a transaction whose invalidation failed, whose writer has
// not reported within [CommitsOptions.Wait], or that the plugin did not make: raw SQL, other
// services, other instances without the plugin, triggers of an earlier version.
//
// That is exact: what is left out was invalidated after the commit, so every page cached
// with it is either dropped or was rendered after the commit, from the committed data. It
// holds only if the plugin and the Listener invalidate the same cache, which they do when
// both are given this Commits; NewCommits takes that cache.
//
// Several instances: each runs its own Listener, and each hears every commit. With
// [CommitsOptions.Shared], a Commits writes its records where the others read them, and
// marks its transactions (the triggers carry the mark) so that their Listeners wait for the
// record, at most Wait, rather than invalidate at once. Changes made outside the application
// are still invalidated by every instance's Listener.
//
// A Commits is safe for concurrent use. It holds no goroutine.
type Commits struct {
	inv    Invalidator
	shared RecordStore
	wait   time.Duration
	keep   time.Duration
	log    *slog.Logger
	query  string

	mu    sync.Mutex
	txs   map[string]*commit
	order []*commit // by creation, to forget them after keep
}

// A commit is what Commits knows of one transaction.
type commit struct {
	key  string
	at   time.Time
	done chan struct{} // closed once reported; ok and covered are set before
	ok   bool
	// covered holds what the plugin invalidated after commit, in the cache's terms: the tags
	// of its paths ([dumper.PathTags], both readings of a path that has two) and its tags.
	covered map[string]struct{}
}

func (c *commit) resolved() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// NewCommits returns a Commits that invalidates in inv, the cache (or its Invalidator) that
// the plugin and the Listener share.
func NewCommits(inv Invalidator, opts CommitsOptions) (*Commits, error) {
	if inv == nil {
		return nil, errors.New("pgnotify: nil Invalidator")
	}
	if opts.Wait < 0 || opts.Keep < 0 {
		return nil, errors.New("pgnotify: negative Wait or Keep")
	}
	c := &Commits{
		inv:    inv,
		shared: opts.Shared,
		wait:   opts.Wait,
		keep:   opts.Keep,
		log:    opts.Logger,
		txs:    make(map[string]*commit),
	}
	if c.wait == 0 {
		c.wait = defaultWait
	}
	if c.keep == 0 {
		c.keep = defaultKeep
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.query = "SELECT pg_backend_pid()::text || ':' || txid_current()::text"
	if c.shared != nil {
		c.query += " FROM set_config('" + recordedSetting + "', '1', true)"
	}
	return c, nil
}

// InvalidatePaths passes the call on to the cache.
func (c *Commits) InvalidatePaths(ctx context.Context, paths ...string) error {
	return c.inv.InvalidatePaths(ctx, paths...)
}

// InvalidateTags passes the call on to the cache.
func (c *Commits) InvalidateTags(ctx context.Context, tags ...string) error {
	return c.inv.InvalidateTags(ctx, tags...)
}

// TxQuery returns the query that names the current transaction: one row of one text column,
// the id to pass to Committing and Committed: "pid:txid", the backend's process id and the
// transaction's id, which name it within its PostgreSQL cluster only (a Commits serves one
// cluster; see [CommitsOptions.Shared]). Run it in the transaction before its first
// write: with [CommitsOptions.Shared] it also marks the transaction (a transaction-local
// setting), so that the notifications of the writes after it tell the other instances to
// wait for its record. It forces the transaction to take an id if it has none yet.
func (c *Commits) TxQuery() string { return c.query }

// Committing registers the transaction id (from TxQuery) as about to commit: from now until
// Committed, a Listener that receives its notifications waits for the report, at most Wait.
// Call it before COMMIT, since the notifications may reach the Listener before COMMIT has
// returned.
func (c *Commits) Committing(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(id)
}

// Committed reports that the transaction id has committed and that the invalidation of
// paths and tags made after its COMMIT returned err (nil: they were all invalidated); err is
// COMMIT's own error if it failed. On success the Listener leaves those paths and tags out of
// the transaction's notifications; on failure it invalidates them in full. With
// [CommitsOptions.Shared] a success is also recorded there, for the other instances: Commit
// waits for that write, bounded by the store's own timeout.
func (c *Commits) Committed(ctx context.Context, id string, paths, tags []string, err error) {
	var covered map[string]struct{}
	if err == nil {
		covered = make(map[string]struct{}, len(paths)+len(tags))
		for _, p := range paths {
			pts, perr := dumper.PathTags(p)
			if perr != nil {
				// The cache refused it, so the invalidation cannot have succeeded; be safe.
				err = perr
				break
			}
			for _, pt := range pts {
				covered[pt] = struct{}{}
			}
		}
		for _, t := range tags {
			covered[t] = struct{}{}
		}
	}
	c.mu.Lock()
	tx := c.txs[id]
	if tx == nil || tx.resolved() {
		tx = c.add(id)
	}
	if err == nil {
		tx.ok, tx.covered = true, covered
	}
	close(tx.done)
	c.mu.Unlock()
	if err != nil || c.shared == nil {
		return
	}
	rec, merr := json.Marshal(slices.Sorted(maps.Keys(covered)))
	if merr == nil {
		merr = c.shared.PutRecord(ctx, id, rec, c.keep)
	}
	if merr != nil {
		c.log.WarnContext(ctx, "pgnotify: cannot share the record of a commit; the other instances will invalidate its changes again",
			"tx", id, "err", merr)
	}
}

// add registers a new transaction id, unreported, and forgets those older than keep. It
// must be called with c.mu held.
func (c *Commits) add(id string) *commit {
	now := time.Now()
	n := 0
	for n < len(c.order) && (now.Sub(c.order[n].at) > c.keep || len(c.txs) >= maxCommits) {
		old := c.order[n]
		if c.txs[old.key] == old {
			delete(c.txs, old.key)
		}
		n++
	}
	c.order = c.order[n:]
	tx := &commit{key: id, at: now, done: make(chan struct{})}
	c.txs[id] = tx
	c.order = append(c.order, tx)
	return tx
}

// coverage is what the transactions of a batch had invalidated after commit, by txKey; a
// transaction with nothing to leave out is absent.
type coverage map[string]map[string]struct{}

// hasPath reports whether path, with its tags pts ([dumper.PathTags]), was invalidated after
// the commit of the transaction key: every one of its tags was. A path with two readings ("%"
// or "?") whose plugin invalidated only one, through another path of that tag, is not covered.
func (cv coverage) hasPath(key string, pts []string) bool {
	items, ok := cv[key]
	if !ok || len(pts) == 0 {
		return false
	}
	for _, pt := range pts {
		if _, ok := items[pt]; !ok {
			return false
		}
	}
	return true
}

// hasTag reports whether tag, invalidated by a change of table, was invalidated after the
// commit of the transaction key: it was itself, or it is one of the table's row or scan tags
// and the table's tag ([dumper.TableTag]) was. Every page that carries a row or scan tag of
// a table carries its table tag too (docs/capture.md: every read of a table carries it), so
// invalidating the table's tag dropped every page those tags name. Items are compared as a
// set: the order and repetitions of what the plugin reported do not matter.
func (cv coverage) hasTag(key, table, tag string) bool {
	items, ok := cv[key]
	if !ok {
		return false
	}
	if _, ok := items[tag]; ok {
		return true
	}
	if tag != dumper.ScanTag(table) && !strings.HasPrefix(tag, strings.TrimSuffix(dumper.RowTag(table, "", ""), "=")) {
		return false
	}
	_, ok = items[dumper.TableTag(table)]
	return ok
}

// resolve returns what the transactions of batch had invalidated after commit, waiting at
// most c.wait for those still unreported: for those that this process registered, until they
// are reported; for those marked as recorded by another instance, until their record appears
// in Shared. It returns how many it gave up on at the deadline.
func (c *Commits) resolve(ctx context.Context, batch []notice) (cv coverage, late int) {
	cv = make(coverage)
	recorded := make(map[string]bool) // by key: some change of the transaction is marked
	var keys []string
	for i := range batch {
		key := batch[i].txKey()
		if key == "" {
			continue
		}
		if _, ok := recorded[key]; !ok {
			keys = append(keys, key)
		}
		recorded[key] = recorded[key] || batch[i].recorded
	}
	var local []*commit
	var remote []string
	c.mu.Lock()
	for _, key := range keys {
		switch tx := c.txs[key]; {
		case tx != nil:
			local = append(local, tx)
		case recorded[key] && c.shared != nil:
			remote = append(remote, key)
		}
	}
	c.mu.Unlock()
	if len(local) == 0 && len(remote) == 0 {
		return cv, 0
	}
	deadline := time.NewTimer(c.wait)
	defer deadline.Stop()
	expired := false
	for _, tx := range local {
		if !expired {
			select {
			case <-tx.done:
			case <-deadline.C:
				expired = true
			case <-ctx.Done():
				return cv, late
			}
		}
		switch {
		case !tx.resolved():
			late++
		case tx.ok:
			cv[tx.key] = tx.covered
		}
	}
	// Poll Shared until every record is there or the deadline has passed, once more then.
	for pause := time.Millisecond; len(remote) > 0; pause = min(2*pause, 16*time.Millisecond) {
		vals, err := c.shared.Records(ctx, remote...)
		if err == nil && len(vals) != len(remote) {
			err = fmt.Errorf("pgnotify: %d records for %d keys", len(vals), len(remote))
		}
		if err != nil {
			c.log.WarnContext(ctx, "pgnotify: cannot read the records of other instances' commits; invalidating their changes in full", "err", err)
			return cv, late
		}
		missing := remote[:0]
		for i, v := range vals {
			if v == nil {
				missing = append(missing, remote[i])
				continue
			}
			var items []string
			if err := json.Unmarshal(v, &items); err != nil {
				c.log.WarnContext(ctx, "pgnotify: unreadable record of a commit; invalidating its changes in full", "tx", remote[i], "err", err)
				continue
			}
			covered := make(map[string]struct{}, len(items))
			for _, it := range items {
				covered[it] = struct{}{}
			}
			cv[remote[i]] = covered
			c.remember(remote[i], covered)
		}
		remote = missing
		if len(remote) == 0 || expired {
			break
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-deadline.C:
			expired = true
		case <-ctx.Done():
			t.Stop()
			return cv, late
		}
		t.Stop()
	}
	return cv, late + len(remote)
}

// remember keeps a record read from Shared, for the later notifications of its transaction.
func (c *Commits) remember(key string, covered map[string]struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tx := c.txs[key]; tx != nil {
		return
	}
	tx := c.add(key)
	tx.ok, tx.covered = true, covered
	close(tx.done)
}
