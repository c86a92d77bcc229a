package dumper_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dumperhq/dumper"
)

// TestEntriesAreKeyedByHost: two caches on one store, as two instances behind a proxy, share
// an entry only when their requests carry the same Host, byte for byte (letter case and port
// included: a handler sees the Host as sent);
// invalidating a path covers every host.
func TestEntriesAreKeyedByHost(t *testing.T) {
	t.Parallel()
	store, err := dumper.NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	a := newCache(t, dumper.Options{Store: store})
	b := newCache(t, dumper.Options{Store: store})
	h, _ := counting(nil)
	siteA, siteB := a.Middleware(h), b.Middleware(h)
	get := func(site http.Handler, host string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/icecream/vanilla", nil)
		r.Host = host
		w := httptest.NewRecorder()
		site.ServeHTTP(w, r)
		return w
	}
	get(siteA, "shop.example")
	hosts := []struct {
		host  string
		share bool
	}{
		{"shop.example", true},
		{"SHOP.Example", false},
		{"shop.example.", false},
		{"shop.example:8080", false},
		{"10.0.0.2:8080", false},
		{"www.shop.example", false},
	}
	for _, tt := range hosts {
		if w := get(siteB, tt.host); isHit(w) != tt.share {
			t.Errorf("instance B, Host %q, after A stored the page for Host shop.example: %q, want a hit: %v", tt.host, status(w), tt.share)
		}
	}
	for _, tt := range hosts {
		get(siteB, tt.host)
	}
	if err := a.InvalidatePaths(t.Context(), "/icecream/vanilla"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range hosts {
		if w := get(siteB, tt.host); isHit(w) {
			t.Errorf("instance B, Host %q, after A invalidated the path: %q, want a miss", tt.host, status(w))
		}
	}
}
