// Package edge lets a cache in front of a dumper-cached application — Varnish, Fastly,
// Cloudflare, Akamai, Bunny — store the responses dumper stores and purges it of every
// invalidation dumper applies.
//
// An [Edge] is both sides. As a [dumper.Edge] ([dumper.Policy.Edge]) it writes each stored
// response's tags in the edge's [Dialect] (xkey, Surrogate-Key, Cache-Tag, Edge-Cache-Tag,
// CDN-Tag), within the limits the edge documents, with the edge's own lifetime apart from the
// browser's (Surrogate-Control, CDN-Cache-Control…), and keeps from the edge what it could not
// purge or what was stale on arrival. As a [dumper.Observer] ([Edge.Observer]) it queues a
// purge of the tags of every invalidation, sent by a [Purger] ([VarnishPurger],
// [FastlyPurger], [CloudflarePurger], [AkamaiPurger], [BunnyPurger]) in batches, paced,
// retried while the edge is down, and sent a second time [Options.Delay] later, which bounds
// how long the edge can serve a response rendered before a write. [VCL] is the Varnish
// configuration that goes with it.
//
// docs/edge.md in the repository states the rules, the bound and how it was measured.
package edge
