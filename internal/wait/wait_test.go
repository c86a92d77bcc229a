package wait

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// TestUntil runs Until in a synctest bubble, where its pauses take no real time and its
// clock is exact: it returns as soon as a poll sees the condition, and gives up exactly at
// the deadline after one last call.
func TestUntil(t *testing.T) {
	tests := []struct {
		name      string
		holdsFrom time.Duration // since the call; negative: never
		timeout   time.Duration
		want      bool
		wantCalls int           // 0: any number
		wantTook  time.Duration // how long Until ran; negative: at most timeout
	}{
		{"holds at once", 0, time.Second, true, 1, 0},
		{"holds at once, zero timeout", 0, 0, true, 1, 0},
		{"never, zero timeout", -1, 0, false, 1, 0},
		{"never", -1, time.Second, false, 0, time.Second},
		{"holds later", 300 * time.Millisecond, time.Second, true, 0, -1},
		{"holds at the deadline", time.Second, time.Second, true, 0, time.Second},
		{"holds after the deadline", time.Second + time.Nanosecond, time.Second, false, 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				calls := 0
				var lastCall time.Duration
				got := Until(tt.timeout, func() bool {
					calls++
					lastCall = time.Since(start)
					return tt.holdsFrom >= 0 && lastCall >= tt.holdsFrom
				})
				took := time.Since(start)
				if got != tt.want {
					t.Errorf("Until = %v, want %v", got, tt.want)
				}
				if tt.wantCalls != 0 && calls != tt.wantCalls {
					t.Errorf("cond called %d times, want %d", calls, tt.wantCalls)
				}
				if took != lastCall {
					t.Errorf("Until returned %v after the last call of cond", took-lastCall)
				}
				switch {
				case tt.wantTook >= 0 && took != tt.wantTook:
					t.Errorf("Until took %v, want %v", took, tt.wantTook)
				case tt.wantTook < 0 && took > tt.timeout:
					t.Errorf("Until took %v, more than its timeout %v", took, tt.timeout)
				}
				if tt.want && tt.holdsFrom > 0 {
					// The pause before the call that saw the condition is at most maxPause.
					if late := took - tt.holdsFrom; late > maxPause {
						t.Errorf("the condition held %v before Until saw it, want at most %v", late, maxPause)
					}
				}
			})
		})
	}
}

// TestUntilPauses checks that the pauses start short, double, and stop growing at the cap.
func TestUntilPauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var at []time.Duration
		start := time.Now()
		Until(time.Second, func() bool {
			at = append(at, time.Since(start))
			return false
		})
		want := firstPause
		for i := 1; i < len(at)-1; i++ { // the last pause is cut short by the deadline
			if got := at[i] - at[i-1]; got != want {
				t.Fatalf("pause %d = %v, want %v (calls at %v)", i, got, want, at)
			}
			want = min(2*want, maxPause)
		}
		if want != maxPause {
			t.Errorf("the pauses never reached the cap %v: calls at %v", maxPause, at)
		}
	})
}

// fakeTB records what For reports.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ok fakeTB
		n := 0
		For(&ok, time.Second, "n to reach 3", func() bool { n++; return n == 3 })
		if ok.fatal != "" {
			t.Errorf("For failed the test when the condition held: %s", ok.fatal)
		}

		var late fakeTB
		For(&late, time.Second, "the impossible", func() bool { return false })
		if want := "gave up waiting 1s for the impossible"; late.fatal != want {
			t.Errorf("For reported %q, want %q", late.fatal, want)
		}
	})
}
