package edge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// A Purger sends purges to one edge.
type Purger interface {
	// Purge drops from the edge every object tagged with one of keys, each already in the
	// edge's spelling ([Dialect.Keys]), at most MaxKeys of them. It returns nil once the
	// edge has accepted the purge. An error is retried with backoff, or after the delay a
	// [*RateLimitError] in it gives; one wrapping [ErrPermanent] (a request the edge will
	// never accept) is not retried: its keys are dropped, counted and logged.
	Purge(ctx context.Context, keys []string) error
	// MaxKeys is the most keys one Purge call may carry.
	MaxKeys() int
}

// ErrPermanent marks a purge error that retrying cannot cure (the edge refused the request
// as malformed).
var ErrPermanent = errors.New("edge: purge refused")

// A RateLimitError is an edge's answer that it takes no more purges for now (HTTP 429).
type RateLimitError struct {
	After time.Duration // how long to wait, from Retry-After (at most an hour); zero if it said nothing
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("edge: rate limited (retry after %v)", e.After)
}

// maxRetryAfter caps the wait a Retry-After field asks for.
const maxRetryAfter = time.Hour

// retryAfter reads a Retry-After field: seconds, or an HTTP date; at most an hour.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), maxRetryAfter)
	}
	return 0
}

// Purge queues purges of the edge for an invalidation of tags: the keys of [Dialect.Keys],
// sent at once and again Options.Delay later. It does not wait: the queue sends them in
// batches of the Purger's MaxKeys, in the background. Without a Purger it does nothing;
// after Close it sends nothing, and counts (Stats.Late) and logs the keys it dropped.
func (e *Edge) Purge(tags ...string) {
	if e.purger == nil || len(tags) == 0 {
		return
	}
	keys := e.d.Keys(tags)
	copies := 1
	if e.delay > 0 {
		copies = 2 // the second purge
	}
	e.mu.Lock()
	if e.flushed {
		// Closed, and Close's flush is over: nothing would send it. (Keys queued while
		// the flush runs are sent by it.)
		e.mu.Unlock()
		e.stats.late.Add(uint64(len(keys)))
		e.log.Error("edge: purge after Close dropped; the edge may serve what it would have dropped until its max-age",
			"dialect", e.d.String(), "keys", len(keys))
		return
	}
	if len(e.pending)+e.nLater+e.inflight+copies*len(keys) > e.max {
		e.overflowLocked(len(keys))
	} else {
		e.addLocked(keys)
		if e.delay > 0 {
			e.later = append(e.later, delayed{time.Now().Add(e.delay), keys})
			e.nLater += len(keys)
			e.stats.second.Add(1)
		}
	}
	target := e.added
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	if e.wait > 0 {
		e.waitSent(target)
	}
}

// waitSent waits, for at most Options.Wait, until the first target keys ever queued have
// been sent (or given up on).
func (e *Edge) waitSent(target uint64) {
	timer := time.NewTimer(e.wait)
	defer timer.Stop()
	e.mu.Lock()
	for e.done < target {
		ch := e.progress
		e.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return
		case <-e.stopped:
			return
		}
		e.mu.Lock()
	}
	e.mu.Unlock()
}

// completedLocked records that n queued keys were sent or dropped, and wakes the waiters.
func (e *Edge) completedLocked(n int) {
	e.done += uint64(n)
	close(e.progress)
	e.progress = make(chan struct{})
}

func (e *Edge) completed(n int) {
	e.mu.Lock()
	e.completedLocked(n)
	e.mu.Unlock()
}

// overflowLocked replaces everything queued by a purge of AllTag, now and after the delay.
func (e *Edge) overflowLocked(adding int) {
	e.stats.overflows.Add(1)
	e.log.Warn("edge: purge queue full; purging everything the edge stored instead",
		"dialect", e.d.String(), "queued", len(e.pending)+e.nLater, "adding", adding, "max", e.max)
	all := []string{e.d.key(AllTag)}
	e.completedLocked(int(e.added - e.done)) // the keys queued are replaced by the purge of everything
	e.pending, e.later, e.nLater = nil, nil, 0
	e.epoch++ // a batch in flight that fails is not queued again: dumper-all covers it
	clear(e.queued)
	e.addLocked(all)
	if e.delay > 0 {
		e.later = []delayed{{time.Now().Add(e.delay), all}}
		e.nLater = 1
	}
}

func (e *Edge) addLocked(keys []string) {
	for _, k := range keys {
		if _, ok := e.queued[k]; !ok {
			e.queued[k] = struct{}{}
			e.pending = append(e.pending, k)
			e.added++
		}
	}
}

// next moves the second purges that are due to the pending keys and takes a batch of them;
// with none, it returns when the next second purge is due (zero: none).
func (e *Edge) next(now time.Time) (batch []string, due time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.later) > 0 && !e.later[0].due.After(now) {
		e.addLocked(e.later[0].keys)
		e.nLater -= len(e.later[0].keys)
		e.later = e.later[1:]
	}
	if len(e.pending) == 0 {
		if len(e.later) > 0 {
			due = e.later[0].due
		}
		return nil, due
	}
	n := min(len(e.pending), max(e.purger.MaxKeys(), 1))
	if !e.keys.off() {
		n = min(n, e.keys.l.Burst) // a batch the bucket could never pay for would never be sent
	}
	batch = e.pending[:n:n]
	e.pending = e.pending[n:]
	for _, k := range batch {
		delete(e.queued, k)
	}
	e.inflight = n
	e.takenEpoch = e.epoch
	return batch, time.Time{}
}

