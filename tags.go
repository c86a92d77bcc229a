package dumper

import (
	"context"
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
	if rs, ok := ctx.Value(renderKey{}).(*renderState); ok {
		rs.addTags(tags)
	}
}

// NoStore keeps the response being rendered for the request whose context is ctx out of the
// cache, as Cache-Control: private would, without telling browsers anything. Call it from
// code that makes a page depend on who asks — a session cookie, say — when the response
// does not say Vary: Cookie.
func NoStore(ctx context.Context) {
	if rs, ok := ctx.Value(renderKey{}).(*renderState); ok {
		rs.mu.Lock()
		rs.noStore = true
		rs.mu.Unlock()
	}
}

type renderKey struct{}

// renderState is what a handler's code can reach, through the request's context, of the
// render a middleware is capturing: the tags it attaches and whether it may be stored. It
// also lets a middleware of the same cache nested inside (a route's own policy inside a
// site-wide one) hand its policy to the render instead of caching a second time.
type renderState struct {
	c  *Cache
	cw *captureWriter

	mu        sync.Mutex
	tags      []string
	noStore   bool
	captured  bool        // a captured read was recorded (see startCapture)
	rowValues []tableRead // per table read: row tags attached, or -1 once it is a scan

	// Room for the tags and table reads of a typical captured page, so that capture costs
	// no allocation of its own for them.
	tagBuf  [16]string
	readBuf [4]tableRead
	// arena holds the bytes of the row tags made in the render (see rowTag).
	arena    []byte
	arenaBuf [512]byte
}

func (rs *renderState) addTags(tags []string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, t := range tags {
		rs.addTagLocked(t)
	}
}

func (rs *renderState) addTagLocked(t string) {
	if t != "" {
		rs.tags = append(rs.tags, t)
	}
}

// dependent reports whether the render recorded a captured read or a tag.
func (rs *renderState) dependent() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.tags) > 0
}

func (rs *renderState) storable() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return !rs.noStore
}

// entryTags returns the tags of a response: its path first, then the tags attached through
// the context and those listed in the tag header, without duplicates.
func entryTags(path string, rs *renderState, header []string) []string {
	tags := []string{path}
	rs.mu.Lock()
	tags = append(tags, rs.tags...)
	rs.mu.Unlock()
	for _, line := range header {
		tags = append(tags, strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t'
		})...)
	}
	switch {
	case len(tags) <= 2:
	case len(tags) <= smallTags:
		tags = dedupe(tags[:1], tags[1:]) // in place: fewer comparisons than a sort's
	default:
		slices.Sort(tags[1:])
		tags = slices.Compact(tags)
	}
	// The path may appear twice if a handler tagged with it; harmless.
	return tags
}

// smallTags is the number of tags up to which entryTags removes duplicates by comparing each
// tag with those kept (equality fails fast on lengths), rather than by sorting them.
const smallTags = 32

// dedupe appends to kept each of tags that is not among those appended before it. kept may
// share tags' array, ending where tags begins.
func dedupe(kept, tags []string) []string {
	n := len(kept)
next:
	for _, t := range tags {
		for _, k := range kept[n:] {
			if k == t {
				continue next
			}
		}
		kept = append(kept, t)
	}
	return kept
}
