package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// conn is a minimal HTTP/1.1 client connection: it writes prebuilt requests and parses just
// what the benchmark needs from the responses (status, Content-Length or chunked body,
// Cache-Status, X-Varnish), so that the load generator spends far less CPU per request than
// the servers it measures.
type conn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	body []byte
}

// response is what conn.do reads.
type response struct {
	status int
	hit    bool   // Cache-Status "…; hit", or X-Varnish with two transaction ids
	body   []byte // valid until the next do
}

func dial(addr string) (*conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{addr: addr, c: c, br: bufio.NewReaderSize(c, 64<<10), body: make([]byte, 0, 64<<10)}, nil
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// do sends req and reads the response, reconnecting first if the connection was closed.
func (c *conn) do(req []byte) (response, error) {
	if c.c == nil {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			return response{}, err
		}
		c.c = nc
		c.br.Reset(nc)
	}
	if _, err := c.c.Write(req); err != nil {
		c.close()
		return response{}, err
	}
	r, keep, err := c.read()
	if err != nil || !keep {
		c.close()
	}
	return r, err
}

var (
	hdrContentLength = []byte("content-length:")
	hdrTransferEnc   = []byte("transfer-encoding:")
	hdrCacheStatus   = []byte("cache-status:")
	hdrXVarnish      = []byte("x-varnish:")
	hdrConnection    = []byte("connection:")
)

func hasPrefixFold(line, prefix []byte) bool {
	return len(line) >= len(prefix) && bytes.EqualFold(line[:len(prefix)], prefix)
}

func (c *conn) read() (r response, keep bool, err error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return r, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return r, false, fmt.Errorf("bad status line %q", line)
	}
	if r.status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return r, false, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, keep := -1, false, true
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return r, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		switch {
		case hasPrefixFold(line, hdrContentLength):
			if length, err = strconv.Atoi(string(bytes.TrimSpace(line[len(hdrContentLength):]))); err != nil {
				return r, false, err
			}
		case hasPrefixFold(line, hdrTransferEnc):
			chunked = bytes.Contains(bytes.ToLower(line), []byte("chunked"))
		case hasPrefixFold(line, hdrCacheStatus):
			r.hit = bytes.HasSuffix(bytes.TrimSpace(line), []byte("; hit"))
		case hasPrefixFold(line, hdrXVarnish):
			r.hit = bytes.IndexByte(bytes.TrimSpace(line[len(hdrXVarnish):]), ' ') > 0
		case hasPrefixFold(line, hdrConnection):
			keep = !bytes.Contains(bytes.ToLower(line), []byte("close"))
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		for {
			line, err = c.br.ReadSlice('\n')
			if err != nil {
				return r, false, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(line, []byte(";"), 2)[0])), 16, 64)
			if err != nil {
				return r, false, err
			}
			if n == 0 {
				for { // trailers, then the blank line
					line, err = c.br.ReadSlice('\n')
					if err != nil {
						return r, false, err
					}
					if len(bytes.TrimRight(line, "\r\n")) == 0 {
						break
					}
				}
				break
			}
			if c.body, err = readN(c.br, c.body, int(n)); err != nil {
				return r, false, err
			}
			if _, err = c.br.Discard(2); err != nil {
				return r, false, err
			}
		}
	case length >= 0:
		if c.body, err = readN(c.br, c.body, length); err != nil {
			return r, false, err
		}
	default:
		return r, false, errors.New("response without Content-Length")
	}
	r.body = c.body
	return r, keep, nil
}

func readN(br *bufio.Reader, dst []byte, n int) ([]byte, error) {
	l := len(dst)
	if cap(dst)-l < n {
		dst = append(dst, make([]byte, n)...)[:l]
	}
	dst = dst[:l+n]
	_, err := io.ReadFull(br, dst[l:])
	return dst, err
}

// getRequest is the bytes of a GET for path in lang.
func getRequest(path, lang string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: dumper-bench\r\nAccept: text/html\r\nAccept-Language: " + lang + "\r\n\r\n")
}

// versions is the writer's record of the flavors' names over time, for the staleness check.
// Writes are numbered in the order they completed; a request that starts when seq is s must
// see, for every flavor on its page, at least the version of that flavor's last write
// numbered s or less.
type versions struct {
	seq     atomic.Uint64
	mu      sync.RWMutex
	history [nFlavors][]writeRecord
}

type writeRecord struct {
	seq     uint64
	version int
	at      time.Time // when the write completed
}

// completed records that the write setting flavor i to version v has completed.
func (vs *versions) completed(i, v int) {
	vs.mu.Lock()
	s := vs.seq.Load() + 1
	vs.history[i] = append(vs.history[i], writeRecord{s, v, time.Now()})
	vs.seq.Store(s)
	vs.mu.Unlock()
}

// required returns the newest write of flavor i as of write number s (version 0 if none).
func (vs *versions) required(i int, s uint64) writeRecord {
	vs.mu.RLock()
	defer vs.mu.RUnlock()
	h := vs.history[i]
	for k := len(h) - 1; k >= 0; k-- {
		if h[k].seq <= s {
			return h[k]
		}
	}
	return writeRecord{}
}

var flavorMarker = []byte("Flavor ")

// check reports whether body shows a flavor at a version older than required as of write s
// (and then, in missed, the completion time of the newest write it missed), and whether it
// is in the wrong language. Each flavor name is "Flavor NNN vV".
func (vs *versions) check(body []byte, s uint64, lang string) (stale, wrongLang bool, missed time.Time) {
	head := body[:min(len(body), 64)]
	wrongLang = !bytes.Contains(head, []byte(`lang="`+lang+`"`))
	if s == 0 {
		return false, wrongLang, missed // nothing written yet
	}
	for {
		k := bytes.Index(body, flavorMarker)
		if k < 0 {
			return stale, wrongLang, missed
		}
		body = body[k+len(flavorMarker):]
		if len(body) < 6 || body[3] != ' ' || body[4] != 'v' {
			continue
		}
		i := int(body[0]-'0')*100 + int(body[1]-'0')*10 + int(body[2]-'0')
		v, n := 0, 5
		for n < len(body) && body[n] >= '0' && body[n] <= '9' {
			v = v*10 + int(body[n]-'0')
			n++
		}
		if i >= 0 && i < nFlavors {
			if w := vs.required(i, s); v < w.version {
				stale = true
				if missed.IsZero() || w.at.Before(missed) {
					missed = w.at
				}
			}
		}
		body = body[n:]
	}
}
