package pgcapture

import (
	"testing"
)

// schema is the database the analyzer's table tests run against.
var schema = []string{
	`CREATE TABLE authors (id bigint PRIMARY KEY, slug text UNIQUE NOT NULL, name text, score int)`,
	`CREATE TABLE posts (id serial PRIMARY KEY, author_id bigint REFERENCES authors (id) ON DELETE CASCADE,
		uid uuid UNIQUE, title text, views int, code varchar(8) COLLATE "C" UNIQUE, price numeric UNIQUE)`,
	`CREATE TABLE comments (id int PRIMARY KEY, post_id int NOT NULL REFERENCES posts (id), body text)`,
	`CREATE TABLE audit (id serial PRIMARY KEY, note text)`,
	`CREATE TABLE logged (id int PRIMARY KEY, v int)`,
	`CREATE FUNCTION log_it() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit (note) VALUES ('x'); RETURN NEW; END $$`,
	`CREATE TRIGGER logged_audit AFTER INSERT ON logged FOR EACH ROW EXECUTE FUNCTION log_it()`,
	`CREATE VIEW popular AS SELECT * FROM posts WHERE views > 100`,
	`CREATE VIEW one_author AS SELECT * FROM authors WHERE id = 7`,
	`CREATE TABLE events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`,
	`CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`,
	`CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`,
	`CREATE TABLE secrets (id int PRIMARY KEY)`,
	`ALTER TABLE secrets ENABLE ROW LEVEL SECURITY`,
	`CREATE SEQUENCE counter`,
	`CREATE FUNCTION post_count() RETURNS bigint STABLE LANGUAGE sql AS 'SELECT count(*) FROM posts'`,
	`CREATE FUNCTION bump() RETURNS int VOLATILE LANGUAGE sql AS 'SELECT 1'`,
	`CREATE FUNCTION plus_one(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 + 1'`,
	`CREATE FUNCTION new_id() RETURNS int VOLATILE LANGUAGE sql AS 'SELECT 1'`,
}

