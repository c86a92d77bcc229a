package dumper

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// entriesEqual compares entries field by field; nil and empty slices and maps are equal.
func entriesEqual(a, b *Entry) bool {
	return a.Kind == b.Kind &&
		a.Status == b.Status &&
		maps.EqualFunc(a.Header.Clone(), b.Header.Clone(), func(x, y []string) bool { return slices.Equal(x, y) }) &&
		bytes.Equal(a.Body, b.Body) &&
		slices.Equal(a.Tags, b.Tags) &&
		a.Born == b.Born &&
		a.Stored == b.Stored &&
		a.Public == b.Public &&
		a.StaleWhileRevalidate == b.StaleWhileRevalidate &&
		a.StaleIfError == b.StaleIfError
}

func mustMarshal(t *testing.T, e *Entry) []byte {
	t.Helper()
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return b
}

var fuzzEntries = []*Entry{
	{Kind: VariantRecord},
	{Status: 200, Header: NewHeader(http.Header{"Content-Type": {"text/html"}, "Set-Cookie": {"a=1", "b=2"}, "Vary": {"Accept, Accept-Encoding"}}),
		Body: []byte("<p>crème</p>"), Tags: []string{"/icecream/cr%C3%A8me", "flavour:3"}, Born: 42,
		Stored: time.Unix(1700000000, 123456789).UnixNano(), Public: true},
	{Kind: VariantRecord, Header: NewHeader(http.Header{"Vary": {"Accept"}}), Tags: []string{"/v"}, Born: 1 << 63, Stored: -1},
	{Status: 304, Header: NewHeader(http.Header{"Etag": {`W/"x,y"`}, "X-Empty": {""}}), Body: []byte{}},
	{Status: 999, Body: []byte{0, 0xff, '\n'}, Tags: []string{"", "☃", "a\x00b"}},
	{Status: 200, Body: []byte("soft"), Tags: []string{"/s"}, StaleWhileRevalidate: 30, StaleIfError: 65535},
	{Kind: VariantRecord, Header: NewHeader(http.Header{"Vary": {"Accept"}}), Tags: []string{"/s"}, StaleIfError: 1},
}

func FuzzEntryDecode(f *testing.F) {
	for _, e := range fuzzEntries {
		b, err := e.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(append(b, 0))
	}
	f.Add([]byte{})
	f.Add([]byte{entryVersion})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{entryVersion, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})                      // huge header count
	f.Add([]byte{entryVersion, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}) // huge body
	f.Add([]byte{entryVersion, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0})                                     // non-minimal varint
	f.Add([]byte{entryVersion, 200, 1, 0, 0, flagSoft, 0, 0, 0, 0, 0})                               // soft flag with no window
	f.Add([]byte{entryVersion, 200, 1, 0, 0, flagSoft, 0xff, 0xff, 0x04, 0, 0, 0, 0})                // a window over 65535 s
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Entry
		if err := e.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("UnmarshalBinary error %v does not wrap ErrCorruptEntry", err)
			}
			return
		}
		if !validStatus(e.Kind, e.Status) {
			t.Fatalf("decoded Kind %d with Status %d", e.Kind, e.Status)
		}
		var e2 Entry
		if err := e2.UnmarshalBinary(mustMarshal(t, &e)); err != nil {
			t.Fatalf("decoding a re-encoded entry: %v", err)
		}
		if !entriesEqual(&e, &e2) {
			t.Fatalf("round trip changed the entry:\n got %+v\nwant %+v", e2, e)
		}
	})
}

// validStatus reports whether an entry of kind may have status: a variant record has none.
func validStatus(kind EntryKind, status int) bool {
	if kind == VariantRecord {
		return status == 0
	}
	return 100 <= status && status <= 999
}

