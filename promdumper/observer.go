package promdumper

import (
	"context"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/metriclabel"
)

// Observer returns the observer that feeds the Collector, for [dumper.Options.Observers].
// Counting a hit looks nothing up and allocates nothing.
func (m *Collector) Observer() dumper.Observer {
	return dumper.Observer{Request: m.request, Invalidation: m.invalidation, Store: m.store}
}

func (m *Collector) request(_ context.Context, ev dumper.RequestEvent) {
	r := metriclabel.Result(ev.Result)
	m.byResult[r][metriclabel.Class(ev.Status)].Inc()
	m.durationBy[r].Observe(ev.Duration.Seconds())
	switch ev.Result {
	case dumper.ResultMiss:
		m.misses.WithLabelValues(m.fwds.Label(ev.Fwd), m.details.Label(ev.Detail)).Inc()
	case dumper.ResultCoalesced:
		m.coalesced.Inc()
	}
	if ev.Stored {
		m.stores.Inc()
	}
	if ev.Render > 0 {
		m.render.Observe(ev.Render.Seconds())
	}
}

func (m *Collector) invalidation(_ context.Context, ev dumper.InvalidationEvent) {
	source := m.sources.Label(ev.Source)
	m.invalidations.WithLabelValues(source).Inc()
	m.tags.WithLabelValues(source).Add(float64(len(ev.Tags)))
	if ev.Err != nil {
		m.failures.WithLabelValues(source).Inc()
		return
	}
	if !ev.Written.IsZero() {
		// The write's time may come from another clock (the database's): a write that
		// seems to come after its invalidation counts as immediate.
		m.latency.WithLabelValues(source).Observe(max(time.Since(ev.Written), 0).Seconds())
	}
}

func (m *Collector) store(_ context.Context, ev dumper.StoreEvent) {
	i := metriclabel.Op(ev.Op)
	m.storeBy[i].Observe(ev.Duration.Seconds())
	if ev.Err != nil {
		m.errorsBy[i].Inc()
	}
}
