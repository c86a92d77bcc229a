package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
type localTier struct {
	mem       *memstore.Store[*dumper.Entry]
	heartbeat time.Duration
	lease     time.Duration
	id        string // this process's heartbeat payload

	// state is generation<<1 | in-use. A lookup that starts while the tier is in use may
	// add what it reads from Redis only if the generation has not moved since: otherwise it
	// may have read before an invalidation that the tier never heard of.
	state atomic.Uint64
	mu    sync.RWMutex // held for writing while the generation changes

	epoch      time.Time    // origin of the monotonic times below
	leaseUntil atomic.Int64 // the tier serves while since() < leaseUntil
}

func newLocalTier(maxBytes int64, heartbeat time.Duration) (*localTier, error) {
	mem, err := memstore.New[*dumper.Entry](maxBytes, int(max(maxBytes>>10, 1024)))
	if err != nil {
		return nil, err
	}
	var b [8]byte
	rand.Read(b[:])
	return &localTier{mem: mem, heartbeat: heartbeat, lease: 2 * heartbeat, id: hex.EncodeToString(b[:]), epoch: time.Now()}, nil
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
func (lt *localTier) put(gen uint64, key string, e *dumper.Entry, ttl time.Duration, weight int) {
	lt.mu.RLock()
	defer lt.mu.RUnlock()
	if lt.state.Load() == gen {
		lt.mem.Set(key, e, e.Tags, e.Born, ttl, weight)
	}
}

// setInUse switches the tier on or off; either way it starts empty in a new generation.
func (lt *localTier) setInUse(on bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	v := (lt.state.Load()>>1 + 1) << 1
	if on {
		v |= 1
	}
	lt.mem.Clear()
	lt.state.Store(v)
}

// apply stamps tags at clock value c (with no tags: forgets everything born before c).
func (lt *localTier) apply(tags []string, c uint64) {
	if lt == nil {
		return
	}
	if len(tags) == 0 {
		lt.mem.Forget(c)
		return
	}
	lt.mem.InvalidateAt(tags, c)
}

// onMessage applies one message of the channel: "c <clock>\n<tag>…", "f <clock>" or
// "h <id> <sent>".
func (lt *localTier) onMessage(msg string) {
	head, rest, _ := strings.Cut(msg, "\n")
	kind, arg, _ := strings.Cut(head, " ")
	switch kind {
	case "h":
		id, sent, _ := strings.Cut(arg, " ")
		if id != lt.id {
			return
		}
		if t, err := strconv.ParseInt(sent, 10, 64); err == nil {
			lt.extendLease(t + int64(lt.lease))
		}
	case "c", "f":
		c, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			// A message we cannot read may be an invalidation we cannot apply.
			lt.setInUse(false)
			return
		}
		var tags []string
		if kind == "c" {
			tags = strings.Split(rest, "\n")
			if rest == "" {
				return
			}
		}
		lt.apply(tags, c)
	}
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
// The tier is switched off before it returns.
func (s *Store) subscribeOnce(ctx context.Context) {
	lt := s.local
	client, err := s.conn()
	if err != nil {
		return
	}
	dc, release := client.Dedicate()
	broken := true
	defer func() {
		// Off first: releasing or closing a connection to a silent peer can block for
		// seconds (rueidis unsubscribes, or pings before closing, without a deadline).
		lt.setInUse(false)
		if broken {
			s.wg.Go(dc.Close) // never reused
		} else {
			s.wg.Go(release)
		}
	}()
	subscribed := make(chan struct{}, 1)
	errc := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) { lt.onMessage(m.Message) },
		OnSubscription: func(sub rueidis.PubSubSubscription) {
			if sub.Kind == "subscribe" && sub.Channel == s.channel {
				select {
				case subscribed <- struct{}{}:
				default:
				}
			}
		},
	})
	sent := lt.since()
	sctx, cancel := context.WithTimeout(ctx, max(s.timeout*4, time.Second))
	err = dc.Do(sctx, dc.B().Subscribe().Channel(s.channel).Build()).Error()
	cancel()
	if err != nil {
		s.log.Warn("redisstore: subscribe failed; local tier off", "err", err)
		return
	}
	tick := time.NewTicker(lt.heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			broken = false
			return
		case err := <-errc:
			s.log.Warn("redisstore: subscription lost; local tier off until it is back", "err", err)
			return
		case <-subscribed:
			// Everything published after the SUBSCRIBE was sent reaches us.
			lt.extendLease(sent + int64(lt.lease))
			lt.setInUse(true)
			s.log.Info("redisstore: subscribed; local tier on")
		case <-tick.C:
			if v := lt.state.Load(); v&1 == 1 && lt.since() >= lt.leaseUntil.Load() {
				s.log.Warn("redisstore: heartbeats missed; local tier off until resubscribed")
				return
			}
			hctx, cancel := context.WithTimeout(ctx, s.timeout)
			msg := "h " + lt.id + " " + strconv.FormatInt(lt.since(), 10)
			client.Do(hctx, client.B().Publish().Channel(s.channel).Message(msg).Build())
			cancel()
		}
	}
}
