// Package purge serves an HTTP endpoint that drops responses from a dumper cache — by path,
// by tag, or all of them — for operators and for writers that are not Go programs: a cron
// job, a deploy script, a service in another language that wrote to the database behind the
// application's back.
//
// A [Handler] takes authenticated POST requests whose JSON body ([Request]) names what to
// purge, and answers JSON:
//
//	curl -s -H "Authorization: Bearer $TOKEN" -d '{"paths":["/icecream/vanilla"]}' https://shop.example/_dumper/purge
//	{"paths":["/icecream/vanilla"],"invalidated":["/icecream/vanilla"]}
//
// It refuses, with a JSON body {"error": "…"} and nothing purged: a request without valid
// credentials (401, with WWW-Authenticate: Bearer), one its [Handler.Authorize] forbids
// (403), another method than POST (405, with Allow: POST), a body it cannot read as a
// [Request] or that names an invalid path or an empty tag (400), a body or a number of items
// over its limits (413).
//
// The conventional PURGE method of Varnish and Squid ("PURGE /icecream/vanilla") is not
// accepted: it needs the endpoint in front of every URL of the site rather than on one path
// an operator can firewall, and the path it purges would be the request-target as the
// server and routers rewrite it (cleaned, redirected) rather than the one the operator
// wrote; it can carry neither tags nor several paths.
package purge
