package dumper

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"
	"time"
)

// Options configure a [Cache]. The zero value is ready to use: a 64 MiB memory store, the
// default [Policy], and no logging.
type Options struct {
	// Store keeps the entries. If nil, New creates a memory store bounded by MaxBytes, which
	// Close releases.
	Store Store

	// MaxBytes bounds the live memory of the default memory store: the bytes its entries keep
	// (each entry's key, body, header, tags and the Entry itself, see [Entry.Size]), the
	// store's bookkeeping for each, and its table of invalidated tags. Zero means 64 MiB. It is
	// ignored when Store is set.
	//
	// It bounds live bytes, what a collection cannot free; the process needs more. Go's
	// collector lets the heap grow past what is live before it collects: by GOGC percent (100
	// by default) of it, so a full store can double the heap, unless a memory limit is set
	// (GOMEMLIMIT, or runtime/debug.SetMemoryLimit), which makes the collector work harder
	// instead as the heap nears it. Set the limit to MaxBytes plus what the rest of the
	// program needs and some room for the collector, as the demo (cmd/icecream) does. Besides
	// the store, the cache shares the header names and repeating values of its entries in a
	// table of at most 256 KiB. docs/benchmarks.md gives the figures.
	MaxBytes int64

	// Policy is the policy of [Cache.Middleware]. Routes with other needs use
	// [Cache.MiddlewareWith].
	Policy Policy

	// Name identifies the cache in the Cache-Status header (RFC 9211). Empty means "dumper".
	Name string

	// Logger receives store errors (a lookup or store that failed, after which the request
	// was served by the handler) and failed invalidations (Error), and ambiguous paths given
	// to the invalidation calls (Warn; see [Cache.InvalidatePaths]). Nil means no logging.
	Logger *slog.Logger

	// WriterKey signs the cookie that lets a client that made a write bypass stale responses
	// (docs/soft.md). Instances that share a store must share it, at least 16 bytes. Nil
	// means a random key made by New, which suits a single instance; the cache logs a
	// warning, once, when it first uses soft invalidation with it nil and a store that is a
	// [Leaser] other than a [MemoryStore] (shared across processes, as redisstore is).
	WriterKey []byte

	// MaxRevalidations bounds the renders that replace stale entries (docs/soft.md) running
	// at once in the cache, from the start of each until its handler returns, even past its
	// timeout. Past it, a stale entry is served without starting a render (the next request
	// after one finishes starts it), and a request within stale-if-error only is an ordinary
	// miss; Stats.RevalidationsSkipped counts them. Zero means four per GOMAXPROCS.
	MaxRevalidations int

	// Explain makes the cache remember, in process memory and within fixed bounds, the tags
	// of the responses it stores and the last invalidation of each tag it makes, so that
	// [Cache.ExplainHandler] can say what a cached page depends on and what last invalidated
	// it. Off by default: it costs a lock and a copy of the tags per store and per
	// invalidation.
	Explain bool

	// Observers are told of every request the cache's middlewares handle, every
	// invalidation and every store operation, for metrics, traces and edge purges (see
	// [Observer]). With none, the cache does no work for them.
	Observers []Observer
}

