package pgnotify

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestSnapshot checks the parsing of txid_snapshot's text and which transactions it shows
// committed.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	s, err := parseSnapshot("10:20:12,15")
	if err != nil {
		t.Fatal(err)
	}
	for tx, want := range map[uint64]bool{9: true, 10: true, 12: false, 13: true, 15: false, 19: true, 20: false, 25: false} {
		if got := s.visible(tx); got != want {
			t.Errorf("visible(%d) in %+v = %v, want %v", tx, s, got, want)
		}
	}
	if s, err := parseSnapshot("7:7:"); err != nil || !s.visible(6) || s.visible(7) {
		t.Errorf(`parseSnapshot("7:7:") = %+v, %v`, s, err)
	}
	for _, bad := range []string{"", "1:2", "a:2:", "5:3:", "1:5:x", "1:5:2,", "1:2:3:4"} {
		if _, err := parseSnapshot(bad); err == nil {
			t.Errorf("parseSnapshot(%q) succeeded", bad)
		}
	}
}

// TestRelativeTags checks what a change maps to for a relative of its table: the row tags
// of its key values under the relative's name when the relative's keys are among the
// change's key columns and Key, the relative's table tag otherwise, for a table-level change,
// a change without key columns, and a batch past maxRelativeRows changes times relatives.
func TestRelativeTags(t *testing.T) {
	t.Parallel()
	config, err := pgx.ParseConfig("postgres://localhost/x")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewListener(config, Options{MaxRows: 1 << 20}, Table{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	row := Change{Schema: "s", Table: "p", Op: Update, Key: []string{"1"}, KeyColumns: []string{"id", "code"},
		OldKeys: map[string]string{"id": "1", "code": "x"}, NewKeys: map[string]string{"id": "1", "code": "y"}}
	rowTags := []string{"scan:c", "row:c:id=1", "row:c:code=x", "row:c:id=1", "row:c:code=y"}
	tests := []struct {
		name string
		c    Change
		r    relative
		want []string
	}{
		{"no keys of its own", row, relative{Name: "c"}, rowTags},
		{"the parent's keys", row, relative{Name: "c", Keys: []string{"id", "code"}}, rowTags},
		{"a key of its own", row, relative{Name: "c", Keys: []string{"id", "extra"}}, []string{"table:c"}},
		{"a key that is the Key only", Change{Schema: "s", Table: "p", Op: Delete, Key: []string{"1"}, KeyColumns: []string{}, OldKeys: map[string]string{}},
			relative{Name: "c", Keys: []string{"id"}}, []string{"scan:c", "row:c:id=1"}},
		{"table-level", Change{Schema: "s", Table: "p", Op: Truncate, All: true}, relative{Name: "c"}, []string{"table:c"}},
		{"no key columns", Change{Schema: "s", Table: "p", Op: Update, Key: []string{"1"}}, relative{Name: "c"}, []string{"table:c"}},
	}
	for _, tt := range tests {
		if got := l.relativeTags(&tt.c, nil, tt.r, false); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}

	rels := []relative{{Name: "c1"}, {Name: "c2"}}
	for _, n := range []int{maxRelativeRows / len(rels), maxRelativeRows/len(rels) + 1} {
		var batch []notice
		for i := range n {
			c := row
			c.Key = []string{strconv.Itoa(i)}
			c.OldKeys, c.NewKeys = map[string]string{"id": c.Key[0]}, nil
			c.Op = Delete
			batch = append(batch, notice{Change: c, relatives: rels})
		}
		var inv invalidations
		if err := l.invalidate(context.Background(), &inv, batch, nil); err != nil {
			t.Fatal(err)
		}
		coarse := n*len(rels) > maxRelativeRows
		if got := slices.Contains(inv.tags, "table:c1") && slices.Contains(inv.tags, "table:c2"); got != coarse {
			t.Errorf("%d changes with %d relatives: the relatives' table tags invalidated: %v, want %v", n, len(rels), got, coarse)
		}
		if got := slices.Contains(inv.tags, "row:c1:id=0"); got == coarse {
			t.Errorf("%d changes with %d relatives: the relatives' row tags invalidated: %v, want %v", n, len(rels), got, !coarse)
		}
		if !slices.Contains(inv.tags, "row:p:id=0") {
			t.Errorf("%d changes with %d relatives: the table's own row tags not invalidated", n, len(rels))
		}
	}
}
