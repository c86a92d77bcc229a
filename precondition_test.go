package dumper_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
)

// TestPreconditionsOnUnstoredResponse checks that a request whose preconditions the cache
// stripped to render the full page gets the answer the handler alone would give when the
// page turns out not storable: at WriteHeader (private, Set-Cookie, a status not stored),
// on the way (a body over the limit), or at the end (NoStore).
func TestPreconditionsOnUnstoredResponse(t *testing.T) {
	t.Parallel()
	const (
		body     = "hello world"
		etag     = `"v1"`
		before   = "Sat, 08 Sep 2001 00:00:00 GMT" // before the modification time
		after    = "Mon, 01 Jan 2024 00:00:00 GMT" // after it
		mismatch = `"nope"`
	)
	modtime := time.Unix(1e9, 0) // Sun, 09 Sep 2001 01:46:40 GMT
	handler := func(set func(w http.ResponseWriter, r *http.Request)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", etag)
			w.Header().Set("Vary", "Accept-Language")
			set(w, r)
			http.ServeContent(w, r, "", modtime, strings.NewReader(body))
		})
	}
	responses := []struct {
		name   string
		opts   dumper.Options
		set    func(w http.ResponseWriter, r *http.Request)
		detail string
	}{
		{"private", dumper.Options{}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "private")
		}, "private"},
		{"set-cookie", dumper.Options{}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Set-Cookie", "a=b")
		}, "set-cookie"},
		{"status", dumper.Options{Policy: dumper.Policy{Statuses: map[int]time.Duration{http.StatusNotFound: 0}}},
			func(w http.ResponseWriter, r *http.Request) {}, "status"},
		{"too-large", dumper.Options{Policy: dumper.Policy{MaxBodyBytes: 4}},
			func(w http.ResponseWriter, r *http.Request) {}, "too-large"},
		{"no-store-at-end", dumper.Options{}, func(w http.ResponseWriter, r *http.Request) {
			dumper.NoStore(r.Context())
		}, ""},
	}
	conditions := []struct{ name, value string }{
		{"If-Match", etag}, {"If-Match", mismatch}, {"If-Match", "*"},
		{"If-None-Match", etag}, {"If-None-Match", mismatch}, {"If-None-Match", "W/" + etag},
		{"If-Unmodified-Since", after}, {"If-Unmodified-Since", before},
		{"If-Modified-Since", after}, {"If-Modified-Since", before},
	}
	for _, resp := range responses {
		c := newCache(t, resp.opts)
		h := handler(resp.set)
		mw := c.Middleware(h)
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			for _, cond := range conditions {
				r := httptest.NewRequest(method, "/p", nil)
				r.Header.Set(cond.name, cond.value)
				direct := httptest.NewRecorder()
				h.ServeHTTP(direct, r)
				cached := httptest.NewRecorder()
				mw.ServeHTTP(cached, r)
				where := resp.name + " " + method + " " + cond.name + ": " + cond.value
				if cached.Code != direct.Code {
					t.Errorf("%s: behind the cache %d, handler alone %d", where, cached.Code, direct.Code)
					continue
				}
				cs := cached.Header().Get("Cache-Status")
				detail := resp.detail
				if method == http.MethodHead {
					detail = "head" // a HEAD that misses is the handler's to answer
				}
				if !strings.Contains(cs, "fwd=") || detail != "" && !strings.Contains(cs, detail) {
					t.Errorf("%s: Cache-Status %q", where, cs)
				}
				if cached.Code == http.StatusOK {
					continue
				}
				if cached.Body.Len() != 0 {
					t.Errorf("%s: %d with a body %q", where, cached.Code, cached.Body)
				}
				ch := cached.Header()
				for _, k := range []string{"Content-Length", "Content-Type"} {
					if v, ok := ch[k]; ok {
						t.Errorf("%s: %d with %s %q", where, cached.Code, k, v)
					}
				}
				if cached.Code == http.StatusNotModified {
					for _, k := range []string{"Etag", "Vary"} {
						if ch.Get(k) != direct.Header().Get(k) {
							t.Errorf("%s: 304 %s %q, handler alone %q", where, k, ch.Get(k), direct.Header().Get(k))
						}
					}
				}
				if resp.name == "set-cookie" && ch.Get("Set-Cookie") != "a=b" {
					t.Errorf("%s: %d without the handler's Set-Cookie", where, cached.Code)
				}
			}
		}
	}
}

// TestPreconditionsOnStreamedResponse: a response that flushes streams through as the
// handler sends it, a 200 even where the handler alone would have answered 412.
func TestPreconditionsOnStreamedResponse(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		_, _ = w.Write([]byte("part"))
		w.(http.Flusher).Flush()
		_, _ = w.Write([]byte(" two"))
	}))
	r := httptest.NewRequest(http.MethodGet, "/s", nil)
	r.Header.Set("If-Match", `"nope"`)
	w := httptest.NewRecorder()
	mw.ServeHTTP(w, r)
	if w.Code != http.StatusOK || w.Body.String() != "part two" {
		t.Errorf("streamed: %d %q, want 200 %q", w.Code, w.Body, "part two")
	}
}
