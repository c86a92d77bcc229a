package gormdumper

import "testing"

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
