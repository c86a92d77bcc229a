// Package storetest is the conformance suite for implementations of [dumper.Store].
//
// Every store — the memory store, the Redis store, any later one — runs the same suite from
// its own tests by passing [Run] a function that returns a new, empty store:
//
//	func TestConformance(t *testing.T) {
//		addr := redisAddr(t) // skips the test when no server is available
//		storetest.Run(t, func(t *testing.T) dumper.Store {
//			// A unique prefix per subtest: the subtests run in parallel on one server.
//			s, err := redisstore.New(redisstore.Options{URL: "redis://" + addr, Prefix: uniquePrefix(t)})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// newStore is called once per subtest with the subtest's t, from that subtest's goroutine; it
// may call t.Cleanup, t.Skip or t.Fatal. The stores it returns must not share entries or
// invalidations with each other, since the subtests run in parallel (they call t.Parallel).
// Run returns when every subtest has finished, so resources released by a defer in the
// calling test outlive the suite.
//
// A store that supports soft invalidation (see [dumper.Store]) runs [RunSoft] as well, which
// also tests its leases if it is a [dumper.Leaser].
//
// The suite needs a store that can hold a few MiB without evicting (one entry has a 1 MiB
// body) and that honours a time to live of 50 ms within a few seconds. It only stores
// entries whose Born is a clock value the store returned.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
)

// Run runs the conformance suite against the stores newStore returns, as subtests of t.
func Run(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	t.Helper()
	tests := []struct {
		name string
		f    func(t *testing.T, newStore func(t *testing.T) dumper.Store)
	}{
		{"GetEmpty", testGetEmpty},
		{"SetGet", testSetGet},
		{"Overwrite", testOverwrite},
		{"SetMany", testSetMany},
		{"IndependentKeys", testIndependentKeys},
		{"VariantRecord", testVariantRecord},
		{"InvalidateCarriedTag", testInvalidateCarriedTag},
		{"InvalidateOtherTags", testInvalidateOtherTags},
		{"ExactTagMatch", testExactTagMatch},
		{"ManyTags", testManyTags},
		{"ClockMonotonic", testClockMonotonic},
		{"BornBeforeInvalidation", testBornBeforeInvalidation},
		{"BornBeforeUnrelatedInvalidation", testBornBeforeUnrelatedInvalidation},
		{"BornAfterInvalidation", testBornAfterInvalidation},
		{"InvalidateManyAtomic", testInvalidateManyAtomic},
		{"InvalidateAll", testInvalidateAll},
		{"InvalidateAllConcurrent", testInvalidateAllConcurrent},
		{"TTL", testTTL},
		{"Concurrent", testConcurrent},
		{"CanceledContext", testCanceledContext},
	}
	// The group waits for its parallel subtests, so Run returns only when they are done.
	t.Run("Store", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tt.f(t, newStore)
			})
		}
	})
}

// clockKey is a key the suite never sets: a Get on it reads the store's clock.
const clockKey = "storetest:clock"

// stored is the wall time entries are stamped with, with a non-zero nanosecond part.
var stored = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC).UnixNano()

func testGetEmpty(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	for _, key := range []string{"G http://example.com/", clockKey, "G http://example.com/\x00Accept=text/html"} {
		l := get(t, s, key)
		if l.Entry != nil || l.Stale {
			t.Errorf("Get(%q) on an empty store = {Entry: %v, Stale: %v}, want {nil, false}", key, l.Entry, l.Stale)
		}
	}
}

