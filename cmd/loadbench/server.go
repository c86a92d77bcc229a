package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/edge"
	"github.com/dumperhq/dumper/redisstore"
	"github.com/redis/rueidis"
)

// The rows' origins. Each runs in its own process (see runServer).
const (
	rowLimit       = "limit"        // the bytes of a dumper hit, written with no work
	rowBare        = "bare"         // the demo's handler, uncached
	rowMemory      = "memory"       // behind dumper, memory store
	rowRedisStrict = "redis-strict" // behind dumper, Redis store, Strict
	rowRedisLocal  = "redis-local"  // behind dumper, Redis store with the local tier
	rowOrigin      = "origin"       // the demo's handler, uncached, with an xkey header: Varnish's backend

	rowVarnishDriven = "varnish-dumper" // behind dumper (memory store) tagging for and purging the Varnish in front
)

// edgeDelay is the delay of the second purge of the Varnish that dumper drives, and
// edgeBound the bound it states for reads through it: the second purge and the purge's own
// latency, with a margin for a loaded machine; a write waits up to edgeWait for the first.
const (
	edgeWait  = 100 * time.Millisecond
	edgeDelay = 2 * time.Second
	edgeBound = edgeDelay + 250*time.Millisecond
)

// serverInfo is the first line a server process prints on stdout.
type serverInfo struct {
	Addr string `json:"addr"` // the site
	Ctl  string `json:"ctl"`  // the control listener: GET /stats
}

// serverStats is what GET /stats on the control listener answers.
type serverStats struct {
	Cache      dumper.Stats `json:"cache"`
	RoundTrips uint64       `json:"round_trips"` // scripts sent to Redis
	LocalInUse bool         `json:"local_in_use"`
}

// runServer is the server role: it serves one row's origin on a free loopback port until its
// standard input closes (the parent exited) or it gets SIGTERM/SIGINT.
func runServer(row, dir, redisURL, prefix, purgeURL string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { // the parent holds our stdin; EOF means it is gone
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		stop()
	}()

	db, err := icecream.Open(icecream.SQLite(filepath.Join(dir, row+".db")), nil)
	if err != nil {
		return err
	}
	defer icecream.Close(db)
	if err := seed(db); err != nil {
		return fmt.Errorf("seed: %w", err)
	}

	var (
		h     http.Handler
		cache *dumper.Cache
		rs    *redisstore.Store
	)
	switch row {
	case rowBare:
		h = icecream.NewHandler(db, nil)
	case rowOrigin:
		h = xkeyHeader(icecream.NewHandler(db, nil))
	case rowMemory, rowLimit, rowRedisStrict, rowRedisLocal, rowVarnishDriven:
		opts := dumper.Options{}
		if row == rowVarnishDriven {
			e, err := edge.New(edge.Options{Dialect: edge.Varnish, Delay: edgeDelay, Wait: edgeWait,
				Purger: edge.VarnishPurger{URLs: []string{purgeURL}}})
			if err != nil {
				return err
			}
			defer e.Close()
			opts.Policy.Edge = e
			opts.Observers = []dumper.Observer{e.Observer()}
		}
		if row == rowRedisStrict || row == rowRedisLocal {
			rs, err = redisstore.New(redisstore.Options{
				URL: redisURL, Prefix: prefix, Strict: row == rowRedisStrict, MaxAge: 30 * time.Minute,
			})
			if err != nil {
				return err
			}
			defer cleanRedis(redisURL, prefix)
			defer rs.Close()
			opts.Store = rs
		}
		if cache, err = dumper.New(opts); err != nil {
			return err
		}
		defer cache.Close()
		if h, err = icecream.CachedHandler(db, cache, nil, nil); err != nil {
			return err
		}
		if row == rowLimit {
			h = newLimitHandler(h)
			cache = nil
		}
	default:
		return fmt.Errorf("unknown row %q", row)
	}
	if rs != nil && row == rowRedisLocal {
		// The local tier serves only once the subscription is known to be live.
		deadline := time.Now().Add(10 * time.Second)
		for !rs.LocalTierInUse() {
			if time.Now().After(deadline) {
				return errors.New("redis local tier not in use after 10 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctlLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	ctl := http.NewServeMux()
	ctl.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		var st serverStats
		if cache != nil {
			st.Cache = cache.Stats()
		}
		if rs != nil {
			st.RoundTrips = rs.RoundTrips()
			st.LocalInUse = rs.LocalTierInUse()
		}
		_ = json.NewEncoder(w).Encode(st)
	})
	ctlSrv := &http.Server{Handler: ctl, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { _ = ctlSrv.Serve(ctlLn) }()
	info, _ := json.Marshal(serverInfo{Addr: ln.Addr().String(), Ctl: ctlLn.Addr().String()})
	fmt.Println(string(info))

	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ctlSrv.Shutdown(sctx)
	return srv.Shutdown(sctx)
}

// xkeyHeader tags each response with its path as an xkey surrogate key, for Varnish: the keys
// the writer purges are the paths gormdumper invalidates.
func xkeyHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Xkey", r.URL.Path)
		next.ServeHTTP(w, r)
	})
}

// limitHandler writes, for each page and language, the exact response a dumper hit writes
// (headers and body captured from the cached handler at start-up), with no other work than
// finding it in a map.
type limitHandler struct {
	pages map[pageKey]*cannedResponse
}

type pageKey struct{ path, lang string }

type cannedResponse struct {
	header []headerField
	body   []byte
}

type headerField struct {
	key   string
	value []string // capped: an append by a later writer copies it
}

func newLimitHandler(cached http.Handler) *limitHandler {
	l := &limitHandler{pages: make(map[pageKey]*cannedResponse)}
	for _, p := range pages() {
		for _, lang := range langs {
			var rec *httptest.ResponseRecorder
			for range 2 { // a miss that stores, then the hit to copy
				req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+p.path, nil)
				req.Header.Set("Accept-Language", lang)
				rec = httptest.NewRecorder()
				cached.ServeHTTP(rec, req)
			}
			c := &cannedResponse{body: rec.Body.Bytes()}
			for k, vs := range rec.Header() {
				c.header = append(c.header, headerField{k, vs[:len(vs):len(vs)]})
			}
			l.pages[pageKey{p.path, lang}] = c
		}
	}
	return l
}

func (l *limitHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := l.pages[pageKey{r.URL.Path, r.Header.Get("Accept-Language")}]
	if c == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	for _, f := range c.header {
		h[f.key] = f.value
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(c.body)
}

// cleanRedis removes the keys of prefix.
func cleanRedis(url, prefix string) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match("{"+prefix+"}:*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return
		}
		if len(e.Elements) > 0 {
			_ = c.Do(ctx, c.B().Unlink().Key(e.Elements...).Build()).Error()
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}
