package memstore

import (
	"sync"
	"time"
)

// Leases hands out leases on keys, one holder at a time, each for a bounded time. Its zero
// value is ready to use; it is safe for concurrent use.
type Leases struct {
	mu   sync.Mutex
	held map[string]lease
	next uint64
}

type lease struct {
	id    uint64
	until int64 // Unix ns
}

// sweepAt is the number of leases held above which taking one first drops the expired.
const sweepAt = 1024

// Take takes the lease on key for ttl, unless a lease on it is held and has not run out. It
// returns the function that gives back that lease (and not one taken after it ran out).
func (l *Leases) Take(key string, ttl time.Duration) (release func(), ok bool) {
	now := time.Now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, held := l.held[key]; held && old.until > now {
		return nil, false
	}
	if l.held == nil {
		l.held = make(map[string]lease)
	}
	if len(l.held) >= sweepAt {
		for k, v := range l.held {
			if v.until <= now {
				delete(l.held, k)
			}
		}
	}
	l.next++
	id := l.next
	l.held[key] = lease{id: id, until: now + int64(ttl)}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.held[key].id == id {
			delete(l.held, key)
		}
	}, true
}

// Len returns the number of leases held, expired ones that were not dropped yet included.
func (l *Leases) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.held)
}
