package dumper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"unsafe"
)

// Entry is what a [Store] keeps under a key: a stored response or a variant record, as Kind
// says. A store keeps and returns every exported field as it was given, whatever the kind.
//
// Entries are immutable once made, by the cache or by [Entry.UnmarshalBinary]: neither the
// cache nor a store modifies an entry or its slices in place. A store may return the entry it
// was given, one it decoded or built, or a copy.
//
// The entries the cache builds own all their memory: their strings are copies, made once,
// of what the request, the handler and the tags attached pointed to, so an entry keeps
// nothing alive that [Entry.Size] does not count.
type Entry struct {
	// Kind tells a stored response from a variant record.
	Kind EntryKind
	// Public reports that the response may be served to requests carrying Authorization.
	Public bool

	// StaleWhileRevalidate and StaleIfError are the entry's soft windows, in seconds: how
	// long past the invalidation that condemned it the entry may still be served, while one
	// background render replaces it, and when the render fails (docs/soft.md). Zero, the
	// default, means not at all: the entry is gone when invalidated. A store that supports
	// soft invalidation (see [Store]) keeps an invalidated entry for the longer of the two;
	// any other store ignores them.
	StaleWhileRevalidate, StaleIfError uint16

	Status int    // HTTP status code; 0 for a variant record
	Header Header // response header as sent to clients (ETag, Content-Length, Cache-Control…)
	Body   []byte // response body

	// Tags are what the entry is invalidated by; the first is the request path.
	Tags []string
	// Born is the store's clock read before the response was rendered.
	Born uint64
	// Stored is the wall time the entry was stored, in Unix nanoseconds (0: unknown), for the
	// Age header.
	Stored int64
}

// EntryKind tells what an [Entry] holds.
type EntryKind uint8

const (
	// StoredResponse is a response: Status, Header and Body are sent to clients as they are.
	StoredResponse EntryKind = iota

	// VariantRecord says that the responses for a URL vary by the request headers that its
	// Header's Vary field lists, one canonical name per value, sorted: each response is stored
	// under a key that adds the values of those headers to the URL's. The cache stores a
	// record under the URL's key with every such response, with the response's Tags, Born and
	// Stored; it has no Status or Body.
	VariantRecord
)

// vary returns the request headers a variant record names.
func (e *Entry) vary() []string { return e.Header.Values("Vary") }

// entryStructSize is the memory of an Entry itself.
var entryStructSize = allocSize(int(unsafe.Sizeof(Entry{})))

// Size returns the memory e holds, in bytes, as the Go allocator counts it: the Entry, its
// body's capacity, its header (the fields and values it does not share with other entries)
// and its tags. A store that keeps entries in process memory bounds it with Size; the
// memory store charges each entry Size, its key and its own bookkeeping.
func (e *Entry) Size() int {
	strs, bytes := 0, 0
	if e.Header.s != nil {
		strs = e.Header.s.own
		for _, v := range e.Header.ownValues() {
			bytes += len(v)
		}
	}
	strs += len(e.Tags)
	for _, t := range e.Tags {
		bytes += len(t)
	}
	return entryStructSize + cap(e.Body) + allocSize(strs*stringSize) + allocSize(bytes) + e.Header.shapeSize()
}

// entryVersion is the first byte of an encoded entry; a store holding entries written in
// another format reads them as misses.
//
// Version 2 keeps a record's Vary in its Header and no longer encodes a Vary list.
const entryVersion = 2

// The bits of an encoded entry's flags byte; any other bit makes the entry corrupt. A
// variant record has Status 0 and flagVariantRecord. Releases before [EntryKind] encoded it
// with the flag clear and refused any flag but flagPublic, so each reads the other's records
// as corrupt (a miss, which the next store overwrites), and both read the same responses.
const (
	flagPublic        = 1 << 0
	flagVariantRecord = 1 << 1
	// flagSoft says that the soft windows follow the flags, as two uvarints; an entry
	// without them is encoded as before, and releases that do not know the flag read an
	// entry with them as corrupt (a miss).
	flagSoft = 1 << 2
)

// ErrCorruptEntry is returned by [Entry.UnmarshalBinary] for bytes it cannot decode. Stores
// treat such a value as a miss.
var ErrCorruptEntry = errors.New("dumper: corrupt cache entry")