func testSetGet(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	born := now(t, s)
	big := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	tests := []struct {
		name string
		key  string
		e    *dumper.Entry
	}{
		{"full", "G https://example.com/icecream/cr%C3%A8me?page=2", &dumper.Entry{
			Status: http.StatusOK,
			Header: dumper.NewHeader(http.Header{
				"Content-Type":  {"text/html; charset=utf-8"},
				"Etag":          {`W/"a,b"`},
				"Set-Cookie":    {"a=1", "b=2", ""},
				"X-Empty":       {""},
				"X-Unicode-Ünï": {"crème brûlée ☃"},
				"Vary":          {"Accept-Encoding"},
			}),
			Body:   []byte("<h1>crème</h1>\x00\xff"),
			Tags:   []string{"/icecream/cr%C3%A8me", "flavour:3", "crème", "a,b", "*"},
			Born:   born,
			Stored: stored,
			Public: true,
		}},
		{"empty body", "G http://example.com/empty", &dumper.Entry{
			Status: http.StatusNoContent, Header: dumper.NewHeader(http.Header{}), Body: []byte{},
			Tags: []string{"/empty"}, Born: born, Stored: stored,
		}},
		{"nil body and header", "G http://example.com/nil", &dumper.Entry{
			Status: http.StatusNotFound, Tags: []string{"/nil"}, Born: born, Stored: stored,
		}},
		{"1 MiB body", "G http://example.com/big", &dumper.Entry{
			Status: http.StatusOK, Header: dumper.NewHeader(http.Header{"Content-Length": {"1048576"}}), Body: big,
			Tags: []string{"/big"}, Born: born, Stored: stored,
		}},
		{"variant record", "G http://example.com/v", &dumper.Entry{
			Kind: dumper.VariantRecord, Header: varyHeader("Accept", "Accept-Language", "Cookie"), Tags: []string{"/v"}, Born: born, Stored: stored,
		}},
		{"variant key with NUL", "G http://example.com/v\x00Accept=text/html\x00Cookie!", &dumper.Entry{
			Status: http.StatusOK, Header: dumper.NewHeader(http.Header{"Vary": {"Accept, Cookie"}}), Body: []byte("html"),
			Tags: []string{"/v"}, Born: born, Stored: stored,
		}},
		{"long key", "G http://example.com/" + strings.Repeat("long/", 400), &dumper.Entry{
			Status: http.StatusMovedPermanently, Header: dumper.NewHeader(http.Header{"Location": {"/"}}),
			Tags: []string{"/" + strings.Repeat("long/", 400)}, Born: born, Stored: stored,
		}},
		{"local time", "G http://example.com/local", &dumper.Entry{
			Status: 599, Body: []byte("l"), Tags: []string{"/local"}, Born: born,
			Stored: time.Now().UnixNano(),
		}},
	}
	for _, tt := range tests {
		want := clone(tt.e)
		set(t, s, tt.key, tt.e, 0)
		for range 2 { // a hit must not change the entry
			l := get(t, s, tt.key)
			if l.Entry == nil {
				t.Errorf("%s: Get after Set = nil (Stale %v), want the entry", tt.name, l.Stale)
				break
			}
			if diff := diffEntry(l.Entry, want); diff != "" {
				t.Errorf("%s: Get after Set: %s", tt.name, diff)
			}
		}
	}
}

func testOverwrite(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	const key = "G http://example.com/o"
	born := now(t, s)
	first := sample(key, born, "/o", "first")
	second := sample(key, born, "/o", "second")
	second.Body = []byte("second body")
	second.Header = withField(second.Header, "X-Version", "2")
	set(t, s, key, first, 0)
	set(t, s, key, second, 0)
	mustHit(t, s, key, second)

	// A variant record may replace a response and the other way round.
	rec := record(born, []string{"Accept"}, "/o")
	set(t, s, key, rec, 0)
	mustHit(t, s, key, rec)
	third := sample(key, born, "/o")
	set(t, s, key, third, 0)
	mustHit(t, s, key, third)

	// An overwrite takes the new entry's tags: the old ones no longer apply.
	fourth := sample(key, born, "/o", "fourth-only")
	set(t, s, key, fourth, 0)
	invalidate(t, s, "first")
	mustHit(t, s, key, fourth)
	invalidate(t, s, "fourth-only")
	mustMiss(t, s, key)
}

