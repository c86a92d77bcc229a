package purge_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/purge"
)

// plainStore is a store with only the methods of the Store interface: it cannot purge all.
type plainStore struct{ dumper.Store }

// TestRefusals: every request that is not an authorized, well-formed purge within the limits
// is refused with its status, a JSON error and the headers its status calls for, and purges
// nothing.
func TestRefusals(t *testing.T) {
	bearer := []string{"Authorization", "Bearer " + testToken}
	forbid := func(r *http.Request) (string, error) {
		return "", fmt.Errorf("client %q may only read: %w", r.Header.Get("X-Client"), purge.ErrForbidden)
	}
	unknown := func(*http.Request) (string, error) { return "", errors.New("no such client") }
	tests := []struct {
		name       string
		handler    func(h *purge.Handler)
		method     string
		header     []string
		body       string
		chunked    bool // no Content-Length
		wantStatus int
		wantHeader map[string]string
		wantError  string // a part of the error message
	}{
		{name: "no credentials", body: `{"paths":["/a"]}`, wantStatus: 401,
			wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="purge"`}, wantError: "Bearer"},
		{name: "wrong token", header: []string{"Authorization", "Bearer " + strings.Repeat("x", len(testToken))}, body: `{"paths":["/a"]}`, wantStatus: 401,
			wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="purge", error="invalid_token"`}},
		{name: "token prefix", header: []string{"Authorization", "Bearer " + testToken[:len(testToken)-1]}, body: `{"paths":["/a"]}`, wantStatus: 401},
		{name: "token and more", header: []string{"Authorization", "Bearer " + testToken + "0"}, body: `{"paths":["/a"]}`, wantStatus: 401},
		{name: "empty bearer", header: []string{"Authorization", "Bearer "}, body: `{"paths":["/a"]}`, wantStatus: 401,
			wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="purge"`}},
		{name: "other scheme", header: []string{"Authorization", "Basic " + testToken}, body: `{"paths":["/a"]}`, wantStatus: 401},
		{name: "token without scheme", header: []string{"Authorization", testToken}, body: `{"paths":["/a"]}`, wantStatus: 401},
		{name: "two Authorization headers", header: []string{"Authorization", "Bearer " + testToken, "Authorization", "Bearer " + testToken}, body: `{"paths":["/a"]}`, wantStatus: 401},
		{name: "Authorize forbids", handler: func(h *purge.Handler) { h.Authorize = forbid }, header: append([]string{"X-Client", "reader"}, bearer...), body: `{"paths":["/a"]}`, wantStatus: 403, wantError: "forbidden"},
		{name: "Authorize does not know", handler: func(h *purge.Handler) { h.Authorize = unknown }, header: bearer, body: `{"paths":["/a"]}`, wantStatus: 401,
			wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="purge"`}},
		{name: "Authorize replaces Token", handler: func(h *purge.Handler) { h.Authorize = unknown }, header: bearer, body: `{"all":true}`, wantStatus: 401},
		{name: "GET", method: http.MethodGet, header: bearer, wantStatus: 405, wantHeader: map[string]string{"Allow": "POST"}, wantError: "POST"},
		{name: "PURGE method", method: "PURGE", header: bearer, wantStatus: 405, wantHeader: map[string]string{"Allow": "POST"}},
		{name: "DELETE", method: http.MethodDelete, header: bearer, body: `{"paths":["/a"]}`, wantStatus: 405, wantHeader: map[string]string{"Allow": "POST"}},
		{name: "unauthenticated GET", method: http.MethodGet, wantStatus: 401},
		{name: "empty body", header: bearer, body: ``, wantStatus: 400, wantError: "ends before"},
		{name: "not JSON", header: bearer, body: `paths=/a`, wantStatus: 400, wantError: "not valid JSON"},
		{name: "not an object", header: bearer, body: `["/a"]`, wantStatus: 400, wantError: "must be an object"},
		{name: "unknown member", header: bearer, body: `{"paths":["/a"],"path":["/b"]}`, wantStatus: 400, wantError: `unknown member "path"`},
		{name: "member in other case", header: bearer, body: `{"Paths":["/a"]}`, wantStatus: 400, wantError: `unknown member "Paths"`},
		{name: "member twice", header: bearer, body: `{"paths":["/a"],"paths":["/b"]}`, wantStatus: 400, wantError: "twice"},
		{name: "null paths", header: bearer, body: `{"paths":null}`, wantStatus: 400, wantError: "array of strings"},
		{name: "a string for paths", header: bearer, body: `{"paths":"/a"}`, wantStatus: 400, wantError: "array of strings"},
		{name: "a number in tags", header: bearer, body: `{"tags":["t",1]}`, wantStatus: 400, wantError: "must hold strings"},
		{name: "all as a string", header: bearer, body: `{"all":"true"}`, wantStatus: 400, wantError: "true or false"},
		{name: "all with paths", header: bearer, body: `{"all":true,"paths":["/a"]}`, wantStatus: 400, wantError: "without paths"},
		{name: "all with empty tags", header: bearer, body: `{"all":true,"tags":[]}`, wantStatus: 400, wantError: "without paths"},
		{name: "lone surrogate", header: bearer, body: `{"tags":["\ud800"]}`, wantStatus: 400, wantError: "U+FFFD"},
		{name: "replacement character", header: bearer, body: "{\"paths\":[\"/a\uFFFD\"]}", wantStatus: 400, wantError: "U+FFFD"},
		{name: "nothing", header: bearer, body: `{}`, wantStatus: 400, wantError: "nothing to purge"},
		{name: "all false", header: bearer, body: `{"all":false}`, wantStatus: 400, wantError: "nothing to purge"},
		{name: "empty lists", header: bearer, body: `{"paths":[],"tags":[]}`, wantStatus: 400, wantError: "nothing to purge"},
		{name: "data after the object", header: bearer, body: `{"paths":["/a"]} {"all":true}`, wantStatus: 400, wantError: "after"},
		{name: "truncated", header: bearer, body: `{"paths":["/a"`, wantStatus: 400},
		{name: "not UTF-8", header: bearer, body: "{\"paths\":[\"/a\xff\"]}", wantStatus: 400, wantError: "UTF-8"},
		{name: "invalid path, with a valid one", header: bearer, body: `{"paths":["/a","a"]}`, wantStatus: 400, wantError: "must start with /"},
		{name: "URL for a path", header: bearer, body: `{"paths":["https://example.com/a"]}`, wantStatus: 400, wantError: "without scheme"},
		{name: "empty tag, with a valid path", header: bearer, body: `{"paths":["/a"],"tags":[""]}`, wantStatus: 400, wantError: "empty tag"},
		{name: "body over MaxBytes", handler: func(h *purge.Handler) { h.MaxBytes = 20 }, header: bearer, body: `{"paths":["/a","/aaaaaaaaaaaa"]}`, wantStatus: 413, wantError: "larger than 20 bytes"},
		{name: "chunked body over MaxBytes", handler: func(h *purge.Handler) { h.MaxBytes = 20 }, header: bearer, body: `{"paths":["/a","/aaaaaaaaaaaa"]}`, chunked: true, wantStatus: 413},
		{name: "body over the default", header: bearer, body: `{"paths":["/a"],"tags":["` + strings.Repeat("t", purge.DefaultMaxBytes) + `"]}`, wantStatus: 413},
		{name: "items over MaxItems", handler: func(h *purge.Handler) { h.MaxItems = 2 }, header: bearer, body: `{"paths":["/a","/b"],"tags":["c"]}`, wantStatus: 413, wantError: "too many"},
		{name: "items over the default", header: bearer, body: `{"tags":[` + strings.Repeat(`"t",`, purge.DefaultMaxItems) + `"t"]}`, wantStatus: 413},
		{name: "no Cache", handler: func(h *purge.Handler) { h.Cache = nil }, header: bearer, body: `{"paths":["/a"]}`, wantStatus: 500, wantError: "not configured"},
		{name: "neither Token nor Authorize", handler: func(h *purge.Handler) { h.Token = "" }, body: `{"paths":["/a"]}`, wantStatus: 500, wantError: "not configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, nil)
			s.warm(t, "/a", "/b")
			h := &purge.Handler{Cache: s.cache, Token: testToken}
			if tt.handler != nil {
				tt.handler(h)
			}
			method := cmpOr(tt.method, http.MethodPost)
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // no length known: the request has none
			}
			r := httptest.NewRequest(method, "/_dumper/purge", body)
			for i := 0; i+1 < len(tt.header); i += 2 {
				r.Header.Add(tt.header[i], tt.header[i+1])
			}
			if tt.chunked && r.ContentLength != -1 {
				r.ContentLength = -1
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", w.Code, tt.wantStatus, w.Body)
			}
			if msg := errorOf(t, w); !strings.Contains(msg, tt.wantError) {
				t.Errorf("error = %q, want it to contain %q", msg, tt.wantError)
			}
			for name, want := range tt.wantHeader {
				if got := w.Header().Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if _, ok := tt.wantHeader["WWW-Authenticate"]; !ok && tt.wantStatus != 401 {
				if got := w.Header().Get("WWW-Authenticate"); got != "" {
					t.Errorf("WWW-Authenticate = %q on a %d", got, w.Code)
				}
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			for _, target := range []string{"/a", "/b"} {
				if !s.get(t, target) {
					t.Errorf("GET %s after a refused purge: a miss; the refusal purged it", target)
				}
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestPurge: an authorized purge drops what it names, every variant of a path included, and
// nothing else, and says what it invalidated.
func TestPurge(t *testing.T) {
	tests := []struct {
		name            string
		body            string
		gone, kept      []string
		wantInvalidated []string
	}{
		{"a path", `{"paths":["/a"]}`, []string{"/a", "/a?x=1", "http://other.example/a"}, []string{"/b", "/c%25d"}, []string{"/a"}},
		{"a path in raw UTF-8", `{"paths":["/crème"]}`, []string{"/cr%C3%A8me", "/cr%c3%a8me"}, []string{"/a"}, []string{"/cr%C3%A8me"}},
		{"a dot segment", `{"paths":["/x/../a"]}`, []string{"/a", "//a"}, []string{"/b"}, []string{"/a"}},
		{"an ambiguous path: both readings", `{"paths":["/c%25d"]}`, []string{"/c%25d", "/c%2525d"}, []string{"/a"}, []string{"/c%2525d", "/c%25d"}},
		{"a tag", `{"tags":["page:/b"]}`, []string{"/b", "/b?x=2"}, []string{"/a"}, []string{"page:/b"}},
		{"paths and tags", `{"paths":["/a","/a"],"tags":["page:/b"]}`, []string{"/a", "/b"}, []string{"/c%25d"}, []string{"/a", "page:/b"}},
		{"all", `{"all":true}`, []string{"/a", "/b", "/a?x=1", "http://other.example/a", "/c%25d", "/cr%C3%A8me"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, nil)
			s.warm(t, append(slices.Clone(tt.gone), tt.kept...)...)
			h := &purge.Handler{Cache: s.cache, Token: testToken}
			w := post(t, h, tt.body, "Authorization", "bearer  "+testToken)
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %q)", w.Code, w.Body)
			}
			var res purge.Result
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
				t.Fatalf("answer %q: %v", w.Body, err)
			}
			if !slices.Equal(res.Invalidated, tt.wantInvalidated) {
				t.Errorf("invalidated = %q, want %q", res.Invalidated, tt.wantInvalidated)
			}
			for _, target := range tt.gone {
				if s.get(t, target) {
					t.Errorf("GET %s after the purge: a hit", target)
				}
			}
			for _, target := range tt.kept {
				if !s.get(t, target) {
					t.Errorf("GET %s after the purge: a miss, but the purge did not name it", target)
				}
			}
		})
	}
}

