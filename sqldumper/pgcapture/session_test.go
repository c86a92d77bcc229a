package pgcapture

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
)

// callRecorder keeps each invalidation as its sorted tags joined by spaces.
type callRecorder struct{ calls []string }

func (r *callRecorder) InvalidatePaths(context.Context, ...string) error { return nil }
func (r *callRecorder) InvalidateTags(_ context.Context, tags ...string) error {
	tags = slices.Clone(tags)
	slices.Sort(tags)
	r.calls = append(r.calls, strings.Join(tags, " "))
	return nil
}

type pgError struct{ code string }

func (e pgError) Error() string    { return "ERROR (" + e.code + ")" }
func (e pgError) SQLState() string { return e.code }

func TestSessionTransactions(t *testing.T) {
	type call struct {
		sql string
		tag string
		err error
		// want is the invalidation the call makes, "" for none.
		want string
	}
	upd := "UPDATE t SET n = 1" // stamps table:t
	tests := []struct {
		name  string
		calls []call
	}{
		{"autocommit", []call{{sql: upd, want: "table:t"}}},
		{"commit", []call{{sql: "BEGIN"}, {sql: upd, want: "table:t"}, {sql: "COMMIT", want: "table:t"}}},
		{"rollback", []call{{sql: "BEGIN"}, {sql: upd, want: "table:t"}, {sql: "ROLLBACK"}, {sql: "COMMIT"}}},
		{"commit that rolled back", []call{{sql: "begin"}, {sql: upd, want: "table:t"}, {sql: "commit", tag: "ROLLBACK"}}},
		{"commit rejected", []call{{sql: "begin"}, {sql: upd, want: "table:t"}, {sql: "commit", err: pgError{"40001"}}, {sql: "commit"}}},
		{"commit lost on the network", []call{{sql: "begin"}, {sql: upd, want: "table:t"}, {sql: "commit", err: errors.New("EOF"), want: "table:t"}}},
		{"commit and chain", []call{{sql: "BEGIN"}, {sql: upd, want: "table:t"}, {sql: "COMMIT AND CHAIN", want: "table:t"},
			{sql: "DELETE FROM u", want: "table:u"}, {sql: "END", want: "table:u"}}},
		{"savepoints", []call{{sql: "START TRANSACTION"}, {sql: "SAVEPOINT a"}, {sql: upd, want: "table:t"},
			{sql: "ROLLBACK TO SAVEPOINT a"}, {sql: "RELEASE a"}, {sql: "COMMIT", want: "table:t"}}},
		{"one text", []call{{sql: "BEGIN; " + upd + "; COMMIT", want: "table:t"}, {sql: "COMMIT"}}},
		{"one text, left open", []call{{sql: "BEGIN; " + upd, want: "table:t"}, {sql: "COMMIT", want: "table:t"}}},
		{"statement rejected", []call{{sql: upd, err: pgError{"23505"}}}},
		{"text of several statements rejected", []call{{sql: upd + "; DELETE FROM u", err: pgError{"23505"}, want: "table:t table:u"}}},
		{"unparsable, rejected as a syntax error", []call{{sql: "UPDATE SET WHERE", err: pgError{"42601"}}}},
		{"unparsable, accepted", []call{{sql: "UPDATE SET WHERE", want: "table:*"}}},
		{"unparsable, failed otherwise", []call{{sql: "UPDATE SET WHERE", err: pgError{"23505"}, want: "table:*"}}},
		{"network error", []call{{sql: upd, err: errors.New("EOF"), want: "table:t"}}},
		{"prepared transaction", []call{{sql: "BEGIN"}, {sql: upd, want: "table:t"}, {sql: "PREPARE TRANSACTION 'x'"},
			{sql: "COMMIT"}, {sql: "COMMIT PREPARED 'x'", want: "table:*"}}},
		{"a read", []call{{sql: "SELECT * FROM t WHERE id = 1"}}},
		{"a volatile function", []call{{sql: "SELECT f()", want: "table:*"}}},
		{"DDL in a transaction", []call{{sql: "BEGIN"}, {sql: "CREATE TABLE x (id int)", want: "table:*"}, {sql: "COMMIT", want: "table:*"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &callRecorder{}
			a := New(inv, fakeLoader, nil)
			s := a.Session()
			for _, c := range tt.calls {
				inv.calls = nil
				if err := s.Done(context.Background(), a.Shape(c.sql), nil, c.tag, c.err); err != nil {
					t.Fatal(err)
				}
				var want []string
				if c.want != "" {
					want = []string{c.want}
				}
				if !slices.Equal(inv.calls, want) {
					t.Errorf("%s (tag %q, error %v): invalidations %q, want %q", c.sql, c.tag, c.err, inv.calls, want)
				}
			}
		})
	}
}

func TestSessionDriverTransactions(t *testing.T) {
	inv := &callRecorder{}
	a := New(inv, fakeLoader, nil)
	s := a.Session()
	ctx := context.Background()
	s.Begin()
	_ = s.Done(ctx, a.Shape("DELETE FROM t"), nil, "", nil)
	s.Commit(ctx, nil)
	s.Begin()
	_ = s.Done(ctx, a.Shape("DELETE FROM u"), nil, "", nil)
	s.Rollback()
	s.Begin()
	_ = s.Done(ctx, a.Shape("DELETE FROM w"), nil, "", nil)
	s.Commit(ctx, pgError{"40001"})
	want := []string{"table:t", "table:t", "table:u", "table:w"}
	if !slices.Equal(inv.calls, want) {
		t.Errorf("invalidations %q, want %q", inv.calls, want)
	}
	if s.InTransaction() {
		t.Error("still in a transaction")
	}
}

// TestSessionWrites checks that each invalidation says which statements it is for: the
// statement, with its command tag, and after a commit the transaction's writes.
func TestSessionWrites(t *testing.T) {
	var writes []string
	cache, err := dumper.New(dumper.Options{Observers: []dumper.Observer{{
		Invalidation: func(_ context.Context, ev dumper.InvalidationEvent) { writes = append(writes, ev.Write) },
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	a := New(cache, fakeLoader, nil)
	s := a.Session()
	ctx := context.Background()
	long := "UPDATE t SET n = 1 WHERE n IN (" + strings.Repeat("1, ", 100) + "1)"
	for _, c := range []struct{ sql, tag string }{
		{"UPDATE t\n\tSET n = $1", "UPDATE 3"},
		{"BEGIN", ""},
		{"DELETE FROM u", ""},
		{long, ""},
		{"COMMIT", ""},
	} {
		if err := s.Done(ctx, a.Shape(c.sql), []any{1}, c.tag, nil); err != nil {
			t.Fatal(err)
		}
	}
	cut := long[:160] + "…"
	want := []string{"UPDATE t SET n = $1 (UPDATE 3)", "DELETE FROM u", cut, "DELETE FROM u; " + cut}
	if !slices.Equal(writes, want) {
		t.Errorf("writes %q, want %q", writes, want)
	}
}

// TestSessionDoneQuery: DoneQuery invalidates as Done does, and gives what to invalidate
// again once the result has been read when what the statement stamps is committed by then:
// a write outside a transaction, a text that commits one; not a read, nor a write a later
// COMMIT commits.
func TestSessionDoneQuery(t *testing.T) {
	upd := "UPDATE t SET n = 1 RETURNING n"
	for _, tt := range []struct {
		name   string
		before []string // run with Done first
		sql    string
		again  string // the invalidation again makes, "" if DoneQuery gives none
	}{
		{"autocommit", nil, upd, "table:t"},
		{"in a transaction", []string{"BEGIN"}, upd, ""},
		{"in a text that commits", []string{"BEGIN", "DELETE FROM u"}, upd + "; COMMIT", "table:t table:u"},
		{"in a text that begins", nil, "BEGIN; " + upd, "table:t"},
		{"a read", nil, "SELECT n FROM t WHERE id = 1", ""},
		{"a commit", []string{"BEGIN", "DELETE FROM u"}, "COMMIT", "table:u"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv := &callRecorder{}
			a := New(inv, fakeLoader, nil)
			s := a.Session()
			ctx := context.Background()
			for _, b := range tt.before {
				if err := s.Done(ctx, a.Shape(b), nil, "", nil); err != nil {
					t.Fatal(err)
				}
			}
			inv.calls = nil
			again, err := s.DoneQuery(ctx, a.Shape(tt.sql), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			now := slices.Clone(inv.calls)
			if again == nil {
				if tt.again != "" {
					t.Fatalf("no invalidation again, want %q (now: %q)", tt.again, now)
				}
				return
			}
			if tt.again == "" {
				t.Fatalf("an invalidation again, want none (now: %q)", now)
			}
			inv.calls = nil
			again()
			if want := []string{tt.again}; !slices.Equal(inv.calls, want) || !slices.Equal(now, want) {
				t.Errorf("invalidations now %q and again %q, want %q both", now, inv.calls, want)
			}
		})
	}
}
