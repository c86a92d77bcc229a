package dumper_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dumperhq/dumper"
)

func TestRendering(t *testing.T) {
	c := newCache(t)
	var inside bool
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside = dumper.Rendering(r.Context())
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if !inside {
		t.Error("Rendering(handler's context) = false, want true")
	}
	if dumper.Rendering(context.Background()) {
		t.Error("Rendering(context.Background()) = true, want false")
	}
}
