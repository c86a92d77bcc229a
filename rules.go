package dumper

import (
	"net/http"
	"strconv"
	"time"
)

// refuse applies the storage rules of a shared cache (RFC 9111 §3) to a response about to
// be sent, and returns why it must not be stored, or noDetail. It records the response's
// Cache-Control in cc.
//
// dumper sits in front of its own application, so it departs from a shared cache in two ways,
// both documented on [Policy]: max-age speaks to browsers and does not bound the server's
// lifetime (s-maxage does); and a response's no-cache keeps it from being stored at all,
// since an entry that must be revalidated with the origin on every use saves nothing.
func refuse(r *http.Request, p *policy, status int, h http.Header, cc *cacheControl) detail {
	if _, ok := p.statuses[status]; !ok {
		return detailStatus
	}
	*cc = parseCacheControl(h["Cache-Control"])
	switch {
	case cc.noStore:
		return detailNoStore
	case cc.private:
		return detailPrivate
	case cc.noCache:
		return detailNoCache
	case cc.sMaxAge == 0:
		return detailZeroSMaxAge
	case cc.sMaxAge < 0 && !cc.maxAge && expired(h):
		// With neither s-maxage nor max-age, Expires gives the freshness lifetime
		// (RFC 9111 §5.3): one in the past, or invalid ("0"), says the response is
		// stale already, which in practice means "do not cache". A future Expires
		// speaks to browsers, as max-age does.
		return detailExpires
	}
	if _, ok := h["Set-Cookie"]; ok {
		return detailSetCookie
	}
	if _, star := parseVary(h["Vary"]); star {
		return detailVaryStar
	}
	if _, ok := h["Trailer"]; ok {
		return detailTrailer // trailers come after the body; a stored copy would lose them
	}
	if _, ok := r.Header["Authorization"]; ok && !cc.public && cc.sMaxAge < 0 {
		return detailAuthorization // RFC 9111 §3.5
	}
	return noDetail
}

// expired reports whether a response's Expires field is invalid or not after its Date (or
// now, without a valid Date). Without an Expires field it reports false.
func expired(h http.Header) bool {
	ex, ok := h["Expires"]
	if !ok {
		return false
	}
	if len(ex) != 1 {
		return true // absent value or several: invalid
	}
	t, err := http.ParseTime(ex[0])
	if err != nil {
		return true
	}
	now := time.Now()
	if d := h["Date"]; len(d) == 1 {
		if dt, err := http.ParseTime(d[0]); err == nil {
			now = dt
		}
	}
	return !t.After(now)
}

// unfinished applies the rules that only the end of a render can settle to a response that
// refuse let through and that was buffered whole, with header h as of its WriteHeader. It
// returns why the response must not be stored after all, or noDetail.
func unfinished(r *http.Request, p *policy, rs *renderState, status int, h http.Header, body []byte) detail {
	switch {
	case r.Context().Err() != nil:
		return detailAborted // the request was cancelled: the handler may have stopped short
	case !rs.storable():
		return detailHandler
	case p.requireDeps && !rs.dependent() && len(h[p.tagHeader]) == 0:
		return detailNoDependencies
	}
	if cl, ok := h["Content-Length"]; ok && bodyAllowed(status) && (len(cl) != 1 || cl[0] != strconv.Itoa(len(body))) {
		// The handler promised another length: it failed half-way. Send what it sent, as
		// it sent it; net/http tells the client the response is cut short.
		return detailLengthMismatch
	}
	return noDetail
}