func FuzzEntryRoundTrip(f *testing.F) {
	f.Add(200, "Content-Type", "text/html", "", []byte("<p>hi</p>"), "/", "tag", uint64(1), int64(1700000000123456789), "Accept,Accept-Encoding", true, false)
	f.Add(0, "", "", "", []byte{}, "/v", "", uint64(0), int64(0), "Accept-Language", false, true)
	f.Add(304, "Etag", `W/"a,b"`, `"c"`, []byte(nil), "/icecream/cr%C3%A8me", "crème", uint64(1<<64-1), int64(-1<<63), "", false, false)
	f.Add(99, "X", "\x00", "\xff", []byte{0}, "", "\x00", uint64(7), int64(-1), ",,", true, false)
	f.Add(-1, "Set-Cookie", "a=1", "b=2", []byte("x"), "/", "/", uint64(0), int64(1<<63-1), "", false, false)
	f.Add(0, "", "", "", []byte{}, "/v", "", uint64(0), int64(0), "", false, false)        // a response without a status
	f.Add(200, "", "", "", []byte{}, "/v", "", uint64(0), int64(0), "Accept", false, true) // a record with a status
	f.Fuzz(func(t *testing.T, status int, hk, hv1, hv2 string, body []byte, tag1, tag2 string, born uint64, stored int64, vary string, public, record bool) {
		kind := StoredResponse
		if record {
			kind = VariantRecord
		}
		h := http.Header{hk: {hv1, hv2}, "Content-Length": {fmt.Sprint(len(body))}}
		if vary != "" {
			h["Vary"] = strings.Split(vary, ",")
		}
		e := &Entry{
			Kind:   kind,
			Status: status,
			Header: NewHeader(h),
			Body:   body,
			Tags:   []string{tag1, tag2},
			Born:   born,
			Stored: stored,
			Public: public,
		}
		var got Entry
		err := got.UnmarshalBinary(mustMarshal(t, e))
		if !validStatus(kind, status) {
			if err == nil {
				t.Fatalf("Kind %d with Status %d decoded without error as %d", kind, status, got.Status)
			}
			return
		}
		if err != nil {
			t.Fatalf("UnmarshalBinary(MarshalBinary(%+v)): %v", e, err)
		}
		if !entriesEqual(e, &got) {
			t.Fatalf("round trip changed the entry:\n got %+v\nwant %+v", got, *e)
		}
	})
}

func FuzzNormalizePath(f *testing.F) {
	for _, p := range []string{
		"/", "/icecream/crème", "/icecream/cr%c3%a8me", "/icecream/cr%C3%A8me", "/a%2Fb", "/a%2fb",
		"/%41%42%7e", "/100%", "/100%25", "/%", "/%%41", "/%4", "/%zz", "/a b", "/a?q=1", "/a?q=http://x",
		"/a#f", "//host/a", "http://host/a", "a", "", "/*", "/a,b;c=d", "/a|b(c)^[d]", "/\x00\x7f\xff",
		"/日本語/%E6%97%A5", "/%e2%98%83", "/☃", "/a/../b/./c", "/~user/_x-y.z",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c := canonicalPath(p)
		if cc := canonicalPath(c); cc != c {
			t.Fatalf("canonicalPath(%q) = %q, but canonicalPath of that = %q", p, c, cc)
		}
		checkCanonical(t, c)

		n, err := NormalizePath(p)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("NormalizePath(%q) error %v does not wrap ErrInvalidPath", p, err)
			}
			return
		}
		if !strings.HasPrefix(n, "/") {
			t.Fatalf("NormalizePath(%q) = %q, not an absolute path", p, n)
		}
		if strings.ContainsAny(n, "?#") {
			t.Fatalf("NormalizePath(%q) = %q contains ? or #", p, n)
		}
		if n2, err := NormalizePath(n); err != nil || n2 != n {
			t.Fatalf("NormalizePath(%q) = %q, but NormalizePath of that = %q, %v", p, n, n2, err)
		}

		// Percent-encoding bytes that mean the same encoded or not (unreserved characters,
		// and those never allowed raw) gives the same tag, whatever the case of the hex digits.
		raw, _, _ := strings.Cut(p, "?")
		if !strings.Contains(raw, "%") {
			for _, hex := range []string{"0123456789abcdef", "0123456789ABCDEF"} {
				var b strings.Builder
				for i := 0; i < len(raw); i++ {
					c := raw[i]
					if i > 0 && (decodes(c) || !pathRaw[c]) {
						b.WriteByte('%')
						b.WriteByte(hex[c>>4])
						b.WriteByte(hex[c&15])
					} else {
						b.WriteByte(c)
					}
				}
				if ne, err := NormalizePath(b.String()); err != nil || ne != n {
					t.Fatalf("NormalizePath(%q) = %q, but NormalizePath(%q) = %q, %v", p, n, b.String(), ne, err)
				}
			}
			if utf8.ValidString(raw) {
				// The form url.PathEscape gives each segment.
				segs := strings.Split(raw, "/")
				for i, s := range segs {
					segs[i] = url.PathEscape(s)
				}
				esc := strings.Join(segs, "/")
				if onlyUnreservedOrNonRawEscaped(esc) {
					if ne, err := NormalizePath(esc); err != nil || ne != n {
						t.Fatalf("NormalizePath(%q) = %q, but NormalizePath(%q) = %q, %v", p, n, esc, ne, err)
					}
				}
			}
		}

		// The middleware computes a request's tag from the parsed request URL: it must agree
		// with NormalizePath of the path as sent.
		if u, err := url.ParseRequestURI(p); err == nil && u.Opaque == "" && u.Host == "" {
			if got := pathTag(urlPath(u)); got != n {
				t.Fatalf("request %q has path tag %q, NormalizePath gives %q", p, got, n)
			}
		}

		// InvalidatePaths reads p as a link (NormalizePath) and as raw text: the tag of the
		// page whose segments are p's bytes, the page Path builds of them.
		asLink, asText, suspect, err := pathReadings(p)
		if err != nil || asLink != n {
			t.Fatalf("pathReadings(%q) = %q, %v; NormalizePath gives %q", p, asLink, err, n)
		}
		if !strings.ContainsAny(p, "%?") && (asText != n || suspect) {
			t.Fatalf("pathReadings(%q) = %q, %q, suspect %v: two readings of a path with neither %% nor ?", p, asLink, asText, suspect)
		}
		if suspect && !strings.Contains(p, "%") {
			t.Fatalf("pathReadings(%q): suspect without an escape", p)
		}
		built := Path(strings.Split(p[1:], "/")...)
		if bn, err := NormalizePath(built); err != nil || bn != asText {
			t.Fatalf("pathReadings(%q) reads it as raw text %q, but the page Path builds of it, %q, has tag %q, %v", p, asText, built, bn, err)
		}
		if _, _, suspect, _ := pathReadings(built); suspect {
			t.Fatalf("the result of Path, %q, is suspect", built)
		}
	})
}

