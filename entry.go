package dumper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Entry is a stored response. Entries are immutable once handed to a [Store].
//
// An entry whose Status is 0 is a variant record: the response stored for this URL varies by
// the request headers named in Vary, and the response itself is stored under a key that
// includes their values.
type Entry struct {
	Status int         // HTTP status code, or 0 for a variant record
	Header http.Header // response header as sent to clients (ETag, Content-Length, Cache-Control…)
	Body   []byte      // response body

	// Tags are what the entry is invalidated by; the first is the request path.
	Tags []string
	// Born is the store's clock read before the response was rendered.
	Born uint64
	// Stored is the wall time the entry was stored, for the Age header and Last-Modified.
	Stored time.Time
	// Vary lists, in canonical form and sorted, the request headers the response varies on.
	Vary []string
	// Public reports that the response may be served to requests carrying Authorization.
	Public bool

	fields []headerField // Header as a list, built by prepare, for a fast copy on a hit
}

type headerField struct {
	key   string
	value []string // capped, so that an append by a later writer copies it
}

// prepare builds what serving the entry needs from its Header. Entries the cache stores and
// entries decoded by UnmarshalBinary are prepared; others are served from Header directly.
func (e *Entry) prepare() {
	e.fields = make([]headerField, 0, len(e.Header))
	for k, v := range e.Header {
		e.fields = append(e.fields, headerField{k, v[:len(v):len(v)]})
	}
}

// entryVersion is the first byte of an encoded entry; a store holding entries written in
// another format reads them as misses.
const entryVersion = 1

// ErrCorruptEntry is returned by [Entry.UnmarshalBinary] for bytes it cannot decode. Stores
// treat such a value as a miss.
var ErrCorruptEntry = errors.New("dumper: corrupt cache entry")

// MarshalBinary encodes e for a remote store.
func (e *Entry) MarshalBinary() ([]byte, error) {
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
	flags := byte(0)
	if e.Public {
		flags |= 1
	}
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
// [ErrCorruptEntry] for anything else, and never panics.
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
	if d.err == nil && status != 0 && (status < 100 || status > 999) {
		d.err = fmt.Errorf("status %d", status)
	}
	if d.err == nil && flags > 1 {
		d.err = fmt.Errorf("flags %#x", flags)
	}
	if d.err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptEntry, d.err)
	}
	var storedAt time.Time
	if stored != 0 {
		storedAt = time.Unix(0, stored)
	}
	*e = Entry{
		Status: int(status),
		Header: h,
		Body:   body,
		Tags:   tags,
		Born:   born,
		Stored: storedAt,
		Vary:   vary,
		Public: flags&1 != 0,
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
