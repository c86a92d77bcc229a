package edge

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/wait"
)

// fakeAPI is a local stand-in for a CDN's purge API: it checks each request as the API's
// documentation says (method, path, authentication, body shape, limits), enforces the
// API's documented rate limits with token buckets of its own, answers as the API does, and
// records the keys purged. It can be down (503) or made to answer 429 to the next requests.
type fakeAPI struct {
	t *testing.T
	// check reads one request and returns the keys it purges, or a status and message
	// with which the API refuses it.
	check  func(r *http.Request, body []byte) (keys []string, status int, msg string)
	answer string // the body of a success
	code   int    // the status of a success; 0: 200

	// The API's rate limits: a request needs a token of reqs and one of keys per key
	// it purges, or it is answered 429 and spends nothing (as Akamai documents).
	reqLimit, keyLimit Limit
	// retryAfter says whether a 429 of the buckets carries Retry-After (Akamai's does not).
	retryAfter bool

	mu         sync.Mutex
	reqs, keys bucket
	purged     []string
	times      map[string]int // how many times each key was purged
	requests   int
	down       bool
	limited    int // the next requests answered 429, with Retry-After: 1
	limitedAt  time.Time
	afterLimit time.Duration // from the last 429 to the request after it
	refusals   int
	throttled  int // requests answered 429 by the buckets
	url        string
}

func newFakeAPI(t *testing.T, answer string, check func(*http.Request, []byte) ([]string, int, string)) *fakeAPI {
	return &fakeAPI{t: t, check: check, answer: answer, retryAfter: true}
}

// start serves the API on a loopback server of the test's and returns its URL.
func (f *fakeAPI) start() string {
	if f.url == "" {
		srv := httptest.NewServer(f)
		f.t.Cleanup(srv.Close)
		f.url = srv.URL
	}
	return f.url
}

