package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExplainFlag: with -explain the demo serves what a cached page depends on, read from
// the page's own queries; without it the path is an ordinary page of the shop (a 404).
func TestExplainFlag(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, explain := range []bool{true, false} {
		args := []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "shop.db")}
		if explain {
			args = append(args, "-explain")
		}
		base := demoURL(t, startDemo(t, args))
		get(base + "/icecream/vanilla")
		code, body := get(base + "/_dumper/explain?path=/icecream/vanilla")
		switch {
		case explain && (code != http.StatusOK || !strings.Contains(body, "ice_creams slug=vanilla") || !strings.Contains(body, ": cached")):
			t.Errorf("-explain: %d\n%s", code, body)
		case !explain && (code != http.StatusNotFound || strings.Contains(body, "ice_creams")):
			t.Errorf("without -explain: %d\n%s", code, body)
		}
	}
}

// demoURL reads the demo's base URL off its start-up line.
func demoURL(t *testing.T, lines <-chan string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the demo stopped before it was open")
			}
			if _, rest, found := strings.Cut(line, "ice-cream shop open"); found {
				if _, url, ok := strings.Cut(rest, "url="); ok {
					url, _, _ = strings.Cut(url, " ")
					return strings.TrimSuffix(url, "/")
				}
			}
		case <-deadline:
			t.Fatal("the demo did not open within 30 s")
		}
	}
}
