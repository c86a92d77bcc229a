package main

import (
	"testing"
)

func TestVersionsCheck(t *testing.T) {
	t.Parallel()
	vs := new(versions)
	vs.completed(17, 1) // write 1
	vs.completed(17, 2) // write 2
	vs.completed(3, 1)  // write 3

	tests := []struct {
		name      string
		body      string
		seq       uint64 // writes completed when the request started
		lang      string
		stale     bool
		wrongLang bool
	}{
		{"nothing written yet", `<html lang="en">Flavor 017 v0`, 0, "en", false, false},
		{"current", `<html lang="en"><h1>Flavor 017 v2</h1>`, 2, "en", false, false},
		{"older than a completed write", `<html lang="en"><h1>Flavor 017 v1</h1>`, 2, "en", true, false},
		{"write not completed when the request started", `<html lang="en"><h1>Flavor 017 v1</h1>`, 1, "en", false, false},
		{"stale among many", `<html lang="fr"><li>Flavor 003 v1</li><li>Flavor 017 v0</li>`, 3, "fr", true, false},
		{"other flavors untouched", `<html lang="fr"><li>Flavor 003 v1</li><li>Flavor 200 v0</li>`, 3, "fr", false, false},
		{"wrong language", `<html lang="en">Flavor 017 v2`, 3, "fr", false, true},
		{"marker without a version", `<html lang="en">Flavor 017 and Flavor 1`, 3, "en", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stale, wrong, _ := vs.check([]byte(tt.body), tt.seq, tt.lang)
			if stale != tt.stale || wrong != tt.wrongLang {
				t.Errorf("check(%q, %d) = stale %v, wrong language %v; want %v, %v", tt.body, tt.seq, stale, wrong, tt.stale, tt.wrongLang)
			}
		})
	}
}