// inProcess returns a client that sends its requests to the API within the process, on the
// goroutine of the call (in a synctest bubble, on the bubble's clock), and the API's URL.
func (f *fakeAPI) inProcess() (*http.Client, string) {
	return &http.Client{Transport: handlerTransport{f}}, "http://api.test"
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.Host == "" {
		r.Host = r.URL.Host
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if !f.limitedAt.IsZero() {
		f.afterLimit = time.Since(f.limitedAt)
		f.limitedAt = time.Time{}
	}
	switch {
	case f.down:
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	case f.limited > 0:
		f.limited--
		f.limitedAt = time.Now()
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"success":false,"errors":[{"code":971,"message":"rate limited"}]}`, http.StatusTooManyRequests)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		f.refusals++
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	keys, status, msg := f.check(r, body)
	if status != 0 {
		f.refusals++
		http.Error(w, msg, status)
		return
	}
	f.reqs.l, f.keys.l = f.reqLimit, f.keyLimit
	now := time.Now()
	if d := max(f.reqs.wait(now, 1), f.keys.wait(now, len(keys))); d > 0 || f.keyLimit.Burst > 0 && len(keys) > f.keyLimit.Burst {
		f.throttled++
		if f.retryAfter {
			w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
		}
		http.Error(w, `{"title":"Rate Limit exceeded","httpStatus":429}`, http.StatusTooManyRequests)
		return
	}
	f.reqs.take(now, 1)
	f.keys.take(now, len(keys))
	f.purged = append(f.purged, keys...)
	if f.times == nil {
		f.times = map[string]int{}
	}
	for _, k := range keys {
		f.times[k]++
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(cmpOr(f.code, http.StatusOK))
	io.WriteString(w, f.answer)
}

func (f *fakeAPI) set(fn func(f *fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// has reports whether every key was purged at least n times.
func (f *fakeAPI) has(keys []string, n int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		if f.times[k] < n {
			return false
		}
	}
	return true
}

// strictJSON decodes body into v, refusing unknown fields and trailing data.
func strictJSON(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func fastlyAPI(t *testing.T) *fakeAPI {
	return newFakeAPI(t, `{}`, func(r *http.Request, body []byte) ([]string, int, string) {
		if r.Method != http.MethodPost || r.URL.Path != "/service/SVC/purge" {
			return nil, http.StatusNotFound, "no such route " + r.Method + " " + r.URL.Path
		}
		if r.Header.Get("Fastly-Key") != "TOKEN" {
			return nil, http.StatusUnauthorized, `{"msg":"Provided credentials are missing or invalid"}`
		}
		var req struct {
			SurrogateKeys []string `json:"surrogate_keys"`
		}
		if err := strictJSON(body, &req); err != nil || len(req.SurrogateKeys) == 0 {
			return nil, http.StatusBadRequest, "bad body"
		}
		if len(req.SurrogateKeys) > 256 {
			return nil, http.StatusBadRequest, "more than 256 keys"
		}
		for _, k := range req.SurrogateKeys {
			if len(k) > 1024 || strings.ContainsAny(k, " ") {
				return nil, http.StatusBadRequest, "bad key"
			}
		}
		return req.SurrogateKeys, 0, ""
	})
}

func cloudflareAPI(t *testing.T) *fakeAPI {
	f := newFakeAPI(t, `{"success":true,"errors":[],"messages":[],"result":{"id":"abc"}}`, func(r *http.Request, body []byte) ([]string, int, string) {
		if r.Method != http.MethodPost || r.URL.Path != "/client/v4/zones/ZONE/purge_cache" {
			return nil, http.StatusNotFound, "no such route"
		}
		if r.Header.Get("Authorization") != "Bearer TOKEN" {
			return nil, http.StatusForbidden, `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}`
		}
		var req struct {
			Tags []string `json:"tags"`
		}
		if err := strictJSON(body, &req); err != nil || len(req.Tags) == 0 {
			return nil, http.StatusBadRequest, `{"success":false}`
		}
		if len(req.Tags) > 100 {
			return nil, http.StatusBadRequest, `{"success":false,"errors":[{"code":1068,"message":"more than 100 tags"}]}`
		}
		for _, k := range req.Tags {
			if k == "" || len(k) > 1024 || strings.ContainsAny(k, " ,") {
				return nil, http.StatusBadRequest, `{"success":false}`
			}
		}
		return req.Tags, 0, ""
	})
	f.reqLimit = Limit{Burst: 25, Every: 12 * time.Second} // the Free plan's
	return f
}

func bunnyAPI(t *testing.T) *fakeAPI {
	f := newFakeAPI(t, ``, func(r *http.Request, body []byte) ([]string, int, string) {
		if r.Method != http.MethodPost || r.URL.Path != "/pullzone/42/purgeCache" {
			return nil, http.StatusNotFound, "no such route"
		}
		if r.Header.Get("AccessKey") != "KEY" {
			return nil, http.StatusUnauthorized, "unauthorized"
		}
		var req struct {
			CacheTag string `json:"CacheTag"`
		}
		if err := strictJSON(body, &req); err != nil || req.CacheTag == "" {
			return nil, http.StatusBadRequest, "bad body"
		}
		return []string{req.CacheTag}, 0, ""
	})
	f.reqLimit = Limit{Burst: 120, Every: 200 * time.Millisecond}
	return f
}

// akamaiAPI checks EdgeGrid signatures as Akamai's documentation describes them, with its
// own code: the signing key is the HMAC-SHA256 of the timestamp under the client secret.
func akamaiAPI(t *testing.T) *fakeAPI {
	f := newFakeAPI(t, `{"httpStatus":201,"detail":"Request accepted","estimatedSeconds":5,"purgeId":"p","supportId":"s"}`, func(r *http.Request, body []byte) ([]string, int, string) {
		if r.Method != http.MethodPost || r.URL.Path != "/ccu/v3/invalidate/tag/production" {
			return nil, http.StatusNotFound, "no such route"
		}
		if len(body) > 50_000 {
			return nil, http.StatusRequestEntityTooLarge, "body over 50,000 bytes"
		}
		auth := r.Header.Get("Authorization")
		fields := map[string]string{}
		for _, p := range strings.Split(strings.TrimPrefix(auth, "EG1-HMAC-SHA256 "), ";") {
			if k, v, ok := strings.Cut(p, "="); ok {
				fields[k] = v
			}
		}
		if !strings.HasPrefix(auth, "EG1-HMAC-SHA256 ") || fields["client_token"] != "CT" || fields["access_token"] != "AT" || fields["nonce"] == "" {
			return nil, http.StatusUnauthorized, "bad Authorization"
		}
		ts, err := time.Parse("20060102T15:04:05-0700", fields["timestamp"])
		if err != nil || time.Since(ts).Abs() > time.Minute {
			return nil, http.StatusUnauthorized, "bad timestamp"
		}
		mac := func(key []byte, s string) string {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(s))
			return base64.StdEncoding.EncodeToString(m.Sum(nil))
		}
		sum := sha256.Sum256(body)
		signed := auth[:strings.Index(auth, "signature=")]
		data := strings.Join([]string{"POST", "http", r.Host, r.URL.RequestURI(), "", base64.StdEncoding.EncodeToString(sum[:]), signed}, "\t")
		if fields["signature"] != mac([]byte(mac([]byte("SECRET"), fields["timestamp"])), data) {
			return nil, http.StatusUnauthorized, "signature mismatch"
		}
		var req struct {
			Objects []string `json:"objects"`
		}
		if err := strictJSON(body, &req); err != nil || len(req.Objects) == 0 {
			return nil, http.StatusBadRequest, "bad body"
		}
		for _, k := range req.Objects {
			if len(k) > 128 || strings.IndexFunc(k, func(c rune) bool {
				return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("!#$%&'+./^_`|~-", c))
			}) >= 0 {
				return nil, http.StatusBadRequest, "bad tag " + k
			}
		}
		return req.Objects, 0, ""
	})
	f.code = http.StatusCreated
	f.reqLimit = Limit{Burst: 100, Every: 20 * time.Millisecond}
	f.keyLimit = Limit{Burst: 5000, Every: 120 * time.Millisecond}
	f.retryAfter = false
	return f
}

