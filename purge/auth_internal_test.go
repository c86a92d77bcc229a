package purge

import (
	"strings"
	"testing"
)

func TestTokenMatches(t *testing.T) {
	const want = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		got  string
		want bool
	}{
		{want, true},
		{"", false},
		{want[:len(want)-1], false},
		{want + "0", false},
		{"1" + want[1:], false},
		{want[:len(want)-1] + "0", false},
		{strings.ToUpper(want), false},
		{want + "\x00", false},
	}
	for _, tt := range tests {
		if got := tokenMatches(tt.got, want); got != tt.want {
			t.Errorf("tokenMatches(%q, %q) = %v, want %v", tt.got, want, got, tt.want)
		}
	}
	if tokenMatches("", "") != true {
		t.Error(`tokenMatches("", "") = false; two empty tokens are equal (the handler never gets there: an empty Token is refused first)`)
	}
}

// BenchmarkTokenMatches compares tokens that differ at their first byte, at their last, or
// in length with the right one: the time must not depend on which (compare the ns/op of the
// sub-benchmarks; their ratio is 1 within the machine's noise).
func BenchmarkTokenMatches(b *testing.B) {
	want := strings.Repeat("k", 64)
	cases := []struct{ name, got string }{
		{"equal", want},
		{"first-byte-differs", "x" + want[1:]},
		{"last-byte-differs", want[:63] + "x"},
		{"shorter", want[:8]},
		{"longer", want + want},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tokenMatches(c.got, want)
			}
		})
	}
}
