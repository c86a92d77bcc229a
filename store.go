package dumper

import (
	"context"
	"time"
)

// A Store keeps cached responses and the invalidation clock that decides whether they are
// still valid. The memory store ([NewMemoryStore]) is the default; a remote store lets several
// instances of a site share entries and invalidations.
//
// Validity is decided by a logical clock, not by wall time. Every invalidation advances the
// clock and records, for each tag it names, the clock value at which the tag was invalidated.
// An entry carries the clock value read just before its response was rendered ([Entry.Born]);
// it is valid while none of its tags was invalidated after that. Nothing is indexed by tag,
// so an invalidation costs the same however many entries carry the tag, and there is no shared
// structure that two writers could corrupt.
//
// A store keeps entries of two kinds, told apart by [Entry.Kind]: responses, and variant
// records ([VariantRecord]), which tell the cache which request headers a URL's responses
// vary on, and so under which key to look next. Records are part of the contract, not the
// cache's own business, because instances that share a store must share them to find each
// other's responses; and they are a kind of their own, not a reserved value of some other
// field, so that a store has nothing to know to keep them right. A store may treat both
// kinds alike: the same rules for Born, tags and ttl, and every field returned as it was
// given. It may also keep records apart and return one that an invalidation condemned
// (redisstore keeps them in process memory, so that a hit on a page that varies is one round
// trip): a record only chooses the key looked up next, whose entry is judged on its own, and
// the cache stores a new record with every response that varies.
//
// An entry may have a soft window ([Entry.StaleWhileRevalidate], [Entry.StaleIfError]):
// how long past the invalidation that condemned it it may still be served, by the rules of
// docs/soft.md. A store that supports soft invalidation keeps such an entry for the longer
// of the two windows past the first invalidation of one of its tags after it was born, and
// Get returns it meanwhile with Lookup.Stale set and how long ago that invalidation was
// stamped, by the store's own clock, in Lookup.StaleFor. A store that cannot tell when that
// first invalidation was (a tag invalidated again since) may count the age from when it
// stored the entry, which that invalidation cannot precede since Set skips an entry already
// condemned, or treat the entry as past its window: StaleFor is never less than the age. An
// entry past its window is never returned again. A store that does not support soft
// invalidation ignores the windows: every invalidation is hard.
//
// Implementations must be safe for concurrent use. Each method is designed to be one round
// trip to a remote store. Run the conformance suite in package storetest against any
// implementation.
type Store interface {
	// Get looks key up. It returns the entry if there is one, it has not expired, and none of
	// its tags was invalidated after it was born. Lookup.Now is the store's clock at the time of
	// the lookup: a response rendered after Get returns may be stored with Born set to it.
	//
	// Get must never return an entry one of whose tags was invalidated by an Invalidate call
	// that returned before Get was called, but with Lookup.Stale set, within the entry's soft
	// window (see above). A variant record is the exception (see above).
	//
	// When it fails (the remote store unreachable), Get may return with its error a copy of
	// the entry it kept in process memory, with Lookup.Stale set and Lookup.StaleFor at least
	// the time since the store last knew of every invalidation, if that is within the
	// entry's StaleIfError: the cache serves it only in place of a render that fails too.
	Get(ctx context.Context, key string) (Lookup, error)

	// Set stores each item's entry under its key, replacing what is there, for at most ttl
	// (0: until invalidated or evicted), as one operation. A store may skip an entry one of
	// whose tags was already invalidated after its Born, since Get would never return it. It
	// may also skip an entry born before its current clock when it keeps no record of one of
	// the entry's tags (never stored, or evicted), since it cannot tell whether that tag was
	// invalidated after Born; a Set whose Born was read after that one is stored.
	// The store may keep the entries themselves: the caller must not modify them after Set.
	Set(ctx context.Context, ttl time.Duration, items ...Item) error

	// Invalidate advances the clock and marks every tag as invalidated at its new value, in
	// one atomic step. When it returns, no entry carrying one of the tags and born before the
	// call is returned by Get on this process. On other processes sharing the store the same
	// holds at once for a strict store, and within the propagation bound the store documents
	// for one that keeps copies in process memory (redisstore's local tier). With no tags it
	// invalidates nothing.
	Invalidate(ctx context.Context, tags ...string) error
}

// Lookup is the result of [Store.Get].
type Lookup struct {
	// Entry is the entry found, or nil.
	Entry *Entry
	// Stale reports that an entry was stored under the key but has been invalidated or has
	// expired. Entry is nil then, unless the entry is within its soft window (see [Store]).
	Stale bool
	// Now is the store's clock at the time of the lookup.
	Now uint64
	// StaleFor is, for an Entry returned with Stale, how long before the lookup the
	// invalidation that condemned it was stamped, by the store's clock, or an upper bound of
	// it (see [Store]).
	StaleFor time.Duration
}

// Item is an entry and the key to store it under, for [Store.Set].
type Item struct {
	Key   string
	Entry *Entry
}

// StoreStats are figures a store may report through an optional
// Stats() StoreStats method; [Cache.Stats] includes them.
type StoreStats struct {
	Entries   int64  // entries held now
	Bytes     int64  // approximate memory or storage they use
	Evictions uint64 // entries dropped to stay within the budget or because they expired

	// For a shared store that keeps copies in process memory (redisstore's local tier); zero
	// otherwise. LocalTierOff counts the times that tier stopped serving, by a reason from a
	// short fixed list the store documents; nil if it has no such tier.
	LocalTierOff      map[string]uint64
	ChannelUnreadable uint64 // invalidation messages it could not read (each emptied the tier)
	ChannelForeign    uint64 // messages on its invalidation channel that were not its own (ignored)
}
