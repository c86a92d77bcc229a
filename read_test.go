package dumper

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestReadRecord: recording a Read gives a render exactly the tags, in the same order, that
// ReadTable of its scans and ReadRows of its narrowed tables give, whatever was read before.
func TestReadRecord(t *testing.T) {
	many := make([]string, maxRowValues+1)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	tests := []struct {
		name            string
		before          func(ctx context.Context)
		scans, narrowed []string
		column          string
		values          []string
		recordTwice     bool
	}{
		{name: "rows", narrowed: []string{"ice_creams"}, column: "slug", values: []string{"vanilla"}},
		{name: "rows of two tables", narrowed: []string{"p", "p_2026"}, column: "id", values: []string{"1", "2"}},
		{name: "scans and rows", scans: []string{"sizes", "views_base"}, narrowed: []string{"ice_creams"}, column: "id", values: []string{"7"}},
		{name: "scans only", scans: []string{"a", "b"}},
		{name: "nothing", recordTwice: true},
		{name: "names and values escaped", narrowed: []string{"my table"}, column: "c%l", values: []string{"a b/ü", ""}},
		{name: "a table both scanned and narrowed", scans: []string{"t"}, narrowed: []string{"t"}, column: "id", values: []string{"1"}},
		{name: "past the bound", narrowed: []string{"t"}, column: "id", values: many},
		{name: "twice, past the bound the second time", narrowed: []string{"t"}, column: "id", values: many[:200], recordTwice: true},
		{
			name:     "after a read of the same table",
			before:   func(ctx context.Context) { ReadRows(ctx, "t", "id", "9") },
			narrowed: []string{"t"}, column: "id", values: []string{"1"},
		},
		{
			name:     "after a scan of the same table",
			before:   func(ctx context.Context) { ReadTable(ctx, "t") },
			narrowed: []string{"t"}, column: "id", values: []string{"1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			render := func(read func(ctx context.Context)) []string {
				rs := &renderState{}
				ctx := context.WithValue(context.Background(), renderKey{}, rs)
				if tt.before != nil {
					tt.before(ctx)
				}
				read(ctx)
				if tt.recordTwice {
					read(ctx)
				}
				return slices.Clone(rs.tags)
			}
			r := NewRead(tt.scans, tt.narrowed, tt.column)
			got := render(func(ctx context.Context) { r.Record(ctx, tt.values...) })
			want := render(func(ctx context.Context) {
				ReadTable(ctx, tt.scans...)
				for _, n := range tt.narrowed {
					ReadRows(ctx, n, tt.column, tt.values...)
				}
			})
			if !slices.Equal(got, want) {
				t.Errorf("Record gave tags\n%q\nReadTable and ReadRows give\n%q", got, want)
			}
		})
	}
}

// TestReadRecordOutsideRender: outside a render, Record records nothing and allocates nothing.
func TestReadRecordOutsideRender(t *testing.T) {
	r := NewRead([]string{"a"}, []string{"b"}, "id")
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { r.Record(ctx, "1") }); n != 0 {
		t.Errorf("Record outside a render: %v allocations, want 0", n)
	}
}

// TestRowTagsArena: row tags built in the render's arena stay what RowTag spells, however many
// there are and however the arena grows.
func TestRowTagsArena(t *testing.T) {
	rs := &renderState{}
	ctx := context.WithValue(context.Background(), renderKey{}, rs)
	var want []string
	for i := range 60 {
		table := fmt.Sprintf("t%d", i)
		values := []string{fmt.Sprint(i), strings.Repeat("v", i*7), "a b/ü"}
		ReadRows(ctx, table, "id", values...)
		want = append(want, TableTag(table))
		for _, v := range values {
			want = append(want, RowTag(table, "id", v))
		}
	}
	got := slices.DeleteFunc(slices.Clone(rs.tags), func(s string) bool { return s == DatabaseTag })
	if !slices.Equal(got, want) {
		t.Errorf("tags\n%q\nwant\n%q", got, want)
	}
}