// Policy decides which responses a middleware stores and how it answers browsers. The zero
// value stores 200 responses until they are invalidated and tells browsers to revalidate
// every time.
//
// A response is stored under the rules of a shared cache (RFC 9111 §3), with two departures,
// since the cache sits in front of its own application: a response's max-age speaks to
// browsers and does not bound how long the server keeps it (s-maxage does, see MaxAge); and
// a response marked no-cache is not stored at all, since an entry that must be revalidated
// with the application on every use would save nothing. A response's Expires is read as a
// shared cache reads it when there is neither s-maxage nor max-age: one in the past (or an
// invalid one, such as "0") keeps the response from being stored; a future one speaks to
// browsers, like max-age.
//
// Requests are answered as RFC 9110 and 9111 say, from the stored response: its validators
// decide If-Match and If-Unmodified-Since (412) and If-None-Match and If-Modified-Since
// (304); a GET with Range gets the range (206, or 416) when the handler said it serves
// ranges (Accept-Ranges: bytes, as http.ServeContent does), the whole response otherwise. A
// range request that misses goes to the handler as it came, and its answer is not stored.
// A conditional request that misses is answered the same way from the handler's response
// when that response is not stored (unless it streams): the handler renders the full page.
// A request with only-if-cached that misses gets a 504 without running the handler.
//
// One departure, deliberate: a request cannot force a render. Its Cache-Control no-cache or
// max-age=0, or Pragma: no-cache (a browser's reload), are served from the cache like any
// other request. RFC 9111 §5.2.1 makes them the client's preference; entries are dropped as
// soon as their data changes, so they are never stale, and honouring them would let any
// client run the handler at will.
type Policy struct {
	// Statuses lists the status codes that may be stored, each with its own maximum lifetime
	// on the server (0: MaxAge). Nil means {200: 0}.
	Statuses map[int]time.Duration

	// MaxAge bounds how long an entry is kept on the server. Zero means no bound: an entry
	// lives until it is invalidated or evicted. A response's s-maxage lowers it.
	MaxAge time.Duration

	// BrowserCacheControl is the Cache-Control sent to clients with a stored response that
	// did not set its own. Empty means "no-cache": browsers keep the page but ask every time,
	// and the answer is a 304 Not Modified from the cache while the data is unchanged.
	BrowserCacheControl string

	// MaxBodyBytes is the largest body stored; larger responses stream through untouched.
	// Zero means 2 MiB.
	MaxBodyBytes int

	// MaxKeyBytes bounds the cache key (URL plus the values of the headers the response
	// varies on). Requests with a longer key pass through without being stored. Zero means
	// 8 KiB.
	MaxKeyBytes int

	// TagHeader names a response header listing tags for the response, separated by commas
	// or spaces (as Cache-Tag and Surrogate-Key do). Empty means "Cache-Tag".
	TagHeader string

	// KeepTagHeader passes the tag header on to clients; by default it is removed.
	KeepTagHeader bool

	// Ignore, if not nil, reports requests that the cache must neither answer nor store
	// (admin pages, say). It sees the request as the middleware sees it: under
	// http.StripPrefix, without the prefix. See [IgnorePrefix] and [IgnoreMatching].
	Ignore func(r *http.Request) bool

	// SendAge adds an Age header to responses served from the cache: the whole seconds
	// since the response was stored.
	SendAge bool

	// KeyHeaders are request headers that are part of every cache key when a request
	// carries them, whether or not the response varies on them: headers that a proxy or a
	// framework may act on without the response saying so (X-Forwarded-Host in absolute
	// links, X-Forwarded-Proto in redirects, X-HTTP-Method-Override…). A request that sets
	// one to an unusual value gets an entry of its own, so it cannot poison the page served
	// to everybody else. Nil means [DefaultKeyHeaders]; an empty, non-nil slice means none.
	// To add one, list the defaults with it:
	// append(dumper.DefaultKeyHeaders(), "X-Tenant").
	//
	// The rest of the key is what the handler gets of the request itself, byte for byte:
	// the scheme (r.TLS), r.Host as sent (letter case and port included), the
	// request-target as sent (r.RequestURI), and r.URL too when a middleware in front
	// rewrote it. What the key leaves out, a handler must not render from unless its
	// response says so (Vary, private, or [NoStore]): the other headers, the client's
	// address, the protocol version, and the TLS connection's details but for its presence.
	KeyHeaders []string

	// Edge, if not nil, adds to every response the middleware stores the fields an edge
	// cache in front reads (its tags in the edge's spelling, the edge's lifetime), and keeps
	// the edge from storing a response that it could not purge or that was stale on arrival
	// (see [Edge]). Nil means none: responses carry only what the handler set.
	Edge Edge
	// StaleWhileRevalidate and StaleIfError turn soft invalidation on for the route's
	// responses (docs/soft.md): an invalidated response may still be served for this long
	// past its invalidation, while one background render replaces it, and when the handler
	// fails (a 5xx, a panic, a timeout). A response's own Cache-Control
	// stale-while-revalidate and stale-if-error (RFC 5861) set its windows instead. Zero,
	// the default, means none: an invalidated response is never served. Neither may exceed
	// an hour; the directives of a response count as an hour at most. Soft invalidation
	// needs a store that supports it (see [Store]): the memory store and redisstore do.
	StaleWhileRevalidate, StaleIfError time.Duration

	// RevalidateTimeout bounds a background render. Zero means 10 seconds.
	RevalidateTimeout time.Duration

	// RequireDependencies stores a response only if its render recorded something it
	// depends on: a read captured by a data layer (gormdumper, sqldumper, pgxdumper, or
	// [ReadRows], [ReadTable], [Read]) or a tag ([Tag], the tag header). A response that
	// recorded nothing — a handler that queried the database without the request's context
	// (db.Find(…) rather than db.WithContext(r.Context()).Find(…)), or through a data layer
	// the capture does not see — is sent but not stored (Cache-Status detail
	// "no-dependencies"), and logged at Debug: it would otherwise be kept until evicted, with
	// nothing to invalidate it. A page that truly depends on nothing, or only on its path
	// (models' DependentPaths), calls Tag to say so. False, the default, stores such
	// responses as any other.
	RequireDependencies bool
}