// TestPurgeAllUnsupported: with a store that cannot purge everything, {"all":true} gets a
// 501 and drops nothing.
func TestPurgeAllUnsupported(t *testing.T) {
	m, err := dumper.NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c, err := dumper.New(dumper.Options{Store: plainStore{m}})
	if err != nil {
		t.Fatal(err)
	}
	s := newSite(t, c)
	s.warm(t, "/a")
	w := post(t, &purge.Handler{Cache: c, Token: testToken}, `{"all":true}`, "Authorization", "Bearer "+testToken)
	if w.Code != http.StatusNotImplemented {
		t.Fatalf("status = %d, want 501 (body %q)", w.Code, w.Body)
	}
	if msg := errorOf(t, w); !strings.Contains(msg, "InvalidateAll") {
		t.Errorf("error = %q, want it to say the store has no InvalidateAll", msg)
	}
	if !s.get(t, "/a") {
		t.Error("GET /a after a purge the store could not do: a miss")
	}
}

// TestPurgeOverHTTP runs the endpoint in a real server next to the cached site: a page is
// stored, purged with the request an operator's curl sends, and rendered again.
func TestPurgeOverHTTP(t *testing.T) {
	s := newSite(t, nil)
	mux := http.NewServeMux()
	mux.Handle("/_dumper/purge", &purge.Handler{Cache: s.cache, Token: testToken})
	mux.Handle("/", s.pages)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Cache-Status") + " | " + string(b)
	}
	purgeReq := func(body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/_dumper/purge", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	steps := []struct{ path, want string }{
		{"/icecream/vanilla", "dumper; fwd=uri-miss; stored | run 1 of /icecream/vanilla"},
		{"/icecream/vanilla", "dumper; hit | run 1 of /icecream/vanilla"},
	}
	for _, st := range steps {
		if got := get(st.path); got != st.want {
			t.Fatalf("GET %s = %q, want %q", st.path, got, st.want)
		}
	}
	if code, body := purgeReq(`{"paths":["/icecream/vanilla"]}`); code != http.StatusOK || body != `{"paths":["/icecream/vanilla"],"invalidated":["/icecream/vanilla"]}`+"\n" {
		t.Fatalf("purge = %d %q", code, body)
	}
	if got, want := get("/icecream/vanilla"), "dumper; fwd=stale; stored | run 2 of /icecream/vanilla"; got != want {
		t.Fatalf("GET after the purge = %q, want %q", got, want)
	}
	if code, body := purgeReq(`{"all":true}`); code != http.StatusOK || body != `{"all":true}`+"\n" {
		t.Fatalf("purge all = %d %q", code, body)
	}
	if got := get("/icecream/vanilla"); strings.Contains(got, "hit") {
		t.Fatalf("GET after purging all = %q, want a miss", got)
	}
}

