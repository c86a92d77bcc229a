package gindumper

import (
	"net/http"

	"github.com/dumperhq/dumper"
	"github.com/gin-gonic/gin"
)

// Middleware caches the responses of the handlers after it in the chain according to the
// cache's [dumper.Options.Policy]. Use it for the whole engine (engine.Use) or for a group or
// a route.
func Middleware(c *dumper.Cache) gin.HandlerFunc {
	return adapt(c.Middleware)
}

// MiddlewareWith returns a middleware like [Middleware] that follows p instead of the cache's
// policy, for groups or routes with other needs; entries and invalidations are shared with
// the rest of the cache. It panics if p is invalid, as [dumper.Cache.MiddlewareWith] does.
func MiddlewareWith(c *dumper.Cache, p dumper.Policy) gin.HandlerFunc {
	return adapt(c.MiddlewareWith(p))
}

// adapt turns a dumper middleware into a gin handler. The middleware is built once, around
// a handler that runs the rest of gin's chain: it finds the gin context in the outerWriter
// that the gin handler hands the middleware, which wraps every writer the middleware gives
// its handler (see findOuter).
func adapt(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	h := mw(http.HandlerFunc(serveChain))
	return func(c *gin.Context) {
		if c.Request.Method == http.MethodHead && c.FullPath() == "" {
			// gin routes HEAD only to routes registered for it: this one gets gin's 404 or
			// 405, which the cache must not answer with the GET's stored page on a hit.
			return // gin runs the rest of the chain
		}
		o := &outerWriter{ResponseWriter: c.Writer, c: c}
		req := c.Request
		defer func() {
			// The rest of the chain, and gin.Recovery after a panic, see gin's writer
			// again, which holds what went out, and the request as it came.
			c.Writer = o.ResponseWriter
			c.Request = req
		}()
		h.ServeHTTP(o, req)
		if !o.ran {
			c.Abort() // answered from the cache: the handlers must not run
		}
	}
}

// serveChain is the handler the dumper middleware renders into: it runs the rest of gin's
// chain with the request the middleware passes (its context carries the render, so that
// dumper.Tag and the data layers' capture see it) and a writer over the middleware's.
func serveChain(w http.ResponseWriter, r *http.Request) {
	o := findOuter(w)
	o.ran = true
	c := o.c
	entry := o.ResponseWriter.Status() // gin's router sets 404 or 405 before the chain
	hw := &handlerWriter{w: w, gin: o.ResponseWriter, status: entry, size: noWritten}
	c.Writer = hw
	c.Request = r
	errs := len(c.Errors)
	c.Next()
	if len(c.Errors) > errs {
		// A handler reported an error (c.Error, c.AbortWithError): what it wrote, if
		// anything, is not the page. Nor is the 200 a render that wrote nothing would get,
		// while an error middleware in front may still answer (gin's writer holds the
		// status until the first byte).
		dumper.NoStore(r.Context())
	}
	if !hw.Written() && c.FullPath() == "" && hw.status == entry {
		// gin writes its 404 or 405 body after the chain when nothing was written: write
		// it here, within the render, so the response is whole.
		if body := routerBody(entry); body != "" {
			hw.Header()["Content-Type"] = []string{"text/plain"}
			_, _ = hw.WriteString(body)
		}
	}
	hw.WriteHeaderNow() // a status set without a body (c.Status(204)) goes out now, as gin does
}

// routerBody returns the body gin's router writes, with status code, for a request it could
// not route when the chain wrote nothing; "" for other codes.
func routerBody(code int) string {
	switch code {
	case http.StatusNotFound:
		return "404 page not found"
	case http.StatusMethodNotAllowed:
		return "405 method not allowed"
	}
	return ""
}

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
			panic("gindumper: the dumper middleware's writer does not unwrap to the gin writer")
		}
	}
}
