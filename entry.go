package dumper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unsafe"
)

// Entry is what a [Store] keeps under a key: a stored response or a variant record, as Kind
// says. A store keeps and returns every exported field as it was given, whatever the kind.
//
// Entries are immutable once made, by the cache or by [Entry.UnmarshalBinary]: neither the
// cache nor a store modifies an entry, its Header map or its slices in place. A store may
// return the entry it was given, one it decoded or built, or a copy; one whose header must
// differ gets a Header map of its own.
type Entry struct {
	// Kind tells a stored response from a variant record.
	Kind EntryKind

	Status int         // HTTP status code; 0 for a variant record
	Header http.Header // response header as sent to clients (ETag, Content-Length, Cache-Control…)
	Body   []byte      // response body

	// Tags are what the entry is invalidated by; the first is the request path.
	Tags []string
	// Born is the store's clock read before the response was rendered.
	Born uint64
	// Stored is the wall time the entry was stored, for the Age header.
	Stored time.Time
	// Vary lists, in canonical form and sorted, the request headers the response varies on.
	Vary []string
	// Public reports that the response may be served to requests carrying Authorization.
	Public bool

	// fields is Header as a list, for a fast copy on a hit, and fieldsOf the map it was built
	// from: the list is used only while Header is that very map, so an entry that a store
	// built or copied with a Header of its own is served from its Header.
	fields   []headerField
	fieldsOf http.Header
}

// EntryKind tells what an [Entry] holds.
type EntryKind uint8

const (
	// StoredResponse is a response: Status, Header and Body are sent to clients as they are.
	StoredResponse EntryKind = iota

	// VariantRecord says that the responses for a URL vary by the request headers named in
	// Vary: each is stored under a key that adds the values of those headers to the URL's.
	// The cache stores a record under the URL's key with every such response, with the
	// response's Tags, Born and Stored; it has no Status, Header or Body.
	VariantRecord
)

type headerField struct {
	key   string
	value []string // capped, so that an append by a later writer copies it
}

// prepare builds the list of e.Header that a hit copies. Entries the cache stores and
// entries decoded by UnmarshalBinary are prepared; others are served from Header directly.
func (e *Entry) prepare() {
	e.fields = make([]headerField, 0, len(e.Header))
	for k, v := range e.Header {
		e.fields = append(e.fields, headerField{k, v[:len(v):len(v)]})
	}
	e.fieldsOf = e.Header
}

// headerFields returns the list prepare built, if it was built from the map e.Header holds.
func (e *Entry) headerFields() ([]headerField, bool) {
	if e.fields == nil || !sameMap(e.Header, e.fieldsOf) {
		return nil, false
	}
	return e.fields, true
}

// sameMap reports whether a and b are one map, not merely equal ones. A map value is a
// pointer to the map's data (what reflect.Value.UnsafePointer returns for it); comparing
// the pointers costs nothing, where reflect would cost a call for each.
func sameMap(a, b http.Header) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}

// entryVersion is the first byte of an encoded entry; a store holding entries written in
// another format reads them as misses.
const entryVersion = 1

// The bits of an encoded entry's flags byte; any other bit makes the entry corrupt. A
// variant record has Status 0 and flagVariantRecord. Releases before [EntryKind] encoded it
// with the flag clear and refused any flag but flagPublic, so each reads the other's records
// as corrupt (a miss, which the next store overwrites), and both read the same responses.
const (
	flagPublic        = 1 << 0
	flagVariantRecord = 1 << 1
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
	n := 32 + len(e.Body)
	for k, vs := range e.Header {
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
	var stored int64 // 0 stands for the zero time, which UnixNano cannot represent
	if !e.Stored.IsZero() {
		stored = e.Stored.UnixNano()
	}
	b = binary.AppendVarint(b, stored)
	b = append(b, flags)
	b = appendStrings(b, e.Vary)
	b = appendStrings(b, e.Tags)
	b = binary.AppendUvarint(b, uint64(len(e.Header)))
	for k, vs := range e.Header {
		b = appendString(b, k)
		b = appendStrings(b, vs)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Body)))
	b = append(b, e.Body...)
	return b, nil
}

// UnmarshalBinary decodes what [Entry.MarshalBinary] encoded. It returns an error wrapping
// [ErrCorruptEntry] for anything else, and never panics. Like every entry, the decoded one is
// immutable: a store that needs another header gives a copy a Header map of its own.
func (e *Entry) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if v := d.byte(); v != entryVersion {
		return fmt.Errorf("%w: version %d", ErrCorruptEntry, v)
	}
	status := d.uvarint()
	born := d.uvarint()
	stored := d.varint()
	flags := d.byte()
	vary := d.strings()
	tags := d.strings()
	nh := d.count(2)
	var h http.Header
	if nh > 0 {
		h = make(http.Header, nh)
		for range nh {
			k := d.string()
			h[k] = d.strings()
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
	case flags&^(flagPublic|flagVariantRecord) != 0:
		d.err = fmt.Errorf("flags %#x", flags)
	case kind == VariantRecord && status != 0, kind == StoredResponse && (status < 100 || status > 999):
		d.err = fmt.Errorf("status %d for kind %d", status, kind)
	}
	if d.err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptEntry, d.err)
	}
	var storedAt time.Time
	if stored != 0 {
		storedAt = time.Unix(0, stored)
	}
	*e = Entry{
		Kind:   kind,
		Status: int(status),
		Header: h,
		Body:   body,
		Tags:   tags,
		Born:   born,
		Stored: storedAt,
		Vary:   vary,
		Public: flags&flagPublic != 0,
	}
	e.prepare()
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
	v := make([]byte, n)
	copy(v, d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.count(1)
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strings() []string {
	n := d.count(1)
	if d.err != nil || n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string()
	}
	if d.err != nil {
		return nil
	}
	return ss
}