// TestLog: each request leaves one record saying who asked from where, what they named and
// what came of it; the token never appears in the log.
func TestLog(t *testing.T) {
	var logs logRecords
	s := newSite(t, nil)
	s.warm(t, "/a")
	h := &purge.Handler{Cache: s.cache, Token: testToken, Logger: slog.New(&logs)}
	bearer := []string{"Authorization", "Bearer " + testToken}

	tests := []struct {
		name   string
		body   string
		header []string
		want   logRecord
	}{
		{"purged", `{"paths":["/a","/c%25d"],"tags":["t"]}`, bearer, logRecord{slog.LevelInfo, "dumper/purge: purged", map[string]string{
			"who": "bearer token", "remote_addr": "192.0.2.1:1234", "paths": "[/a /c%25d]", "tags": "[t]", "all": "false",
			"invalidated": "[/a /c%2525d /c%25d t]",
		}}},
		{"purged all", `{"all":true}`, bearer, logRecord{slog.LevelInfo, "dumper/purge: purged", map[string]string{
			"who": "bearer token", "remote_addr": "192.0.2.1:1234", "paths": "[]", "tags": "[]", "all": "true", "invalidated": "[]",
		}}},
		{"bad token", `{"all":true}`, []string{"Authorization", "Bearer nope"}, logRecord{slog.LevelWarn, "dumper/purge: refused", map[string]string{
			"remote_addr": "192.0.2.1:1234", "status": "401", "reason": "purge: invalid bearer token",
		}}},
		{"bad body", `{"paths":["a"]}`, bearer, logRecord{slog.LevelWarn, "dumper/purge: refused", map[string]string{
			"who": "bearer token", "remote_addr": "192.0.2.1:1234", "paths": "[a]", "tags": "[]", "all": "false",
			"status": "400", "reason": `purge: nothing purged: dumper: invalid path "a": must start with /`,
		}}},
		{"unreadable body", `{"paths":`, bearer, logRecord{slog.LevelWarn, "dumper/purge: refused", map[string]string{
			"who": "bearer token", "remote_addr": "192.0.2.1:1234", "status": "400", "reason": "purge: the body ends before the JSON object does",
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			post(t, h, tt.body, tt.header...)
			got := logs.take()
			if len(got) != 1 {
				t.Fatalf("records = %+v, want one", got)
			}
			if got[0].Level != tt.want.Level || got[0].Msg != tt.want.Msg {
				t.Errorf("record = %v %q, want %v %q", got[0].Level, got[0].Msg, tt.want.Level, tt.want.Msg)
			}
			for k, v := range tt.want.Attrs {
				if got[0].Attrs[k] != v {
					t.Errorf("%s = %q, want %q", k, got[0].Attrs[k], v)
				}
			}
			for k, v := range got[0].Attrs {
				if strings.Contains(v, testToken) {
					t.Errorf("%s = %q: the token is in the log", k, v)
				}
				if _, ok := tt.want.Attrs[k]; !ok {
					t.Errorf("unexpected attribute %s = %q", k, v)
				}
			}
		})
	}
}

// TestAuthorize: a function that keeps several tokens names who purged, in the log.
func TestAuthorize(t *testing.T) {
	var logs logRecords
	s := newSite(t, nil)
	s.warm(t, "/a")
	tokens := map[string]string{"deploy": "d-" + testToken, "cron": "c-" + testToken}
	h := &purge.Handler{Cache: s.cache, Logger: slog.New(&logs), Authorize: func(r *http.Request) (string, error) {
		got, ok := purge.BearerToken(r)
		if !ok {
			return "", errors.New("no token")
		}
		for who, tok := range tokens {
			if tok == got { // a test; a real one compares digests in constant time
				return who, nil
			}
		}
		return "", errors.New("unknown token")
	}}
	if w := post(t, h, `{"tags":["page:/a"]}`, "Authorization", "Bearer c-"+testToken); w.Code != http.StatusOK {
		t.Fatalf("status = %d (body %q)", w.Code, w.Body)
	}
	got := logs.take()
	if len(got) != 1 || got[0].Attrs["who"] != "cron" {
		t.Fatalf("records = %+v, want one with who=cron", got)
	}
	if s.get(t, "/a") {
		t.Error("GET /a after its purge: a hit")
	}

	h.Authorize = func(*http.Request) (string, error) {
		return "dashboard", fmt.Errorf("dashboard may only read: %w", purge.ErrForbidden)
	}
	if w := post(t, h, `{"all":true}`, "Authorization", "Bearer x"); w.Code != http.StatusForbidden {
		t.Fatalf("forbidden client: status = %d (body %q)", w.Code, w.Body)
	}
	got = logs.take()
	if len(got) != 1 || got[0].Level != slog.LevelWarn || got[0].Attrs["who"] != "dashboard" || got[0].Attrs["status"] != "403" ||
		got[0].Attrs["reason"] != "dashboard may only read: purge: forbidden" {
		t.Fatalf("records = %+v, want one refusal of dashboard with 403", got)
	}
}

// TestBearerToken: the scheme in any case, one header only, a token after it.
func TestBearerToken(t *testing.T) {
	tests := []struct {
		header    []string
		wantToken string
		wantOK    bool
	}{
		{nil, "", false},
		{[]string{"Bearer abc"}, "abc", true},
		{[]string{"bearer abc"}, "abc", true},
		{[]string{"BEARER   abc"}, "abc", true},
		{[]string{"Bearer"}, "", false},
		{[]string{"Bearer "}, "", false},
		{[]string{"Bearerabc"}, "", false},
		{[]string{"Basic abc"}, "", false},
		{[]string{"Bearer abc", "Bearer abc"}, "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		for _, v := range tt.header {
			r.Header.Add("Authorization", v)
		}
		tok, ok := purge.BearerToken(r)
		if tok != tt.wantToken || ok != tt.wantOK {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, tok, ok, tt.wantToken, tt.wantOK)
		}
	}
}
