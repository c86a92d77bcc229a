package gormdumper

import (
	"context"
	"errors"
	"fmt"
)

// batch is a set of paths and tags to invalidate, in the order they were added.
type batch struct {
	paths, tags []string
	seen        map[string]struct{} // "p"+path, "t"+tag
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
}

func (b *batch) empty() bool { return len(b.paths) == 0 && len(b.tags) == 0 }

// invalidate sends b to the invalidator: the paths, then the tags.
func (p *Plugin) invalidate(ctx context.Context, b *batch) error {
	var errs []error
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
