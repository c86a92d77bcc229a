package staleness_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/cmd/internal/staleness"
	"github.com/dumperhq/dumper/internal/wait"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// flavors are the entities: their names carry a version, "vanilla v12".
var flavors = []string{"vanilla", "chocolate", "strawberry"}

// pages are the pages read, each with the flavors it shows (the seeded sizes never change).
var pages = []struct {
	path  string
	shows []string
}{
	{"/", flavors},
	{"/icecream/vanilla", []string{"vanilla"}},
	{"/icecream/chocolate", []string{"chocolate"}},
	{"/icecream/strawberry", []string{"strawberry"}},
	{"/sizes/small", []string{"vanilla", "strawberry"}},
	{"/sizes/medium", []string{"vanilla", "chocolate"}},
	{"/sizes/large", []string{"chocolate"}},
}

var langs = []string{"", "fr"}

// versionRE finds the versioned flavor names on a page: in the <h1> of a flavor page and in
// the links of the others (the <title> is followed by " · ", so it does not match).
var versionRE = regexp.MustCompile(`>([a-z]+) v(\d+)<`)

// seed returns DUMPER_STALE_SEED, or a fresh seed, and logs how to replay it.
func seed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("DUMPER_STALE_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DUMPER_STALE_SEED=%q: %v", s, err)
		}
		t.Logf("seed %d (from DUMPER_STALE_SEED)", n)
		return n
	}
	n := uint64(time.Now().UnixNano())
	t.Logf("seed %d (replay the same choices with DUMPER_STALE_SEED=%d)", n, n)
	return n
}

// long reports whether DUMPER_LONG=1 asks for the long runs.
func long() bool { return os.Getenv("DUMPER_LONG") == "1" }

// load drives a stack with readers and writers and records what they did in a History.
type load struct {
	t    *testing.T
	s    *stack
	h    *staleness.History
	seed uint64

	state map[string]*flavorState

	reads, writes, hits  atomic.Int64
	edgeHits             atomic.Int64   // hits served by an edge in front (Varnish)
	staleHits            atomic.Int64   // hits that said detail=stale (soft invalidation)
	writers              []*http.Client // with soft invalidation: each writer's own, with a cookie jar
	mixed                atomic.Int64   // transactions of writeMixed
	serverErrors, failed atomic.Int64   // 5xx; other failures (transport, wrong page)
	stopWrites           atomic.Bool    // a write failed: its outcome is unknown
	logged               atomic.Int64   // failures logged, to keep the log short
}

// flavorState serializes the writes of one flavor, so that versions follow commit order.
type flavorState struct {
	mu      sync.Mutex
	version int64 // the last version written
}

func newLoad(t *testing.T, s *stack, seed uint64) *load {
	l := &load{t: t, s: s, h: staleness.NewHistory(), seed: seed, state: make(map[string]*flavorState)}
	for _, f := range flavors {
		l.state[f] = &flavorState{}
	}
	// Version 0 of each flavor, before any read.
	ctx := t.Context()
	for _, f := range flavors {
		start := l.h.Now()
		if err := l.apiWrite(ctx, l.s.client, s.instances[0], f, 0); err != nil {
			t.Fatal(err)
		}
		l.h.AddWrite(staleness.Write{Entity: f, Version: 0, Start: start, End: l.h.Now(), Note: "setup"})
	}
	return l
}

func (l *load) failf(format string, args ...any) {
	l.failed.Add(1)
	if l.logged.Add(1) <= 20 {
		l.t.Errorf(format, args...)
	}
}

// get fetches a page from in with client, in French if lang is "fr".
func (l *load) get(ctx context.Context, client *http.Client, in *instance, path, lang string) (status int, cacheStatus, body string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.url+path, nil)
	if err != nil {
		return 0, "", "", err
	}
	req.Host = host
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Cache-Status"), string(b), err
}

// read fetches a page and records a read of each flavor it shows. It returns the versions
// seen, nil if the request failed.
func (l *load) read(ctx context.Context, in *instance, page int, lang string) map[string]int64 {
	return l.readAs(ctx, l.s.client, "", in, page, lang)
}

