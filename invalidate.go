package dumper

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"
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
// A path is written as in a link, percent-encoded ("/icecream/cr%C3%A8me"), or in raw UTF-8
// ("/icecream/crème"), which cannot be mistaken for an escape: both name the same page (see
// [NormalizePath]). A "%" or a "?", though, reads two ways: "/product/50%41off" is the link to
// the page of slug "50Aoff", and also "/product/" + a slug "50%41off", whose page is
// "/product/50%2541off"; "/search/what?" is the page "/search/what" and also the page of a
// slug "what?". So that an invalidation is never lost, a path holding a "%" or a "?" is
// invalidated under both readings, as a link (the tag NormalizePath returns) and as raw text
// (every byte standing for itself), at the cost of one more tag. A path holding an escape that
// URL encoders do not produce — of an unreserved character, as "%41", or in lower-case hex,
// as "%c3" — was most likely built by pasting a raw value into a path: it is invalidated all
// the same, and the cache's Logger gets a warning naming it. Build paths of raw values with
// [Path], whose result means one page and is never warned about.
//
// Invalid paths are reported in the returned error (wrapping [ErrInvalidPath]); the valid ones
// are invalidated all the same.
//
// When InvalidatePaths returns nil, no request that starts afterwards is served a response
// whose rendering started before the call.
func (c *Cache) InvalidatePaths(ctx context.Context, paths ...string) error {
	tags := make([]string, 0, len(paths))
	var errs []error
	for _, p := range paths {
		var err error
		if tags, err = c.appendPathTags(ctx, tags, p, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.invalidate(ctx, tags); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// appendPathTags appends the tags of both readings of path p (see [Cache.InvalidatePaths]) to
// tags, and warns about a suspect one; model, if not nil, declared p.
func (c *Cache) appendPathTags(ctx context.Context, tags []string, p string, model any) ([]string, error) {
	asLink, asText, suspect, err := pathReadings(p)
	if err != nil {
		if model != nil {
			err = fmt.Errorf("%w (declared by %T)", err, model)
		}
		return tags, err
	}
	tags = append(tags, asLink)
	if asText != asLink {
		tags = append(tags, asText)
	}
	if suspect {
		attrs := []any{"path", p, "tags", []string{asLink, asText}}
		if model != nil {
			attrs = append(attrs, "model", fmt.Sprintf("%T", model))
		}
		c.log.WarnContext(ctx, "dumper: ambiguous path, invalidated both as a link and as raw text; build paths of raw values with dumper.Path", attrs...)
	}
	return tags, nil
}

// InvalidateTags drops every cached response carrying one of tags (see [Tag] and
// [Policy.TagHeader]). A tag that starts with "/" is a path's tag, as [NormalizePath] returns
// it: it names the responses to that path, and is used as given, without normalization.
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
// declares the paths of its ice creams. Paths are read as [Cache.InvalidatePaths] reads them;
// build them with [Path].
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
			if tags, err = c.appendPathTags(ctx, tags, p, m); err != nil {
				errs = append(errs, err)
			}
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
	start := c.storeStart()
	err := c.store.Invalidate(ctx, tags...)
	if start != (time.Time{}) {
		c.observeInvalidation(ctx, tags, false, start, err)
	}
	if err != nil {
		c.stats.errors.Add(1)
		c.log.ErrorContext(ctx, "dumper: invalidation failed", "tags", tags, "err", err)
		return fmt.Errorf("dumper: invalidate: %w", err)
	}
	c.stats.invalidations.Add(uint64(len(tags)))
	if c.explain != nil {
		c.explain.invalidated(ctx, tags)
	}
	return nil
}