// DefaultKeyHeaders returns the [Policy.KeyHeaders] used when a policy names none: the
// headers with which proxies tell a handler the URL the client used, and that common
// handlers and frameworks render from (absolute links, redirects, canonical URLs):
//
//   - the scheme: X-Forwarded-Proto, X-Forwarded-Protocol, X-Forwarded-Scheme,
//     X-Forwarded-Ssl, Front-End-Https, X-Url-Scheme;
//   - the host, port and prefix: Forwarded, X-Forwarded-Host, X-Forwarded-Server, X-Host,
//     X-Original-Host, X-Forwarded-Port, X-Forwarded-Prefix;
//   - the URL: X-Original-Url, X-Rewrite-Url, X-Forwarded-Uri, X-Original-Uri;
//   - the method: X-Http-Method-Override, X-Http-Method, X-Method-Override.
//
// Headers that name the client (X-Forwarded-For, X-Real-Ip, True-Client-Ip) are not
// among them: keyed, they would give every client an entry of its own. Forwarded carries
// for= as well, so behind a proxy that sends it every client gets its own entry; drop it
// from the list when the handler does not read it. Each call returns a new slice.
func DefaultKeyHeaders() []string {
	return []string{
		"X-Forwarded-Proto", "X-Forwarded-Protocol", "X-Forwarded-Scheme", "X-Forwarded-Ssl", "Front-End-Https", "X-Url-Scheme",
		"Forwarded", "X-Forwarded-Host", "X-Forwarded-Server", "X-Host", "X-Original-Host", "X-Forwarded-Port", "X-Forwarded-Prefix",
		"X-Original-Url", "X-Rewrite-Url", "X-Forwarded-Uri", "X-Original-Uri",
		"X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
	}
}

// IgnorePrefix returns a [Policy.Ignore] func that matches requests whose path starts with one
// of prefixes.
func IgnorePrefix(prefixes ...string) func(r *http.Request) bool {
	prefixes = append([]string(nil), prefixes...)
	return func(r *http.Request) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(r.URL.Path, p) {
				return true
			}
		}
		return false
	}
}

// IgnoreMatching returns a [Policy.Ignore] func that matches requests whose path matches re.
func IgnoreMatching(re *regexp.Regexp) func(r *http.Request) bool {
	return func(r *http.Request) bool { return re.MatchString(r.URL.Path) }
}