// MarshalBinary encodes e for a remote store. It fails only for a Kind it does not know.
func (e *Entry) MarshalBinary() ([]byte, error) {
	flags := byte(0)
	switch e.Kind {
	case StoredResponse:
	case VariantRecord:
		flags |= flagVariantRecord
	default:
		return nil, fmt.Errorf("dumper: unknown entry kind %d", e.Kind)
	}
	if e.Public {
		flags |= flagPublic
	}
	if e.StaleWhileRevalidate != 0 || e.StaleIfError != 0 {
		flags |= flagSoft
	}
	n := 32 + len(e.Body)
	for k, vs := range e.Header.All() {
		n += len(k) + 4
		for _, v := range vs {
			n += len(v) + 2
		}
	}
	for _, t := range e.Tags {
		n += len(t) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendUvarint(b, e.Born)
	b = binary.AppendVarint(b, e.Stored)
	b = append(b, flags)
	if flags&flagSoft != 0 {
		b = binary.AppendUvarint(b, uint64(e.StaleWhileRevalidate))
		b = binary.AppendUvarint(b, uint64(e.StaleIfError))
	}
	b = appendStrings(b, e.Tags)
	b = binary.AppendUvarint(b, uint64(e.Header.Len()))
	for k, vs := range e.Header.All() {
		b = appendString(b, k)
		b = appendStrings(b, vs)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Body)))
	b = append(b, e.Body...)
	return b, nil
}

// UnmarshalBinary decodes what [Entry.MarshalBinary] encoded. It returns an error wrapping
// [ErrCorruptEntry] for anything else, an entry of another version of the encoding included,
// and never panics. The decoded entry owns its memory: it keeps nothing of data.
func (e *Entry) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if v := d.byte(); v != entryVersion {
		return fmt.Errorf("%w: version %d", ErrCorruptEntry, v)
	}
	status := d.uvarint()
	born := d.uvarint()
	stored := d.varint()
	flags := d.byte()
	var swr, sie uint64
	if flags&flagSoft != 0 {
		swr, sie = d.uvarint(), d.uvarint()
	}
	tags := d.views()
	nh := d.count(2)
	var h http.Header
	if nh > 0 {
		h = make(http.Header, nh)
		for range nh {
			k := d.view()
			h[k] = d.views()
		}
	}
	body := d.bytes()
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes")
	}
	kind := StoredResponse
	if flags&flagVariantRecord != 0 {
		kind = VariantRecord
	}
	switch {
	case d.err != nil:
	case flags&^(flagPublic|flagVariantRecord|flagSoft) != 0:
		d.err = fmt.Errorf("flags %#x", flags)
	case swr > 0xffff || sie > 0xffff || flags&flagSoft != 0 && swr == 0 && sie == 0:
		d.err = fmt.Errorf("soft windows %d and %d", swr, sie)
	case kind == VariantRecord && status != 0, kind == StoredResponse && (status < 100 || status > 999):
		d.err = fmt.Errorf("status %d for kind %d", status, kind)
	}
	if d.err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptEntry, d.err)
	}
	hdr, tags := buildHeaderWith(nil, h, tags) // copies the views of data
	*e = Entry{
		Kind:   kind,
		Status: int(status),
		Header: hdr,
		Body:   body,
		Tags:   tags,
		Born:   born,
		Stored: stored,
		Public: flags&flagPublic != 0,

		StaleWhileRevalidate: uint16(swr),
		StaleIfError:         uint16(sie),
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// decoder reads the encoding of MarshalBinary; after the first error every read returns a
// zero value and err keeps that first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = errors.New(what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks that that many items of at least min bytes each can fit in
// what is left, so a corrupt length cannot make the decoder allocate without bound.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.b)/min) {
		d.fail("count out of range")
		return 0
	}
	return int(v)
}

func (d *decoder) bytes() []byte {
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	if n == 0 {
		return []byte{}
	}
	v := append([]byte(nil), d.b[:n]...) // its capacity is what the allocator gave it
	d.b = d.b[n:]
	return v
}

// view returns the next string as a view of the bytes being decoded, not a copy: it must
// be copied before UnmarshalBinary returns.
func (d *decoder) view() string {
	n := d.count(1)
	if d.err != nil || n == 0 {
		return ""
	}
	s := unsafe.String(&d.b[0], n)
	d.b = d.b[n:]
	return s
}

func (d *decoder) views() []string {
	n := d.count(1)
	if d.err != nil || n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.view()
	}
	if d.err != nil {
		return nil
	}
	return ss
}
