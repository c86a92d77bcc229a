package dumper

import (
	"context"
	"net/textproto"
	"slices"
	"strings"
	"sync"
)

// Tag attaches tags to the response being rendered for the request whose context is ctx, so
// that [Cache.InvalidateTags] with any of them drops it. It does nothing outside a dumper
// middleware or when the response is served from the cache. Data-access code that only gets
// a context can call it too.
//
// A response can also list tags in a header; see [Policy.TagHeader].
func Tag(ctx context.Context, tags ...string) {
	if ts, ok := ctx.Value(tagsKey{}).(*tagSet); ok {
		ts.add(tags...)
	}
}

type tagsKey struct{}

// tagSet collects the tags a handler attaches while it renders.
type tagSet struct {
	mu   sync.Mutex
	tags []string
}

func (ts *tagSet) add(tags ...string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, t := range tags {
		if t != "" {
			ts.tags = append(ts.tags, t)
		}
	}
}

// entryTags returns the tags of a response: its path first, then the tags attached through
// the context and those listed in the tag header, without duplicates.
func entryTags(path string, ts *tagSet, header []string) []string {
	tags := []string{path}
	ts.mu.Lock()
	tags = append(tags, ts.tags...)
	ts.mu.Unlock()
	for _, line := range header {
		tags = append(tags, strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t'
		})...)
	}
	if len(tags) > 2 {
		slices.Sort(tags[1:])
		tags = slices.Compact(tags)
		// The path may now appear twice if a handler tagged with it; harmless.
	}
	return tags
}

// parseVary returns the canonical, sorted, distinct header names of a response's Vary field
// lines, and whether one of them is "*".
func parseVary(lines []string) (names []string, star bool) {
	for _, line := range lines {
		for _, f := range strings.Split(line, ",") {
			f = strings.TrimSpace(f)
			switch f {
			case "":
			case "*":
				star = true
			default:
				names = append(names, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), star
}
