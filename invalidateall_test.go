package dumper_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
)

// TestInvalidateAll: every cached page goes, whatever its path, host or tags, and so does a
// page whose rendering overlapped the call; pages rendered afterwards are cached again.
func TestInvalidateAll(t *testing.T) {
	c := newCache(t)
	var purgeDuring bool
	h, runs := counting(func(w http.ResponseWriter, r *http.Request) {
		dumper.Tag(r.Context(), "t:"+r.URL.Path)
		if purgeDuring {
			purgeDuring = false
			if err := c.InvalidateAll(r.Context()); err != nil {
				t.Errorf("InvalidateAll: %v", err)
			}
		}
	})
	site := c.Middleware(h)
	targets := []string{"http://example.com/a", "http://example.com/b?q=1", "http://other.example/a"}
	for _, target := range targets {
		do(t, site, http.MethodGet, target)
		if w := do(t, site, http.MethodGet, target); !isHit(w) {
			t.Fatalf("GET %s: Cache-Status %q, want a hit", target, status(w))
		}
	}
	if err := c.InvalidateAll(t.Context()); err != nil {
		t.Fatalf("InvalidateAll: %v", err)
	}
	for _, target := range targets {
		if w := do(t, site, http.MethodGet, target); isHit(w) {
			t.Errorf("GET %s after InvalidateAll: a hit", target)
		}
	}

	// A rendering that overlaps the call is not stored.
	purgeDuring = true
	do(t, site, http.MethodGet, "http://example.com/overlap")
	before := runs.Load()
	if w := do(t, site, http.MethodGet, "http://example.com/overlap"); isHit(w) || runs.Load() != before+1 {
		t.Errorf("GET /overlap after a rendering that overlapped InvalidateAll: Cache-Status %q, handler runs %d → %d; want a miss", status(w), before, runs.Load())
	}
	if w := do(t, site, http.MethodGet, "http://example.com/overlap"); !isHit(w) {
		t.Errorf("GET /overlap rendered after InvalidateAll: Cache-Status %q, want a hit", status(w))
	}
}

// plainStore is a store with only the methods of the Store interface.
type plainStore struct{ dumper.Store }

// TestInvalidateAllUnsupported: with a store that cannot invalidate everything, InvalidateAll
// says so (errors.ErrUnsupported) and drops nothing.
func TestInvalidateAllUnsupported(t *testing.T) {
	m, err := dumper.NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c := newCache(t, dumper.Options{Store: plainStore{m}})
	h, _ := counting(nil)
	site := c.Middleware(h)
	do(t, site, http.MethodGet, "/a")
	err = c.InvalidateAll(t.Context())
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("InvalidateAll with a plain Store = %v, want an error wrapping errors.ErrUnsupported", err)
	}
	if w := do(t, site, http.MethodGet, "/a"); !isHit(w) {
		t.Errorf("after a refused InvalidateAll: Cache-Status %q, want a hit", status(w))
	}
}

// TestExplainInvalidateAll: the explanation of a page dropped by InvalidateAll says so, and
// which function asked.
func TestExplainInvalidateAll(t *testing.T) {
	c := newCache(t, dumper.Options{Explain: true})
	h, _ := counting(nil)
	site := c.Middleware(h)
	do(t, site, http.MethodGet, "/icecream/vanilla")
	if err := c.InvalidateAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := do(t, c.ExplainHandler(), http.MethodGet, "/?path=/icecream/vanilla").Body.String()
	if !strings.Contains(got, ": dropped") || !strings.Contains(got, "invalidated since it was stored:\n    everything at ") ||
		!strings.Contains(got, "by github.com/dumperhq/dumper_test.TestExplainInvalidateAll") {
		t.Errorf("explanation does not name the InvalidateAll:\n%s", got)
	}

	// Its source and write, when the caller names them.
	do(t, site, http.MethodGet, "/icecream/vanilla")
	ctx := dumper.WithWrite(dumper.WithSource(t.Context(), "deploy", time.Time{}), "schema v42")
	if err := c.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	got = do(t, c.ExplainHandler(), http.MethodGet, "/?path=/icecream/vanilla").Body.String()
	if !strings.Contains(got, "by deploy (github.com/dumperhq/dumper_test.TestExplainInvalidateAll), for \"schema v42\"") {
		t.Errorf("explanation does not name the InvalidateAll's source and write:\n%s", got)
	}
}
