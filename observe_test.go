package dumper_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	requests []dumper.RequestEvent
	invals   []dumper.InvalidationEvent
	stores   []dumper.StoreEvent
}

func (rec *recorder) observer() dumper.Observer {
	return dumper.Observer{
		Request: func(_ context.Context, ev dumper.RequestEvent) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.requests = append(rec.requests, ev)
		},
		Invalidation: func(_ context.Context, ev dumper.InvalidationEvent) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			ev.Tags = slices.Clone(ev.Tags) // the cache's own: not to be kept
			rec.invals = append(rec.invals, ev)
		},
		Store: func(_ context.Context, ev dumper.StoreEvent) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.stores = append(rec.stores, ev)
		},
	}
}

// last returns the last request event, and forgets them all.
func (rec *recorder) last(t *testing.T) dumper.RequestEvent {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.requests) != 1 {
		t.Fatalf("%d request events, want 1: %+v", len(rec.requests), rec.requests)
	}
	ev := rec.requests[0]
	rec.requests = nil
	return ev
}

func TestObserverRequests(t *testing.T) {
	rec := &recorder{}
	c := newCache(t, dumper.Options{
		Observers: []dumper.Observer{rec.observer()},
		Policy:    dumper.Policy{Ignore: dumper.IgnorePrefix("/admin")},
	})
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/private":
			w.Header().Set("Cache-Control", "private")
		case "/created":
			w.WriteHeader(http.StatusCreated)
		}
		fmt.Fprint(w, "page ", r.URL.Path)
	}))

	// Each step is one request, in order: the store's state carries over.
	steps := []struct {
		name           string
		method, target string
		header         []string
		want           dumper.RequestEvent
	}{
		{"first", "GET", "/a", nil, dumper.RequestEvent{Result: dumper.ResultMiss, Fwd: "uri-miss", Stored: true, Status: 200}},
		{"again", "GET", "/a", nil, dumper.RequestEvent{Result: dumper.ResultHit, Status: 200}},
		{"revalidation", "GET", "/a", []string{"If-None-Match", "*"}, dumper.RequestEvent{Result: dumper.ResultHit, Status: 304}},
		{"not storable", "GET", "/private", nil, dumper.RequestEvent{Result: dumper.ResultMiss, Fwd: "uri-miss", Detail: "private", Status: 200}},
		{"ignored", "GET", "/admin/x", nil, dumper.RequestEvent{Result: dumper.ResultBypass, Fwd: "bypass"}},
		{"only-if-cached", "GET", "/none", []string{"Cache-Control", "only-if-cached"}, dumper.RequestEvent{Result: dumper.ResultRefused, Detail: "only-if-cached", Status: 504}},
		{"unsafe", "POST", "/a", nil, dumper.RequestEvent{Result: dumper.ResultUnsafe, Fwd: "method", Status: 200}},
		{"after the write", "GET", "/a", nil, dumper.RequestEvent{Result: dumper.ResultMiss, Fwd: "stale", Stored: true, Status: 200}},
		{"unsafe with a status", "PUT", "/created", nil, dumper.RequestEvent{Result: dumper.ResultUnsafe, Fwd: "method", Status: 201}},
	}
	for _, s := range steps {
		do(t, h, s.method, s.target, s.header...)
		got := rec.last(t)
		if got.Duration <= 0 || got.Duration < got.Render {
			t.Errorf("%s: Duration %v, Render %v", s.name, got.Duration, got.Render)
		}
		ran := got.Result != dumper.ResultHit && got.Result != dumper.ResultRefused
		if ran != (got.Render > 0) {
			t.Errorf("%s: Render %v for a %v", s.name, got.Render, got.Result)
		}
		got.Duration, got.Render = 0, 0
		if got != s.want {
			t.Errorf("%s: event\n got %+v\nwant %+v", s.name, got, s.want)
		}
	}
}

