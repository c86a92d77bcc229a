package staleness

import (
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

// w and r build writes and reads of entity "a" from millisecond times.
func w(v int64, start, end int, bound time.Duration, via string) Write {
	return Write{Entity: "a", Version: v, Start: time.Duration(start) * ms, End: time.Duration(end) * ms, Bound: bound, Via: via, Note: "test"}
}

func r(v int64, start, end int, via string) Read {
	return Read{Entity: "a", Version: v, Start: time.Duration(start) * ms, End: time.Duration(end) * ms, Via: via, What: "GET /a"}
}

func withClient(w Write, client string) Write { w.Client = client; return w }

func clientRead(r Read, client string) Read { r.Client = client; return r }

func TestCheck(t *testing.T) {
	t.Parallel()
	initial := w(0, 0, 0, 0, "")
	tests := []struct {
		name        string
		writes      []Write
		reads       []Read
		violations  int
		late        int
		maxLateness time.Duration
		reason      string // in the first violation
	}{
		{name: "fresh reads", writes: []Write{initial, w(1, 10, 20, 0, "")},
			reads: []Read{r(0, 1, 5, ""), r(1, 21, 25, ""), r(1, 100, 101, "")}},
		{name: "stale read after a strict write", writes: []Write{initial, w(1, 10, 20, 0, "")},
			reads: []Read{r(0, 21, 25, "")}, violations: 1, maxLateness: 1 * ms, reason: "stale"},
		{name: "read concurrent with the write may see either", writes: []Write{initial, w(1, 10, 20, 0, "")},
			reads: []Read{r(0, 15, 25, ""), r(1, 15, 25, ""), r(0, 5, 12, ""), r(1, 5, 12, ""), r(0, 20, 30, "")}},
		{name: "read ending before the write started cannot see it", writes: []Write{initial, w(1, 10, 20, 0, "")},
			reads: []Read{r(1, 1, 9, "")}, violations: 1, reason: "after the read ended"},
		{name: "never written", writes: []Write{initial},
			reads: []Read{r(7, 1, 9, "")}, violations: 1, reason: "never written"},
		{name: "unknown entity", writes: []Write{initial},
			reads: []Read{{Entity: "b", Version: 0, Start: 1, End: 2}}, violations: 1, reason: "entity never written"},
		{name: "late within the bound", writes: []Write{initial, w(1, 10, 20, 50*ms, "")},
			reads: []Read{r(0, 30, 31, ""), r(0, 69, 75, ""), r(1, 80, 81, "")}, late: 2, maxLateness: 49 * ms},
		{name: "late past the bound", writes: []Write{initial, w(1, 10, 20, 50*ms, "")},
			reads: []Read{r(0, 30, 31, ""), r(0, 71, 75, "")}, violations: 1, late: 1, maxLateness: 51 * ms, reason: "stale"},
		{name: "no allowance through the writing instance", writes: []Write{initial, w(1, 10, 20, 50*ms, "A")},
			reads: []Read{r(0, 30, 31, "B"), r(0, 30, 31, "A")}, violations: 1, late: 1, maxLateness: 10 * ms, reason: "stale"},
		{name: "no allowance for the writing client (read your writes)",
			writes:     []Write{initial, withClient(w(1, 10, 20, 50*ms, ""), "writer")},
			reads:      []Read{r(0, 30, 31, ""), clientRead(r(0, 30, 31, ""), "writer"), clientRead(r(0, 30, 31, ""), "other")},
			violations: 1, late: 2, maxLateness: 10 * ms, reason: "stale"},
		{name: "a later strict write ends the allowance of an earlier bounded one",
			writes: []Write{initial, w(1, 10, 20, time.Second, ""), w(2, 30, 40, 0, "")},
			reads:  []Read{r(0, 35, 36, ""), r(1, 41, 42, ""), r(0, 41, 42, "")}, violations: 2, late: 1, maxLateness: 21 * ms, reason: "stale"},
		{name: "older version after a newer one was seen is stale once the write ended",
			writes: []Write{initial, w(1, 10, 20, 0, ""), w(2, 30, 40, 0, "")},
			reads:  []Read{r(2, 35, 36, ""), r(1, 37, 38, ""), r(1, 45, 46, "")}, violations: 1, maxLateness: 5 * ms, reason: "stale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, err := Check(tt.writes, tt.reads)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(rep.Violations); got != tt.violations {
				t.Errorf("violations: got %d, want %d\n%v", got, tt.violations, rep)
			}
			if rep.LateReads != tt.late || len(rep.Late) != tt.late {
				t.Errorf("late reads: got %d (%d listed), want %d", rep.LateReads, len(rep.Late), tt.late)
			}
			if rep.MaxLateness != tt.maxLateness {
				t.Errorf("max lateness: got %v, want %v", rep.MaxLateness, tt.maxLateness)
			}
			if tt.reason != "" && len(rep.Violations) > 0 && !strings.Contains(rep.Violations[0].Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", rep.Violations[0].Reason, tt.reason)
			}
			if rep.Ops() != len(tt.writes)+len(tt.reads) {
				t.Errorf("ops: got %d, want %d", rep.Ops(), len(tt.writes)+len(tt.reads))
			}
		})
	}
}

func TestCheckRejectsMalformedHistories(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		writes []Write
		want   string
	}{
		{"version written twice", []Write{w(0, 0, 0, 0, ""), w(1, 1, 2, 0, ""), w(1, 3, 4, 0, "")}, "written twice"},
		{"ends before it starts", []Write{w(1, 5, 4, 0, "")}, "before it starts"},
		{"writes not serialized", []Write{w(0, 0, 0, 0, ""), w(1, 10, 20, 0, ""), w(2, 1, 5, 0, "")}, "serialized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Check(tt.writes, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestHistory records from many goroutines and checks the result: the recorder is safe for
// concurrent use and its clock is monotonic.
func TestHistory(t *testing.T) {
	t.Parallel()
	h := NewHistory()
	h.AddWrite(Write{Entity: "a", Version: 0})
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				start := h.Now()
				end := h.Now()
				if end < start {
					t.Errorf("goroutine %d: clock went back: %v then %v", g, start, end)
				}
				h.AddRead(Read{Entity: "a", Version: 0, Start: start, End: end})
			}
		}()
	}
	for range 8 {
		<-done
	}
	writes, reads := h.Ops()
	rep, err := Check(writes, reads)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reads != 800 || rep.Writes != 1 || len(rep.Violations) != 0 {
		t.Errorf("got %v, want 800 reads, 1 write, 0 violations", rep)
	}
}
