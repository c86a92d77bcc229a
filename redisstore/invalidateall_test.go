package redisstore_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/redisstore"
)

// TestInvalidateAllWhileRedisFrozen: an InvalidateAll that cannot reach Redis reports it, the
// instance serves from the handler until Redis is back, and the floor is moved then: the
// pages cached before are never served again.
func TestInvalidateAllWhileRedisFrozen(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"strict", "local"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			p := testservice.StartRedis(t)
			s := newStore(t, redisstore.Options{URL: "redis://" + p.Addr(), Strict: mode == "strict", Timeout: 50 * time.Millisecond})
			if mode == "local" {
				waitLocal(t, s)
			}
			var v atomic.Int64
			a := newSite(t, s, &v)
			for _, path := range []string{"/p", "/q"} {
				a.get(t, path)
				if w := a.get(t, path); !hit(w) {
					t.Fatalf("%s not cached to begin with", path)
				}
			}

			p.Freeze()
			v.Add(1)
			if err := a.cache.InvalidateAll(t.Context()); err == nil {
				t.Error("an InvalidateAll that could not reach Redis reported success")
			}
			for range 3 {
				if w := a.get(t, "/p"); w.Code != 200 || w.Body.String() != "v1 " {
					t.Fatalf("while Redis is frozen: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"))
				}
			}
			p.Thaw()
			for _, path := range []string{"/p", "/q"} {
				wait.For(t, 10*time.Second, "a hit on "+path+" once Redis has thawed", func() bool {
					w := a.get(t, path)
					if w.Body.String() != "v1 " {
						t.Fatalf("after Redis came back: %s served %q (%q)", path, w.Body.String(), w.Header().Get("Cache-Status"))
					}
					return hit(w)
				})
			}
		})
	}
}