func TestReads(t *testing.T) {
	db := testDB(t, schema...)
	a := New(nil, dbLoader(db), &Options{PureFunctions: []string{"new_id"}})
	const uid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
	tests := []struct {
		name string
		sql  string
		args []any
		want string
	}{
		{"key lookup", `SELECT * FROM authors WHERE id = $1`, []any{int64(42)},
			"row:authors:id=42 table:authors"},
		{"key lookup, text", `SELECT * FROM authors WHERE slug = $1`, []any{"crème"},
			"row:authors:slug=cr%C3%A8me table:authors"},
		{"constant", `SELECT name FROM authors WHERE id = 0042`, nil,
			"row:authors:id=42 table:authors"},
		{"text constant for an integer", `SELECT name FROM authors WHERE id = '0042'`, nil,
			"row:authors:id=42 table:authors"},
		{"value first", `SELECT name FROM authors WHERE $1 = id`, []any{"7"},
			"row:authors:id=7 table:authors"},
		{"cast", `SELECT name FROM authors WHERE id = $1::bigint`, []any{int64(7)},
			"row:authors:id=7 table:authors"},
		{"cast to another type", `SELECT name FROM authors WHERE slug = $1::varchar(3)`, []any{"abcdef"},
			"scan:authors table:authors"},
		{"uuid", `SELECT * FROM posts WHERE uid = $1`, []any{"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"},
			"row:posts:uid=" + uid + " table:posts"},
		{"collation C", `SELECT * FROM posts WHERE code = $1`, []any{"X1"},
			"row:posts:code=X1 table:posts"},
		{"numeric is not a key kind", `SELECT * FROM posts WHERE price = $1`, []any{"1.5"},
			"scan:posts table:posts"},
		{"IN", `SELECT * FROM authors WHERE id IN ($1, $2, 3)`, []any{1, "2"},
			"row:authors:id=1 row:authors:id=2 row:authors:id=3 table:authors"},
		{"ANY array", `SELECT * FROM authors WHERE id = ANY($1)`, []any{[]int64{4, 5}},
			"row:authors:id=4 row:authors:id=5 table:authors"},
		{"ANY array literal", `SELECT * FROM authors WHERE slug = ANY($1::text[])`, []any{`{a,"b c"}`},
			"row:authors:slug=a row:authors:slug=b%20c table:authors"},
		{"ANY ARRAY[]", `SELECT * FROM authors WHERE id = ANY(ARRAY[$1, $2])`, []any{8, 9},
			"row:authors:id=8 row:authors:id=9 table:authors"},
		{"NULL value", `SELECT * FROM authors WHERE id = $1`, []any{nil},
			"table:authors"},
		{"fraction", `SELECT * FROM authors WHERE id = $1`, []any{1.5},
			"scan:authors table:authors"},
		{"conjunct", `SELECT * FROM authors WHERE score > 3 AND slug = $1 AND name LIKE 'a%'`, []any{"x"},
			"row:authors:slug=x table:authors"},
		{"OR", `SELECT * FROM authors WHERE id = $1 OR slug = $2`, []any{1, "x"},
			"scan:authors table:authors"},
		{"not a key", `SELECT * FROM authors WHERE score = $1`, []any{1},
			"scan:authors table:authors"},
		{"range", `SELECT * FROM authors WHERE id BETWEEN $1 AND $2`, []any{1, 9},
			"scan:authors table:authors"},
		{"list", `SELECT * FROM authors ORDER BY id LIMIT 10`, nil,
			"scan:authors table:authors"},
		{"foreign key", `SELECT * FROM posts WHERE author_id = $1 ORDER BY id DESC LIMIT 5`, []any{3},
			"row:posts:author_id=3 table:posts"},
		{"COLLATE", `SELECT * FROM authors WHERE slug = $1 COLLATE "C"`, []any{"x"},
			"scan:authors table:authors"},
		{"function of the column", `SELECT * FROM authors WHERE lower(slug) = $1`, []any{"x"},
			"scan:authors table:authors"},
		{"join, qualified", `SELECT * FROM posts p JOIN authors a ON a.id = p.author_id WHERE a.slug = $1`, []any{"x"},
			"row:authors:slug=x scan:posts table:authors table:posts"},
		{"join, unqualified unambiguous", `SELECT * FROM posts JOIN authors ON authors.id = posts.author_id WHERE slug = $1`, []any{"x"},
			"row:authors:slug=x scan:posts table:authors table:posts"},
		{"join, unqualified ambiguous", `SELECT * FROM posts JOIN authors ON authors.id = posts.author_id WHERE id = $1`, []any{1},
			"scan:authors scan:posts table:authors table:posts"},
		{"join ON constant", `SELECT * FROM authors a JOIN posts p ON p.author_id = a.id AND p.id = $1`, []any{5},
			"row:posts:id=5 scan:authors table:authors table:posts"},
		{"left join ON narrows the nullable side", `SELECT * FROM authors a LEFT JOIN posts p ON p.author_id = a.id AND p.id = $1 AND a.id = $2`, []any{5, 6},
			"row:posts:id=5 scan:authors table:authors table:posts"},
		{"left join WHERE", `SELECT * FROM authors a LEFT JOIN posts p ON p.author_id = a.id WHERE a.id = $1`, []any{6},
			"row:authors:id=6 scan:posts table:authors table:posts"},
		{"full join", `SELECT * FROM authors a FULL JOIN posts p ON p.id = 1 AND a.id = 2`, nil,
			"scan:authors scan:posts table:authors table:posts"},
		{"self join", `SELECT * FROM authors a, authors b WHERE a.id = 1 AND b.slug = 'x'`, nil,
			"row:authors:id=1 row:authors:slug=x table:authors"},
		{"self join, one side a scan", `SELECT * FROM authors a, authors b WHERE a.id = 1 AND b.score = 2`, nil,
			"row:authors:id=1 scan:authors table:authors"},
		{"subquery in WHERE", `SELECT * FROM posts WHERE author_id IN (SELECT id FROM authors WHERE slug = $1)`, []any{"x"},
			"row:authors:slug=x scan:posts table:authors table:posts"},
		{"correlated subquery", `SELECT * FROM authors a WHERE EXISTS (SELECT 1 FROM posts p WHERE p.author_id = a.id AND p.id = 3) AND a.id = 4`, nil,
			"row:authors:id=4 row:posts:id=3 table:authors table:posts"},
		{"outer column in subquery", `SELECT * FROM authors a WHERE EXISTS (SELECT 1 FROM posts p WHERE a.id = 3)`, nil,
			"scan:authors scan:posts table:authors table:posts"},
		{"subquery in FROM", `SELECT * FROM (SELECT * FROM authors WHERE id = 1) s WHERE s.id = 1`, nil,
			"row:authors:id=1 table:authors"},
		{"lateral", `SELECT * FROM authors a, LATERAL (SELECT * FROM posts p WHERE p.author_id = a.id LIMIT 1) x WHERE a.id = $1`, []any{2},
			"row:authors:id=2 scan:posts table:authors table:posts"},
		{"scalar subquery in the select list", `SELECT id, (SELECT count(*) FROM posts WHERE author_id = authors.id) FROM authors WHERE id = 1`, nil,
			"row:authors:id=1 scan:posts table:authors table:posts"},
		{"CTE", `WITH a AS (SELECT * FROM authors WHERE slug = $1) SELECT * FROM a JOIN posts ON posts.author_id = a.id`, []any{"x"},
			"row:authors:slug=x scan:posts table:authors table:posts"},
		{"CTE shadows a table", `WITH authors AS (SELECT 1 AS id) SELECT * FROM authors WHERE id = 1`, nil,
			""},
		{"recursive CTE", `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r, authors WHERE authors.id = r.n`, nil,
			"scan:authors table:authors"},
		{"UNION", `SELECT id FROM authors WHERE id = 1 UNION SELECT author_id FROM posts WHERE id = 2`, nil,
			"row:authors:id=1 row:posts:id=2 table:authors table:posts"},
		{"schema-qualified", `SELECT * FROM authors WHERE authors.id = 5`, nil,
			"row:authors:id=5 table:authors"},
		{"FOR UPDATE is a read", `SELECT * FROM authors WHERE id = 5 FOR UPDATE`, nil,
			"row:authors:id=5 table:authors"},
		{"aggregate", `SELECT count(*), max(score) FROM authors WHERE id = ANY($1)`, []any{[]int{1}},
			"row:authors:id=1 table:authors"},
		{"builtin functions", `SELECT lower(name), now(), coalesce(score, 0) FROM authors WHERE id = 1`, nil,
			"row:authors:id=1 table:authors"},
		{"immutable user function", `SELECT plus_one(score) FROM authors WHERE id = 1`, nil,
			"row:authors:id=1 table:authors"},
		{"function declared pure", `SELECT new_id() FROM authors WHERE id = 1`, nil,
			"row:authors:id=1 table:authors"},
		{"stable user function", `SELECT post_count()`, nil, "no-store"},
		{"volatile user function", `SELECT bump()`, nil, "no-store"},
		{"unknown function", `SELECT no_such_function()`, nil, "no-store"},
		{"query_to_xml", `SELECT query_to_xml('SELECT * FROM authors', true, false, '')`, nil, "no-store"},
		{"view", `SELECT * FROM popular WHERE id = 1`, nil,
			"scan:posts table:posts"},
		{"view narrowed inside", `SELECT * FROM one_author`, nil,
			"row:authors:id=7 table:authors"},
		{"partitioned", `SELECT * FROM events WHERE id = $1`, []any{3},
			"row:events:id=3 row:events_2024:id=3 row:events_2025:id=3 table:events table:events_2024 table:events_2025"},
		{"partition", `SELECT * FROM events_2024`, nil,
			"scan:events_2024 table:events_2024"},
		{"ONLY", `SELECT * FROM ONLY events`, nil,
			"scan:events table:events"},
		{"row-level security", `SELECT * FROM secrets WHERE id = 1`, nil, "no-store"},
		{"sequence", `SELECT last_value FROM counter`, nil, "no-store"},
		{"currval", `SELECT currval('counter')`, nil, "no-store"},
		{"unknown table", `SELECT * FROM no_such_table`, nil, "no-store"},
		{"unparsable", `SELECT FROM WHERE`, nil, "no-store"},
		{"no table", `SELECT 1`, nil, ""},
		{"catalog", `SELECT relname FROM pg_class WHERE oid = 1`, nil,
			"scan:pg_class table:pg_class"},
		{"write", `UPDATE authors SET name = 'x' WHERE id = 1 RETURNING *`, nil, "no-store"},
		{"write in a CTE", `WITH d AS (DELETE FROM audit RETURNING id) SELECT * FROM d`, nil, "no-store"},
		{"cursor", `FETCH 10 FROM c`, nil, "no-store"},
		{"DO", `DO $$ BEGIN END $$`, nil, "no-store"},
		{"SET", `SET search_path TO public`, nil, ""},
		{"IN with too many values", `SELECT * FROM authors WHERE id = ANY($1)`, []any{make([]int, 300)},
			"scan:authors table:authors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readTags(t, a, tt.sql, tt.args...); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.sql, got, tt.want)
			}
		})
	}
}

