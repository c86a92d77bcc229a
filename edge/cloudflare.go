package edge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CloudflarePurger purges a Cloudflare zone by cache tag through Cloudflare's API: one
// POST /client/v4/zones/{ZoneID}/purge_cache per batch, as a JSON object {"tags": […]},
// authenticated by an API token (Authorization: Bearer). A 429 is retried after its
// Retry-After; an answer whose "success" is false is an error.
type CloudflarePurger struct {
	ZoneID string
	Token  string // an API token with the zone's Cache Purge permission
	// TagsPerRequest is the most tags one purge request carries. Zero means 30, the limit
	// Cloudflare documents for purges by tag; plans that allow more can raise it.
	TagsPerRequest int
	// BaseURL is the API's. Empty means "https://api.cloudflare.com".
	BaseURL string
	// Client sends the requests. Nil means http.DefaultClient.
	Client *http.Client
}

// MaxKeys returns TagsPerRequest, or 30.
func (p CloudflarePurger) MaxKeys() int { return cmpOr(p.TagsPerRequest, 30) }

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
