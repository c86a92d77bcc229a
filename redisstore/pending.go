package redisstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// maxPending bounds the tags kept while Redis is unreachable; past it, recovery moves the
// floor instead, condemning every entry stored before.
const maxPending = 10000

// pendingInvalidations are invalidations that could not reach Redis. Until they have, this
// store answers no lookup (the cache serves from the handler): once Redis is back, the first
// operation applies them before anything is read.
type pendingInvalidations struct {
	any      atomic.Bool // there are pending invalidations
	mu       sync.Mutex
	tags     map[string]struct{}
	overflow bool
	wake     chan struct{}
}

func (p *pendingInvalidations) add(tags []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tags == nil {
		p.tags = make(map[string]struct{})
	}
	for _, t := range tags {
		if len(p.tags) >= maxPending {
			p.overflow = true
			break
		}
		p.tags[t] = struct{}{}
	}
	if len(tags) == 0 {
		p.overflow = true
	}
	p.any.Store(true)
}

func (p *pendingInvalidations) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// errPending fails lookups and stores while invalidations wait to be applied.
var errPending = errors.New("redisstore: invalidations made while Redis was unreachable are not applied yet")

// applyPending makes sure no invalidation waits before a lookup or a store: it applies the
// pending ones if no other goroutine is at it, and fails otherwise.
func (s *Store) applyPending(ctx context.Context) error {
	if !s.pending.any.Load() {
		return nil
	}
	if !s.pending.mu.TryLock() {
		return errPending
	}
	s.pending.mu.Unlock()
	if err := s.flushPending(ctx); err != nil {
		s.pending.signal()
		return errPending
	}
	return nil
}

// flushPending applies pending invalidations, if any. It fails if they cannot be applied.
func (s *Store) flushPending(ctx context.Context) error {
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tags) == 0 && !p.overflow {
		return nil
	}
	var tags []string
	if !p.overflow {
		tags = make([]string, 0, len(p.tags))
		for t := range p.tags {
			tags = append(tags, t)
		}
	}
	if err := s.invalidate(ctx, tags); err != nil {
		return err
	}
	s.log.Info("redisstore: applied invalidations held during an outage", "tags", len(tags), "all", p.overflow)
	p.tags, p.overflow = nil, false
	p.any.Store(false)
	return nil
}

// retryPending retries pending invalidations with backoff until they are applied.
func (s *Store) retryPending(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.pending.wake:
		}
		backoff := 20 * time.Millisecond
		for s.flushPending(ctx) != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
		}
	}
}
