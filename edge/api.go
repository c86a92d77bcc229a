package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// postJSON sends body as JSON to url with the header h, and classifies the answer: nil for a
// 2xx (its body decoded into out, if not nil), a *RateLimitError for a 429, an error wrapping
// ErrPermanent for a request the API refuses as such (400, 404, 413, 422), and a plain
// error, to be retried, for anything else (5xx, a failed authentication that may be fixed, a
// network error).
func postJSON(ctx context.Context, client *http.Client, what, url string, h http.Header, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("edge: %s: %w: %w", what, ErrPermanent, err)
	}
	return post(ctx, client, what, url, h, b, out)
}

func post(ctx context.Context, client *http.Client, what, url string, h http.Header, b []byte, out any) error {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("edge: %s: %w: %w", what, ErrPermanent, err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("edge: %s: %w", what, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		if out != nil {
			if err := json.Unmarshal(rb, out); err != nil {
				return fmt.Errorf("edge: %s: unreadable answer: %w", what, err)
			}
		}
		return nil
	case s == http.StatusTooManyRequests:
		return fmt.Errorf("edge: %s: %w", what, &RateLimitError{After: retryAfter(resp.Header)})
	case s == http.StatusBadRequest || s == http.StatusNotFound || s == http.StatusRequestEntityTooLarge || s == http.StatusUnprocessableEntity:
		return fmt.Errorf("edge: %s: %w: %s: %s", what, ErrPermanent, resp.Status, firstLine(rb))
	default:
		return fmt.Errorf("edge: %s: %s: %s", what, resp.Status, firstLine(rb))
	}
}
