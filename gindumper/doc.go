// Package gindumper puts a [dumper.Cache] in front of gin handlers: [Middleware] for the
// whole engine, a group or a route, and [MiddlewareWith] for one with its own
// [dumper.Policy].
//
//	c, err := dumper.New(dumper.Options{})
//	…
//	r := gin.New()
//	r.Use(gin.Recovery(), gindumper.Middleware(c))
//	r.GET("/icecream/:slug", flavor)
//	reports := r.Group("/reports", gindumper.MiddlewareWith(c, dumper.Policy{MaxAge: time.Hour}))
//
// The adapter wraps the net/http middleware ([dumper.Cache.Middleware]) rather than
// reimplementing it, so the guarantees are the same by construction: the key is built from
// the request as gin received it, the storage rules, Cache-Status, ETags and 304s,
// coalescing of concurrent misses, and invalidation by successful unsafe methods. On a hit
// the rest of the chain does not run (the middleware calls c.Abort); on a miss it runs
// within the render:
//
//   - c.Writer is a gin.ResponseWriter with gin's semantics (the status is held until the
//     first write and may change until then; Status, Size, Written) over the writer that
//     captures the response, so c.String, c.JSON, c.Data, c.Status and c.AbortWithStatus are
//     all captured. It keeps Flush (the response then streams through, unstored), Hijack,
//     io.ReaderFrom and Unwrap (http.ResponseController reaches the server's writer).
//   - c.Request is the request the middleware renders: its context carries the render, so
//     dumper.Tag(c.Request.Context(), …), dumper.NoStore, and the capture of gormdumper,
//     sqldumper and pgxdumper given that context count. gin.Context passed as a context
//     carries it only with engine.ContextWithFallback set.
//
// A render in which a handler reported an error (c.Error, c.AbortWithError) is not stored:
// what it wrote is not the page. When it wrote nothing, the status is held in gin's writer as
// usual, so an error middleware in front of the cache can still write the error response.
//
// After the middleware, the handlers in front of it (a logger) see gin's writer with what
// went out, the stored page, a 304, or the rendered response, and the request as it came.
//
// What the key leaves out: values that middleware in front of the cache put in the gin
// context (c.Set) reach the handler but are not part of the key. A handler that renders from
// them (the user an authentication middleware found) calls dumper.NoStore, or its response
// says Vary or private.
//
// gin routes a HEAD request only to routes registered for HEAD (r.Match with GET and HEAD,
// or r.HEAD); it answers the others 404, or 405. Such a HEAD request is not answered from
// the cache, so that it gets gin's answer every time rather than the GET's page on a hit.
// Register HEAD beside GET for the cache to serve both. The 404 and 405 of gin's router go
// through the cache like any other response (stored only when the policy's Statuses say
// so), with gin's body.
//
// Put gin.Recovery in front of the middleware: a handler that panics stores nothing, and
// Recovery's 500 goes out through gin's writer.
package gindumper
