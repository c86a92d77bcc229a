package gormdumper

import (
	"strings"
	"testing"
)

func TestBalanced(t *testing.T) {
	t.Parallel()
	for sql, want := range map[string]bool{
		"slug = ?":                          true,
		"(a = 1 OR b = 2)":                  true,
		"name = 'it''s (' OR x = ')'":       true,
		`"odd)name" = ?`:                    true,
		"`a(` = 1":                          true,
		"[a)] = 1":                          true,
		"x = $1":                            true,
		"CASE WHEN a THEN b ELSE c END = ?": true,
		"end_date > ? AND casework = ?":     true,
		"a = 1) OR (b = 2":                  false,
		"NOT (a = 1":                        false,
		"name = 'x":                         false,
		"name = ')' OR x = '('":             true, // the parentheses are in strings
		"x = '(' ) OR ( y = ')'":            false,
		"CASE WHEN a THEN b":                false,
		"(CASE WHEN a THEN b) END":          false,
		"a = 1 -- )":                        false,
		"a = 1 /* ) */":                     false,
		"a = 1 # )":                         false,
		`a = 'x\' OR (1=1'`:                 false,
		"a = $$)$$":                         false,
		"a = $tag$)$tag$":                   false,
	} {
		if got := balanced(sql); got != want {
			t.Errorf("balanced(%q) = %v, want %v", sql, got, want)
		}
	}
}

// FuzzBalanced checks that a balanced fragment leaves nothing open: put in parentheses, or
// joined to itself, it is still balanced; and that it holds no backslash.
func FuzzBalanced(f *testing.F) {
	for _, s := range []string{"slug = ?", "(a OR b)", "'it''s'", "CASE WHEN a THEN b END", "x = $1", "a) OR (b", "[x]", `"a""b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !balanced(s) {
			return
		}
		if !balanced("(" + s + ")") {
			t.Errorf("balanced(%q), but not in parentheses", s)
		}
		if !balanced(s + " AND " + s) {
			t.Errorf("balanced(%q), but not joined to itself", s)
		}
		if strings.Contains(s, `\`) {
			t.Errorf("balanced(%q), which holds a backslash", s)
		}
	})
}
