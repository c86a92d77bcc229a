package pgcapture

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// fakeLoader answers the catalog queries without a database: every relation is a table with
// an integer key id, a text key slug and a plain column n, whose children and referencing
// tables are none, except "v", a view of "t", and "p", partitioned with child "c".
func fakeLoader(_ context.Context, query string, arg []string) (string, error) {
	if query == routineQuery {
		return `{"builtinFunctions":["lower","now","count"],"builtinOperators":["=","<",">","<=",">=","~~"],
			"functions":{"f":3,"g":2,"h":1},"operators":{"@@":2}}`, nil
	}
	var out []map[string]any
	for _, req := range arg {
		name := req
		if i := strings.LastIndex(name, "."); i >= 0 {
			name = name[i+1:]
		}
		name = strings.ReplaceAll(strings.Trim(name, `"`), `""`, `"`)
		r := map[string]any{"request": req, "found": true, "name": name, "kind": "r",
			"columns": []map[string]any{{"name": "id", "kind": "int", "key": true},
				{"name": "slug", "kind": "text", "key": true}, {"name": "n", "kind": "int"}}}
		switch name {
		case "v":
			r["kind"], r["view"] = "v", "SELECT * FROM t WHERE id = 1"
		case "p":
			r["kind"], r["children"] = "p", []string{"c"}
			r["referencing"] = []map[string]any{{"table": "c", "del": "c", "upd": "a"}}
		case "missing":
			r["found"] = false
		}
		out = append(out, r)
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// FuzzAnalyze: any text either parses into a classification, which resolves and records
// without error, or is unclassifiable; nothing panics.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{
		`SELECT * FROM t WHERE id = $1`,
		`SELECT * FROM t a JOIN p b ON b.id = a.id AND b.slug IN ($2, 'x') WHERE a.slug = ANY($3::text[])`,
		`WITH x AS (UPDATE t SET n = 1 WHERE id = $1 RETURNING *) SELECT * FROM x, v`,
		`INSERT INTO t (id, slug) VALUES ($1, $2), (3, 'c') ON CONFLICT DO NOTHING`,
		`INSERT INTO p VALUES (1, 'a', 2)`,
		`DELETE FROM p WHERE id BETWEEN 1 AND 2; TRUNCATE t CASCADE; COMMIT`,
		`MERGE INTO t USING v ON t.id = v.id WHEN MATCHED THEN UPDATE SET n = 1`,
		`SELECT f(), g(n), h(1), lower(slug) FROM t WHERE n @@ 1`,
		`BEGIN; SELECT * FROM missing; ROLLBACK`,
		`SELECT (SELECT count(*) FROM t t2 WHERE t2.id = t.id) FROM t WHERE EXISTS (SELECT 1 FROM c WHERE c.id = 5)`,
		`COPY t FROM STDIN`, `EXPLAIN ANALYZE DELETE FROM t`, `SELECT 1`, `CALL x()`, `select from where`,
	} {
		f.Add(s, "7", int64(3))
	}
	a := New(nopInvalidator{}, fakeLoader, nil)
	f.Fuzz(func(t *testing.T, sql, s string, n int64) {
		sh := a.Shape(sql)
		if sh.Err() != nil {
			if !sh.Reads() || !sh.Effects() {
				t.Fatalf("unclassifiable %q: reads %v, effects %v, want both", sql, sh.Reads(), sh.Effects())
			}
			return
		}
		p, err := a.resolve(context.Background(), sh)
		if err != nil {
			t.Fatalf("resolve %q: %v", sql, err)
		}
		args := []any{s, n, []string{s}, nil, []int64{n}}
		rec := &tagRecorder{store: true}
		a.record(context.Background(), sh, args, rec)
		for i := range p.steps {
			st := &p.steps[i]
			if tags := st.stamps(args, nil); !a.Effects(sh) && (len(tags) > 0 || st.tx != txNone || st.refresh) {
				t.Fatalf("%q: Effects false, but statement %d stamps %v, transaction %v, refresh %v", sql, i, tags, st.tx, st.refresh)
			}
		}
	})
}

// FuzzArrayLiteral: the elements read from any text, written back as a literal, read the
// same.
func FuzzArrayLiteral(f *testing.F) {
	for _, s := range []string{`{}`, `{1,2,3}`, `{"a b","c\"d",e\,f}`, `{ x , NULL, "NULL" }`, `{{1},{2}}`, `[1:2]={1,2}`, `{"a`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		elems, ok := splitArray(s)
		if !ok {
			return
		}
		var b strings.Builder
		b.WriteByte('{')
		for i, e := range elems {
			if i > 0 {
				b.WriteByte(',')
			}
			if e.null {
				b.WriteString("NULL")
				continue
			}
			b.WriteByte('"')
			b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(e.text))
			b.WriteByte('"')
		}
		b.WriteByte('}')
		again, ok := splitArray(b.String())
		if !ok || len(again) != len(elems) {
			t.Fatalf("%q: %v; written back %q: %v, %v", s, elems, b.String(), again, ok)
		}
		for i := range elems {
			if again[i] != elems[i] {
				t.Fatalf("%q: element %d %v, written back and read %v", s, i, elems[i], again[i])
			}
		}
	})
}
