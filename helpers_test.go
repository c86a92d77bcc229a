package dumper_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dumperhq/dumper"
)

// newCache returns a cache with the zero Options (or opts), closed at the end of the test.
func newCache(t *testing.T, opts ...dumper.Options) *dumper.Cache {
	t.Helper()
	var o dumper.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	c, err := dumper.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// counting returns a handler that writes "n=<run number> <path>?<query> <Accept-Language>",
// after letting configure set headers, and the number of times it ran.
func counting(configure func(w http.ResponseWriter, r *http.Request)) (http.Handler, *atomic.Int64) {
	var runs atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := runs.Add(1)
		if configure != nil {
			configure(w, r)
		}
		fmt.Fprintf(w, "n=%d %s %s", n, r.URL.RequestURI(), r.Header.Get("Accept-Language"))
	}), &runs
}

// do sends one request through h and returns the recorder.
func do(t *testing.T, h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// status returns the Cache-Status of a response.
func status(w *httptest.ResponseRecorder) string { return w.Header().Get("Cache-Status") }

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, want string) {
	t.Helper()
	if got := status(w); got != want {
		t.Fatalf("Cache-Status = %q, want %q (body %q)", got, want, w.Body.String())
	}
}

func wantBody(t *testing.T, w *httptest.ResponseRecorder, want string) {
	t.Helper()
	if got := w.Body.String(); got != want {
		t.Fatalf("body = %q, want %q", got, want)
	}
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func isHit(w *httptest.ResponseRecorder) bool { return strings.HasSuffix(status(w), "; hit") }
