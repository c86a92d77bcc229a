package dumper

import (
	"context"
	"database/sql/driver"
	"encoding/hex"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unsafe"
)

// The tags of automatic dependency capture. Readers (gormdumper, sqldumper, pgxdumper) tag the
// response being rendered with what it read; writers (the same adapters, and pgnotify's
// triggers) stamp what a change could alter. docs/capture.md states the rule in full:
//
//   - every read of a table carries its [TableTag];
//   - a read narrowed by equality or IN on a key column carries one [RowTag] per value
//     ([ReadRows]); any other read carries the table's [ScanTag] ([ReadTable]);
//   - a write whose rows are known stamps, for each changed row, the row tags of the old and
//     the new value of every key column, and the table's scan tag ([ChangeTags]);
//   - a write whose rows are not known stamps the table tag.
//
// A change to a row can alter a read only if the row was in its result before or is after,
// so it had, before or after, the value the read was narrowed by: its row tag is stamped. A
// read that is not narrowed carries the scan tag, which every change stamps, and every read
// carries the table tag, which every write that cannot name its rows stamps. So no read that
// a write could change escapes the write's invalidation; how precise it is depends only on
// how many reads are narrowed by key columns.
//
// Tables are named without their schema (a table of the same name in two schemas shares its
// tags: more invalidation, never less). The spellings are part of the public contract: edges
// and operators see them.

// DatabaseTag is the tag that every read recorded through [ReadRows] or [ReadTable] carries,
// whatever its tables, and that a write the capture cannot attribute to tables (SQL it cannot
// parse, DDL, a procedure call) stamps, so that such a write drops every captured page: "table:*".
// [TableTag] never spells it, since it escapes "*".
const DatabaseTag = "table:*"

// TableTag returns the tag that every read of table carries and that a write which cannot
// name its rows (a bulk update by condition, TRUNCATE, raw SQL the capture cannot attribute)
// stamps: "table:" + table.
func TableTag(table string) string { return "table:" + escapeIdent(table) }

// ScanTag returns the tag of a read of table that is not narrowed by a key column (a list, a
// range, a join the capture does not follow), which every change to a row of table stamps:
// "scan:" + table.
func ScanTag(table string) string { return "scan:" + escapeIdent(table) }

// RowTag returns the tag of the rows of table whose key column holds value, in canonical form
// (see [KeyKind.Canonical]): "row:" + table + ":" + column + "=" + value, with the value
// percent-encoded outside letters, digits and "-._~".
func RowTag(table, column, value string) string {
	b := make([]byte, 0, 5+len(table)+len(column)+len(value)+8)
	b = appendRowPrefix(b, table, column)
	b = appendEscaped(b, value, &valueBytes)
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not used again: one allocation
}

// appendRowPrefix appends to b the beginning of the row tags of table's column:
// "row:" + table + ":" + column + "=".
func appendRowPrefix(b []byte, table, column string) []byte {
	b = append(b, "row:"...)
	b = appendEscaped(b, table, &identBytes)
	b = append(b, ':')
	b = appendEscaped(b, column, &identBytes)
	return append(b, '=')
}

// maxRowValues bounds the row tags one read, and one response per table, may carry; past it
// the read is recorded as a scan of the table, which covers every row.
const maxRowValues = 256

// ReadRows records that the response being rendered for the request whose context is ctx read
// the rows of table whose key column (primary key, unique or foreign key) holds one of values,
// each in canonical form ([KeyKind.Canonical]): the response gets [DatabaseTag], the table's tag
// and one row tag per value. Past a bound on values per table it gets the table's scan tag instead. A read
// with no values (WHERE id IN ()) still gets the table tag. Outside a render it does nothing.
func ReadRows(ctx context.Context, table, column string, values ...string) {
	rs, ok := ctx.Value(renderKey{}).(*renderState)
	if !ok {
		return
	}
	t := readTable{table: table}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.startCapture()
	rs.rowsLocked(&t, column, values)
}