// FuzzPath checks that the page Path builds of a segment s is the page of s, and that it is
// invalidated by that path and by the path a naive caller concatenates, "/p/" + s.
func FuzzPath(f *testing.F) {
	for _, s := range []string{
		"", "vanilla", "50%41off", "50%2541off", "100%", "crème", "cr%c3%a8me", "a/b", "a%2Fb", "what?",
		"what?q=1", "a#b", ".", "..", "a b", "\x00\xff", "(x)", "%%41", "%zz", "日本語", "~_-.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 512 {
			return // keys stay under Policy.MaxKeyBytes
		}
		// A cache of its own: a full one may decline to admit the page.
		var buf bytes.Buffer
		c, err := New(Options{MaxBytes: 1 << 20, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		site := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page")) }))
		p := Path("p", s)
		checkCanonical(t, p)
		if canonicalPath(p) != p {
			t.Fatalf("Path(p, %q) = %q is not canonical: %q", s, p, canonicalPath(p))
		}
		u, err := url.ParseRequestURI(p)
		if err != nil {
			t.Fatalf("Path(p, %q) = %q: %v", s, p, err)
		}
		if u.Path != "/p/"+s {
			t.Fatalf("Path(p, %q) = %q, which a handler sees as %q", s, p, u.Path)
		}
		if seg, ok := strings.CutPrefix(p, "/p/"); !ok || strings.Contains(seg, "/") {
			t.Fatalf("Path(p, %q) = %q is not one segment under /p", s, p)
		}

		get := func() string {
			w := httptest.NewRecorder()
			site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p, nil))
			return w.Header().Get("Cache-Status")
		}
		cached := func() {
			t.Helper()
			get()
			if cs := get(); cs != "dumper; hit" {
				t.Fatalf("GET %s twice: %q, want a hit", p, cs)
			}
		}
		for _, inv := range []string{p, "/p/" + s} {
			cached()
			buf.Reset()
			err := c.InvalidatePaths(t.Context(), inv)
			if strings.Contains(inv, "#") {
				if !errors.Is(err, ErrInvalidPath) {
					t.Fatalf("InvalidatePaths(%q) = %v, want an error wrapping ErrInvalidPath", inv, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("InvalidatePaths(%q): %v", inv, err)
			}
			if cs := get(); cs == "dumper; hit" {
				t.Fatalf("InvalidatePaths(%q) left the page at %s cached", inv, p)
			}
			if inv == p && buf.Len() > 0 {
				t.Fatalf("InvalidatePaths(%q), a result of Path, logged %s", inv, buf.String())
			}
		}
	})
}

