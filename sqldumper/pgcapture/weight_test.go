package pgcapture

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// list joins f(0), …, f(n-1) with sep.
func list(n int, sep string, f func(j int) string) string {
	var b strings.Builder
	for j := range n {
		if j > 0 {
			b.WriteString(sep)
		}
		b.WriteString(f(j))
	}
	return b.String()
}

// TestShapeWeight: the weight the shape cache counts a shape for is within half and twice the
// heap the shape and its plan retain, with its text, for statements of each kind: short ones,
// and ones whose analysis grows with long IN lists, many-row INSERTs, many joins, operators and
// UNION arms, long literals (and a long comment, which only the text keeps). It is not
// parallel: it measures the whole heap. Without the weights of weight.go (a shape counted as
// its text and 2 KiB), a 3,000-row INSERT retained 10 times its weight.
func TestShapeWeight(t *testing.T) {
	a := New(nopInvalidator{}, fakeLoader, nil)
	ctx := context.Background()
	long := strings.Repeat("x", 30<<10)
	for _, k := range []struct {
		name string
		sql  func(i int) string // a distinct text of the kind for each i
	}{
		{"lookup", func(i int) string { return fmt.Sprintf("SELECT id, slug, n FROM t WHERE id = $1 AND n > %d", i) }},
		{"join", func(i int) string { return fmt.Sprintf("%s OFFSET %d", benchStatements["join"], i) }},
		{"cte", func(i int) string { return fmt.Sprintf("%s OFFSET %d", benchStatements["cte"], i) }},
		{"insert", func(i int) string { return fmt.Sprintf("INSERT INTO t (id, slug, n) VALUES ($1, $2, %d)", i) }},
		{"insert of 3000 rows", func(i int) string {
			return "INSERT INTO t (id, slug) VALUES " + list(3000, ",", func(j int) string { return fmt.Sprintf("(%d,'s%d')", j, i) })
		}},
		{"insert of 300 rows of parameters", func(i int) string {
			return fmt.Sprintf("INSERT INTO t (id, slug, n) VALUES (%d, 'x', 1),", i) +
				list(300, ",", func(j int) string { return fmt.Sprintf("($%d,$%d,$%d)", 3*j+1, 3*j+2, 3*j+3) })
		}},
		{"IN of 8000 integers", func(i int) string {
			return "SELECT * FROM t WHERE id IN (" + list(8000, ",", func(j int) string { return fmt.Sprint(i + j) }) + ")"
		}},
		{"IN of 4000 texts", func(i int) string {
			return "SELECT * FROM t WHERE slug IN (" + list(4000, ",", func(j int) string { return fmt.Sprintf("'slug-%d-%d'", i, j) }) + ")"
		}},
		{"IN of 2000 parameters", func(i int) string {
			return fmt.Sprintf("SELECT * FROM t WHERE n = %d AND id IN (", i) + list(2000, ",", func(j int) string { return fmt.Sprintf("$%d", j+1) }) + ")"
		}},
		{"update of 2000 keys", func(i int) string {
			return fmt.Sprintf("UPDATE t SET n = %d WHERE id IN (", i) + list(2000, ",", func(j int) string { return fmt.Sprint(j) }) + ")"
		}},
		{"30 KiB literal", func(i int) string { return fmt.Sprintf("SELECT id FROM t WHERE n = %d AND slug = '%s'", i, long) }},
		{"100 joins", func(i int) string {
			return "SELECT a0.id FROM t a0 " + list(100, " ", func(j int) string { return fmt.Sprintf("JOIN t a%d ON a%d.id = a%d.n", j+1, j+1, j) }) +
				fmt.Sprintf(" WHERE a0.id = %d", i)
		}},
		{"500 operators", func(i int) string {
			return fmt.Sprintf("SELECT id FROM t WHERE n > %d ", i) + list(500, " ", func(j int) string { return fmt.Sprintf("AND n <> %d", j) })
		}},
		{"100 UNION arms", func(i int) string {
			return list(100, " UNION ALL ", func(j int) string { return fmt.Sprintf("SELECT id FROM t WHERE id = %d", i+j) })
		}},
		{"30 KiB comment", func(i int) string { return fmt.Sprintf("SELECT id FROM t WHERE id = %d /* %s */", i, long) }},
	} {
		warm := parse(k.sql(-1)) // the catalog's answers for its relations and routines
		if _, err := a.resolve(ctx, warm); err != nil {
			t.Fatal(err)
		}
		weight := int(shapeWeight(warm.sql, warm))
		n := max(4, (512<<10)/weight) // half a MiB of shapes at least, past what else the heap does
		texts := make([]string, n)
		for i := range texts {
			texts[i] = k.sql(i)
		}
		shapes := make([]*Shape, 0, n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var weights, textBytes int
		for _, sql := range texts {
			sh := parse(sql)
			if _, err := a.resolve(ctx, sh); err != nil {
				t.Fatal(err)
			}
			shapes = append(shapes, sh)
			weights += int(shapeWeight(sql, sh))
			textBytes += len(sql)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		retained := (int(after.HeapAlloc) - int(before.HeapAlloc) + textBytes) / n
		w := weights / n
		ratio := float64(retained) / float64(w)
		t.Logf("%-32s text %6d B, weight %7d B, retained %7d B: %.2f of the weight", k.name, textBytes/n, w, retained, ratio)
		if ratio < 0.5 || ratio > 2 {
			t.Errorf("%s: a shape retains %d B and is counted for %d B", k.name, retained, w)
		}
		runtime.KeepAlive(shapes)
		runtime.KeepAlive(texts)
	}
}
