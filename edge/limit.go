package edge

import "time"

// A Limit is an API's rate limit as a token bucket: it holds at most Burst tokens, starts
// full, and gains one every Every; a request spends one token per unit it carries. The zero
// Limit means no limit.
type Limit struct {
	Burst int
	Every time.Duration
}

// A LimitedPurger is a Purger whose API limits its rate: the queue sends each Purge call
// only once Requests holds a token for it and Keys one for each of its keys, and never
// batches more keys than Keys.Burst. Every Purger of this package that speaks to a
// rate-limited API implements it, with the limits its API documents (see each one).
type LimitedPurger interface {
	Purger
	// Limits returns the limit on Purge calls and the limit on the keys they carry.
	Limits() (requests, keys Limit)
}

// bucket is a token bucket for a Limit, on the times it is given.
type bucket struct {
	l      Limit
	tokens float64
	at     time.Time // when tokens was last brought up to date; zero: full
}

func (b *bucket) off() bool { return b.l.Burst <= 0 || b.l.Every <= 0 }

// refill brings tokens up to date at now.
func (b *bucket) refill(now time.Time) {
	if b.at.IsZero() {
		b.tokens, b.at = float64(b.l.Burst), now
		return
	}
	if now.After(b.at) {
		b.tokens = min(float64(b.l.Burst), b.tokens+float64(now.Sub(b.at))/float64(b.l.Every))
		b.at = now
	}
}

// wait returns how long from now until the bucket holds n tokens (n at most Burst).
func (b *bucket) wait(now time.Time, n int) time.Duration {
	if b.off() {
		return 0
	}
	b.refill(now)
	missing := float64(min(n, b.l.Burst)) - b.tokens
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing*float64(b.l.Every)) + time.Millisecond // past the refill, not on it
}

// take spends n tokens at now.
func (b *bucket) take(now time.Time, n int) {
	if b.off() {
		return
	}
	b.refill(now)
	b.tokens -= float64(n)
}