func testSetMany(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	ctx := t.Context()
	if err := s.Set(ctx, 0); err != nil {
		t.Fatalf("Set of no item: %v", err)
	}
	old := now(t, s)
	invalidate(t, s, "gone")
	born := now(t, s)
	// What the cache stores for a response that varies: a variant record and the response.
	rec := record(born, []string{"Accept"}, "/m")
	resp := sample("m", born, "/m")
	resp.Header = withField(resp.Header, "Vary", "Accept")
	late := sample("late", old, "/late", "gone") // skipped or stored, never served
	other := sample("other", born, "/other")
	if err := s.Set(ctx, 0,
		dumper.Item{Key: "G http://example.com/m", Entry: rec},
		dumper.Item{Key: "late", Entry: late},
		dumper.Item{Key: "G http://example.com/m\x00Accept=text/html", Entry: resp},
		dumper.Item{Key: "other", Entry: other},
	); err != nil {
		t.Fatalf("Set of 4 items: %v", err)
	}
	mustHit(t, s, "G http://example.com/m", rec)
	mustHit(t, s, "G http://example.com/m\x00Accept=text/html", resp)
	mustHit(t, s, "other", other)
	mustMiss(t, s, "late")

	// The same key twice: the last item wins.
	first, second := sample("dup", born, "/dup", "1"), sample("dup", born, "/dup", "2")
	if err := s.Set(ctx, 0, dumper.Item{Key: "dup", Entry: first}, dumper.Item{Key: "dup", Entry: second}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	mustHit(t, s, "dup", second)

	// One ttl for all the items.
	a, b := sample("ta", born, "/ta"), sample("tb", born, "/tb")
	if err := s.Set(ctx, 50*time.Millisecond, dumper.Item{Key: "ta", Entry: a}, dumper.Item{Key: "tb", Entry: b}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	for _, key := range []string{"ta", "tb"} {
		wait.For(t, 5*time.Second, key+" to expire (Set with ttl 50ms)", func() bool { return get(t, s, key).Entry == nil })
	}
	mustHit(t, s, "other", other)
}

func testIndependentKeys(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	born := now(t, s)
	keys := []string{"G http://a.example/x", "G http://b.example/x", "G https://a.example/x", "G http://a.example/x?q=1"}
	entries := make([]*dumper.Entry, len(keys))
	for i, k := range keys {
		entries[i] = sample(k, born, fmt.Sprintf("tag-%d", i))
		set(t, s, k, entries[i], 0)
	}
	for i, k := range keys {
		mustHit(t, s, k, entries[i])
	}
	over := sample(keys[0], born, "tag-0", "over")
	set(t, s, keys[0], over, 0)
	mustHit(t, s, keys[0], over)
	for i, k := range keys[1:] {
		mustHit(t, s, k, entries[i+1])
	}
	invalidate(t, s, "tag-0")
	mustMiss(t, s, keys[0])
	for i, k := range keys[1:] {
		mustHit(t, s, k, entries[i+1])
	}
}

// testVariantRecord stores what the cache stores for a response that varies, a variant
// record under the URL's key and the response under its variant key, and checks that the
// record comes back as it was stored, Kind included, and that invalidation and overwriting
// apply to it as the Store contract says: a store may return a record one of whose tags
// was invalidated, but only as it was stored, while the response it points to is never
// returned; and a record stored afterwards replaces it.
func testVariantRecord(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	const (
		key     = "G http://example.com/rec"
		variant = key + "\x00Accept=text/html\x00Accept-Language!"
	)
	born := now(t, s)
	rec := record(born, []string{"Accept", "Accept-Language"}, "/rec", "flavour:1")
	resp := sample(variant, born, "/rec", "flavour:1")
	resp.Header = withField(resp.Header, "Vary", "Accept, Accept-Language")
	want := clone(rec)
	if err := s.Set(t.Context(), 0, dumper.Item{Key: key, Entry: rec}, dumper.Item{Key: variant, Entry: resp}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	mustHit(t, s, key, want)
	mustHit(t, s, variant, resp)

	invalidate(t, s, "flavour:1")
	mustMiss(t, s, variant)
	if l := get(t, s, key); l.Entry != nil {
		if diff := diffEntry(l.Entry, want); diff != "" {
			t.Errorf("Get(%q) after its tag was invalidated returned another entry than the record stored: %s", key, diff)
		}
	}

	// The next render stores a record of its own, which varies on other headers.
	born = now(t, s)
	rec = record(born, []string{"Cookie"}, "/rec", "flavour:1")
	resp = sample(key+"\x00Cookie=a", born, "/rec", "flavour:1")
	resp.Header = withField(resp.Header, "Vary", "Cookie")
	if err := s.Set(t.Context(), 0, dumper.Item{Key: key, Entry: rec}, dumper.Item{Key: key + "\x00Cookie=a", Entry: resp}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	mustHit(t, s, key, rec)
	mustHit(t, s, key+"\x00Cookie=a", resp)
	mustMiss(t, s, variant)

	// A response that no longer varies replaces the record.
	plain := sample(key, now(t, s), "/rec")
	set(t, s, key, plain, 0)
	mustHit(t, s, key, plain)
}

func testInvalidateCarriedTag(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	const key = "G http://example.com/p"
	for i, tag := range []string{"/p", "t1", "t2"} {
		e := sample(key, now(t, s), "/p", "t1", "t2")
		set(t, s, key, e, 0)
		mustHit(t, s, key, e)
		invalidate(t, s, tag)
		for range 2 { // the miss is permanent, whether or not the store dropped the entry
			if l := get(t, s, key); l.Entry != nil {
				t.Fatalf("round %d: Get after Invalidate(%q) returned an entry carrying it (Born %d, Now %d)", i, tag, l.Entry.Born, l.Now)
			}
		}
		// A response rendered after the invalidation is stored and served again.
		e = sample(key, now(t, s), "/p", "t1", "t2")
		set(t, s, key, e, 0)
		mustHit(t, s, key, e)
	}
}

func testInvalidateOtherTags(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	const key = "G http://example.com/keep"
	e := sample(key, now(t, s), "/keep", "post:1")
	set(t, s, key, e, 0)
	invalidate(t, s, "/other")
	mustHit(t, s, key, e)
	invalidate(t, s, "post:2", "post:10", "post:", "POST:1", "/keep/", "/kee")
	mustHit(t, s, key, e)
}

// testExactTagMatch checks that a tag is matched as a whole string: no prefix, pattern, case
// folding, Unicode normalization, or splitting on separators.
func testExactTagMatch(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	tests := []struct{ carried, invalidated string }{
		{"/x/y", "/x"},
		{"/x", "/x/y"},
		{"/x", "/x/"},
		{"/x/y", "/x*"},
		{"/x/y", "/x/*"},
		{"/x/y", "/x/?"},
		{"/x/y", "/x.*"},
		{"/x/y", "/x/[a-z]"},
		{"/x/y", "*"},
		{"/x", "?x"},
		{"/x", "/X"},
		{"/x", "/x "},
		{"/x", " /x"},
		{"a", "ab"},
		{"ab", "a"},
		{"a,b", "a"},
		{"a", "a,b"},
		{"a b", "a"},
		{"a\x00b", "a"},
		{"a", "a\x00"},
		{"crème", "creme"},
		{"crème", "cre\u0300me"}, // the same text, decomposed
		{"crème", "CRÈME"},
		{"/icecream/crème", "/icecream/cr%C3%A8me"},
		{"/icecream/cr%C3%A8me", "/icecream/cr%c3%a8me"},
		{"post:1", "post:10"},
		{"post:10", "post:1"},
		{"☃", "☃☃"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%q", tt.carried, tt.invalidated), func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			const key = "G http://example.com/exact"
			e := sample(key, now(t, s), tt.carried)
			set(t, s, key, e, 0)
			invalidate(t, s, tt.invalidated)
			mustHit(t, s, key, e)
			invalidate(t, s, tt.carried)
			mustMiss(t, s, key)
		})
	}
}

func testManyTags(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	born := now(t, s)
	tags := func(prefix string) []string {
		ts := make([]string, 500)
		for i := range ts {
			ts[i] = fmt.Sprintf("%s:%d:ünï", prefix, i)
		}
		return ts
	}
	a := sample("a", born, tags("a")...)
	b := sample("b", born, tags("b")...)
	set(t, s, "a", a, 0)
	set(t, s, "b", b, 0)
	mustHit(t, s, "a", a)
	invalidate(t, s, "a:250:ünï")
	mustMiss(t, s, "a")
	mustHit(t, s, "b", b)
	invalidate(t, s, tags("c")...) // many tags carried by nothing
	mustHit(t, s, "b", b)
	invalidate(t, s, "b:499:ünï")
	mustMiss(t, s, "b")
}

func testClockMonotonic(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	last := now(t, s)
	check := func(what string, strict bool) {
		t.Helper()
		n := now(t, s)
		if n < last || strict && n == last {
			t.Fatalf("after %s: Now = %d, was %d", what, n, last)
		}
		last = n
	}
	for i := range 20 {
		check("Get", false)
		set(t, s, "k", sample("k", last, "t"), time.Hour)
		check("Set", false)
		invalidate(t, s, fmt.Sprint("t", i%3))
		check("Invalidate", true)
		invalidate(t, s, "a", "b", "c")
		check("Invalidate of 3 tags", true)
		invalidate(t, s)
		check("Invalidate of no tag", false)
	}
}

func testBornBeforeInvalidation(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	born := now(t, s) // the clock read before rendering
	invalidate(t, s, "t")
	// The response rendered from data read before the invalidation comes back late.
	set(t, s, "late", sample("late", born, "/late", "t"), 0)
	mustMiss(t, s, "late")
	// Still a miss after later invalidations of unrelated tags.
	invalidate(t, s, "u2")
	mustMiss(t, s, "late")
}

// testBornBeforeUnrelatedInvalidation checks that a response whose rendering overlapped an
// invalidation of tags it does not carry is stored and served: on a busy site some
// invalidation is nearly always in flight. The contract lets a store skip an entry when one
// of its own tags was invalidated after its Born, and also when it cannot tell: a store that
// keeps no record of a tag (it never stored an entry carrying it, or the record was
// evicted) may refuse an entry born before its latest invalidation of any tag, provided
// that an entry born at a clock value read after that refusal is stored. Once it has stored
// an entry carrying the tags, it must store the next one whatever unrelated tags were
// invalidated during the rendering.
func testBornBeforeUnrelatedInvalidation(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	born := now(t, s)
	invalidate(t, s, "t")
	e := sample("other", born, "/other", "u")
	set(t, s, "other", e, 0)
	if l := get(t, s, "other"); l.Entry == nil {
		// Refused: the store had no record of /other or u. The next rendering is stored.
		e = sample("other", now(t, s), "/other", "u")
		set(t, s, "other", e, 0)
	}
	mustHit(t, s, "other", e)

	// The store now knows the tags: an overlapping unrelated invalidation is no reason to
	// refuse.
	born = now(t, s)
	invalidate(t, s, "t")
	e = sample("other", born, "/other", "u")
	set(t, s, "other", e, 0)
	mustHit(t, s, "other", e)
}

func testBornAfterInvalidation(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	invalidate(t, s, "t")
	n := now(t, s) // read after the invalidation: rendering starts after it
	e := sample("k", n, "/k", "t")
	set(t, s, "k", e, 0)
	mustHit(t, s, "k", e)
	invalidate(t, s, "t")
	mustMiss(t, s, "k")
}

// testInvalidateAll checks a store that implements [dumper.AllInvalidator] (it is skipped
// for one that does not): every entry born before the call is gone, whatever its tags, and
// one rendered before it and stored late is not served; the clock moves on, and entries born
// afterwards are stored, served and invalidated as usual.
func testInvalidateAll(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	all, ok := s.(dumper.AllInvalidator)
	if !ok {
		t.Skipf("%T does not implement dumper.AllInvalidator", s)
	}
	born := now(t, s)
	keys := []string{"G http://example.com/a", "G http://example.com/b", "G http://other.example/c?q=1"}
	for i, key := range keys {
		set(t, s, key, sample(key, born, fmt.Sprint("/", i), fmt.Sprint("tag:", i)), 0)
	}
	set(t, s, "G http://example.com/untagged", sample("G http://example.com/untagged", born), 0)
	keys = append(keys, "G http://example.com/untagged")
	mustHit(t, s, keys[0], sample(keys[0], born, "/0", "tag:0"))
	late := now(t, s) // a rendering that starts before the call and is stored after it

	if err := all.InvalidateAll(t.Context()); err != nil {
		t.Fatalf("InvalidateAll: %v", err)
	}
	for _, key := range keys {
		mustMiss(t, s, key)
	}
	set(t, s, "G http://example.com/late", sample("G http://example.com/late", late, "/late"), 0)
	mustMiss(t, s, "G http://example.com/late")

	after := now(t, s)
	if after <= late {
		t.Errorf("clock after InvalidateAll = %d, want more than %d", after, late)
	}
	e := sample(keys[0], after, "/0", "tag:0")
	set(t, s, keys[0], e, 0)
	if l := get(t, s, keys[0]); l.Entry == nil {
		// Refused as a store may refuse an entry whose tags it keeps no record of; the next
		// rendering is stored.
		e = sample(keys[0], now(t, s), "/0", "tag:0")
		set(t, s, keys[0], e, 0)
	}
	mustHit(t, s, keys[0], e)
	invalidate(t, s, "tag:0")
	mustMiss(t, s, keys[0])

	// A second call in a row is no different.
	e = sample(keys[1], now(t, s), "/1")
	set(t, s, keys[1], e, 0)
	if l := get(t, s, keys[1]); l.Entry == nil {
		e = sample(keys[1], now(t, s), "/1")
		set(t, s, keys[1], e, 0)
	}
	mustHit(t, s, keys[1], e)
	for range 2 {
		if err := all.InvalidateAll(t.Context()); err != nil {
			t.Fatalf("InvalidateAll: %v", err)
		}
	}
	mustMiss(t, s, keys[1])
}

// testInvalidateAllConcurrent stores entries from several goroutines, each born at a clock
// value read just before, while InvalidateAll runs: afterwards no entry born at or before a
// clock value read before the call is returned, whenever its store landed.
func testInvalidateAllConcurrent(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	all, ok := s.(dumper.AllInvalidator)
	if !ok {
		t.Skipf("%T does not implement dumper.AllInvalidator", s)
	}
	ctx := t.Context()
	const workers, keysPerWorker = 4, 8
	var (
		wg     sync.WaitGroup
		stop   atomic.Bool
		stores atomic.Int64
		errs   = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("G http://example.com/all/%d/%d", w, i%keysPerWorker)
				l, err := s.Get(ctx, key)
				if err == nil {
					err = s.Set(ctx, 0, dumper.Item{Key: key, Entry: sample(key, l.Now, fmt.Sprint("/all/", w), "all")})
				}
				if err != nil {
					errs <- err
					return
				}
				stores.Add(1)
			}
		})
	}
	wait.For(t, 10*time.Second, "stores to begin", func() bool { return stores.Load() >= workers*keysPerWorker })
	before := now(t, s)
	err := all.InvalidateAll(ctx)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("Get or Set: %v", e)
	}
	if err != nil {
		t.Fatalf("InvalidateAll: %v", err)
	}
	for w := range workers {
		for i := range keysPerWorker {
			key := fmt.Sprintf("G http://example.com/all/%d/%d", w, i)
			if l := get(t, s, key); l.Entry != nil && l.Entry.Born <= before {
				t.Errorf("Get(%q) after InvalidateAll returned an entry born at %d, not after %d, a clock value read before the call", key, l.Entry.Born, before)
			}
		}
	}
}