func TestObserverCoalesced(t *testing.T) {
	rec := &recorder{}
	c := newCache(t, dumper.Options{Observers: []dumper.Observer{rec.observer()}})
	entered, release := make(chan struct{}), make(chan struct{})
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		fmt.Fprint(w, "slow page")
	}))
	var wg sync.WaitGroup
	wg.Go(func() { do(t, h, "GET", "/slow") })
	<-entered
	// The second request joins the first's render; it is counted as coalesced once it
	// is waiting, which Stats tell.
	wg.Go(func() { do(t, h, "GET", "/slow") })
	wait.For(t, 10*time.Second, "the second request to wait for the first", func() bool { return c.Stats().Coalesced == 1 })
	close(release)
	wg.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var results []dumper.Result
	for _, ev := range rec.requests {
		results = append(results, ev.Result)
	}
	slices.Sort(results)
	if want := []dumper.Result{dumper.ResultMiss, dumper.ResultCoalesced}; !slices.Equal(results, want) {
		t.Errorf("results %v, want %v", results, want)
	}
}

func TestObserverInvalidations(t *testing.T) {
	rec := &recorder{}
	c := newCache(t, dumper.Options{Observers: []dumper.Observer{rec.observer()}})
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	ctx := context.Background()
	written := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	long := "UPDATE flavors SET name = '" + strings.Repeat("é", 200) + "'"
	if err := c.InvalidateTags(dumper.WithWrite(dumper.WithSource(ctx, "gorm", written), long), "b", "a", "b"); err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidatePaths(ctx, "/x"); err != nil {
		t.Fatal(err)
	}
	do(t, h, "DELETE", "/y")
	if err := c.InvalidateAll(dumper.WithSource(ctx, "purge", written)); err != nil {
		t.Fatal(err)
	}

	want := []dumper.InvalidationEvent{
		{Tags: []string{"a", "b"}, Source: "gorm", Written: written, Write: long},
		{Tags: []string{"/x"}},
		{Tags: []string{"/y"}, Source: dumper.SourceRequest},
		{All: true, Source: "purge", Written: written},
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.invals) != len(want) {
		t.Fatalf("%d invalidation events, want %d: %+v", len(rec.invals), len(want), rec.invals)
	}
	for i, got := range rec.invals {
		w := want[i]
		if !slices.Equal(got.Tags, w.Tags) || got.All != w.All || got.Source != w.Source || got.Err != nil || got.Duration <= 0 {
			t.Errorf("event %d: %+v, want %+v", i, got, w)
		}
		if w.Write == "" && got.Write != "" {
			t.Errorf("event %d: Write %q, want none", i, got.Write)
		}
		if w.Write != "" {
			cut, ok := strings.CutSuffix(got.Write, "…")
			if !ok || len(got.Write) > 200 || len(got.Write) < 190 || !utf8.ValidString(got.Write) || !strings.HasPrefix(w.Write, cut) {
				t.Errorf("event %d: Write %q (%d bytes), want the start of %q, at most 200 bytes, ending with …", i, got.Write, len(got.Write), w.Write)
			}
		}
		switch {
		case w.Source == dumper.SourceRequest:
			if got.Written.IsZero() {
				t.Errorf("event %d: an unsafe request's invalidation has no Written", i)
			}
		case !got.Written.Equal(w.Written):
			t.Errorf("event %d: Written %v, want %v", i, got.Written, w.Written)
		}
	}
	var ops []string
	for _, ev := range rec.stores {
		ops = append(ops, ev.Op)
	}
	if want := []string{"invalidate", "invalidate", "invalidate", "invalidate-all"}; !slices.Equal(ops, want) {
		t.Errorf("store events %v, want %v", ops, want)
	}
}

// failingStore fails every operation.
type failingStore struct{ dumper.Store }

var errDown = errors.New("store down")

func (failingStore) Get(context.Context, string) (dumper.Lookup, error) {
	return dumper.Lookup{}, errDown
}
func (failingStore) Set(context.Context, time.Duration, ...dumper.Item) error { return errDown }
func (failingStore) Invalidate(context.Context, ...string) error              { return errDown }

