package dumper_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRootModuleDependencies builds a user module that imports only the root package and
// checks its module list: otter (and what otter's go.mod names), never the adapters'
// dependencies (GORM, pgx, rueidis, SQLite), which live in the adapters' own modules.
func TestRootModuleDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("go command not found: %v", err)
		}
		t.Skipf("go command not found: %v", err)
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/user\n\ngo 1.26\n\nrequire github.com/dumperhq/dumper v0.0.0\n\n" +
			"replace github.com/dumperhq/dumper => " + root + "\n",
		"go.sum": string(sum),
		"main.go": `package main

import (
	"net/http"

	"github.com/dumperhq/dumper"
)

func main() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		panic(err)
	}
	_ = http.ListenAndServe("127.0.0.1:0", c.Middleware(http.NotFoundHandler()))
}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		// Outside the workspace: what a user's build resolves.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("build", "-o", os.DevNull, ".")
	mods := run("list", "-m", "all")
	t.Logf("go list -m all of a module importing only github.com/dumperhq/dumper:\n%s", mods)
	for _, line := range strings.Split(strings.TrimSpace(mods), "\n") {
		path, _, _ := strings.Cut(line, " ")
		for _, banned := range []string{"gorm", "pgx", "rueidis", "sqlite", "dumperhq/dumper/"} {
			if strings.Contains(path, banned) {
				t.Errorf("module %s in the list of a root-only user", path)
			}
		}
	}
	if !strings.Contains(mods, "github.com/maypok86/otter/v2 ") {
		t.Errorf("otter missing from the list:\n%s", mods)
	}
}
