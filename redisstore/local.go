package redisstore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/memstore"
	"github.com/redis/rueidis"
)

// localTier keeps entries read from Redis in process memory. It is in use only while this
// process is subscribed to the invalidation channel: every invalidation published after an
// entry was read from Redis then reaches the tier, which stamps the entry's tags as the
// Redis scripts do. While the subscription is down the tier is empty and bypassed.
//
// A connection can stall without breaking (a frozen server, a lost route): nothing arrives
// and nothing says so. The tier therefore serves only under a lease. Every heartbeat this
// process publishes carries the time it was sent; when it comes back through the
// subscription, every message published before it has arrived too (a channel delivers in
// order), so the tier knows it has heard of every invalidation published up to that time,
// and may serve until that time plus the lease. Each hit checks the lease against the
// monotonic clock, so however the link fails, a local copy outlives an invalidation made
// elsewhere by at most the lease, or by the time the message takes to arrive if it does.
//
// Anyone can publish on the channel, and read it, so the tier sorts what arrives by its first
// word (up to the first space or newline), and trusts a heartbeat only if this process sent
// it: a heartbeat is "h <id> <sent> <mac>", where mac authenticates id and sent with a key
// this process draws at random and never publishes (the id only tells our heartbeats from
// other processes'). A heartbeat with our id whose mac is wrong, or whose sent time is in
// the future, is forged: were it believed, the tier would serve past its lease over a link
// that stalls. A replayed heartbeat of ours is harmless: it lends the lease its sent time
// gave already, and everything published before it has arrived. Every message the scripts
// publish starts with "c" or "f" (scripts.go). A c or f message that does not parse, or whose
// clock is implausibly far ahead (maxAhead), may be an invalidation the tier cannot apply: the tier forgets every entry, moves to a new
// generation (so that no lookup that started before puts what it read) and stays off until
// a heartbeat it sent after that message comes back, which proves that the channel delivers
// readable messages again and that everything published before it has arrived. That reset
// also resets the tier's tag clock, which only judges entries read before it: a clock
// value far ahead that the tier did apply cannot keep entries out for longer. The
// subscriber sends that heartbeat at once, so the tier is off for about a round trip. Any
// other message cannot be an invalidation, since none starts otherwise: it is foreign,
// counted, logged and ignored; so is a malformed or forged heartbeat (a heartbeat
// invalidates nothing, and missing one of ours only shortens the lease). A later format must keep the first word
// c or f for whatever invalidates, or use another channel.
//
// Every time the tier stops serving is counted by reason (offReason) and logged at Warn.
type localTier struct {
	mem       *memstore.Store[*dumper.Entry]
	heartbeat time.Duration
	lease     time.Duration
	id        string         // this process's heartbeat id, public
	key       []byte         // the key of the heartbeats' mac, never published
	seen      *atomic.Uint64 // the highest clock value read from Redis (Store.lastNow)
	log       *slog.Logger

	// state is generation<<1 | in-use. A lookup that starts while the tier is in use may
	// add what it reads from Redis only if the generation has not moved since: otherwise it
	// may have read before an invalidation that the tier never heard of.
	state atomic.Uint64
	mu    sync.RWMutex // held for writing while the generation changes

	epoch      time.Time    // origin of the monotonic times below
	leaseUntil atomic.Int64 // the tier serves while since() < leaseUntil

	// ctl serializes switching the tier on and off, and guards the fields below. The tier is
	// in use while the current subscription is confirmed and resumeAfter < 0.
	ctl       sync.Mutex
	sessions  uint64 // subscriptions begun
	session   uint64 // the current subscription's number; 0 between subscriptions
	confirmed bool   // Redis confirmed the current subscription
	// resumeAfter, when not negative, keeps the tier off after an unreadable message until a
	// heartbeat of ours sent after that since() value comes back.
	resumeAfter int64
	warned      map[string]warnState // rate-limited warnings, by kind

	probe chan struct{} // asks the subscriber for a heartbeat now

	// spare keeps the tier's entries that have a stale-if-error window past the tier's
	// switching off, so that Get, failing while Redis is unreachable, can return a copy with
	// its error (dumper.Store; docs/soft.md). Every invalidation the tier hears is applied
	// to it as to mem, and heard is the since() time up to which the tier has heard of every
	// invalidation published: the sent time of the last heartbeat of ours that came back (or
	// of the SUBSCRIBE that Redis confirmed). It is emptied when the tier goes on again
	// (every entry is read anew), and on an unreadable message (which may have condemned
	// any), never when the tier merely goes off.
	spare *memstore.Store[*dumper.Entry]
	heard atomic.Int64

	offs                [numOffReasons]atomic.Uint64
	unreadable, foreign atomic.Uint64
}