// testInvalidateManyAtomic checks that readers never see an invalidation of several tags
// half done: scanning entries that carry one tag each, in either order, a reader never finds
// an entry after finding one of the others gone. A scan that starts after the invalidation
// returned finds every entry gone.
func testInvalidateManyAtomic(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	ctx := t.Context()
	const n = 32
	born := now(t, s)
	keys := make([]string, n)
	tags := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("G http://example.com/atomic/%d", i)
		tags[i] = fmt.Sprintf("atomic:%d", i)
		set(t, s, keys[i], sample(keys[i], born, tags[i]), 0)
	}
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		done    atomic.Bool // the invalidation has returned
	)
	const readers = 4
	started.Add(readers)
	for r := range readers {
		wg.Go(func() {
			order := slices.Clone(keys)
			if r%2 == 1 {
				slices.Reverse(order)
			}
			signaled := false
			defer func() {
				if !signaled {
					started.Done()
				}
			}()
			for {
				last := done.Load() // the scan starts after the invalidation returned
				seenMiss := ""
				hits := 0
				for _, k := range order {
					l, err := s.Get(ctx, k)
					if err != nil {
						t.Errorf("Get(%q): %v", k, err)
						return
					}
					if l.Entry == nil {
						if seenMiss == "" {
							seenMiss = k
						}
						continue
					}
					hits++
					if seenMiss != "" {
						t.Errorf("reader %d saw %q invalidated, then %q still valid: the invalidation is not atomic", r, seenMiss, k)
						return
					}
				}
				if !signaled {
					signaled = true
					started.Done()
				}
				if last {
					if hits != 0 {
						t.Errorf("reader %d: %d of %d entries still valid in a scan started after the invalidation returned", r, hits, n)
					}
					return
				}
			}
		})
	}
	started.Wait()
	defer wg.Wait()
	defer done.Store(true) // also if the invalidation fails: the readers stop after one more scan
	invalidate(t, s, tags...)
}