func manyTags(n int) []string {
	var tags []string
	for i := range n {
		tags = append(tags, fmt.Sprintf("row:ice_creams:id=%d", i))
	}
	return tags
}

func testEdge(t *testing.T, o Options) *Edge {
	t.Helper()
	o.MinBackoff = cmpOr(o.MinBackoff, time.Millisecond)
	o.MaxBackoff = cmpOr(o.MaxBackoff, 20*time.Millisecond)
	o.Delay = cmpOr(o.Delay, -1)
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestPurgeAPIs(t *testing.T) {
	tests := []struct {
		name   string
		d      Dialect
		api    func(*testing.T) *fakeAPI
		purger func(url string) Purger
		tags   int
	}{
		{"fastly", Fastly, fastlyAPI, func(u string) Purger { return FastlyPurger{ServiceID: "SVC", Token: "TOKEN", BaseURL: u} }, 600},
		{"cloudflare", Cloudflare, cloudflareAPI, func(u string) Purger { return CloudflarePurger{ZoneID: "ZONE", Token: "TOKEN", BaseURL: u} }, 100},
		{"akamai", Akamai, akamaiAPI, func(u string) Purger {
			return AkamaiPurger{Host: u, ClientToken: "CT", ClientSecret: "SECRET", AccessToken: "AT"}
		}, 1200},
		{"bunny", Bunny, bunnyAPI, func(u string) Purger { return BunnyPurger{PullZoneID: "42", AccessKey: "KEY", BaseURL: u} }, 5},
		{"akamai bodies over 50,000 bytes split", Akamai, akamaiAPI, func(u string) Purger {
			return AkamaiPurger{Host: u, ClientToken: "CT", ClientSecret: "SECRET", AccessToken: "AT"}
		}, -1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := tt.api(t)
			e := testEdge(t, Options{Dialect: tt.d, Purger: tt.purger(api.start())})
			tags := manyTags(tt.tags)
			if tt.tags < 0 { // long tags: 120 characters each
				tags = nil
				for i := range -tt.tags {
					tags = append(tags, fmt.Sprintf("/%0119d", i))
				}
			}
			e.Purge(tags...)
			keys := tt.d.Keys(tags)
			wait.For(t, 10*time.Second, "every key purged", func() bool { return api.has(keys, 1) && e.Stats().Sent == uint64(len(keys)) })
			if api.refusals != 0 {
				t.Fatalf("the API refused %d requests", api.refusals)
			}
			if s := e.Stats(); s.Failures != 0 || s.GivenUp != 0 || s.Sent != uint64(len(keys)) {
				t.Fatalf("Stats %+v, want %d keys sent and no failure", s, len(keys))
			}
		})
	}
}

