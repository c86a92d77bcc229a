package dumper_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/dumperhq/dumper"
)

// A report that is expensive to render is served stale for up to 30 seconds after an
// invalidation while one background render replaces it; a client without the writer's
// cookie gets the previous version at once.
func ExamplePolicy_staleWhileRevalidate() {
	c, _ := dumper.New(dumper.Options{})
	defer c.Close()
	var version atomic.Int64
	rendered := make(chan struct{}, 1)
	report := c.MiddlewareWith(dumper.Policy{StaleWhileRevalidate: 30 * time.Second})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "report v%d", version.Load())
			select {
			case rendered <- struct{}{}:
			default:
			}
		}))
	get := func() {
		w := httptest.NewRecorder()
		report.ServeHTTP(w, httptest.NewRequest("GET", "/report", nil))
		fmt.Println(w.Header().Get("Cache-Status"), "|", w.Body.String())
	}
	get()
	<-rendered

	version.Store(1)
	_ = c.InvalidatePaths(context.Background(), "/report")
	get()      // the previous version, while it is rendered anew
	<-rendered // the background render has run…
	for {      // …and stored its page
		w := httptest.NewRecorder()
		report.ServeHTTP(w, httptest.NewRequest("GET", "/report", nil))
		if w.Body.String() == "report v1" {
			fmt.Println(w.Header().Get("Cache-Status"), "|", w.Body.String())
			break
		}
	}
	// Output:
	// dumper; fwd=uri-miss; stored | report v0
	// dumper; hit; ttl=-1; detail=stale | report v0
	// dumper; hit | report v1
}
