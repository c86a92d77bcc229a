package dumper

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds of what a cache with [Options.Explain] remembers.
const (
	explainEntries = 4096  // stored responses, the newest kept
	explainTags    = 16384 // tags' last invalidations, the newest kept
	explainList    = 50    // paths listed by a request without ?path=
)

// explainer remembers, within bounds, the tags of the responses this process stored and the
// last invalidation of each tag it invalidated, for [Cache.ExplainHandler]. It is a debugging
// aid: validity is decided by the store's clock, never by what is remembered here.
type explainer struct {
	mu      sync.Mutex
	entries []*explained // ring of the newest stored responses
	next    int
	byPath  map[string][]*explained
	inv     map[string]invalidationNote
	invRing []string
	invNext int
	all     invalidationNote // the latest InvalidateAll; zero if none
}

// explained is a stored response as remembered for explaining it.
type explained struct {
	key, path string
	tags      []string
	status    int
	stored    time.Time
	// previous: what dropped the version of the same key this one replaced (lines of
	// explainPath), nil if none was remembered
	previous []string
}

// invalidationNote is the last invalidation of a tag that this process made.
type invalidationNote struct {
	at     time.Time
	source string // the source (see WithSource) and the function outside package dumper that asked for it
	with   int    // how many tags it invalidated at once
	write  string // the write behind it (see WithWrite); "" if not said
}

func newExplainer() *explainer {
	return &explainer{
		entries: make([]*explained, explainEntries),
		byPath:  map[string][]*explained{},
		inv:     map[string]invalidationNote{},
		invRing: make([]string, explainTags),
	}
}

// stored remembers a response stored under key.
func (x *explainer) stored(key string, e *Entry) {
	if len(e.Tags) == 0 {
		return
	}
	ex := &explained{key: strings.Clone(key), path: e.Tags[0], tags: slices.Clone(e.Tags), status: e.Status, stored: time.Unix(0, e.Stored)}
	x.mu.Lock()
	defer x.mu.Unlock()
	if old := x.entries[x.next]; old != nil {
		x.forget(old)
	}
	x.entries[x.next] = ex
	x.next = (x.next + 1) % len(x.entries)
	list := slices.DeleteFunc(x.byPath[ex.path], func(o *explained) bool {
		if o.key != ex.key {
			return false
		}
		ex.previous = x.droppedBy(o)
		return true
	})
	x.byPath[ex.path] = append(list, ex)
}

// droppedBy describes the invalidations this process made since ex was stored that named
// one of its tags, or everything, sorted. x.mu is held.
func (x *explainer) droppedBy(ex *explained) []string {
	var since []string
	for _, t := range ex.tags {
		if n, ok := x.inv[t]; ok && n.at.After(ex.stored) {
			since = append(since, fmt.Sprintf("    %s at %s by %s%s (%d tags in that invalidation)", describeTag(t), n.at.UTC().Format(time.RFC3339Nano), n.source, n.writeText(), n.with))
		}
	}
	if x.all.at.After(ex.stored) {
		since = append(since, fmt.Sprintf("    everything at %s by %s%s", x.all.at.UTC().Format(time.RFC3339Nano), x.all.source, x.all.writeText()))
	}
	slices.Sort(since)
	return since
}

// writeText is ", for WRITE" if the note knows its write, else "".
func (n invalidationNote) writeText() string {
	if n.write == "" {
		return ""
	}
	return ", for " + strconv.Quote(n.write)
}

func (x *explainer) forget(ex *explained) {
	list := slices.DeleteFunc(x.byPath[ex.path], func(o *explained) bool { return o == ex })
	if len(list) == 0 {
		delete(x.byPath, ex.path)
	} else {
		x.byPath[ex.path] = list
	}
}

// invalidated remembers an invalidation of tags, made by the caller of the cache's
// invalidation method under ctx, which may name its source (see WithSource).
func (x *explainer) invalidated(ctx context.Context, tags []string) {
	note := noteOf(ctx, len(tags))
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range tags {
		if _, known := x.inv[t]; !known {
			if old := x.invRing[x.invNext]; old != "" {
				delete(x.inv, old)
			}
			t = strings.Clone(t)
			x.invRing[x.invNext] = t
			x.invNext = (x.invNext + 1) % len(x.invRing)
		}
		x.inv[t] = note
	}
}

