package capturetest

import "math/rand/v2"

// Gen is the generator of a run, for the reads and writes of a layer's own API
// ([Config.Reads], [Config.Write]). The tables it made:
//
//	t0 (id int PRIMARY KEY, slug text UNIQUE NOT NULL, n int, s text)
//	t1 (id int PRIMARY KEY, slug text UNIQUE NOT NULL, ref int REFERENCES t0 (id) ON DELETE CASCADE, n int, s text)
//	t2 (id int PRIMARY KEY, slug text UNIQUE NOT NULL, ref int REFERENCES t1 (id) ON DELETE SET NULL, n int, s text)
//	t3 (id int PRIMARY KEY, n int, s text)
//
// with ids from 1 to about 12, n from 0 to 9 and s one of a few words.
type Gen struct{ g *gen }

// Rand returns the run's source of randomness: draw from it only, so that a seed replays
// the run.
func (g *Gen) Rand() *rand.Rand { return g.g.rng }

// IDs returns the ids table holds now, in order.
func (g *Gen) IDs(table string) []int { return g.g.idsOrNil(table) }

// Slugs returns the slugs table holds now, in the order of its ids.
func (g *Gen) Slugs(table string) []string { return g.g.slugsOrNil(table) }

// Pick returns one of ids, or now and then an id that may not be there.
func (g *Gen) Pick(ids []int) int { return g.g.pick(ids) }

// PickSlug returns one of slugs, or now and then one that is not there.
func (g *Gen) PickSlug(slugs []string) string { return g.g.pickSlug(slugs) }

// Fresh returns an id that is not in ids, most of the time.
func (g *Gen) Fresh(ids []int) int { return g.g.fresh(ids) }

// Slug returns a new slug for the row id of table.
func (g *Gen) Slug(table string, id int) string { return g.g.slug(table, id) }

// Word returns one of the words of the s columns.
func (g *Gen) Word() string { return g.g.word() }
