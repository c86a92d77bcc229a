package gindumper

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
)

// outerWriter is the writer the dumper middleware gets: gin's writer, which receives the
// response as it goes out (from the cache or from the render), with the gin context the
// middleware's handler needs. http.ResponseController reaches gin's writer through Unwrap.
type outerWriter struct {
	gin.ResponseWriter
	c   *gin.Context
	ran bool // the middleware ran the handlers
}

// Unwrap returns gin's writer.
func (o *outerWriter) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// noWritten is the size of a response whose header has not been written, as gin counts it.
const noWritten = -1

// handlerWriter is the gin.ResponseWriter the handlers write into during a render: it keeps
// gin's semantics (the status is held until the first write or WriteHeaderNow, and may
// change until then; Size counts the body's bytes, -1 before the header) over the writer the
// dumper middleware gives its handler, which captures the response, and keeps that writer's
// Flusher, Hijacker, io.ReaderFrom and Unwrap.
type handlerWriter struct {
	w      http.ResponseWriter // the middleware's writer
	gin    gin.ResponseWriter  // gin's own, for CloseNotify and Pusher
	status int
	size   int
}

var _ gin.ResponseWriter = (*handlerWriter)(nil)

func (hw *handlerWriter) Header() http.Header { return hw.w.Header() }

// WriteHeader sets the status that the first write sends; once the header is written it is
// ignored, as gin ignores it.
func (hw *handlerWriter) WriteHeader(code int) {
	if code > 0 && !hw.Written() {
		hw.status = code
	}
}

func (hw *handlerWriter) WriteHeaderNow() {
	if !hw.Written() {
		hw.size = 0
		hw.w.WriteHeader(hw.status)
	}
}

func (hw *handlerWriter) Write(p []byte) (int, error) {
	hw.WriteHeaderNow()
	n, err := hw.w.Write(p)
	hw.size += n
	return n, err
}

func (hw *handlerWriter) WriteString(s string) (int, error) {
	hw.WriteHeaderNow()
	n, err := io.WriteString(hw.w, s)
	hw.size += n
	return n, err
}

// ReadFrom copies src into the response, through the middleware's writer's ReadFrom (which
// keeps sendfile for a response that streams through).
func (hw *handlerWriter) ReadFrom(src io.Reader) (int64, error) {
	hw.WriteHeaderNow()
	n, err := io.Copy(hw.w, src)
	hw.size += int(n)
	return n, err
}

func (hw *handlerWriter) Status() int   { return hw.status }
func (hw *handlerWriter) Size() int     { return hw.size }
func (hw *handlerWriter) Written() bool { return hw.size != noWritten }

// Flush sends the header and what was written: the response streams, and is not stored.
func (hw *handlerWriter) Flush() {
	hw.WriteHeaderNow()
	_ = http.NewResponseController(hw.w).Flush()
}

// Hijack hands the connection to the handler, as gin's writer does: before any of the body
// was written. Nothing is stored.
func (hw *handlerWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hw.size > 0 {
		return nil, nil, errHijackAfterBody
	}
	conn, rw, err := http.NewResponseController(hw.w).Hijack()
	if err == nil && hw.size < 0 {
		hw.size = 0
	}
	return conn, rw, err
}

var errHijackAfterBody = errors.New("gindumper: response body already written")

// CloseNotify is gin's writer's.
//
// Deprecated: the request's context says when the client is gone.
func (hw *handlerWriter) CloseNotify() <-chan bool { return hw.gin.CloseNotify() }

// Pusher is gin's writer's.
func (hw *handlerWriter) Pusher() http.Pusher { return hw.gin.Pusher() }

// Unwrap returns the middleware's writer, for http.ResponseController.
func (hw *handlerWriter) Unwrap() http.ResponseWriter { return hw.w }
