package edge_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/edge"
	"github.com/dumperhq/dumper/edge/edgetest"
)

// getWith fetches url with the header fields of hdr (name, value pairs) and returns the
// header and the body.
func getWith(t *testing.T, url string, hdr ...string) (http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header, string(b)
}

// TestVarnishKeysWhatDumperKeys: a request that sets one of dumper's key headers to an odd
// value gets an object of its own in Varnish, as it gets an entry of its own in dumper, and
// cannot poison the page Varnish serves to everybody else.
func TestVarnishKeysWhatDumperKeys(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if fh := r.Header.Values("X-Forwarded-Host"); len(fh) > 0 {
			host = fmt.Sprint(fh)
		}
		fmt.Fprintf(w, "link http://%s/ proto %q forwarded %q", host, r.Header.Get("X-Forwarded-Proto"), r.Header.Get("Forwarded"))
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

	for i, poison := range [][]string{
		{"X-Forwarded-Host", "evil.example"},
		{"X-Forwarded-Host", "a", "X-Forwarded-Host", "evil.example"},
		{"X-Forwarded-Proto", "javascript"},
		{"Forwarded", "host=evil.example"},
	} {
		path := fmt.Sprintf("/p%d", i)
		// The attacker comes first, twice: the second is Varnish's hit, if it kept it.
		_, poisoned := getWith(t, v.URL+path, poison...)
		h, again := getWith(t, v.URL+path, poison...)
		if again != poisoned {
			t.Errorf("%q: %q then %q", poison, poisoned, again)
		}
		if len(poison) == 2 && !varnishHit(h) {
			t.Errorf("%q: not a Varnish hit the second time (X-Varnish %q): the variant is not kept", poison, h.Get("X-Varnish"))
		}
		for range 2 {
			if _, body := getWith(t, v.URL+path); body == poisoned {
				t.Errorf("%q: the plain request got the attacker's page %q", poison, body)
			}
		}
	}
}

// TestVCLHashesDefaultKeyHeaders: the shipped VCL hashes every header of
// dumper.DefaultKeyHeaders, so that a header added there cannot be forgotten here.
func TestVCLHashesDefaultKeyHeaders(t *testing.T) {
	for _, h := range dumper.DefaultKeyHeaders() {
		if !strings.Contains(edge.VCL, "hash_data(\""+strings.ToLower(h)+": \" + req.http."+h+");") {
			t.Errorf("dumper.vcl does not hash %s, one of dumper.DefaultKeyHeaders", h)
		}
	}
}
