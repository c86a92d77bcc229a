package edge

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// A Dialect is how one edge reads the tags of a response and the lifetime it may keep it
// for: the header names, the separator, and the limits its documentation states. The tags
// of one response are written in every dialect from the same set, and a purge computes the
// same spelling from the tags an invalidation names (see [Dialect.Key]).
type Dialect uint8

// The dialects.
const (
	// Varnish with varnish-modules' xkey: the xkey header, keys separated by spaces, the
	// lifetime in Surrogate-Control. The VCL shipped with this package (see [VCL]) reads
	// both and removes them, with every other field it reads, before the response reaches
	// a client. A header line is kept under 8 KiB, Varnish's default http_resp_hdr_len.
	Varnish Dialect = iota + 1
	// Fastly: Surrogate-Key, space-separated, at most 1 KiB per key and 16 KiB in all;
	// Surrogate-Control for the lifetime. Fastly removes both before responding.
	Fastly
	// Cloudflare: Cache-Tag, comma-separated, at most 16 KB in all and 1,000 tags, no
	// spaces, letter case ignored (two tags that differ in case only are one: purging either
	// purges both); Cloudflare-CDN-Cache-Control for the lifetime (RFC 9213's targeted
	// field, for Cloudflare alone). Cloudflare removes Cache-Tag before responding.
	Cloudflare
	// Akamai: Edge-Cache-Tag, comma-separated, at most 128 tags of 128 characters, each of
	// letters, digits and !#$%'+./^_`|~- only (an ampersand is percent-encoded: Akamai's
	// pages disagree on it); Edge-Control for the lifetime. Akamai removes both before
	// responding.
	Akamai
	// Bunny: CDN-Tag, comma-separated, at most 1,024 bytes in all; CDN-Cache-Control (RFC
	// 9213) for the lifetime. Bunny passes CDN-Tag on to browsers unless an Edge Rule
	// removes it (see [BunnyPurger]).
	Bunny
)

// String returns the edge's name.
func (d Dialect) String() string {
	switch d {
	case Varnish:
		return "varnish"
	case Fastly:
		return "fastly"
	case Cloudflare:
		return "cloudflare"
	case Akamai:
		return "akamai"
	case Bunny:
		return "bunny"
	}
	return "edge.Dialect(?)"
}

// limits are what a dialect's documentation allows.
type limits struct {
	tagHeader      string // the response field that lists tags
	lifetimeHeader string // the response field that sets the edge's lifetime
	sep            byte   // between tags
	maxKey         int    // bytes of one tag, in its written form
	maxHeader      int    // bytes of the tag field's value, separators included
	maxTags        int    // tags per response; 0: no bound but maxHeader
	allowed        func(c byte) bool
	foldCase       bool // the edge ignores letter case in tags
}

func (d Dialect) limits() limits {
	switch d {
	case Varnish:
		return limits{"Xkey", "Surrogate-Control", ' ', 1024, 8000, 0, visible, false}
	case Fastly:
		return limits{"Surrogate-Key", "Surrogate-Control", ' ', 1024, 16384, 0, visible, false}
	case Cloudflare:
		return limits{"Cache-Tag", "Cloudflare-Cdn-Cache-Control", ',', 1024, 16000, 1000, visible, true}
	case Akamai:
		return limits{"Edge-Cache-Tag", "Edge-Control", ',', 128, 8192, 128, akamaiByte, false}
	case Bunny:
		return limits{"Cdn-Tag", "Cdn-Cache-Control", ',', 1024, 1024, 0, visible, false}
	}
	return limits{}
}

// valid reports whether d is one of the dialects.
func (d Dialect) valid() bool { return d >= Varnish && d <= Bunny }

// visible marks the bytes every edge but Akamai keeps in a tag: printable ASCII but for the
// separators (space, comma) and the percent sign, which escapes the others.
func visible(c byte) bool { return c > ' ' && c < 0x7f && c != ',' && c != '%' }

// akamaiByte marks the bytes Akamai allows in a cache tag, less the percent sign and the
// ampersand: Akamai's pages disagree on "&" (allowed in the purge guide's table, not in
// others), and JSON escapes it, so it is percent-encoded too.
func akamaiByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$'+./^_`|~-", c) >= 0
}

// hashPrefix starts the hashed form of a tag (see [Dialect.Key]).
const hashPrefix = "h-"

// hashLen is the length of a hashed tag: the prefix and 13 base32 characters (64 bits of
// SHA-256).
const hashLen = len(hashPrefix) + 13

var hashEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// Key returns the spelling of tag in d: the tag itself when every byte of it is allowed and
// it fits d's limit for one tag; the tag with each other byte (and "%") percent-encoded when
// that fits; otherwise "h-" and 13 characters of base32 of its SHA-256, which every dialect
// allows. The spelling depends on the tag and the dialect alone, so the response side and
// the purge side agree without sharing state. Two tags may share a spelling ("a b" and
// "a%20b", or a hash collision, or letter case on Cloudflare): purging either then purges
// both, which costs a refetch and is never stale.
func (d Dialect) Key(tag string) string {
	l := d.limits()
	n := 0
	for i := 0; i < len(tag); i++ {
		if !l.allowed(tag[i]) {
			n++
		}
	}
	if n == 0 && len(tag) <= l.maxKey && !strings.HasPrefix(tag, hashPrefix) {
		return tag
	}
	if len(tag)+2*n <= l.maxKey && !strings.HasPrefix(tag, hashPrefix) {
		b := make([]byte, 0, len(tag)+2*n)
		for i := 0; i < len(tag); i++ {
			c := tag[i]
			if l.allowed(c) {
				b = append(b, c)
			} else {
				b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			}
		}
		return string(b)
	}
	sum := sha256.Sum256([]byte(tag))
	return hashPrefix + hashEncoding.EncodeToString(sum[:8])
}