// checkCanonical checks that p holds only bytes allowed raw in a path and upper-case escapes
// of the others and of "/".
func checkCanonical(t *testing.T, p string) {
	t.Helper()
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if i+2 >= len(p) || !isUpperHex(p[i+1]) || !isUpperHex(p[i+2]) {
				t.Fatalf("canonical path %q has a bad escape at %d", p, i)
			}
			if decodes(unhex(p[i+1])<<4 | unhex(p[i+2])) {
				t.Fatalf("canonical path %q escapes a byte allowed raw at %d", p, i)
			}
			i += 2
			continue
		}
		if !pathRaw[c] {
			t.Fatalf("canonical path %q has raw byte %#x at %d", p, c, i)
		}
	}
}

// onlyUnreservedOrNonRawEscaped reports whether every escape in p encodes a byte that means
// the same to a Go handler encoded or not: all but "/" (an escaped slash does not split
// segments).
func onlyUnreservedOrNonRawEscaped(p string) bool {
	for i := 0; i+2 < len(p); i++ {
		if p[i] == '%' {
			c := unhex(p[i+1])<<4 | unhex(p[i+2])
			if c == '/' {
				return false
			}
			i += 2
		}
	}
	return true
}

// validHostByte reports the bytes net/http accepts in a Host header.
func validHostByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0
}