// offReason is why the local tier stopped serving. Its names are the keys of
// [dumper.StoreStats.LocalTierOff].
type offReason uint8

const (
	offSubscribeFailed   offReason = iota // SUBSCRIBE failed (after Redis had confirmed it)
	offSubscriptionLost                   // the subscription's connection failed, or Redis ended it
	offLeaseLapsed                        // no heartbeat came back within the lease
	offUnreadableMessage                  // a message shaped like an invalidation did not parse
	numOffReasons
	offClosed = numOffReasons // the store is closing: neither counted nor logged
)

func (r offReason) String() string {
	switch r {
	case offSubscribeFailed:
		return "subscribe-failed"
	case offSubscriptionLost:
		return "subscription-lost"
	case offLeaseLapsed:
		return "lease-lapsed"
	case offUnreadableMessage:
		return "unreadable-message"
	}
	return "closed"
}

// warnEvery spaces the warnings about messages on the channel, which anyone can send at any
// rate; each warning says how many were left out since the last.
const warnEvery = 10 * time.Second

type warnState struct {
	at         int64 // since() when the last one was logged
	suppressed int
}

// maxAhead bounds how far a clock value on the channel may be ahead of both the highest
// clock the store has read from Redis and this machine's time in µs: the clock is a hybrid
// logical clock, max(clock+1, Redis time in µs), which runs ahead of Redis time only by the
// invalidations made within the same µs, and the highest clock read covers a Redis time
// ahead of this machine's. A value further ahead (a forged or corrupted "f" or "c" message)
// would keep entries out of the tier until the clock caught up with it: it is unreadable.
// Taking a real one for that costs a reset of the tier, which then reads the clock again.
const maxAhead = time.Hour

// macLen is the length in bytes of a heartbeat's mac (HMAC-SHA256, truncated).
const macLen = 16

func newLocalTier(maxBytes int64, heartbeat time.Duration, seen *atomic.Uint64, log *slog.Logger) (*localTier, error) {
	opts := memstore.Options[*dumper.Entry]{
		MaxBytes: maxBytes,
		MaxTags:  int(max(maxBytes>>10, 1024)),
		Weigh:    weigh,
		Stamp:    func(e *dumper.Entry) ([]string, uint64) { return e.Tags, e.Born },
	}
	mem, err := memstore.New(opts)
	if err != nil {
		return nil, err
	}
	spare, err := memstore.New(opts)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	rand.Read(b[:])
	key := make([]byte, 32)
	rand.Read(key)
	return &localTier{
		mem: mem, spare: spare, heartbeat: heartbeat, lease: 2 * heartbeat, id: hex.EncodeToString(b[:]), key: key, seen: seen, log: log,
		epoch: time.Now(), resumeAfter: -1, warned: make(map[string]warnState), probe: make(chan struct{}, 1),
	}, nil
}

// since returns the monotonic time since epoch, in ns.
func (lt *localTier) since() int64 { return int64(time.Since(lt.epoch)) }

