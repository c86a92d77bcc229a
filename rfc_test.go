package dumper_test

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
)

// TestPreconditions: If-Match and If-Unmodified-Since are evaluated against the stored
// response before If-None-Match and If-Modified-Since (RFC 9110 §13.2.2), on a hit and on a
// miss alike.
func TestPreconditions(t *testing.T) {
	t.Parallel()
	const (
		lm     = "Tue, 24 Nov 2026 10:00:00 GMT"
		before = "Tue, 24 Nov 2026 09:59:59 GMT"
		after  = "Tue, 24 Nov 2026 11:00:00 GMT"
	)
	h, runs := counting(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", lm)
		if r.URL.Path == "/weak" {
			w.Header().Set("ETag", `W/"w"`)
		}
	})
	c := newCache(t)
	mw := c.Middleware(h)
	etag := do(t, mw, "GET", "/p").Header().Get("ETag")
	do(t, mw, "GET", "/weak")
	tests := []struct {
		name string
		path string
		hdr  []string
		code int
	}{
		{"if-match", "/p", []string{"If-Match", etag}, 200},
		{"if-match in a list", "/p", []string{"If-Match", `"x", ` + etag}, 200},
		{"if-match star", "/p", []string{"If-Match", "*"}, 200},
		{"if-match other", "/p", []string{"If-Match", `"x"`}, 412},
		{"if-match weak form", "/p", []string{"If-Match", "W/" + etag}, 412},
		{"if-match weak etag", "/weak", []string{"If-Match", `W/"w"`}, 412},
		{"if-match weak etag, star", "/weak", []string{"If-Match", "*"}, 200},
		{"if-match then if-none-match", "/p", []string{"If-Match", etag, "If-None-Match", etag}, 304},
		{"if-match fails before if-none-match", "/p", []string{"If-Match", `"x"`, "If-None-Match", etag}, 412},
		{"if-unmodified-since later", "/p", []string{"If-Unmodified-Since", after}, 200},
		{"if-unmodified-since same", "/p", []string{"If-Unmodified-Since", lm}, 200},
		{"if-unmodified-since before", "/p", []string{"If-Unmodified-Since", before}, 412},
		{"if-unmodified-since invalid", "/p", []string{"If-Unmodified-Since", "yesterday"}, 200},
		{"if-match wins over if-unmodified-since", "/p", []string{"If-Match", etag, "If-Unmodified-Since", before}, 200},
		{"if-unmodified-since then if-modified-since", "/p", []string{"If-Unmodified-Since", after, "If-Modified-Since", lm}, 304},
	}
	for _, tt := range tests {
		w := do(t, mw, "GET", tt.path, tt.hdr...)
		if w.Code != tt.code {
			t.Errorf("%s: code %d, want %d", tt.name, w.Code, tt.code)
		}
		wantStatus(t, w, "dumper; hit")
		if tt.code == 412 && w.Body.Len() != 0 {
			t.Errorf("%s: 412 with a body %q", tt.name, w.Body.String())
		}
	}
	if runs.Load() != 2 {
		t.Errorf("handler ran %d times, want 2: preconditions are answered from the cache", runs.Load())
	}
	// A miss renders the full page without the preconditions, stores it, and answers the
	// request from it.
	w := do(t, mw, "GET", "/miss", "If-Match", `"x"`)
	if w.Code != 412 || status(w) != "dumper; fwd=uri-miss; stored" {
		t.Errorf("failing If-Match on a miss: %d %q, want 412, stored", w.Code, status(w))
	}
	wantBody(t, do(t, mw, "GET", "/miss"), "n=3 /miss ")
	// Preconditions are ignored for a stored response that is not a 2xx (RFC 9110 §13.2.1).
	nf := c.MiddlewareWith(dumper.Policy{Statuses: map[int]time.Duration{404: 0}})(http.NotFoundHandler())
	do(t, nf, "GET", "/gone")
	if w := do(t, nf, "GET", "/gone", "If-Match", `"x"`); w.Code != 404 || !isHit(w) {
		t.Errorf("If-Match on a stored 404: %d %q, want the 404 from the cache", w.Code, status(w))
	}
}

// servedRange is what matters of an answer to a range request.
type servedRange struct {
	code                                 int
	contentType, contentRange, etag, len string
	body                                 string // for multipart, each part's Content-Range and body
}

