package pgnotify

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Options configure the triggers ([SQL], [Install]) and the [Listener]. The zero value is
// ready to use; both sides must agree on Channel.
type Options struct {
	// Channel is the NOTIFY channel. Empty means "dumper". Use one per application (or
	// test) sharing a database, so that each hears only its own tables.
	Channel string

	// MaxRows bounds the notifications sent row by row. A statement that changes more rows,
	// or that would take the row-level notifications of its transaction past MaxRows
	// (counted across the triggers of every table, so a loop of 10,000 single-row UPDATEs
	// counts 10,000), sends one table-level notification instead (see [Change.All]), so that
	// bulk statements and big transactions stay cheap for the writer and for the cache. The
	// Listener, likewise, invalidates a table's tag instead of calling its Map when more than
	// MaxRows changes of the table arrive together. Zero means 100; a negative value means
	// table-level notifications only. It is baked into the triggers: install again to
	// change it.
	MaxRows int

	// TableTag returns the tag that a table-level change of table invalidates, and that the
	// Listener invalidates for every table when it (re)connects. Pages that show rows of a
	// table must carry this tag. Nil means "table:" + table, the convention of
	// gormdumper.TableTag, so pages tagged for the GORM plugin are covered as they are.
	TableTag func(table string) string

	// MinBackoff and MaxBackoff bound the wait between reconnection attempts: it doubles
	// from MinBackoff up to MaxBackoff, with random jitter (between half and all of it), and
	// starts over once a connection has stayed up for 10 s. Zero means 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration

	// PingInterval is how long the Listener waits for a notification before checking that
	// its connection is alive, with a ping that must answer within 1 s (a connection lost
	// without a TCP reset is otherwise noticed only by the kernel's keepalive, minutes
	// later): such a loss turns [Listener.Live] false within PingInterval + 1 s. Zero means
	// 5 s.
	PingInterval time.Duration

	// Logger receives the Listener's connections and disconnections (Info, Warn),
	// failed invalidations, Map errors and malformed notifications (Error), and every
	// invalidation (Debug). Nil means no logging.
	Logger *slog.Logger
}

// resolved is Options validated, with their defaults.
type resolved struct {
	channel                string
	maxRows                int
	tableTag               func(string) string
	minBackoff, maxBackoff time.Duration
	ping                   time.Duration
	log                    *slog.Logger
}

func (o Options) resolve() (resolved, error) {
	r := resolved{
		channel:    o.Channel,
		maxRows:    o.MaxRows,
		tableTag:   o.TableTag,
		minBackoff: o.MinBackoff,
		maxBackoff: o.MaxBackoff,
		ping:       o.PingInterval,
		log:        o.Logger,
	}
	if r.channel == "" {
		r.channel = "dumper"
	}
	if r.maxRows == 0 {
		r.maxRows = 100
	}
	if r.maxRows < 0 {
		r.maxRows = -1
	}
	if r.tableTag == nil {
		r.tableTag = func(table string) string { return "table:" + table }
	}
	if r.minBackoff == 0 {
		r.minBackoff = 100 * time.Millisecond
	}
	if r.maxBackoff == 0 {
		r.maxBackoff = 10 * time.Second
	}
	if r.ping == 0 {
		r.ping = 5 * time.Second
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if err := checkIdent(r.channel); err != nil {
		errs = append(errs, fmt.Errorf("pgnotify: Channel: %w", err))
	}
	if r.minBackoff < 0 || r.maxBackoff < 0 || r.ping < 0 {
		errs = append(errs, errors.New("pgnotify: negative MinBackoff, MaxBackoff or PingInterval"))
	} else if r.minBackoff > r.maxBackoff {
		errs = append(errs, fmt.Errorf("pgnotify: MinBackoff %v is more than MaxBackoff %v", r.minBackoff, r.maxBackoff))
	}
	return r, errors.Join(errs...)
}

// backoff returns the wait before reconnection attempt n (0 for the first after a loss):
// lo doubled n times, capped at hi, of which half is kept and half scaled by r, a random
// number in [0, 1). The fixed half keeps a crowd of instances from retrying at once, the
// random half spreads them.
func backoff(lo, hi time.Duration, n int, r float64) time.Duration {
	d := hi
	if n < 40 {
		if s := lo << n; s >= lo && s < hi {
			d = s
		}
	}
	return d/2 + time.Duration(r*float64(d-d/2))
}
