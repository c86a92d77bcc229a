package dumper_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeGoVersion: the README says, before the two commands, which Go they need, and it
// is the version of the go line of go.work and of every module it uses.
func TestReadmeGoVersion(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## The two commands")
	before, _, _ := strings.Cut(section, "```sh")
	m := regexp.MustCompile(`Go (1\.\d+) or later`).FindStringSubmatch(before)
	if m == nil {
		t.Fatalf("README does not say which Go the two commands need (\"Go 1.N or later\") before them")
	}
	stated := m[1]
	work, err := os.ReadFile("go.work")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"go.work"}
	for _, use := range regexp.MustCompile(`(?m)^\s+(\.\S*)$`).FindAllStringSubmatch(string(work), -1) {
		files = append(files, filepath.Join(use[1], "go.mod"))
	}
	if len(files) < 3 {
		t.Fatalf("go.work uses %d modules? %q", len(files)-1, files[1:])
	}
	goLine := regexp.MustCompile(`(?m)^go (1\.\d+)(\.\d+)?$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := goLine.FindStringSubmatch(string(b))
		if m == nil {
			t.Errorf("%s has no go line", f)
			continue
		}
		if m[1] != stated {
			t.Errorf("%s says go %s%s; README says Go %s or later", f, m[1], m[2], stated)
		}
	}
}
