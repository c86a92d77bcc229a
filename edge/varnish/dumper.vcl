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
#   - the object's hash holds, besides the URL and Host of Varnish's built-in vcl_hash, the
#     value of every header of dumper.DefaultKeyHeaders the request carries, as dumper's
#     key does: a request that sets X-Forwarded-Host (say) to an odd value gets an object of
#     its own, and cannot poison the page served to everybody else. A Policy.KeyHeaders of
#     other names needs the same lines for them in dumper_key_headers;
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

# dumper_key_headers hashes the headers that dumper.DefaultKeyHeaders names, each with its
# name, all its values (std.collect joins repeated fields, as dumper keys every value).
sub dumper_key_headers {
	if (req.http.X-Forwarded-Proto) {
		std.collect(req.http.X-Forwarded-Proto);
		hash_data("x-forwarded-proto: " + req.http.X-Forwarded-Proto);
	}
	if (req.http.X-Forwarded-Protocol) {
		std.collect(req.http.X-Forwarded-Protocol);
		hash_data("x-forwarded-protocol: " + req.http.X-Forwarded-Protocol);
	}
	if (req.http.X-Forwarded-Scheme) {
		std.collect(req.http.X-Forwarded-Scheme);
		hash_data("x-forwarded-scheme: " + req.http.X-Forwarded-Scheme);
	}
	if (req.http.X-Forwarded-Ssl) {
		std.collect(req.http.X-Forwarded-Ssl);
		hash_data("x-forwarded-ssl: " + req.http.X-Forwarded-Ssl);
	}
	if (req.http.Front-End-Https) {
		std.collect(req.http.Front-End-Https);
		hash_data("front-end-https: " + req.http.Front-End-Https);
	}
	if (req.http.X-Url-Scheme) {
		std.collect(req.http.X-Url-Scheme);
		hash_data("x-url-scheme: " + req.http.X-Url-Scheme);
	}
	if (req.http.Forwarded) {
		std.collect(req.http.Forwarded);
		hash_data("forwarded: " + req.http.Forwarded);
	}
	if (req.http.X-Forwarded-Host) {
		std.collect(req.http.X-Forwarded-Host);
		hash_data("x-forwarded-host: " + req.http.X-Forwarded-Host);
	}
	if (req.http.X-Forwarded-Server) {
		std.collect(req.http.X-Forwarded-Server);
		hash_data("x-forwarded-server: " + req.http.X-Forwarded-Server);
	}
	if (req.http.X-Host) {
		std.collect(req.http.X-Host);
		hash_data("x-host: " + req.http.X-Host);
	}
	if (req.http.X-Original-Host) {
		std.collect(req.http.X-Original-Host);
		hash_data("x-original-host: " + req.http.X-Original-Host);
	}
	if (req.http.X-Forwarded-Port) {
		std.collect(req.http.X-Forwarded-Port);
		hash_data("x-forwarded-port: " + req.http.X-Forwarded-Port);
	}
	if (req.http.X-Forwarded-Prefix) {
		std.collect(req.http.X-Forwarded-Prefix);
		hash_data("x-forwarded-prefix: " + req.http.X-Forwarded-Prefix);
	}
	if (req.http.X-Original-Url) {
		std.collect(req.http.X-Original-Url);
		hash_data("x-original-url: " + req.http.X-Original-Url);
	}
	if (req.http.X-Rewrite-Url) {
		std.collect(req.http.X-Rewrite-Url);
		hash_data("x-rewrite-url: " + req.http.X-Rewrite-Url);
	}
	if (req.http.X-Forwarded-Uri) {
		std.collect(req.http.X-Forwarded-Uri);
		hash_data("x-forwarded-uri: " + req.http.X-Forwarded-Uri);
	}
	if (req.http.X-Original-Uri) {
		std.collect(req.http.X-Original-Uri);
		hash_data("x-original-uri: " + req.http.X-Original-Uri);
	}
	if (req.http.X-Http-Method-Override) {
		std.collect(req.http.X-Http-Method-Override);
		hash_data("x-http-method-override: " + req.http.X-Http-Method-Override);
	}
	if (req.http.X-Http-Method) {
		std.collect(req.http.X-Http-Method);
		hash_data("x-http-method: " + req.http.X-Http-Method);
	}
	if (req.http.X-Method-Override) {
		std.collect(req.http.X-Method-Override);
		hash_data("x-method-override: " + req.http.X-Method-Override);
	}
}

sub vcl_hash {
	call dumper_key_headers;
	# Varnish's built-in vcl_hash follows: the URL, and the Host.
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
