package staleness_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/cmd/internal/staleness"
	"github.com/dumperhq/dumper/edge"
	"github.com/dumperhq/dumper/edge/edgetest"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/internal/wait"
)

// holdHeader marks a request to hold (see holder): its value says where.
const holdHeader = "X-Test-Hold"

// A holder holds one marked response of the shop until released: where "inner", between
// the handler's database read and the cache (the render has read the old row; the cache has
// not yet stored it); where "outer", between the cache and Varnish (the cache has stored or
// served the old page; Varnish has not yet got it).
type holder struct {
	mu      sync.Mutex
	held    chan struct{} // closed once the marked response is held
	release chan struct{} // closed to let it go
}

func (h *holder) arm() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held, h.release = make(chan struct{}), make(chan struct{})
}

func (h *holder) chans() (held, release chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held, h.release
}

// wrap holds the responses of next to requests whose holdHeader is where.
func (h *holder) wrap(where string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(holdHeader) != where {
			next.ServeHTTP(w, r)
			return
		}
		held, release := h.chans()
		next.ServeHTTP(&heldWriter{ResponseWriter: w, held: held, release: release}, r)
	})
}

// heldWriter blocks the first write of the response until release.
type heldWriter struct {
	http.ResponseWriter
	held, release chan struct{}
	once          sync.Once
}

func (w *heldWriter) hold() {
	w.once.Do(func() {
		close(w.held)
		<-w.release
	})
}

func (w *heldWriter) WriteHeader(code int) { w.hold(); w.ResponseWriter.WriteHeader(code) }

func (w *heldWriter) Write(b []byte) (int, error) { w.hold(); return w.ResponseWriter.Write(b) }

// unchecked is an edge whose Refuse does nothing: the cache lets the edge store every render
// it tagged, even one an invalidation condemned while it ran (the store check of edgeSend
// disabled).
type unchecked struct{ *edge.Edge }

func (unchecked) Refuse(http.Header) {}

// raceStack is one instance of the shop behind a varnishd of its own, with a holder at both
// places. check is false to disable the cache's check that a render is still valid before
// Varnish gets it; delay is the edge's Delay (negative: no second purge).
type raceStack struct {
	s       *stack
	e       *edge.Edge
	h       *holder
	backend string // the instance's own URL, bypassing Varnish
}

func newRaceStack(t *testing.T, check bool, delay time.Duration) *raceStack {
	t.Helper()
	db := openSQLite(t, filepath.Join(t.TempDir(), "shop.db"), true)
	srv := httptest.NewUnstartedServer(nil)
	v := edgetest.StartVarnish(t, srv.Listener.Addr().String())
	e, err := edge.New(edge.Options{Dialect: edge.Varnish, Delay: delay, Wait: edgeWait, Logger: testLogger(t),
		Purger: edge.VarnishPurger{URLs: []string{v.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	var pe dumper.Edge = e
	if !check {
		pe = unchecked{e}
	}
	cache := newCache(t, dumper.Options{Policy: dumper.Policy{Edge: pe}, Observers: []dumper.Observer{e.Observer()}})
	if err := db.Use(gormdumper.New(cache)); err != nil {
		t.Fatal(err)
	}
	h := &holder{}
	h.arm()
	srv.Config.Handler = h.wrap("outer", cache.Middleware(h.wrap("inner", icecream.NewHandler(db, testLogger(t)))))
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = e.Close()
	})
	return &raceStack{
		s: &stack{instances: []*instance{{name: "varnish", url: v.URL, db: db, cache: cache}},
			client: newClient(t), appBound: edgeBound, edges: []*edge.Edge{e}},
		e: e, h: h, backend: srv.URL,
	}
}

// raceCase is one way a page of the old data can reach Varnish after the write's purge.
type raceCase struct {
	name   string
	flavor string
	hold   string // "inner" or "outer"
	hit    bool   // the held response is a hit of the cache, primed before
}

var raceCases = []raceCase{
	{"render held before the cache", "vanilla", "inner", false},
	{"render held after the cache", "chocolate", "outer", false},
	{"cache hit held", "strawberry", "outer", true},
}

// TestVarnishRace provokes the race the edge's design closes, once per case: a request
// that reaches the shop through Varnish before a write, and whose old page is held until the
// write has returned and its first purge has landed; then it goes on to Varnish, and reads
// through Varnish follow for longer than edgeBound. Each configuration disables one or both
// race-closing steps — the cache refusing to the edge a render that an invalidation
// condemned while it ran, and the second purge Delay after the first — and every case must
// give the violations its configuration predicts, in the same run: none with the design,
// some without it.
func TestVarnishRace(t *testing.T) {
	configs := []struct {
		name  string
		check bool
		delay time.Duration
		stale []bool // by raceCases: violations expected
	}{
		{"design: store check and second purge", true, edgeDelay, []bool{false, false, false}},
		{"second purge only", false, edgeDelay, []bool{false, false, false}},
		{"store check only", true, -1, []bool{false, true, true}},
		{"neither", false, -1, []bool{true, true, true}},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			rs := newRaceStack(t, c.check, c.delay)
			l := newLoad(t, rs.s, 0)
			for i, rc := range raceCases {
				n, late, rep := l.race(rs, rc)
				t.Logf("%s: %d reads stale beyond the bound %v, %d late within it (history so far: %d reads, max lateness %v)",
					rc.name, n, edgeBound, late, rep.Reads, rep.MaxLateness.Round(time.Millisecond))
				switch {
				case c.stale[i] && n == 0:
					t.Errorf("%s: no violation with this step disabled: the case does not provoke the race", rc.name)
				case !c.stale[i] && n > 0:
					t.Errorf("%s: %d reads stale beyond %v: %v", rc.name, n, edgeBound, rep)
				}
			}
			t.Logf("edge: purges %+v", rs.e.Stats())
		})
	}
}

