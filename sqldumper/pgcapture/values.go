package pgcapture

import (
	"database/sql/driver"
	"reflect"
	"strings"

	"github.com/dumperhq/dumper"
)

// A value is where a statement takes one value compared with, or written to, a key column:
// a parameter ($n) or a constant, possibly through casts.
type value struct {
	param int    // $n; 0 for a constant
	konst any    // the constant: int64 or string; nil for NULL
	cast  castTo // the casts applied, when they all agree
	bad   bool   // not a value the capture can convert: an expression, a boolean, a cast to another type
}

// castTo is the kind a value is cast to before it meets the column: castNone, or the key kind
// every cast in its chain names.
type castTo uint8

const (
	castNone castTo = iota
	castInt
	castText
	castUUID
	castOther
)

func (c castTo) kind() dumper.KeyKind {
	switch c {
	case castInt:
		return dumper.KeyInt
	case castText:
		return dumper.KeyText
	case castUUID:
		return dumper.KeyUUID
	}
	return 0
}

// fits reports whether a value cast to c reaches a column of kind k unchanged: no cast, or a
// cast to k itself.
func (c castTo) fits(k dumper.KeyKind) bool { return c == castNone || c.kind() == k }

// static reports whether the value can be converted at all for a column of kind k, before any
// argument is known: a constant that converts, or a parameter.
func (v value) static(k dumper.KeyKind) bool {
	if v.bad || !v.cast.fits(k) {
		return false
	}
	if v.param > 0 {
		return true
	}
	_, ok := canonical(k, v.konst)
	return ok
}

// canonical returns the canonical text of v for a column of kind k, with args the statement's
// arguments ($1 is args[0]). NULL, a missing argument and a value that does not convert
// exactly return false.
func (v value) canonical(k dumper.KeyKind, args []any) (string, bool) {
	if v.bad || !v.cast.fits(k) {
		return "", false
	}
	if v.param == 0 {
		return canonical(k, v.konst)
	}
	if v.param > len(args) {
		return "", false
	}
	return canonical(k, args[v.param-1])
}

// isNull reports whether the value is NULL: a NULL constant, or a parameter bound to nil.
func (v value) isNull(args []any) bool {
	if v.bad {
		return false
	}
	if v.param == 0 {
		return v.konst == nil
	}
	if v.param > len(args) {
		return false
	}
	a := args[v.param-1]
	switch a.(type) {
	case int, int64, int32, string:
		return false // the common arguments, told without reflection
	}
	if vr, ok := a.(driver.Valuer); ok {
		dv, err := vr.Value()
		if err != nil {
			return false
		}
		a = dv
	}
	if a == nil {
		return true
	}
	rv := reflect.ValueOf(a)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func canonical(k dumper.KeyKind, x any) (string, bool) {
	switch x.(type) {
	case nil:
		return "", false
	case int, int64, int32, string:
		return k.Canonical(x) // the common arguments, no pointers
	}
	if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "", false
		}
		if _, ok := x.(driver.Valuer); !ok {
			x = rv.Elem().Interface()
		}
	}
	return k.Canonical(x)
}

// elements returns the canonical texts of the elements of an array value: a Go slice or array
// (other than a byte slice) or the text of a one-dimensional PostgreSQL array literal, as a
// [driver.Valuer] such as pq.Array gives. ok is false when any element does not convert
// (a NULL element included: it matches no row, but is not worth the special case).
func (v value) elements(k dumper.KeyKind, args []any) (vals []string, ok bool) {
	if v.bad || !v.cast.fits(k) {
		return nil, false
	}
	var x any
	if v.param == 0 {
		x = v.konst
	} else {
		if v.param > len(args) {
			return nil, false
		}
		x = args[v.param-1]
	}
	if vr, isValuer := x.(driver.Valuer); isValuer && !isSlice(x) {
		dv, err := vr.Value()
		if err != nil {
			return nil, false
		}
		x = dv
	}
	switch s := x.(type) {
	case string:
		return arrayLiteral(k, s)
	case []byte:
		return arrayLiteral(k, string(s))
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(x)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, false // a [16]byte is one uuid, not an array
	}
	vals = make([]string, 0, rv.Len())
	for i := range rv.Len() {
		c, ok := canonical(k, rv.Index(i).Interface())
		if !ok {
			return nil, false
		}
		vals = append(vals, c)
	}
	return vals, true
}

func isSlice(x any) bool {
	k := reflect.ValueOf(x).Kind()
	_, isBytes := x.([]byte)
	return (k == reflect.Slice || k == reflect.Array) && !isBytes
}

// arrayLiteral reads the text of a one-dimensional PostgreSQL array ('{1,2,3}',
// '{"a b","c\"d"}') and returns the canonical text of each element for kind k. Anything else
// (several dimensions, explicit bounds, a NULL element, malformed text) returns false.
func arrayLiteral(k dumper.KeyKind, s string) ([]string, bool) {
	elems, ok := splitArray(s)
	if !ok {
		return nil, false
	}
	vals := make([]string, 0, len(elems))
	for _, e := range elems {
		if e.null {
			return nil, false
		}
		c, ok := k.Canonical(e.text)
		if !ok {
			return nil, false
		}
		vals = append(vals, c)
	}
	return vals, true
}

type arrayElem struct {
	text string
	null bool
}

// splitArray splits the text of a one-dimensional array literal into its elements, as
// PostgreSQL's array input does: white space around elements is ignored, double quotes
// delimit an element in which a backslash escapes the next byte, a backslash escapes the next
// byte outside quotes too, and an unquoted NULL (in any case) is a NULL element.
func splitArray(s string) ([]arrayElem, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	body := s[1 : len(s)-1]
	if strings.TrimSpace(body) == "" {
		return []arrayElem{}, true
	}
	var elems []arrayElem
	i := 0
	for {
		for i < len(body) && isArraySpace(body[i]) {
			i++
		}
		var b strings.Builder
		quoted, escaped := false, false
		if i < len(body) && body[i] == '"' {
			quoted = true
			i++
			for {
				if i >= len(body) {
					return nil, false
				}
				c := body[i]
				if c == '\\' {
					if i+1 >= len(body) {
						return nil, false
					}
					b.WriteByte(body[i+1])
					i += 2
					continue
				}
				if c == '"' {
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			for i < len(body) && isArraySpace(body[i]) {
				i++
			}
		} else {
			end := -1 // length of b up to its last byte that is not white space
			for i < len(body) && body[i] != ',' {
				c := body[i]
				switch {
				case c == '{' || c == '}' || c == '"':
					return nil, false
				case c == '\\':
					if i+1 >= len(body) {
						return nil, false
					}
					b.WriteByte(body[i+1])
					escaped = true
					end = b.Len()
					i += 2
					continue
				}
				b.WriteByte(c)
				if !isArraySpace(c) {
					end = b.Len()
				}
				i++
			}
			if end < 0 {
				return nil, false // an empty element
			}
			t := b.String()[:end]
			b.Reset()
			b.WriteString(t)
		}
		text := b.String()
		elems = append(elems, arrayElem{text: text, null: !quoted && !escaped && strings.EqualFold(text, "NULL")})
		if i >= len(body) {
			return elems, true
		}
		if body[i] != ',' {
			return nil, false
		}
		i++
	}
}

func isArraySpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