// testTTL checks that an entry set with a ttl expires, not before the ttl has passed, and
// that a replacement takes the new entry's ttl. What is checked does not depend on the
// machine's speed: entries that must still be there have no ttl or one of an hour, and
// those with a short one are waited for until they are gone.
func testTTL(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	const ttl = 50 * time.Millisecond
	born := now(t, s)
	short := sample("short", born, "/short")
	forever := sample("forever", born, "/forever")
	hour := sample("hour", born, "/hour")
	shortened := sample("shortened", born, "/shortened")
	lengthened := sample("lengthened", born, "/lengthened")

	set(t, s, "hour", hour, time.Hour)
	mustHit(t, s, "hour", hour) // served while its ttl runs
	start := time.Now()
	set(t, s, "short", short, ttl)
	set(t, s, "forever", forever, 0)
	set(t, s, "shortened", shortened, 0)
	set(t, s, "shortened", shortened, ttl) // a replacement takes the new ttl
	set(t, s, "lengthened", lengthened, ttl)
	set(t, s, "lengthened", lengthened, 0)

	for _, key := range []string{"short", "shortened"} {
		wait.For(t, 5*time.Second, fmt.Sprintf("%s to expire (Set with ttl %v)", key, ttl), func() bool { return get(t, s, key).Entry == nil })
	}
	if el := time.Since(start); el < ttl {
		t.Errorf("entries with ttl %v expired after %v", ttl, el)
	}
	mustHit(t, s, "forever", forever)
	mustHit(t, s, "lengthened", lengthened) // replaced with ttl 0: no longer expires
	mustHit(t, s, "hour", hour)
}

