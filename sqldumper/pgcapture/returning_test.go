package pgcapture

import (
	"context"
	"database/sql/driver"
	"slices"
	"strings"
	"testing"
)

func TestReturned(t *testing.T) {
	db := testDB(t, schema...)
	a := New(nopInvalidator{}, dbLoader(db), nil)
	tests := []struct {
		name string
		sql  string
		rows [][]driver.Value // nil: Returned gives nil
		want string           // what the statement stamps once every row was read
	}{
		{"update of a non-key column", `UPDATE authors SET name = $1 WHERE score > 2 RETURNING *`,
			[][]driver.Value{{int64(1), "ann", "x", nil}, {int64(2), []byte("bob"), "y", int64(3)}},
			"row:authors:id=1 row:authors:id=2 row:authors:slug=ann row:authors:slug=bob scan:authors"},
		{"update of a key column", `UPDATE authors SET slug = $1 WHERE id = 3 RETURNING *`, nil, ""},
		{"delete", `DELETE FROM authors WHERE score = 1 RETURNING id, slug`,
			[][]driver.Value{{int64(4), "dee"}},
			"row:authors:id=4 row:authors:slug=dee scan:authors table:posts"},
		{"insert with defaults", `INSERT INTO posts (author_id, title) VALUES (1, 'x') RETURNING code, id, author_id, uid`,
			[][]driver.Value{{"c1", int64(9), int64(1), nil}},
			"row:posts:author_id=1 row:posts:code=c1 row:posts:id=9 scan:posts"},
		{"insert overriding user value", `INSERT INTO idents (id, v) OVERRIDING USER VALUE VALUES (7, 'x') RETURNING id`,
			[][]driver.Value{{int64(1)}}, "row:idents:id=1 scan:idents"},
		{"insert returning some keys", `INSERT INTO posts (author_id, title) VALUES (1, 'x') RETURNING id`, nil, ""},
		{"upsert that assigns no key", `INSERT INTO audit (note) VALUES ('x') ON CONFLICT (id) DO UPDATE SET note = 'y' RETURNING id`,
			[][]driver.Value{{int64(5)}}, "row:audit:id=5 scan:audit"},
		{"update … from, qualified", `UPDATE audit a SET note = c.body FROM comments c WHERE c.id = a.id RETURNING a.id`,
			[][]driver.Value{{int64(6)}}, "row:audit:id=6 scan:audit"},
		{"update … from, unqualified", `UPDATE audit a SET note = c.body FROM comments c WHERE c.id = a.id RETURNING note`, nil, ""},
		{"a value that does not convert", `DELETE FROM audit RETURNING id`,
			[][]driver.Value{{1.5}}, "table:audit"},
		{"two statements", `DELETE FROM audit RETURNING id; SELECT 1`, nil, ""},
		{"no RETURNING", `DELETE FROM audit`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := a.Shape(tt.sql)
			ret := a.Returned(context.Background(), sh)
			if (ret == nil) != (tt.rows == nil) {
				t.Fatalf("%s: Returned = %v, want nil %v", tt.sql, ret, tt.rows == nil)
			}
			if ret == nil {
				return
			}
			p, err := a.resolve(context.Background(), sh)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tt.rows {
				ret.Row(r)
			}
			fallback := joinTags(p.steps[0].stamps(nil, ret)) // not complete: the tables
			ret.Complete()
			if got := joinTags(p.steps[0].stamps(nil, ret)); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.sql, got, tt.want)
			}
			if strings.Contains(fallback, "row:") || !slices.ContainsFunc(strings.Fields(fallback), func(s string) bool { return strings.HasPrefix(s, "table:") }) {
				t.Errorf("%s with rows unread stamps %s, want the tables' tags", tt.sql, fallback)
			}
		})
	}
}
