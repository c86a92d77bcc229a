package dumper

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// ErrInvalidPath is wrapped by the errors of [NormalizePath] and [Cache.InvalidatePaths].
var ErrInvalidPath = errors.New("dumper: invalid path")

// NormalizePath returns the tag of the page that p names when read as a link: the form of an
// absolute URL path that the cache uses as the path's tag. p is percent-encoded as in a link,
// and may also hold raw UTF-8 (a non-ASCII letter or a space cannot be part of an escape), so
// "/icecream/crème" and "/icecream/cr%c3%a8me" give the same result, and "/a%2Fb" the same as
// "/a/b" (a Go handler sees both as the same r.URL.Path). Every "%XX" is read as an escape:
// "/product/50%41off" gives "/product/50Aoff", not the page of a slug "50%41off" (that is
// "/product/50%2541off"). [Cache.InvalidatePaths] invalidates that other reading too; [Path]
// builds the path of raw values so that it means one page.
//
// Paths are public paths, as a browser requests them: a middleware mounted under
// http.StripPrefix("/shop", …) caches "/shop/icecream/x" under that path. A query
// string is dropped: a path's tag covers every query string. Paths that do not start with
// "/", or that carry a scheme or a fragment, are rejected with an error wrapping
// [ErrInvalidPath]. A path that starts with "//" is a path like any other, not a host. Dot
// segments are resolved and empty segments dropped ("/a/../b", "/./b" and "//b" give "/b"),
// as handlers that clean paths serve them: a request for "//b" is stored under a key of its
// own, and invalidating "/b" drops it too.
func NormalizePath(p string) (string, error) {
	if strings.ContainsRune(p, '#') {
		return "", fmt.Errorf("%w %q: contains a fragment", ErrInvalidPath, p)
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	switch {
	case p == "":
		return "", fmt.Errorf("%w: empty", ErrInvalidPath)
	case p[0] != '/' && strings.Contains(p, "://"):
		return "", fmt.Errorf("%w %q: pass the path alone, without scheme and host", ErrInvalidPath, p)
	case p[0] != '/':
		return "", fmt.Errorf("%w %q: must start with /", ErrInvalidPath, p)
	}
	return pathTag(canonicalPath(p)), nil
}

// Path returns the absolute path made of segments, each escaped so that every byte of it
// stands for itself: a "/", "%", "?" or "#" in a segment is part of the segment, not a
// separator, an escape, a query or a fragment. So Path("product", "50%41off") is
// "/product/50%2541off", the page a Go handler serves with r.PathValue("slug") == "50%41off",
// and Path("icecream", "crème") is "/icecream/cr%C3%A8me". With no segments it returns "/".
//
// Build the paths given to [Cache.InvalidatePaths] and returned by DependentPaths with Path
// whenever they hold values (slugs, names, ids): "/product/" + slug is ambiguous when slug may
// hold a "%" or a "?". Path's result is in the canonical form of [NormalizePath]: it is never
// warned about.
func Path(segments ...string) string {
	n := 1
	for _, s := range segments {
		n += 1 + len(s)
	}
	b := make([]byte, 0, n)
	for _, s := range segments {
		b = append(b, '/')
		for i := 0; i < len(s); i++ {
			if c := s[i]; decodes(c) {
				b = append(b, c)
			} else {
				b = append(b, '%', upperHex[c>>4], upperHex[c&15])
			}
		}
	}
	if len(b) == 0 {
		return "/"
	}
	return string(b)
}

// pathReadings returns the tags of the pages that p, a path given to [Cache.InvalidatePaths],
// may name: asLink is p read as a link ([NormalizePath]: escapes decoded, the query dropped),
// asText p read as raw text, where every byte stands for itself (a "%" is a percent sign, a "?"
// a question mark). They differ only when p holds a "%" or a "?". suspect reports an escape
// that URL encoders do not produce (see suspectEscape), the telltale of a raw value pasted
// into a path.
func pathReadings(p string) (asLink, asText string, suspect bool, err error) {
	asLink, err = NormalizePath(p)
	if err != nil {
		return "", "", false, err
	}
	if !strings.ContainsAny(p, "%?") {
		return asLink, asLink, false, nil
	}
	// canonicalPath escapes the "?" and every byte not allowed raw; only "%" must be
	// escaped first, since canonicalPath reads "%XX" as an escape.
	asText = pathTag(canonicalPath(strings.ReplaceAll(p, "%", "%25")))
	path, _, _ := strings.Cut(p, "?")
	return asLink, asText, suspectEscape(path), nil
}

// suspectEscape reports whether p holds an escape that no URL encoder produces: one of an
// unreserved character (a letter, a digit, "-", ".", "_" or "~", which RFC 3986 §2.3 says
// producers do not encode), or one with a lower-case hex digit (§2.1: producers use upper
// case). url.PathEscape, url.URL.EscapedPath, JavaScript's encodeURIComponent and [Path] make
// neither; "%41" in a path is far more likely a raw "%41" than an "A" someone escaped.
func suspectEscape(p string) bool {
	for i := 0; i+2 < len(p); i++ {
		if p[i] != '%' || !isHex(p[i+1]) || !isHex(p[i+2]) {
			continue
		}
		if !isUpperHex(p[i+1]) || !isUpperHex(p[i+2]) {
			return true
		}
		if c := unhex(p[i+1])<<4 | unhex(p[i+2]); unreserved(c) {
			return true
		}
		i += 2
	}
	return false
}

// unreserved reports the unreserved characters of RFC 3986 §2.3.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// requestPath returns the canonical path a request was sent to, whose tag its entries carry:
// its request-target as the client wrote it, so that a middleware mounted under
// http.StripPrefix still sees the public path, which is what models declare and browsers
// send. The path is read as net/http reads it (url.ParseRequestURI): it ends at the first
// "?", and a "#" is part of it (a request-target has no fragment), so "/a#b" is the page
// "/a%23b", not "/a". Requests built in a program, without RequestURI, fall back to their URL.
func requestPath(r *http.Request) string {
	raw, _, _ := strings.Cut(r.RequestURI, "?")
	if raw == "" {
		return urlPath(r.URL)
	}
	if raw[0] != '/' {
		// absolute-form (http://host/path?query), as sent to proxies
		i := strings.Index(raw, "://")
		if i < 0 {
			return urlPath(r.URL)
		}
		raw = raw[i+3:]
		j := strings.IndexByte(raw, '/')
		if j < 0 {
			return "/"
		}
		raw = raw[j:]
	}
	return canonicalPath(raw)
}

// urlPath returns the canonical path of u: what the client sent (RawPath) when net/http kept
// it and it still matches Path, else Path as Go escapes it.
func urlPath(u *url.URL) string {
	if u.RawPath != "" {
		if p, err := url.PathUnescape(u.RawPath); err == nil && p == u.Path {
			return canonicalPath(u.RawPath)
		}
	}
	p := canonicalPath(u.EscapedPath())
	if p == "" {
		return "/"
	}
	return p
}

// pathTag returns the tag of a canonical path: the path with %2F decoded, since a Go handler
// sees "/a%2Fb" and "/a/b" alike in r.URL.Path, and with its dot segments resolved and empty
// segments dropped ("/a/../b", "/./b" and "//b" are "/b"), since handlers that clean the path
// themselves (http.FileServer, routers' CleanPath) serve "/b" for each. Keys keep every
// difference; the tag covers them all, so invalidating one spelling invalidates the others
// (too much at worst, never too little).
func pathTag(canonical string) string {
	p := canonical
	if strings.Contains(p, "%2F") {
		p = strings.ReplaceAll(p, "%2F", "/")
	}
	if !uncleanPath(p) {
		return p
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}

// uncleanPath reports whether p has an empty, "." or ".." segment.
func uncleanPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		seg := p[i+1:]
		if j := strings.IndexByte(seg, '/'); j >= 0 {
			seg = seg[:j]
			if seg == "" {
				return true // "//"
			}
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// canonicalPath returns the canonical percent-encoding of an absolute path: an escape of a
// byte that may appear raw in a path is decoded, except "/" (%2F stays, since it does not
// split segments), other escapes get upper-case hex digits, and every byte that may not
// appear raw (non-ASCII, space, controls, "|"…) is encoded. So every spelling that reaches a
// Go handler with the same r.URL.Path and segments gets one form. It returns p itself,
// without allocating, when p is already canonical.
func canonicalPath(p string) string {
	i := 0
	for i < len(p) {
		c := p[i]
		if c == '%' {
			if i+2 < len(p) && isUpperHex(p[i+1]) && isUpperHex(p[i+2]) && !decodes(unhex(p[i+1])<<4|unhex(p[i+2])) {
				i += 3
				continue
			}
			break
		}
		if !pathRaw[c] {
			break
		}
		i++
	}
	if i == len(p) {
		return p
	}
	b := make([]byte, 0, len(p)+16)
	b = append(b, p[:i]...)
	for ; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if decodes(d) {
				b = append(b, d)
			} else {
				b = append(b, '%', upperHex[d>>4], upperHex[d&15])
			}
			i += 2
			continue
		}
		if pathRaw[c] && c != '%' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return string(b)
}

const upperHex = "0123456789ABCDEF"

// pathRaw marks the bytes that may appear unencoded in a path (RFC 3986 pchar and "/").
var pathRaw = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return t
}()

// decodes reports whether an escape of c is decoded in the canonical form.
func decodes(c byte) bool { return pathRaw[c] && c != '/' }

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
