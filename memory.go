package dumper

import (
	"context"
	"time"

	"github.com/dumperhq/dumper/internal/memstore"
)

// MemoryStore is a [Store] in process memory, bounded by bytes, evicting by W-TinyLFU. It is
// the default store of [New]. Its zero value is not usable; call [NewMemoryStore].
//
// Besides entries it remembers the tags invalidated most recently, as 64-bit hashes, one per
// KiB of budget and at least 1024, whatever their length; that memory comes on top of the
// budget. When it has to forget one, entries older than that invalidation are dropped too,
// which can only make the cache miss early, never serve stale. A flood of invalidations of
// distinct tags (successful POSTs to distinct paths, say) therefore empties the cache
// sooner, but never grows its memory.
type MemoryStore struct {
	s *memstore.Store[*Entry]
}

// NewMemoryStore returns a memory store holding at most maxBytes of entries (0: 64 MiB).
// Close releases its background goroutine.
func NewMemoryStore(maxBytes int64) (*MemoryStore, error) {
	if maxBytes < 0 {
		return nil, errorf("negative MaxBytes %d", maxBytes)
	}
	if maxBytes == 0 {
		maxBytes = defaultMaxBytes
	}
	s, err := memstore.New[*Entry](maxBytes, int(max(maxBytes>>10, 1024)))
	if err != nil {
		return nil, errorf("memory store: %v", err)
	}
	return &MemoryStore{s: s}, nil
}

// Get implements [Store].
func (m *MemoryStore) Get(_ context.Context, key string) (Lookup, error) {
	e, ok, stale, now := m.s.Get(key)
	if !ok {
		e = nil
	}
	return Lookup{Entry: e, Stale: stale, Now: now}, nil
}

// Set implements [Store].
func (m *MemoryStore) Set(_ context.Context, ttl time.Duration, items ...Item) error {
	for _, it := range items {
		e := it.Entry
		m.s.Set(it.Key, e, e.Tags, e.Born, ttl, len(it.Key)+e.size())
	}
	return nil
}

// Invalidate implements [Store].
func (m *MemoryStore) Invalidate(_ context.Context, tags ...string) error {
	m.s.Invalidate(tags)
	return nil
}

// Stats returns the store's figures.
func (m *MemoryStore) Stats() StoreStats {
	m.s.Settle()
	return StoreStats{Entries: int64(m.s.Len()), Bytes: m.s.Bytes(), Evictions: m.s.Evictions()}
}

// Close stops the store's background goroutine. The store stays usable.
func (m *MemoryStore) Close() error {
	m.s.Close()
	return nil
}

// entryOverhead approximates what an entry costs beyond the bytes of its strings and body:
// the Entry, its header map, slice headers and the memory store's bookkeeping (otter's node
// and W-TinyLFU state). docs/benchmarks.md gives what `go run ./cmd/loadbench -mode memory`
// measures, to check it against.
const entryOverhead = 700

// size approximates the memory an entry holds.
func (e *Entry) size() int {
	n := entryOverhead + len(e.Body)
	for k, vs := range e.Header {
		n += len(k) + 48
		for _, v := range vs {
			n += len(v) + 16
		}
	}
	for _, t := range e.Tags {
		n += len(t) + 16
	}
	for _, v := range e.Vary {
		n += len(v) + 16
	}
	return n
}
