package gormdumper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm"
)

// Invalidator is [dumper.Invalidator]: *dumper.Cache satisfies it; tests and composite
// setups (several caches in front of one database) may pass their own.
type Invalidator = dumper.Invalidator

// ErrInvalidation is wrapped by the errors passed to [Options.OnError], and by the error of a
// write whose pages could not be invalidated when [Options.FailWrites] is set.
var ErrInvalidation = errors.New("gormdumper: invalidation failed")

// Options configure a [Plugin]. The zero value is ready to use.
type Options struct {
	// Logger receives failed invalidations (Error), writes made in a transaction the plugin
	// did not begin and so cannot see commit (Warn), and every invalidation (Debug). Nil
	// means no logging.
	Logger *slog.Logger

	// OnError, if not nil, is called with every failed invalidation, at write time and after
	// commit, once it has been logged. The error wraps [ErrInvalidation]. Nil means the error
	// is only logged.
	//
	// A failed invalidation does not fail the write (unless FailWrites is set) nor the
	// commit: the store owns that failure. The memory store never fails; the Redis store
	// keeps an invalidation it could not apply, retries it, and serves nothing from the cache
	// until it is applied. Failing the writes instead would turn a cache outage into a write
	// outage.
	OnError func(ctx context.Context, err error)

	// FailWrites makes a failed invalidation at write time the write's error (wrapping
	// [ErrInvalidation]), which rolls back GORM's implicit transaction and tells the caller
	// of an explicit one not to commit: for applications that prefer failing writes to any
	// risk of a stale page, e.g. with a store that cannot be trusted to retry. Without a
	// transaction (SkipDefaultTransaction) the row has been written when the error is
	// reported. An invalidation after commit never fails anything: the data is committed.
	// False (the default) means failed invalidations are logged and passed to OnError only.
	FailWrites bool

	// NoReadCapture turns read capture off: the responses rendered with a
	// Statement.Context of a render are then tagged only with what their handlers declare
	// (dumper.Tag). Writes stamp the tags of their rows either way, for the readers that
	// capture (other instances, other data layers). False (the default) means every query
	// made in a render tags its response with what it read (see the package documentation).
	NoReadCapture bool

	// Analyzer, if not nil, classifies the reads the plugin cannot read from GORM's clauses:
	// db.Raw and db.Exec in a render, and queries with a JOIN or FROM written in SQL. Nil
	// means such a read keeps its response out of the cache (dumper.NoStore). If it is also
	// a [WriteAnalyzer] (package gormpg's, on PostgreSQL), the writes of hand-written SQL
	// are invalidated by what it says they stamp; otherwise they are not seen.
	Analyzer Analyzer
}

// TableTag is [dumper.TableTag]: the tag that every read of table carries (the plugin's read
// capture adds it) and that every write to table whose rows the plugin cannot name
// invalidates: "table:" + table. The name is the table's name as GORM has it
// (Statement.Table), without schema; on every database but PostgreSQL, in lower case, as
// the plugin spells it there (SQLite ignores the case of names).
func TableTag(table string) string { return dumper.TableTag(table) }

// Plugin is the GORM plugin; register it with db.Use. See the package documentation for
// what it invalidates and when.
type Plugin struct {
	inv        Invalidator
	commits    CommitRecorder // inv, if it is one
	log        *slog.Logger
	onError    func(ctx context.Context, err error)
	failWrites bool
	readCap    bool
	analyzer   Analyzer
	writes     WriteAnalyzer // analyzer, if it is one
	keys       *keyRegistry
	plans      *planCache

	// txPools are the pools, seen at Initialize, that are transactions already (a gorm.DB
	// opened over a *sql.Tx): left unwrapped, and warned about once.
	txPools []gorm.ConnPool
}

// New returns a plugin that invalidates the pages of the rows written through a GORM
// database in inv: db.Use(gormdumper.New(cache)). It is NewWithOptions with zero Options.
// If inv is a [CommitRecorder] (a pgnotify.Commits in front of the cache), the plugin also
// reports to it the transactions it invalidates after commit.
func New(inv Invalidator) *Plugin { return NewWithOptions(inv, Options{}) }

// NewWithOptions returns a plugin that invalidates in inv, configured by opts.
func NewWithOptions(inv Invalidator, opts Options) *Plugin {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	commits, _ := inv.(CommitRecorder)
	writes, _ := opts.Analyzer.(WriteAnalyzer)
	p := &Plugin{
		inv: inv, commits: commits, log: log, onError: opts.OnError, failWrites: opts.FailWrites,
		readCap: !opts.NoReadCapture, analyzer: opts.Analyzer, writes: writes, keys: &keyRegistry{},
		plans: newPlanCache(defaultMaxPlanBytes),
	}
	p.keys.onLost = p.keysLost
	return p
}

// keysLost drops the pages that read tables narrowed by a key column the plugin no longer
// counts (two models disagree on its type; RefreshKeys after a migration that dropped it):
// their writes no longer stamp its row tags. It stamps the tables' tags.
func (p *Plugin) keysLost(tables []string) {
	b := &batch{writes: []string{"key columns changed on " + strings.Join(tables, ", ")}}
	for _, t := range tables {
		b.addTags(dumper.TableTag(t))
	}
	ctx := context.Background()
	if err := p.invalidate(ctx, b); err != nil {
		p.report(ctx, b, "gormdumper: invalidation after a change of key columns failed; pages may be stale",
			fmt.Errorf("%w: %w", ErrInvalidation, err))
	}
}

// Name returns "gormdumper", the plugin's name in gorm.Config.Plugins.
func (p *Plugin) Name() string { return "gormdumper" }

// Initialize registers the plugin's callbacks on db and wraps its connection pool so that
// the plugin sees transactions commit. db.Use calls it; call Use on the *gorm.DB returned by
// gorm.Open, before any session is derived from it: sessions made earlier keep the unwrapped
// pool. A pool that is a transaction already (a gorm.DB opened over a *sql.Tx) is left as it
// is, with a warning: its writes are invalidated when they are made only.
func (p *Plugin) Initialize(db *gorm.DB) error {
	if p.inv == nil {
		return errors.New("gormdumper: nil Invalidator")
	}
	if err := p.wrapConnPool(db); err != nil {
		return err
	}
	p.keys.dialect = db.Dialector.Name()
	cb := db.Callback()
	regs := []registration{
		{cb.Create().After("gorm:begin_transaction").Before("gorm:before_create").
			Register("gormdumper:before_create", p.before(opCreate)), "before_create"},
		{cb.Create().Before("gorm:commit_or_rollback_transaction").
			Register("gormdumper:after_create", p.after(opCreate)), "after_create"},
		{cb.Update().After("gorm:setup_reflect_value").Before("gorm:before_update").
			Register("gormdumper:before_update", p.before(opUpdate)), "before_update"},
		{cb.Update().Before("gorm:commit_or_rollback_transaction").
			Register("gormdumper:after_update", p.after(opUpdate)), "after_update"},
		{cb.Delete().After("gorm:begin_transaction").Before("gorm:before_delete").
			Register("gormdumper:before_delete", p.before(opDelete)), "before_delete"},
		{cb.Delete().Before("gorm:commit_or_rollback_transaction").
			Register("gormdumper:after_delete", p.after(opDelete)), "after_delete"},
	}
	regs = append(regs, p.registerRaw(db)...)
	if p.readCap {
		regs = append(regs, p.registerReads(db)...)
	}
	for _, r := range regs {
		if r.err != nil {
			return fmt.Errorf("gormdumper: register callback %s: %w", r.name, r.err)
		}
	}
	return nil
}
