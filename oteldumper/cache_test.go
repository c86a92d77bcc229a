package oteldumper

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dumperhq/dumper"
	"go.opentelemetry.io/otel/attribute"
)

// TestWithCache: through a real cache, an unsafe request's span gets its result and the
// event of the invalidation of its own path; a later GET of that path is a stale miss.
func TestWithCache(t *testing.T) {
	t.Parallel()
	s := newSDK(t, Options{})
	c, err := dumper.New(dumper.Options{Observers: []dumper.Observer{s.rec.Observer()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "page") }))
	serve := func(method string) map[attribute.Key]attribute.Value {
		span := s.inSpan(t, func(ctx context.Context) {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, method, "/a", nil))
		})
		got := map[attribute.Key]attribute.Value{}
		for _, kv := range span.Attributes() {
			got[kv.Key] = kv.Value
		}
		for _, ev := range span.Events() {
			for _, kv := range ev.Attributes {
				got[attribute.Key(ev.Name+" "+string(kv.Key))] = kv.Value
			}
		}
		return got
	}
	serve("GET")
	unsafe := serve("POST")
	if unsafe[CacheResult].AsString() != "unsafe" || unsafe[CacheFwd].AsString() != "method" {
		t.Errorf("POST's span: %v, want result unsafe, fwd method", unsafe)
	}
	if unsafe["dumper.invalidation "+InvalidationSource].AsString() != "request" ||
		fmt.Sprint(unsafe["dumper.invalidation "+InvalidationTags].AsStringSlice()) != "[/a]" {
		t.Errorf("POST's span: %v, want the event of /a's invalidation by the request", unsafe)
	}
	if got := serve("GET"); got[CacheFwd].AsString() != "stale" || !got[CacheStored].AsBool() {
		t.Errorf("GET after POST: %v, want a stale miss, stored", got)
	}
}
