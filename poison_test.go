package dumper_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
)

// echo is a handler that renders everything it can see of a request but for the headers
// neither keyed nor varied on: the method, Host, request-target, URL, TLS, the proxy headers
// the cache keys by default, Accept-Language (it says Vary: Accept-Language) and the body.
// It is deterministic, so that what the cache serves can be compared with a direct render.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Accept-Language")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "method=%s host=%q uri=%q url=%q path=%q rawpath=%q query=%q tls=%v\n",
		r.Method, r.Host, r.RequestURI, r.URL.String(), r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.TLS != nil)
	for _, name := range append(dumper.DefaultKeyHeaders(), "Accept-Language") {
		if vs, ok := r.Header[name]; ok {
			fmt.Fprintf(w, "%s: get=%q values=%q\n", name, r.Header.Get(name), vs)
		}
	}
	body, err := io.ReadAll(r.Body)
	fmt.Fprintf(w, "body=%q err=%v\n", body, err)
})

// site serves h under "/" and under http.StripPrefix("/strip", …).
func site(h http.Handler) http.Handler {
	stripped := http.StripPrefix("/strip", h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/strip/") {
			stripped.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// echoServers returns a server of echo behind a cache and one of echo alone.
func echoServers(t testing.TB) (cached, direct *httptest.Server) {
	t.Helper()
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cached = httptest.NewServer(site(c.Middleware(echo)))
	direct = httptest.NewServer(site(echo))
	t.Cleanup(func() {
		cached.Close()
		direct.Close()
		c.Close()
	})
	return cached, direct
}

// rawResponse is what a server answered to a raw request.
type rawResponse struct {
	status      int
	cacheStatus string
	body        string
}

// sendRaw writes raw to a new connection to srv, as a client would, and reads the response,
// so that the request goes through net/http's own parser.
func sendRaw(t testing.TB, srv *httptest.Server, raw string) rawResponse {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(raw, " ")
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response to %q: %v", raw, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the body of the response to %q: %v", raw, err)
	}
	return rawResponse{res.StatusCode, res.Header.Get("Cache-Status"), string(body)}
}

