package edge

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// FastlyPurger purges a Fastly service by surrogate key through Fastly's API: one
// POST /service/{ServiceID}/purge per batch of at most 256 keys, the batch limit of the
// API, as a JSON object {"surrogate_keys": […]}, authenticated by the Fastly-Key header.
// Fastly documents surrogate-key purges as exempt from its API's rate limit (1,000 non-read
// requests an hour, which counts purge-all only), so FastlyPurger sets no limit; set
// Options.Pace to bound them anyway.
type FastlyPurger struct {
	ServiceID string
	Token     string // an API token with purge_select
	// Soft marks the objects stale instead of removing them (Fastly-Soft-Purge: 1): they
	// may still be served stale where the service allows it (stale-while-revalidate,
	// stale-if-error). Off by default: a purged object is gone.
	Soft bool
	// BaseURL is the API's. Empty means "https://api.fastly.com".
	BaseURL string
	// Client sends the requests. Nil means http.DefaultClient.
	Client *http.Client
}

// MaxKeys returns 256, the most surrogate keys one batch purge takes.
func (p FastlyPurger) MaxKeys() int { return 256 }

// Purge purges keys (at most 256).
func (p FastlyPurger) Purge(ctx context.Context, keys []string) error {
	base := strings.TrimSuffix(p.BaseURL, "/")
	if base == "" {
		base = "https://api.fastly.com"
	}
	h := http.Header{"Fastly-Key": {p.Token}}
	if p.Soft {
		h.Set("Fastly-Soft-Purge", "1")
	}
	var out map[string]string // key → purge id
	return postJSON(ctx, p.Client, "fastly purge", base+"/service/"+url.PathEscape(p.ServiceID)+"/purge", h,
		map[string][]string{"surrogate_keys": keys}, &out)
}