func readRange(t *testing.T, w *httptest.ResponseRecorder) servedRange {
	t.Helper()
	h := w.Header()
	s := servedRange{code: w.Code, contentType: h.Get("Content-Type"), contentRange: h.Get("Content-Range"), etag: h.Get("ETag"), len: h.Get("Content-Length"), body: w.Body.String()}
	mt, params, _ := mime.ParseMediaType(s.contentType)
	if mt != "multipart/byteranges" {
		return s
	}
	s.contentType = mt // the boundary is random
	var parts []string
	mr := multipart.NewReader(w.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p.Header.Get("Content-Type")+" "+p.Header.Get("Content-Range")+" "+readAll(t, p))
	}
	s.body, s.len = strings.Join(parts, "|"), "" // so is the length
	return s
}

// TestRangeOnHitAndMiss: a range request gets the same answer from the cache, on a hit and
// on a miss, as from a handler that serves ranges with http.ServeContent; and the whole page,
// on a hit and on a miss, from a handler that does not serve ranges.
func TestRangeOnHitAndMiss(t *testing.T) {
	t.Parallel()
	content := strings.Repeat("0123456789", 10)
	modtime := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	ranges := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "f.txt", modtime, strings.NewReader(content))
	})
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, content) })
	for _, hdr := range [][]string{
		{"Range", "bytes=0-9"},
		{"Range", "bytes=-5"},
		{"Range", "bytes=95-"},
		{"Range", "bytes=0-1,5-6"},
		{"Range", "bytes=200-300"},
		{"Range", "bytes=abc"},
		{"Range", "bytes=0-9", "If-Range", `"v1"`},
		{"Range", "bytes=0-9", "If-Range", `"v0"`},
		{"Range", "bytes=0-9", "If-Range", modtime.Format(http.TimeFormat)},
		{"Range", "bytes=0-9", "If-Range", modtime.Add(-time.Hour).Format(http.TimeFormat)},
	} {
		for _, tc := range []struct {
			name string
			h    http.Handler
		}{{"ServeContent", ranges}, {"no ranges", plain}} {
			// Of a handler that does not serve ranges, only the code and body matter: the
			// cache adds its own ETag and Content-Length to a hit.
			same := func(a, b servedRange) bool {
				return a == b || tc.name == "no ranges" && a.code == b.code && a.body == b.body && a.contentRange == b.contentRange
			}
			want := readRange(t, do(t, tc.h, "GET", "/f", hdr...))
			c := newCache(t)
			mw := c.Middleware(tc.h)
			miss := do(t, mw, "GET", "/f", hdr...)
			wantStatus(t, miss, "dumper; fwd=uri-miss; detail=range")
			if got := readRange(t, miss); !same(got, want) {
				t.Errorf("%s, %q on a miss: %+v, the handler gives %+v", tc.name, hdr, got, want)
			}
			do(t, mw, "GET", "/f")
			hit := do(t, mw, "GET", "/f", hdr...)
			wantStatus(t, hit, "dumper; hit")
			if got := readRange(t, hit); !same(got, want) {
				t.Errorf("%s, %q on a hit: %+v, the handler gives %+v", tc.name, hdr, got, want)
			}
		}
	}
	// HEAD ignores Range (RFC 9110 §14.2): on a hit, the headers of the 200. (A HEAD that
	// misses is the handler's to answer.)
	c := newCache(t)
	mw := c.Middleware(ranges)
	do(t, mw, "GET", "/f")
	w := do(t, mw, "HEAD", "/f", "Range", "bytes=0-9")
	wantStatus(t, w, "dumper; hit")
	if w.Code != 200 || w.Header().Get("Content-Length") != "100" {
		t.Errorf("HEAD with Range: %d, Content-Length %q, want 200 and 100", w.Code, w.Header().Get("Content-Length"))
	}
}

