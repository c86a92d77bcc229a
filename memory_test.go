package dumper_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/storetest"
)

func newMemoryStore(t *testing.T, maxBytes int64) *dumper.MemoryStore {
	t.Helper()
	m, err := dumper.NewMemoryStore(maxBytes)
	if err != nil {
		t.Fatalf("NewMemoryStore(%d): %v", maxBytes, err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) dumper.Store { return newMemoryStore(t, 0) })
	storetest.RunSoft(t, func(t *testing.T) dumper.Store { return newMemoryStore(t, 0) })
}

func TestNewMemoryStore(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int64
		wantErr  bool
	}{
		{"default", 0, false},
		{"one byte", 1, false},
		{"1 MiB", 1 << 20, false},
		{"negative", -1, true},
		{"very negative", -1 << 62, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := dumper.NewMemoryStore(tt.maxBytes)
			if tt.wantErr {
				if err == nil {
					_ = m.Close()
					t.Fatalf("NewMemoryStore(%d) = nil error, want one", tt.maxBytes)
				}
				if !strings.HasPrefix(err.Error(), "dumper: ") {
					t.Errorf("NewMemoryStore(%d) error %q, want it to start with %q", tt.maxBytes, err, "dumper: ")
				}
				return
			}
			if err != nil {
				t.Fatalf("NewMemoryStore(%d): %v", tt.maxBytes, err)
			}
			_ = m.Close()
		})
	}
}

// TestMemoryStoreBudget floods a small store and checks that both its own account and the
// process heap stay within its budget. It runs in a synctest bubble so that the store's
// figures can be read once its background work (maintenance, deletion callbacks, on
// goroutines of their own) is done: synctest.Wait returns then.
func TestMemoryStoreBudget(t *testing.T) {
	// Not parallel: it measures the heap.
	synctest.Test(t, func(t *testing.T) {
		const (
			budget  = 1 << 20
			n       = 20000
			bodyLen = 4 << 10
		)
		ctx := context.Background()
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)

		m := newMemoryStore(t, budget)
		for i := range n {
			key := fmt.Sprintf("G http://example.com/flood/%d", i)
			body := make([]byte, bodyLen)
			body[0] = byte(i)
			e := &dumper.Entry{
				Status: http.StatusOK,
				Header: dumper.NewHeader(http.Header{"Content-Type": {"application/octet-stream"}}),
				Body:   body,
				Tags:   []string{key[len("G http://example.com"):]},
				Stored: time.Now().UnixNano(),
			}
			if err := m.Set(ctx, 0, dumper.Item{Key: key, Entry: e}); err != nil {
				t.Fatalf("Set: %v", err)
			}
		}
		st := m.Stats()
		if st.Bytes > budget {
			t.Errorf("Stats().Bytes = %d after the writes, want at most the budget %d", st.Bytes, budget)
		}
		if max := int64(budget / bodyLen); st.Entries > max || st.Entries == 0 {
			t.Errorf("Stats().Entries = %d, want between 1 and %d", st.Entries, max)
		}
		// Deletion events are counted by callbacks that may run after the writes.
		synctest.Wait()
		st = m.Stats()
		if st.Evictions+uint64(st.Entries) != n {
			t.Errorf("Stats() = %+v: evictions and entries add up to %d, want the %d writes", st, st.Evictions+uint64(st.Entries), n)
		}

		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		t.Logf("heap grew by %d KiB for a budget of %d KiB; %+v", growth>>10, budget>>10, st)
		if growth > 3*budget {
			t.Errorf("heap grew by %d bytes, want at most 3×%d", growth, budget)
		}
		runtime.KeepAlive(m)

		// Entries that survived are intact; the store is still usable.
		hits := 0
		for i := range n {
			key := fmt.Sprintf("G http://example.com/flood/%d", i)
			l, err := m.Get(ctx, key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if l.Entry != nil {
				hits++
				if len(l.Entry.Body) != bodyLen || l.Entry.Body[0] != byte(i) {
					t.Fatalf("Get(%q) returned another entry's body", key)
				}
			}
		}
		if hits == 0 {
			t.Errorf("no entry left of %d", n)
		}
	})
}

