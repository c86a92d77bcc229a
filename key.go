package dumper

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// appendPrimaryKey appends the key of a request before any Vary is known: the method class
// (GET and HEAD share entries), scheme, host, canonical path and query, and the values of the
// keyHeaders the request carries. The host is part of the key so that one host's pages are
// never served for another.
func appendPrimaryKey(b []byte, r *http.Request, path string, keyHeaders *headerSet) []byte {
	b = append(b, "G "...)
	if r.TLS != nil {
		b = append(b, "https://"...)
	} else {
		b = append(b, "http://"...)
	}
	for i := 0; i < len(r.Host); i++ {
		c := r.Host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = append(b, path...)
	if r.URL.RawQuery != "" {
		b = append(b, '?')
		b = append(b, r.URL.RawQuery...)
	}
	if keyHeaders == nil || len(keyHeaders.names) == 0 {
		return b
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
	return b
}

// appendHeader appends a NUL, the header's name, "=" and its values.
func appendHeader(b []byte, name string, vs []string) []byte {
	b = append(b, 0)
	b = append(b, name...)
	b = append(b, '=')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',', ' ')
		}
		b = append(b, v...)
	}
	return b
}

// appendVariantKey appends to a primary key the values of the request headers named in vary
// (canonical names, sorted). A header that is absent is told apart from one that is empty.
// Neither NUL nor the separators used here can occur in a header value that net/http accepts.
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
