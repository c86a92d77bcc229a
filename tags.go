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
	if len(tags) > 2 {
		slices.Sort(tags[1:])
		tags = slices.Compact(tags)
		// The path may now appear twice if a handler tagged with it; harmless.
	}
	return tags
}
