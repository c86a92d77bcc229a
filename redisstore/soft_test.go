package redisstore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/redisstore"
)

// TestSoftAcrossInstances checks that instances sharing Redis serve a soft entry stale
// after an invalidation while exactly one of them renders it anew, and that the writer's
// cookie, set by one instance, is honoured by the other.
func TestSoftAcrossInstances(t *testing.T) {
	t.Parallel()
	for _, strict := range []bool{true, false} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			t.Parallel()
			prefix := uniquePrefix(t)
			key := []byte("a key that the instances share!!")
			var runs atomic.Int64
			gate := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := runs.Add(1)
				if n == 3 {
					<-gate // the background render waits until every instance has served stale
				}
				fmt.Fprintf(w, "n=%d", n)
			})
			var mws []http.Handler
			var caches []*dumper.Cache
			for range 2 {
				st := newStore(t, redisstore.Options{Prefix: prefix, Strict: strict})
				c, err := dumper.New(dumper.Options{Store: st, WriterKey: key, Policy: dumper.Policy{StaleWhileRevalidate: time.Minute}})
				if err != nil {
					t.Fatal(err)
				}
				mws = append(mws, c.Middleware(h))
				caches = append(caches, c)
			}
			do := func(mw http.Handler, method string, cookie string) *httptest.ResponseRecorder {
				r := httptest.NewRequest(method, "/p", nil)
				if cookie != "" {
					r.Header.Set("Cookie", cookie)
				}
				w := httptest.NewRecorder()
				mw.ServeHTTP(w, r)
				return w
			}
			do(mws[0], "GET", "")
			post := do(mws[0], "POST", "") // run 2
			ck := post.Result().Cookies()
			if len(ck) != 1 {
				t.Fatalf("POST set cookies %v", ck)
			}
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					w := do(mws[i%2], "GET", "")
					if cs := w.Header().Get("Cache-Status"); !strings.Contains(cs, "detail=stale") || w.Body.String() != "n=1" {
						t.Errorf("instance %d: %q %q, want the stale page", i%2, cs, w.Body.String())
					}
				})
			}
			wg.Wait()
			if n := caches[0].Stats().Revalidations + caches[1].Stats().Revalidations; n != 1 {
				t.Errorf("%d renders started for 20 stale requests on 2 instances, want 1", n)
			}
			close(gate)
			var last string
			if !wait.Until(10*time.Second, func() bool {
				w := do(mws[1], "GET", "")
				last = w.Header().Get("Cache-Status") + " " + w.Body.String()
				// A GET here that looked the entry up just before the render replaced it
				// starts another: n=4.
				return w.Header().Get("Cache-Status") == "dumper; hit" && (w.Body.String() == "n=3" || w.Body.String() == "n=4")
			}) {
				t.Fatalf("the background render was not stored within 10s: the last GET got %q; %d runs", last, runs.Load())
			}
			// The writer's next request on the other instance is not served stale.
			if err := invalidatePath(mws); err != nil {
				t.Fatal(err)
			}
			w := do(mws[1], "GET", ck[0].Name+"="+ck[0].Value)
			if cs := w.Header().Get("Cache-Status"); strings.Contains(cs, "detail=stale") {
				t.Errorf("the writer got %q on the other instance", cs)
			}
		})
	}
}

// invalidatePath invalidates /p with a POST through the first instance.
func invalidatePath(mws []http.Handler) error {
	w := httptest.NewRecorder()
	mws[0].ServeHTTP(w, httptest.NewRequest("POST", "/p", nil))
	if w.Code != http.StatusOK {
		return fmt.Errorf("POST: %d", w.Code)
	}
	return nil
}
