package dumper

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzWriterCookie checks that no Cookie header makes a request the writer's unless it
// carries the cookie the cache signed, and that none makes the check panic.
func FuzzWriterCookie(f *testing.F) {
	c, err := New(Options{Policy: Policy{StaleWhileRevalidate: 60e9}})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	m := c.Middleware(http.NotFoundHandler()).(*middleware)
	h := http.Header{}
	m.markWriter(h)
	genuine := (&http.Response{Header: h}).Cookies()[0].Value
	f.Add("dumper-writer=" + genuine)
	f.Add("a=1; dumper-writer=" + genuine + "; b=2")
	f.Add("dumper-writer=" + strings.Replace(genuine, ".", "0.", 1))
	f.Add("dumper-writer=99999999999999999999." + strings.SplitN(genuine, ".", 2)[1])
	f.Add("dumper-writer=.")
	f.Add("dumper-writer=")
	f.Fuzz(func(t *testing.T, cookie string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", cookie)
		if !c.isWriter(r) {
			return
		}
		for _, ck := range r.CookiesNamed(writerCookie) {
			if ck.Value == genuine {
				return
			}
		}
		t.Fatalf("Cookie %q passed for the writer's without the signed value", cookie)
	})
}