// ReadTable records that the response being rendered read each of tables without narrowing
// it by a key column: the response gets [DatabaseTag] and each table's tag and scan tag. Outside a render it
// does nothing.
func ReadTable(ctx context.Context, tables ...string) {
	rs, ok := ctx.Value(renderKey{}).(*renderState)
	if !ok {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.startCapture()
	for _, table := range tables {
		t := readTable{table: table}
		rs.scanLocked(&t)
	}
}

// rowsLocked is ReadRows of t by column. rs.mu is held.
func (rs *renderState) rowsLocked(t *readTable, column string, values []string) {
	r, seen := rs.readOf(t.table)
	if !seen {
		rs.addTagLocked(t.tableTag())
	}
	if r.n < 0 {
		return // already a scan
	}
	if r.n+len(values) > maxRowValues {
		r.n = -1
		rs.addTagLocked(t.scanTag())
		return
	}
	r.n += len(values)
	for _, v := range values {
		rs.addTagLocked(rs.rowTag(t, column, v))
	}
}

// rowTag returns the row tag of t's column for value, built in the render's arena of tags:
// the entry copies its tags, so a page's row tags cost no allocation of their own. The
// arena's bytes are never written twice. rs.mu is held.
func (rs *renderState) rowTag(t *readTable, column, value string) string {
	if rs.arena == nil {
		rs.arena = rs.arenaBuf[:0]
	}
	b := rs.arena
	start := len(b)
	if t.row != "" {
		b = append(b, t.row...)
	} else {
		b = appendRowPrefix(b, t.table, column)
	}
	b = appendEscaped(b, value, &valueBytes)
	if cap(b) != cap(rs.arena) {
		// Grown: b is a new array holding a copy of the old bytes, which the tags made so
		// far go on pointing to where they were. Keep only this tag's bytes in it.
		b = b[start:]
		start = 0
	}
	rs.arena = b
	return unsafe.String(&b[start], len(b)-start)
}

// scanLocked is ReadTable of t. rs.mu is held.
func (rs *renderState) scanLocked(t *readTable) {
	r, seen := rs.readOf(t.table)
	if seen && r.n < 0 {
		return
	} else if !seen {
		rs.addTagLocked(t.tableTag())
	}
	r.n = -1
	rs.addTagLocked(t.scanTag())
}

// readTable is a table read, with the tags of its reads as far as they are built: a [Read]
// builds them all once; ReadRows and ReadTable as they need them.
type readTable struct {
	table, tag, scan string
	row              string // "row:" + table + ":" + column + "=": the prefix of its row tags; "" if not built
}

func (t *readTable) tableTag() string {
	if t.tag == "" {
		t.tag = TableTag(t.table)
	}
	return t.tag
}

func (t *readTable) scanTag() string {
	if t.scan == "" {
		t.scan = ScanTag(t.table)
	}
	return t.scan
}

// startCapture prepares rs for the first captured read of its render, which tags the response
// with DatabaseTag. rs.mu is held.
func (rs *renderState) startCapture() {
	if !rs.captured {
		rs.captured = true
		rs.rowValues = rs.readBuf[:0]
		if rs.tags == nil {
			rs.tags = rs.tagBuf[:0] // a captured page has a few tags per query
		}
		rs.addTagLocked(DatabaseTag)
	}
}

// tableRead is what a render has recorded of a table: the row tags attached, or -1 once the
// table is recorded as a scan.
type tableRead struct {
	table string
	n     int
}

// readOf returns the record of table in rs, adding it if it is not seen yet. Pages read few
// tables: a list is cheaper than a map. rs.mu is held; the pointer is valid until the next
// readOf.
func (rs *renderState) readOf(table string) (t *tableRead, seen bool) {
	for i := range rs.rowValues {
		if rs.rowValues[i].table == table {
			return &rs.rowValues[i], true
		}
	}
	rs.rowValues = append(rs.rowValues, tableRead{table: table})
	return &rs.rowValues[len(rs.rowValues)-1], false
}

// ChangeTags returns the tags that a change to one row of table stamps: the row tag of the old
// and of the new value of every key column, and the table's scan tag. old holds the key
// columns' values before the change and is nil for an insert; new holds them after and is nil
// for a delete. Values are in canonical form ([KeyKind.Canonical]); a key column missing from a
// non-nil map makes the change's rows unknown for that column, so the table tag is stamped
// too — the caller should pass every key column.
func ChangeTags(table string, keys []string, old, new map[string]string) []string {
	tags := make([]string, 0, 2*len(keys)+2)
	tags = append(tags, ScanTag(table))
	whole := false
	for _, row := range [2]map[string]string{old, new} {
		if row == nil {
			continue
		}
		for _, k := range keys {
			v, ok := row[k]
			if !ok {
				whole = true
				continue
			}
			tags = append(tags, RowTag(table, k, v))
		}
	}
	if whole {
		tags = append(tags, TableTag(table))
	}
	return tags
}

// A KeyKind is the type of a key column, as far as the capture is concerned: the types whose
// values have one canonical text, so that a read's parameter and a write's row give the same
// row tag. Columns of other types (floating point, timestamps, case-insensitive text, padded
// char(n)…) are not key columns for the capture: reads narrowed by them are scans.
type KeyKind uint8

// The key kinds.
const (
	// KeyInt is an integer column (smallint, integer, bigint, serial…): canonical text is
	// the decimal number, as PostgreSQL prints it.
	KeyInt KeyKind = iota + 1
	// KeyText is a text column with a deterministic (byte-wise) collation: canonical text
	// is the value itself.
	KeyText
	// KeyUUID is a uuid column: canonical text is lower-case 8-4-4-4-12 hex.
	KeyUUID
)

// Canonical returns the canonical text of v as a value of a column of kind k, and whether v is
// one. It accepts what Go programs and drivers pass for such columns: integers, strings and
// byte slices (decimal for KeyInt; 16 raw bytes or any spelling PostgreSQL accepts for
// KeyUUID), a [16]byte for KeyUUID, and a [driver.Valuer], whose value is converted. A value
// it cannot convert exactly (nil, a fractional number, malformed text) returns false: the
// caller records a scan instead.
func (k KeyKind) Canonical(v any) (string, bool) {
	if vr, ok := v.(driver.Valuer); ok {
		dv, err := vr.Value()
		if err != nil {
			return "", false
		}
		v = dv
	}
	switch k {
	case KeyInt:
		return canonicalInt(v)
	case KeyText:
		switch x := v.(type) {
		case string:
			return x, true
		case []byte:
			return string(x), true
		}
		switch rv := reflect.ValueOf(v); rv.Kind() {
		case reflect.String:
			return rv.String(), true // a type of the application's own over a string
		case reflect.Float32, reflect.Float64:
			// How a database turns a float into text differs (SQLite: 42.0): no one
			// canonical text, so not a row of this key.
			return "", false
		}
		return canonicalInt(v) // an integer compared with a text column
	case KeyUUID:
		return canonicalUUID(v)
	}
	return "", false
}

func canonicalInt(v any) (string, bool) {
	switch x := v.(type) {
	case int:
		return strconv.FormatInt(int64(x), 10), true
	case int8:
		return strconv.FormatInt(int64(x), 10), true
	case int16:
		return strconv.FormatInt(int64(x), 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	case uint8:
		return strconv.FormatUint(uint64(x), 10), true
	case uint16:
		return strconv.FormatUint(uint64(x), 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10), true
		}
	case float32:
		return canonicalInt(float64(x))
	case string:
		return canonicalIntText(x)
	case []byte:
		return canonicalIntText(string(x))
	}
	// A type of the application's own over an integer (type FlavorID uint).
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), true
	case reflect.String:
		return canonicalIntText(rv.String())
	}
	return "", false
}

