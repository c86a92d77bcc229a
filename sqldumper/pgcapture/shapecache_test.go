package pgcapture

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestShapeCacheBytes: the shapes cached are bounded by Options.MaxShapeBytes, counted with
// their texts, long texts among them.
func TestShapeCacheBytes(t *testing.T) {
	const limit = 256 << 10
	a := New(nopInvalidator{}, func(context.Context, string, []string) (string, error) {
		return "", errors.New("no catalog in this test")
	}, &Options{MaxShapeBytes: limit})
	long := strings.Repeat("x", 30<<10)
	for i := range 200 {
		a.Shape(fmt.Sprintf("SELECT id FROM t WHERE name = '%s' AND id = %d", long, i))
		a.Shape(fmt.Sprintf("SELECT id FROM t WHERE id = %d", i))
	}
	a.shapes.CleanUp()
	var texts, n int
	for sql := range a.shapes.Keys() {
		texts += len(sql)
		n++
	}
	if texts > limit {
		t.Errorf("%d shapes cached, with %d bytes of text, over the %d of MaxShapeBytes", n, texts, limit)
	}
	if n == 0 {
		t.Error("nothing cached")
	}
	// The full cache admits a new text by how often it is used (its frequency must pass the
	// evicted entry's): a text used again and again is cached.
	sql := "SELECT id FROM t WHERE id = 1"
	for range 20 {
		first := a.Shape(sql)
		a.shapes.CleanUp() // the admission is decided now
		if a.Shape(sql) == first {
			return
		}
	}
	t.Error("a short text used 40 times is not cached")
}
