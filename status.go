package dumper

// Every response that passes through a middleware says what the cache did in a Cache-Status
// header (RFC 9211): "<name>; hit" when it was served from the store, and otherwise
// "<name>; fwd=<why>", followed by "; stored" when the handler's response was stored, and by
// "; detail=<reason>" when the response could not be stored, or was not for this request.
// A response the cache makes up itself, without the handler and without an entry (the 504
// to only-if-cached), says "<name>; detail=<reason>". A stale entry served under soft
// invalidation (soft.go) says "<name>; hit; ttl=-<age>; detail=stale" or detail=stale-if-error.
// This file holds that vocabulary.

// A fwd is why a request went to the handler: the fwd parameter of Cache-Status
// (RFC 9211 §2.2).
type fwd uint8

const (
	fwdURIMiss  fwd = iota // nothing was stored under the request's URL
	fwdVaryMiss            // the URL's responses vary, and none was stored for this request's header values
	fwdStale               // an entry was stored, but it has been invalidated or has expired
	fwdRequest             // an entry was stored, but the request (its Authorization) rules it out
	fwdMiss                // the store could not be consulted
	fwdMethod              // the method is not GET or HEAD
	fwdBypass              // the cache does not handle the request (Policy.Ignore, an over-long key)
)

var fwdNames = [...]string{
	fwdURIMiss:  "uri-miss",
	fwdVaryMiss: "vary-miss",
	fwdStale:    "stale",
	fwdRequest:  "request",
	fwdMiss:     "miss",
	fwdMethod:   "method",
	fwdBypass:   "bypass",
}

func (f fwd) String() string { return fwdNames[f] }

// A detail is why a response was not stored: the detail parameter of Cache-Status
// (RFC 9211 §2.8). The zero detail, noDetail, means there is no reason not to.
type detail uint8

const (
	noDetail detail = iota

	// Known before the handler runs, from the request or the store.
	detailStoreError     // a store operation failed
	detailKeyTooLong     // the key, or the variant key, is longer than Policy.MaxKeyBytes
	detailRequestNoStore // the request says Cache-Control: no-store
	detailRequestTarget  // a bypass: the key cannot represent the request-target or the Host (a NUL, a space, a "/" in the Host)
	detailRequestBody    // a bypass: a GET or HEAD with a body, which the handler could render
	detailRange          // a GET with Range that missed: the handler answers it, and nothing is stored
	detailHead           // a HEAD that missed: the handler answers it, and nothing is stored (a hit answers HEAD from the GET's response)
	detailOnlyIfCached   // the request says only-if-cached and nothing was stored for it: a 504 from the cache, the handler does not run

	// The storage rules (see refuse), judged when the handler sends the status.
	detailStatus        // the status is not in Policy.Statuses
	detailNoStore       // Cache-Control: no-store
	detailPrivate       // Cache-Control: private
	detailNoCache       // Cache-Control: no-cache
	detailZeroSMaxAge   // Cache-Control: s-maxage=0
	detailExpires       // an Expires in the past, or invalid, and neither s-maxage nor max-age (RFC 9111 §5.3)
	detailSetCookie     // the response sets a cookie
	detailVaryStar      // Vary: *
	detailTrailer       // the response announces trailers
	detailAuthorization // the request has Authorization, the response is neither public nor s-maxage (RFC 9111 §3.5); for a HEAD, known before the handler runs

	// Judged while the response is captured, or once the handler has returned.
	detailTooLarge       // the body outgrew Policy.MaxBodyBytes
	detailStreamed       // the handler flushed
	detailAborted        // the request was cancelled while the handler ran
	detailHandler        // the handler called NoStore, or a nested middleware's Policy.Ignore matched
	detailLengthMismatch // the body is not as long as the handler's Content-Length
	detailNoDependencies // Policy.RequireDependencies, and the render recorded no read and no tag

	// A stale hit (see serveStale): not a reason not to store, but why a condemned entry
	// was served.
	detailStale        // served while one background render replaces it
	detailStaleIfError // served because the render that was to replace it failed
)

var detailNames = [...]string{
	noDetail:             "",
	detailStoreError:     "store-error",
	detailKeyTooLong:     "key-too-long",
	detailRequestNoStore: "request-no-store",
	detailRequestTarget:  "request-target",
	detailRequestBody:    "request-body",
	detailRange:          "range",
	detailHead:           "head",
	detailOnlyIfCached:   "only-if-cached",
	detailStatus:         "status",
	detailNoStore:        "no-store",
	detailPrivate:        "private",
	detailNoCache:        "no-cache",
	detailZeroSMaxAge:    "zero-s-maxage",
	detailExpires:        "expires",
	detailSetCookie:      "set-cookie",
	detailVaryStar:       "vary-star",
	detailTrailer:        "trailer",
	detailAuthorization:  "authorization",
	detailTooLarge:       "too-large",
	detailStreamed:       "streamed",
	detailAborted:        "aborted",
	detailHandler:        "handler",
	detailLengthMismatch: "length-mismatch",
	detailNoDependencies: "no-dependencies",
	detailStale:          "stale",
	detailStaleIfError:   "stale-if-error",
}

func (d detail) String() string { return detailNames[d] }

// statusValues are the Cache-Status values that carry nothing particular to one request,
// built once per cache so that serving a hit allocates none. They are shared by every
// response; their capacity is their length, so an append by a handler copies them.
type statusValues struct {
	hit, method []string
}

func newStatusValues(name string) statusValues {
	return statusValues{
		hit:    []string{name + "; hit"},
		method: []string{name + "; fwd=" + fwdMethod.String()},
	}
}

// forwarded returns the Cache-Status value of a response from the handler: why the request
// went to it, whether the response was stored, and if not why.
func (c *Cache) forwarded(f fwd, stored bool, d detail) []string {
	s := c.name + "; fwd=" + f.String()
	if stored {
		s += "; stored"
	}
	if d != noDetail {
		s += "; detail=" + d.String()
	}
	return []string{s}
}

// unanswered returns the Cache-Status value of a response the cache made up itself, neither
// from an entry nor from the handler.
func (c *Cache) unanswered(d detail) []string {
	return []string{c.name + "; detail=" + d.String()}
}
