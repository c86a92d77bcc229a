package capturetest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// gen generates the tables, the reads and the writes of a run.
type gen struct {
	rng    *rand.Rand
	direct *sql.DB
	n      int // rows inserted so far, for fresh slugs
}

// The tables: t0 ← t1 (ON DELETE CASCADE) ← t2 (ON DELETE SET NULL), and a view of t0.
var tables = []string{"t0", "t1", "t2"}

const maxID = 12

func (g *gen) setup(t *testing.T) {
	t.Helper()
	ddl := []string{
		`CREATE TABLE t0 (id int PRIMARY KEY, slug text UNIQUE NOT NULL, n int, s text)`,
		`CREATE TABLE t1 (id int PRIMARY KEY, slug text UNIQUE NOT NULL, ref int REFERENCES t0 (id) ON DELETE CASCADE, n int, s text)`,
		`CREATE TABLE t2 (id int PRIMARY KEY, slug text UNIQUE NOT NULL, ref int REFERENCES t1 (id) ON DELETE SET NULL, n int, s text)`,
		`CREATE VIEW v0 AS SELECT id, slug, n FROM t0 WHERE n >= 5`,
		`CREATE TABLE t3 (id int PRIMARY KEY, n int, s text)`, // its primary key is its only key
	}
	for _, s := range ddl {
		g.must(t, s)
	}
	for ti, table := range tables {
		for id := 1; id <= maxID; id++ {
			if g.rng.IntN(3) == 0 {
				continue
			}
			ref := "NULL"
			if ti > 0 && g.rng.IntN(5) > 0 {
				if ids := g.ids(t, tables[ti-1]); len(ids) > 0 {
					ref = fmt.Sprint(ids[g.rng.IntN(len(ids))])
				}
			}
			cols := "id, slug, n, s"
			vals := fmt.Sprintf("%d, '%s', %d, '%s'", id, g.slug(table, id), g.rng.IntN(10), g.word())
			if ti > 0 {
				cols += ", ref"
				vals += ", " + ref
			}
			g.must(t, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", table, cols, vals))
		}
	}
	for id := 1; id <= maxID; id++ {
		if g.rng.IntN(3) > 0 {
			g.must(t, "INSERT INTO t3 VALUES ($1, $2, $3)", id, g.rng.IntN(10), g.word())
		}
	}
}

func (g *gen) must(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := g.direct.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (g *gen) slug(table string, id int) string {
	g.n++
	return fmt.Sprintf("%s-%d-%d", table, id, g.n)
}

var words = []string{"vanilla", "Mint", "lemon", "cocoa", "MANGO", "fig"}

func (g *gen) word() string { return words[g.rng.IntN(len(words))] }

// ids returns the ids of table, in order.
func (g *gen) ids(t *testing.T, table string) []int {
	t.Helper()
	rows, err := g.direct.Query("SELECT id FROM " + table + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// ScanRows reads rows of database/sql as text, NULL as "NULL", and closes them.
func ScanRows(rows *sql.Rows) ([][]string, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// Text returns a value read by a layer as text, as ScanRows gives it.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// A read is a page's query: SQL through a layer, or a layer's own read (own, described by
// sql).
type read struct {
	sql   string
	args  []any
	layer Layer
	own   func(ctx context.Context) (string, error)
}

func (r read) through() string {
	if r.own != nil {
		return ""
	}
	return " (through " + r.layer.Name + ")"
}

func (g *gen) pick(list []int) int {
	if len(list) == 0 || g.rng.IntN(6) == 0 {
		return 1 + g.rng.IntN(maxID+5) // perhaps a row that is not there (yet)
	}
	return list[g.rng.IntN(len(list))]
}

func (g *gen) pickSlug(list []string) string {
	if len(list) == 0 || g.rng.IntN(6) == 0 {
		return "no-such-slug"
	}
	return list[g.rng.IntN(len(list))]
}

// reads generates the pages of a run.
func (g *gen) reads(layers []Layer) []read {
	var rs []read
	add := func(q string, args ...any) {
		rs = append(rs, read{sql: q, args: args, layer: layers[g.rng.IntN(len(layers))]})
	}
	for ti, tb := range slices.Concat(tables, tables) { // each shape twice, with other values
		ti %= len(tables)
		ids, slugs := g.idsOrNil(tb), g.slugsOrNil(tb)
		add(`SELECT id, slug, n, s FROM `+tb+` WHERE id = $1`, g.pick(ids))
		add(`SELECT id, n FROM `+tb+` WHERE slug = $1`, g.pickSlug(slugs))
		add(`SELECT id, slug FROM `+tb+` WHERE id IN ($1, $2, $3) ORDER BY id`, g.pick(ids), g.pick(ids), g.pick(ids))
		add(`SELECT id FROM `+tb+` WHERE id = ANY($1) ORDER BY id`, []int64{int64(g.pick(ids)), int64(g.pick(ids))})
		add(`SELECT count(*)::int, coalesce(sum(n), 0)::int FROM ` + tb)
		add(`SELECT id, s FROM ` + tb + ` ORDER BY id LIMIT 3`)
		lo := g.rng.IntN(maxID)
		add(`SELECT id FROM `+tb+` WHERE id BETWEEN $1 AND $2 ORDER BY id`, lo, lo+g.rng.IntN(5))
		add(`SELECT id FROM `+tb+` WHERE n > $1 ORDER BY id`, g.rng.IntN(10))
		add(fmt.Sprintf(`SELECT id, n FROM %s WHERE id = %d`, tb, g.pick(ids)))
		add(fmt.Sprintf(`SELECT id FROM %s WHERE slug = '%s'`, tb, g.pickSlug(slugs)))
		add(`SELECT id FROM `+tb+` WHERE id = $1 OR n = $2 ORDER BY id`, g.pick(ids), g.rng.IntN(10))
		add(`SELECT id FROM `+tb+` WHERE lower(s) = $1 ORDER BY id`, strings.ToLower(g.word()))
		add(`SELECT id::text FROM `+tb+` WHERE id = $1::int AND n >= 0`, fmt.Sprint(g.pick(ids)))
		if ti > 0 {
			parent := tables[ti-1]
			pids, pslugs := g.idsOrNil(parent), g.slugsOrNil(parent)
			add(`SELECT id, slug FROM `+tb+` WHERE ref = $1 ORDER BY id`, g.pick(pids))
			add(`SELECT id FROM ` + tb + ` WHERE ref IS NULL ORDER BY id`)
			add(`SELECT a.id, b.slug FROM `+tb+` a JOIN `+parent+` b ON b.id = a.ref WHERE b.id = $1 ORDER BY a.id`, g.pick(pids))
			add(`SELECT a.id, b.slug FROM `+tb+` a JOIN `+parent+` b ON b.id = a.ref WHERE a.slug = $1`, g.pickSlug(slugs))
			add(`SELECT a.id, b.id FROM `+tb+` a LEFT JOIN `+parent+` b ON b.id = a.ref AND b.id = $1 ORDER BY 1, 2`, g.pick(pids))
			add(`SELECT id FROM `+tb+` WHERE ref IN (SELECT id FROM `+parent+` WHERE slug = $1) ORDER BY id`, g.pickSlug(pslugs))
			add(`SELECT id FROM `+parent+` p WHERE EXISTS (SELECT 1 FROM `+tb+` c WHERE c.ref = p.id AND c.id = $1) ORDER BY id`, g.pick(ids))
			add(`SELECT id, (SELECT count(*)::int FROM `+tb+` c WHERE c.ref = p.id) FROM `+parent+` p WHERE id = $1`, g.pick(pids))
			add(`WITH c AS (SELECT * FROM `+tb+` WHERE id = $1) SELECT c.id, p.slug FROM c JOIN `+parent+` p ON p.id = c.ref`, g.pick(ids))
			add(`SELECT id FROM `+tb+` WHERE id = $1 UNION SELECT id FROM `+parent+` WHERE id = $2 ORDER BY 1`, g.pick(ids), g.pick(pids))
		}
	}
	for range 2 {
		ids := g.idsOrNil("t3")
		add(`SELECT id, n, s FROM t3 WHERE id = $1`, g.pick(ids))
		add(`SELECT id, n FROM t3 WHERE id IN ($1, $2) ORDER BY id`, g.pick(ids), g.pick(ids))
		add(`SELECT count(*)::int FROM t3 WHERE n > $1`, g.rng.IntN(10))
		add(`SELECT t3.id, t0.slug FROM t3 JOIN t0 ON t0.id = t3.n WHERE t3.id = $1`, g.pick(ids))
	}
	add(`SELECT id, slug, n FROM v0 ORDER BY id`)
	add(`SELECT id, slug FROM v0 WHERE id = $1`, g.pick(g.idsOrNil("t0")))
	add(`SELECT t2.id, t0.id FROM t2 JOIN t1 ON t1.id = t2.ref JOIN t0 ON t0.id = t1.ref WHERE t0.id = $1 ORDER BY 1`, g.pick(g.idsOrNil("t0")))
	return rs
}

func (g *gen) idsOrNil(table string) []int {
	rows, err := g.direct.Query("SELECT id FROM " + table + " ORDER BY id")
	if err != nil {
		panic(err)
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			panic(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (g *gen) slugsOrNil(table string) []string {
	rows, err := g.direct.Query("SELECT slug FROM " + table + " ORDER BY id")
	if err != nil {
		panic(err)
	}
	defer rows.Close()
	var s []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			panic(err)
		}
		s = append(s, v)
	}
	return s
}

// A write is one generated change, made through one layer.
type write struct {
	desc  string
	layer Layer
	run   func(ctx context.Context)
}

// writer names what made the write, for Result.ByWriter.
func (w write) writer() string {
	if w.layer.Name == "" {
		return "own"
	}
	return w.layer.Name
}

func (w write) String() string {
	if w.layer.Name == "" {
		return w.desc
	}
	return w.desc + " (through " + w.layer.Name + ")"
}

// stmt is a statement of a write.
type stmt struct {
	sql  string
	args []any
}

func (s stmt) String() string {
	if len(s.args) == 0 {
		return s.sql
	}
	return fmt.Sprintf("%s %v", s.sql, s.args)
}

// write generates the next write.
func (g *gen) write(layers []Layer) write {
	l := layers[g.rng.IntN(len(layers))]
	var stmts []stmt
	kind := g.rng.IntN(14)
	if kind == 12 { // a transaction of two writes
		stmts = []stmt{g.stmt(g.rng.IntN(12)), g.stmt(g.rng.IntN(12))}
		return write{desc: fmt.Sprintf("transaction %v", stmts), layer: l, run: func(ctx context.Context) {
			_ = l.Tx(ctx, func(exec func(string, ...any) error) error {
				for _, s := range stmts {
					if err := exec(s.sql, s.args...); err != nil {
						return err // rolled back
					}
				}
				return nil
			})
		}}
	}
	if kind == 13 { // a text of two statements, constants only
		a, b := g.inline(g.stmt(g.rng.IntN(12))), g.inline(g.stmt(g.rng.IntN(12)))
		s := stmt{sql: a.sql + "; " + b.sql}
		return write{desc: s.String(), layer: l, run: func(ctx context.Context) { _ = l.Exec(ctx, s.sql) }}
	}
	s := g.stmt(kind)
	if g.rng.IntN(4) == 0 {
		s = g.inline(s)
	}
	if g.rng.IntN(3) == 0 { // a write whose result names its rows, or some of their keys
		s.sql += []string{" RETURNING *", " RETURNING id", " RETURNING id, slug"}[g.rng.IntN(3)]
		if strings.HasPrefix(s.sql, "UPDATE t3") || strings.HasPrefix(s.sql, "DELETE FROM t3") || strings.HasPrefix(s.sql, "INSERT INTO t3") {
			s.sql = strings.TrimSuffix(s.sql, ", slug") // t3 has no slug
		}
		return write{desc: s.String(), layer: l, run: func(ctx context.Context) { _, _ = l.Query(ctx, s.sql, s.args...) }}
	}
	return write{desc: s.String(), layer: l, run: func(ctx context.Context) { _ = l.Exec(ctx, s.sql, s.args...) }}
}

// fresh returns an id that is not in ids, most of the time.
func (g *gen) fresh(ids []int) int {
	for range 10 {
		if id := 1 + g.rng.IntN(maxID+10); !slices.Contains(ids, id) {
			return id
		}
	}
	return 1 + g.rng.IntN(maxID+10)
}

// inline replaces a statement's parameters by constants.
func (g *gen) inline(s stmt) stmt {
	q := s.sql
	for i := len(s.args); i >= 1; i-- {
		var lit string
		switch v := s.args[i-1].(type) {
		case nil:
			lit = "NULL"
		case string:
			lit = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case []int64:
			lit = strings.ReplaceAll(fmt.Sprint(v), " ", ",")
			lit = "'{" + lit[1:len(lit)-1] + "}'"
		default:
			lit = fmt.Sprint(v)
		}
		q = strings.ReplaceAll(q, fmt.Sprintf("$%d", i), lit)
	}
	return stmt{sql: q}
}

func (g *gen) stmt(kind int) stmt {
	if g.rng.IntN(5) == 0 {
		return g.keyedStmt()
	}
	ti := g.rng.IntN(len(tables))
	tb := tables[ti]
	ids := g.idsOrNil(tb)
	var ref any
	if ti > 0 && g.rng.IntN(5) > 0 {
		if pids := g.idsOrNil(tables[ti-1]); len(pids) > 0 {
			ref = pids[g.rng.IntN(len(pids))]
		}
	}
	switch kind {
	case 0, 1: // insert of a row with every key
		id := g.fresh(ids)
		if ti == 0 {
			return stmt{`INSERT INTO t0 (id, slug, n, s) VALUES ($1, $2, $3, $4)`, []any{id, g.slug(tb, id), g.rng.IntN(10), g.word()}}
		}
		return stmt{`INSERT INTO ` + tb + ` (id, slug, ref, n, s) VALUES ($1, $2, $3, $4, $5)`, []any{id, g.slug(tb, id), ref, g.rng.IntN(10), g.word()}}
	case 2: // update of a non-key column by key
		return stmt{`UPDATE ` + tb + ` SET n = $1, s = $2 WHERE id = $3`, []any{g.rng.IntN(10), g.word(), g.pick(ids)}}
	case 3: // a key changes: the unique slug
		id := g.pick(ids)
		return stmt{`UPDATE ` + tb + ` SET slug = $1 WHERE id = $2`, []any{g.slug(tb, id), id}}
	case 4: // a key changes: the foreign key, or the primary key
		if ti > 0 {
			return stmt{`UPDATE ` + tb + ` SET ref = $1 WHERE id = $2`, []any{ref, g.pick(ids)}}
		}
		return stmt{`UPDATE ` + tb + ` SET id = $1 WHERE id = $2`, []any{1 + g.rng.IntN(maxID+10), g.pick(ids)}}
	case 5, 6: // delete by key (cascading from t0, setting t2.ref NULL from t1)
		return stmt{`DELETE FROM ` + tb + ` WHERE id = $1`, []any{g.pick(ids)}}
	case 7: // bulk update by condition
		return stmt{`UPDATE ` + tb + ` SET n = n + 1 WHERE n < $1`, []any{g.rng.IntN(10)}}
	case 8: // delete by range
		lo := g.rng.IntN(maxID)
		return stmt{`DELETE FROM ` + tb + ` WHERE id BETWEEN $1 AND $2`, []any{lo, lo + g.rng.IntN(3)}}
	case 9: // insert … select
		return stmt{`INSERT INTO ` + tb + ` (id, slug, n, s) SELECT id + $1, slug || '-copy' || $1, n, s FROM ` + tb +
			` WHERE id < $2 ON CONFLICT DO NOTHING`, []any{maxID + 1 + g.rng.IntN(maxID), 1 + g.rng.IntN(5)}}
	case 10: // upsert
		id := g.pick(ids)
		return stmt{`INSERT INTO ` + tb + ` (id, slug, n) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET n = excluded.n`,
			[]any{id, g.slug(tb, id), g.rng.IntN(10)}}
	default: // an update through a join, and a delete with a subquery
		if ti > 0 && g.rng.IntN(2) == 0 {
			return stmt{`UPDATE ` + tb + ` c SET n = p.n FROM ` + tables[ti-1] + ` p WHERE p.id = c.ref AND p.id = $1`, []any{g.pick(g.idsOrNil(tables[ti-1]))}}
		}
		return stmt{`DELETE FROM ` + tb + ` WHERE id IN (SELECT id FROM ` + tb + ` WHERE n = $1 LIMIT 1)`, []any{g.rng.IntN(10)}}
	}
}

// keyedStmt generates a write of t3, whose only key is its primary key: by key, writes name
// their rows.
func (g *gen) keyedStmt() stmt {
	ids := g.idsOrNil("t3")
	switch g.rng.IntN(6) {
	case 0:
		return stmt{`INSERT INTO t3 (id, n, s) VALUES ($1, $2, $3)`, []any{g.fresh(ids), g.rng.IntN(10), g.word()}}
	case 1:
		return stmt{`UPDATE t3 SET n = $1 WHERE id = $2`, []any{g.rng.IntN(10), g.pick(ids)}}
	case 2:
		return stmt{`UPDATE t3 SET id = $1 WHERE id = $2`, []any{g.fresh(ids), g.pick(ids)}}
	case 3:
		return stmt{`DELETE FROM t3 WHERE id = ANY($1)`, []any{[]int64{int64(g.pick(ids)), int64(g.pick(ids))}}}
	case 4:
		return stmt{`UPDATE t3 SET s = $1 WHERE id IN ($2, $3) AND n > 2`, []any{g.word(), g.pick(ids), g.pick(ids)}}
	}
	return stmt{`DELETE FROM t3 WHERE n = $1`, []any{g.rng.IntN(10)}}
}