// canonicalIntText parses integer text as PostgreSQL's integer input does (surrounding
// white space, a sign, leading zeros).
func canonicalIntText(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return strconv.FormatInt(n, 10), true
	}
	if n, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 64); err == nil {
		return strconv.FormatUint(n, 10), true
	}
	return "", false
}

func canonicalUUID(v any) (string, bool) {
	var raw []byte
	switch x := v.(type) {
	case [16]byte:
		raw = x[:]
	case []byte:
		if len(x) == 16 {
			raw = x
		} else {
			return canonicalUUIDText(string(x))
		}
	case string:
		return canonicalUUIDText(x)
	default:
		return "", false
	}
	var b [36]byte
	hex.Encode(b[0:8], raw[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], raw[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], raw[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], raw[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], raw[10:16])
	return string(b[:]), true
}

// canonicalUUIDText reads the spellings PostgreSQL's uuid input accepts: 32 hex digits, in
// either case, optionally in braces, with a hyphen allowed after any group of four digits.
func canonicalUUIDText(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' {
		s = s[1 : len(s)-1]
	}
	var raw [16]byte
	n := 0 // hex digits read
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' {
			if n == 0 || n%4 != 0 || n == 32 || i+1 == len(s) || s[i+1] == '-' {
				return "", false
			}
			continue
		}
		d, ok := hexDigit(c)
		if !ok || n == 32 {
			return "", false
		}
		raw[n/2] |= d << (4 * (1 - n%2))
		n++
	}
	if n != 32 {
		return "", false
	}
	return canonicalUUID(raw)
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// identBytes are the bytes of a table or column name kept as they are in a tag; valueBytes
// those of a value in a row tag. The others are percent-encoded.
var identBytes, valueBytes = byteSet("$.-_"), byteSet("-._~")

// byteSet returns the set of ASCII letters, digits and the bytes of extra.
func byteSet(extra string) (set [256]bool) {
	for c := range 256 {
		set[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for i := range len(extra) {
		set[extra[i]] = true
	}
	return set
}

func escapeIdent(s string) string {
	if clean(s, &identBytes) == len(s) {
		return s
	}
	return string(appendEscaped(make([]byte, 0, len(s)+8), s, &identBytes))
}

// clean returns the length of the longest prefix of s whose bytes are all in keep.
func clean(s string, keep *[256]bool) int {
	for i := range len(s) {
		if !keep[s[i]] {
			return i
		}
	}
	return len(s)
}

// appendEscaped appends s to b with each byte outside keep percent-encoded.
func appendEscaped(b []byte, s string, keep *[256]bool) []byte {
	for {
		i := clean(s, keep)
		b = append(b, s[:i]...)
		if i == len(s) {
			return b
		}
		c := s[i]
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		s = s[i+1:]
	}
}
