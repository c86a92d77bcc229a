package dumper

import (
	"context"
	"time"
)

// A Leaser is a [Store] that lets one caller at a time, among all the processes sharing
// it, take the lease on a key: the cache takes one before it renders a stale entry's page
// in the background (docs/soft.md), so that one render replaces it however many instances
// serve it. A store that is not a Leaser gets one such render per process.
type Leaser interface {
	// Lease takes the lease on key for at most ttl and returns the function that gives it
	// back; ok is false when another caller holds it. Release gives back only the lease it
	// took, not one taken by another caller after ttl ran out.
	Lease(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
}
