package dumper

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Cache stores whole HTTP responses until the data behind them changes. Wrap handlers with
// [Cache.Middleware]; when data changes, call [Cache.InvalidatePaths], [Cache.InvalidateTags]
// or [Cache.Invalidate] (or let an integration such as gormdumper call them).
//
// A Cache is safe for concurrent use. Several may live in one process.
type Cache struct {
	store   Store
	closer  io.Closer // the store New created, if any
	policy  *policy
	name    string
	log     *slog.Logger
	flight  flight
	stats   counters
	explain *explainer // nil unless Options.Explain
	obs     observers
	soft    softState // soft.go

	// headers shares the names and repeating values of the headers of the entries the cache
	// builds; see [Header].
	headers *headerTable

	status statusValues
}

// New returns a cache configured by opts. The zero Options give a 64 MiB memory store.
func New(opts Options) (*Cache, error) {
	p, err := opts.Policy.compile()
	if err != nil {
		return nil, err
	}
	c := &Cache{store: opts.Store, policy: p, name: opts.Name, log: opts.Logger, headers: newHeaderTable()}
	if c.name == "" {
		c.name = "dumper"
	}
	if !isToken(c.name) {
		return nil, errorf("Options.Name %q is not a token (a letter, then letters, digits, !#$%%&'*+-.^_`|~:/)", c.name)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.store == nil {
		if opts.MaxBytes < 0 {
			return nil, errorf("negative Options.MaxBytes %d", opts.MaxBytes)
		}
		m, err := NewMemoryStore(opts.MaxBytes)
		if err != nil {
			return nil, err
		}
		c.store, c.closer = m, m
	}
	if err := c.initSoft(opts); err != nil {
		c.Close()
		return nil, err
	}
	c.status = newStatusValues(c.name)
	c.obs = newObservers(opts.Observers)
	if opts.Explain {
		c.explain = newExplainer()
	}
	return c, nil
}

// Close releases what New created: the default memory store's goroutine. A store passed in
// Options is left to its owner. The cache keeps working, without background upkeep.
func (c *Cache) Close() error {
	if c.closer != nil {
		return c.closer.Close()
	}
	return nil
}

// Middleware caches the responses of next according to the cache's [Options.Policy]. It has
// the signature of a net/http middleware, for a whole site or a single route.
func (c *Cache) Middleware(next http.Handler) http.Handler {
	return &middleware{c: c, p: c.policy, next: next}
}

// MiddlewareWith returns a middleware like [Cache.Middleware] that follows p instead of the
// cache's policy, for routes with other needs; entries and invalidations are shared with the
// rest of the cache. It panics if p is invalid, as a misconfiguration found at start-up.
func (c *Cache) MiddlewareWith(p Policy) func(http.Handler) http.Handler {
	cp, err := p.compile()
	if err != nil {
		panic(err)
	}
	c.notePolicy(cp.soft)
	return func(next http.Handler) http.Handler {
		return &middleware{c: c, p: cp, next: next}
	}
}

// storeError counts and logs a store operation that failed; the request it was for is served
// by the handler.
func (c *Cache) storeError(ctx context.Context, op string, err error) {
	c.stats.errors.Add(1)
	c.log.WarnContext(ctx, "dumper: store "+op+" failed; serving from the handler", "err", err)
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("dumper: "+format, args...)
}

// isToken reports whether s is a token of Structured Fields (RFC 8941 §3.3.4), as a
// Cache-Status cache name must be.
func isToken(s string) bool {
	if s == "" || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z' || s[0] == '*') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0) {
			return false
		}
	}
	return true
}