// invalidatedAll remembers an invalidation of everything, made by the caller of
// [Cache.InvalidateAll] under ctx, which may name its source and write.
func (x *explainer) invalidatedAll(ctx context.Context) {
	note := noteOf(ctx, 0)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.all = note
}

// noteOf describes an invalidation of n tags made now under ctx: who asked for it (the source
// ctx names, see WithSource, and the calling function) and for which write (WithWrite).
func noteOf(ctx context.Context, n int) invalidationNote {
	who := caller()
	if src, ok := ctx.Value(sourceKey{}).(source); ok && src.name != "" {
		who = src.name + " (" + who + ")"
	}
	return invalidationNote{at: time.Now(), source: who, with: n, write: writeOf(ctx)}
}

// caller names the first function on the stack outside package dumper's root: who asked for
// an invalidation (gormdumper after a commit, pgnotify's listener, a handler…).
func caller() string {
	var pcs [16]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "github.com/dumperhq/dumper.") {
			return f.Function
		}
		if !more {
			return "unknown"
		}
	}
}

// ExplainHandler returns a handler that says what cached pages depend on and what last
// invalidated them, for a cache created with [Options.Explain]; without it, the handler
// answers 404. Mount it where only operators reach it: it shows table names and key values
// (never the values of the request headers a page varies on).
//
// GET ?path=/icecream/vanilla lists every variant of that path that this process stored
// (the newest few thousand responses are remembered), each with whether the store still
// holds it, its tags in readable form ("ice_creams slug=vanilla", "sizes id 1, 2",
// "ice_creams (any row)"), and, for one that was dropped, the invalidations since it was
// stored that named one of its tags, or invalidated everything ([Cache.InvalidateAll]): which
// tag, when, which function asked for it and, if the caller said ([WithWrite]), which write.
// A response rendered again after one was dropped lists what dropped the version it replaced
// too. Without
// ?path=, it lists the paths of the newest stored responses. Only this process's
// invalidations are known; another instance's show as dropped without a known cause.
func (c *Cache) ExplainHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := c.explain
		switch {
		case x == nil:
			http.Error(w, "dumper: explaining is off (Options.Explain)", http.StatusNotFound)
			return
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "dumper: method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		p := r.URL.Query().Get("path")
		if p == "" {
			fmt.Fprint(w, x.recent())
			return
		}
		tag, err := NormalizePath(p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, x.explainPath(r.Context(), c.store, tag))
	})
}

func (x *explainer) recent() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var b strings.Builder
	b.WriteString("newest stored paths (?path= to explain one):\n")
	seen := map[string]bool{}
	for i := 1; i <= len(x.entries) && len(seen) < explainList; i++ {
		ex := x.entries[(x.next-i+len(x.entries))%len(x.entries)]
		if ex == nil {
			break
		}
		if !seen[ex.path] {
			seen[ex.path] = true
			fmt.Fprintf(&b, "  %s\n", ex.path)
		}
	}
	return b.String()
}

