package edge

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// BunnyPurger purges a Bunny pull zone by cache tag through Bunny's API: one
// POST /pullzone/{PullZoneID}/purgeCache per tag, as a JSON object {"CacheTag": "…"},
// authenticated by the AccessKey header. The API takes one tag per request.
type BunnyPurger struct {
	PullZoneID string
	AccessKey  string
	// BaseURL is the API's. Empty means "https://api.bunny.net".
	BaseURL string
	// Client sends the requests. Nil means http.DefaultClient.
	Client *http.Client
}

// MaxKeys returns 1: the API purges one tag per request.
func (p BunnyPurger) MaxKeys() int { return 1 }

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
