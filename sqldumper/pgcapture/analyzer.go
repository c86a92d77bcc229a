package pgcapture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/maypok86/otter/v2"
)

// DatabaseTag is the tag every read recorded by the capture carries, and that a write the
// capture cannot attribute to tables stamps: SQL the parser rejects, a statement that runs
// code the text does not show (CALL, DO, EXECUTE, a volatile user function, a table with
// triggers), a schema change. Such a write invalidates every page the capture recorded.
// [dumper.TableTag] never gives it: it would spell the name "*" as "%2A".
const DatabaseTag = dumper.DatabaseTag

// ErrInvalidation is wrapped by the errors of invalidations that failed.
var ErrInvalidation = errors.New("pgcapture: invalidation failed")

// Options configure an [Analyzer]. The zero value is ready to use.
type Options struct {
	// OnError, if not nil, is called with each error of the capture: a failed invalidation
	// (wrapping [ErrInvalidation]) or a failed catalog query. The statement it concerns has
	// been handled safely all the same: its read keeps the response out of the cache, its
	// write stamps [DatabaseTag]. Nil means the error is only logged.
	OnError func(ctx context.Context, err error)

	// Logger receives the same errors, at Error level. Nil means no logging.
	Logger *slog.Logger

	// FailWrites makes a write whose invalidation failed, when it was made, return that
	// error (wrapping [ErrInvalidation]) in addition to its own outcome: the write has been
	// made. The invalidation after commit never fails anything. By default a failed
	// invalidation is only reported: the store owns that failure, and failing the writes
	// while it is down would turn a cache outage into a write outage.
	FailWrites bool

	// PureFunctions names user-defined functions (without schema) that read and write no
	// table whatever their declared volatility, such as uuid_generate_v4. Other functions
	// defined outside pg_catalog are judged by their volatility: IMMUTABLE ones read
	// nothing, STABLE ones may read any table (a read calling one is not stored), VOLATILE
	// ones may also write any table (a statement calling one stamps DatabaseTag).
	PureFunctions []string

	// MaxShapeBytes bounds the memory of the analyses cached, one per distinct SQL text,
	// each counted for what it keeps with its plan: its text, half a KiB, and a share of each
	// value, row, relation, condition and routine it names (48 bytes a value: a 3,000-row
	// INSERT … VALUES counts about 400 KiB), within 0.8 to 1.2 times the heap it retains.
	// Zero means 16 MiB: about 8,000 statements of a web application (1 to 3 KiB each).
	// Texts longer than 64 KiB are analysed each time, never cached.
	MaxShapeBytes int64
}

// An Analyzer classifies PostgreSQL statements for automatic dependency capture: it records
// the reads made during a render ([Analyzer.Read]) and invalidates what writes change
// ([Session]). It caches the shape of each distinct SQL text and what the catalog says of each
// relation; it is safe for concurrent use.
type Analyzer struct {
	inv        dumper.Invalidator
	cat        catalog
	shapes     *otter.Cache[string, *Shape]
	pure       map[string]bool
	onError    func(context.Context, error)
	log        *slog.Logger
	failWrites bool
}

// maxCachedSQL is the longest SQL text whose shape is cached.
const maxCachedSQL = 64 << 10

// New returns an Analyzer that invalidates through inv and reads the catalog with load. opts
// may be nil; it is not retained. It panics if inv or load is nil.
func New(inv dumper.Invalidator, load Loader, opts *Options) *Analyzer {
	if inv == nil || load == nil {
		panic("pgcapture: New needs an Invalidator and a Loader")
	}
	if opts == nil {
		opts = &Options{}
	}
	size := opts.MaxShapeBytes
	if size <= 0 {
		size = 16 << 20
	}
	a := &Analyzer{
		inv: inv,
		cat: catalog{load: load},
		shapes: otter.Must(&otter.Options[string, *Shape]{
			MaximumWeight: uint64(size),
			Weigher:       shapeWeight,
		}),
		pure:       map[string]bool{},
		onError:    opts.OnError,
		log:        opts.Logger,
		failWrites: opts.FailWrites,
	}
	for _, f := range opts.PureFunctions {
		a.pure[f] = true
	}
	a.cat.lost = a.keysLost
	return a
}

// keysLost drops the pages that read tables narrowed by a key column the catalog no longer
// gives them (a migration dropped its unique index, then Refresh): writes no longer stamp its
// row tags. It stamps the tables' tags.
func (a *Analyzer) keysLost(ctx context.Context, tables []string) {
	tags := make([]string, len(tables))
	for i, t := range tables {
		tags[i] = dumper.TableTag(t)
	}
	_ = a.invalidate(ctx, tags, "key columns changed on "+strings.Join(tables, ", "))
}

// Shape returns the shape of sql, parsed once per distinct text.
func (a *Analyzer) Shape(sql string) *Shape {
	if sh, ok := a.shapes.GetIfPresent(sql); ok {
		return sh
	}
	sh := parse(sql)
	if len(sql) <= maxCachedSQL {
		a.shapes.Set(sql, sh)
	}
	return sh
}

// Effects reports whether a statement of shape sh must be passed to [Session.Done] once it
// has run: [Shape.Effects], less the statements whose plan for the current catalog, already
// made, changes nothing (a SELECT calls operators, such as the = of WHERE id = $1, that the
// catalog shows write nothing). It consults only what is cached: a shape not yet resolved
// against the current catalog counts by its text, and Done resolves it.
func (a *Analyzer) Effects(sh *Shape) bool {
	if !sh.effects {
		return false
	}
	p := sh.plan.Load()
	return p == nil || p.gen != a.cat.generation() || p.effects
}