func TestWrites(t *testing.T) {
	db := testDB(t, schema...)
	a := New(nil, dbLoader(db), nil)
	tests := []struct {
		name string
		sql  string
		args []any
		want string
	}{
		{"insert with every key", `INSERT INTO authors (id, slug, name) VALUES ($1, $2, $3)`, []any{1, "a", "A"},
			"row:authors:id=1 row:authors:slug=a scan:authors"},
		{"insert, several rows", `INSERT INTO authors (id, slug) VALUES (1, 'a'), (2, 'b')`, nil,
			"row:authors:id=1 row:authors:id=2 row:authors:slug=a row:authors:slug=b scan:authors"},
		{"insert without column list", `INSERT INTO authors VALUES (3, 'c', 'C', 0)`, nil,
			"row:authors:id=3 row:authors:slug=c scan:authors"},
		{"insert with a default key", `INSERT INTO posts (author_id, title) VALUES ($1, $2)`, []any{1, "t"},
			"table:posts"},
		{"insert with NULL key", `INSERT INTO comments (id, post_id, body) VALUES (1, 2, NULL)`, nil,
			"row:comments:id=1 row:comments:post_id=2 scan:comments"},
		{"insert with a NULL foreign key", `INSERT INTO posts (id, author_id, uid, code, price) VALUES (1, $1, NULL, 'a', 1)`, []any{nil},
			"row:posts:code=a row:posts:id=1 scan:posts"}, // price: numeric is not a key kind
		{"insert with an expression key", `INSERT INTO authors (id, slug) VALUES ($1 + 1, 'a')`, []any{1},
			"table:authors"},
		{"insert of a fraction", `INSERT INTO authors (id, slug) VALUES ($1, 'a')`, []any{1.5},
			"table:authors"},
		{"insert … select", `INSERT INTO authors (id, slug) SELECT id, slug FROM authors`, nil,
			"table:authors"},
		{"upsert", `INSERT INTO authors (id, slug) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET slug = excluded.slug`, nil,
			"table:authors"}, // posts' foreign key has no ON UPDATE action
		{"insert … do nothing", `INSERT INTO authors (id, slug) VALUES (1, 'a') ON CONFLICT DO NOTHING`, nil,
			"row:authors:id=1 row:authors:slug=a scan:authors"},
		{"update by key", `UPDATE authors SET name = $1 WHERE id = $2`, []any{"x", 1},
			"table:authors"},
		{"bulk update", `UPDATE comments SET body = '' WHERE post_id > 3`, nil,
			"table:comments"},
		{"delete cascades", `DELETE FROM authors WHERE id = 1`, nil,
			"table:authors table:posts"},
		{"update does not cascade without an action", `UPDATE posts SET id = id + 1`, nil,
			"table:posts"},
		{"merge", `MERGE INTO authors a USING (SELECT 1 AS id) s ON a.id = s.id WHEN MATCHED THEN DELETE`, nil,
			"table:authors table:posts"},
		{"truncate", `TRUNCATE comments, audit`, nil,
			"table:audit table:comments"},
		{"truncate cascade", `TRUNCATE authors CASCADE`, nil,
			"table:authors table:comments table:posts"},
		{"write in a CTE", `WITH d AS (DELETE FROM audit WHERE id = 1 RETURNING id) SELECT * FROM d`, nil,
			"table:audit"},
		{"partitioned insert", `INSERT INTO events (id, at) VALUES (1, '2024-05-01')`, nil,
			"row:events:id=1 row:events_2024:id=1 row:events_2025:id=1 scan:events scan:events_2024 scan:events_2025"},
		{"partitioned update", `UPDATE events SET at = at + 1`, nil,
			"table:events table:events_2024 table:events_2025"},
		{"view", `UPDATE popular SET title = 'x'`, nil,
			"table:posts"},
		{"trigger", `INSERT INTO logged (id, v) VALUES (1, 1)`, nil,
			"row:logged:id=1 scan:logged table:*"},
		{"volatile function", `SELECT bump()`, nil, "table:*"},
		{"stable function", `SELECT post_count()`, nil, ""},
		{"DDL", `ALTER TABLE audit ADD COLUMN x int`, nil, "table:*"},
		{"CALL", `CALL some_procedure()`, nil, "table:*"},
		{"unparsable", `UPDATE SET WHERE`, nil, "table:*"},
		{"read", `SELECT * FROM authors`, nil, ""},
		{"refresh", `REFRESH MATERIALIZED VIEW mv`, nil, "table:*"}, // no such view: unknown relation
		{"copy from", `COPY audit FROM STDIN`, nil, "table:audit"},
		{"copy to", `COPY audit TO STDOUT`, nil, ""},
		{"several statements", `INSERT INTO authors (id, slug) VALUES (9, 'z'); DELETE FROM comments`, nil,
			"row:authors:id=9 row:authors:slug=z scan:authors table:comments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := writeTags(t, a, tt.sql, tt.args...); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.sql, got, tt.want)
			}
		})
	}
}
