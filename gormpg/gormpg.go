package gormpg

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/sqldumper/pgcapture"
)

// Options configure an [Analyzer]; see [pgcapture.Options]. FailWrites has no effect:
// gormdumper's Options.FailWrites governs the writes.
type Options = pgcapture.Options

// An Analyzer is a [gormdumper.WriteAnalyzer] over sqldumper's PostgreSQL analyzer. It caches
// the shape of each distinct SQL text and what the catalog says of each relation; it is safe
// for concurrent use.
type Analyzer struct {
	an   *pgcapture.Analyzer
	lost *lostTags // what an invalidates by itself
}

var _ gormdumper.WriteAnalyzer = (*Analyzer)(nil)

// New returns an Analyzer that reads the catalog over db, the *sql.DB under the GORM database
// (gorm.DB.DB), with the pgx driver GORM's postgres dialector uses. opts may be nil.
//
// Catalog queries take a connection of db's pool of their own, once per relation: a pool
// limited to one connection (SetMaxOpenConns(1)) would wait for it forever while a
// transaction holds it.
func New(db *sql.DB, opts *Options) *Analyzer {
	lost := &lostTags{}
	return &Analyzer{an: pgcapture.New(lost, pgcapture.DBLoader(db), opts), lost: lost}
}

// Read records in the response being rendered for ctx what the statement sql, with vars ($1
// is vars[0], as GORM binds them on PostgreSQL), reads; see [pgcapture.Analyzer.Read].
func (a *Analyzer) Read(ctx context.Context, sql string, vars []any) {
	sh := a.an.Shape(sql)
	if sh.Reads() {
		a.an.Read(ctx, sh, vars)
	}
}

// Written returns what the statement sql, run with vars and returning err, stamps; see
// [pgcapture.Analyzer.Stamps]. A statement that did not fail also returns the table tags of
// the tables whose key columns the catalog, read again since the last such statement (after
// Refresh), no longer gives (see [pgcapture.Analyzer.Refresh]): the pages that read them
// narrowed by such a column are dropped, since writes no longer stamp its row tags.
func (a *Analyzer) Written(ctx context.Context, sql string, vars []any, err error) []string {
	sh := a.an.Shape(sql)
	var tags []string
	if sh.Effects() {
		tags = a.an.Stamps(ctx, sh, vars, err)
	}
	if err == nil {
		if lost := a.lost.take(); len(lost) > 0 {
			tags = append(tags, lost...)
			slices.Sort(tags)
			tags = slices.Compact(tags)
		}
	}
	return tags
}

// Refresh forgets what the analyzer read of the catalog; see [pgcapture.Analyzer.Refresh].
// Schema changes made through GORM's Exec refresh it by themselves.
func (a *Analyzer) Refresh() { a.an.Refresh() }

// lostTags is the analyzer's invalidator: gormdumper invalidates what Written returns, so
// the tags the analyzer invalidates by itself (those of tables whose key columns its catalog
// lost) are kept for the next Written to return.
type lostTags struct {
	any  atomic.Bool // tags is not empty: take's lock is taken only then
	mu   sync.Mutex
	tags []string
}

func (*lostTags) InvalidatePaths(context.Context, ...string) error { return nil }

func (l *lostTags) InvalidateTags(_ context.Context, tags ...string) error {
	l.mu.Lock()
	l.tags = append(l.tags, tags...)
	l.any.Store(len(l.tags) > 0)
	l.mu.Unlock()
	return nil
}

// take returns the tags kept, and forgets them.
func (l *lostTags) take() []string {
	if !l.any.Load() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tags := l.tags
	l.tags = nil
	l.any.Store(false)
	return tags
}

var _ dumper.Invalidator = (*lostTags)(nil)