func TestObserverStoreErrors(t *testing.T) {
	rec := &recorder{}
	c := newCache(t, dumper.Options{Store: failingStore{}, Observers: []dumper.Observer{rec.observer()}})
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	w := do(t, h, "GET", "/a")
	wantBody(t, w, "ok")
	if err := c.InvalidateTags(context.Background(), "t"); !errors.Is(err, errDown) {
		t.Fatalf("InvalidateTags: %v", err)
	}
	if ev := rec.last(t); ev.Result != dumper.ResultMiss || ev.Fwd != "miss" || ev.Detail != "store-error" || ev.Stored {
		t.Errorf("request event %+v", ev)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.stores) != 2 || rec.stores[0].Op != "get" || rec.stores[1].Op != "invalidate" {
		t.Fatalf("store events %+v", rec.stores)
	}
	for _, ev := range rec.stores {
		if !errors.Is(ev.Err, errDown) {
			t.Errorf("store event %+v: want the store's error", ev)
		}
	}
	if len(rec.invals) != 1 || !errors.Is(rec.invals[0].Err, errDown) {
		t.Errorf("invalidation events %+v", rec.invals)
	}
}

func TestObserverStoreOps(t *testing.T) {
	rec := &recorder{}
	c := newCache(t, dumper.Options{Observers: []dumper.Observer{{Store: rec.observer().Store}}})
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprint(w, "ok")
	}))
	do(t, h, "GET", "/v", "Accept-Language", "fr") // get (nothing), set (record and variant)
	do(t, h, "GET", "/v", "Accept-Language", "fr") // get (record), get (variant)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var ops []string
	for _, ev := range rec.stores {
		ops = append(ops, ev.Op)
	}
	if want := []string{"get", "set", "get", "get"}; !slices.Equal(ops, want) {
		t.Errorf("store events %v, want %v", ops, want)
	}
	if len(rec.requests) != 0 {
		t.Errorf("an observer of the store only got %d request events", len(rec.requests))
	}
}

func TestResultString(t *testing.T) {
	for r, want := range map[dumper.Result]string{
		dumper.ResultHit: "hit", dumper.ResultMiss: "miss", dumper.ResultCoalesced: "coalesced",
		dumper.ResultBypass: "bypass", dumper.ResultUnsafe: "unsafe", dumper.ResultRefused: "refused", dumper.ResultStale: "stale",
		0: "unknown", 200: "unknown",
	} {
		if got := r.String(); got != want {
			t.Errorf("Result(%d).String() = %q, want %q", r, got, want)
		}
	}
}

// BenchmarkHitObserved is BenchmarkHit's plain case with a request observer, to show what
// observing costs a hit.
func BenchmarkHitObserved(b *testing.B) {
	for _, observed := range []bool{false, true} {
		b.Run(fmt.Sprintf("observed=%v", observed), func(b *testing.B) {
			var opts dumper.Options
			if observed {
				var n int
				opts.Observers = []dumper.Observer{{Request: func(context.Context, dumper.RequestEvent) { n++ }}}
			}
			c, _ := dumper.New(opts)
			defer c.Close()
			h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "page") }))
			r := httptest.NewRequest("GET", "/p", nil)
			h.ServeHTTP(httptest.NewRecorder(), r)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}

// A handler that panics is reported all the same, and its panic goes on.
func TestObserverPanic(t *testing.T) {
	rec := &recorder{}
	c := newCache(t, dumper.Options{Observers: []dumper.Observer{rec.observer()}})
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "half")
		panic("the handler fails")
	}))
	func() {
		defer func() {
			if p := recover(); p != "the handler fails" {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		do(t, h, "GET", "/p")
	}()
	if ev := rec.last(t); ev.Result != dumper.ResultMiss || !ev.Panicked || ev.Stored {
		t.Errorf("event %+v, want a miss that panicked", ev)
	}
	do(t, c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})), "GET", "/q")
	if ev := rec.last(t); ev.Panicked {
		t.Errorf("event %+v: Panicked for a handler that returned", ev)
	}
}
