package dumper

import (
	"context"
	"net/http"
	"time"
)

// An Edge tells a cache in front of the application — a CDN, Varnish — how to store the
// responses a middleware stores, so that the same invalidations purge them there: it writes
// the response's tags in the header the edge reads and the edge's own lifetime, apart from
// the browser's. Package edge implements it for Varnish, Fastly, Cloudflare, Akamai and
// Bunny, and purges those edges when the cache invalidates. See [Policy.Edge].
type Edge interface {
	// Header adds to h, the header of a response the cache is about to store under tags
	// (the first is the request path), the fields with which the edge stores it and tags it.
	// It is called once per stored response: the fields are stored with it and sent with
	// every hit. It must not keep tags.
	Header(h http.Header, tags []string)

	// Refuse changes h, the header of one response about to be sent, so that the edge does
	// not store it: a response the cache did not store (it streamed, it is private, it
	// was too large…), which nothing could purge; a render that an invalidation of its
	// tags condemned while it ran (stale on arrival); and a render that took longer than
	// MaxRender. It replaces values rather than modifying them: h shares its slices with
	// the stored entry.
	Refuse(h http.Header)

	// MaxRender is the longest a render may take for the edge to store its response; zero
	// means no bound. An edge purged twice per invalidation, the second time MaxRender
	// after the first, cannot keep a response whose render began before the invalidation.
	MaxRender() time.Duration
}

// edgeWriter is the ResponseWriter a fresh render is sent through when its policy has an
// Edge that must refuse it: it marks the header just before it is written.
type edgeWriter struct {
	http.ResponseWriter
	edge Edge
}

func (w edgeWriter) WriteHeader(code int) {
	w.edge.Refuse(w.Header())
	w.ResponseWriter.WriteHeader(code)
}

// edgeSend returns the writer through which the response just rendered and stored as e (its
// variant keyed by vary) is sent: w itself when the edge may store it, or a writer that
// refuses it to the edge when the render took longer than the edge's MaxRender, or when the
// store no longer holds e as valid — an invalidation of one of its tags since it was born,
// on this instance or, with a shared store, on any, or a store that did not keep it.
func (cw *captureWriter) edgeSend(e *Entry, vary []string) http.ResponseWriter {
	edge := cw.p.edge
	if max := edge.MaxRender(); max > 0 && time.Since(cw.start) > max {
		return edgeWriter{cw.w, edge}
	}
	key := cw.miss.key
	if len(vary) > 0 {
		key = string(appendVariantKey(nil, key, vary, cw.r.Header))
	}
	l, err := cw.c.get(context.WithoutCancel(cw.r.Context()), key)
	if err != nil || l.Entry == nil || l.Entry.Born != e.Born || l.Entry.Stored != e.Stored {
		return edgeWriter{cw.w, edge}
	}
	return cw.w
}