// testConcurrent runs writers, readers and invalidators on shared keys and tags, and checks
// the guarantee of Invalidate: once Invalidate(tag) has returned, no Get started afterwards
// returns an entry carrying tag that was born before the call.
func testConcurrent(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	ctx := t.Context()
	const (
		nKeys  = 8
		nTags  = 4
		rounds = 300
	)
	// watermark[i] is one more than a clock value read before a completed Invalidate of tag
	// i: entries carrying tag i born before it must never be served again. 0: none yet.
	var watermark [nTags]atomic.Uint64
	tagIndex := make(map[string]int, nTags) // read-only once the workers start
	for i := range nTags {
		tagIndex[fmt.Sprintf("shared:%d", i)] = i
	}
	tagName := func(i int) string { return fmt.Sprintf("shared:%d", i) }
	keyName := func(i int) string { return fmt.Sprintf("G http://example.com/shared/%d", i) }

	var wg sync.WaitGroup
	worker := func(seed uint64, f func(r *rand.Rand) bool) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, 7))
			for range rounds {
				if !f(r) {
					return
				}
			}
		})
	}
	clock := func(last *uint64) (uint64, bool) {
		l, err := s.Get(ctx, clockKey)
		if err != nil {
			t.Errorf("Get: %v", err)
			return 0, false
		}
		if l.Now < *last {
			t.Errorf("Now went back from %d to %d", *last, l.Now)
			return 0, false
		}
		*last = l.Now
		return l.Now, true
	}
	for w := range 3 { // writers: render with the clock read before, sometimes an older one
		var last uint64
		worker(uint64(w), func(r *rand.Rand) bool {
			n, ok := clock(&last)
			if !ok {
				return false
			}
			if n > 0 && r.IntN(4) == 0 {
				n--
			}
			k := keyName(r.IntN(nKeys))
			tags := []string{tagName(r.IntN(nTags)), tagName(r.IntN(nTags))}
			e := sample(k, n, tags...)
			e.Body = fmt.Appendf(nil, "%s|%d|%v", k, n, tags)
			if err := s.Set(ctx, 0, dumper.Item{Key: k, Entry: e}); err != nil {
				t.Errorf("Set: %v", err)
				return false
			}
			return true
		})
	}
	for w := range 2 { // invalidators
		var last uint64
		worker(uint64(10+w), func(r *rand.Rand) bool {
			before, ok := clock(&last)
			if !ok {
				return false
			}
			i := r.IntN(nTags)
			tags := []string{tagName(i)}
			if r.IntN(3) == 0 {
				tags = append(tags, tagName((i+1)%nTags))
			}
			if err := s.Invalidate(ctx, tags...); err != nil {
				t.Errorf("Invalidate: %v", err)
				return false
			}
			for _, tag := range tags {
				j := tagIndex[tag]
				for {
					w := watermark[j].Load()
					if before+1 <= w || watermark[j].CompareAndSwap(w, before+1) {
						break
					}
				}
			}
			return true
		})
	}
	for w := range 3 { // readers
		var last uint64
		worker(uint64(20+w), func(r *rand.Rand) bool {
			var marks [nTags]uint64
			for i := range marks {
				marks[i] = watermark[i].Load()
			}
			k := keyName(r.IntN(nKeys))
			l, err := s.Get(ctx, k)
			if err != nil {
				t.Errorf("Get: %v", err)
				return false
			}
			if l.Now < last {
				t.Errorf("Now went back from %d to %d", last, l.Now)
				return false
			}
			last = l.Now
			e := l.Entry
			if e == nil {
				return true
			}
			if want := fmt.Sprintf("%s|%d|%v", k, e.Born, e.Tags); string(e.Body) != want {
				t.Errorf("Get(%q) returned a torn entry: body %q, want %q", k, e.Body, want)
				return false
			}
			for _, tag := range e.Tags {
				j, ok := tagIndex[tag]
				if !ok {
					t.Errorf("Get(%q) returned an entry with tags %q, never stored", k, e.Tags)
					return false
				}
				if e.Born < marks[j] {
					t.Errorf("Get(%q) returned an entry born at %d carrying %q, invalidated after clock %d before the Get", k, e.Born, tag, marks[j]-1)
					return false
				}
			}
			return true
		})
	}
	wg.Wait()
}

