package dumper

import "net/http"

// refuse applies the storage rules of a shared cache (RFC 9111 §3) to a response about to
// be sent, and returns why it must not be stored, or "". It records the response's
// Cache-Control in cc.
//
// dumper sits in front of its own application, so it departs from a shared cache in two ways,
// both documented on [Policy]: max-age speaks to browsers and does not bound the server's
// lifetime (s-maxage does); and a response's no-cache keeps it from being stored at all,
// since an entry that must be revalidated with the origin on every use saves nothing.
func (c *Cache) refuse(r *http.Request, p *policy, status int, h http.Header, cc *cacheControl) string {
	if _, ok := p.statuses[status]; !ok {
		return "status"
	}
	*cc = parseCacheControl(h["Cache-Control"])
	switch {
	case cc.noStore:
		return "no-store"
	case cc.private:
		return "private"
	case cc.noCache:
		return "no-cache"
	case cc.sMaxAge == 0:
		return "zero-s-maxage"
	}
	if _, ok := h["Set-Cookie"]; ok {
		return "set-cookie"
	}
	if _, star := parseVary(h["Vary"]); star {
		return "vary-star"
	}
	if _, ok := h["Trailer"]; ok {
		return "trailer" // trailers come after the body; a stored copy would lose them
	}
	if _, ok := r.Header["Authorization"]; ok && !cc.public && cc.sMaxAge < 0 {
		return "authorization" // RFC 9111 §3.5
	}
	return ""
}
