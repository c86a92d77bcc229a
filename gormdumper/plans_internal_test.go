package gormdumper

import (
	"fmt"
	"slices"
	"testing"
)

// TestPositions: a plan keeps the positions of the values a read narrowed by only when each is
// certain: equal to exactly one argument, a different one for each.
func TestPositions(t *testing.T) {
	type named string
	uncomparable := struct{ v any }{[]byte("x")}
	tests := []struct {
		name      string
		raw, vars []any
		want      []int
		ok        bool
	}{
		{name: "one", raw: []any{"vanilla"}, vars: []any{"vanilla"}, want: []int{0}, ok: true},
		{name: "among others", raw: []any{int64(2)}, vars: []any{"x", int64(2), 3}, want: []int{1}, ok: true},
		{name: "a list", raw: []any{1, 2, 3}, vars: []any{"x", 1, 2, 3}, want: []int{1, 2, 3}, ok: true},
		{name: "equal to two arguments", raw: []any{"x"}, vars: []any{"x", "x"}},
		{name: "the same value twice", raw: []any{1, 1}, vars: []any{1, 1}},
		{name: "not among the arguments", raw: []any{"y"}, vars: []any{"x"}},
		{name: "another type", raw: []any{int64(1)}, vars: []any{1}},
		{name: "a type of the application's", raw: []any{named("x")}, vars: []any{"x", named("x")}, want: []int{1}, ok: true},
		{name: "bytes cannot be compared", raw: []any{[]byte("x")}, vars: []any{[]byte("x")}},
		{name: "bytes among the arguments", raw: []any{"x"}, vars: []any{"x", []byte("x")}, want: []int{0}, ok: true},
		{name: "a struct that cannot be compared", raw: []any{uncomparable}, vars: []any{"x", uncomparable}},
	}
	long := make([]any, 100) // past the quadratic search: the index
	for i := range long {
		long[i] = fmt.Sprint("v", i)
	}
	tests = append(tests, []struct {
		name      string
		raw, vars []any
		want      []int
		ok        bool
	}{
		{name: "indexed: a list", raw: []any{"v3", "v97", "v40"}, vars: long, want: []int{3, 97, 40}, ok: true},
		{name: "indexed: equal to two arguments", raw: []any{"v5"}, vars: append(slices.Clone(long), "v5")},
		{name: "indexed: the same value twice", raw: []any{"v5", "v5"}, vars: long},
		{name: "indexed: not among the arguments", raw: []any{"w"}, vars: long},
		{name: "indexed: bytes among the arguments", raw: []any{"v1"}, vars: append(slices.Clone(long), []byte("v1")), want: []int{1}, ok: true},
		{name: "indexed: a struct that cannot be compared", raw: []any{uncomparable}, vars: append(slices.Clone(long), uncomparable)},
		{name: "indexed: another type", raw: []any{int64(7)}, vars: append(slices.Clone(long), 7)},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := positions(tt.raw, tt.vars)
			if ok != tt.ok || ok && !slices.Equal(got, tt.want) {
				t.Errorf("positions(%v, %v) = %v, %v; want %v, %v", tt.raw, tt.vars, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestPlanCache: plans are found by text, model and generation, and the cache stays within
// its bound however many texts it sees.
func TestPlanCache(t *testing.T) {
	const max = 64 << 10
	c := newPlanCache(max)
	pl := &readPlan{gen: 3, table: "t", scans: []string{"t"}}
	c.put("SELECT 1", pl)
	if got := c.get("SELECT 1", nil, 3); got != pl {
		t.Errorf("get = %v, want the plan put", got)
	}
	if got := c.get("SELECT 1", nil, 4); got != nil {
		t.Errorf("get under another generation = %v, want nil", got)
	}
	if got := c.get("SELECT 2", nil, 3); got != nil {
		t.Errorf("get of another text = %v, want nil", got)
	}
	for i := range 20000 {
		c.put(fmt.Sprintf("SELECT * FROM t WHERE id = %d", i), &readPlan{gen: 3, table: "t", scans: []string{"t"}})
	}
	total := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		if sh.bytes > sh.max {
			t.Errorf("shard %d holds %d bytes, over its %d", i, sh.bytes, sh.max)
		}
		total += sh.bytes
		sh.mu.RUnlock()
	}
	if total > max {
		t.Errorf("the cache holds %d bytes, over its bound %d", total, max)
	}
	if c.get("SELECT * FROM t WHERE id = 19999", nil, 3) == nil {
		t.Error("the latest text put is not found")
	}
}
