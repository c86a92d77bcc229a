package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPurgeNeedsToken: -purge without a token in the environment is refused at start-up.
func TestPurgeNeedsToken(t *testing.T) {
	t.Setenv(purgeTokenEnv, "")
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"-purge", "-db", filepath.Join(t.TempDir(), "shop.db")}, &stderr); code != 2 {
		t.Errorf("run(-purge) without $%s = %d, want 2", purgeTokenEnv, code)
	}
	if !strings.Contains(stderr.String(), purgeTokenEnv) {
		t.Errorf("run(-purge) printed %q, want it to name $%s", stderr.String(), purgeTokenEnv)
	}
}

// TestPurgeFlag runs the README's purge commands against the demo started with -purge: each
// prints what the README shows, the purged page is rendered again, and the demo's log says
// who purged what. Without -purge the path is an ordinary page of the shop (a 404).
func TestPurgeFlag(t *testing.T) {
	for _, tool := range []string{"sh", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI=true: %v", tool, err)
			}
			t.Skipf("%s not installed, skipping: %v", tool, err)
		}
	}
	t.Setenv(purgeTokenEnv, "test-token-0123456789abcdef")
	commands := readmePurgeCommands(t)

	lines := startDemo(t, []string{"-purge", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "shop.db")})
	base := demoURL(t, lines)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	status := func(path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Header.Get("Cache-Status")
	}
	status("/icecream/vanilla")
	if got := status("/icecream/vanilla"); got != "dumper; hit" {
		t.Fatalf("GET /icecream/vanilla twice: Cache-Status %q, want a hit", got)
	}
	for i, c := range commands {
		command := strings.ReplaceAll(c.command, "localhost:8080", u.Host)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		out, err := exec.CommandContext(ctx, "sh", "-c", command).Output()
		cancel()
		if got := string(out); got != c.output {
			t.Errorf("$ %s\nprinted %q (%v)\nREADME shows %q", c.command, got, err, c.output)
		}
		if i == 0 {
			if got := status("/icecream/vanilla"); got != "dumper; fwd=stale; stored" {
				t.Errorf("GET /icecream/vanilla after its purge: Cache-Status %q, want fwd=stale", got)
			}
		}
	}
	deadline := time.After(10 * time.Second)
	for found := false; !found; {
		select {
		case line := <-lines:
			found = strings.Contains(line, "dumper/purge: purged") && strings.Contains(line, `who="bearer token"`) &&
				strings.Contains(line, "paths=[/icecream/vanilla]")
		case <-deadline:
			t.Fatal("the demo logged no purge of /icecream/vanilla by the bearer token within 10 s")
		}
	}

	base = demoURL(t, startDemo(t, []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "shop.db")}))
	resp, err := http.Post(base+purgePath, "application/json", strings.NewReader(`{"all":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST %s without -purge: %d, want 404", purgePath, resp.StatusCode)
	}
}

// readmePurgeCommands returns the curl commands of the README's purge example, each with the
// output shown after it in a "# " comment.
func readmePurgeCommands(t *testing.T) []step {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var steps []step
	for line := range strings.Lines(string(readme)) {
		switch {
		case strings.HasPrefix(line, "curl ") && strings.Contains(line, purgePath):
			steps = append(steps, step{command: strings.TrimSuffix(line, "\n")})
		case strings.HasPrefix(line, "# ") && len(steps) > 0 && steps[len(steps)-1].output == "":
			steps[len(steps)-1].output = strings.TrimPrefix(line, "# ")
		}
	}
	if len(steps) < 3 {
		t.Fatalf("the README shows %d purge commands, want 3 or more", len(steps))
	}
	for _, s := range steps {
		if s.output == "" {
			t.Fatalf("the README shows no output for %q", s.command)
		}
	}
	return steps
}

// step is a command of the README and the output shown after it.
type step struct{ command, output string }
