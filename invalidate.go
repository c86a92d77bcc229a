package dumper

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
)

// ErrNoDependencies is wrapped by the error of [Dependencies] and [Cache.Invalidate] for a
// value that declares neither paths nor tags.
var ErrNoDependencies = errors.New("dumper: no DependentPaths or DependentTags method")

// An Invalidator drops cached responses by path and by tag. *Cache satisfies it; the
// integrations (gormdumper, pgnotify) take one, so that tests and composite setups (several
// caches in front of one database) can pass their own.
type Invalidator interface {
	InvalidatePaths(ctx context.Context, paths ...string) error
	InvalidateTags(ctx context.Context, tags ...string) error
}

var _ Invalidator = (*Cache)(nil)

// InvalidatePaths drops every cached variant of each path: every query string, every value
// of the headers its responses vary on, GET and HEAD, on every host. It costs one store
// operation whatever the number of variants.
//
// Paths are normalized with [NormalizePath]. Invalid ones are reported in the returned error
// (wrapping [ErrInvalidPath]); the valid ones are invalidated all the same.
//
// When InvalidatePaths returns nil, no request that starts afterwards is served a response
// whose rendering started before the call.
func (c *Cache) InvalidatePaths(ctx context.Context, paths ...string) error {
	tags := make([]string, 0, len(paths))
	var errs []error
	for _, p := range paths {
		n, err := NormalizePath(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tags = append(tags, n)
	}
	if err := c.invalidate(ctx, tags); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// InvalidateTags drops every cached response carrying one of tags (see [Tag] and
// [Policy.TagHeader]). A tag that starts with "/" is a path's tag: it names the same
// responses as that path does for [Cache.InvalidatePaths], without normalization.
//
// An empty tag is reported in the returned error; the others are invalidated all the same.
func (c *Cache) InvalidateTags(ctx context.Context, tags ...string) error {
	var err error
	if slices.Contains(tags, "") {
		err = errors.New("dumper: empty tag")
		tags = slices.DeleteFunc(slices.Clone(tags), func(t string) bool { return t == "" })
	}
	return errors.Join(err, c.invalidate(ctx, tags))
}

// Invalidate drops every response that depends on the given models: the paths and tags that
// each declares (see [Dependencies]), in one store operation. Paths of related objects are
// simply part of what a model declares: an ice cream's page may list its sizes, so a size
// declares the paths of its ice creams.
func (c *Cache) Invalidate(ctx context.Context, models ...any) error {
	var tags []string
	var errs []error
	for _, m := range models {
		paths, mt, err := Dependencies(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range paths {
			n, err := NormalizePath(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w (declared by %T)", err, m))
				continue
			}
			tags = append(tags, n)
		}
		tags = append(tags, mt...)
	}
	if err := c.invalidate(ctx, tags); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Dependencies returns the paths and tags that model declares through a method
// DependentPaths and a method DependentTags, each returning []string or iter.Seq[string].
// A model may have either or both; one that returns nothing is valid. A model with neither
// gives an error wrapping [ErrNoDependencies].
func Dependencies(model any) (paths, tags []string, err error) {
	var okPaths, okTags bool
	switch m := model.(type) {
	case interface{ DependentPaths() []string }:
		paths, okPaths = m.DependentPaths(), true
	case interface{ DependentPaths() iter.Seq[string] }:
		paths, okPaths = collect(m.DependentPaths()), true
	}
	switch m := model.(type) {
	case interface{ DependentTags() []string }:
		tags, okTags = m.DependentTags(), true
	case interface{ DependentTags() iter.Seq[string] }:
		tags, okTags = collect(m.DependentTags()), true
	}
	if !okPaths && !okTags {
		return nil, nil, fmt.Errorf("%w: %T", ErrNoDependencies, model)
	}
	if slices.Contains(tags, "") {
		return nil, nil, fmt.Errorf("dumper: %T declares an empty tag", model)
	}
	return paths, tags, nil
}

func collect(seq iter.Seq[string]) []string {
	if seq == nil {
		return nil
	}
	return slices.Collect(seq)
}

// invalidate sends one invalidation of the distinct tags to the store.
func (c *Cache) invalidate(ctx context.Context, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	if len(tags) > 1 {
		tags = slices.Clone(tags)
		slices.Sort(tags)
		tags = slices.Compact(tags)
	}
	if err := c.store.Invalidate(ctx, tags...); err != nil {
		c.stats.errors.Add(1)
		c.log.ErrorContext(ctx, "dumper: invalidation failed", "tags", tags, "err", err)
		return fmt.Errorf("dumper: invalidate: %w", err)
	}
	c.stats.invalidations.Add(uint64(len(tags)))
	return nil
}