func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !validHostByte(h[i]) {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v can be a header field value net/http accepts.
func validFieldValue(v string) bool {
	return !strings.ContainsAny(v, "\x00\r\n")
}

// keyInput is a request as FuzzKey builds it, with its keys.
type keyInput struct {
	// view is what the handler sees of the request but for its headers: the scheme, the
	// Host, the request-target and the URL net/http parsed from it.
	view             string
	primary, variant string
	// variation is what the variant key must tell apart: whether Accept is there, its
	// value, and Accept-Language's field lines.
	variation string
}

var keyVary = []string{"Accept", "Accept-Language"}

// makeKey builds a request as net/http's server reads it, and its keys, or reports false
// for input net/http refuses.
func makeKey(isTLS bool, host, path, query, accept, lang string, noAccept, langTwo bool) (keyInput, bool) {
	var in keyInput
	if !validHost(host) || !validFieldValue(accept) || !validFieldValue(lang) {
		return in, false
	}
	target := "/" + path
	if query != "" {
		target += "?" + query
	}
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")))
	if err != nil {
		return in, false
	}
	if isTLS {
		r.TLS = &tls.ConnectionState{}
	}
	in.view = fmt.Sprintf("%v %q %q %#v", isTLS, r.Host, r.RequestURI, *r.URL)
	key, d := appendPrimaryKey(nil, r, nil)
	if d != noDetail {
		return in, false
	}
	in.primary = string(key)
	if !noAccept {
		r.Header["Accept"] = []string{accept}
	}
	if langTwo {
		a, b, _ := strings.Cut(lang, ";")
		r.Header["Accept-Language"] = []string{a, b}
	} else {
		r.Header["Accept-Language"] = []string{lang}
	}
	in.variant = string(appendVariantKey(nil, in.primary, keyVary, r.Header))
	if noAccept {
		accept = ""
	}
	in.variation = fmt.Sprintf("%v|%q|%q", noAccept, accept, r.Header["Accept-Language"])
	return in, true
}

// FuzzKey checks that two requests share a primary key exactly when the handler sees the
// same request, and a variant key exactly when the headers varied on are the same too.
func FuzzKey(f *testing.F) {
	f.Add(false, "example.com", "/a", "q=1", "text/html", "fr", false, false,
		true, "example.com", "/a", "q=1", "text/html", "fr", false, false)
	f.Add(false, "Example.COM", "/crème", "", "", "", true, false,
		false, "example.com", "/cr%c3%a8me", "", "", "", false, false)
	f.Add(false, "a.com:8080", "/x", "", "*/*", "en;fr", false, true,
		false, "a.com", ":8080/x", "", "*/*", "en, fr", false, false)
	f.Add(false, "a", "/x?y", "", "a", "b", false, false,
		false, "a", "/x", "y", "a", "b", false, false)
	f.Add(true, "[::1]:443", "/%2F", "a=%00", "a,b", "=x!", false, false,
		true, "[::1]:443", "//", "a=%00", "a,b", "=x!", false, false)
	f.Add(false, "a", "echo/home#x", "", "", "", true, false,
		false, "a", "echo/home", "", "", "", true, false)
	f.Add(false, "a", "x", "", "", "", true, false,
		false, "ahttp:", "/x", "", "", "", true, false)
	f.Fuzz(func(t *testing.T,
		tls1 bool, host1, path1, query1, accept1, lang1 string, noAccept1, langTwo1 bool,
		tls2 bool, host2, path2, query2, accept2, lang2 string, noAccept2, langTwo2 bool,
	) {
		a, ok1 := makeKey(tls1, host1, path1, query1, accept1, lang1, noAccept1, langTwo1)
		b, ok2 := makeKey(tls2, host2, path2, query2, accept2, lang2, noAccept2, langTwo2)
		if !ok1 || !ok2 {
			return
		}
		for _, k := range []keyInput{a, b} {
			if strings.IndexByte(k.primary, 0) >= 0 {
				t.Fatalf("primary key %q contains NUL: it could equal a variant key", k.primary)
			}
			if !strings.HasPrefix(k.variant, k.primary+"\x00") {
				t.Fatalf("variant key %q does not extend primary key %q", k.variant, k.primary)
			}
		}
		sameRequest := a.view == b.view
		if (a.primary == b.primary) != sameRequest {
			t.Fatalf("primary keys %q and %q, for requests %s and %s", a.primary, b.primary, a.view, b.view)
		}
		if sameRequest {
			if (a.variant == b.variant) != (a.variation == b.variation) {
				t.Fatalf("variant keys %q and %q, for header values %s and %s", a.variant, b.variant, a.variation, b.variation)
			}
		} else if a.variant == b.variant {
			t.Fatalf("variant keys of different requests are equal: %q", a.variant)
		}
	})
}

func FuzzCacheControl(f *testing.F) {
	f.Add("max-age=60, public", uint16(0), uint64(0), uint8(0), uint32(0), uint32(0), "")
	f.Add(`private="Set-Cookie, X-Foo", no-cache="a,b", s-maxage="10"`, uint16(0x3f), uint64(0xaaaa), uint8(3), uint32(60), uint32(1<<31), "ext")
	f.Add(`foo="no-store, private", MAX-AGE = 5`, uint16(0x11), uint64(0xffffffff), uint8(1), uint32(99999999), uint32(0), `x="a\"b,c"`)
	f.Add("max-age=99999999999999999999999, s-maxage=-1, max-age", uint16(0), uint64(0), uint8(0), uint32(0), uint32(0), "no-cache")
	f.Add("\"\\", uint16(0xffff), uint64(1<<63), uint8(255), uint32(1), uint32(2), "☃")
	directives := []string{"no-store", "no-cache", "private", "public", "max-age", "s-maxage"}
	f.Fuzz(func(t *testing.T, line string, which uint16, caseBits uint64, spaces uint8, maxAge, sMaxAge uint32, ext string) {
		// Arbitrary input: no panic.
		_ = parseCacheControl([]string{line})
		_ = parseCacheControl(strings.Split(line, "\n"))
		_ = hasToken([]string{line}, "no-cache")

		// Known directives are found whatever their case, spacing and order, and whatever
		// extensions (with quoted commas) surround them.
		extName, _, _ := strings.Cut(ext, "=")
		extName = strings.ToLower(strings.TrimSpace(extName))
		isDirective := func(d string) bool { return strings.EqualFold(d, extName) }
		if ext == "" || slices.ContainsFunc(directives, isDirective) || strings.ContainsAny(ext, `,"\`) {
			ext = "ext"
		}
		bit := 0
		mixCase := func(s string) string {
			b := []byte(s)
			for i := range b {
				if caseBits>>(bit%64)&1 == 1 && 'a' <= b[i] && b[i] <= 'z' {
					b[i] -= 'a' - 'A'
				}
				bit++
			}
			return string(b)
		}
		ws := []string{"", " ", "\t", "  "}
		sp := func(i int) string { return ws[int(spaces>>(2*(i%4)))&3] }
		var parts []string
		want := cacheControl{sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}
		quoteArg := which&(1<<8) != 0
		arg := func(n uint32) string {
			if quoteArg {
				return `"` + fmt.Sprint(n) + `"`
			}
			return fmt.Sprint(n)
		}
		for i, d := range directives {
			if which&(1<<i) == 0 {
				continue
			}
			p := mixCase(d)
			switch d {
			case "no-store":
				want.noStore = true
			case "no-cache":
				want.noCache = true
				if which&(1<<9) != 0 {
					p += `="Set-Cookie, Authorization"`
				}
			case "private":
				want.private = true
				if which&(1<<10) != 0 {
					p += `=X-A`
				}
			case "public":
				want.public = true
			case "max-age":
				want.maxAge = true
				p += sp(i) + "=" + sp(i+1) + arg(maxAge)
			case "s-maxage":
				want.sMaxAge = time.Duration(sMaxAge) * time.Second
				p += "=" + arg(sMaxAge)
			}
			parts = append(parts, sp(i)+p+sp(i+2))
		}
		// Extensions, one of which quotes known directive names and commas.
		parts = append(parts, ext, `ext2="no-store, private, max-age=1, \"public\""`)
		if which&(1<<11) != 0 {
			slices.Reverse(parts)
		}
		var lines []string
		if which&(1<<12) != 0 && len(parts) > 1 {
			lines = []string{strings.Join(parts[:1], ","), strings.Join(parts[1:], ","+sp(3))}
		} else {
			lines = []string{strings.Join(parts, ","+sp(3))}
		}
		if got := parseCacheControl(lines); got != want {
			t.Fatalf("parseCacheControl(%q) = %+v, want %+v", lines, got, want)
		}
		for i, d := range directives {
			if got, want := hasToken(lines, strings.ToUpper(d)), which&(1<<i) != 0; got != want {
				t.Fatalf("hasToken(%q, %q) = %v, want %v", lines, d, got, want)
			}
		}
	})
}

// validETag reports whether s is an entity-tag (RFC 9110 §8.8.3).
func validETag(s string) bool {
	s = strings.TrimPrefix(s, "W/")
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; c < 0x21 || c == '"' || c == 0x7f {
			return false
		}
	}
	return true
}

func FuzzETagMatch(f *testing.F) {
	f.Add(`"abc"`, `"abc"`, "x")
	f.Add(`W/"abc"`, `"abc", W/"def"`, "abd")
	f.Add(`"a,b"`, `"a", "b"`, "a,b")
	f.Add(`""`, `*`, "")
	f.Add(`W/""`, `W/`, "\xff")
	f.Add(`"crème"`, " \t,,W/\"cr\xc3\xa8me\" ,", "crème")
	f.Add(`"x"`, `"x`, "y")
	f.Add(`"x"`, `W/"`, "y")
	f.Fuzz(func(t *testing.T, etag, inm, other string) {
		// Arbitrary input: no panic.
		_ = etagMatch([]string{inm}, etag)
		_ = etagMatch(strings.Split(inm, "\n"), etag)

		if !validETag(etag) {
			return
		}
		opaque := strings.TrimPrefix(etag, "W/")
		for _, lines := range [][]string{
			{etag},
			{opaque},
			{"W/" + opaque},
			{"*"},
			{`"other-` + strings.Trim(opaque, `"`) + `", ` + etag},
			{"W/" + opaque + `, "z"`},
			{" ,\t" + opaque + " ,"},
			{`"z"`, etag},
		} {
			if !etagMatch(lines, etag) {
				t.Fatalf("etagMatch(%q, %q) = false, want true", lines, etag)
			}
		}
		if o := `"` + other + `"`; validETag(o) && o != opaque {
			for _, lines := range [][]string{{o}, {"W/" + o}, {o + ", " + o}} {
				if etagMatch(lines, etag) {
					t.Fatalf("etagMatch(%q, %q) = true, want false", lines, etag)
				}
			}
		}
	})
}
