package gormdumper

import (
	"hash/maphash"
	"reflect"
	"strings"
	"sync"

	"github.com/dumperhq/dumper"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// What a read records depends on the SQL text GORM built for it, on the arguments bound to
// that text, and on what the plugin knows of the tables it names (their key columns and
// relations, which change only as models are first seen and when RefreshKeys is called). The
// walk of the statement's clauses that finds it (readBuilt) costs far more than the query's
// other work in the plugin, so its outcome is kept per SQL text as a readPlan, and a later
// statement with the same text replays it with its own arguments.
//
// Why replaying is sound: GORM appends a statement's arguments to Statement.Vars in the order
// it writes their placeholders into the text, so two statements with the same text bind their
// k-th argument to the same place of the same SQL, and what is true of the rows the first one
// returns, for any arguments (its rows have column c in the values of its arguments at
// positions p), is true of the second's with its own. A plan is kept only when the positions
// are certain: each value the walk narrowed by is equal to exactly one argument. A replay that
// meets an argument it cannot convert to the key's canonical text walks the statement afresh.
// A plan is used only with the registry generation it was computed under, and with the model
// it was computed with (or one already registered on the table), so that what the walk learns
// of a new model is learnt.

// readPlan is the outcome of the walk of one statement's clauses (see above).
type readPlan struct {
	gen    uint64         // the keyRegistry generation the plan was computed under
	schema *schema.Schema // the statement's model
	table  string         // bare, the table the statement names

	// analyze: the statement is left to the Analyzer (or keeps the response out of the
	// cache without one); noStore: it keeps the response out of the cache.
	analyze, noStore bool
	scans            []string // tables read whole (dumper.ReadTable), in order
	narrowed         []string // tables read narrowed by col to the values at pos
	col              string
	kind             dumper.KeyKind
	pos              []int        // in Statement.Vars
	read             *dumper.Read // scans and narrowed, prepared; nil until the plan is kept
}

// size is what the plan costs the cache, in bytes, roughly: its text, its fields, and its
// Read (per table, four strings and the tags built from the name).
func (pl *readPlan) size(text string) int {
	n := len(text) + 320 + len(pl.col) + 8*len(pl.pos)
	for _, t := range pl.scans {
		n += 96 + 3*len(t)
	}
	for _, t := range pl.narrowed {
		n += 112 + 4*len(t) + len(pl.col)
	}
	return n
}

// readRecord is what one walk found, before it is recorded in the response and perhaps kept
// as a plan: a readPlan with, for a narrowed read, the values it narrows by.
type readRecord struct {
	readPlan
	values []string // canonical
	raw    []any    // as the clause holds them, for plan.pos
	// keep: the record does not depend on anything but the text, the arguments at pos and
	// the registry (false when a relation could not be read, or positions are uncertain).
	keep bool
}

// apply records pl in the response being rendered for stmt, with values for a narrowed read.
func (p *Plugin) apply(stmt *gorm.Statement, pl *readPlan, values []string) {
	ctx := stmt.Context
	switch {
	case pl.analyze:
		if p.analyzer != nil {
			p.analyzer.Read(ctx, stmt.SQL.String(), stmt.Vars)
		} else {
			dumper.NoStore(ctx)
		}
		return
	case pl.noStore:
		dumper.NoStore(ctx)
		return
	}
	if pl.read != nil {
		pl.read.Record(ctx, values...)
		return
	}
	if len(pl.scans) > 0 {
		dumper.ReadTable(ctx, pl.scans...)
	}
	for _, t := range pl.narrowed {
		dumper.ReadRows(ctx, t, pl.col, values...)
	}
}

// replay records pl for stmt, whose text is pl's, with stmt's arguments. It reports false,
// having recorded nothing, if an argument at pl.pos does not convert to pl.kind's text, or
// stmt's model is new on the table: the statement must be walked.
func (p *Plugin) replay(stmt *gorm.Statement, pl *readPlan) bool {
	if stmt.Schema != pl.schema && stmt.Schema != nil && !p.keys.registered(stmt.Schema, pl.table) {
		return false
	}
	if len(pl.narrowed) == 0 {
		p.apply(stmt, pl, nil)
		return true
	}
	var rawBuf [4]any
	var valBuf [4]string
	raw := rawBuf[:0]
	for _, i := range pl.pos {
		if i >= len(stmt.Vars) {
			return false
		}
		raw = append(raw, stmt.Vars[i])
	}
	values, ok := canonicalValues(pl.kind, raw, valBuf[:0])
	if !ok {
		return false
	}
	p.apply(stmt, pl, values)
	return true
}

// manyValues is the bound of package dumper on the row tags of one read (docs/capture.md):
// a read narrowed to more values is recorded as a scan. A plan of a text binding more is a
// plan of scans; were dumper's bound higher, that would only be coarser.
const manyValues = 256

// positions finds, for each of raw, the one argument of vars equal to it, and reports false
// unless each is equal to exactly one, a different one for each. raw holds at most
// manyValues values; vars may be long (a statement of many arguments): past a few, their
// positions are indexed once.
func positions(raw, vars []any) ([]int, bool) {
	if len(raw)*len(vars) > 64 {
		return indexedPositions(raw, vars)
	}
	pos := make([]int, 0, len(raw))
	for _, r := range raw {
		at := -1
		for i, v := range vars {
			eq, sure := sameValue(r, v)
			if !sure || eq && at >= 0 {
				return nil, false
			}
			if eq {
				at = i
			}
		}
		if at < 0 {
			return nil, false
		}
		for _, q := range pos {
			if q == at {
				return nil, false
			}
		}
		pos = append(pos, at)
	}
	return pos, true
}

// indexedPositions is positions through an index of vars by value: the same answer, in
// time linear in the arguments.
func indexedPositions(raw, vars []any) (pos []int, ok bool) {
	defer func() {
		if recover() != nil { // a value of a type that cannot be hashed: not sure
			pos, ok = nil, false
		}
	}()
	at := make(map[any]int, len(vars)) // value → its one position, or -1 if several
	for i, v := range vars {
		if t := reflect.TypeOf(v); t != nil && !t.Comparable() {
			continue // a []byte, say: equal to no value a read narrows by (else that one panics below)
		}
		if _, dup := at[v]; dup {
			at[v] = -1
		} else {
			at[v] = i
		}
	}
	pos = make([]int, 0, len(raw))
	taken := make(map[int]bool, len(raw))
	for _, r := range raw {
		i, found := at[r]
		if !found || i < 0 || taken[i] {
			return nil, false
		}
		taken[i] = true
		pos = append(pos, i)
	}
	return pos, true
}

// sameValue reports whether a and b are equal; sure is false when that cannot be told (a
// value of a type that cannot be compared).
func sameValue(a, b any) (eq, sure bool) {
	defer func() {
		if recover() != nil {
			eq, sure = false, false
		}
	}()
	return a == b, true
}

// planShards is the number of independently locked parts of a planCache.
const planShards = 16

// planCache keeps the plans of the SQL texts seen, within a bound on their bytes: a part
// that fills up is emptied, which costs only walks.
type planCache struct {
	seed   maphash.Seed
	shards [planShards]planShard
}

type planShard struct {
	mu    sync.RWMutex
	plans map[string][]*readPlan // text → one plan per model seen with it, usually one
	bytes int
	max   int
}

// defaultMaxPlanBytes bounds the plans a plugin keeps (Options.MaxPlanBytes).
const defaultMaxPlanBytes = 4 << 20

func newPlanCache(maxBytes int) *planCache {
	if maxBytes <= 0 {
		maxBytes = defaultMaxPlanBytes
	}
	c := &planCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].max = maxBytes / planShards
	}
	return c
}

