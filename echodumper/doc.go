// Package echodumper puts a [dumper.Cache] in front of echo (v4) handlers: [Middleware] for
// the whole server, a group or a route, and [MiddlewareWith] for one with its own
// [dumper.Policy].
//
//	c, err := dumper.New(dumper.Options{})
//	…
//	e := echo.New()
//	e.Use(middleware.Recover(), echodumper.Middleware(c))
//	e.GET("/icecream/:slug", flavor)
//	reports := e.Group("/reports", echodumper.MiddlewareWith(c, dumper.Policy{MaxAge: time.Hour}))
//
// The adapter wraps the net/http middleware ([dumper.Cache.Middleware]) rather than
// reimplementing it, so the guarantees are the same by construction: the key is built from
// the request as echo received it, the storage rules, Cache-Status, ETags and 304s,
// coalescing of concurrent misses, and invalidation by successful unsafe methods. On a hit
// the handlers after it do not run; on a miss they run within the render:
//
//   - c.Response() is a Response of its own over the writer that captures the response, so
//     c.String, c.JSON, c.Blob, c.NoContent and writes to it are all captured; it keeps
//     Flush (the response then streams through, unstored), Hijack and Unwrap
//     (http.ResponseController reaches the server's writer). Before and After hooks the
//     handler registers run on its writes, and what they add is stored; hooks registered in
//     front of the cache run on every response that goes out, hits included.
//   - An error the handlers return goes to echo's error handler (c.Error) within the render,
//     so the error response is the one the cache judges and sends: a 404 is stored, as a
//     404, only when the policy's Statuses say so, and a 5xx only if they list it (the
//     default stores 200s alone). The router's 404 and 405 are such errors. An error
//     returned after the handler started its response is not stored: what it wrote is not
//     the page, and the error handler cannot replace it. The middleware then returns the
//     error, as echo's logger middleware does, for the middleware in front to see; the error
//     handler must skip a committed response, as echo's default does.
//   - c.Request() is the request the middleware renders: its context carries the render, so
//     dumper.Tag(c.Request().Context(), …), dumper.NoStore, and the capture of gormdumper,
//     sqldumper and pgxdumper given that context count.
//
// After the middleware, the middleware in front of it (a logger) sees echo's Response with
// what went out (Committed, Status, Size of the stored page, a 304, or the rendered
// response) and the request as it came.
//
// What the key leaves out: values that middleware in front of the cache put in the echo
// context (c.Set) reach the handler but are not part of the key. A handler that renders from
// them (the user an authentication middleware found) calls dumper.NoStore, or its response
// says Vary or private.
//
// echo routes a HEAD request only to routes registered for HEAD (e.Match with GET and HEAD,
// or e.HEAD) and answers the others 405. Such a HEAD request is not answered from the cache,
// so that it gets echo's answer every time rather than the GET's page on a hit. Register
// HEAD beside GET for the cache to serve both.
//
// Put middleware.Recover in front of the middleware: a handler that panics stores nothing,
// and Recover's 500 goes out through echo's Response.
//
// This package is for echo v4 (github.com/labstack/echo/v4), which most echo code imports.
package echodumper