// requeue puts a batch that failed back in front of the pending keys.
func (e *Edge) requeue(batch []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inflight = 0
	if e.takenEpoch != e.epoch {
		return // the queue overflowed meanwhile: the purge of everything covers the batch
	}
	keep := make([]string, 0, len(batch)+len(e.pending))
	for _, k := range batch {
		if _, ok := e.queued[k]; !ok {
			e.queued[k] = struct{}{}
			keep = append(keep, k)
		} else {
			e.completedLocked(1) // queued again since: sent in that place
		}
	}
	e.pending = append(keep, e.pending...)
}

// landed records that the batch in flight was sent, or given up on.
func (e *Edge) landed() {
	e.mu.Lock()
	e.inflight = 0
	e.mu.Unlock()
}

// dropAll gives up on every pending key.
func (e *Edge) dropAll(why string, err error) {
	e.mu.Lock()
	n := len(e.pending)
	e.pending = nil
	clear(e.queued)
	e.completedLocked(n)
	e.mu.Unlock()
	e.gaveUp(n, why, err)
}

func (e *Edge) gaveUp(n int, why string, err error) {
	if n == 0 {
		return
	}
	e.stats.givenUp.Add(uint64(n))
	e.log.Error("edge: purges given up; the edge may serve what they would have dropped until its max-age",
		"dialect", e.d.String(), "keys", n, "why", why, "err", err)
}

// run sends the queue until Close.
func (e *Edge) run() {
	defer close(e.stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var (
		failingSince time.Time
		backoff      time.Duration
		last         time.Time
	)
	wait := func(d time.Duration) bool { // false once closing
		if d <= 0 {
			return true
		}
		timer.Reset(d)
		select {
		case <-timer.C:
			return true
		case <-e.closing:
			return false
		}
	}
	for {
		batch, due := e.next(time.Now())
		if batch == nil {
			var c <-chan time.Time
			if !due.IsZero() {
				timer.Reset(time.Until(due))
				c = timer.C
			}
			select {
			case <-e.wake:
			case <-c:
			case <-e.closing:
				e.flush()
				return
			}
			if c != nil && !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			continue
		}
		// Keep under the Purger's limits and Options.Pace: wait until both buckets hold the
		// tokens of this request (a wait may let the other bucket fill, so check again).
		for {
			now := time.Now()
			d := max(e.reqs.wait(now, 1), e.keys.wait(now, len(batch)))
			if e.pace > 0 && !last.IsZero() {
				d = max(d, e.pace-now.Sub(last))
			}
			if d <= 0 {
				break
			}
			if !wait(d) {
				e.requeue(batch)
				e.flush()
				return
			}
		}
		last = time.Now()
		e.reqs.take(last, 1)
		e.keys.take(last, len(batch))
		err := e.send(batch)
		if err == nil {
			e.landed()
			e.completed(len(batch))
			failingSince, backoff = time.Time{}, 0
			continue
		}
		if errors.Is(err, ErrPermanent) {
			e.landed()
			e.completed(len(batch))
			e.gaveUp(len(batch), "refused", err)
			continue
		}
		e.requeue(batch)
		if failingSince.IsZero() {
			failingSince = time.Now()
		} else if time.Since(failingSince) > e.giveUp {
			e.dropAll("edge failing for longer than GiveUp", err)
			failingSince, backoff = time.Time{}, 0
			continue
		}
		backoff = min(max(2*backoff, e.minBack), e.maxBack)
		d := backoff
		var rl *RateLimitError
		if errors.As(err, &rl) && rl.After > 0 {
			d = rl.After
		}
		if !wait(d) {
			e.flush()
			return
		}
	}
}

// send makes one purge request.
func (e *Edge) send(batch []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.purger.Purge(ctx, batch)
	if err != nil {
		e.stats.failures.Add(1)
		return err
	}
	e.stats.requests.Add(1)
	e.stats.sent.Add(uint64(len(batch)))
	return nil
}

// flush sends, once each, the keys still queued, second purges included; at the first
// failure it gives up on what is left.
func (e *Edge) flush() {
	e.mu.Lock()
	for _, d := range e.later {
		e.addLocked(d.keys)
	}
	e.later, e.nLater = nil, 0
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.flushed = true
		e.mu.Unlock()
		e.dropAll("closing", nil) // what was queued after the last batch was taken
	}()
	for {
		batch, _ := e.next(time.Now())
		if batch == nil {
			return
		}
		err := e.send(batch)
		e.landed()
		e.completed(len(batch))
		if err != nil {
			// The edge is failing: do not hold Close up with every batch in turn.
			e.gaveUp(len(batch), "closing", err)
			e.dropAll("closing", err)
			return
		}
	}
}

// Close sends what is queued (second purges at once), once — giving up on the rest at the
// first failure — and stops the queue.
func (e *Edge) Close() error {
	e.close.Do(func() { close(e.closing) })
	<-e.stopped
	return nil
}