func (x *explainer) explainPath(ctx context.Context, s Store, tag string) string {
	x.mu.Lock()
	list := slices.Clone(x.byPath[tag])
	since := make([][]string, len(list))
	for i, ex := range list {
		since[i] = x.droppedBy(ex)
	}
	x.mu.Unlock()
	var b strings.Builder
	if len(list) == 0 {
		fmt.Fprintf(&b, "%s: no response stored by this process is remembered\n", tag)
		return b.String()
	}
	for i, ex := range list {
		held := "dropped"
		if l, err := s.Get(ctx, ex.key); err != nil {
			held = "unknown (store error: " + err.Error() + ")"
		} else if l.Entry != nil && l.Entry.Stored == ex.stored.UnixNano() {
			held = "cached"
		} else if l.Entry != nil {
			held = "replaced by a newer render"
		}
		fmt.Fprintf(&b, "%s\n  variant %s\n  status %d, stored %s: %s\n  depends on:\n", ex.path, variantOf(ex.key), ex.status, ex.stored.UTC().Format(time.RFC3339Nano), held)
		for _, line := range describeTags(ex.tags) {
			fmt.Fprintf(&b, "    %s\n", line)
		}
		if len(since[i]) > 0 {
			b.WriteString("  invalidated since it was stored:\n")
			b.WriteString(strings.Join(since[i], "\n"))
			b.WriteByte('\n')
		} else if held == "dropped" {
			b.WriteString("  no invalidation by this process named its tags since: another instance, an expiry or an eviction\n")
		}
		if len(ex.previous) > 0 {
			b.WriteString("  the version it replaced was dropped by:\n")
			b.WriteString(strings.Join(ex.previous, "\n"))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// variantOf describes which variant of a page a key is, without the values of the request
// headers it holds, which may be secrets (a Cookie, an Authorization a response varies on):
// the names of those headers only, and whether each was absent.
func variantOf(key string) string {
	parts := strings.Split(key, "\x00")
	if len(parts) == 1 {
		return "(the only one)"
	}
	var names []string
	for _, p := range parts[1:] {
		switch name, _, found := strings.Cut(p, "="); {
		case found:
			names = append(names, name+"=…")
		case strings.HasSuffix(p, "!"):
			names = append(names, strings.TrimSuffix(p, "!")+" absent")
		case p != "" && p[0] == ' ':
			names = append(names, "rewritten URL")
		}
	}
	return strings.Join(names, ", ")
}

// describeTags groups tags for people: a path, then per table its row tags by column, its
// scan tag, and other tags as they are.
func describeTags(tags []string) []string {
	type table struct {
		cols map[string][]string
		scan bool
	}
	tables := map[string]*table{}
	var out, other []string
	get := func(name string) *table {
		t := tables[name]
		if t == nil {
			t = &table{cols: map[string][]string{}}
			tables[name] = t
		}
		return t
	}
	for _, tag := range tags {
		switch {
		case strings.HasPrefix(tag, "/"):
			out = append(out, "path "+tag)
		case tag == DatabaseTag:
			other = append(other, "every table (writes the capture cannot attribute)")
		case strings.HasPrefix(tag, "row:"):
			tbl, col, val, ok := splitRowTag(tag)
			if !ok {
				other = append(other, tag)
				continue
			}
			t := get(tbl)
			t.cols[col] = append(t.cols[col], val)
		case strings.HasPrefix(tag, "scan:"):
			get(unescape(tag[len("scan:"):])).scan = true
		case strings.HasPrefix(tag, "table:"):
			get(unescape(tag[len("table:"):]))
		default:
			other = append(other, "tag "+tag)
		}
	}
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := tables[n]
		if t.scan {
			out = append(out, n+" (any row)")
		}
		cols := make([]string, 0, len(t.cols))
		for c := range t.cols {
			cols = append(cols, c)
		}
		slices.Sort(cols)
		for _, c := range cols {
			vals := t.cols[c]
			slices.Sort(vals)
			if len(vals) == 1 {
				out = append(out, n+" "+c+"="+vals[0])
			} else {
				out = append(out, n+" "+c+" "+strings.Join(vals, ", "))
			}
		}
		if !t.scan && len(cols) == 0 {
			out = append(out, n+" (bulk writes only)")
		}
	}
	slices.Sort(other)
	return append(out, other...)
}

// describeTag is describeTags for one tag.
func describeTag(tag string) string {
	if d := describeTags([]string{tag}); len(d) == 1 {
		return d[0]
	}
	return tag
}

// splitRowTag splits "row:" + table + ":" + column + "=" + value, each escaped.
func splitRowTag(tag string) (table, column, value string, ok bool) {
	rest := tag[len("row:"):]
	table, rest, ok = strings.Cut(rest, ":")
	if !ok {
		return "", "", "", false
	}
	column, value, ok = strings.Cut(rest, "=")
	if !ok {
		return "", "", "", false
	}
	return unescape(table), unescape(column), unescape(value), true
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