func TestPurgeAPIRefusesBadCredentials(t *testing.T) {
	api := fastlyAPI(t)
	e := testEdge(t, Options{Dialect: Fastly, Purger: FastlyPurger{ServiceID: "SVC", Token: "WRONG", BaseURL: api.start()}})
	e.Purge("/a")
	wait.For(t, 10*time.Second, "failures", func() bool { return e.Stats().Failures >= 3 })
	if s := e.Stats(); s.Queued == 0 || s.GivenUp != 0 {
		t.Fatalf("Stats %+v: a 401 is retried (the credentials may be fixed), the key kept", s)
	}
}

// TestPurgeRateLimited: a 429 is retried, after its Retry-After and not before (on the
// bubble's clock: no real wait).
func TestPurgeRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := cloudflareAPI(t)
		api.set(func(f *fakeAPI) { f.limited = 1 })
		client, url := api.inProcess()
		e := testEdge(t, Options{Dialect: Cloudflare, Purger: CloudflarePurger{ZoneID: "ZONE", Token: "TOKEN", BaseURL: url, Client: client}})
		e.Purge("/a", "/b")
		for !api.has([]string{"/a", "/b"}, 1) {
			time.Sleep(10 * time.Millisecond)
		}
		api.set(func(f *fakeAPI) {
			if f.afterLimit < time.Second {
				t.Errorf("retried %v after a 429 with Retry-After: 1", f.afterLimit)
			}
		})
	})
}

// TestPurgePacedUnderLimits: with its default limits, each Purger keeps under the rate
// limits its API documents, which the stand-ins enforce with token buckets: a flood of
// invalidations gets no 429, every key is purged, and not much slower than the limits
// allow (within a half: batches sent while the flood is queued go out part full). Without the pacing the same flood is refused, which shows that the
// stand-ins enforce the limits. On the bubble's clock: minutes of pacing, no real wait.
func TestPurgePacedUnderLimits(t *testing.T) {
	tests := []struct {
		name    string
		d       Dialect
		api     func(*testing.T) *fakeAPI
		purger  func(url string, c *http.Client) Purger
		tags    int
		minimum time.Duration // the least time the API's limits allow for them
	}{
		// 4,001 keys (the tags and their table's scan tag), 41 requests of 100: 25 at once,
		// then one every 12 s.
		{"cloudflare free plan", Cloudflare, cloudflareAPI, func(u string, c *http.Client) Purger {
			return CloudflarePurger{ZoneID: "ZONE", Token: "TOKEN", BaseURL: u, Client: c}
		}, 4000, 16 * 12 * time.Second},
		// 20,001 keys: 5,000 at once, then 500 a minute.
		{"akamai", Akamai, akamaiAPI, func(u string, c *http.Client) Purger {
			return AkamaiPurger{Host: u, ClientToken: "CT", ClientSecret: "SECRET", AccessToken: "AT", Client: c}
		}, 20000, 30 * time.Minute},
		// 601 keys, one a request: 120 at once, then 5 a second.
		{"bunny", Bunny, bunnyAPI, func(u string, c *http.Client) Purger {
			return BunnyPurger{PullZoneID: "42", AccessKey: "KEY", BaseURL: u, Client: c}
		}, 600, 96 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				api := tt.api(t)
				client, url := api.inProcess()
				e := testEdge(t, Options{Dialect: tt.d, Purger: tt.purger(url, client)})
				tags := manyTags(tt.tags)
				keys := tt.d.Keys(tags)
				start := time.Now()
				for i := 0; i < len(tags); i += 50 { // invalidations of 50 rows each
					e.Purge(tags[i:min(i+50, len(tags))]...)
				}
				// Until every key was purged: Stats.Sent counts a key each time it is sent,
				// and the table's scan tag, in every invalidation, is sent more than once.
				for !api.has(keys, 1) {
					time.Sleep(time.Second)
				}
				took := time.Since(start)
				api.mu.Lock()
				throttled, refusals := api.throttled, api.refusals
				api.mu.Unlock()
				if throttled != 0 || refusals != 0 || !api.has(keys, 1) {
					t.Fatalf("%d requests answered 429, %d refused; want every key purged with none", throttled, refusals)
				}
				// The queue sends while the flood is still being queued, so some batches go
				// out part full and take a request of the limit each: slower than the least
				// the limits allow, by a few requests' worth.
				if took < tt.minimum || took > tt.minimum+tt.minimum/2 {
					t.Errorf("%d keys purged in %v; the limits allow them in %v at best", len(keys), took, tt.minimum)
				}
				t.Logf("%d keys in %d requests, %v of the bubble's clock, %d answered 429", len(keys), e.Stats().Requests, took, throttled)
			})
		})
		t.Run(tt.name+" unpaced", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				api := tt.api(t)
				client, url := api.inProcess()
				e := testEdge(t, Options{Dialect: tt.d, Purger: unlimited{tt.purger(url, client)}, GiveUp: time.Hour})
				tags := manyTags(tt.tags)
				n := uint64(len(tt.d.Keys(tags)))
				for i := 0; i < len(tags); i += 50 {
					e.Purge(tags[i:min(i+50, len(tags))]...)
				}
				for e.Stats().Sent < n {
					time.Sleep(time.Second)
				}
				api.mu.Lock()
				defer api.mu.Unlock()
				if api.throttled == 0 {
					t.Fatal("no 429 without pacing: the stand-in does not enforce the limits")
				}
				t.Logf("unpaced: %d requests answered 429", api.throttled)
			})
		})
	}
}

