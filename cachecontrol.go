package dumper

import (
	"strconv"
	"strings"
	"time"
)

// cacheControl holds the Cache-Control directives (RFC 9111 §5.2) that decide storage;
// max-age speaks to browsers, and only its presence counts (it overrides Expires, see refuse).
type cacheControl struct {
	noStore, noCache, private, public bool
	maxAge                            bool          // present, whatever its value
	sMaxAge                           time.Duration // -1: absent

	// The soft windows of RFC 5861 (see softWindows); -1: absent.
	staleWhileRevalidate, staleIfError time.Duration

	// mustRevalidate: must-revalidate or proxy-revalidate, which forbid serving the
	// response stale (RFC 9111 §4.2.4), so that it gets no soft window.
	mustRevalidate bool
}

// parseCacheControl reads every Cache-Control field line of a message. Unknown directives are
// ignored; a malformed delta-seconds is treated as 0, the safe reading for a freshness limit.
// A directive with an argument (private="Set-Cookie", no-cache="…") counts as the bare
// directive, which is the stricter reading; a lifetime given twice counts at its shortest
// (RFC 9111 §4.2.1 allows the first or treating the response as stale).
func parseCacheControl(lines []string) cacheControl {
	cc := cacheControl{sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}
	for _, line := range lines {
		for line != "" {
			var d string
			d, line = nextDirective(line)
			name, arg, _ := strings.Cut(d, "=")
			name = strings.TrimSpace(name)
			arg = strings.Trim(strings.TrimSpace(arg), `"`)
			switch strings.ToLower(name) {
			case "no-store":
				cc.noStore = true
			case "no-cache":
				cc.noCache = true
			case "private":
				cc.private = true
			case "public":
				cc.public = true
			case "max-age":
				cc.maxAge = true
			case "s-maxage":
				cc.sMaxAge = minAge(cc.sMaxAge, deltaSeconds(arg))
			case "stale-while-revalidate":
				cc.staleWhileRevalidate = minAge(cc.staleWhileRevalidate, deltaSeconds(arg))
			case "stale-if-error":
				cc.staleIfError = minAge(cc.staleIfError, deltaSeconds(arg))
			case "must-revalidate", "proxy-revalidate":
				cc.mustRevalidate = true
			}
		}
	}
	return cc
}

// nextDirective splits off the first comma-separated directive, keeping commas inside a
// quoted argument.
func nextDirective(s string) (d, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

func deltaSeconds(s string) time.Duration {
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 1<<63 - 1 // RFC 9111 §1.2.2: overflow means "infinity"
		}
		return 0
	}
	if n > uint64((1<<63-1)/time.Second) {
		return 1<<63 - 1
	}
	return time.Duration(n) * time.Second
}

// hasToken reports whether a comma-separated header (such as a request's Cache-Control)
// contains token, case-insensitively.
func hasToken(lines []string, token string) bool {
	for _, line := range lines {
		for line != "" {
			var d string
			d, line = nextDirective(line)
			name, _, _ := strings.Cut(d, "=")
			if strings.EqualFold(strings.TrimSpace(name), token) {
				return true
			}
		}
	}
	return false
}

// minAge returns the shorter of two lifetimes, where -1 means absent.
func minAge(old, d time.Duration) time.Duration {
	if old < 0 {
		return d
	}
	return min(old, d)
}
