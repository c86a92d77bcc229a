package dumper_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/dumperhq/dumper"
)

// recordingStore is a memory store that remembers the tags of its last Invalidate.
type recordingStore struct {
	dumper.Store
	mu   sync.Mutex
	tags []string
}

func (s *recordingStore) Invalidate(ctx context.Context, tags ...string) error {
	s.mu.Lock()
	s.tags = slices.Clone(tags)
	s.mu.Unlock()
	return s.Store.Invalidate(ctx, tags...)
}

func TestPathTags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		path string
		want []string
	}{
		{"plain", "/icecream/vanilla", []string{"/icecream/vanilla"}},
		{"raw UTF-8", "/icecream/crème", []string{"/icecream/cr%C3%A8me"}},
		{"escaped", "/icecream/cr%C3%A8me", []string{"/icecream/cr%C3%A8me", "/icecream/cr%25C3%25A8me"}},
		{"unreserved escape", "/product/50%41off", []string{"/product/50Aoff", "/product/50%2541off"}},
		{"lower-case escape", "/p/caf%c3%a9", []string{"/p/caf%C3%A9", "/p/caf%25c3%25a9"}},
		{"query", "/search/what?", []string{"/search/what", "/search/what%3F"}},
		{"built with Path", dumper.Path("p", "caf%C3%A9"), []string{"/p/caf%25C3%25A9", "/p/caf%2525C3%2525A9"}},
		{"escaped slash", "/a%2Fb", []string{"/a/b", "/a%252Fb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := dumper.PathTags(tt.path)
			if err != nil {
				t.Fatalf("PathTags(%q): %v", tt.path, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("PathTags(%q) = %q, want %q", tt.path, got, tt.want)
			}
			// Exactly what InvalidatePaths drops.
			mem, err := dumper.NewMemoryStore(0)
			if err != nil {
				t.Fatal(err)
			}
			store := &recordingStore{Store: mem}
			c := newCache(t, dumper.Options{Store: store})
			if err := c.InvalidatePaths(context.Background(), tt.path); err != nil {
				t.Fatalf("InvalidatePaths(%q): %v", tt.path, err)
			}
			dropped := slices.Sorted(slices.Values(store.tags))
			if sorted := slices.Sorted(slices.Values(got)); !slices.Equal(sorted, dropped) {
				t.Errorf("PathTags(%q) = %q, InvalidatePaths invalidated %q", tt.path, sorted, dropped)
			}
		})
	}
}

func TestPathTagsInvalid(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "x", "/a#b", "http://h/a"} {
		if tags, err := dumper.PathTags(p); !errors.Is(err, dumper.ErrInvalidPath) {
			t.Errorf("PathTags(%q) = %q, %v, want an error wrapping ErrInvalidPath", p, tags, err)
		}
	}
}