// unlimited hides a Purger's limits from the queue.
type unlimited struct{ Purger }

// TestPurgesSurviveOutage: purges made while the edge is down are all sent once it is back.
func TestPurgesSurviveOutage(t *testing.T) {
	api := fastlyAPI(t)
	api.set(func(f *fakeAPI) { f.down = true })
	e := testEdge(t, Options{Dialect: Fastly, Purger: FastlyPurger{ServiceID: "SVC", Token: "TOKEN", BaseURL: api.start()}})
	var keys []string
	for i := range 50 {
		tags := manyTags(20)[i%20:]
		e.Purge(tags...)
		keys = append(keys, Fastly.Keys(tags)...)
	}
	wait.For(t, 10*time.Second, "failed attempts", func() bool { return e.Stats().Failures >= 5 })
	if e.Stats().Queued == 0 {
		t.Fatal("nothing queued while the edge is down")
	}
	api.set(func(f *fakeAPI) { f.down = false })
	wait.For(t, 10*time.Second, "every purge sent after the outage", func() bool { return api.has(keys, 1) && e.Stats().Queued == 0 })
	if s := e.Stats(); s.GivenUp != 0 || s.Overflows != 0 || s.Queued != 0 {
		t.Fatalf("Stats %+v: want nothing given up, nothing left", s)
	}
}

// TestPurgeQueueOverflow: past MaxQueued the queue is replaced by a purge of everything.
func TestPurgeQueueOverflow(t *testing.T) {
	api := fastlyAPI(t)
	api.set(func(f *fakeAPI) { f.down = true })
	var logs bytes.Buffer
	e := testEdge(t, Options{Dialect: Fastly, MaxQueued: 100, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Purger: FastlyPurger{ServiceID: "SVC", Token: "TOKEN", BaseURL: api.start()}})
	e.Purge(manyTags(60)...)
	if s := e.Stats(); s.Overflows != 0 || s.Queued != 61 {
		t.Fatalf("Stats %+v: want 61 keys queued", s)
	}
	e.Purge("/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h", "/i", "/j", "/k", "/l", "/m", "/n", "/o", "/p", "/q", "/r", "/s", "/t",
		"/u", "/v", "/w", "/x", "/y", "/z", "/0", "/1", "/2", "/3", "/4", "/5", "/6", "/7", "/8", "/9", "/aa", "/ab", "/ac", "/ad")
	// One key queued, dumper-all, and maybe the batch in flight, which is not queued again.
	wait.For(t, 10*time.Second, "the queue replaced", func() bool { s := e.Stats(); return s.Overflows == 1 && s.Queued == 1 })
	api.set(func(f *fakeAPI) { f.down = false })
	wait.For(t, 10*time.Second, "the purge of everything", func() bool { return api.has([]string{AllTag}, 1) && e.Stats().Queued == 0 })
	if !strings.Contains(logs.String(), "purge queue full") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
}

