package edge

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// BunnyPurger purges a Bunny pull zone by cache tag through Bunny's API: one
// POST /pullzone/{PullZoneID}/purgeCache per tag, as a JSON object {"CacheTag": "…"},
// authenticated by the AccessKey header. The API takes one tag per request.
//
// Bunny does not document stripping CDN-Tag from what it serves: assume the field of a
// stored response reaches browsers unless the pull zone removes it, with an Edge Rule whose
// action sets the response header CDN-Tag to an empty value for every request URL ("*"),
// or an Edge Script middleware that deletes it (docs/edge.md). Check a response from your
// pull zone.
type BunnyPurger struct {
	PullZoneID string
	AccessKey  string
	// RequestLimit is the account's limit on purges. Bunny documents its purge API as a
	// token bucket per account and purge type, a token per item; it names no type for tags,
	// so the default is that of its exact-URL purges, the strictest but prefixes': 120
	// tokens, 5 a second. Give each of several instances its share. Zero means {120, 200 *
	// time.Millisecond}.
	RequestLimit Limit
	// BaseURL is the API's. Empty means "https://api.bunny.net".
	BaseURL string
	// Client sends the requests. Nil means http.DefaultClient.
	Client *http.Client
}

// MaxKeys returns 1: the API purges one tag per request.
func (p BunnyPurger) MaxKeys() int { return 1 }

// Limits returns RequestLimit, or {120, 200ms}, for requests, which carry one key each.
func (p BunnyPurger) Limits() (requests, keys Limit) {
	return cmpOr(p.RequestLimit, Limit{Burst: 120, Every: 200 * time.Millisecond}), Limit{}
}

// Purge purges keys, one request each.
func (p BunnyPurger) Purge(ctx context.Context, keys []string) error {
	base := strings.TrimSuffix(p.BaseURL, "/")
	if base == "" {
		base = "https://api.bunny.net"
	}
	for _, k := range keys {
		err := postJSON(ctx, p.Client, "bunny purge", base+"/pullzone/"+url.PathEscape(p.PullZoneID)+"/purgeCache",
			http.Header{"Accesskey": {p.AccessKey}}, map[string]string{"CacheTag": k}, nil)
		if err != nil {
			return err
		}
	}
	return nil
}
