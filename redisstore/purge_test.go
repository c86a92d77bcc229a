package redisstore_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/purge"
	"github.com/dumperhq/dumper/redisstore"
)

// TestPurgeEndpoint runs the purge endpoint on two instances sharing one Redis: A strict, B
// with the local tier. A page stored through A's middleware and served by B from memory is
// purged through A's endpoint, by path, and then through B's, entirely: the purging instance
// misses at once, the strict one at once, the local tier once the invalidation's message has
// reached it.
func TestPurgeEndpoint(t *testing.T) {
	prefix := uniquePrefix(t)
	storeA := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	storeB := newStore(t, redisstore.Options{Prefix: prefix})
	waitLocal(t, storeB)

	type instance struct {
		name  string
		store *redisstore.Store
		site  http.Handler // the cached pages and, at /_dumper/purge, the endpoint
	}
	newInstance := func(name string, s *redisstore.Store) instance {
		c, err := dumper.New(dumper.Options{Store: s})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/_dumper/purge", &purge.Handler{Cache: c, Token: "token-" + prefix})
		mux.Handle("/", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s rendered %s at %d", name, r.URL.Path, time.Now().UnixNano())
		})))
		return instance{name, s, mux}
	}
	a, b := newInstance("A", storeA), newInstance("B", storeB)

	// getBody returns the page, whether it was a hit, and, for B, whether the hit came
	// from its memory.
	getBody := func(in instance, path string) (hit, fromMemory bool, body string) {
		t.Helper()
		before := in.store.RoundTrips()
		w := httptest.NewRecorder()
		in.site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("%s GET %s: %d", in.name, path, w.Code)
		}
		hit = strings.HasSuffix(w.Header().Get("Cache-Status"), "; hit")
		return hit, hit && in.store.RoundTrips() == before, w.Body.String()
	}
	get := func(in instance, path string) (hit, fromMemory bool) {
		t.Helper()
		hit, fromMemory, _ = getBody(in, path)
		return hit, fromMemory
	}
	// warm stores path through A and waits until B serves it from its memory.
	warm := func(path string) {
		t.Helper()
		get(a, path)
		if hit, _ := get(a, path); !hit {
			t.Fatalf("A GET %s twice: no hit", path)
		}
		wait.For(t, 10*time.Second, "B to serve "+path+" from memory", func() bool {
			_, fromMemory := get(b, path)
			return fromMemory
		})
	}
	purgeVia := func(in instance, body string) {
		t.Helper()
		r := httptest.NewRequest(http.MethodPost, "/_dumper/purge", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer token-"+prefix)
		w := httptest.NewRecorder()
		in.site.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("%s purge %s: %d %s", in.name, body, w.Code, w.Body)
		}
	}
	// dropOnB waits until B no longer serves the page it served before the purge (A's
	// rendering after the purge, stored in Redis, may well be a hit).
	dropOnB := func(path string) {
		t.Helper()
		_, _, old := getBody(b, path)
		purgeVia(a, `{"paths":["`+path+`"]}`)
		if hit, _ := get(a, path); hit {
			t.Errorf("A, which purged it, served %s from the cache", path)
		}
		wait.For(t, 10*time.Second, "B to stop serving the "+path+" of before the purge", func() bool {
			_, _, body := getBody(b, path)
			return body != old
		})
	}

	warm("/icecream/vanilla")
	warm("/icecream/chocolate")
	dropOnB("/icecream/vanilla")
	if hit, _ := get(a, "/icecream/chocolate"); !hit {
		t.Error("A: /icecream/chocolate, not purged, was a miss")
	}

	// A client that has gone away (its request's context is done) does not cut a purge short.
	_, _, before := getBody(a, "/icecream/chocolate")
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	r := httptest.NewRequestWithContext(gone, http.MethodPost, "/_dumper/purge", strings.NewReader(`{"tags":["/icecream/chocolate"]}`))
	r.Header.Set("Authorization", "Bearer token-"+prefix)
	w := httptest.NewRecorder()
	a.site.ServeHTTP(w, r)
	if _, _, after := getBody(a, "/icecream/chocolate"); w.Code != http.StatusOK || after == before {
		t.Errorf("purge by a client gone away: %d %s; A served %q before and %q after", w.Code, w.Body, before, after)
	}

	warm("/icecream/vanilla")
	paths := []string{"/icecream/vanilla", "/icecream/chocolate"}
	old := map[string]string{}
	for _, path := range paths {
		_, _, old[path] = getBody(b, path)
	}
	purgeVia(b, `{"all":true}`)
	// At once on both: B applies its own invalidations before they return, A is strict.
	for _, path := range paths {
		for _, in := range []instance{b, a} {
			if _, _, body := getBody(in, path); body == old[path] {
				t.Errorf("%s served the %s of before B purged everything: %q", in.name, path, body)
			}
		}
	}
}
