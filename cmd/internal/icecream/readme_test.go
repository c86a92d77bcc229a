package icecream_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadme runs each console session of the README (the commands after "$ ") in a shell,
// against a fresh shop in place of localhost:8080, and checks that each command prints what
// the README shows after it. Times (hh:mm:ss, as $(date +%T) prints) are compared as such.
func TestReadme(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sh", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI=true: %v", tool, err)
			}
			t.Skipf("%s not installed, skipping: %v", tool, err)
		}
	}
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sessions := consoleSessions(string(readme))
	if len(sessions) < 2 {
		t.Fatalf("README has %d console sessions, want the demo's walk-through and its write API", len(sessions))
	}
	clock := regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`)
	for i, session := range sessions {
		t.Run(strings.Fields(session[0].command)[0]+"#"+string(rune('1'+i)), func(t *testing.T) {
			t.Parallel()
			s := sqliteShop(t)
			u, err := url.Parse(s.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range session {
				command := strings.ReplaceAll(step.command, "localhost:8080", u.Host)
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				out, _ := exec.CommandContext(ctx, "sh", "-c", command).Output()
				cancel()
				got := clock.ReplaceAllString(strings.ReplaceAll(string(out), "\r", ""), "hh:mm:ss")
				want := clock.ReplaceAllString(step.output, "hh:mm:ss")
				if got != want {
					t.Errorf("$ %s\nprinted:\n%s\nREADME shows:\n%s", step.command, got, want)
				}
			}
		})
	}
}

// step is a command of a console session and the output shown after it.
type step struct{ command, output string }

// consoleSessions returns the steps of each ```console block of a Markdown text.
func consoleSessions(md string) [][]step {
	var sessions [][]step
	var cur []step
	in := false
	for line := range strings.Lines(md) {
		switch {
		case !in && strings.TrimSpace(line) == "```console":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			if len(cur) > 0 {
				sessions = append(sessions, cur)
			}
		case in && strings.HasPrefix(line, "$ "):
			cur = append(cur, step{command: strings.TrimSuffix(line[2:], "\n")})
		case in && len(cur) > 0:
			cur[len(cur)-1].output += line
		}
	}
	return sessions
}
