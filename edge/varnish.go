package edge

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// VCL is the Varnish configuration shipped with this package (edge/varnish/dumper.vcl): it
// purges by xkey on PURGE from the clients of an ACL named dumper_purgers, keeps only the
// responses dumper tagged for it, for their Surrogate-Control max-age, and strips xkey and
// Surrogate-Control from what clients get. Write it next to a VCL that declares the backend
// and the ACL and includes it (see the file's comment).
//
//go:embed varnish/dumper.vcl
var VCL string

// VarnishPurger purges Varnish servers running [VCL]: a PURGE request with an Xkey-Purge
// header of space-separated keys to each of URLs, split so that no header line passes
// 7,000 bytes (Varnish's http_req_hdr_len is 8 KiB by default).
type VarnishPurger struct {
	// URLs are the servers' base URLs ("http://127.0.0.1:6081"), each purged of every key.
	URLs []string
	// Client sends the requests. Nil means http.DefaultClient.
	Client *http.Client
}

// maxPurgeLine bounds the Xkey-Purge field of one request.
const maxPurgeLine = 7000

// MaxKeys returns 256: one call purges that many keys, in as many requests per server as
// their length needs.
func (p VarnishPurger) MaxKeys() int { return 256 }

// Purge sends keys to every server; it fails if one of them did not answer 200.
func (p VarnishPurger) Purge(ctx context.Context, keys []string) error {
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	for len(keys) > 0 {
		n, size := 0, 0
		for n < len(keys) && (n == 0 || size+1+len(keys[n]) <= maxPurgeLine) {
			size += 1 + len(keys[n])
			n++
		}
		line := strings.Join(keys[:n], " ")
		keys = keys[n:]
		for _, u := range p.URLs {
			req, err := http.NewRequestWithContext(ctx, "PURGE", strings.TrimSuffix(u, "/")+"/", nil)
			if err != nil {
				return fmt.Errorf("edge: varnish purge: %w: %w", ErrPermanent, err)
			}
			req.Header.Set("Xkey-Purge", line)
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("edge: varnish purge: %w", err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
			case resp.StatusCode == http.StatusBadRequest:
				return fmt.Errorf("edge: varnish purge %s: %w: %s: %s", u, ErrPermanent, resp.Status, firstLine(body))
			default:
				return fmt.Errorf("edge: varnish purge %s: %s: %s", u, resp.Status, firstLine(body))
			}
		}
	}
	return nil
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
