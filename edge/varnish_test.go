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
	c, err := dumper.New(dumper.Options{Policy: dumper.Policy{Edge: e}, Observers: []dumper.Observer{e.Observer()}})
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
	if cs := h.Get("Cache-Status"); !strings.HasSuffix(cs, ", varnish; hit") {
		t.Errorf("Cache-Status %q, want dumper's then \"varnish; hit\"", cs)
	}
	if n := renders.Load(); n != 1 {
		t.Fatalf("%d renders, want 1", n)
	}

	version.Store(1)
	tags := []string{dumper.RowTag("flavors", "slug", "vanilla")}
	if err := c.InvalidateTags(context.Background(), tags...); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "the purge sent", func() bool { return e.Stats().Requests > 0 })
	_, h, body = get(t, v.URL+"/flavor")
	if body != "v1" || varnishHit(h) {
		t.Fatalf("GET after the purge: %q, X-Varnish %q; want v1 from the origin", body, h.Get("X-Varnish"))
	}
}

// TestVarnishStaleOnArrival: a render that began before a write and ends after its purge
// reaches Varnish after the purge; dumper sends it with Surrogate-Control: no-store, so
// Varnish does not keep it, and the next request gets the new version.
func TestVarnishStaleOnArrival(t *testing.T) {
	var version atomic.Int64
	rendering, release := make(chan struct{}), make(chan struct{})
	var block atomic.Bool
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dumper.ReadRows(r.Context(), "flavors", "slug", "vanilla")
		v := version.Load() // the read, before the write
		if block.CompareAndSwap(true, false) {
			rendering <- struct{}{}
			<-release
		}
		io.WriteString(w, "v"+strconv.FormatInt(v, 10))
	})
	origin := httptest.NewUnstartedServer(nil)
	v := edgetest.StartVarnish(t, origin.Listener.Addr().String())
	e := newEdge(t, edge.Options{Dialect: edge.Varnish, Purger: edge.VarnishPurger{URLs: []string{v.URL}}, Delay: -1})
	c, err := dumper.New(dumper.Options{Policy: dumper.Policy{Edge: e}, Observers: []dumper.Observer{e.Observer()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	origin.Config.Handler = c.Middleware(page)
	origin.Start()
	defer origin.Close()

	block.Store(true)
	done := make(chan string)
	go func() {
		resp, err := http.Get(v.URL + "/flavor")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-rendering
	version.Store(1)
	if err := c.InvalidateTags(context.Background(), dumper.RowTag("flavors", "slug", "vanilla")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "the purge sent", func() bool { return e.Stats().Requests == 1 })
	close(release)
	if got := <-done; got != "v0" {
		t.Fatalf("the render in flight got %q, want v0 (it read before the write)", got)
	}
	for i := range 2 {
		if _, h, body := get(t, v.URL+"/flavor"); body != "v1" {
			t.Fatalf("GET %d after the write: %q (X-Varnish %q), want v1: Varnish kept a response stale on arrival", i, body, h.Get("X-Varnish"))
		}
	}
}

// TestVarnishSecondPurge: a response already on its way to Varnish when the first purge
// arrives — rendered where this instance's store cannot tell (another instance, a hit read
// just before the write) — is dropped by the second purge, Delay after the first. Delay is
// an hour, so that the response surely lands between the purges; the test then makes the
// second purge due.
func TestVarnishSecondPurge(t *testing.T) {
	var version atomic.Int64
	fetching, release := make(chan struct{}), make(chan struct{})
	var block atomic.Bool
	// An origin that tags its responses itself, as a response stored before the write and
	// served from another instance's store would be tagged.
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := version.Load()
		if block.CompareAndSwap(true, false) {
			fetching <- struct{}{}
			<-release
		}
		w.Header().Set("Xkey", "flavor:1 "+edge.AllTag)
		w.Header().Set("Surrogate-Control", "max-age=3600")
		io.WriteString(w, "v"+strconv.FormatInt(v, 10))
	}))
	v := edgetest.StartVarnish(t, origin.Listener.Addr().String())
	e := newEdge(t, edge.Options{Dialect: edge.Varnish, Purger: edge.VarnishPurger{URLs: []string{v.URL}}, Delay: time.Hour})
	origin.Start()
	defer origin.Close()

	block.Store(true)
	done := make(chan string)
	go func() {
		resp, err := http.Get(v.URL + "/flavor")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-fetching
	version.Store(1)
	e.Purge("flavor:1")
	wait.For(t, 10*time.Second, "the first purge", func() bool { return e.Stats().Requests == 1 })
	close(release)
	<-done
	if _, h, body := get(t, v.URL+"/flavor"); body != "v0" || !varnishHit(h) {
		t.Fatalf("between the purges: %q (X-Varnish %q); want Varnish's v0, which arrived after the first purge", body, h.Get("X-Varnish"))
	}
	if s := e.Stats(); s.Requests != 1 || s.Second != 1 {
		t.Fatalf("Stats %+v before the second purge is due: want one request, one second purge queued", s)
	}
	e.SecondPurgesNow()
	wait.For(t, 10*time.Second, "the second purge", func() bool { return e.Stats().Requests == 2 })
	if _, h, body := get(t, v.URL+"/flavor"); body != "v1" {
		t.Fatalf("after the second purge: %q (X-Varnish %q), want v1", body, h.Get("X-Varnish"))
	}
}
