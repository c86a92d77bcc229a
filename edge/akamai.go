package edge

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AkamaiPurger purges by cache tag through Akamai's Fast Purge API (v3): one
// POST /ccu/v3/{invalidate|delete}/tag/{network} per batch, as a JSON object
// {"objects": […]} of at most 50,000 bytes (the API's limit), signed with EdgeGrid
// (EG1-HMAC-SHA256) from the API client's credentials.
//
// Fast Purge limits its rate per account with two token buckets, both checked before a
// request is accepted: 100 requests, refilled 50 a second, and 5,000 cache tags, refilled
// 500 a minute. Its 429 carries no Retry-After; its documentation says to wait five
// seconds, which Purge asks for (a [*RateLimitError] of 5 s).
type AkamaiPurger struct {
	// Host is the API client's host ("akab-….luna.akamaiapis.net"), or a base URL with a
	// scheme (tests).
	Host                                   string
	ClientToken, ClientSecret, AccessToken string
	// Network is "production" or "staging". Empty means "production".
	Network string
	// Delete removes the objects instead of invalidating them (Akamai then refetches even
	// when the origin answers 304). Off by default.
	Delete bool
	// Client sends the requests. Nil means http.DefaultClient.
	Client *http.Client
	// RequestLimit and TagLimit are the account's limits. The limits are the account's, for
	// all its API clients: give each of several instances its share. Zero means
	// {100, 20 * time.Millisecond} and {5000, 120 * time.Millisecond}.
	RequestLimit, TagLimit Limit
}

// akamaiRetry is how long Fast Purge's documentation says to wait after a 429.
const akamaiRetry = 5 * time.Second

// Limits returns RequestLimit and TagLimit, or Fast Purge's documented limits.
func (p AkamaiPurger) Limits() (requests, keys Limit) {
	return cmpOr(p.RequestLimit, Limit{Burst: 100, Every: 20 * time.Millisecond}),
		cmpOr(p.TagLimit, Limit{Burst: 5000, Every: 120 * time.Millisecond})
}

// akamaiMaxBody is the Fast Purge API's limit on a request body.
const akamaiMaxBody = 50_000

// MaxKeys returns 350: the JSON of 350 tags of 128 characters (Akamai's limit, which
// [Dialect.Key] keeps to, with no byte that JSON escapes) fits in a body of 50,000 bytes,
// so that each Purge call is one request, as the rate limits count. A longer batch is split
// all the same.
func (p AkamaiPurger) MaxKeys() int { return 350 }

// Purge purges keys, in as many requests as the body limit needs.
func (p AkamaiPurger) Purge(ctx context.Context, keys []string) error {
	base := p.Host
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	base = strings.TrimSuffix(base, "/")
	op := "invalidate"
	if p.Delete {
		op = "delete"
	}
	network := cmpOr(p.Network, "production")
	u := base + "/ccu/v3/" + op + "/tag/" + url.PathEscape(network)
	for len(keys) > 0 {
		n, size := 0, len(`{"objects":[]}`)
		for n < len(keys) {
			kb, _ := json.Marshal(keys[n])
			if n > 0 && size+len(kb)+1 > akamaiMaxBody {
				break
			}
			size += len(kb) + 1
			n++
		}
		body, err := json.Marshal(map[string][]string{"objects": keys[:n]})
		if err != nil {
			return fmt.Errorf("edge: akamai purge: %w: %w", ErrPermanent, err)
		}
		keys = keys[n:]
		auth, err := p.sign(http.MethodPost, u, body, time.Now())
		if err != nil {
			return err
		}
		if err := post(ctx, p.Client, "akamai purge", u, http.Header{"Authorization": {auth}}, body, nil); err != nil {
			var rl *RateLimitError
			if errors.As(err, &rl) && rl.After == 0 {
				rl.After = akamaiRetry
			}
			return err
		}
	}
	return nil
}

// sign returns the Authorization field of an EdgeGrid request: the client and access
// tokens, a timestamp and a nonce, and an HMAC-SHA256 signature, keyed by the HMAC of the
// timestamp under the client secret, of the method, scheme, host, path and query, the
// (empty) list of signed headers, the SHA-256 of the body and the field so far.
func (p AkamaiPurger) sign(method, rawURL string, body []byte, now time.Time) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("edge: akamai purge: %w: %w", ErrPermanent, err)
	}
	var nb [16]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return "", fmt.Errorf("edge: akamai purge: %w", err)
	}
	auth := edgeGridHeader(p.ClientToken, p.AccessToken, now.UTC().Format("20060102T15:04:05+0000"), hex.EncodeToString(nb[:]))
	return auth + "signature=" + edgeGridSignature(p.ClientSecret, auth, method, u, body), nil
}

// edgeGridHeader returns the Authorization field of an EdgeGrid request up to its signature.
func edgeGridHeader(clientToken, accessToken, timestamp, nonce string) string {
	return "EG1-HMAC-SHA256 client_token=" + clientToken + ";access_token=" + accessToken +
		";timestamp=" + timestamp + ";nonce=" + nonce + ";"
}

// edgeGridSignature returns the signature of an EdgeGrid request whose Authorization field
// up to its signature is auth (with no signed headers; the body hashed as a whole, as
// Fast Purge's bodies are under EdgeGrid's 128 KiB).
func edgeGridSignature(clientSecret, auth, method string, u *url.URL, body []byte) string {
	timestamp := ""
	for _, part := range strings.Split(strings.TrimPrefix(auth, "EG1-HMAC-SHA256 "), ";") {
		if v, ok := strings.CutPrefix(part, "timestamp="); ok {
			timestamp = v
		}
	}
	key := hmacBase64([]byte(clientSecret), timestamp)
	contentHash := ""
	if method == http.MethodPost && len(body) > 0 {
		sum := sha256.Sum256(body)
		contentHash = base64.StdEncoding.EncodeToString(sum[:])
	}
	path := u.EscapedPath()
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	data := strings.Join([]string{method, u.Scheme, u.Host, path, "", contentHash, auth}, "\t")
	return hmacBase64([]byte(key), data)
}

func hmacBase64(key []byte, data string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
