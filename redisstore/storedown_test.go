package redisstore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
)

// TestSoftStoreDown checks stale-if-error with Redis unreachable: B's link stalls, its local
// tier goes off, and its lookups fail; the copy of a page that allows stale-if-error, which
// the tier kept, is served in place of the handler's failure, for at most the window past
// the last time B heard of every invalidation, and never after.
func TestSoftStoreDown(t *testing.T) {
	t.Parallel()
	const window = 2 // seconds
	ls := newLagSetup(t, 100*time.Millisecond)
	c, err := dumper.New(dumper.Options{Store: ls.b, WriterKey: []byte("a key that the instances share!!")})
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	var runs atomic.Int64
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := runs.Add(1)
		if failing.Load() {
			http.Error(w, "database down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "max-age=0, stale-if-error="+strconv.Itoa(window))
		fmt.Fprintf(w, "n=%d", n)
	}))
	get := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mw.ServeHTTP(w, httptest.NewRequest("GET", "/p", nil))
		return w
	}
	// Until B serves the page from its local tier.
	wait.For(t, 10*time.Second, "B to serve /p from memory", func() bool {
		before := ls.b.RoundTrips()
		w := get()
		return w.Header().Get("Cache-Status") == "dumper; hit" && ls.b.RoundTrips() == before
	})
	failing.Store(true)
	ls.proxy.Pause()
	defer ls.proxy.Resume()
	var stale int
	wait.For(t, 20*time.Second, "the failure, past stale-if-error", func() bool {
		w := get()
		cs := w.Header().Get("Cache-Status")
		switch {
		case cs == "dumper; hit": // the local tier, within its lease
		case strings.HasPrefix(cs, "dumper; hit; ttl=-") && strings.HasSuffix(cs, "; detail=stale-if-error"):
			stale++
			ttl, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(cs, "dumper; hit; ttl=-"), "; detail=stale-if-error"))
			if err != nil || ttl > window || w.Body.String() != "n=1" {
				t.Fatalf("stale-if-error past its window of %d s: %q %q", window, cs, w.Body.String())
			}
		case w.Code == http.StatusInternalServerError:
			return true
		default:
			t.Fatalf("with Redis unreachable: %d %q %q", w.Code, cs, w.Body.String())
		}
		return false
	})
	if w := get(); w.Code != http.StatusInternalServerError {
		t.Errorf("after the failure past stale-if-error: %d %q", w.Code, w.Header().Get("Cache-Status"))
	}
	if stale == 0 {
		t.Error("no stale-if-error response while Redis was unreachable and the handler failed")
	}
	if s := c.Stats(); s.StaleIfError != uint64(stale) {
		t.Errorf("Stats.StaleIfError = %d, want %d", s.StaleIfError, stale)
	}
	t.Logf("%d stale-if-error responses", stale)
}

// TestSoftStoreDownOwnInvalidation checks that an instance whose own invalidation could not
// reach Redis serves no copy: it condemns the page, and nothing else knows.
func TestSoftStoreDownOwnInvalidation(t *testing.T) {
	t.Parallel()
	ls := newLagSetup(t, 100*time.Millisecond)
	c, err := dumper.New(dumper.Options{Store: ls.b, WriterKey: []byte("a key that the instances share!!")})
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "database down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "max-age=0, stale-if-error=3600")
		fmt.Fprint(w, "page")
	}))
	get := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mw.ServeHTTP(w, httptest.NewRequest("GET", "/p", nil))
		return w
	}
	wait.For(t, 10*time.Second, "B to serve /p from memory", func() bool {
		before := ls.b.RoundTrips()
		return get().Header().Get("Cache-Status") == "dumper; hit" && ls.b.RoundTrips() == before
	})
	failing.Store(true)
	ls.proxy.Pause()
	defer ls.proxy.Resume()
	_ = c.InvalidatePaths(t.Context(), "/p") // kept, to be applied once Redis is back
	for range 3 {
		if w := get(); w.Code != http.StatusInternalServerError || strings.Contains(w.Header().Get("Cache-Status"), "stale") {
			t.Fatalf("after its own invalidation, with Redis unreachable: %d %q %q", w.Code, w.Header().Get("Cache-Status"), w.Body.String())
		}
	}
}