// race runs one case and returns the violations and the late reads within the bound on its
// flavor, with the report of the history so far.
func (l *load) race(rs *raceStack, rc raceCase) (stale, late int, rep staleness.Report) {
	t := l.t
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	in := rs.s.instances[0]
	path := "/icecream/" + rc.flavor
	page := slices.IndexFunc(pages, func(p struct {
		path  string
		shows []string
	}) bool {
		return p.path == path
	})
	if rc.hit {
		// Into the cache, not into Varnish.
		if status, _, _, err := l.get(ctx, rs.s.client, &instance{name: "backend", url: rs.backend}, path, ""); err != nil || status != http.StatusOK {
			t.Fatalf("priming %s: status %d, %v", path, status, err)
		}
	}
	rs.h.arm()
	held, release := rs.h.chans()
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.heldRead(ctx, in, page, rc.hold)
	}()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the response was not held", rc.name)
	}
	sent := rs.e.Stats().Sent
	st := l.state[rc.flavor]
	v := st.version + 1
	w := staleness.Write{Entity: rc.flavor, Version: v, Start: l.h.Now(), Bound: edgeBound, Note: "api"}
	if err := l.apiWrite(ctx, rs.s.client, in, rc.flavor, v); err != nil {
		t.Fatal(err)
	}
	w.End = l.h.Now()
	st.version = v
	l.h.AddWrite(w)
	wait.For(t, 10*time.Second, "the write's first purge", func() bool { return rs.e.Stats().Sent > sent })
	close(release)
	<-done
	// Reads through Varnish until well past the bound.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for l.h.Now() < w.End+edgeBound+600*time.Millisecond {
		l.read(ctx, in, page, "")
		<-tick.C
	}
	writes, reads := l.h.Ops()
	rep, err := staleness.Check(writes, reads)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep.Violations {
		if v.Read.Entity == rc.flavor {
			stale++
		}
	}
	for _, r := range rep.Late {
		if r.Read.Entity == rc.flavor {
			late++
		}
	}
	return stale, late, rep
}

// heldRead is read, for a request marked to be held where.
func (l *load) heldRead(ctx context.Context, in *instance, page int, where string) {
	p := pages[page]
	start := l.h.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.url+p.path, nil)
	if err != nil {
		l.failf("%v", err)
		return
	}
	req.Host = host
	req.Header.Set(holdHeader, where)
	res, err := l.s.client.Do(req)
	if err != nil {
		l.failf("held GET %s: %v", p.path, err)
		return
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	end := l.h.Now()
	if err != nil || res.StatusCode != http.StatusOK {
		l.failf("held GET %s: status %d, %v", p.path, res.StatusCode, err)
		return
	}
	for _, m := range versionRE.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseInt(m[2], 10, 64)
		l.h.AddRead(staleness.Read{Entity: m[1], Version: v, Start: start, End: end, Via: in.name,
			What: fmt.Sprintf("held GET %s (%s)", p.path, where)})
	}
}
