package purge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dumperhq/dumper"
)

const testToken = "0123456789abcdef0123456789abcdef"

// site is a cached site and its purge endpoint.
type site struct {
	cache *dumper.Cache
	pages http.Handler // the cached site
	runs  *atomic.Int64
}

// newSite returns a site cached by c, whose pages tag themselves "page:<path>"; nil c: a new
// memory cache.
func newSite(t testing.TB, c *dumper.Cache) *site {
	t.Helper()
	if c == nil {
		var err error
		if c, err = dumper.New(dumper.Options{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	var runs atomic.Int64
	pages := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dumper.Tag(r.Context(), "page:"+r.URL.Path)
		fmt.Fprintf(w, "run %d of %s", runs.Add(1), r.URL.Path)
	}))
	return &site{cache: c, pages: pages, runs: &runs}
}

// get requests target from the cached site and reports whether it was a hit.
func (s *site) get(t testing.TB, target string) bool {
	t.Helper()
	w := httptest.NewRecorder()
	s.pages.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d", target, w.Code)
	}
	return strings.HasSuffix(w.Header().Get("Cache-Status"), "; hit")
}

// warm caches each target and checks that it is a hit.
func (s *site) warm(t testing.TB, targets ...string) {
	t.Helper()
	for _, target := range targets {
		s.get(t, target)
		if !s.get(t, target) {
			t.Fatalf("GET %s twice: no hit", target)
		}
	}
}

// post sends a purge request to h.
func post(t testing.TB, h http.Handler, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/_dumper/purge", strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// errorOf returns the "error" member of a JSON answer, failing if the answer is not one.
func errorOf(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var v struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || v.Error == "" {
		t.Fatalf("answer %q is not {\"error\": \"…\"} (%v)", w.Body, err)
	}
	return v.Error
}

// logRecords is a slog.Handler that keeps the records it is given.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// take returns the records kept since the last call, each as its level, message and
// attributes (values in fmt's %v form).
func (l *logRecords) take() []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range l.records {
		lr := logRecord{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
		r.Attrs(func(a slog.Attr) bool {
			lr.Attrs[a.Key] = fmt.Sprint(a.Value.Resolve().Any())
			return true
		})
		out = append(out, lr)
	}
	l.records = nil
	return out
}

type logRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}
