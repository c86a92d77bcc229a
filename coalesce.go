package dumper

import "sync"

// flight coalesces concurrent misses for one key: the first request renders, the others wait
// for it and then look the key up again. It only ever hands out what the store returns, so a
// waiter is never given a response that an invalidation made while it waited has condemned.
type flight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done chan struct{}
	once sync.Once

	// failed is set by the leader of a revalidation (revalidate.go) before it leaves, when
	// its render failed; the waiters read it once done is closed.
	failed bool
}

// join returns the call in flight for key, and whether the caller leads it and must call
// leave when its render is over.
func (f *flight) join(key string) (c *call, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.calls[key]; c != nil {
		return c, false
	}
	if f.calls == nil {
		f.calls = make(map[string]*call)
	}
	c = &call{done: make(chan struct{})}
	f.calls[key] = c
	return c, true
}

// leave ends the leader's call and wakes its waiters. Only the first call counts.
func (f *flight) leave(key string, c *call) {
	c.once.Do(func() {
		f.mu.Lock()
		if f.calls[key] == c {
			delete(f.calls, key)
		}
		f.mu.Unlock()
		close(c.done)
	})
}
