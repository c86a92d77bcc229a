package dumper

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrInvalidPath is wrapped by the errors of [NormalizePath] and [Cache.InvalidatePaths].
var ErrInvalidPath = errors.New("dumper: invalid path")

// NormalizePath returns the form of an absolute URL path that the cache uses as the path's
// tag. It accepts a path as a browser sends it (percent-encoded) or as a program writes it
// (raw UTF-8), so "/icecream/crème" and "/icecream/cr%c3%a8me" give the same result, and
// "/a%2Fb" the same as "/a/b" (a Go handler sees both as the same r.URL.Path).
//
// Paths are public paths, as a browser requests them: a middleware mounted under
// http.StripPrefix("/shop", …) caches "/shop/icecream/x" under that path. A query
// string is dropped: a path's tag covers every query string. Paths that do not start with
// "/", or that carry a scheme or a fragment, are rejected with an error wrapping
// [ErrInvalidPath]. A path that starts with "//" is a path like any other (a request for
// "//x" is cached under it), not a host.
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

// requestPath returns the canonical path a request was sent to: its request-target as the
// client wrote it, so that a middleware mounted under http.StripPrefix still sees the public
// path, which is what models declare and browsers send. Requests built in a program, without
// RequestURI, fall back to their URL.
func requestPath(r *http.Request) string {
	raw := r.RequestURI
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
		j := strings.IndexAny(raw, "/?#")
		if j < 0 || raw[j] != '/' {
			return "/"
		}
		raw = raw[j:]
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
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
// sees "/a%2Fb" and "/a/b" alike in r.URL.Path. Keys keep the difference; the tag covers
// both, so invalidating either invalidates both (too much at worst, never too little).
func pathTag(canonical string) string {
	if !strings.Contains(canonical, "%2F") {
		return canonical
	}
	return strings.ReplaceAll(canonical, "%2F", "/")
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
