package dumper

import (
	"iter"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Header is the header of a stored response, as sent to clients: a list of fields, each a
// name with its values, in the order of their names. It is immutable, and holds its own copy
// of every name and value: a Header keeps no memory of the map it was made from. The zero
// Header has no fields.
//
// Headers that the cache builds are compact: the names, and the values that repeat from one
// response to the next (Content-Type, Cache-Control, Vary…), are shared by every entry of one
// cache that has them; an entry keeps only its own values (ETag, Content-Length…).
type Header struct {
	s   *headerShape
	own *string // the first of the s.own values that belong to this header alone
}

// NewHeader returns a Header holding a copy of h. Names are kept as they are in h; a hit
// sends them as they are.
func NewHeader(h http.Header) Header { return buildHeader(nil, h, nil) }

// Len returns the number of fields.
func (h Header) Len() int {
	if h.s == nil {
		return 0
	}
	return len(h.s.fields)
}

// Values returns the values of the field named name (in canonical form, as the cache stores
// names), or nil if there is none. The slice is shared: it must not be modified.
func (h Header) Values(name string) []string {
	if h.s == nil {
		return nil
	}
	if b := shapeBit(name); b != 0 && h.s.has&b == 0 {
		return nil
	}
	own := h.ownValues()
	for i := range h.s.fields {
		f := &h.s.fields[i]
		if f.own == 0 {
			if f.name == name {
				return f.values
			}
			continue
		}
		if f.name == name {
			return own[:f.own:f.own]
		}
		own = own[f.own:]
	}
	return nil
}

// Get returns the first value of the field named name, or "".
func (h Header) Get(name string) string {
	if vs := h.Values(name); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// All returns the fields in order, each name with its values. The slices are shared: they
// must not be modified.
func (h Header) All() iter.Seq2[string, []string] {
	return func(yield func(string, []string) bool) {
		if h.s == nil {
			return
		}
		own := h.ownValues()
		for i := range h.s.fields {
			f := &h.s.fields[i]
			vs := f.values
			if f.own > 0 {
				vs, own = own[:f.own:f.own], own[f.own:]
			}
			if !yield(f.name, vs) {
				return
			}
		}
	}
}

// Clone returns a copy of h as an http.Header, which the caller may modify.
func (h Header) Clone() http.Header {
	if h.s == nil {
		return nil
	}
	c := make(http.Header, len(h.s.fields))
	for k, vs := range h.All() {
		c[k] = slices.Clone(vs)
	}
	return c
}

// copyTo sets every field of h in dst, sharing the value slices (capped, so that an append
// by a later writer copies them). It allocates nothing: this is the hit path.
func (h Header) copyTo(dst http.Header) {
	if h.s == nil {
		return
	}
	own := h.ownValues()
	for i := range h.s.fields {
		f := &h.s.fields[i]
		if f.own == 0 {
			dst[f.name] = f.values
			continue
		}
		dst[f.name] = own[:f.own:f.own]
		own = own[f.own:]
	}
}

func (h Header) ownValues() []string {
	if h.own == nil {
		return nil
	}
	return unsafe.Slice(h.own, h.s.own)
}

// shapeSize returns the memory of h's shape if h is charged for it: unless a table shares it.
func (h Header) shapeSize() int {
	if h.s == nil || h.s.shared {
		return 0
	}
	return h.s.size
}

// headerShape is what the headers of one form share: the field names in order, and the
// values of the fields whose values are shared (those with own 0). A shape that no table
// holds belongs to one header: NewHeader and UnmarshalBinary keep every value in it.
type headerShape struct {
	fields []shapeField
	own    int   // values each header of this shape holds itself
	size   int   // memory the shape holds, in bytes
	shared bool  // held by a headerTable, and so charged to no entry
	has    uint8 // which of the fields a hit asks for it holds (hasLastModified…)
}

// The fields a hit asks a stored header for whether or not the request has preconditions or
// a Range (see respond): a bit each in headerShape.has, so that Values answers for their
// absence, the usual case, without looking through the fields.
const (
	hasLastModified uint8 = 1 << iota
	hasAcceptRanges
)

// shapeBit returns the bit of headerShape.has for the field name, 0 for the others.
func shapeBit(name string) uint8 {
	switch name {
	case "Last-Modified":
		return hasLastModified
	case "Accept-Ranges":
		return hasAcceptRanges
	}
	return 0
}

type shapeField struct {
	name   string
	values []string // capped; the field's values when own is 0
	own    int      // values each header holds itself; 0: they are in values
}

// sharedFields are the fields whose values a cache shares between entries: they mostly
// repeat from one response to the next. A value longer than maxSharedValue is kept by its
// entry.
var sharedFields = map[string]bool{
	"Accept-Ranges": true, "Access-Control-Allow-Credentials": true, "Access-Control-Allow-Headers": true,
	"Access-Control-Allow-Methods": true, "Access-Control-Allow-Origin": true, "Access-Control-Expose-Headers": true,
	"Cache-Control": true, "Content-Encoding": true, "Content-Language": true, "Content-Security-Policy": true,
	"Content-Type": true, "Cross-Origin-Opener-Policy": true, "Cross-Origin-Resource-Policy": true,
	"Permissions-Policy": true, "Referrer-Policy": true, "Server": true, "Strict-Transport-Security": true,
	"Vary": true, "X-Content-Type-Options": true, "X-Frame-Options": true, "X-Powered-By": true,
	"X-Xss-Protection": true,
}

// knownNames are field names kept as constants rather than copied into each shape.
var knownNames = func() map[string]string {
	m := make(map[string]string)
	for k := range sharedFields {
		m[k] = k
	}
	for _, k := range []string{"Content-Length", "Etag", "Last-Modified", "Expires", "Location",
		"Content-Location", "Content-Disposition", "Link", "Set-Cookie", "X-Request-Id"} {
		m[k] = k
	}
	return m
}()

const (
	// stringSize is the size of a string header; sliceSize of a slice header.
	stringSize = int(unsafe.Sizeof(""))
	sliceSize  = int(unsafe.Sizeof([]string(nil)))

	maxSharedValue = 256 // bytes of a field's values beyond which they are not shared

	// A cache's table of header shapes holds at most maxShapes shapes of maxShapeBytes in all;
	// once full, new shapes belong to their entries (and are charged to them).
	maxShapes     = 1024
	maxShapeBytes = 256 << 10
)

// headerTable is a cache's set of shared header shapes. It only grows, within its bounds:
// what it holds is charged to no entry, and its bounds are what it may add to a process
// beyond the store's budget.
type headerTable struct {
	mu     sync.Mutex
	shapes map[string]*headerShape // by signature
	bytes  int
	sig    []byte // scratch, under mu
}

func newHeaderTable() *headerTable { return &headerTable{shapes: make(map[string]*headerShape)} }

// buildHeader returns a Header holding a copy of h. With a table, the shape and shared
// values come from it, or go into it; the header's own values are copied, with extra after
// them, into one array and one string, and the copy of extra is returned too (an entry's
// tags): an entry then keeps two allocations for all its strings, and nothing of the memory
// they were copied from. Without a table, every value goes into a shape of the header's own,
// and extra is copied alike.
func buildHeader(t *headerTable, h http.Header, extra []string) Header {
	hdr, _ := buildHeaderWith(t, h, extra)
	return hdr
}

func buildHeaderWith(t *headerTable, h http.Header, extra []string) (Header, []string) {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var shape *headerShape
	own, ownBytes := 0, 0
	if t != nil {
		for _, k := range names {
			if vs := h[k]; !shareable(k, vs) {
				own += len(vs)
				for _, v := range vs {
					ownBytes += len(v)
				}
			}
		}
		shape = t.shape(names, h)
	} else if len(names) > 0 {
		shape = newShape(names, h, func(string, []string) bool { return true })
	}
	for _, s := range extra {
		ownBytes += len(s)
	}
	strs := make([]string, own+len(extra))
	var b strings.Builder
	b.Grow(ownBytes)
	type span struct{ i, from, to int }
	spans := make([]span, 0, len(strs))
	i := 0
	add := func(s string) {
		spans = append(spans, span{i, b.Len(), b.Len() + len(s)})
		b.WriteString(s)
		i++
	}
	if t != nil {
		for _, k := range names {
			if vs := h[k]; !shareable(k, vs) {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	for _, s := range extra {
		add(s)
	}
	arena := b.String()
	for _, sp := range spans {
		strs[sp.i] = arena[sp.from:sp.to]
	}
	hdr := Header{s: shape}
	if own > 0 {
		hdr.own = &strs[0]
	}
	var tags []string
	if len(extra) > 0 {
		tags = strs[own:len(strs):len(strs)]
	}
	return hdr, tags
}

// shareable reports whether a cache shares the values of the field k between entries.
func shareable(k string, vs []string) bool {
	if !sharedFields[k] {
		return false
	}
	n := 0
	for _, v := range vs {
		n += len(v)
	}
	return n <= maxSharedValue
}

// shape returns the table's shape for names, with the shared values of h, adding it if the
// table has room; otherwise a shape of the header's own.
func (t *headerTable) shape(names []string, h http.Header) *headerShape {
	if len(names) == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	sig := t.sig[:0]
	for _, k := range names {
		sig = append(sig, k...)
		sig = append(sig, 0)
		vs := h[k]
		if shareable(k, vs) {
			for _, v := range vs {
				sig = append(sig, v...)
				sig = append(sig, 0)
			}
			sig = append(sig, 1)
		} else {
			sig = strconv.AppendInt(sig, int64(len(vs)), 10)
			sig = append(sig, 2)
		}
	}
	t.sig = sig
	if s, ok := t.shapes[string(sig)]; ok {
		return s
	}
	s := newShape(names, h, shareable)
	if len(t.shapes) < maxShapes && t.bytes+s.size+len(sig) <= maxShapeBytes {
		s.shared = true
		t.shapes[string(sig)] = s
		t.bytes += s.size + len(sig)
	}
	return s
}

// newShape returns a shape of the fields names of h, holding a copy of the values of those
// fields for which inShape holds; the others are a header's own.
func newShape(names []string, h http.Header, inShape func(string, []string) bool) *headerShape {
	s := &headerShape{fields: make([]shapeField, len(names))}
	nvals, nbytes := 0, 0
	for _, k := range names {
		if _, ok := knownNames[k]; !ok {
			nbytes += len(k)
		}
		if vs := h[k]; inShape(k, vs) {
			nvals += len(vs)
			for _, v := range vs {
				nbytes += len(v)
			}
		}
	}
	vals := make([]string, 0, nvals)
	var b strings.Builder
	b.Grow(nbytes)
	type span struct{ from, to int }
	nameAt := make([]span, len(names))
	valAt := make([]span, 0, nvals)
	for i, k := range names {
		if _, ok := knownNames[k]; !ok {
			nameAt[i] = span{b.Len(), b.Len() + len(k)}
			b.WriteString(k)
		}
		if vs := h[k]; inShape(k, vs) {
			for _, v := range vs {
				valAt = append(valAt, span{b.Len(), b.Len() + len(v)})
				b.WriteString(v)
			}
		}
	}
	arena := b.String()
	for _, sp := range valAt {
		vals = append(vals, arena[sp.from:sp.to])
	}
	for i, k := range names {
		f := &s.fields[i]
		if known, ok := knownNames[k]; ok {
			f.name = known
		} else {
			f.name = arena[nameAt[i].from:nameAt[i].to]
		}
		s.has |= shapeBit(k)
		vs := h[k]
		if !inShape(k, vs) {
			f.own = len(vs)
			s.own += len(vs)
			if len(vs) == 0 {
				f.values = []string{}
			}
			continue
		}
		f.values, vals = vals[:len(vs):len(vs)], vals[len(vs):]
	}
	s.size = allocSize(int(unsafe.Sizeof(headerShape{}))) + allocSize(len(names)*int(unsafe.Sizeof(shapeField{}))) +
		allocSize(nvals*stringSize) + allocSize(nbytes)
	return s
}

// allocSize approximates the memory the Go allocator gives an object of n bytes: n rounded
// up to its size class (classes are spaced by an eighth of their size, at least 16 bytes).
func allocSize(n int) int {
	if n <= 0 {
		return 0
	}
	step := 16
	for p := 256; p < n; p <<= 1 {
		step = p / 8
	}
	return (n + step - 1) / step * step
}
