package dumper

import (
	"context"
	"net/http"
	"time"
)

// A miss is a request that the cache forwards to the handler: why, and what it needs to
// store the response.
type miss struct {
	key    string    // the primary key, under which the response (or its variant record) is stored
	path   string    // the request's canonical path, whose tag every entry carries
	fwd    fwd       // why the request missed
	detail detail    // why its response must not be stored, if it must not
	born   uint64    // the store's clock, read before the handler runs
	start  time.Time // when the middleware began handling the request, for its observers (zero if none)

	// lastKey is the key looked up last: the variant key once the Vary is known. Concurrent
	// misses for it are coalesced.
	lastKey string

	// leads is the coalesced call this request leads, if any: the requests waiting on it are
	// woken once the response is stored, or known not to be.
	leads *call

	// soft is the entry found condemned but within its soft window (see [Store]), and
	// staleFor how long ago the invalidation was; nil for a plain miss.
	soft     *Entry
	staleFor time.Duration
	// storeDown reports that soft is a copy the store returned with an error (see
	// [Store]): it serves only within stale-if-error, in place of a failed render.
	storeDown bool
}

// lookup finds the entry for a request, or says why there is none: under its primary key,
// the entry; or, when that is a variant record, the entry under the key that adds the
// values of the headers the record names. Whether an entry is still valid is judged by the
// store (see [Store]), which returns only entries that no invalidation condemned and says
// when it had one (Lookup.Stale). On a store error the miss is ready to render, with
// nothing to store.
func (m *middleware) lookup(r *http.Request, key, path string) (*Entry, miss, error) {
	ms := miss{key: key, path: path, lastKey: key, fwd: fwdURIMiss}
	l, err := m.c.get(r.Context(), key)
	if err != nil {
		m.c.storeError(r.Context(), "get", err)
		ms.fwd, ms.detail = fwdMiss, detailStoreError
		ms.keepCopy(l) // soft.go
		return nil, ms, err
	}
	ms.born = l.Now
	switch {
	case l.Entry == nil:
		if l.Stale {
			ms.fwd = fwdStale
		}
		return nil, ms, nil
	case l.Stale && l.Entry.Kind != VariantRecord:
		ms.fwd, ms.soft, ms.staleFor = fwdStale, l.Entry, l.StaleFor
		return nil, ms, nil
	case l.Entry.Kind != VariantRecord:
		return l.Entry, ms, nil
	}
	ms.fwd = fwdVaryMiss
	var buf [512]byte
	vk := appendVariantKey(buf[:0], key, l.Entry.vary(), r.Header)
	if len(vk) > m.p.maxKey {
		ms.detail = detailKeyTooLong
		return nil, ms, nil
	}
	ms.lastKey = string(vk)
	l, err = m.c.get(r.Context(), ms.lastKey)
	if err != nil {
		m.c.storeError(r.Context(), "get", err)
		ms.fwd, ms.detail = fwdMiss, detailStoreError
		ms.keepCopy(l) // soft.go
		return nil, ms, err
	}
	ms.born = max(ms.born, l.Now) // a store may answer the first lookup locally, without a clock
	switch {
	case l.Entry != nil && l.Stale && l.Entry.Kind != VariantRecord:
		ms.fwd, ms.soft, ms.staleFor = fwdStale, l.Entry, l.StaleFor
	case l.Entry != nil && l.Entry.Kind != VariantRecord:
		return l.Entry, ms, nil
	case l.Stale:
		ms.fwd = fwdStale
	}
	return nil, ms, nil
}

// get looks key up in the store, for the store's observers if there are any.
func (c *Cache) get(ctx context.Context, key string) (Lookup, error) {
	if len(c.obs.store) == 0 {
		return c.store.Get(ctx, key)
	}
	start := time.Now()
	l, err := c.store.Get(ctx, key)
	c.observeStore(ctx, "get", start, err)
	return l, err
}
