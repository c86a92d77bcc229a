package metriclabel

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/dumperhq/dumper"
)

// TestVocabulary: known values (renamed or not), then the first max short tokens, then
// Other.
func TestVocabulary(t *testing.T) {
	t.Parallel()
	v := New(map[string]string{"": "direct", "gorm": "gorm"}, 2)
	tests := []struct{ in, want string }{
		{"", "direct"}, {"gorm", "gorm"}, {"a", "a"}, {"B", Other}, {"b", "b"}, {"c", Other},
		{"a", "a"}, {"other", Other}, {"x y", Other}, {strings.Repeat("z", MaxBytes), Other},
	}
	for _, tt := range tests {
		if got := v.Label(tt.in); got != tt.want {
			t.Errorf("Label(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := New(Identity("x"), 0).Label("y"); got != Other {
		t.Errorf("a closed vocabulary's Label(y) = %q, want other", got)
	}
}

// TestSources: the project's sources, "direct" for none, and extra ones.
func TestSources(t *testing.T) {
	t.Parallel()
	v := Sources([]string{"Import Job", ""})
	for in, want := range map[string]string{"": "direct", "request": "request", "pgnotify": "pgnotify", "Import Job": "Import Job", "Other Job": Other} {
		if got := v.Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIndexes: classes, results and store operations, with their out-of-range values.
func TestIndexes(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{0: "none", 99: "none", 100: "1xx", 204: "2xx", 304: "3xx", 451: "4xx", 599: "5xx", 600: "none"} {
		if got := ClassLabel(Class(code)); got != want {
			t.Errorf("class of %d: %q, want %q", code, got, want)
		}
	}
	for r, want := range map[dumper.Result]string{0: Other, dumper.ResultHit: "hit", dumper.ResultRefused: "refused", 200: Other} {
		if got := Results[Result(r)]; got != want {
			t.Errorf("result %d: %q, want %q", r, got, want)
		}
	}
	for op, want := range map[string]string{"get": "get", "set": "set", "invalidate": "invalidate", "scan": Other, "": Other} {
		if got := OpLabel(Op(op)); got != want {
			t.Errorf("op %q: %q, want %q", op, got, want)
		}
	}
}

// TestVocabularyConcurrent: goroutines meeting new values at once never give more than max
// of them a value of their own, and each value keeps the one it got.
func TestVocabularyConcurrent(t *testing.T) {
	t.Parallel()
	v := New(Identity("known"), 4)
	var wg sync.WaitGroup
	got := make([][]string, 8)
	for g := range got {
		wg.Go(func() {
			for i := range 64 {
				got[g] = append(got[g], v.Label(fmt.Sprintf("v%d", i%16)))
			}
		})
	}
	wg.Wait()
	own := map[string]bool{}
	for _, labels := range got {
		for i, l := range labels {
			if l != Other {
				own[l] = true
				if want := fmt.Sprintf("v%d", i%16); l != want {
					t.Fatalf("value %s labelled %s", want, l)
				}
			}
		}
	}
	if len(own) != 4 {
		t.Errorf("%d values got their own label, want 4: %v", len(own), own)
	}
	for l := range own {
		if v.Label(l) != l {
			t.Errorf("%s lost its label", l)
		}
	}
}
