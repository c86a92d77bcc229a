package capturetest

import (
	"context"
	"slices"
	"sync"

	"github.com/dumperhq/dumper"
)

// Recorder is a [dumper.Invalidator] that passes invalidations on to Next and keeps the tags
// of each call, for tests of what a data layer invalidates. SetFail makes its InvalidateTags
// fail instead. It is safe for concurrent use.
type Recorder struct {
	Next dumper.Invalidator

	mu    sync.Mutex
	fail  error
	calls [][]string
}

// InvalidatePaths passes the call on.
func (r *Recorder) InvalidatePaths(ctx context.Context, paths ...string) error {
	return r.Next.InvalidatePaths(ctx, paths...)
}

// InvalidateTags records tags and passes them on, or fails with the error of SetFail.
func (r *Recorder) InvalidateTags(ctx context.Context, tags ...string) error {
	r.mu.Lock()
	r.calls = append(r.calls, slices.Clone(tags))
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return fail
	}
	return r.Next.InvalidateTags(ctx, tags...)
}

// SetFail makes InvalidateTags return err (nil: pass calls on again).
func (r *Recorder) SetFail(err error) {
	r.mu.Lock()
	r.fail = err
	r.mu.Unlock()
}

// Take returns the tags of each call made since the last Take.
func (r *Recorder) Take() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// Has reports whether one of calls holds tag.
func Has(calls [][]string, tag string) bool {
	for _, c := range calls {
		if slices.Contains(c, tag) {
			return true
		}
	}
	return false
}
