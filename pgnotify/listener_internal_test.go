package pgnotify

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// invalidations is an Invalidator that keeps what it is asked to invalidate.
type invalidations struct{ paths, tags []string }

func (i *invalidations) InvalidatePaths(_ context.Context, paths ...string) error {
	i.paths = append(i.paths, paths...)
	return nil
}

func (i *invalidations) InvalidateTags(_ context.Context, tags ...string) error {
	i.tags = append(i.tags, tags...)
	return nil
}

// TestInvalidateBurst checks that a batch with more than MaxRows row-level changes of one
// table invalidates its tag without calling Map for each, while the other tables of the batch
// are mapped row by row.
func TestInvalidateBurst(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	mapped := func(_ context.Context, c Change) ([]string, []string, error) {
		calls.Add(1)
		return []string{"/" + c.Table + "/" + c.Key[0]}, nil, nil
	}
	config, err := pgx.ParseConfig("postgres://localhost/x")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewListener(config, Options{MaxRows: 3}, Table{Name: "a", Map: mapped}, Table{Name: "b", Map: mapped})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		a, b      int // row-level changes of each table
		wantCalls int64
		wantPaths int
		wantTags  []string
	}{
		{"at the threshold", 3, 1, 4, 4, nil},
		{"over it", 4, 1, 1, 1, []string{"table:a"}},
		{"both over it", 5, 9, 0, 0, []string{"table:a", "table:b"}},
	}
	for _, tt := range tests {
		calls.Store(0)
		var batch []notice
		for i := range tt.a {
			batch = append(batch, notice{Change: Change{Schema: "s", Table: "a", Op: Update, Key: []string{strconv.Itoa(i)}}})
		}
		for i := range tt.b {
			batch = append(batch, notice{Change: Change{Schema: "s", Table: "b", Op: Update, Key: []string{strconv.Itoa(i)}}})
		}
		var inv invalidations
		if err := l.invalidate(context.Background(), &inv, batch, nil); err != nil {
			t.Fatal(err)
		}
		if got := calls.Load(); got != tt.wantCalls {
			t.Errorf("%s: Map called %d times, want %d", tt.name, got, tt.wantCalls)
		}
		if len(inv.paths) != tt.wantPaths || fmt.Sprint(inv.tags) != fmt.Sprint(tt.wantTags) {
			t.Errorf("%s: invalidated paths %q and tags %q, want %d paths and tags %q", tt.name, inv.paths, inv.tags, tt.wantPaths, tt.wantTags)
		}
	}
}

// TestSalvage checks which payloads that decode refuses are turned into a table-level change.
func TestSalvage(t *testing.T) {
	t.Parallel()
	config, err := pgx.ParseConfig("postgres://localhost/x")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewListener(config, Options{}, Table{Name: "a"}, Table{Schema: "s", Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		payload string
		want    bool
	}{
		{`{"s":"x","t":"a","op":"I","k":[null]}`, true},
		{`{"t":"a"}`, true},
		{`{"s":"s","t":"b","op":"?"}`, true},
		{`{"s":"other","t":"b","op":"I","k":[null]}`, false},
		{`{"s":"x","t":"c","op":"I","k":[null]}`, false},
		{`not json`, false},
	}
	for _, tt := range tests {
		c, ok := l.salvage(tt.payload)
		if ok != tt.want || (ok && (!c.All || c.Key != nil)) {
			t.Errorf("salvage(%s) = %+v, %v; want a table-level change: %v", tt.payload, c, ok, tt.want)
		}
	}
}
