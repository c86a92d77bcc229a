package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunRefuses checks the flag errors that stop the demo before it opens anything.
func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"redis-local alone", []string{"-redis-local"}, "-redis-local needs -redis"},
		{"db and postgres", []string{"-db", "x.db", "-postgres", "postgres://localhost/x"}, "exclusive"},
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"extra argument", []string{"serve"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			if code := run(t.Context(), tt.args, &stderr); code != 2 {
				t.Errorf("run(%q) = %d, want 2", tt.args, code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("run(%q) printed %q, want it to mention %q", tt.args, stderr.String(), tt.want)
			}
		})
	}
}
