package edge

import "time"

// SecondPurgesNow makes every second purge queued due now, so that a test need not wait
// Options.Delay for them.
func (e *Edge) SecondPurgesNow() {
	e.mu.Lock()
	for i := range e.later {
		e.later[i].due = time.Time{}
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