// TestOnlyIfCached: a request with only-if-cached is answered from the store or with a 504,
// without running the handler (RFC 9111 §5.2.1.7).
func TestOnlyIfCached(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, runs := counting(nil)
	mw := c.Middleware(h)
	w := do(t, mw, "GET", "/p", "Cache-Control", "only-if-cached")
	if w.Code != http.StatusGatewayTimeout || runs.Load() != 0 {
		t.Fatalf("only-if-cached on a miss: %d, handler ran %d times; want 504 without it", w.Code, runs.Load())
	}
	wantStatus(t, w, "dumper; detail=only-if-cached")
	do(t, mw, "GET", "/p")
	w = do(t, mw, "GET", "/p", "Cache-Control", "max-stale, only-if-cached")
	wantStatus(t, w, "dumper; hit")
	wantBody(t, w, "n=1 /p ")
	// Stored, but not for a request with Authorization.
	if w := do(t, mw, "GET", "/p", "Cache-Control", "only-if-cached", "Authorization", "Bearer x"); w.Code != http.StatusGatewayTimeout {
		t.Errorf("only-if-cached with Authorization, entry not public: %d, want 504", w.Code)
	}
	if runs.Load() != 1 {
		t.Errorf("handler ran %d times, want 1", runs.Load())
	}
}

// TestExpires: with neither s-maxage nor max-age, an Expires in the past or invalid keeps a
// response from being stored (RFC 9111 §5.3); a future one, or one that a max-age
// overrides, does not.
func TestExpires(t *testing.T) {
	t.Parallel()
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	date := "Tue, 24 Nov 2026 10:00:00 GMT"
	tests := []struct {
		name string
		hdr  []string // response header fields
		want string
	}{
		{"past", []string{"Expires", past}, "dumper; fwd=uri-miss; detail=expires"},
		{"zero", []string{"Expires", "0"}, "dumper; fwd=uri-miss; detail=expires"},
		{"minus one", []string{"Expires", "-1"}, "dumper; fwd=uri-miss; detail=expires"},
		{"empty", []string{"Expires", ""}, "dumper; fwd=uri-miss; detail=expires"},
		{"equal to Date", []string{"Expires", date, "Date", date}, "dumper; fwd=uri-miss; detail=expires"},
		{"after Date", []string{"Expires", "Tue, 24 Nov 2026 10:00:01 GMT", "Date", date}, "dumper; fwd=uri-miss; stored"},
		{"future", []string{"Expires", future}, "dumper; fwd=uri-miss; stored"},
		{"past, with max-age", []string{"Expires", past, "Cache-Control", "max-age=60"}, "dumper; fwd=uri-miss; stored"},
		{"past, with s-maxage", []string{"Expires", past, "Cache-Control", "s-maxage=60"}, "dumper; fwd=uri-miss; stored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			h, _ := counting(func(w http.ResponseWriter, r *http.Request) {
				for i := 0; i+1 < len(tt.hdr); i += 2 {
					w.Header().Set(tt.hdr[i], tt.hdr[i+1])
				}
			})
			mw := c.Middleware(h)
			wantStatus(t, do(t, mw, "GET", "/p"), tt.want)
			if stored := strings.HasSuffix(tt.want, "stored"); isHit(do(t, mw, "GET", "/p")) != stored {
				t.Errorf("second request a hit: %v, want %v", !stored, stored)
			}
		})
	}
}

// TestRequestCannotForceARender: a request's no-cache, max-age=0 and Pragma: no-cache (a
// browser's reload) are served from the cache, a deliberate departure documented on Policy.
func TestRequestCannotForceARender(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, runs := counting(nil)
	mw := c.Middleware(h)
	do(t, mw, "GET", "/p")
	for _, hdr := range [][]string{
		{"Cache-Control", "no-cache"},
		{"Cache-Control", "max-age=0"},
		{"Pragma", "no-cache"},
		{"Cache-Control", "no-cache", "Pragma", "no-cache"},
	} {
		wantStatus(t, do(t, mw, "GET", "/p", hdr...), "dumper; hit")
	}
	if runs.Load() != 1 {
		t.Errorf("handler ran %d times, want 1", runs.Load())
	}
}

// TestHeadWithAuthorizationSaysWhy: a HEAD with Authorization that misses is not stored, and
// says why: as any HEAD that misses, it is the handler's.
func TestHeadWithAuthorizationSaysWhy(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	h, _ := counting(nil)
	mw := c.Middleware(h)
	wantStatus(t, do(t, mw, "GET", "/p", "Authorization", "Bearer x"), "dumper; fwd=uri-miss; detail=authorization")
	wantStatus(t, do(t, mw, "HEAD", "/p", "Authorization", "Bearer x"), "dumper; fwd=uri-miss; detail=head")
}
