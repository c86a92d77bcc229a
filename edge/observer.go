package edge

import (
	"context"

	"github.com/dumperhq/dumper"
)

// Observer returns the [dumper.Observer] that purges the edge of every invalidation the
// cache applies (see [Edge.Purge]): through its API, by an unsafe request, from GORM, the SQL
// capture or pgnotify; [dumper.Cache.InvalidateAll] purges [AllTag], which every response
// the edge stores carries. An invalidation whose store operation failed is purged all the
// same: its tags may still have been stamped, and a purge costs a refetch at most. An
// invalidation that reaches a shared store from another instance is not reported to this
// one, so with several instances each purge is sent once, by the instance that made it.
//
// pgnotify is the exception when several instances each run a Listener on the same
// channel: each applies, and so purges, every notification. The purges are the same keys,
// and a purge is idempotent, so nothing is stale; the edge takes one purge per listener.
// Run one Listener, or purge from one of them, to send each once.
func (e *Edge) Observer() dumper.Observer {
	return dumper.Observer{Invalidation: func(_ context.Context, ev dumper.InvalidationEvent) {
		if ev.All {
			e.Purge(AllTag) // every response the edge stores carries it
			return
		}
		e.Purge(ev.Tags...)
	}}
}
