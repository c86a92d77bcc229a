package sqldumper_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// dumpRows runs the query q with the request's context and prints its rows, or its error.
func dumpRows(db *sql.DB, r *http.Request, q string) string {
	rows, err := db.QueryContext(r.Context(), q)
	if err != nil {
		return "error " + err.Error()
	}
	defer func() { _ = rows.Close() }()
	cols, err := rows.Columns()
	if err != nil {
		return "error " + err.Error()
	}
	var sb strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "error " + err.Error()
		}
		fmt.Fprint(&sb, vals, ";")
	}
	if err := rows.Err(); err != nil {
		return "error " + err.Error()
	}
	return sb.String()
}

// TestNoStaleReads runs reads of shapes that are easy to get wrong (outer joins narrowed in
// ON, partitions and inheritance children written directly, key values in other spellings,
// CTEs that shadow a table, USING and NATURAL joins…), a write that changes each one's
// result, and checks that the page is then what a fresh read gives.
func TestNoStaleReads(t *testing.T) {
	e := newEnv(t, nil)
	setup := []string{
		`CREATE TABLE a (id int PRIMARY KEY, name text)`,
		`CREATE TABLE b (id int PRIMARY KEY, a_id int, name text)`,
		`INSERT INTO a VALUES (1,'a1'),(2,'a2'),(3,'a3')`,
		`INSERT INTO b VALUES (5,1,'b5'),(6,2,'b6'),(7,9,'b7')`,
		`CREATE TABLE m (id int, k int, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k)`,
		`CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (10)`,
		`CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (10) TO (20)`,
		`INSERT INTO m VALUES (1,1,'x'),(2,11,'y')`,
		`CREATE TABLE par (id int PRIMARY KEY, v text)`,
		`CREATE TABLE kid (extra int) INHERITS (par)`,
		`INSERT INTO par VALUES (1,'p')`, `INSERT INTO kid VALUES (2,'k',0)`,
		`CREATE TABLE u (id uuid PRIMARY KEY, v text)`,
		`INSERT INTO u VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11','u1')`,
		`CREATE TABLE j (id int PRIMARY KEY, doc jsonb)`,
		`INSERT INTO j VALUES (1, '{"x":1}'), (2, '{"x":2}')`,
	}
	for _, s := range setup {
		if _, err := e.db.Exec(s); err != nil {
			t.Fatal(s, err)
		}
	}
	cases := []struct{ name, read, write string }{
		{"full join ON", `SELECT a.id, b.id FROM a FULL JOIN b ON b.id = 5 AND b.a_id = a.id ORDER BY 1,2`, `UPDATE b SET a_id = 2 WHERE id = 5`},
		{"full join ON a", `SELECT a.id, b.id FROM a FULL JOIN b ON a.id = 1 AND b.a_id = a.id ORDER BY 1,2`, `INSERT INTO a VALUES (4,'a4')`},
		{"right join ON b", `SELECT a.id, b.id FROM a RIGHT JOIN b ON b.id = 5 AND b.a_id = a.id ORDER BY 1,2`, `INSERT INTO b VALUES (8, 1, 'b8')`},
		{"left join ON a", `SELECT a.id, b.id FROM a LEFT JOIN b ON a.id = 1 AND b.a_id = a.id ORDER BY 1,2`, `INSERT INTO a VALUES (5,'a5')`},
		{"partition write child", `SELECT * FROM m WHERE id = 1`, `UPDATE m1 SET v = 'x2' WHERE id = 1 AND k = 1`},
		{"partition scan write child", `SELECT * FROM m ORDER BY id`, `UPDATE m2 SET v = 'y2' WHERE id = 2 AND k = 11`},
		{"inherit", `SELECT * FROM par ORDER BY id`, `UPDATE kid SET v = 'k2' WHERE id = 2`},
		{"inherit by id", `SELECT id, v FROM par WHERE id = 2`, `UPDATE kid SET v = 'k3' WHERE id = 2`},
		{"uuid braces", `SELECT * FROM u WHERE id = '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'`, `UPDATE u SET v = 'u2' WHERE id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'`},
		{"uuid nohyphen", `SELECT * FROM u WHERE id = 'A0EEBC999C0B4EF8BB6D6BB9BD380A11'`, `UPDATE u SET v = 'u3' WHERE id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'`},
		{"int spaced", `SELECT * FROM a WHERE id = ' 2 '`, `UPDATE a SET name = 'a2x' WHERE id = 2`},
		{"int numeric", `SELECT * FROM a WHERE id = 2.0`, `UPDATE a SET name = 'a2y' WHERE id = 2`},
		{"json", `SELECT * FROM j WHERE doc->>'x' = '1'`, `UPDATE j SET doc = '{"x":1}' WHERE id = 2`},
		{"order limit", `SELECT * FROM a ORDER BY id LIMIT 1`, `INSERT INTO a VALUES (0,'a0')`},
		{"not in", `SELECT * FROM a WHERE id NOT IN (1) ORDER BY id`, `INSERT INTO a VALUES (6,'a6')`},
		{"is null", `SELECT * FROM b WHERE a_id IS NULL`, `UPDATE b SET a_id = NULL WHERE id = 7`},
		{"cte shadow", `WITH a AS (SELECT * FROM b) SELECT * FROM a WHERE id = 5`, `UPDATE b SET name = 'b5x' WHERE id = 5`},
		{"nested eq", `SELECT * FROM a WHERE (id = 1) = false ORDER BY id`, `UPDATE a SET name = 'a3x' WHERE id = 3`},
		{"case", `SELECT * FROM a WHERE CASE WHEN id = 1 THEN true ELSE true END AND id = 1`, `UPDATE a SET name='a1x' WHERE id = 1`},
		{"values join", `SELECT a.* FROM a JOIN (VALUES (3)) v(x) ON a.id = v.x`, `UPDATE a SET name='a3y' WHERE id = 3`},
		{"ids array col", `SELECT * FROM a WHERE id = ANY(ARRAY[id])`, `UPDATE a SET name='a1z' WHERE id = 1`},
		{"self compare", `SELECT * FROM a WHERE id = id ORDER BY id`, `UPDATE a SET name='a2z' WHERE id = 2`},
		{"natural join", `SELECT * FROM a NATURAL JOIN b WHERE id = 5`, `UPDATE a SET name = 'b5x' WHERE id = 5`},
		{"using join", `SELECT * FROM a JOIN b USING (id) WHERE id = 5`, `UPDATE b SET name='us' WHERE id = 5`},
	}
	mux := http.NewServeMux()
	for i, c := range cases {
		mux.HandleFunc(fmt.Sprintf("/q/%d", i), func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, dumpRows(e.db, r, c.read)) })
	}
	h := e.cache.Middleware(mux)
	get := func(p string) (string, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		return w.Body.String(), w.Header().Get("Cache-Status")
	}
	for i, c := range cases {
		p := fmt.Sprintf("/q/%d", i)
		before, cs := get(p)
		e.inv.Take()
		if _, err := e.db.Exec(c.write); err != nil {
			t.Errorf("%s: write: %v", c.name, err)
			continue
		}
		fresh := dumpRows(e.db, httptest.NewRequest("GET", "/", nil), c.read)
		if fresh == before {
			t.Errorf("%s: the write changed nothing the read returns (%q)", c.name, fresh)
		}
		if after, cs2 := get(p); after != fresh {
			t.Errorf("%s: stale: page %q, fresh %q (%s, then %s; the write stamped %q)", c.name, after, fresh, cs, cs2, e.inv.Take())
		}
	}
}
