package dumper

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
)

// appendPrimaryKey appends the key of a request before any Vary is known, or returns why the
// request cannot be keyed. The key is built from what the handler gets, byte for byte, so
// that two requests share a key only if the handler sees the same request (but for the
// headers the response varies on, which the variant key adds): the method class (GET and
// HEAD share entries), the scheme (r.TLS), r.Host as sent (no case folding: a handler sees it
// as sent), the request-target as sent (r.RequestURI: a "#", an escape, a "//" or a ".."
// stays what it is), r.URL as well when it is not what Go's server parses from that target
// (under http.StripPrefix, say), and the values of the keyHeaders the request carries.
//
// The layout is "G " scheme "://" host, then the target: right after the host when it is a
// path (it starts with "/"), after a space otherwise. A host cannot hold a space, a "/" or a
// NUL, nor the target a NUL (requests that do are refused with detailRequestTarget), so the
// host ends unambiguously, and every part that follows starts with a NUL.
func appendPrimaryKey(b []byte, r *http.Request, keyHeaders *headerSet) ([]byte, detail) {
	b = append(b, "G "...)
	if r.TLS != nil {
		b = append(b, "https://"...)
	} else {
		b = append(b, "http://"...)
	}
	for i := 0; i < len(r.Host); i++ {
		if c := r.Host[i]; c <= ' ' || c == '/' || c == 0x7f {
			return b, detailRequestTarget
		}
	}
	b = append(b, r.Host...)
	target := r.RequestURI
	if strings.IndexByte(target, 0) >= 0 {
		return b, detailRequestTarget
	}
	if target != "" && target[0] != '/' {
		b = append(b, ' ')
	}
	b = append(b, target...)
	if target == "" || !parsedFrom(target, r.URL) {
		b = appendURL(b, r.URL)
	}
	if keyHeaders == nil || len(keyHeaders.names) == 0 {
		return b, noDetail
	}
	// Walk the request's fields rather than look each key header up: a request rarely has
	// any, and most of its fields are ruled out by their first byte.
	var found [4]string
	extra := found[:0]
	for name := range r.Header {
		if keyHeaders.has(name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 1 {
		slices.Sort(extra)
	}
	for _, name := range extra {
		b = appendHeader(b, name, r.Header[name])
	}
	return b, noDetail
}

// parsedFrom reports whether u is exactly what net/http's server parses from the
// request-target (url.ParseRequestURI), for a target in origin form (a path and a query) or
// in absolute form (scheme://host, then a path and a query). It says false for any other
// form, and whenever u was changed since (http.StripPrefix rewrites the path): the key then
// adds u itself. It allocates nothing, and for the usual request (a path with no escapes) it
// costs a comparison and a pass over the path.
func parsedFrom(target string, u *url.URL) bool {
	if u == nil || u.Opaque != "" || u.User != nil || u.Fragment != "" || u.RawFragment != "" || u.OmitHost {
		return false
	}
	// As url.parse: the query starts at the first "?", and a lone "?" at the end sets
	// ForceQuery. The part before it holds no "?": samePath accepts none in a path, and the
	// authority is checked below.
	rest := target
	switch {
	case u.ForceQuery && u.RawQuery != "":
		return false
	case u.ForceQuery || u.RawQuery != "":
		n := len(target) - len(u.RawQuery) - 1
		if n < 0 || target[n] != '?' || target[n+1:] != u.RawQuery {
			return false
		}
		rest = target[:n]
	}
	if rest != "" && rest[0] == '/' {
		return u.Scheme == "" && u.Host == "" && samePath(rest, u.Path, u.RawPath)
	}
	i := strings.Index(rest, "://")
	if i <= 0 || len(u.Scheme) != i || !isScheme(rest[:i]) {
		return false
	}
	for j := 0; j < i; j++ {
		if lower(rest[j]) != u.Scheme[j] {
			return false
		}
	}
	authority, path := rest[i+3:], ""
	if j := strings.IndexByte(authority, '/'); j >= 0 {
		authority, path = authority[:j], authority[j:]
	}
	if authority != u.Host {
		return false
	}
	for j := 0; j < len(authority); j++ {
		if c := authority[j]; c == '?' || c == '@' {
			return false
		}
	}
	if path == "" {
		return u.Path == "" && u.RawPath == ""
	}
	return samePath(path, u.Path, u.RawPath)
}

// samePath reports whether path and rawPath are what url.URL.setPath makes of p: p
// unescaped, and p itself as RawPath unless Go's own escaping of the path gives p back
// (goEscaped). A "?" is not accepted in p.
func samePath(p, path, rawPath string) bool {
	switch {
	case rawPath != "":
		return rawPath == p && !goEscaped(p) && unescapesTo(p, path)
	case path == p:
		return goRaw(p) // then p has no escape, and it is its own unescaping
	default:
		return goEscaped(p) && unescapesTo(p, path)
	}
}

// unescapesTo reports whether p, every "%XX" decoded as url.PathUnescape does, is path. An
// incomplete escape is not (url.ParseRequestURI refuses it).
func unescapesTo(p, path string) bool {
	j := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return false
			}
			c = unhex(p[i+1])<<4 | unhex(p[i+2])
			i += 2
		}
		if j >= len(path) || path[j] != c {
			return false
		}
		j++
	}
	return j == len(path)
}

