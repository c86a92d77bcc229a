package pgcapture

import (
	"context"
	"slices"
)

// Stamps returns the tags that the writes of the statement of shape sh, run with args and
// returning err, stamp, by the rule of [Session.Done], without invalidating them: for a data
// layer that follows transactions itself (gormdumper, over the transactions GORM begins) and
// invalidates the tags when the write is made and again after its transaction commits. A
// statement the server rejected stamps nothing. A schema change refreshes the catalog. The
// table tags of tables whose key columns the catalog lost ([Analyzer.Refresh]) are
// invalidated through the Analyzer's invalidator, not returned.
//
// Transaction statements in the text (BEGIN, COMMIT…) are not followed: the writes of the
// text are stamped as if it ran in the caller's transaction, if any. What a RETURNING list gives
// is not seen: a write that [Session.DoneReturned] would stamp by its returned rows stamps its
// tables' tags.
func (a *Analyzer) Stamps(ctx context.Context, sh *Shape, args []any, err error) []string {
	if !sh.effects || rejected(sh, err) {
		return nil
	}
	p, perr := a.resolve(ctx, sh)
	if perr != nil {
		a.report(ctx, perr)
	}
	var tags []string
	refresh := false
	for i := range p.steps {
		tags = append(tags, p.steps[i].stamps(args, nil)...)
		refresh = refresh || p.steps[i].refresh
	}
	if refresh {
		a.Refresh()
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}