// testCanceledContext checks that a call with a canceled context either fails or does its
// whole work, and leaves the store consistent.
func testCanceledContext(t *testing.T, newStore func(t *testing.T) dumper.Store) {
	s := newStore(t)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()

	born := now(t, s)
	a := sample("a", born, "ta")
	b := sample("b", born, "tb")
	set(t, s, "a", a, 0)
	set(t, s, "b", b, 0)

	if l, err := s.Get(canceled, "a"); err == nil {
		if l.Entry == nil {
			t.Errorf("Get with a canceled context returned no error and no entry")
		} else if diff := diffEntry(l.Entry, a); diff != "" {
			t.Errorf("Get with a canceled context: %s", diff)
		}
	}

	c := sample("c", born, "tc")
	err := s.Set(canceled, 0, dumper.Item{Key: "c", Entry: c})
	l := get(t, s, "c")
	cStored := l.Entry != nil
	switch {
	case err == nil && l.Entry == nil:
		t.Errorf("Set with a canceled context returned no error but stored nothing")
	case l.Entry != nil:
		if diff := diffEntry(l.Entry, c); diff != "" {
			t.Errorf("after Set with a canceled context (error %v): %s", err, diff)
		}
	}

	err = s.Invalidate(canceled, "ta", "tb")
	if err == nil {
		mustMiss(t, s, "a")
		mustMiss(t, s, "b")
	} else {
		// The invalidation may or may not have happened, but not in part. Until it is
		// retried a store may also refuse to answer, rather than risk serving stale entries.
		la, errA := s.Get(t.Context(), "a")
		lb, errB := s.Get(t.Context(), "b")
		if errA == nil && errB == nil && (la.Entry == nil) != (lb.Entry == nil) {
			t.Errorf("Invalidate with a canceled context (error %v) invalidated one tag of two", err)
		}
		invalidate(t, s, "ta", "tb") // what a caller does on error: retry
		mustMiss(t, s, "a")
		mustMiss(t, s, "b")
	}
	if cStored {
		mustHit(t, s, "c", c)
	}

	// The store still works with a live context.
	invalidate(t, s, "ta", "tb", "tc")
	mustMiss(t, s, "a")
	mustMiss(t, s, "b")
	mustMiss(t, s, "c")
	d := sample("a", now(t, s), "ta")
	set(t, s, "a", d, 0)
	mustHit(t, s, "a", d)
}

