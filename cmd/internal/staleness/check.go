package staleness

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A Violation is a read that returned a version it must not have.
type Violation struct {
	Read Read
	// Missed is the write the read should have seen: newer than what it got, and ended
	// longer before the read started than the write's allowance. Nil when the read returned
	// a version that was never written, or one whose write started after the read ended.
	Missed *Write
	// Late is how long before the read started Missed had ended.
	Late   time.Duration
	Reason string
}

func (v Violation) String() string {
	r := v.Read
	s := fmt.Sprintf("%s via %q [%v, %v]: %s v%d: %s", r.What, r.Via, r.Start, r.End, r.Entity, r.Version, v.Reason)
	if r.Client != "" {
		s = "client " + r.Client + ": " + s
	}
	if w := v.Missed; w != nil {
		s += fmt.Sprintf(" (v%d by %s via %q ended at %v, %v before the read started; allowed %v)",
			w.Version, w.Note, w.Via, w.End, v.Late, w.Bound)
	}
	return s
}

// A Report is the verdict on a history.
type Report struct {
	Writes, Reads int
	Violations    []Violation
	// LateReads counts the reads that returned an older version than a write ended before
	// they started, within that write's allowance; Late lists them, each with its age.
	LateReads int
	Late      []Late
	// MaxLateness is the longest any read (allowed or not) started after the end of a write
	// newer than what it got: a lower bound of how late that write was seen.
	MaxLateness time.Duration
}

// A Late read returned an older version than a write that had ended Age before it
// started (the first such write to end), within the allowance of the writes it missed.
type Late struct {
	Read Read
	Age  time.Duration
}

// Ops is the number of operations checked.
func (r Report) Ops() int { return r.Writes + r.Reads }

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations checked (%d writes, %d reads): %d violations, %d late reads within bounds, max lateness %v",
		r.Ops(), r.Writes, r.Reads, len(r.Violations), r.LateReads, r.MaxLateness)
	for i, v := range r.Violations {
		if i == 10 {
			fmt.Fprintf(&b, "\n  … and %d more", len(r.Violations)-i)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(v.String())
	}
	return b.String()
}

// Check judges a history: for every read, the version it got must be at least that of every
// write to its entity that ended before the read started, give or take the write's
// allowance ([Write.Bound], [Write.Via]), and must have been written by a write that started
// before the read ended. It returns an error, rather than a report, for a history that
// cannot be judged: two writes of one version of an entity, a write that ends before it
// starts, or a higher version whose write ended before a lower one's started (writes to an
// entity were not serialized).
func Check(writes []Write, reads []Read) (Report, error) {
	rep := Report{Writes: len(writes), Reads: len(reads)}
	byEntity := make(map[string]*entity)
	for _, w := range writes {
		if w.End < w.Start {
			return rep, fmt.Errorf("staleness: write %s v%d ends (%v) before it starts (%v)", w.Entity, w.Version, w.End, w.Start)
		}
		e := byEntity[w.Entity]
		if e == nil {
			e = &entity{}
			byEntity[w.Entity] = e
		}
		e.writes = append(e.writes, w)
	}
	for name, e := range byEntity {
		if err := e.prepare(name); err != nil {
			return rep, err
		}
	}
	for _, r := range reads {
		e := byEntity[r.Entity]
		if e == nil {
			rep.Violations = append(rep.Violations, Violation{Read: r, Reason: "entity never written"})
			continue
		}
		e.judge(r, &rep)
	}
	return rep, nil
}

// entity holds one entity's writes, sorted by version, with suffix minima to judge a read
// in O(log n).
type entity struct {
	writes []Write
	// minEnd[i] is the index, in writes[i:], of the write that ended first.
	minEnd []int
	// deadline[via][i] is the index, in writes[i:], of the write whose End plus the
	// allowance it gives reads through via is the smallest.
	deadline map[string][]int
}

func (e *entity) prepare(name string) error {
	slices.SortFunc(e.writes, func(a, b Write) int { return cmp.Compare(a.Version, b.Version) })
	for i := 1; i < len(e.writes); i++ {
		if e.writes[i].Version == e.writes[i-1].Version {
			return fmt.Errorf("staleness: %s v%d written twice", name, e.writes[i].Version)
		}
	}
	n := len(e.writes)
	e.minEnd = make([]int, n)
	for i := n - 1; i >= 0; i-- {
		e.minEnd[i] = i
		if i+1 < n && e.writes[e.minEnd[i+1]].End < e.writes[i].End {
			e.minEnd[i] = e.minEnd[i+1]
		}
		// A higher version that ended before this one started would have been overwritten
		// by it: versions would not follow the order of the writes.
		if j := e.minEnd[i]; j != i && e.writes[j].End < e.writes[i].Start {
			return fmt.Errorf("staleness: %s v%d ended (%v) before v%d started (%v): writes to one entity must be serialized",
				name, e.writes[j].Version, e.writes[j].End, e.writes[i].Version, e.writes[i].Start)
		}
	}
	e.deadline = make(map[string][]int)
	return nil
}

// allowed is how late a read through via by client may see w: not at all if it is w's
// client (read your writes) or goes through w's instance, else w's bound.
func allowed(w *Write, via, client string) time.Duration {
	if w.Via != "" && w.Via == via || w.Client != "" && w.Client == client {
		return 0
	}
	return w.Bound
}

func (e *entity) deadlines(via, client string) []int {
	key := via + "\x00" + client
	if d, ok := e.deadline[key]; ok {
		return d
	}
	n := len(e.writes)
	d := make([]int, n)
	for i := n - 1; i >= 0; i-- {
		d[i] = i
		if i+1 < n {
			a, b := &e.writes[d[i+1]], &e.writes[i]
			if a.End+allowed(a, via, client) < b.End+allowed(b, via, client) {
				d[i] = d[i+1]
			}
		}
	}
	e.deadline[key] = d
	return d
}

func (e *entity) judge(r Read, rep *Report) {
	i, found := slices.BinarySearchFunc(e.writes, r.Version, func(w Write, v int64) int { return cmp.Compare(w.Version, v) })
	if !found {
		rep.Violations = append(rep.Violations, Violation{Read: r, Reason: "version never written"})
		return
	}
	if w := e.writes[i]; w.Start > r.End {
		rep.Violations = append(rep.Violations, Violation{Read: r,
			Reason: fmt.Sprintf("version written after the read ended (write started at %v)", w.Start)})
		return
	}
	next := i + 1
	if next == len(e.writes) {
		return
	}
	first := &e.writes[e.minEnd[next]]
	if first.End >= r.Start {
		return // every newer write was concurrent with the read
	}
	late := r.Start - first.End
	rep.MaxLateness = max(rep.MaxLateness, late)
	w := &e.writes[e.deadlines(r.Via, r.Client)[next]]
	if w.End+allowed(w, r.Via, r.Client) < r.Start {
		missed := *w
		rep.Violations = append(rep.Violations, Violation{Read: r, Missed: &missed, Late: r.Start - w.End,
			Reason: "stale: older than a write that ended before the read started"})
		return
	}
	rep.LateReads++
	rep.Late = append(rep.Late, Late{Read: r, Age: late})
}
