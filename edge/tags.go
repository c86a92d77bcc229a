package edge

import (
	"slices"
	"strings"
)

// AllTag is the tag every response the edge stores carries besides its own, so that one
// purge can drop everything dumper stored there: the queue sends it when it overflows (see
// [Options.MaxQueued]).
const AllTag = "dumper-all"

// rowTable returns the table of a row tag ("row:T:col=value", T escaped so that it holds no
// colon), and whether tag is one.
func rowTable(tag string) (string, bool) {
	rest, ok := strings.CutPrefix(tag, "row:")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, ':')
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// coarse returns the tag that stands for a row tag of table when a response's tags do not
// fit its edge's header: the table's scan tag. Every write whose rows are known stamps it
// together with the row tags (see dumper.ChangeTags), and the purge side adds it to every
// invalidation that names a row tag of the table, whoever made it (see [PurgeTags]): so a
// response that carries it in place of its row tags is purged by every invalidation that
// would have purged them.
func coarse(table string) string { return "scan:" + table }

// PurgeTags returns the tags an edge is purged by for an invalidation of tags: the tags
// themselves and, for each table that one of them is a row tag of, the table's scan tag, which
// stands for its row tags on responses whose tags did not fit (see [Dialect.Header]). It
// returns them sorted, without duplicates.
func PurgeTags(tags []string) []string {
	out := slices.Clone(tags)
	for _, t := range tags {
		if table, ok := rowTable(t); ok {
			out = append(out, coarse(table))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Keys returns the keys to purge from an edge of dialect d for an invalidation of tags:
// the spelling in d ([Dialect.Key]) of each of [PurgeTags], without duplicates.
func (d Dialect) Keys(tags []string) []string {
	tags = PurgeTags(tags)
	keys := make([]string, 0, len(tags))
	for _, t := range tags {
		keys = append(keys, d.key(t))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// key is Key, folding letter case for an edge that ignores it, so that two keys it takes
// for one are sent once.
func (d Dialect) key(t string) string {
	k := d.Key(t)
	if d.limits().foldCase {
		k = strings.ToLower(k)
	}
	return k
}

// Fit is how a response's tags were written for its edge.
type Fit uint8

// The fits.
const (
	// Fits: every tag written as [Dialect.Key] spells it.
	Fits Fit = iota + 1
	// Coarsened: the row tags of some tables were replaced by their table's scan tag to fit
	// the edge's limits; the edge purges the response on every change to those tables.
	Coarsened
	// Refused: the tags did not fit even so, and the response is sent with the edge's
	// no-store, so that the edge does not keep what it could not purge.
	Refused
)

// String returns "fits", "coarsened" or "refused".
func (f Fit) String() string {
	switch f {
	case Fits:
		return "fits"
	case Coarsened:
		return "coarsened"
	case Refused:
		return "refused"
	}
	return "edge.Fit(?)"
}

// Tags returns the value of d's tag field for a response carrying tags (with [AllTag]),
// within d's limits, and how it fits. When the spelled tags are too many or too long, the
// row tags of the table with the most of them are replaced by its scan tag, then those of
// the next, until they fit; if they still do not, Tags returns "" and Refused: no tag is ever
// left out, and a response whose tags cannot all be written is not stored by the edge.
func (d Dialect) Tags(tags []string) (string, Fit) {
	l := d.limits()
	keys := make([]string, 0, len(tags)+1)
	keys = append(keys, d.key(AllTag))
	rows := map[string]int{} // row tags per table
	for _, t := range tags {
		keys = append(keys, d.key(t))
		if table, ok := rowTable(t); ok {
			rows[table]++
		}
	}
	fit := Fits
	for {
		slices.Sort(keys)
		keys = slices.Compact(keys)
		if fits(keys, l) {
			return strings.Join(keys, string(l.sep)), fit
		}
		table, n := "", 0
		for t, c := range rows {
			if c > n || c == n && t < table {
				table, n = t, c
			}
		}
		if n == 0 {
			return "", Refused
		}
		delete(rows, table)
		fit = Coarsened
		keys = keys[:0]
		keys = append(keys, d.key(AllTag))
		for _, t := range tags {
			if tt, ok := rowTable(t); ok {
				if _, kept := rows[tt]; !kept {
					t = coarse(tt)
				}
			}
			keys = append(keys, d.key(t))
		}
	}
}

func fits(keys []string, l limits) bool {
	if l.maxTags > 0 && len(keys) > l.maxTags {
		return false
	}
	n := len(keys) - 1 // separators
	for _, k := range keys {
		n += len(k)
	}
	return n <= l.maxHeader
}
