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
type localTier struct {
	mem       *memstore.Store[*dumper.Entry]
	heartbeat time.Duration
	id        string // this process's heartbeat payload

	// state is generation<<1 | in-use. A lookup that starts while the tier is in use may
	// add what it reads from Redis only if the generation has not moved since: otherwise it
	// may have read before an invalidation that the tier never heard of.
	state atomic.Uint64
	mu    sync.RWMutex // held for writing while the generation changes

	lastBeat atomic.Int64 // when our own last heartbeat came back (unix ns)
}

func newLocalTier(maxBytes int64, heartbeat time.Duration) (*localTier, error) {
	mem, err := memstore.New[*dumper.Entry](maxBytes, int(max(maxBytes>>10, 1024)))
	if err != nil {
		return nil, err
	}
	var b [8]byte
	rand.Read(b[:])
	return &localTier{mem: mem, heartbeat: heartbeat, id: hex.EncodeToString(b[:])}, nil
}

// generation returns the tier's state and whether it is in use. A nil tier (strict mode) is
// never in use.
func (lt *localTier) generation() (uint64, bool) {
	if lt == nil {
		return 0, false
	}
	v := lt.state.Load()
	return v, v&1 == 1
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
// "h <id>".
func (lt *localTier) onMessage(msg string) {
	head, rest, _ := strings.Cut(msg, "\n")
	kind, arg, _ := strings.Cut(head, " ")
	switch kind {
	case "h":
		if arg == lt.id {
			lt.lastBeat.Store(time.Now().UnixNano())
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
	lt := s.local
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		s.subscribeOnce(ctx)
		lt.setInUse(false)
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
func (s *Store) subscribeOnce(ctx context.Context) {
	lt := s.local
	dc, release := s.client.Dedicate()
	defer release()
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
	sctx, cancel := context.WithTimeout(ctx, max(s.timeout*4, time.Second))
	err := dc.Do(sctx, dc.B().Subscribe().Channel(s.channel).Build()).Error()
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
			return
		case err := <-errc:
			s.log.Warn("redisstore: subscription lost; local tier off until it is back", "err", err)
			return
		case <-subscribed:
			lt.lastBeat.Store(time.Now().UnixNano())
			lt.setInUse(true)
			s.log.Info("redisstore: subscribed; local tier on")
		case <-tick.C:
			if _, on := lt.generation(); on && time.Since(time.Unix(0, lt.lastBeat.Load())) > 2*lt.heartbeat+s.timeout {
				s.log.Warn("redisstore: heartbeats missed; local tier off until resubscribed")
				return
			}
			hctx, cancel := context.WithTimeout(ctx, s.timeout)
			s.client.Do(hctx, s.client.B().Publish().Channel(s.channel).Message("h "+lt.id).Build())
			cancel()
		}
	}
}
