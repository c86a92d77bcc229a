package dumper_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
)

var errStoreDown = errors.New("store down")

// downStore is a memory store that can go down: then every call fails, and Get returns with
// its error the copy of the entry its last successful Get returned, stale for the time since
// it went down, as redisstore's local tier does (docs/soft.md).
type downStore struct {
	*dumper.MemoryStore
	mu     sync.Mutex
	copies map[string]*dumper.Entry
	downAt time.Time // zero: up
	sets   int       // calls to Set while down
}

func newDownStore(t *testing.T) *downStore {
	return &downStore{MemoryStore: newMemoryStore(t, 0), copies: make(map[string]*dumper.Entry)}
}

func (s *downStore) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downAt = time.Time{}
	if down {
		s.downAt = time.Now()
	}
}

func (s *downStore) Get(ctx context.Context, key string) (dumper.Lookup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.downAt.IsZero() {
		if e := s.copies[key]; e != nil {
			return dumper.Lookup{Entry: e, Stale: true, StaleFor: time.Since(s.downAt)}, errStoreDown
		}
		return dumper.Lookup{}, errStoreDown
	}
	l, err := s.MemoryStore.Get(ctx, key)
	if l.Entry != nil && !l.Stale {
		s.copies[key] = l.Entry
	}
	return l, err
}

func (s *downStore) Set(ctx context.Context, ttl time.Duration, items ...dumper.Item) error {
	s.mu.Lock()
	down := !s.downAt.IsZero()
	if down {
		s.sets++
	}
	s.mu.Unlock()
	if down {
		return errStoreDown
	}
	return s.MemoryStore.Set(ctx, ttl, items...)
}

// TestSoftStoreDown checks stale-if-error with the store down: the copy the store returns
// with its error is served in place of a render that fails, within the entry's
// stale-if-error window counted from when the store went down, and never within
// stale-while-revalidate alone nor to the writer; a render that succeeds is the response,
// and nothing is stored.
func TestSoftStoreDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := newDownStore(t)
		c := newCache(t, dumper.Options{Store: store})
		var failing atomic.Bool
		p := newPage(func(int64) string {
			if failing.Load() {
				return "500"
			}
			return "ok"
		})
		mw := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: time.Hour, StaleIfError: 10 * time.Second})(p)
		get(t, mw)
		if !isHit(get(t, mw)) {
			t.Fatal("no hit before the store went down")
		}
		writer := do(t, mw, "POST", "/other").Result().Cookies()[0]
		store.setDown(true)

		// The handler works: its response, not stored, and no stale page.
		w := get(t, mw)
		wantBody(t, w, "n=3 ") // (run 2 was the POST)
		wantStatus(t, w, "dumper; fwd=miss; detail=store-error")
		// The handler fails too: the copy, stale-if-error (not stale: no render replaces it).
		failing.Store(true)
		time.Sleep(3 * time.Second)
		wantStale(t, get(t, mw), 3, "stale-if-error", "n=1 ")
		time.Sleep(7 * time.Second)
		wantStale(t, get(t, mw), 10, "stale-if-error", "n=1 ")
		// Not to the writer.
		if w := get(t, mw, "Cookie", writer.Name+"="+writer.Value); w.Code != 500 {
			t.Errorf("the writer got %d %q, want the handler's 500", w.Code, status(w))
		}
		// Past the window, the failure.
		time.Sleep(time.Millisecond)
		if w := get(t, mw); w.Code != 500 || strings.Contains(status(w), "stale") {
			t.Errorf("past stale-if-error: %d %q, want the handler's 500", w.Code, status(w))
		}
		synctest.Wait()
		if s := c.Stats(); s.StaleIfError != 2 || s.StaleServed != 0 {
			t.Errorf("Stats: StaleIfError %d, StaleServed %d; want 2, 0", s.StaleIfError, s.StaleServed)
		}
		// Nothing was stored while it was down, nor tried.
		store.mu.Lock()
		if store.sets != 0 {
			t.Errorf("%d stores tried while the store was down", store.sets)
		}
		store.mu.Unlock()
		store.setDown(false)
		failing.Store(false)
		wantBody(t, get(t, mw), "n=1 ")
	})
}