// rawGET returns a GET request for target with Host host and the given header lines.
func rawGET(target, host string, lines ...string) string {
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// checkClean sends clean to the cached server and to the direct one, and fails unless the
// cache served what the handler renders for it.
func checkClean(t testing.TB, cached, direct *httptest.Server, after, clean string) {
	t.Helper()
	got := sendRaw(t, cached, clean)
	want := sendRaw(t, direct, clean)
	if got.status != want.status || got.body != want.body {
		t.Fatalf("after %q, the cache answered %q with %d %q (%s), the handler renders %d %q", after, clean, got.status, got.body, got.cacheStatus, want.status, want.body)
	}
}

// TestRequestLinePoisoning: the reproductions of issue 11, sent over a real connection. A
// request the handler sees differently from a clean one (a "#" in the target, another letter
// case in the Host, a scheme header, a body, an absolute-form target) cannot leave its
// response where the clean request finds it.
func TestRequestLinePoisoning(t *testing.T) {
	t.Parallel()
	cached, direct := echoServers(t)
	clean := rawGET("/echo/home", "example.com")
	attacks := []struct{ name, raw string }{
		{"fragment in the target", rawGET(`/echo/home#"><script>alert(1)</script>`, "example.com")},
		{"escaped fragment", rawGET("/echo/home%23x", "example.com")},
		{"host case", rawGET("/echo/home", "EXAMPLE.com")},
		{"host trailing dot", rawGET("/echo/home", "example.com.")},
		{"absolute form, other host", rawGET("http://evil.example/echo/home", "example.com")},
		{"absolute form, same host", rawGET("http://example.com/echo/home", "example.com")},
		{"absolute form, https", rawGET("https://example.com/echo/home", "example.com")},
		{"escape of an unreserved byte", rawGET("/echo/%68ome", "example.com")},
		{"double slash", rawGET("//echo/home", "example.com")},
		{"dot segment", rawGET("/echo/x/../home", "example.com")},
		{"empty query", rawGET("/echo/home?", "example.com")},
		{"body", "GET /echo/home HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"},
		{"chunked body", "GET /echo/home HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"split key header", rawGET("/echo/home", "example.com", "X-Forwarded-Host: evil.example", "X-Forwarded-Host: example.com")},
	}
	for _, name := range dumper.DefaultKeyHeaders() {
		attacks = append(attacks, struct{ name, raw string }{name, rawGET("/echo/home", "example.com", name+": https")})
	}
	for _, a := range attacks {
		sendRaw(t, cached, a.raw)
		sendRaw(t, cached, a.raw) // a hit now, if it was stored
		checkClean(t, cached, direct, a.raw, clean)
	}
	// A clean request still hits, and under http.StripPrefix too.
	for _, target := range []string{"/echo/home", "/strip/echo/home"} {
		sendRaw(t, cached, rawGET(target, "example.com"))
		if got := sendRaw(t, cached, rawGET(target, "example.com")); got.cacheStatus != "dumper; hit" {
			t.Errorf("GET %s twice: Cache-Status %q, want a hit", target, got.cacheStatus)
		}
	}
}

// TestFragmentReproduction is the closing note of issue 11: before, a "#" in the
// request-target poisoned the page; now the request has an entry of its own, its tag is its
// own path ("/echo/home%23…"), and the page is served as the handler renders it.
func TestFragmentReproduction(t *testing.T) {
	t.Parallel()
	cached, direct := echoServers(t)
	bad := sendRaw(t, cached, rawGET(`/echo/home#"><script>`, "example.com"))
	if want := "dumper; fwd=uri-miss; stored"; bad.cacheStatus != want {
		t.Errorf("the request with a #: Cache-Status %q, want %q", bad.cacheStatus, want)
	}
	if !strings.Contains(bad.body, `path="/echo/home#\"><script>"`) {
		t.Errorf("the handler did not see the # in its path: %q", bad.body)
	}
	checkClean(t, cached, direct, "GET /echo/home#\"><script>", rawGET("/echo/home", "example.com"))
}

// TestUnkeyableRequestsBypass: requests the key cannot stand for go to the handler unstored.
func TestUnkeyableRequestsBypass(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	mw := c.Middleware(echo)
	r := httptest.NewRequest("GET", "/p", strings.NewReader("body"))
	w := httptest.NewRecorder()
	mw.ServeHTTP(w, r)
	wantStatus(t, w, "dumper; fwd=bypass; detail=request-body")
	for _, host := range []string{"a b", "a/b", "a\x00b"} {
		r := httptest.NewRequest("GET", "/p", nil)
		r.Host = host
		w := httptest.NewRecorder()
		mw.ServeHTTP(w, r)
		wantStatus(t, w, "dumper; fwd=bypass; detail=request-target")
	}
	// A request built in a program, without RequestURI, is keyed by its URL.
	r = httptest.NewRequest("GET", "/p?q", nil)
	r.RequestURI = ""
	for _, want := range []string{"dumper; fwd=uri-miss; stored", "dumper; hit"} {
		w := httptest.NewRecorder()
		mw.ServeHTTP(w, r)
		wantStatus(t, w, want)
	}
}

// fuzzHeaders are the headers FuzzRequestPoisoning may add to an odd request: every header
// keyed by default, one varied on, and ones a handler must not render from unless it says so.
var fuzzHeaders = append(dumper.DefaultKeyHeaders(), "Accept-Language", "X-Forwarded-For", "X-Real-Ip", "Cookie", "Cache-Control", "Pragma", "Range")

// FuzzRequestPoisoning is the differential test of the key: an odd request (any
// request-target, Host, method, proxy headers, a body), sent over a real connection so that
// net/http's own parser reads it, then a clean request for the page it resembles (the target
// cut at "#", in origin form, the Host in lower case, no extra headers). The clean request
// must be served exactly what the handler renders for it, as a server without the cache
// answers it. The cache lives across inputs, so any entry an input left behind is checked
// by every later one.
func FuzzRequestPoisoning(f *testing.F) {
	f.Add(false, `/echo/home#"><script>`, "example.com", uint32(0), "", "", false)
	f.Add(false, "/echo/home", "EXAMPLE.com", uint32(1), "https", "", false)
	f.Add(true, "/echo/home", "example.com.", uint32(1<<2|1<<4), "on", "", false)
	f.Add(false, "http://evil.example/echo/home#x", "example.com", uint32(1<<7), "evil.example", "", false)
	f.Add(false, "/strip/echo/%68ome?", "example.com:80", uint32(0), "", "x", false)
	f.Add(false, "//echo/../home?a=%zz", "[::1]:8080", uint32(1<<20), "fr", "hello", true)
	f.Add(false, "/echo/home%2f%23", "Example.COM", uint32(1<<21|1<<22), "1.2.3.4", "", false)
	f.Add(false, "*", "example.com", uint32(0), "", "", false)
	cached, direct := echoServers(f)
	f.Fuzz(func(t *testing.T, head bool, target, host string, headers uint32, value, body string, chunked bool) {
		if strings.ContainsAny(target+host+value, "\r\n") || strings.ContainsAny(target+host, " ") {
			return // another request altogether, or none
		}
		method := "GET"
		if head {
			method = "HEAD"
		}
		var b strings.Builder
		b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n")
		for i, name := range fuzzHeaders {
			if headers&(1<<i) != 0 {
				b.WriteString(name + ": " + value + "\r\n")
			}
		}
		switch {
		case body != "" && chunked:
			fmt.Fprintf(&b, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
		case body != "":
			fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
		default:
			b.WriteString("\r\n")
		}
		odd := b.String()
		sendLoose(cached, odd)
		sendLoose(cached, odd)

		path, _, _ := strings.Cut(target, "#")
		if i := strings.Index(path, "://"); i >= 0 && !strings.HasPrefix(path, "/") {
			host = path[i+3:]
			path = "/"
			if j := strings.IndexByte(host, '/'); j >= 0 {
				host, path = host[:j], host[j:]
			}
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		if strings.ContainsFunc(path+host, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
			return // no clean request looks like it: net/http refuses it (400) and resets
		}
		checkClean(t, cached, direct, odd, rawGET(path, strings.ToLower(host)))
	})
}

// sendLoose sends an odd request and reads what comes back, if anything: net/http answers
// some with a 400 and resets the connection before reading them whole, which is no failure
// of the cache's. What matters is what a clean request gets afterwards.
func sendLoose(srv *httptest.Server, raw string) {
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, conn)
}