const (
	defaultMaxBytes     = 64 << 20
	defaultMaxBodyBytes = 2 << 20
	defaultMaxKeyBytes  = 8 << 10
)

// policy is a validated Policy with its defaults filled in.
type policy struct {
	statuses      map[int]time.Duration
	maxAge        time.Duration
	browserCC     []string
	maxBody       int
	maxKey        int
	tagHeader     string
	keepTagHeader bool
	ignore        func(*http.Request) bool
	sendAge       bool
	keyHeaders    *headerSet
	edge          Edge
	soft          softPolicy
	requireDeps   bool
}

// headerSet is a set of canonical header names, with a table of their first bytes to rule
// most names out without a map lookup.
type headerSet struct {
	names map[string]bool
	first [256]bool
}

func (hs *headerSet) has(name string) bool {
	return name != "" && hs.first[name[0]] && hs.names[name]
}

func (p Policy) compile() (*policy, error) {
	c := &policy{
		maxAge:        p.MaxAge,
		maxBody:       p.MaxBodyBytes,
		maxKey:        p.MaxKeyBytes,
		keepTagHeader: p.KeepTagHeader,
		ignore:        p.Ignore,
		sendAge:       p.SendAge,
		edge:          p.Edge,
		requireDeps:   p.RequireDependencies,
	}
	var errs []error
	if p.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("dumper: negative Policy.MaxAge %v", p.MaxAge))
	}
	if p.MaxBodyBytes < 0 || p.MaxKeyBytes < 0 {
		errs = append(errs, errors.New("dumper: negative Policy.MaxBodyBytes or MaxKeyBytes"))
	}
	if c.maxBody == 0 {
		c.maxBody = defaultMaxBodyBytes
	}
	if c.maxKey == 0 {
		c.maxKey = defaultMaxKeyBytes
	}
	if p.Statuses == nil {
		c.statuses = map[int]time.Duration{http.StatusOK: 0}
	} else {
		c.statuses = make(map[int]time.Duration, len(p.Statuses))
		for code, ttl := range p.Statuses {
			switch {
			case code < 200 || code > 599 || code == http.StatusPartialContent || code == http.StatusNotModified:
				errs = append(errs, fmt.Errorf("dumper: status %d cannot be stored", code))
			case ttl < 0:
				errs = append(errs, fmt.Errorf("dumper: negative lifetime %v for status %d", ttl, code))
			}
			c.statuses[code] = ttl
		}
	}
	cc := p.BrowserCacheControl
	if cc == "" {
		cc = "no-cache"
	}
	c.browserCC = []string{cc}
	kh := p.KeyHeaders
	if kh == nil {
		kh = DefaultKeyHeaders()
	}
	c.keyHeaders = &headerSet{names: make(map[string]bool, len(kh))}
	for _, h := range kh {
		h = textproto.CanonicalMIMEHeaderKey(h)
		if h != "" {
			c.keyHeaders.names[h] = true
			c.keyHeaders.first[h[0]] = true
		}
	}
	var err error
	if c.soft, err = p.compileSoft(); err != nil {
		errs = append(errs, err)
	}
	c.tagHeader = textproto.CanonicalMIMEHeaderKey(p.TagHeader)
	if c.tagHeader == "" {
		c.tagHeader = "Cache-Tag"
	}
	return c, errors.Join(errs...)
}

// lifetime is how long a response with status code and s-maxage (negative: none) may be kept.
func (p *policy) lifetime(code int, sMaxAge time.Duration) time.Duration {
	ttl := p.statuses[code]
	if ttl == 0 || (p.maxAge > 0 && p.maxAge < ttl) {
		ttl = p.maxAge
	}
	if sMaxAge > 0 && (ttl == 0 || sMaxAge < ttl) {
		ttl = sMaxAge
	}
	return ttl
}
