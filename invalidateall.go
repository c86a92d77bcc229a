package dumper

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// An AllInvalidator is a [Store] that can invalidate every entry it holds in one atomic step,
// the capability [Cache.InvalidateAll] needs. It is optional: the Store contract has no way to
// name every tag, and a store that cannot do it simply lacks the method.
//
// InvalidateAll advances the clock so that every entry born before the call is stale, as if
// each of its tags had been invalidated by [Store.Invalidate] (the memory store and redisstore
// move a floor below which every entry is stale). When it returns, the same guarantee holds
// as for Invalidate: no entry born before the call is returned by Get on this process, nor on
// other processes sharing the store (at once for a strict store, within its documented bound
// for one that keeps copies in process memory). Entries born after it are judged as usual.
type AllInvalidator interface {
	InvalidateAll(ctx context.Context) error
}

var (
	_ AllInvalidator = (*MemoryStore)(nil)
	_ AllInvalidator = (*Cache)(nil)
)

// InvalidateAll drops every cached response, of every path and tag, in one store operation.
//
// When InvalidateAll returns nil, no request that starts afterwards is served a response
// whose rendering started before the call, as for [Cache.InvalidatePaths]. It needs a store
// that implements [AllInvalidator], as the memory store and redisstore do; with any other
// store it invalidates nothing and returns an error wrapping [errors.ErrUnsupported].
func (c *Cache) InvalidateAll(ctx context.Context) error {
	s, ok := c.store.(AllInvalidator)
	if !ok {
		return fmt.Errorf("dumper: invalidate all: the store (%T) has no InvalidateAll method: %w", c.store, errors.ErrUnsupported)
	}
	start := c.storeStart()
	err := s.InvalidateAll(ctx)
	if start != (time.Time{}) {
		c.observeInvalidation(ctx, nil, true, start, err)
	}
	if err != nil {
		c.stats.errors.Add(1)
		c.log.ErrorContext(ctx, "dumper: invalidating everything failed", "err", err)
		return fmt.Errorf("dumper: invalidate all: %w", err)
	}
	if c.explain != nil {
		c.explain.invalidatedAll(ctx)
	}
	return nil
}
