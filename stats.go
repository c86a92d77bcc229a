package dumper

import "sync/atomic"

// Stats are a cache's counters since it was created, with the store's figures when the
// store reports them (the memory store does).
type Stats struct {
	Hits          uint64 // responses served from the cache, 304s included
	Misses        uint64 // cacheable requests that ran the handler
	Stores        uint64 // responses stored
	Passes        uint64 // requests the cache did not handle: other methods, ignored paths, over-long keys
	Invalidations uint64 // tags and paths invalidated, explicitly or by unsafe requests
	Coalesced     uint64 // requests that waited for another's render instead of running the handler
	Errors        uint64 // store operations that failed (the request was served from the handler)

	// Soft invalidation (docs/soft.md). Stale responses are not counted in Hits.
	StaleServed          uint64 // stale entries served while they were revalidated
	StaleIfError         uint64 // stale entries served because the render to replace them failed
	Revalidations        uint64 // renders run to replace a stale entry, in the background or not
	RevalidationFailures uint64 // those that failed: a 5xx, a panic, the timeout
	RevalidationsSkipped uint64 // renders not started: Options.MaxRevalidations were running, or the key's last had not returned

	Entries   int64  // entries held by the store
	Bytes     int64  // bytes they use
	Evictions uint64 // entries the store dropped for space or age

	// The store's local tier, if it has one: see [StoreStats].
	LocalTierOff      map[string]uint64 // times it stopped serving, by reason
	ChannelUnreadable uint64            // unreadable invalidation messages
	ChannelForeign    uint64            // foreign messages on the invalidation channel
}

type counters struct {
	hits, misses, stores, passes, invalidations, coalesced, errors atomic.Uint64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	s := Stats{
		Hits:          c.stats.hits.Load(),
		Misses:        c.stats.misses.Load(),
		Stores:        c.stats.stores.Load(),
		Passes:        c.stats.passes.Load(),
		Invalidations: c.stats.invalidations.Load(),
		Coalesced:     c.stats.coalesced.Load(),
		Errors:        c.stats.errors.Load(),

		StaleServed:          c.soft.staleServed.Load(),
		StaleIfError:         c.soft.staleIfError.Load(),
		Revalidations:        c.soft.revalidations.Load(),
		RevalidationFailures: c.soft.revalidationFailures.Load(),
		RevalidationsSkipped: c.soft.revalidationsSkipped.Load(),
	}
	if ss, ok := c.store.(interface{ Stats() StoreStats }); ok {
		st := ss.Stats()
		s.Entries, s.Bytes, s.Evictions = st.Entries, st.Bytes, st.Evictions
		s.LocalTierOff, s.ChannelUnreadable, s.ChannelForeign = st.LocalTierOff, st.ChannelUnreadable, st.ChannelForeign
	}
	return s
}
