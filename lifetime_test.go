package dumper_test

import (
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dumperhq/dumper"
)

// TestLifetimes checks how long a stored response is served, from Policy.MaxAge, the
// lifetimes of Policy.Statuses and the response's s-maxage. Each case runs in a synctest
// bubble with the default memory store, created inside it: the clock moves only when the
// test sleeps, so the response must be a hit 1 ns before its lifetime runs out and a miss
// 1 ns after, however slow the machine.
func TestLifetimes(t *testing.T) {
	t.Parallel()
	forever := time.Duration(0)
	tests := []struct {
		name     string
		policy   dumper.Policy
		status   int    // of the response; 0: 200
		cc       string // Cache-Control of the response
		lifetime time.Duration
	}{
		{"no bound", dumper.Policy{}, 0, "", forever},
		{"MaxAge", dumper.Policy{MaxAge: time.Minute}, 0, "", time.Minute},
		{"status lifetime", dumper.Policy{Statuses: map[int]time.Duration{200: 0, 404: 10 * time.Second}}, 404, "", 10 * time.Second},
		{"status without a lifetime", dumper.Policy{Statuses: map[int]time.Duration{200: 0, 404: 10 * time.Second}}, 200, "", forever},
		{"status without a lifetime takes MaxAge", dumper.Policy{Statuses: map[int]time.Duration{200: 0}, MaxAge: 30 * time.Second}, 200, "", 30 * time.Second},
		{"MaxAge bounds a status lifetime", dumper.Policy{Statuses: map[int]time.Duration{404: time.Hour}, MaxAge: time.Minute}, 404, "", time.Minute},
		{"status lifetime under MaxAge", dumper.Policy{Statuses: map[int]time.Duration{404: 10 * time.Second}, MaxAge: time.Minute}, 404, "", 10 * time.Second},
		{"s-maxage", dumper.Policy{}, 0, "s-maxage=90", 90 * time.Second},
		{"s-maxage lowers MaxAge", dumper.Policy{MaxAge: time.Minute}, 0, "public, s-maxage=10", 10 * time.Second},
		{"s-maxage does not raise MaxAge", dumper.Policy{MaxAge: 10 * time.Second}, 0, "s-maxage=60", 10 * time.Second},
		{"s-maxage lowers a status lifetime", dumper.Policy{Statuses: map[int]time.Duration{404: time.Hour}}, 404, "s-maxage=5", 5 * time.Second},
		{"max-age is for browsers", dumper.Policy{MaxAge: time.Minute}, 0, "max-age=5", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t)
				h, runs := counting(func(w http.ResponseWriter, r *http.Request) {
					if tt.cc != "" {
						w.Header().Set("Cache-Control", tt.cc)
					}
					if tt.status != 0 {
						w.WriteHeader(tt.status)
					}
				})
				mw := c.MiddlewareWith(tt.policy)(h)
				wantStatus(t, do(t, mw, "GET", "/p"), "dumper; fwd=uri-miss; stored")
				if tt.lifetime == forever {
					time.Sleep(1000 * time.Hour)
					wantStatus(t, do(t, mw, "GET", "/p"), "dumper; hit")
					return
				}
				time.Sleep(tt.lifetime - time.Nanosecond)
				wantStatus(t, do(t, mw, "GET", "/p"), "dumper; hit")
				time.Sleep(2 * time.Nanosecond)
				w := do(t, mw, "GET", "/p")
				wantStatus(t, w, "dumper; fwd=stale; stored")
				wantBody(t, w, "n=2 /p ")
				if got := runs.Load(); got != 2 {
					t.Errorf("handler ran %d times, want 2", got)
				}
				// The new render has a lifetime of its own.
				time.Sleep(tt.lifetime - time.Nanosecond)
				wantStatus(t, do(t, mw, "GET", "/p"), "dumper; hit")
			})
		})
	}
}

// TestAgeHeader checks Policy.SendAge in a synctest bubble: the Age of a hit is the whole
// seconds since the response was stored, and a miss has none.
func TestAgeHeader(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t, dumper.Options{Policy: dumper.Policy{SendAge: true}})
		h, _ := counting(nil)
		mw := c.Middleware(h)
		if w := do(t, mw, "GET", "/p"); w.Header().Get("Age") != "" {
			t.Errorf("the miss that stored the response has Age %q, want none", w.Header().Get("Age"))
		}
		stored := time.Now() // the bubble's clock has not moved since the store
		for _, after := range []time.Duration{0, 999 * time.Millisecond, time.Second, 90*time.Second + 500*time.Millisecond, 49 * time.Hour} {
			time.Sleep(time.Until(stored.Add(after)))
			w := do(t, mw, "GET", "/p")
			wantStatus(t, w, "dumper; hit")
			if got, want := w.Header().Get("Age"), strconv.FormatInt(int64(after/time.Second), 10); got != want {
				t.Errorf("Age %v after the store = %q, want %q", after, got, want)
			}
		}
		c.InvalidatePaths(t.Context(), "/p")
		if w := do(t, mw, "GET", "/p"); w.Header().Get("Age") != "" {
			t.Errorf("the miss after an invalidation has Age %q, want none", w.Header().Get("Age"))
		}
		w := do(t, mw, "GET", "/p")
		if got := w.Header().Get("Age"); got != "0" {
			t.Errorf("Age of a hit on the new render = %q, want 0: it counts from the new store", got)
		}
	})
}