// Refresh forgets what the catalog said: key columns, views, triggers, routines. Statements
// are resolved again when next used. Schema changes made through a captured connection
// refresh it by themselves; call Refresh after one made elsewhere. A table that the catalog,
// read again, gives fewer key columns (or one of another kind) has its pages dropped, once:
// its table tag is invalidated, since its writes no longer stamp the row tags of the column
// lost, by which pages may have read it.
func (a *Analyzer) Refresh() { a.cat.refresh() }

// catalogContext bounds a catalog query, which a cancelled request must not cut short.
func catalogContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// Read records, for the response being rendered with ctx, what the statement of shape sh
// reads with args ($1 is args[0]): for each table, its rows by key ([dumper.ReadRows]) or the
// whole table ([dumper.ReadTable]), and [DatabaseTag]. A statement it cannot classify, a
// write, and a read of what no captured write changes (a foreign table, a sequence, a table
// with row-level security, a STABLE user function) keep the response out of the cache
// ([dumper.NoStore]). Outside a render it does nothing; callers that must convert the
// arguments first check [dumper.Rendering] to skip that work.
func (a *Analyzer) Read(ctx context.Context, sh *Shape, args []any) {
	if !sh.reads || !dumper.Rendering(ctx) {
		return
	}
	a.record(ctx, sh, args, nil)
}

// A recorder receives what a read made with ctx records, in place of the response being
// rendered: a test's. rows and table stand for the response's [DatabaseTag] too.
type recorder interface {
	rows(ctx context.Context, rp *readPlan, values []string) // rp read narrowed to values
	table(ctx context.Context, rp *readPlan)                 // rp read whole
	tag(ctx context.Context, tag string)
	noStore(ctx context.Context)
}

// record records what reading sh with args reads: in the response being rendered with ctx,
// with the tags its plan built, when rec is nil; in rec otherwise.
func (a *Analyzer) record(ctx context.Context, sh *Shape, args []any, rec recorder) {
	p, err := a.resolve(ctx, sh)
	if err != nil {
		a.report(ctx, err)
		noStore(ctx, rec)
		return
	}
	if p.noStore {
		noStore(ctx, rec)
		return
	}
	if len(p.reads) == 0 {
		// The reads' Record add it themselves, as dumper.ReadRows does.
		if rec == nil {
			dumper.Tag(ctx, DatabaseTag)
		} else {
			rec.tag(ctx, DatabaseTag)
		}
	}
	var buf [8]string // the values of a read, on the stack: Record copies them
	for i := range p.reads {
		rp := &p.reads[i]
		if rp.col == "" {
			if rec == nil {
				rp.read.Record(ctx)
			} else {
				rec.table(ctx, rp)
			}
			continue
		}
		vals, ok := rp.values(buf[:0], args)
		switch {
		case ok && rec == nil:
			rp.read.Record(ctx, vals...)
		case ok:
			rec.rows(ctx, rp, slices.Clone(vals))
		case rec == nil:
			dumper.ReadTable(ctx, rp.table)
		default:
			rec.table(ctx, rp)
		}
	}
}

func noStore(ctx context.Context, rec recorder) {
	if rec == nil {
		dumper.NoStore(ctx)
	} else {
		rec.noStore(ctx)
	}
}

// maxReadValues bounds the row tags of one read, as dumper bounds them per response.
const maxReadValues = 256

// values appends to dst the canonical texts of the values the read is narrowed to with args,
// or returns false if one of them does not convert or there are too many.
func (rp *readPlan) values(dst []string, args []any) ([]string, bool) {
	if rp.array != nil {
		vals, ok := rp.array.elements(rp.kind, args)
		return vals, ok && len(vals) <= maxReadValues
	}
	if len(rp.vals) > maxReadValues {
		return nil, false
	}
	vals := dst
	for _, v := range rp.vals {
		if v.isNull(args) {
			continue // matches no row
		}
		c, ok := v.canonical(rp.kind, args)
		if !ok {
			return nil, false
		}
		vals = append(vals, c)
	}
	return vals, true
}

// Source is the [dumper.InvalidationEvent] source of the invalidations of the SQL capture
// (sqldumper and pgxdumper), made as a transaction commits or an autocommit write returns.
const Source = "sql"

// invalidate stamps tags, for the writes that write describes ("" if not known),
// reporting a failure.
func (a *Analyzer) invalidate(ctx context.Context, tags []string, write string) error {
	if len(tags) == 0 {
		return nil
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	ctx = dumper.WithSource(context.WithoutCancel(ctx), Source, time.Now())
	if write != "" {
		ctx = dumper.WithWrite(ctx, write)
	}
	if err := a.inv.InvalidateTags(ctx, tags...); err != nil {
		err = fmt.Errorf("%w: %w", ErrInvalidation, err)
		a.report(ctx, err, "tags", tags)
		return err
	}
	return nil
}

func (a *Analyzer) report(ctx context.Context, err error, attrs ...any) {
	if a.log != nil {
		a.log.ErrorContext(ctx, err.Error(), attrs...)
	}
	if a.onError != nil {
		a.onError(ctx, err)
	}
}