// goEscaped reports whether p is in the form url.URL.EscapedPath gives a path: every byte
// that Go leaves raw in a path is raw, every other one escaped with upper-case hex digits.
func goEscaped(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			if !goPathRaw[c] {
				return false
			}
			continue
		}
		if i+2 >= len(p) || !isUpperHex(p[i+1]) || !isUpperHex(p[i+2]) || goPathRaw[unhex(p[i+1])<<4|unhex(p[i+2])] {
			return false
		}
		i += 2
	}
	return true
}

// goRaw reports whether every byte of p is one net/url leaves unescaped in a path.
func goRaw(p string) bool {
	for i := 0; i < len(p); i++ {
		if !goPathRaw[p[i]] {
			return false
		}
	}
	return true
}

// goPathRaw marks the bytes that net/url leaves unescaped in a path.
var goPathRaw = func() (t [256]bool) {
	for _, c := range "$&+,-./:;=@_~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" {
		t[c] = true
	}
	return t
}()

// isScheme reports whether s is a URL scheme as net/url reads one.
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// appendURL appends every field of u, for a request whose URL is not what its
// request-target gives: a NUL, a space, then each field escaped (see appendField) and
// followed by a space, so that two URLs that differ in any field give different bytes.
func appendURL(b []byte, u *url.URL) []byte {
	b = append(b, 0, ' ')
	if u == nil {
		return append(b, '-')
	}
	for _, f := range [...]string{u.Scheme, u.Opaque, u.Host, u.Path, u.RawPath, u.RawQuery, u.Fragment, u.RawFragment} {
		b = appendField(b, f)
		b = append(b, ' ')
	}
	if u.User != nil {
		b = append(b, 'u')
		b = appendField(b, u.User.Username())
		if pw, ok := u.User.Password(); ok {
			b = append(b, ':')
			b = appendField(b, pw)
		}
		b = append(b, ' ')
	}
	if u.ForceQuery {
		b = append(b, '?')
	}
	if u.OmitHost {
		b = append(b, '/')
	}
	return b
}

// appendField appends s with every byte up to the space, DEL, "%" and ":" percent-escaped.
func appendField(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '%' || c == ':' {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return b
}

// appendHeader appends a NUL, the header's name, "=" and its field lines, separated by a
// line feed: a handler that reads the first line (Header.Get) tells two lines "a" and "b"
// from one line "a, b", so the key does too. Neither NUL nor a line feed can occur in a
// header value that net/http accepts.
func appendHeader(b []byte, name string, vs []string) []byte {
	b = append(b, 0)
	b = append(b, name...)
	b = append(b, '=')
	for i, v := range vs {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, v...)
	}
	return b
}

// appendVariantKey appends to a primary key the values of the request headers named in vary
// (canonical names, sorted). A header that is absent is told apart from one that is empty.
func appendVariantKey(b []byte, primary string, vary []string, h http.Header) []byte {
	b = append(b, primary...)
	for _, name := range vary {
		vs, ok := h[name]
		if !ok {
			b = append(b, 0)
			b = append(b, name...)
			b = append(b, '!')
			continue
		}
		b = appendHeader(b, name, vs)
	}
	return b
}

// parseVary returns the canonical, sorted, distinct header names of a response's Vary field
// lines, and whether one of them is "*".
func parseVary(lines []string) (names []string, star bool) {
	for _, line := range lines {
		for _, f := range strings.Split(line, ",") {
			f = strings.TrimSpace(f)
			switch f {
			case "":
			case "*":
				star = true
			default:
				names = append(names, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), star
}
