package edge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/edge"
	"github.com/dumperhq/dumper/edge/edgetest"
	"github.com/dumperhq/dumper/internal/wait"
)

// get fetches url and returns the status, the header and the body.
func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// varnishHit reports a response Varnish served from its cache: its X-Varnish names the
// request and the one that stored the object.
func varnishHit(h http.Header) bool { return len(strings.Fields(h.Get("X-Varnish"))) == 2 }

func TestVarnishPurgedByTag(t *testing.T) {
	var version atomic.Int64
	var renders atomic.Int64
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		renders.Add(1)
		dumper.ReadRows(r.Context(), "flavors", "slug", "vanilla")
		io.WriteString(w, "v"+strconv.FormatInt(version.Load(), 10))
	})
	origin := httptest.NewUnstartedServer(nil)
	v := edgetest.StartVarnish(t, origin.Listener.Addr().String())
	e, err := edge.New(edge.Options{Dialect: edge.Varnish, Purger: edge.VarnishPurger{URLs: []string{v.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := dumper.New(dumper.Options{Policy: dumper.Policy{Edge: e}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	origin.Config.Handler = c.Middleware(page)
	origin.Start()
	defer origin.Close()

	_, h, body := get(t, v.URL+"/flavor")
	if body != "v0" || varnishHit(h) {
		t.Fatalf("first GET: %q, X-Varnish %q; want v0 from the origin", body, h.Get("X-Varnish"))
	}
	for _, k := range []string{"Xkey", "Surrogate-Control"} {
		if got := h.Get(k); got != "" {
			t.Errorf("client got %s: %q; the VCL strips it", k, got)
		}
	}
	_, h, body = get(t, v.URL+"/flavor")
	if body != "v0" || !varnishHit(h) {
		t.Fatalf("second GET: %q, X-Varnish %q; want v0 from Varnish", body, h.Get("X-Varnish"))
	}
	if n := renders.Load(); n != 1 {
		t.Fatalf("%d renders, want 1", n)
	}

	version.Store(1)
	tags := []string{dumper.RowTag("flavors", "slug", "vanilla")}
	if err := c.InvalidateTags(context.Background(), tags...); err != nil {
		t.Fatal(err)
	}
	e.Purge(tags...)
	wait.For(t, 10*time.Second, "the purge sent", func() bool { return e.Stats().Requests > 0 })
	_, h, body = get(t, v.URL+"/flavor")
	if body != "v1" || varnishHit(h) {
		t.Fatalf("GET after the purge: %q, X-Varnish %q; want v1 from the origin", body, h.Get("X-Varnish"))
	}
}
