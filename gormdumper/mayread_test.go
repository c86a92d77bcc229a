package gormdumper

import (
	"slices"
	"strings"
	"testing"
)

func TestMayRead(t *testing.T) {
	t.Parallel()
	for sql, want := range map[string]bool{
		"price > ?":            false,
		"name LIKE ?":          false,
		"lower(slug) = ?":      false,
		"id IN (?)":            false,
		"count(*)":             false,
		"COALESCE(a, b) = ?":   false,
		"(a = 1 OR b = 2)":     false,
		"selected = ?":         false,
		"id IN (SELECT 1)":     true,
		"EXISTS(select 1)":     true,
		"x = my_func(id)":      true,
		"x = public.lower(id)": true,
		`x = "f"(id)`:          true,
		"(VALUES (1))":         true,
		"a IN (TABLE t)":       true,
	} {
		if got := mayRead(sql); got != want {
			t.Errorf("mayRead(%q) = %v, want %v", sql, got, want)
		}
	}
}

// FuzzFragmentScan checks the allocation-free scanners of SQL fragments against the plain
// ones: appendFields against strings.Fields, hasAnyWord and containsFold against a search in
// the text upper-cased (in ASCII, as SQL folds keywords).
func FuzzFragmentScan(f *testing.F) {
	for _, s := range []string{"slug = ?", "id IN (?)", "a=1 oR(b=2)", "x\u00a0= ?", "Select_x", "_from", "é JOIN x", " a  b\tc\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf [4]string
		got, want := appendFields(buf[:0], s), strings.Fields(s)
		if len(want) <= 4 && !slices.Equal(got, want) || len(want) > 4 && (len(got) < 5 || !slices.Equal(got[:5], want[:5])) {
			t.Errorf("appendFields(%q) = %q, want %q", s, got, want)
		}
		up := asciiUpper(s)
		for _, w := range append(slices.Clone(readKeywords), "OR") {
			if got, want := hasAnyWord(s, []string{w}), hasWordRef(up, w); got != want {
				t.Errorf("hasAnyWord(%q, %s) = %v, want %v", s, w, got, want)
			}
		}
		for _, sub := range []string{" AND ", " OR "} {
			if got, want := containsFold(s, sub), strings.Contains(up, sub); got != want {
				t.Errorf("containsFold(%q, %q) = %v, want %v", s, sub, got, want)
			}
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// hasWordRef is the search hasAnyWord replaces: w in s with no identChar on either side.
func hasWordRef(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(w)
		if (j == 0 || !identChar(s[j-1])) && (end == len(s) || !identChar(s[end])) {
			return true
		}
		i = j + 1
	}
}

func TestUnattributedWrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sql, dialect string
		write, ddl   bool
	}{
		{"SELECT * FROM t WHERE id = ?", "sqlite", false, false},
		{"SELECT * FROM t;", "sqlite", false, false},
		{"ANALYZE; DELETE FROM t", "postgres", true, true},
		{"BEGIN; UPDATE t SET a = 1; COMMIT", "sqlite", true, true},
		{"SET LOCAL x = 1; DELETE FROM t", "postgres", true, true},
		{"savepoint a; insert into t values (1)", "sqlite", true, true},
		{"SELECT 1; SELECT 2", "postgres", true, true},
		{"  (select count(*) from t)", "postgres", false, false},
		{"WITH x AS (SELECT 1) SELECT * FROM x", "postgres", false, false},
		{"SELECT * FROM t WHERE id IN (SELECT id FROM u) ORDER BY id DESC", "postgres", false, false},
		{"SELECT * FROM t FOR UPDATE", "postgres", true, false},
		{"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "postgres", true, false},
		{"SELECT * INTO u FROM t", "postgres", true, false},
		{"SELECT bump_counter(1)", "postgres", true, false},
		{"SELECT pg_is_in_recovery()", "postgres", false, false},
		{"select version(), current_database(), current_setting('server_version_num'), now()", "postgres", false, false},
		{"SELECT pg_catalog.version()", "postgres", true, false},
		{"SELECT nextval('s')", "postgres", true, false},
		{"SELECT set_config('search_path', 'x', false)", "postgres", true, false},
		{"SELECT pg_advisory_lock(1)", "postgres", true, false},
		{"SELECT pg_is_in_recovery(), pg_notify('c', 'x')", "postgres", true, false},
		{"SELECT my_func(1)", "sqlite", false, false},
		{"UPDATE t SET a = 1", "sqlite", true, false},
		{"insert into t values (1)", "postgres", true, false},
		{"DELETE FROM t", "sqlite", true, false},
		{"CREATE UNIQUE INDEX i ON t (a)", "sqlite", true, true},
		{"PRAGMA user_version = 3", "sqlite", true, true},
		{"/* c */ SELECT 1", "sqlite", true, true},
		{"", "sqlite", true, true},
		{"SAVEPOINT sp0x1", "postgres", false, false},
		{"ROLLBACK TO SAVEPOINT sp0x1", "sqlite", false, false},
		{"SET LOCAL statement_timeout = 1000", "postgres", false, false},
		{"NOTIFY ch, 'x'", "postgres", false, false},
	}
	for _, tt := range tests {
		write, ddl := unattributedWrite(tt.sql, tt.dialect)
		if write != tt.write || ddl != tt.ddl {
			t.Errorf("unattributedWrite(%q, %s) = %v, %v; want %v, %v", tt.sql, tt.dialect, write, ddl, tt.write, tt.ddl)
		}
	}
}

// FuzzUnattributedWrite checks that a statement taken as no write is one whose first word is
// a read's or a session's, with none of writeWords in it, and that a statement taken as
// changing the schema is taken as a write.
func FuzzUnattributedWrite(f *testing.F) {
	for _, s := range []string{"SELECT 1", "with x as (delete from t returning *) select 1", "UPDATE t SET a = 1", "(VALUES (1))", "SAVEPOINT x", "select f(1)", "-- x\nSELECT 1"} {
		f.Add(s, true)
	}
	reads := []string{"SELECT", "VALUES", "TABLE", "WITH"}
	session := []string{"SAVEPOINT", "RELEASE", "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "SHOW", "SET", "RESET", "LISTEN", "UNLISTEN", "NOTIFY", "DEALLOCATE", "DISCARD", "ANALYZE", "VACUUM"}
	f.Fuzz(func(t *testing.T, s string, postgres bool) {
		dialect := "sqlite"
		if postgres {
			dialect = "postgres"
		}
		write, ddl := unattributedWrite(s, dialect)
		if ddl && !write {
			t.Errorf("unattributedWrite(%q) changes the schema but writes nothing", s)
		}
		if write {
			return
		}
		first := firstWord(s)
		switch {
		case slices.Contains(session, first):
		case slices.Contains(reads, first):
			if hasAnyWord(s, writeWords) {
				t.Errorf("unattributedWrite(%q) is no write, but the statement holds a word that writes", s)
			}
		default:
			t.Errorf("unattributedWrite(%q) is no write, with first word %q", s, first)
		}
	})
}
