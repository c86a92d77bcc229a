package dumper

import (
	"runtime"
	"sync"
)

// The renders that replace stale entries (revalidate.go) are bounded, cache-wide, by
// Options.MaxRevalidations: one invalidation of a path with thousands of cached variants
// must not start thousands of handlers at once. A render holds its place from its start
// until its handler returns, not until its timeout: a handler that ignores its context and
// hangs keeps its place, and its key gets no other render meanwhile.

// defaultMaxRevalidations is the bound when Options.MaxRevalidations is zero: four renders
// per GOMAXPROCS.
func defaultMaxRevalidations() int { return 4 * runtime.GOMAXPROCS(0) }

// renders is the set of keys whose render to replace a stale entry is running.
type renders struct {
	mu      sync.Mutex
	max     int
	running map[string]struct{}
}

// The answers of renders.acquire.
type acquired uint8

const (
	acquiredOK   acquired = iota // the caller may render the key; it must call release
	acquiredBusy                 // the key's last render has not returned yet (it outlived its timeout)
	acquiredFull                 // max renders are running
)

// acquire takes a place for a render of key.
func (rs *renders) acquire(key string) acquired {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch _, busy := rs.running[key]; {
	case busy:
		return acquiredBusy
	case len(rs.running) >= rs.max:
		return acquiredFull
	}
	if rs.running == nil {
		rs.running = make(map[string]struct{})
	}
	rs.running[key] = struct{}{}
	return acquiredOK
}

// release gives back the place of key's render, once its handler has returned.
func (rs *renders) release(key string) {
	rs.mu.Lock()
	delete(rs.running, key)
	rs.mu.Unlock()
}
