// Package redisstore is a [dumper.Store] in Redis (7 or later, or Valkey), for a site that
// runs on several instances: they share entries, and every instance respects every
// invalidation.
//
// Validity is decided inside Redis by Lua scripts, each one round trip: a hit is one script
// call, a miss and store two, an invalidation one (advance the clock, stamp the tags, publish
// them). There is no index of keys by tag for instances to race on. See [Options] for the
// local tier, which serves hot entries from process memory, and for what happens when Redis
// is down or slow.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/memstore"
	"github.com/redis/rueidis"
)

// Options configure a [Store]. Either Client or URL must be set.
type Options struct {
	// Client is the Redis client to use; the caller keeps ownership. If nil, New connects
	// to URL and Close disconnects.
	Client rueidis.Client
	// URL is a redis:// or rediss:// URL, used when Client is nil.
	URL string

	// Prefix starts every key and the channel, so that several caches can share a Redis.
	// Empty means "dumper". It must not contain braces.
	Prefix string

	// MaxAge bounds how long an entry lives in Redis, so that memory stays bounded (run
	// Redis with maxmemory and an LRU policy as well). Zero means 24 hours.
	MaxAge time.Duration

	// Timeout bounds each operation. A request whose lookup times out or fails is served by
	// the handler (fail open) and the error is logged and counted. Zero means 50 ms.
	Timeout time.Duration

	// Strict turns the local tier off: every lookup asks Redis, so an invalidation made
	// through any instance is respected by every request that starts after it returned.
	//
	// With the local tier (the default), entries read from Redis are kept in process memory
	// and served from there without a round trip; invalidations reach them through Redis
	// pub/sub. A local copy outlives an invalidation made through another instance by the
	// time the message takes to arrive (docs/redis.md has measurements), and never by more
	// than the lease, twice Heartbeat (1 s by default), however the link to Redis fails: the tier serves only while a heartbeat it
	// sent less than a lease ago has come back through the channel, which proves that every
	// invalidation published before that heartbeat has arrived. When the subscription is
	// lost or the lease runs out, the tier is emptied and bypassed until it is back.
	// Invalidations made through this instance reach its own local tier before Invalidate
	// returns.
	//
	// Anything published on the channel ({Prefix}:inv) that is not this package's is ignored,
	// and so is a heartbeat this process did not send (heartbeats are authenticated with a
	// key it never publishes). A message that looks like an invalidation but cannot be read,
	// or whose clock is more than an hour ahead of both Redis's and this machine's, empties
	// the tier, which is
	// bypassed until a heartbeat sent after it has come back: about one round trip. Each time
	// the tier stops serving is logged at Warn with its reason and counted in Stats
	// (LocalTierOff, by reason), as are such messages (ChannelForeign, ChannelUnreadable).
	Strict bool

	// LocalBytes bounds the local tier, and apart from it the copies it keeps of entries
	// that allow stale-if-error, for when Redis is unreachable (docs/soft.md). Zero means
	// 32 MiB.
	LocalBytes int64

	// Heartbeat is how often the subscription is checked. The local tier serves for at most
	// twice Heartbeat (its lease) after sending the last heartbeat that came back, so that is
	// the longest a local copy can outlive an invalidation made elsewhere. Zero means 500 ms.
	Heartbeat time.Duration

	// Logger receives errors and recoveries, and a Warn each time the local tier stops
	// serving, with its reason. Nil means no logging.
	Logger *slog.Logger
}

// Store is a [dumper.Store] in Redis. It is safe for concurrent use.
type Store struct {
	// client is nil until New's URL could be dialled (see connect).
	client    atomic.Pointer[rueidis.Client]
	connected chan struct{} // closed once client is set
	owned     bool
	log       *slog.Logger
	timeout   time.Duration
	maxAge    time.Duration
	stampTTL  string // ms

	clockKey, tagPrefix, entryPrefix, channel string
	recordPrefix                              string // records.go
	softPrefix, leasePrefix                   string // soft.go

	// records keeps variant records (which headers a URL's responses vary on) in memory, so
	// that a hit on a varied page is one round trip. A record only chooses which key to look
	// up; whatever is served is validated by Redis (or by the local tier's rules).
	records *memstore.Store[*dumper.Entry]

	local *localTier // nil in strict mode

	pending pendingInvalidations

	errors, roundTrips atomic.Uint64

	// lastNow is the highest clock value seen, the Now of lookups answered in memory: a value
	// the clock had before the lookup, as the Store contract asks.
	lastNow atomic.Uint64

	stop context.CancelFunc
	wg   sync.WaitGroup
}