// readAs is read by the named client (empty: anonymous).
func (l *load) readAs(ctx context.Context, client *http.Client, who string, in *instance, page int, lang string) map[string]int64 {
	p := pages[page]
	what := fmt.Sprintf("GET %s %q on %s", p.path, lang, in.name)
	start := l.h.Now()
	status, cs, body, err := l.get(ctx, client, in, p.path, lang)
	end := l.h.Now()
	switch {
	case ctx.Err() != nil:
		return nil // the run is over
	case err != nil:
		l.failf("%s: %v", what, err)
		return nil
	case status >= 500:
		l.serverErrors.Add(1)
		l.failf("%s: status %d (Cache-Status %q): %.200s", what, status, cs, body)
		return nil
	case status != http.StatusOK:
		l.failf("%s: status %d, want 200", what, status)
		return nil
	}
	l.reads.Add(1)
	if strings.Contains(cs, "hit") {
		l.hits.Add(1)
	}
	if varnishHit(cs) {
		l.edgeHits.Add(1)
	}
	if strings.Contains(cs, "detail=stale") {
		l.staleHits.Add(1)
	}
	wantLang := "en"
	if lang == "fr" {
		wantLang = "fr"
	}
	if !strings.Contains(body, `<html lang="`+wantLang+`">`) {
		l.failf("%s: page not in %q (Cache-Status %q)", what, wantLang, cs)
	}
	seen := make(map[string]int64)
	for _, m := range versionRE.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.ParseInt(m[2], 10, 64)
		seen[m[1]] = v
	}
	got := make([]string, 0, len(seen))
	for f := range seen {
		got = append(got, f)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(p.shows))
	if !slices.Equal(got, want) {
		l.failf("%s: shows flavors %v, want %v", what, got, want)
	}
	for f, v := range seen {
		l.h.AddRead(staleness.Read{Entity: f, Version: v, Start: start, End: end, Via: in.name, Client: who, What: what})
	}
	return seen
}

// apiWrite renames flavor to its version v through in's API (GORM and the gormdumper plugin),
// with client.
func (l *load) apiWrite(ctx context.Context, client *http.Client, in *instance, flavor string, v int64) error {
	body := fmt.Sprintf(`{"name":"%s v%d"}`, flavor, v)
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, in.url+"/api/icecream/"+flavor, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("PATCH /api/icecream/%s on %s: status %d: %s", flavor, in.name, res.StatusCode, b)
	}
	return nil
}

// write renames a flavor to its next version, through an instance's API or, if raw, with
// raw SQL that only the NOTIFY listener sees. With soft invalidation, writer who writes
// through its own client and then reads the flavor's page with it, as the writing client.
func (l *load) write(ctx context.Context, rng *rand.Rand, raw bool, who int) {
	f := flavors[rng.IntN(len(flavors))]
	in := l.s.instances[rng.IntN(len(l.s.instances))]
	st := l.state[f]
	st.mu.Lock()
	defer st.mu.Unlock()
	v := st.version + 1
	// The write is not cut short when the run ends: its outcome must be known.
	ctx = context.WithoutCancel(ctx)
	w := staleness.Write{Entity: f, Version: v, Start: l.h.Now()}
	var err error
	if raw {
		_, err = l.s.raw.Exec(ctx, "UPDATE ice_creams SET name = $1 WHERE slug = $2", fmt.Sprintf("%s v%d", f, v), f)
		w.Bound, w.Note = l.s.rawBound, "sql"
	} else {
		client := l.s.client
		if l.s.softBound > 0 {
			client = l.writers[who]
			w.Client = fmt.Sprintf("writer-%d", who)
		}
		err = l.apiWrite(ctx, client, in, f, v)
		w.Bound, w.Via, w.Note = l.s.appBound, in.name, "api"
		if len(l.s.edges) > 0 {
			w.Via = "" // the edge's purge follows the write: every read gets the allowance
		}
		if l.s.softBound > 0 {
			// Soft invalidation serves other clients stale through every instance, the
			// writer's own included; never the writing client.
			w.Bound, w.Via = max(l.s.appBound, l.s.softBound), ""
		}
	}
	w.End = l.h.Now()
	if err != nil {
		// Whether the row changed is unknown: stop writing, so that the history stays
		// judgeable.
		l.stopWrites.Store(true)
		l.failf("write %s v%d (%s): %v", f, v, w.Note, err)
		return
	}
	st.version = v
	l.writes.Add(1)
	l.h.AddWrite(w)
	if w.Client != "" {
		// Read your writes: the writer's next request sees its write, on any instance.
		page := slices.IndexFunc(pages, func(p struct {
			path  string
			shows []string
		}) bool {
			return p.path == "/icecream/"+f
		})
		l.readAs(ctx, l.writers[who], w.Client, l.s.instances[rng.IntN(len(l.s.instances))], page, langs[rng.IntN(len(langs))])
	}
}

