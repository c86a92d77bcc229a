package dumper

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/textproto"
)

// The modes of a captureWriter.
const (
	buffering = iota // the response may still be stored: hold it
	passing          // it will not be stored: stream it through
	hijacked         // the handler took the connection over
)

// captureWriter is the ResponseWriter a handler renders into on a miss. It buffers the
// response while it may still be stored and switches to streaming it through as soon as it
// may not: an unfit status or header, a body over the limit, a Flush, or a hijack.
type captureWriter struct {
	w  http.ResponseWriter
	p  *policy // the render's policy: a nested middleware of the same cache may replace it
	c  *Cache
	r  *http.Request // the client's request
	rs *renderState
	cc cacheControl // of the response, read at WriteHeader

	born    uint64 // the store's clock before the render
	release func() // wakes requests waiting for this render; nil once called

	fwd, detail string // for Cache-Status
	mode        int
	status      int
	wroteHeader bool
	header      http.Header // the response header as of WriteHeader, when buffering
	buf         []byte
}

func (cw *captureWriter) Header() http.Header { return cw.w.Header() }

func (cw *captureWriter) WriteHeader(code int) {
	if cw.wroteHeader || cw.mode == hijacked {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		cw.w.WriteHeader(code) // informational (103 Early Hints): forward at once
		return
	}
	cw.wroteHeader = true
	cw.status = code
	if cw.mode == passing {
		cw.startPassing()
		return
	}
	h := cw.w.Header()
	canonicalizeKeys(h)
	if detail := cw.c.refuse(cw.r, cw.p, code, h, &cw.cc); detail != "" {
		cw.toPass(detail)
		return
	}
	cw.header = h.Clone()
}

// canonicalizeKeys merges header keys that are not in canonical form ("set-cookie") into
// their canonical key: net/http sends them as written, and the storage rules must see them.
func canonicalizeKeys(h http.Header) {
	for k, vs := range h {
		if ck := textproto.CanonicalMIMEHeaderKey(k); ck != k {
			h[ck] = append(h[ck], vs...)
			delete(h, k)
		}
	}
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if cw.mode == hijacked {
		return 0, http.ErrHijacked
	}
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.mode == passing {
		return cw.w.Write(p)
	}
	if len(cw.buf)+len(p) > cw.p.maxBody {
		cw.toPass("too-large")
		return cw.w.Write(p)
	}
	cw.buf = append(cw.buf, p...)
	return len(p), nil
}

// ReadFrom keeps the underlying writer's ReadFrom (sendfile) for responses streaming
// through.
func (cw *captureWriter) ReadFrom(src io.Reader) (int64, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if rf, ok := cw.w.(io.ReaderFrom); ok && cw.mode == passing {
		return rf.ReadFrom(src)
	}
	return io.Copy(writeOnly{cw}, src)
}

// writeOnly hides a writer's ReadFrom from io.Copy.
type writeOnly struct{ io.Writer }

// toPass gives up storing: the header and what was buffered go out now.
func (cw *captureWriter) toPass(detail string) {
	cw.mode = passing
	cw.detail = detail
	cw.startPassing()
}

func (cw *captureWriter) startPassing() {
	cw.releaseWaiters() // nothing will be stored for them to find: let them render
	h := cw.w.Header()
	if !cw.p.keepTagHeader {
		delete(h, cw.p.tagHeader)
	}
	h["Cache-Status"] = cw.c.cacheStatus(cw.fwd, false, cw.detail)
	cw.w.WriteHeader(cw.status)
	if len(cw.buf) > 0 {
		_, _ = cw.w.Write(cw.buf)
		cw.buf = nil
	}
}

func (cw *captureWriter) releaseWaiters() {
	if cw.release != nil {
		cw.release()
		cw.release = nil
	}
}

// FlushError streams the response: a handler that flushes is sending something live, which
// is not stored.
func (cw *captureWriter) FlushError() error {
	if cw.mode == hijacked {
		return http.ErrHijacked
	}
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.mode == buffering {
		cw.toPass("streamed")
	}
	return http.NewResponseController(cw.w).Flush()
}

// Flush implements http.Flusher; see FlushError.
func (cw *captureWriter) Flush() { _ = cw.FlushError() }

// Hijack hands the connection to the handler; nothing is stored.
func (cw *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(cw.w).Hijack()
	if err == nil {
		cw.mode = hijacked
		cw.releaseWaiters()
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer's deadlines and other
// capabilities.
func (cw *captureWriter) Unwrap() http.ResponseWriter { return cw.w }