// sample returns an entry for key born at born carrying tags.
func sample(key string, born uint64, tags ...string) *dumper.Entry {
	return &dumper.Entry{
		Status: http.StatusOK,
		Header: dumper.NewHeader(http.Header{"Content-Type": {"text/plain"}, "Etag": {fmt.Sprintf(`"%d"`, born)}}),
		Body:   []byte("body of " + key),
		Tags:   tags,
		Born:   born,
		Stored: stored,
	}
}

// record returns a variant record born at born, naming the headers in vary, carrying tags.
func record(born uint64, vary []string, tags ...string) *dumper.Entry {
	return &dumper.Entry{Kind: dumper.VariantRecord, Header: varyHeader(vary...), Tags: tags, Born: born, Stored: stored}
}

// varyHeader is the header of a variant record naming the request headers names.
func varyHeader(names ...string) dumper.Header {
	return dumper.NewHeader(http.Header{"Vary": names})
}

// withField returns a copy of h with the field name set to value.
func withField(h dumper.Header, name, value string) dumper.Header {
	c := h.Clone()
	if c == nil {
		c = http.Header{}
	}
	c[name] = []string{value}
	return dumper.NewHeader(c)
}

func clone(e *dumper.Entry) *dumper.Entry {
	c := *e
	c.Header = dumper.NewHeader(e.Header.Clone())
	c.Body = bytes.Clone(e.Body)
	c.Tags = slices.Clone(e.Tags)
	return &c
}

// diffEntry describes how got differs from want, or returns "". Nil and empty slices and
// maps are equal; times are compared with Equal.
func diffEntry(got, want *dumper.Entry) string {
	var d []string
	if got.Kind != want.Kind {
		d = append(d, fmt.Sprintf("Kind = %d, want %d", got.Kind, want.Kind))
	}
	if got.Status != want.Status {
		d = append(d, fmt.Sprintf("Status = %d, want %d", got.Status, want.Status))
	}
	if !maps.EqualFunc(got.Header.Clone(), want.Header.Clone(), func(a, b []string) bool { return slices.Equal(a, b) }) {
		d = append(d, fmt.Sprintf("Header = %q, want %q", got.Header.Clone(), want.Header.Clone()))
	}
	if !bytes.Equal(got.Body, want.Body) {
		if len(got.Body)+len(want.Body) > 200 {
			d = append(d, fmt.Sprintf("Body differs (len %d, want %d)", len(got.Body), len(want.Body)))
		} else {
			d = append(d, fmt.Sprintf("Body = %q, want %q", got.Body, want.Body))
		}
	}
	if !slices.Equal(got.Tags, want.Tags) {
		d = append(d, fmt.Sprintf("Tags = %q, want %q", got.Tags, want.Tags))
	}
	if got.Born != want.Born {
		d = append(d, fmt.Sprintf("Born = %d, want %d", got.Born, want.Born))
	}
	if got.Stored != want.Stored {
		d = append(d, fmt.Sprintf("Stored = %d, want %d", got.Stored, want.Stored))
	}
	if got.Public != want.Public {
		d = append(d, fmt.Sprintf("Public = %v, want %v", got.Public, want.Public))
	}
	return strings.Join(d, "; ")
}

func get(t *testing.T, s dumper.Store, key string) dumper.Lookup {
	t.Helper()
	l, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if l.Stale && l.Entry != nil && l.Entry.StaleWhileRevalidate == 0 && l.Entry.StaleIfError == 0 {
		t.Errorf("Get(%q) = {Entry: non-nil, Stale: true} for an entry without a soft window", key)
	}
	return l
}

func set(t *testing.T, s dumper.Store, key string, e *dumper.Entry, ttl time.Duration) {
	t.Helper()
	if err := s.Set(t.Context(), ttl, dumper.Item{Key: key, Entry: e}); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func invalidate(t *testing.T, s dumper.Store, tags ...string) {
	t.Helper()
	if err := s.Invalidate(t.Context(), tags...); err != nil {
		t.Fatalf("Invalidate(%q): %v", tags, err)
	}
}

// now reads the store's clock.
func now(t *testing.T, s dumper.Store) uint64 {
	t.Helper()
	return get(t, s, clockKey).Now
}

func mustHit(t *testing.T, s dumper.Store, key string, want *dumper.Entry) {
	t.Helper()
	l := get(t, s, key)
	if l.Entry == nil {
		t.Fatalf("Get(%q) = nil (Stale %v, Now %d), want the entry born at %d", key, l.Stale, l.Now, want.Born)
	}
	if diff := diffEntry(l.Entry, want); diff != "" {
		t.Errorf("Get(%q): %s", key, diff)
	}
}

func mustMiss(t *testing.T, s dumper.Store, key string) {
	t.Helper()
	if l := get(t, s, key); l.Entry != nil {
		t.Fatalf("Get(%q) returned the entry born at %d carrying %q (Now %d), want a miss", key, l.Entry.Born, l.Entry.Tags, l.Now)
	}
}
