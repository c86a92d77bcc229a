package dumper

import (
	"context"
	"time"

	"github.com/dumperhq/dumper/internal/memstore"
)

// MemoryStore is a [Store] in process memory, bounded by bytes, evicting by W-TinyLFU. It is
// the default store of [New]. Its zero value is not usable; call [NewMemoryStore].
//
// Its budget bounds the live memory of what it holds: each entry is charged what it keeps
// ([Entry.Size]: the Entry, body, header and tags), its key and the store's bookkeeping for
// it, so that the heap the entries take after a collection stays within the budget. It also
// remembers the tags invalidated most recently, as 64-bit hashes, one per KiB of budget and
// at least 1024, whatever their length, at about 96 bytes each: their table takes its part
// of the budget (about 9 %, at most half), so the budget bounds it too. When the table has to
// forget a tag, entries older than that invalidation are dropped too, which can only make the
// cache miss early, never serve stale. A flood of invalidations of distinct tags (successful
// POSTs to distinct paths, say) therefore empties the cache sooner, but never grows its
// memory.
//
// It supports soft invalidation (see [Store]): an entry with a soft window is kept past its
// invalidation for that window, judged by the wall time at which the store stamped the
// invalidation; and it is a [Leaser] for the caches that share it.
type MemoryStore struct {
	s      *memstore.Store[*Entry]
	leases memstore.Leases
}

// NewMemoryStore returns a memory store whose live memory is bounded by maxBytes (0: 64 MiB),
// as [MemoryStore] says.
// Close releases its background goroutine.
func NewMemoryStore(maxBytes int64) (*MemoryStore, error) {
	if maxBytes < 0 {
		return nil, errorf("negative MaxBytes %d", maxBytes)
	}
	if maxBytes == 0 {
		maxBytes = defaultMaxBytes
	}
	s, err := memstore.New(memstore.Options[*Entry]{
		MaxBytes: maxBytes,
		MaxTags:  int(max(maxBytes>>10, 1024)),
		Weigh:    weigh,
		Stamp:    stamp,
		Window:   (*Entry).softWindow,
	})
	if err != nil {
		return nil, errorf("memory store: %v", err)
	}
	return &MemoryStore{s: s}, nil
}

// Get implements [Store].
func (m *MemoryStore) Get(_ context.Context, key string) (Lookup, error) {
	e, ok, stale, age, now := m.s.GetSoft(key)
	if !ok {
		e = nil
	}
	return Lookup{Entry: e, Stale: stale, Now: now, StaleFor: age}, nil
}

// Lease implements [Leaser], for the caches sharing this store in this process.
func (m *MemoryStore) Lease(_ context.Context, key string, ttl time.Duration) (release func(), ok bool, err error) {
	release, ok = m.leases.Take(key, ttl)
	return release, ok, nil
}

// Set implements [Store].
func (m *MemoryStore) Set(_ context.Context, ttl time.Duration, items ...Item) error {
	for _, it := range items {
		m.s.Set(it.Key, it.Entry, ttl)
	}
	return nil
}

// Invalidate implements [Store].
func (m *MemoryStore) Invalidate(_ context.Context, tags ...string) error {
	m.s.Invalidate(tags)
	return nil
}

// InvalidateAll implements [AllInvalidator]: it advances the clock past every entry held, in
// one step, and frees their memory.
func (m *MemoryStore) InvalidateAll(context.Context) error {
	m.s.InvalidateAll()
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

// weigh is the memory an entry stored under key holds: itself, its key and the store's
// bookkeeping.
func weigh(key string, e *Entry) int { return allocSize(len(key)) + e.Size() + memstore.EntryOverhead }

func stamp(e *Entry) ([]string, uint64) { return e.Tags, e.Born }
