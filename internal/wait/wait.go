// Package wait is how the tests of every module of this repository wait for what neither an
// injected clock nor [testing/synctest] can bring about: a Redis or PostgreSQL server, a
// message over the network, the goroutines of an [net/http/httptest.Server]. It polls a
// condition, with a pause that starts short and doubles up to a cap, until a deadline.
//
// It is not a way to wait for time to pass: a test of a lifetime, an expiry or a lease
// that runs in process uses testing/synctest (or an injected clock) instead, and a test
// against a real server asserts what it can check exactly (a key's PTTL, say) rather than
// sleeping past a deadline.
package wait

import (
	"testing"
	"time"
)

// The pause between two calls of a condition starts at firstPause and doubles up to
// maxPause: a condition that holds within microseconds (a pub/sub message on loopback) is
// seen within microseconds, and one that takes seconds costs a call every maxPause.
const (
	firstPause = 50 * time.Microsecond
	maxPause   = 10 * time.Millisecond
)

// Until calls cond until it returns true, and reports whether it did so within timeout. cond
// is called at least once, and once more at the deadline if it has not held before. It runs
// on the caller's goroutine, so it may call t.Fatal.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := firstPause
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, maxPause)
	}
	return true
}

// For calls cond until it returns true, and fails t with what (the condition waited for,
// as in "the listener live") if it has not held within timeout. It must be called from the
// test's goroutine, as t.Fatal must.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("gave up waiting %v for %s", timeout, what)
	}
}
