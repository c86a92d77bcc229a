# dumper.vcl: Varnish (7, with varnish-modules' xkey) in front of a site cached by dumper.
# Include it from a VCL that declares the backend and who may purge:
#
#     vcl 4.1;
#     backend default { .host = "127.0.0.1"; .port = "8080"; }
#     acl dumper_purgers { "127.0.0.1"; "::1"; }
#     include "dumper.vcl";
#
# What it does:
#   - PURGE with an Xkey-Purge header of space-separated keys (what edge.VarnishPurger
#     sends) removes every object tagged with one of them, for a client in dumper_purgers;
#   - a response is kept only when dumper said so, by an xkey field with its tags and a
#     Surrogate-Control max-age: anything else (no-store, or no tags: nothing could purge it)
#     is passed on without being kept. No grace and no keep: a purged object is gone;
#   - xkey and Surrogate-Control are removed before a response reaches a client, and
#     Varnish adds itself to Cache-Status (RFC 9211): "varnish; hit", "varnish; fwd=miss"
#     or, for what it does not keep, "varnish; fwd=uri-miss; detail=uncacheable".
# Its subroutines run before Varnish's built-in ones, which still apply (a request with a
# Cookie or Authorization header is passed to the backend).

import xkey;
import std;

sub vcl_recv {
	if (req.method == "PURGE") {
		if (client.ip !~ dumper_purgers) {
			return (synth(403, "Forbidden"));
		}
		if (!req.http.Xkey-Purge) {
			return (synth(400, "Xkey-Purge header required"));
		}
		set req.http.X-Dumper-Purged = xkey.purge(req.http.Xkey-Purge);
		return (synth(200, "Purged " + req.http.X-Dumper-Purged));
	}
}

sub vcl_backend_response {
	if (!beresp.http.Xkey || beresp.http.Surrogate-Control !~ "(^|[ ,])max-age=[0-9]+") {
		# A hit-for-miss object for a second: requests for it meanwhile go to dumper at
		# once rather than queueing behind one another, and the next response that dumper
		# tags is kept.
		set beresp.uncacheable = true;
		set beresp.ttl = 1s;
		set beresp.grace = 0s;
		set beresp.keep = 0s;
		return (deliver);
	}
	set beresp.ttl = std.duration(regsub(beresp.http.Surrogate-Control, "^(.*[ ,])?max-age=([0-9]+).*$", "\2") + "s", 0s);
	set beresp.grace = 0s;
	set beresp.keep = 0s;
	# The backend's Cache-Control speaks to browsers (dumper's no-cache, say): Varnish's
	# own lifetime comes from Surrogate-Control alone.
	return (deliver);
}

sub vcl_deliver {
	unset resp.http.Xkey;
	unset resp.http.Surrogate-Control;
	if (obj.hits > 0) {
		set req.http.X-Dumper-Status = "varnish; hit";
	} elsif (obj.uncacheable) {
		set req.http.X-Dumper-Status = "varnish; fwd=uri-miss; detail=uncacheable";
	} else {
		set req.http.X-Dumper-Status = "varnish; fwd=miss; stored";
	}
	if (resp.http.Cache-Status) {
		set resp.http.Cache-Status = resp.http.Cache-Status + ", " + req.http.X-Dumper-Status;
	} else {
		set resp.http.Cache-Status = req.http.X-Dumper-Status;
	}
	unset req.http.X-Dumper-Status;
}
