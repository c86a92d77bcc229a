package gormdumper

import "testing"

// TestDeclaresReplace: the words ON CONFLICT REPLACE count in any case and with comments
// between them, not inside string literals or quoted identifiers; a text that cannot be
// read to its end counts as one that holds them.
func TestDeclaresReplace(t *testing.T) {
	tests := []struct {
		def  string
		want bool
	}{
		{`CREATE TABLE t (id integer PRIMARY KEY, slug text UNIQUE ON CONFLICT REPLACE)`, true},
		{`CREATE TABLE t (id integer PRIMARY KEY on conflict replace)`, true},
		{`CREATE TABLE t (a text NOT NULL On  Conflict` + "\n\t" + `Replace DEFAULT '')`, true},
		{`CREATE TABLE t (a, b, UNIQUE (a, b) ON -- why
CONFLICT /* so */ REPLACE)`, true},
		{`CREATE TABLE t (a text UNIQUE ON ON CONFLICT REPLACE)`, true},
		{`CREATE TABLE t (a text UNIQUE ON CONFLICT ABORT, b text UNIQUE ON CONFLICT IGNORE)`, false},
		{`CREATE TABLE t (a text DEFAULT 'ON CONFLICT REPLACE', b CHECK (b <> 'it''s on conflict replace'))`, false},
		{`CREATE TABLE t ("on conflict replace" text, [on conflict replace] text, ` + "`on conflict replace`" + ` text)`, false},
		{`CREATE TABLE t (a text) -- ON CONFLICT REPLACE`, false},
		{`CREATE TABLE t (a text UNIQUE ON CONFLICT ROLLBACK) /* ON CONFLICT REPLACE */`, false},
		{`CREATE TABLE t (a text DEFAULT 'open`, true},
		{`CREATE TABLE t (a text) /* open`, true},
		{`CREATE TABLE "ON" (CONFLICT text, REPLACE text)`, false},
		{`CREATE TABLE t (on_conflict_replace text)`, false},
	}
	for _, tt := range tests {
		if got := declaresReplace(tt.def); got != tt.want {
			t.Errorf("declaresReplace(%q) = %v, want %v", tt.def, got, tt.want)
		}
	}
}
