package echov5dumper

import (
	"net/http"

	"github.com/dumperhq/dumper"
	"github.com/labstack/echo/v5"
)

// Middleware caches the responses of the handlers after it according to the cache's
// [dumper.Options.Policy]. Use it for the whole server (e.Use), a group (g.Use) or a route
// (the middleware argument of e.GET).
func Middleware(c *dumper.Cache) echo.MiddlewareFunc {
	return adapt(c.Middleware)
}

// MiddlewareWith returns a middleware like [Middleware] that follows p instead of the cache's
// policy, for groups or routes with other needs; entries and invalidations are shared with
// the rest of the cache. It panics if p is invalid, as [dumper.Cache.MiddlewareWith] does.
func MiddlewareWith(c *dumper.Cache, p dumper.Policy) echo.MiddlewareFunc {
	return adapt(c.MiddlewareWith(p))
}

// adapt turns a dumper middleware into an echo middleware. The dumper middleware is built
// once, around a handler that runs the rest of echo's chain: it finds the echo context and
// the next handler in the outerWriter the echo middleware hands the dumper middleware, which
// every writer the dumper middleware gives its handler wraps (see findOuter).
func adapt(mw func(http.Handler) http.Handler) echo.MiddlewareFunc {
	h := mw(http.HandlerFunc(serveChain))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			req, res := c.Request(), c.Response()
			if req.Method == http.MethodHead && c.Get(echo.ContextKeyHeaderAllow) != nil {
				// echo routes HEAD only to routes registered for it: this one gets echo's
				// 405, which the cache must not answer with the GET's stored page on a hit.
				return next(c)
			}
			o := &outerWriter{res: res, c: c, next: next}
			defer func() {
				// What runs after, and a recovering middleware after a panic, see echo's
				// Response again, which holds what went out, and the request as it came.
				c.SetResponse(res)
				c.SetRequest(req)
			}()
			h.ServeHTTP(o, req)
			return o.err
		}
	}
}

// serveChain is the handler the dumper middleware renders into: it runs the rest of echo's
// chain with the request the middleware passes (its context carries the render, so that
// dumper.Tag and the data layers' capture see it) and an *echo.Response over the
// middleware's writer. An error the chain returns is handed to echo's error handler here,
// within the render, so that the error response is what the cache sees, judges and sends.
func serveChain(w http.ResponseWriter, r *http.Request) {
	o := findOuter(w)
	c := o.c
	c.SetRequest(r)
	res := echo.NewResponse(w, c.Logger())
	c.SetResponse(res)
	err := o.next(c)
	o.err = err
	if err == nil || c.Get(handledKey) != nil {
		return // no error, or one an adapter nested inside (a group's) handled in the render
	}
	if res.Committed {
		// The error came after the response started: what was written is not the page,
		// and the error handler cannot replace it.
		dumper.NoStore(r.Context())
	}
	c.Echo().HTTPErrorHandler(c, err)
	c.Set(handledKey, true)
}

// handledKey marks, in the echo context, that an adapter handed the chain's error to the error
// handler within its render.
const handledKey = "github.com/dumperhq/dumper/echov5dumper.handled"

// findOuter returns the outerWriter beneath w: w itself when the middleware passes its writer
// on (a bypass), or the writer that the middleware's own writers unwrap to.
func findOuter(w http.ResponseWriter) *outerWriter {
	for {
		switch x := w.(type) {
		case *outerWriter:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			panic("echov5dumper: the dumper middleware's writer does not unwrap to echo's Response")
		}
	}
}

// outerWriter is the writer the dumper middleware gets: echo's response writer (an
// *echo.Response), which receives the response as it goes out (from the cache or from the
// render), with what the middleware's handler needs to run the chain.
// http.ResponseController reaches it, and through it the server's writer, with Unwrap.
type outerWriter struct {
	res  http.ResponseWriter
	c    *echo.Context
	next echo.HandlerFunc
	err  error // what the chain returned
}

func (o *outerWriter) Header() http.Header         { return o.res.Header() }
func (o *outerWriter) Write(p []byte) (int, error) { return o.res.Write(p) }
func (o *outerWriter) WriteHeader(code int)        { o.res.WriteHeader(code) }

// Unwrap returns echo's response writer.
func (o *outerWriter) Unwrap() http.ResponseWriter { return o.res }
