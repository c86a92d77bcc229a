// Package oteldumper reports what a [dumper.Cache] does to OpenTelemetry: it puts the
// cache's result on the request's active span, and records the cache's metrics through
// the OpenTelemetry metrics API.
//
//	rec, err := oteldumper.New(oteldumper.Options{Cache: "pages", MeterProvider: mp})
//	…
//	c, err := dumper.New(dumper.Options{Name: "pages", Observers: []dumper.Observer{rec.Observer()}})
//	…
//	rec.Watch(c) // the store's entries and bytes
//
// The span is the one active in the request's context: the server span of otelhttp, say,
// when it wraps the cache's middleware. OpenTelemetry's semantic conventions have no
// attributes for an HTTP cache's outcome, so the attributes are the project's own, under
// dumper.cache, and follow the Cache-Status header (RFC 9211); a failure carries the
// conventions' error.type. No metric attribute takes a value from a request or a tag.
package oteldumper
