package pgcapture

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestStamps: Stamps says what Session.Done would invalidate for a statement made outside a
// transaction, without invalidating it, and follows no transaction statement.
func TestStamps(t *testing.T) {
	upd := "UPDATE t SET n = 1"
	tests := []struct {
		sql  string
		err  error
		want string // the tags, sorted, joined by spaces
	}{
		{upd, nil, "table:t"},
		{"BEGIN; " + upd + "; COMMIT", nil, "table:t"},
		{"BEGIN", nil, ""},
		{upd, pgError{"23505"}, ""},
		{upd + "; DELETE FROM u", pgError{"23505"}, "table:t table:u"},
		{upd, errors.New("EOF"), "table:t"},
		{"UPDATE SET WHERE", pgError{"42601"}, ""},
		{"UPDATE SET WHERE", nil, "table:*"},
		{"SELECT * FROM t WHERE id = 1", nil, ""},
		{"SELECT f()", nil, "table:*"},
		{"CREATE TABLE x (id int)", nil, "table:*"},
	}
	inv := &callRecorder{}
	a := New(inv, fakeLoader, nil)
	for _, tt := range tests {
		got := strings.Join(a.Stamps(context.Background(), a.Shape(tt.sql), nil, tt.err), " ")
		if got != tt.want {
			t.Errorf("Stamps(%q, error %v) = %q, want %q", tt.sql, tt.err, got, tt.want)
		}
	}
	if len(inv.calls) > 0 {
		t.Errorf("Stamps invalidated %q", inv.calls)
	}
}
