package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
)

// TestHint starts the demo as a user would, then runs in a shell each command of the hint it
// prints, and checks that each prints what its comment says: the Cache-Status of the page
// (fwd=uri-miss the first time, hit, fwd=stale after a write), the status line, and the new
// name after a write.
func TestHint(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		runHint(t, []string{"-db", filepath.Join(t.TempDir(), "shop.db")}, "curl")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		schema, _ := testservice.PostgresSchema(t, "icecream_hint_")
		// psql takes search_path only inside options, which pgx passes on as well.
		dsn := testservice.WithParam(testservice.PostgresDSN(t), "options", "-csearch_path="+schema)
		runHint(t, []string{"-postgres", dsn}, "curl", "psql")
	})
}

// runHint runs the demo with args until the test ends, and the commands of its hint.
func runHint(t *testing.T, args []string, tools ...string) {
	t.Helper()
	for _, tool := range append(tools, "sh") {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI=true: %v", tool, err)
			}
			t.Skipf("%s not installed, skipping: %v", tool, err)
		}
	}
	pg := strings.Contains(strings.Join(args, " "), "-postgres")
	lines := startDemo(t, append([]string{"-addr", "127.0.0.1:0"}, args...))
	var commands []string
	inHint, listening := false, !pg
	deadline := time.After(30 * time.Second)
	for !listening || commands == nil || inHint {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
			if !ok {
				t.Fatalf("the demo stopped before printing its hint and listening; hint so far: %q", commands)
			}
		case <-deadline:
			t.Fatalf("no hint and listener after 30s; hint so far: %q", commands)
		}
		switch {
		case strings.HasPrefix(line, "Try it"):
			inHint = true
		case inHint && strings.TrimSpace(line) == "":
			inHint = false
		case inHint:
			commands = append(commands, strings.TrimSpace(line))
		case strings.Contains(line, "pgnotify: listening"):
			listening = true
		}
	}
	wantCommands := 4
	if pg {
		wantCommands += 2
	}
	if len(commands) != wantCommands {
		t.Fatalf("hint has %d commands, want %d: %q", len(commands), wantCommands, commands)
	}

	newName := regexp.MustCompile(`"name":"([^"]+)"|SET name = '([^']+)'`)
	var name string
	afterWrite := false
	for _, command := range commands {
		sh, comment, ok := strings.Cut(command, " # ")
		if !ok {
			t.Fatalf("hint command %q says nothing of what it prints", command)
		}
		want, _, _ := strings.Cut(comment, " (")
		if strings.Contains(sh, "grep") && strings.Contains(sh, "Cache-Status") {
			want = "Cache-Status: dumper; " + want + "\r"
		}
		check := func(out string) bool {
			return strings.Contains(out, want) && (!strings.Contains(sh, "<h1>") || strings.Contains(out, "<h1>"+name+"</h1>"))
		}
		out := shell(t, sh)
		// A write made outside the application reaches the cache through NOTIFY, a moment
		// after it returns: until then the page is the old one, and a hit.
		if afterWrite {
			wait.Until(10*time.Second, func() bool {
				if check(out) || !strings.Contains(out, "; hit") {
					return true
				}
				out = shell(t, sh)
				return false
			})
		}
		if !check(out) {
			t.Errorf("%s\nprinted %q, want %q (and the name %q in <h1>)", command, out, want, name)
		}
		if afterWrite {
			settle(t, sh)
		}
		m := newName.FindStringSubmatch(sh)
		if afterWrite = m != nil; afterWrite {
			name = m[1] + m[2]
		}
	}
}

// settle fetches the page with command until it is a hit. A script runs faster than a person
// types: with PostgreSQL, the application's own write also comes back through NOTIFY, and may
// land while the page after it renders. The cache then rightly does not store that page, and
// the next request would be a miss (fwd=uri-miss) rather than the hint's fwd=stale. A person
// typing the commands never sees that; waiting for a hit plays their pause.
func settle(t *testing.T, command string) {
	t.Helper()
	wait.For(t, 10*time.Second, "a hit from "+command, func() bool { return strings.Contains(shell(t, command), "; hit") })
}

// startDemo runs the demo with args until the test ends, and returns the lines it prints.
func startDemo(t *testing.T, args []string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	exited := make(chan int, 1)
	go func() {
		code := run(ctx, args, pw)
		pw.Close()
		exited <- code
	}()
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads any more; keep the demo from blocking
			}
		}
		_, _ = io.Copy(io.Discard, pr) // a line too long for the scanner
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("the demo exited with status %d", code)
		}
	})
	return lines
}

// shell runs command in sh and returns what it printed.
func shell(t *testing.T, command string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "sh", "-c", command).CombinedOutput()
	return string(out)
}

// TestHintDSN: the psql command of the hint names the database the demo was given, quoted
// for the shell, without its password.
func TestHintDSN(t *testing.T) {
	t.Parallel()
	tests := []struct{ dsn, want string }{
		{"postgres://postgres@127.0.0.1:5432/test", "psql postgres://postgres@127.0.0.1:5432/test -c"},
		{"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "psql 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' -c"},
		{"postgres://shop:s3cret@db.example/shop", "psql postgres://shop@db.example/shop -c"},
		{`host=localhost user=shop password='it\'s secret' dbname=shop`, "psql 'host=localhost user=shop dbname=shop' -c"},
		{"host=localhost password=s3cret dbname=shop", "psql 'host=localhost dbname=shop' -c"},
		{"dbname=shop password=s3cret", "psql dbname=shop -c"},
		{`dbname='o\'neil'`, `psql 'dbname='\''o\'\''neil'\''' -c`},
	}
	for _, tt := range tests {
		h := hint("http://localhost:8080", tt.dsn)
		if !strings.Contains(h, "\n  "+tt.want+" ") {
			t.Errorf("hint for %q:\n%s\nwant a line with %q", tt.dsn, h, tt.want)
		}
		if strings.Contains(h, "secret") || strings.Contains(h, "s3cret") {
			t.Errorf("hint for %q prints the password:\n%s", tt.dsn, h)
		}
	}
	if h := hint("http://localhost:8080", ""); strings.Contains(h, "psql") {
		t.Errorf("hint without PostgreSQL mentions psql:\n%s", h)
	}
}