// TestMemoryStoreTTL checks in a synctest bubble that every item of one Set gets its ttl:
// each is served until the ttl has passed, to the nanosecond, and not after; items set with
// no ttl stay.
func TestMemoryStoreTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemoryStore(t, 0)
		ctx := t.Context()
		const ttl = 50 * time.Millisecond
		entry := func(key string) dumper.Item {
			return dumper.Item{Key: key, Entry: &dumper.Entry{Status: http.StatusOK, Body: []byte(key), Tags: []string{"/" + key}, Stored: time.Now().UnixNano()}}
		}
		if err := m.Set(ctx, ttl, entry("a"), entry("b")); err != nil {
			t.Fatal(err)
		}
		if err := m.Set(ctx, 0, entry("forever")); err != nil {
			t.Fatal(err)
		}
		present := func(key string) bool {
			t.Helper()
			l, err := m.Get(ctx, key)
			if err != nil {
				t.Fatalf("Get(%q): %v", key, err)
			}
			return l.Entry != nil
		}
		time.Sleep(ttl - time.Nanosecond)
		for _, k := range []string{"a", "b", "forever"} {
			if !present(k) {
				t.Errorf("%q gone 1ns before the ttl %v ran out", k, ttl)
			}
		}
		time.Sleep(2 * time.Nanosecond)
		for _, k := range []string{"a", "b"} {
			if present(k) {
				t.Errorf("%q served 1ns after the ttl %v ran out", k, ttl)
			}
		}
		time.Sleep(1000 * time.Hour)
		if !present("forever") {
			t.Error("an entry set with no ttl expired")
		}
	})
}

func TestMemoryStoreSetAfterClose(t *testing.T) {
	m := newMemoryStore(t, 0)
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	e := &dumper.Entry{Status: http.StatusOK, Tags: []string{"/"}, Stored: time.Now().UnixNano()}
	if err := m.Set(ctx, 0, dumper.Item{Key: "k", Entry: e}); err != nil {
		t.Fatalf("Set after Close: %v", err)
	}
	if l, err := m.Get(ctx, "k"); err != nil || l.Entry != e {
		t.Errorf("Get after Close = %+v, %v; want the entry", l, err)
	}
	if err := m.Invalidate(ctx, "/"); err != nil {
		t.Fatalf("Invalidate after Close: %v", err)
	}
	if l, _ := m.Get(ctx, "k"); l.Entry != nil {
		t.Errorf("Get after Invalidate returned the entry")
	}
}

// TestFloodLongURLsLiveHeap floods a real server with unique URLs of 6 KB query strings, whose
// handler echoes part of the query in a header and tags the response with another part, into
// a 4 MiB store, and checks that the live heap after a collection grows by no more than the
// budget and a stated allowance: an entry keeps nothing of the request (whose request line
// net/http keeps as one string, of which the path and the query are substrings) beyond what
// it is charged for.
func TestFloodLongURLsLiveHeap(t *testing.T) {
	// Not parallel: it measures the heap.
	const (
		budget = 4 << 20
		n      = 3000
		// allowance is what the process may hold beyond the store's budget once the flood is
		// over: the connection's buffers on both sides, the cache's header table, the heap's
		// own noise.
		allowance = 512 << 10
	)
	c := newCache(t, dumper.Options{MaxBytes: budget})
	body := strings.Repeat("b", 1024)
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.RawQuery
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Echo", q[:64])
		dumper.Tag(r.Context(), q[64:96])
		fmt.Fprint(w, body)
	})))
	defer srv.Close()
	client := srv.Client()
	get := func(i int) {
		t.Helper()
		q := fmt.Sprintf("%08d", i) + strings.Repeat("q", 6<<10)
		resp, err := client.Get(srv.URL + "/p?" + q)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Header.Get("Cache-Status"), "stored") {
			t.Fatalf("GET %d: %d %q, want a 200 stored", i, resp.StatusCode, resp.Header.Get("Cache-Status"))
		}
	}
	get(-1) // the connection and the cache's first header shape
	before := liveHeap()
	for i := range n {
		get(i)
	}
	client.CloseIdleConnections()
	after := liveHeap()
	st := c.Stats()
	growth := int64(after) - int64(before)
	t.Logf("%d requests of 6 KB query strings: live heap grew by %d KiB; store: %d entries, %d KiB (budget %d KiB), %d evictions",
		n, growth>>10, st.Entries, st.Bytes>>10, budget>>10, st.Evictions)
	if st.Evictions == 0 {
		t.Fatal("no evictions: the flood did not test the bound")
	}
	if st.Bytes > budget {
		t.Errorf("Stats().Bytes = %d, over the budget %d", st.Bytes, budget)
	}
	if growth > budget+allowance {
		t.Errorf("live heap grew by %d bytes, want at most the budget %d + %d", growth, budget, allowance)
	}
	if growth > st.Bytes+allowance {
		t.Errorf("live heap grew by %d bytes, more than the %d the store charges + %d: entries keep memory they are not charged for", growth, st.Bytes, allowance)
	}
	runtime.KeepAlive(c)
}

// liveHeap returns the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
