package edge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CloudflarePurger purges a Cloudflare zone by cache tag through Cloudflare's API: one
// POST /client/v4/zones/{ZoneID}/purge_cache per batch, as a JSON object {"tags": […]},
// authenticated by an API token (Authorization: Bearer). Purge by tag is available on every
// plan. A 429 is retried after its Retry-After; an answer whose "success" is false is an
// error.
type CloudflarePurger struct {
	ZoneID string
	Token  string // an API token with the zone's Cache Purge permission
	// TagsPerRequest is the most tags one purge request carries. Zero means 100, the most
	// operations per request Cloudflare documents for purges by tag on every plan.
	TagsPerRequest int
	// RequestLimit is the account's limit on purge requests by tag, hostname or prefix,
	// which Cloudflare documents per plan as a token bucket: Free 5 a minute (bucket 25),
	// Pro 5 a second (25), Business 10 a second (50), Enterprise 50 a second (500); e.g.
	// {Burst: 25, Every: 200 * time.Millisecond} on Pro. The limit is the account's: give
	// each of several instances its share. Zero means the Free plan's, {25, 12 * time.Second}.
	RequestLimit Limit
	// BaseURL is the API's. Empty means "https://api.cloudflare.com".
	BaseURL string
	// Client sends the requests. Nil means http.DefaultClient.
	Client *http.Client
}

// MaxKeys returns TagsPerRequest, or 100.
func (p CloudflarePurger) MaxKeys() int { return cmpOr(p.TagsPerRequest, 100) }

// Limits returns RequestLimit, or the Free plan's, for requests; the keys are bounded by
// MaxKeys alone.
func (p CloudflarePurger) Limits() (requests, keys Limit) {
	return cmpOr(p.RequestLimit, Limit{Burst: 25, Every: 12 * time.Second}), Limit{}
}

// Purge purges keys (at most MaxKeys).
func (p CloudflarePurger) Purge(ctx context.Context, keys []string) error {
	base := strings.TrimSuffix(p.BaseURL, "/")
	if base == "" {
		base = "https://api.cloudflare.com"
	}
	var out struct {
		Success bool `json:"success"`
		Errors  []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	err := postJSON(ctx, p.Client, "cloudflare purge", base+"/client/v4/zones/"+url.PathEscape(p.ZoneID)+"/purge_cache",
		http.Header{"Authorization": {"Bearer " + p.Token}}, map[string][]string{"tags": keys}, &out)
	if err != nil {
		return err
	}
	if !out.Success {
		return fmt.Errorf("edge: cloudflare purge: not successful: %v", out.Errors)
	}
	return nil
}
