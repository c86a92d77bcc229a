package gormdumper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm"
)

// batch is a set of paths and tags to invalidate, in the order they were added.
type batch struct {
	paths, tags []string
	seen        map[string]struct{} // "p"+path, "t"+tag

	// keyVersions: the version of the key columns of each table whose rows' change tags
	// the batch holds, when they were computed. If a table has gained key columns since
	// (a model seen for the first time), the batch stamps its table tag too: a read may
	// already be narrowed by a column the change tags lack.
	keyVersions map[string]uint64

	// writes describe the statements behind the batch (see describeWrite), for
	// dumper.WithWrite.
	writes []string
}

func (b *batch) add(kind byte, vs []string, dst *[]string) {
	for _, v := range vs {
		k := string(kind) + v
		if _, ok := b.seen[k]; ok {
			continue
		}
		if b.seen == nil {
			b.seen = make(map[string]struct{})
		}
		b.seen[k] = struct{}{}
		*dst = append(*dst, v)
	}
}

func (b *batch) addPaths(paths ...string) { b.add('p', paths, &b.paths) }
func (b *batch) addTags(tags ...string)   { b.add('t', tags, &b.tags) }

func (b *batch) merge(o *batch) {
	b.addPaths(o.paths...)
	b.addTags(o.tags...)
	for t, v := range o.keyVersions {
		b.noteKeys(t, v)
	}
	for _, w := range o.writes {
		switch {
		case len(b.writes) < maxWrites:
			b.writes = append(b.writes, w)
		case len(b.writes) == maxWrites:
			b.writes = append(b.writes, "…")
		}
	}
}

// maxWrites is how many statements a batch describes; past it, "…".
const maxWrites = 4

// maxDescribed is how many bytes of a statement's SQL describeWrite keeps.
const maxDescribed = 160

// describeWrite describes the write statement of db for dumper.WithWrite: its SQL text as
// GORM sent it (with its placeholders, never its arguments), cut to maxDescribed bytes, and
// the rows it affected, or that it failed.
func describeWrite(db *gorm.DB) string {
	stmt := db.Statement
	sql := strings.Join(strings.Fields(stmt.SQL.String()), " ")
	if sql == "" {
		sql = "write to " + writeTable(stmt)
	}
	if len(sql) > maxDescribed {
		sql = strings.ToValidUTF8(sql[:maxDescribed], "") + "…"
	}
	switch {
	case db.Error != nil:
		return sql + " (failed)"
	case db.RowsAffected == 1:
		return sql + " (1 row)"
	}
	return fmt.Sprintf("%s (%d rows)", sql, db.RowsAffected)
}

// noteKeys records that the batch holds change tags of table computed with version v of its
// key columns.
func (b *batch) noteKeys(table string, v uint64) {
	if old, ok := b.keyVersions[table]; ok && old <= v {
		return
	}
	if b.keyVersions == nil {
		b.keyVersions = map[string]uint64{}
	}
	b.keyVersions[table] = v
}

func (b *batch) empty() bool { return len(b.paths) == 0 && len(b.tags) == 0 }

// Source is the [dumper.InvalidationEvent] source of the plugin's invalidations.
const Source = "gorm"

// invalidate sends b to the invalidator: the paths, then the tags.
func (p *Plugin) invalidate(ctx context.Context, b *batch) error {
	for t, v := range b.keyVersions {
		if p.keys.version(t) != v {
			b.addTags(dumper.TableTag(t))
		}
	}
	var errs []error
	ctx = dumper.WithSource(ctx, Source, time.Now())
	if len(b.writes) > 0 {
		ctx = dumper.WithWrite(ctx, strings.Join(b.writes, "; "))
	}
	if len(b.paths) > 0 {
		if err := p.inv.InvalidatePaths(ctx, b.paths...); err != nil {
			errs = append(errs, err)
		}
	}
	if len(b.tags) > 0 {
		if err := p.inv.InvalidateTags(ctx, b.tags...); err != nil {
			errs = append(errs, err)
		}
	}
	p.log.DebugContext(ctx, "gormdumper: invalidated", "paths", b.paths, "tags", b.tags)
	return errors.Join(errs...)
}

// afterCommit invalidates b once more after its transaction committed. An error can only be
// reported, and is returned for the CommitRecorder: the data is committed.
func (p *Plugin) afterCommit(ctx context.Context, b *batch) error {
	err := p.invalidate(ctx, b)
	if err != nil {
		err = fmt.Errorf("%w after commit: %w", ErrInvalidation, err)
		p.report(ctx, b, "gormdumper: invalidation after commit failed; pages rendered while the transaction was open may be stale", err)
	}
	return err
}

// report logs a failed invalidation of b with msg and passes err to Options.OnError.
func (p *Plugin) report(ctx context.Context, b *batch, msg string, err error) {
	p.log.ErrorContext(ctx, msg, "paths", b.paths, "tags", b.tags, "err", err)
	if p.onError != nil {
		p.onError(ctx, err)
	}
}
