// Package metriclabel bounds the values that the metrics adapters (promdumper,
// oteldumper) give their labels and attributes: results, Cache-Status fwd and detail,
// status classes, store operations and invalidation sources, each from a small
// vocabulary, with "other" for anything beyond it; and the histogram boundaries they
// share.
package metriclabel

import (
	"sync"

	"github.com/dumperhq/dumper"
)

// Boundaries of the adapters' histograms, in seconds. A hit takes microseconds, a render
// or a store's network round trip milliseconds, an invalidation driven by a database
// notification up to seconds after its write.
var (
	RequestBuckets      = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	RenderBuckets       = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	StoreBuckets        = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	InvalidationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

// Other is the value of everything a vocabulary does not hold.
const Other = "other"

// Results are the values of a result, indexed by dumper.Result; 0, and any Result past
// the list, is Other (see [Result]).
var Results = [...]string{
	Other,
	dumper.ResultHit:       "hit",
	dumper.ResultMiss:      "miss",
	dumper.ResultCoalesced: "coalesced",
	dumper.ResultBypass:    "bypass",
	dumper.ResultUnsafe:    "unsafe",
	dumper.ResultRefused:   "refused",
	dumper.ResultStale:     "stale",
}

// Result returns the index in Results of r.
func Result(r dumper.Result) int {
	if int(r) >= len(Results) {
		return 0
	}
	return int(r)
}

// StoreOps are the store operations an observer is told of; Op returns len(StoreOps) for
// any other, whose value is Other.
var StoreOps = [...]string{"get", "set", "invalidate", "invalidate-all"}

// Op returns the index in StoreOps of op, or len(StoreOps).
func Op(op string) int {
	for i, o := range StoreOps {
		if op == o {
			return i
		}
	}
	return len(StoreOps)
}

// OpLabel returns the value of an index from Op.
func OpLabel(i int) string {
	if i == len(StoreOps) {
		return Other
	}
	return StoreOps[i]
}

// Classes are the values of a status class.
var Classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Class returns the index in Classes of an HTTP status's class ("2xx" for 204), or
// len(Classes), "none", for 0 (the cache did not see the status) or anything outside
// 100–599.
func Class(code int) int {
	if code < 100 || code > 599 {
		return len(Classes)
	}
	return code/100 - 1
}

// ClassLabel returns the value of an index from Class.
func ClassLabel(c int) string {
	if c == len(Classes) {
		return "none"
	}
	return Classes[c]
}

// A Vocabulary bounds the values of a label: the values it knows, then the first extra
// distinct values it meets that are short tokens (at most max), then Other for everything
// else. It is safe for concurrent use; a known value is looked up without a lock.
type Vocabulary struct {
	known map[string]string // read only after New
	max   int

	mu    sync.RWMutex
	extra map[string]string
}

// New returns a vocabulary of the known values and at most max others. A known value may
// be renamed: known maps a value to its label.
func New(known map[string]string, max int) *Vocabulary {
	return &Vocabulary{known: known, max: max, extra: make(map[string]string)}
}

// ExtraSources is how many sources beyond the known ones [Sources] gives a value of their
// own.
const ExtraSources = 8

// Sources returns the vocabulary of invalidation sources: the project's ("request",
// "gorm", "pgnotify", "sql", "pgx", "purge"; "direct" for an invalidation without a
// source), those of extra, then the first ExtraSources others that are short tokens.
func Sources(extra []string) *Vocabulary {
	known := Identity(dumper.SourceRequest, "gorm", "pgnotify", "sql", "pgx", "purge")
	known[""] = "direct"
	for _, s := range extra {
		if s != "" {
			known[s] = s
		}
	}
	return New(known, ExtraSources)
}

// Fwds returns the vocabulary of Cache-Status fwd values: the cache's, and room for 8
// more.
func Fwds() *Vocabulary {
	return New(Identity("", "uri-miss", "vary-miss", "stale", "request", "miss", "method", "bypass"), 8)
}

// Details returns the vocabulary of Cache-Status detail values: the cache's are a fixed
// list of about twenty short tokens, so the first 32 are taken as they come.
func Details() *Vocabulary { return New(Identity(""), 32) }

// Label returns the value of v.
func (vs *Vocabulary) Label(v string) string {
	if l, ok := vs.known[v]; ok {
		return l
	}
	if vs.max == 0 || !safe(v) {
		return Other
	}
	vs.mu.RLock()
	l, ok := vs.extra[v]
	full := len(vs.extra) >= vs.max
	vs.mu.RUnlock()
	if ok {
		return l
	}
	if full {
		return Other
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if l, ok := vs.extra[v]; ok {
		return l
	}
	if len(vs.extra) >= vs.max {
		return Other
	}
	vs.extra[v] = v
	return v
}

// MaxBytes bounds a value that a vocabulary takes without knowing it in advance.
const MaxBytes = 32

// safe reports whether v, not known in advance, may become a value: a short token of
// lower-case letters, digits, '-', '_' and '.'; "other" is taken.
func safe(v string) bool {
	if v == "" || len(v) > MaxBytes || v == Other {
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

// Identity returns a known set mapping each of values to itself.
func Identity(values ...string) map[string]string {
	m := make(map[string]string, len(values))
	for _, v := range values {
		m[v] = v
	}
	return m
}
