// Package dumper caches whole HTTP responses for as long as the data behind them is
// unchanged, and drops them the moment that data changes.
//
// Wrap a site or a route with [Cache.Middleware]. GET and HEAD responses that a shared cache
// may store are kept until they are invalidated: by path with [Cache.InvalidatePaths] (every
// variant of the path: every query string, every value of the headers the response varies
// on), by tag with [Cache.InvalidateTags] (tags come from [Tag] or a response header), or by
// model with [Cache.Invalidate] (a model declares the paths and tags that depend on it), or
// all at once with [Cache.InvalidateAll]. A successful POST, PUT, PATCH or DELETE invalidates
// its own path. Integrations call these for you: package gormdumper on every GORM write, after
// commit; package purge serves them over HTTP, for operators.
//
// # Never stale
//
// Invalidation uses a logical clock, not wall time. Each invalidation advances the clock and
// stamps the tags it names; each entry carries the clock value read before its response was
// rendered. An entry is served only while none of its tags was stamped after it was born. So
// once an invalidation returns, no request that starts afterwards gets a response whose
// rendering started before it, even one that was still rendering during the invalidation and
// got stored after it. Nothing is indexed by tag, so an invalidation costs the same however
// many variants or entries it drops.
//
// # HTTP
//
// The cache follows the storage rules of a shared cache (RFC 9111): it stores only the
// statuses its [Policy] lists (200 by default), never a response marked no-store, private or
// no-cache, one with Set-Cookie or Vary: *, one to a request with Authorization unless marked
// public or s-maxage, a streamed (flushed or hijacked) one, one over the body limit, or one
// whose handler panicked. Browsers get an ETag and, unless the handler set its own
// Cache-Control, "no-cache": they revalidate every time and get a 304 from the cache while
// nothing changed. Preconditions, Range and only-if-cached are answered from the stored
// response as RFC 9110 and 9111 say (see [Policy]). Entries are keyed by the request as the
// handler gets it: the scheme, the Host and the request-target as sent, and the proxy headers
// of [DefaultKeyHeaders]. Every response says what the cache did in a Cache-Status header
// (RFC 9211). Concurrent misses for one key run the handler once.
//
// # Stores
//
// The default [MemoryStore] is bounded by bytes and evicts by W-TinyLFU. A [Store] is the
// contract for others (a store shared by several instances of a site); package storetest
// checks an implementation.
package dumper