// extendLease lets the tier serve until until (a since() value), unless it already may
// serve longer.
func (lt *localTier) extendLease(until int64) {
	for {
		old := lt.leaseUntil.Load()
		if until <= old || lt.leaseUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// generation returns the tier's state and whether it may serve: it is in use and its lease
// has not run out. A nil tier (strict mode) never serves.
func (lt *localTier) generation() (uint64, bool) {
	if lt == nil {
		return 0, false
	}
	v := lt.state.Load()
	return v, v&1 == 1 && lt.since() < lt.leaseUntil.Load()
}

// put adds an entry read from Redis, with the lifetime it has left there, by a lookup that
// started in generation gen.
func (lt *localTier) put(gen uint64, key string, e *dumper.Entry, ttl time.Duration) {
	lt.mu.RLock()
	defer lt.mu.RUnlock()
	if lt.state.Load() == gen {
		lt.mem.Set(key, e, ttl)
		if e.StaleIfError > 0 {
			lt.spare.Set(key, e, ttl)
		}
	}
}

// hear records that the tier has heard of every invalidation published up to sent (a
// since() value).
func (lt *localTier) hear(sent int64) {
	for {
		old := lt.heard.Load()
		if sent <= old || lt.heard.CompareAndSwap(old, sent) {
			return
		}
	}
}

// spareCopy returns the copy of key's entry that the tier kept for when Redis is
// unreachable, and how long ago the tier last heard of every invalidation (an upper bound of
// how long the copy may have been condemned), if that is within the entry's stale-if-error
// window. A nil tier (strict mode) keeps none.
func (lt *localTier) spareCopy(key string) (*dumper.Entry, time.Duration, bool) {
	if lt == nil {
		return nil, 0, false
	}
	e, ok, _, _ := lt.spare.Get(key)
	if !ok {
		return nil, 0, false
	}
	age := time.Duration(lt.since() - lt.heard.Load())
	return e, age, age <= time.Duration(e.StaleIfError)*time.Second
}

// weigh is the memory an entry in process memory holds: itself, its key and the memory
// store's bookkeeping.
func weigh(key string, e *dumper.Entry) int { return len(key) + e.Size() + memstore.EntryOverhead }

// reset switches the tier on or off; either way it starts empty in a new generation. ctl is
// held.
func (lt *localTier) reset(on bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	v := (lt.state.Load()>>1 + 1) << 1
	if on {
		v |= 1
	}
	// The tag clock goes too: every entry of the new generation is read from Redis after
	// this, and every message applied before was published after Redis had applied it, so
	// no stamp of before can concern them. A reset to on happens as a message is handled
	// (onSubscribed, onHeartbeat), never while another is applied.
	lt.mem.Reset()
	if on {
		lt.spare.Reset()
	}
	lt.state.Store(v)
}

// off switches the tier off, and counts reason if it was on. ctl is held.
func (lt *localTier) off(reason offReason) {
	wasOn := lt.state.Load()&1 == 1
	lt.reset(false)
	if wasOn && reason < numOffReasons {
		lt.offs[reason].Add(1)
	}
}

// apply stamps tags at clock value c (with no tags: forgets everything born before c).
func (lt *localTier) apply(tags []string, c uint64) {
	if lt == nil {
		return
	}
	if len(tags) == 0 {
		lt.mem.Forget(c)
		lt.spare.Forget(c)
		return
	}
	lt.mem.InvalidateAt(tags, c)
	lt.spare.InvalidateAt(tags, c)
}

// begin starts a subscription and returns its number. The tier is off until Redis confirms
// it.
func (lt *localTier) begin() uint64 {
	lt.ctl.Lock()
	defer lt.ctl.Unlock()
	lt.sessions++
	lt.session, lt.confirmed, lt.resumeAfter = lt.sessions, false, -1
	lt.leaseUntil.Store(0)
	lt.reset(false)
	return lt.session
}

// onSubscribed: Redis confirmed subscription sess, asked for at sent (a since() value), so
// every message published since reaches the tier.
func (lt *localTier) onSubscribed(sess uint64, sent int64) {
	lt.ctl.Lock()
	defer lt.ctl.Unlock()
	if sess != lt.session {
		return
	}
	lt.confirmed = true
	lt.extendLease(sent + int64(lt.lease))
	if lt.resumeAfter < 0 {
		lt.reset(true)
		lt.hear(sent)
		lt.log.Info("redisstore: subscribed; local tier on")
	}
}

// end ends subscription sess and switches the tier off for reason, logging msg and attrs at
// Warn unless the store is closing.
func (lt *localTier) end(sess uint64, reason offReason, msg string, attrs ...any) {
	lt.ctl.Lock()
	defer lt.ctl.Unlock()
	if sess == lt.session {
		lt.endLocked(reason, msg, attrs...)
	}
}

func (lt *localTier) endLocked(reason offReason, msg string, attrs ...any) {
	lt.session, lt.confirmed = 0, false
	lt.off(reason)
	if reason != offClosed {
		lt.log.Warn(msg, append([]any{"reason", reason.String()}, attrs...)...)
	}
}

// leaseLapsed reports whether the lease of confirmed subscription sess has run out, and if
// so ends the subscription. hbErr is the error of the last heartbeat sent, if any.
func (lt *localTier) leaseLapsed(sess uint64, hbErr error) bool {
	lt.ctl.Lock()
	defer lt.ctl.Unlock()
	if sess != lt.session || !lt.confirmed || lt.since() < lt.leaseUntil.Load() {
		return false
	}
	attrs := []any{"lease", lt.lease}
	if hbErr != nil {
		attrs = append(attrs, "heartbeat_err", hbErr)
	}
	lt.endLocked(offLeaseLapsed, "redisstore: no heartbeat came back within the lease; local tier off, resubscribing", attrs...)
	return true
}

// onMessage handles one message of subscription sess: "c <clock>\n<tag>…" or "f <clock>"
// (invalidations), "h <id> <sent> <mac>" (a heartbeat), or anything else (foreign).
func (lt *localTier) onMessage(sess uint64, msg string) {
	head, rest, multiline := strings.Cut(msg, "\n")
	kind, arg, _ := strings.Cut(head, " ")
	switch kind {
	case "c":
		c, err := strconv.ParseUint(arg, 10, 64)
		if err != nil || !multiline || !lt.plausible(c) {
			lt.onUnreadable(sess, msg)
			return
		}
		tags := strings.Split(rest, "\n")
		for _, t := range tags {
			if t == "" { // never published: Invalidate refuses empty tags
				lt.onUnreadable(sess, msg)
				return
			}
		}
		lt.mem.InvalidateAt(tags, c)
		lt.spare.InvalidateAt(tags, c)
	case "f":
		c, err := strconv.ParseUint(arg, 10, 64)
		if err != nil || multiline || !lt.plausible(c) {
			lt.onUnreadable(sess, msg)
			return
		}
		lt.mem.Forget(c)
		lt.spare.Forget(c)
	case "h":
		id, tail, _ := strings.Cut(arg, " ")
		sent, mac, _ := strings.Cut(tail, " ")
		t, err := strconv.ParseInt(sent, 10, 64)
		if err != nil || multiline || len(id) != len(lt.id) {
			lt.onForeign(msg)
			return
		}
		if id != lt.id {
			return // another process's
		}
		if !hmac.Equal([]byte(mac), []byte(lt.mac(sent))) || t > lt.since() {
			lt.onForeign(msg) // forged: it would lend a lease we never earned
			return
		}
		lt.onHeartbeat(sess, t)
	default:
		lt.onForeign(msg)
	}
}

// heartbeatMessage returns the heartbeat to publish now.
func (lt *localTier) heartbeatMessage() string {
	sent := strconv.FormatInt(lt.since(), 10)
	return "h " + lt.id + " " + sent + " " + lt.mac(sent)
}

// mac returns the mac of a heartbeat of ours sent at sent (in decimal), in hex.
func (lt *localTier) mac(sent string) string {
	m := hmac.New(sha256.New, lt.key)
	m.Write([]byte(lt.id + " " + sent))
	return hex.EncodeToString(m.Sum(nil)[:macLen])
}

// plausible reports whether clock value c, from a message on the channel, is at most
// maxAhead ahead of both the highest clock read from Redis and this machine's time.
func (lt *localTier) plausible(c uint64) bool {
	ref := max(lt.seen.Load(), uint64(max(time.Now().UnixMicro(), 0)))
	return c <= ref || c-ref <= uint64(maxAhead/time.Microsecond)
}

// onHeartbeat: one of our heartbeats, sent at sent, came back through subscription sess.
func (lt *localTier) onHeartbeat(sess uint64, sent int64) {
	lt.ctl.Lock()
	defer lt.ctl.Unlock()
	if sess != lt.session {
		return
	}
	now, until, was := lt.since(), sent+int64(lt.lease), lt.leaseUntil.Load()
	if lt.state.Load()&1 == 1 && now >= was && now < until {
		// The lease ran out before this heartbeat came back, and it serves again without the
		// subscriber having noticed: the tier did not serve meanwhile.
		lt.offs[offLeaseLapsed].Add(1)
		lt.log.Warn("redisstore: a heartbeat came back after the lease had run out; local tier was off meanwhile",
			"reason", offLeaseLapsed.String(), "off_for", time.Duration(now-was), "lease", lt.lease)
	}
	lt.extendLease(until)
	lt.hear(sent)
	if lt.resumeAfter >= 0 && sent > lt.resumeAfter && lt.confirmed {
		off := time.Duration(now - lt.resumeAfter)
		lt.resumeAfter = -1
		lt.reset(true)
		lt.log.Info("redisstore: heartbeat back after an unreadable message; local tier on", "after", off)
	}
}

// onUnreadable: a message shaped like an invalidation did not parse. It may have condemned
// any entry: the tier forgets them all and stays off until a heartbeat sent after now comes
// back; it asks for one at once.
func (lt *localTier) onUnreadable(sess uint64, msg string) {
	lt.ctl.Lock()
	defer lt.ctl.Unlock()
	defer lt.unreadable.Add(1) // once the tier is off, for tests that wait on it
	if sess != lt.session {
		// An older subscription's: whatever it said reaches the current one too, if it was
		// published after that one began, and cannot concern its entries otherwise.
		return
	}
	lt.resumeAfter = lt.since()
	lt.off(offUnreadableMessage)
	lt.spare.Reset()
	lt.warnLimited("unreadable", "redisstore: unreadable message on the invalidation channel; local tier emptied and off until a heartbeat comes back",
		"reason", offUnreadableMessage.String(), "payload", excerpt(msg))
	select {
	case lt.probe <- struct{}{}:
	default:
	}
}

// onForeign: a message that is not ours, and cannot be an invalidation, is ignored.
func (lt *localTier) onForeign(msg string) {
	lt.ctl.Lock()
	defer lt.ctl.Unlock()
	lt.foreign.Add(1)
	lt.warnLimited("foreign", "redisstore: ignored a message on the invalidation channel that is not this store's", "payload", excerpt(msg))
}

// warnLimited logs msg at Warn unless a warning of the same kind was logged less than
// warnEvery ago. ctl is held.
func (lt *localTier) warnLimited(kind, msg string, attrs ...any) {
	w, seen := lt.warned[kind]
	now := lt.since()
	if seen && now-w.at < int64(warnEvery) {
		w.suppressed++
		lt.warned[kind] = w
		return
	}
	if w.suppressed > 0 {
		attrs = append(attrs, "suppressed", w.suppressed)
	}
	lt.log.Warn(msg, attrs...)
	lt.warned[kind] = warnState{at: now}
}

// excerpt shortens a message for a log.
func excerpt(msg string) string {
	const n = 80
	if len(msg) <= n {
		return msg
	}
	return msg[:n] + "…"
}

// offCounts returns how many times the tier stopped serving, by reason.
func (lt *localTier) offCounts() map[string]uint64 {
	m := make(map[string]uint64, numOffReasons)
	for r := range numOffReasons {
		m[r.String()] = lt.offs[r].Load()
	}
	return m
}

// subscribe keeps a dedicated connection subscribed to the channel for as long as the store
// is open, and the local tier in use only while it is. It resubscribes with backoff.
func (s *Store) subscribe(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-s.connected:
	}
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		s.subscribeOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = 10 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// subscribeOnce subscribes and returns when the subscription is lost, stale, or ctx is done.
// The tier is switched off before it returns. It sends a heartbeat every Heartbeat, and at
// once when the tier asks for one, whether the tier is on or not: heartbeats are what
// switch it back on after an unreadable message.
func (s *Store) subscribeOnce(ctx context.Context) {
	lt := s.local
	client, err := s.conn()
	if err != nil {
		return
	}
	dc, release := client.Dedicate()
	sess := lt.begin()
	reason, msg, attrs := offSubscriptionLost, "redisstore: subscription ended; local tier off", []any(nil)
	broken := true
	defer func() {
		// Off first: releasing or closing a connection to a silent peer can block for
		// seconds (rueidis unsubscribes, or pings before closing, without a deadline).
		lt.end(sess, reason, msg, attrs...)
		if broken {
			s.wg.Go(dc.Close) // never reused
		} else {
			s.wg.Go(release)
		}
	}()
	ended := make(chan struct{}, 1) // Redis unsubscribed us
	sent := lt.since()
	errc := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) { lt.onMessage(sess, m.Message) },
		OnSubscription: func(sub rueidis.PubSubSubscription) {
			if sub.Channel != s.channel {
				return
			}
			switch sub.Kind {
			case "subscribe":
				lt.onSubscribed(sess, sent)
			case "unsubscribe":
				// In the hook, so that the tier is off before anything else is read.
				lt.end(sess, offSubscriptionLost, "redisstore: Redis ended the subscription; local tier off, resubscribing")
				select {
				case ended <- struct{}{}:
				default:
				}
			}
		},
	})
	sctx, cancel := context.WithTimeout(ctx, max(s.timeout*4, time.Second))
	err = dc.Do(sctx, dc.B().Subscribe().Channel(s.channel).Build()).Error()
	cancel()
	if err != nil {
		reason, msg, attrs = offSubscribeFailed, "redisstore: subscribe failed; local tier off", []any{"err", err}
		return
	}
	tick := time.NewTicker(lt.heartbeat)
	defer tick.Stop()
	var hbErr error
	for {
		select {
		case <-ctx.Done():
			broken, reason = false, offClosed
			return
		case err := <-errc:
			msg, attrs = "redisstore: subscription lost; local tier off until resubscribed", []any{"err", err}
			return
		case <-ended:
			return
		case <-tick.C:
			if lt.leaseLapsed(sess, hbErr) {
				return
			}
			hbErr = s.sendHeartbeat(ctx, client)
		case <-lt.probe:
			hbErr = s.sendHeartbeat(ctx, client)
		}
	}
}

// sendHeartbeat publishes a heartbeat carrying the time it is sent.
func (s *Store) sendHeartbeat(ctx context.Context, client rueidis.Client) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	msg := s.local.heartbeatMessage()
	return client.Do(ctx, client.B().Publish().Channel(s.channel).Message(msg).Build()).Error()
}