// writeMixed renames two flavors in one GORM transaction through an instance's database:
// one through GORM (the plugin invalidates it, after commit too), the other with raw SQL
// (only its notification invalidates it). The listener must leave out the first, which the
// plugin covered, and never the second.
func (l *load) writeMixed(ctx context.Context, rng *rand.Rand) {
	i := rng.IntN(len(flavors))
	j := (i + 1 + rng.IntN(len(flavors)-1)) % len(flavors)
	viaGORM, viaSQL := flavors[i], flavors[j]
	in := l.s.instances[rng.IntN(len(l.s.instances))]
	first, second := l.state[viaGORM], l.state[viaSQL]
	if i > j { // lock in a fixed order
		first, second = second, first
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	second.mu.Lock()
	defer second.mu.Unlock()
	gv, sv := l.state[viaGORM].version+1, l.state[viaSQL].version+1
	ctx = context.WithoutCancel(ctx)
	start := l.h.Now()
	err := in.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var f icecream.IceCream
		if err := tx.Where("slug = ?", viaGORM).First(&f).Error; err != nil {
			return err
		}
		if err := tx.Model(&f).Omit(clause.Associations).Update("name", fmt.Sprintf("%s v%d", viaGORM, gv)).Error; err != nil {
			return err
		}
		return tx.Exec("UPDATE ice_creams SET name = ? WHERE slug = ?", fmt.Sprintf("%s v%d", viaSQL, sv), viaSQL).Error
	})
	end := l.h.Now()
	if err != nil {
		l.stopWrites.Store(true)
		l.failf("mixed write %s v%d and %s v%d: %v", viaGORM, gv, viaSQL, sv, err)
		return
	}
	l.state[viaGORM].version, l.state[viaSQL].version = gv, sv
	l.writes.Add(2)
	l.mixed.Add(1)
	l.h.AddWrite(staleness.Write{Entity: viaGORM, Version: gv, Start: start, End: end, Bound: l.s.appBound, Via: in.name, Note: "tx-gorm"})
	l.h.AddWrite(staleness.Write{Entity: viaSQL, Version: sv, Start: start, End: end, Bound: l.s.rawBound, Note: "tx-sql"})
}

// run drives readers and writers until ctx is done. Writers wait pace between writes; with
// a raw pool, a third of their writes are raw SQL, and a third are mixed (writeMixed).
func (l *load) run(ctx context.Context, readers, writers int, pace time.Duration) {
	var wg sync.WaitGroup
	for i := range readers {
		rng := rand.New(rand.NewPCG(l.seed, uint64(i)))
		wg.Go(func() {
			for ctx.Err() == nil {
				in := l.s.instances[rng.IntN(len(l.s.instances))]
				l.read(ctx, in, rng.IntN(len(pages)), langs[rng.IntN(len(langs))])
			}
		})
	}
	if l.s.softBound > 0 {
		for range writers {
			jar, err := cookiejar.New(nil)
			if err != nil {
				l.t.Fatal(err)
			}
			c := *l.s.client
			c.Jar = jar
			l.writers = append(l.writers, &c)
		}
	}
	for i := range writers {
		rng := rand.New(rand.NewPCG(l.seed, uint64(1000+i)))
		wg.Go(func() {
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if l.stopWrites.Load() {
					return
				}
				switch kind := rng.IntN(3); {
				case l.s.raw == nil || kind == 0:
					l.write(ctx, rng, false, i)
				case kind == 1:
					l.write(ctx, rng, true, i)
				default:
					l.writeMixed(ctx, rng)
				}
			}
		})
	}
	wg.Wait()
}

// settle waits until every page on every instance shows the last version of each flavor
// (nothing lost), recording those reads too, then judges the whole history. It fails the
// test on any violation and returns the report.
func (l *load) settle(within time.Duration) staleness.Report {
	l.t.Helper()
	ctx := context.WithoutCancel(l.t.Context())
	settled := wait.Until(within, func() bool {
		fresh := true
		for _, in := range l.s.instances {
			for i := range pages {
				for _, lang := range langs {
					seen := l.read(ctx, in, i, lang)
					fresh = fresh && seen != nil
					for f, v := range seen {
						fresh = fresh && v == l.state[f].version
					}
				}
			}
		}
		return fresh
	})
	if !settled {
		l.t.Errorf("pages still do not show the last writes %v after the load stopped", within)
	}
	writes, reads := l.h.Ops()
	rep, err := staleness.Check(writes, reads)
	if err != nil {
		l.t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		l.t.Errorf("stale reads: %v", rep)
	}
	return rep
}