func (c *planCache) shard(text string) *planShard {
	return &c.shards[maphash.String(c.seed, text)%planShards]
}

// get returns the plan of text computed under generation gen for model s, or else for
// another model, or nil.
func (c *planCache) get(text string, s *schema.Schema, gen uint64) *readPlan {
	sh := c.shard(text)
	sh.mu.RLock()
	pls := sh.plans[text]
	sh.mu.RUnlock()
	var other *readPlan
	for _, pl := range pls {
		if pl.gen != gen {
			continue
		}
		if pl.schema == s {
			return pl
		}
		other = pl
	}
	return other
}

// put keeps pl as the plan of text for its model.
func (c *planCache) put(text string, pl *readPlan) {
	size := pl.size(text)
	sh := c.shard(text)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if size > sh.max/8 {
		return // one text would empty the part for the others: walk it every time
	}
	if sh.plans == nil || sh.bytes+size > sh.max {
		sh.plans, sh.bytes = map[string][]*readPlan{}, 0
	}
	old := sh.plans[text]
	kept := make([]*readPlan, 0, len(old)+1)
	for _, o := range old {
		if o.schema != pl.schema && o.gen == pl.gen {
			kept = append(kept, o)
		}
	}
	if len(kept) >= 4 {
		kept = kept[1:] // many models on one text: keep the latest few
	}
	text = strings.Clone(text) // not the statement's buffer
	sh.plans[text] = append(kept, pl)
	sh.bytes += size
}