// TestPurgeGivesUp: an edge failing for longer than GiveUp loses its pending purges,
// counted and logged.
func TestPurgeGivesUp(t *testing.T) {
	api := fastlyAPI(t)
	api.set(func(f *fakeAPI) { f.down = true })
	var mu sync.Mutex
	var logs bytes.Buffer
	e := testEdge(t, Options{Dialect: Fastly, GiveUp: 30 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil)),
		Purger: FastlyPurger{ServiceID: "SVC", Token: "TOKEN", BaseURL: api.start()}})
	e.Purge("/a", "/b")
	wait.For(t, 10*time.Second, "the purges given up", func() bool { return e.Stats().GivenUp == 2 })
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "purges given up") {
		t.Fatalf("nothing logged: %s", logs.String())
	}
}

// TestPurgeAfterClose: a purge asked for after Close is not sent, but counted and logged.
func TestPurgeAfterClose(t *testing.T) {
	api := fastlyAPI(t)
	var logs bytes.Buffer
	e, err := New(Options{Dialect: Fastly, Delay: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Purger: FastlyPurger{ServiceID: "SVC", Token: "TOKEN", BaseURL: api.start()}})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	e.Purge("/a", "/b")
	if s := e.Stats(); s.Late != 2 || s.Requests != 0 {
		t.Fatalf("Stats %+v: want 2 keys counted late, no request", s)
	}
	if !strings.Contains(logs.String(), "purge after Close dropped") {
		t.Fatalf("nothing logged: %s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestPurgePermanentError: a request the API refuses as malformed is not retried forever.
func TestPurgePermanentError(t *testing.T) {
	api := newFakeAPI(t, `{}`, func(*http.Request, []byte) ([]string, int, string) { return nil, http.StatusBadRequest, "no" })
	e := testEdge(t, Options{Dialect: Fastly, Purger: FastlyPurger{ServiceID: "SVC", Token: "TOKEN", BaseURL: api.start()}})
	e.Purge("/a")
	wait.For(t, 10*time.Second, "the purge dropped", func() bool { return e.Stats().GivenUp == 1 })
	if s := e.Stats(); s.Failures != 1 || s.Queued != 0 {
		t.Fatalf("Stats %+v: want one failure, nothing queued", s)
	}
}

// TestSecondPurge: every invalidation is purged twice, the second time Delay later.
func TestSecondPurge(t *testing.T) {
	api := fastlyAPI(t)
	e := testEdge(t, Options{Dialect: Fastly, Delay: 50 * time.Millisecond,
		Purger: FastlyPurger{ServiceID: "SVC", Token: "TOKEN", BaseURL: api.start()}})
	start := time.Now()
	e.Purge("/a")
	wait.For(t, 10*time.Second, "the first purge", func() bool { return api.has([]string{"/a"}, 1) })
	wait.For(t, 10*time.Second, "the second purge", func() bool { return api.has([]string{"/a"}, 2) && e.Stats().Requests == 2 })
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("second purge %v after the first call, before the 50ms delay", d)
	}
	if s := e.Stats(); s.Second != 1 || s.Requests != 2 {
		t.Fatalf("Stats %+v, want 2 requests, one of them the second purge", s)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"3", 3 * time.Second}, {"-1", 0}, {"soon", 0},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(http.Header{"Retry-After": {tt.v}}); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := retryAfter(http.Header{"Retry-After": {future}}); got < 59*time.Minute || got > maxRetryAfter {
		t.Errorf("retryAfter(an hour from now) = %v", got)
	}
	if got := retryAfter(http.Header{"Retry-After": {"9227000000"}}); got != maxRetryAfter {
		t.Errorf("retryAfter(9227000000) = %v, want the cap %v", got, maxRetryAfter)
	}
}

func TestKeysSorted(t *testing.T) {
	k := Fastly.Keys([]string{"b", "a", "b"})
	if !slices.Equal(k, []string{"a", "b"}) {
		t.Fatalf("Keys = %q", k)
	}
}

// TestPurgeWait: with Wait, Purge returns once the edge has acknowledged the first purge of
// its keys, or after Wait when it does not.
func TestPurgeWait(t *testing.T) {
	api := fastlyAPI(t)
	e := testEdge(t, Options{Dialect: Fastly, Wait: time.Minute, Delay: time.Hour,
		Purger: FastlyPurger{ServiceID: "SVC", Token: "TOKEN", BaseURL: api.start()}})
	for i := range 20 {
		tags := manyTags(300)[i:]
		e.Purge(tags...)
		if !api.has(Fastly.Keys(tags), 1) {
			t.Fatalf("Purge %d returned before the edge had every key", i)
		}
	}
	api.set(func(f *fakeAPI) { f.down = true })
	e2 := testEdge(t, Options{Dialect: Fastly, Wait: 20 * time.Millisecond,
		Purger: FastlyPurger{ServiceID: "SVC", Token: "TOKEN", BaseURL: api.start()}})
	e2.Purge("/down")
	if s := e2.Stats(); s.Queued == 0 {
		t.Fatalf("Stats %+v: the purge should still be queued after Wait", s)
	}
}

// TestObserverPurges: the observer purges an invalidation's tags, and everything the edge
// stored for InvalidateAll.
func TestObserverPurges(t *testing.T) {
	api := fastlyAPI(t)
	e := testEdge(t, Options{Dialect: Fastly, Purger: FastlyPurger{ServiceID: "SVC", Token: "TOKEN", BaseURL: api.start()}})
	c, err := dumper.New(dumper.Options{Policy: dumper.Policy{Edge: e}, Observers: []dumper.Observer{e.Observer()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.InvalidatePaths(t.Context(), "/icecream/vanilla"); err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidateTags(t.Context(), dumper.RowTag("ice_creams", "slug", "vanilla")); err != nil {
		t.Fatal(err)
	}
	want := []string{"/icecream/vanilla", "row:ice_creams:slug=vanilla", "scan:ice_creams"}
	wait.For(t, 10*time.Second, "the invalidations purged", func() bool { return api.has(want, 1) })
	if err := c.InvalidateAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "everything purged", func() bool { return api.has([]string{AllTag}, 1) })
}

// TestVarnishPurgerSplitsLines: no Xkey-Purge line passes 7,000 bytes, and every key is sent
// to every server.
func TestVarnishPurgerSplitsLines(t *testing.T) {
	var mu sync.Mutex
	got := map[string]map[string]bool{}
	var longest int
	servers := make([]string, 2)
	for i := range servers {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			line := r.Header.Get("Xkey-Purge")
			if r.Method != "PURGE" || line == "" {
				http.Error(w, "bad purge", http.StatusBadRequest)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			longest = max(longest, len(line))
			if got[r.Host] == nil {
				got[r.Host] = map[string]bool{}
			}
			for _, k := range strings.Fields(line) {
				got[r.Host][k] = true
			}
		}))
		t.Cleanup(srv.Close)
		servers[i] = srv.URL
	}
	var keys []string
	for i := range 256 {
		keys = append(keys, fmt.Sprintf("/%0100d", i))
	}
	if err := (VarnishPurger{URLs: servers}).Purge(t.Context(), keys); err != nil {
		t.Fatal(err)
	}
	if longest > maxPurgeLine {
		t.Fatalf("an Xkey-Purge line of %d bytes, over %d", longest, maxPurgeLine)
	}
	if len(got) != 2 {
		t.Fatalf("purged %d servers, want 2", len(got))
	}
	for host, ks := range got {
		if len(ks) != len(keys) {
			t.Fatalf("%s got %d keys, want %d", host, len(ks), len(keys))
		}
	}
}

// FuzzRetryAfter checks that any Retry-After value gives a wait that is not negative.
func FuzzRetryAfter(f *testing.F) {
	for _, v := range []string{"", "0", "120", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", "1.5"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := retryAfter(http.Header{"Retry-After": {v}}); d < 0 || d > maxRetryAfter {
			t.Fatalf("retryAfter(%q) = %v", v, d)
		}
	})
}
