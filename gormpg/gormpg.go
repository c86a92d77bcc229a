package gormpg

import (
	"context"
	"database/sql"

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
	an *pgcapture.Analyzer
}

var _ gormdumper.WriteAnalyzer = (*Analyzer)(nil)

// New returns an Analyzer that reads the catalog over db, the *sql.DB under the GORM database
// (gorm.DB.DB), with the pgx driver GORM's postgres dialector uses. opts may be nil.
//
// Catalog queries take a connection of db's pool of their own, once per relation: a pool
// limited to one connection (SetMaxOpenConns(1)) would wait for it forever while a
// transaction holds it.
func New(db *sql.DB, opts *Options) *Analyzer {
	return &Analyzer{an: pgcapture.New(nopInvalidator{}, pgcapture.DBLoader(db), opts)}
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
// [pgcapture.Analyzer.Stamps].
func (a *Analyzer) Written(ctx context.Context, sql string, vars []any, err error) []string {
	sh := a.an.Shape(sql)
	if !sh.Effects() {
		return nil
	}
	return a.an.Stamps(ctx, sh, vars, err)
}

// Refresh forgets what the analyzer read of the catalog; see [pgcapture.Analyzer.Refresh].
// Schema changes made through GORM's Exec refresh it by themselves.
func (a *Analyzer) Refresh() { a.an.Refresh() }

// nopInvalidator is the analyzer's invalidator, which it never calls: gormdumper invalidates
// what Written returns.
type nopInvalidator struct{}

func (nopInvalidator) InvalidatePaths(context.Context, ...string) error { return nil }
func (nopInvalidator) InvalidateTags(context.Context, ...string) error  { return nil }

var _ dumper.Invalidator = nopInvalidator{}