const (
	defaultMaxAge    = 24 * time.Hour
	defaultTimeout   = 50 * time.Millisecond
	defaultLocal     = 32 << 20
	defaultHeartbeat = 500 * time.Millisecond
	// stampMargin keeps a stamp alive past the last entry that relies on it by more than a
	// render can take.
	stampMargin = time.Hour
)

// New returns a store configured by o. It connects to Redis but does not require it to be
// up: if the first connection fails, New still returns the store and keeps trying in the
// background; until it has connected, lookups and stores fail (the cache serves from the
// handler) and invalidations are held as while Redis is down.
func New(o Options) (*Store, error) {
	if o.Prefix == "" {
		o.Prefix = "dumper"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: Prefix %q contains a brace", o.Prefix)
	}
	if o.MaxAge < 0 || o.Timeout < 0 || o.LocalBytes < 0 || o.Heartbeat < 0 {
		return nil, errors.New("redisstore: negative MaxAge, Timeout, LocalBytes or Heartbeat")
	}
	s := &Store{
		connected: make(chan struct{}),
		log:       o.Logger,
		timeout:   cmp(o.Timeout, defaultTimeout),
		maxAge:    cmp(o.MaxAge, defaultMaxAge),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.stampTTL = strconv.FormatInt((s.maxAge + stampMargin).Milliseconds(), 10)
	slot := "{" + o.Prefix + "}"
	s.clockKey = slot + ":clock"
	s.tagPrefix = slot + ":t:"
	s.entryPrefix = slot + ":e:"
	s.channel = slot + ":inv"
	s.recordPrefix = slot + ":r:"
	s.softPrefix = slot + ":p:"
	s.leasePrefix = slot + ":l:"
	var co rueidis.ClientOption
	if o.Client == nil {
		if o.URL == "" {
			return nil, errors.New("redisstore: Options.Client or Options.URL is required")
		}
		var err error
		if co, err = rueidis.ParseURL(o.URL); err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		co.DisableCache = true
		co.ConnWriteTimeout = max(s.timeout*4, time.Second)
		co.Dialer.Timeout = max(s.timeout*4, time.Second)
		s.owned = true
	}
	var err error
	// Records are kept whatever their tags: a record only chooses the key looked up next
	// (see dumper.Store).
	s.records, err = memstore.New(memstore.Options[*dumper.Entry]{
		MaxBytes: 4 << 20,
		MaxTags:  1024,
		Weigh:    weigh,
		Stamp:    func(*dumper.Entry) ([]string, uint64) { return nil, 0 },
	})
	if err != nil {
		return nil, err
	}
	if !o.Strict {
		if s.local, err = newLocalTier(cmp(o.LocalBytes, defaultLocal), cmp(o.Heartbeat, defaultHeartbeat), &s.lastNow, s.log); err != nil {
			s.records.Close()
			return nil, err
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.pending.wake = make(chan struct{}, 1)
	switch {
	case o.Client != nil:
		s.setClient(o.Client)
	default:
		// rueidis dials when the client is made. If Redis is down, keep trying in the
		// background: an instance restarted during an outage must come up all the same.
		c, err := rueidis.NewClient(co)
		if err == nil {
			s.setClient(c)
		} else {
			s.log.Error("redisstore: cannot connect; retrying in the background", "err", err)
			s.wg.Go(func() { s.connect(ctx, co) })
		}
	}
	if s.local != nil {
		s.wg.Go(func() { s.subscribe(ctx) })
	}
	s.wg.Go(func() { s.retryPending(ctx) })
	return s, nil
}

// errNotConnected fails operations until New's first connection to Redis succeeds.
var errNotConnected = errors.New("not connected to Redis yet")

func (s *Store) setClient(c rueidis.Client) {
	s.client.Store(&c)
	close(s.connected)
}

// conn returns the client, or errNotConnected.
func (s *Store) conn() (rueidis.Client, error) {
	if c := s.client.Load(); c != nil {
		return *c, nil
	}
	return nil, errNotConnected
}

// connect makes the client with backoff until it succeeds or ctx is done, then applies the
// invalidations made meanwhile.
func (s *Store) connect(ctx context.Context, co rueidis.ClientOption) {
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		c, err := rueidis.NewClient(co)
		if err != nil {
			s.log.Error("redisstore: cannot connect", "err", err)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		s.setClient(c)
		s.log.Info("redisstore: connected")
		s.pending.signal()
		return
	}
}

func cmp[T int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Close stops the store's goroutines and, if New connected, disconnects. If invalidations
// made while Redis was unreachable are still pending, Close tries once more to apply them
// (for at most four times Timeout); if that fails too, it logs their tags at Error level and
// returns an error: they are lost, and other instances may serve the entries they condemned
// until those expire (MaxAge at most).
func (s *Store) Close() error {
	s.stop()
	s.wg.Wait()
	var err error
	if s.pending.any.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout*4)
		if err = s.flushPending(ctx); err != nil {
			s.pending.mu.Lock()
			tags := slices.Sorted(maps.Keys(s.pending.tags))
			all := s.pending.overflow
			s.pending.mu.Unlock()
			s.log.Error("redisstore: closing with invalidations that never reached Redis; other instances may serve the entries they condemn until these expire",
				"tags", tags, "all", all, "err", err)
			err = fmt.Errorf("redisstore: pending invalidations lost on Close: %w", err)
		}
		cancel()
	}
	s.records.Close()
	if s.local != nil {
		s.local.mem.Close()
		s.local.spare.Close()
	}
	if c, _ := s.conn(); c != nil && s.owned {
		c.Close()
	}
	return err
}

// Get implements [dumper.Store].
func (s *Store) Get(ctx context.Context, key string) (dumper.Lookup, error) {
	if err := s.applyPending(ctx); err != nil {
		return dumper.Lookup{}, err
	}
	if rec, ok, _, _ := s.records.Get(key); ok {
		return dumper.Lookup{Entry: rec, Now: s.lastNow.Load()}, nil
	}
	gen, useLocal := s.local.generation()
	if useLocal {
		if e, ok, _, _ := s.local.mem.Get(key); ok {
			return dumper.Lookup{Entry: e, Now: s.lastNow.Load()}, nil
		}
	}
	client, err := s.conn()
	if err != nil {
		return s.unreachable(key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.roundTrips.Add(1)
	vals, err := getLua.Exec(ctx, client, []string{s.clockKey, s.entryPrefix + key}, []string{s.tagPrefix, s.channel, s.softPrefix}).ToArray()
	if err != nil {
		return s.unreachable(key, err)
	}
	if len(vals) < 2 {
		return dumper.Lookup{}, s.fail("get", fmt.Errorf("unexpected reply of %d values", len(vals)))
	}
	now, err1 := vals[0].ToString()
	state, err2 := vals[1].AsInt64()
	if err := errors.Join(err1, err2); err != nil {
		return dumper.Lookup{}, s.fail("get", err)
	}
	l := dumper.Lookup{}
	if l.Now, err = strconv.ParseUint(now, 10, 64); err != nil {
		return dumper.Lookup{}, s.fail("get", err)
	}
	s.observe(l.Now)
	switch {
	case state == 1:
		l.Stale = true
		return l, nil
	case state == 3 && len(vals) > 4:
		// Within its soft window: returned stale, and not kept in the local tier, which
		// serves only what is valid.
		age, err := vals[4].ToString()
		if err != nil {
			return dumper.Lookup{}, s.fail("get", err)
		}
		us, err := strconv.ParseInt(age, 10, 64)
		if err != nil {
			return dumper.Lookup{}, s.fail("get", err)
		}
		l.Stale, l.StaleFor, useLocal = true, time.Duration(us)*time.Microsecond, false
	case state != 2 || len(vals) < 3:
		return l, nil
	}
	raw, err := vals[2].ToString()
	if err != nil {
		return dumper.Lookup{}, s.fail("get", err)
	}
	e := new(dumper.Entry)
	if err := e.UnmarshalBinary([]byte(raw)); err != nil {
		// Not ours or from another version: a miss, which the next store overwrites.
		s.log.WarnContext(ctx, "redisstore: undecodable entry treated as a miss", "key", key, "err", err)
		return l, nil
	}
	l.Entry = e
	if e.Kind == dumper.VariantRecord {
		s.records.Set(key, e, 0)
	} else if useLocal {
		// Keep it for the lifetime it has left in Redis. Every entry has one (-1, none, is
		// not ours); under a millisecond left (0) is not worth keeping, and 0 would mean
		// forever to the local tier.
		if len(vals) > 3 {
			if ms, err := vals[3].AsInt64(); err == nil && ms > 0 {
				s.local.put(gen, key, e, time.Duration(ms)*time.Millisecond)
			}
		}
	}
	return l, nil
}

// unreachable fails a Get that could not reach Redis, returning with the error the local
// tier's copy of the entry if it kept one within its stale-if-error window (see
// [dumper.Store]): stale for the time since the tier last heard of every invalidation, by
// this machine's monotonic clock, since Redis's is out of reach. A store with invalidations
// of its own still pending returns none: they may condemn it.
func (s *Store) unreachable(key string, err error) (dumper.Lookup, error) {
	err = s.fail("get", err)
	if s.pending.any.Load() {
		return dumper.Lookup{}, err
	}
	if e, age, ok := s.local.spareCopy(key); ok {
		return dumper.Lookup{Entry: e, Stale: true, StaleFor: age}, err
	}
	return dumper.Lookup{}, err
}

// Set implements [dumper.Store]. Entries that share born and tags (a variant record and its
// variant) go in one script call.
func (s *Store) Set(ctx context.Context, ttl time.Duration, items ...dumper.Item) error {
	if len(items) == 0 {
		return nil
	}
	if err := s.applyPending(ctx); err != nil {
		return err
	}
	if ttl <= 0 || ttl > s.maxAge {
		ttl = s.maxAge
	}
	ms := strconv.FormatInt(max(ttl.Milliseconds(), 1), 10)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var errs []error
	for len(items) > 0 {
		first := items[0].Entry
		n := 1
		for n < len(items) && items[n].Entry.Born == first.Born && slices.Equal(items[n].Entry.Tags, first.Tags) && softWindow(items[n].Entry) == softWindow(first) {
			n++
		}
		if err := s.set(ctx, ms, items[:n]); err != nil {
			errs = append(errs, err)
		}
		items = items[n:]
	}
	return errors.Join(errs...)
}

func (s *Store) set(ctx context.Context, ttlMS string, items []dumper.Item) error {
	e := items[0].Entry
	for _, t := range e.Tags {
		if t == "" || strings.ContainsAny(t, "\n") {
			return fmt.Errorf("redisstore: tag %q is empty or holds a newline", t)
		}
	}
	keys := make([]string, 1, len(items)+1)
	keys[0] = s.clockKey
	args := []string{s.tagPrefix, strconv.FormatUint(e.Born, 10), ttlMS, s.stampTTL, strings.Join(e.Tags, "\n"), s.channel,
		strconv.FormatInt(softWindow(e).Milliseconds(), 10)}
	for _, it := range items {
		b, err := it.Entry.MarshalBinary()
		if err != nil {
			return err
		}
		keys = append(keys, s.entryPrefix+it.Key)
		args = append(args, string(b))
		if it.Entry.Kind == dumper.VariantRecord {
			s.records.Set(it.Key, it.Entry, 0)
		} else {
			s.records.Remove(it.Key)
		}
		if s.local != nil {
			s.local.mem.Remove(it.Key)
			s.local.spare.Remove(it.Key)
		}
	}
	client, err := s.conn()
	if err != nil {
		return s.fail("set", err)
	}
	s.roundTrips.Add(1)
	if err := setLua.Exec(ctx, client, keys, args).Error(); err != nil {
		return s.fail("set", err)
	}
	return nil
}

// Invalidate implements [dumper.Store]. If Redis cannot be reached, the tags are kept and
// retried in the background, and until they have been applied this instance serves nothing
// from the cache; the error is returned all the same, since other instances may serve the
// condemned entries until then.
func (s *Store) Invalidate(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	// A tag that is empty or holds a newline cannot be in the invalidation's message; no
	// entry carries one either (Set refuses them), so the others are invalidated all the
	// same and the bad ones reported.
	var bad error
	if slices.ContainsFunc(tags, badTag) {
		for _, t := range tags {
			if badTag(t) {
				bad = errors.Join(bad, fmt.Errorf("redisstore: tag %q is empty or holds a newline", t))
			}
		}
		tags = slices.DeleteFunc(slices.Clone(tags), badTag)
		if len(tags) == 0 {
			return bad
		}
	}
	if err := s.flushPending(ctx); err != nil {
		s.pending.add(tags)
		s.pending.signal()
		return errors.Join(bad, err)
	}
	if err := s.invalidate(ctx, tags); err != nil {
		s.pending.add(tags)
		s.pending.signal()
		return errors.Join(bad, err)
	}
	return bad
}

// InvalidateAll implements [dumper.AllInvalidator]: one script moves the clock and the floor
// to a new value, condemning every entry born before, and publishes the floor, so that local
// tiers forget their older entries too. Condemned entries stay in Redis until they are read
// (which deletes them) or expire. If Redis cannot be reached, the floor is moved in the
// background once it can, and until then this instance serves nothing from the cache, as
// for [Store.Invalidate].
func (s *Store) InvalidateAll(ctx context.Context) error {
	if err := s.flushPending(ctx); err != nil {
		s.pending.add(nil)
		s.pending.signal()
		return err
	}
	if err := s.invalidate(ctx, nil); err != nil {
		s.pending.add(nil)
		s.pending.signal()
		return err
	}
	return nil
}

// badTag reports whether t cannot be a tag of this store: empty, or holding a newline (the
// separator of the scripts' arguments and messages).
func badTag(t string) bool { return t == "" || strings.Contains(t, "\n") }

// invalidate runs the invalidation script; with no tags it moves the floor.
func (s *Store) invalidate(ctx context.Context, tags []string) error {
	client, err := s.conn()
	if err != nil {
		return s.fail("invalidate", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	args := append([]string{s.tagPrefix, s.stampTTL, s.channel, s.softPrefix}, tags...)
	s.roundTrips.Add(1)
	now, err := invalidateLua.Exec(ctx, client, []string{s.clockKey}, args).ToString()
	if err != nil {
		return s.fail("invalidate", err)
	}
	c, err := strconv.ParseUint(now, 10, 64)
	if err != nil {
		return s.fail("invalidate", err)
	}
	s.observe(c)
	// Our own invalidations reach our local tier before we return, whatever the channel does.
	s.local.apply(tags, c)
	return nil
}

func (s *Store) fail(op string, err error) error {
	s.errors.Add(1)
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// Stats reports the local tier's figures: what it holds, how many times it stopped serving
// and why, and the messages on the channel it could not use. In strict mode, all are zero.
//
// LocalTierOff has one key per reason, each present from the start:
//
//   - "subscription-lost": the subscription's connection failed, or Redis ended it;
//   - "lease-lapsed": no heartbeat came back within the lease (a stalled link or a slow
//     Redis);
//   - "unreadable-message": a message shaped like an invalidation could not be read;
//   - "subscribe-failed": SUBSCRIBE failed after Redis had confirmed it.
//
// A reason is counted when the tier was serving; a failure while it is already off is only
// logged.
func (s *Store) Stats() dumper.StoreStats {
	lt := s.local
	if lt == nil {
		return dumper.StoreStats{}
	}
	lt.mem.Settle()
	return dumper.StoreStats{
		Entries: int64(lt.mem.Len()), Bytes: lt.mem.Bytes(), Evictions: lt.mem.Evictions(),
		LocalTierOff: lt.offCounts(), ChannelUnreadable: lt.unreadable.Load(), ChannelForeign: lt.foreign.Load(),
	}
}

// RoundTrips returns how many scripts the store has sent to Redis, for measuring.
func (s *Store) RoundTrips() uint64 { return s.roundTrips.Load() }

// Errors returns how many operations failed.
func (s *Store) Errors() uint64 { return s.errors.Load() }

// LocalTierInUse reports whether the local tier is serving: it is on (not Strict) and the
// subscription to invalidations is live.
func (s *Store) LocalTierInUse() bool {
	_, on := s.local.generation()
	return on
}

// observe records a clock value seen in a reply.
func (s *Store) observe(c uint64) {
	for {
		old := s.lastNow.Load()
		if c <= old || s.lastNow.CompareAndSwap(old, c) {
			return
		}
	}
}
