package promdumper

import "sync"

// other is the label value of everything a label's bounded vocabulary does not hold.
const other = "other"

// A vocabulary bounds the values of a label: the values it knows, then the first extra
// distinct values it meets (at most max), then "other" for everything else. It is safe
// for concurrent use; a known value is looked up without a lock.
type vocabulary struct {
	known map[string]string // read only after newVocabulary
	max   int

	mu    sync.RWMutex
	extra map[string]string
}

// newVocabulary returns a vocabulary of the known values and at most max others. A known
// value may be renamed: known maps a value to its label.
func newVocabulary(known map[string]string, max int) *vocabulary {
	return &vocabulary{known: known, max: max, extra: make(map[string]string)}
}

// label returns the label value of v.
func (vs *vocabulary) label(v string) string {
	if l, ok := vs.known[v]; ok {
		return l
	}
	if vs.max == 0 || !labelSafe(v) {
		return other
	}
	vs.mu.RLock()
	l, ok := vs.extra[v]
	full := len(vs.extra) >= vs.max
	vs.mu.RUnlock()
	if ok {
		return l
	}
	if full {
		return other
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if l, ok := vs.extra[v]; ok {
		return l
	}
	if len(vs.extra) >= vs.max {
		return other
	}
	vs.extra[v] = v
	return v
}

// maxLabelBytes bounds a value taken as a label that is not in a vocabulary's known set.
const maxLabelBytes = 32

// labelSafe reports whether v, not known in advance, may become a label value: a short
// token of lower-case letters, digits, '-', '_' and '.'; "other" is taken.
func labelSafe(v string) bool {
	if v == "" || len(v) > maxLabelBytes || v == other {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// identity returns a known set mapping each of values to itself.
func identity(values ...string) map[string]string {
	m := make(map[string]string, len(values))
	for _, v := range values {
		m[v] = v
	}
	return m
}

// classOf returns the index in classes of an HTTP status's class ("2xx" for 204), or
// len(classes), "none", for 0 (the cache did not see the status) or anything outside
// 100–599.
func classOf(code int) int {
	if code < 100 || code > 599 {
		return len(classes)
	}
	return code/100 - 1
}

// classLabel returns the label value of a class index from classOf.
func classLabel(c int) string {
	if c == len(classes) {
		return "none"
	}
	return classes[c]
}

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
