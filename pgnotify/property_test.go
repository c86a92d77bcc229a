package pgnotify_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/pgnotify"
)

// A propRead is a read as dependency capture tags it: narrowed by a key column's value
// (dumper.ReadRows: the table tag and the row tag), or a scan (dumper.ReadTable: the table
// tag and the scan tag).
type propRead struct {
	table, column, value string // column "" for a scan
}

func (r propRead) tags() []string {
	if r.column == "" {
		return []string{dumper.TableTag(r.table), dumper.ScanTag(r.table)}
	}
	return []string{dumper.TableTag(r.table), dumper.RowTag(r.table, r.column, r.value)}
}

func (r propRead) String() string {
	if r.column == "" {
		return "scan " + r.table
	}
	return r.table + "." + r.column + "=" + r.value
}

// TestPropertyRawWrites generates tables with integer, text and uuid keys, unique and
// foreign-key columns, and random writes through raw SQL (single-row writes by key, changes
// of unique and foreign keys, bulk statements over and under MaxRows, ranges, INSERT …
// SELECT, cascades, TRUNCATE, transactions mixing them), and checks after each write that
// every read whose result it changed carries a tag the Listener invalidated: no miss. It
// logs the seed (replay with DUMPER_PGNOTIFY_SEED) and how many reads were invalidated for
// each one whose result changed.
func TestPropertyRawWrites(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	if s := os.Getenv("DUMPER_PGNOTIFY_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (replay with DUMPER_PGNOTIFY_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	p := newPG(t)
	p.exec(`CREATE TABLE parents (id int PRIMARY KEY, code text NOT NULL UNIQUE, n int NOT NULL DEFAULT 0);
		CREATE TABLE kids (id bigint PRIMARY KEY, slug varchar(20) UNIQUE, parent_id int REFERENCES parents ON DELETE SET NULL,
			v int NOT NULL DEFAULT 0, UNIQUE (parent_id, v));
		CREATE TABLE things (id uuid PRIMARY KEY, name text, kid_id bigint REFERENCES kids ON DELETE CASCADE);
		CREATE TABLE sentinel (id bigserial PRIMARY KEY)`)
	const maxRows = 5
	tables := []pgnotify.Table{
		{Name: "parents"}, {Name: "kids"}, {Name: "things"},
		{Name: "sentinel", Map: func(_ context.Context, c pgnotify.Change) ([]string, []string, error) {
			return nil, []string{"sentinel:" + c.Key[0]}, nil
		}},
	}
	opts := pgnotify.Options{Channel: p.channel, MaxRows: maxRows}
	p.install(opts, tables...)
	s := &shop{pg: p, tables: tables, opts: opts}
	l := s.listener(p.config())
	rec := newRecorder(nil)
	run(t, l, rec)

	const n = 12 // ids 1..n, codes c1..cn, slugs s1..sn
	uuids := make([]string, 6)
	for i := range uuids {
		uuids[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1)
	}
	num := func() int { return 1 + rng.IntN(n) }
	p.exec(`INSERT INTO parents SELECT i, 'c' || i FROM generate_series(1, 6) AS i;
		INSERT INTO kids SELECT i, 's' || i, 1 + i % 6, i FROM generate_series(1, 8) AS i`)

	var reads []propRead
	for i := 1; i <= n; i++ {
		v := strconv.Itoa(i)
		reads = append(reads,
			propRead{"parents", "id", v}, propRead{"parents", "code", "c" + v},
			propRead{"kids", "id", v}, propRead{"kids", "slug", "s" + v}, propRead{"kids", "parent_id", v}, propRead{"kids", "v", v},
			propRead{"things", "kid_id", v})
	}
	for _, u := range uuids {
		reads = append(reads, propRead{"things", "id", u})
	}
	reads = append(reads, propRead{"parents", "", ""}, propRead{"kids", "", ""}, propRead{"things", "", ""})
	ctx := context.Background()
	results := func() []string {
		t.Helper()
		out := make([]string, len(reads))
		for i, r := range reads {
			q := fmt.Sprintf("SELECT coalesce(string_agg(x::text, '|' ORDER BY x::text), '') FROM %s AS x", r.table)
			args := []any{}
			if r.column != "" {
				q += fmt.Sprintf(" WHERE x.%s::text = $1", r.column)
				args = append(args, r.value)
			}
			if err := p.admin.QueryRow(ctx, q, args...).Scan(&out[i]); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return out
	}

	// The writes, each one or more statements of one transaction.
	single := []func() string{
		func() string { return fmt.Sprintf("UPDATE kids SET v = v + 1 WHERE id = %d", num()) },
		func() string { return fmt.Sprintf("UPDATE kids SET slug = 's%d' WHERE id = %d", num(), num()) }, // may collide
		func() string { return fmt.Sprintf("UPDATE kids SET slug = NULL WHERE slug = 's%d'", num()) },
		func() string {
			return fmt.Sprintf("UPDATE kids SET parent_id = %d WHERE id = %d", 1+rng.IntN(6), num())
		},
		func() string { return fmt.Sprintf("UPDATE kids SET id = %d WHERE id = %d", num(), num()) },
		func() string {
			return fmt.Sprintf("INSERT INTO kids VALUES (%d, 's%d', %d, %d) ON CONFLICT DO NOTHING", num(), num(), 1+rng.IntN(6), num())
		},
		func() string { return fmt.Sprintf("DELETE FROM kids WHERE slug = 's%d'", num()) },
		func() string { return fmt.Sprintf("UPDATE parents SET code = 'c%d' WHERE id = %d", num(), num()) },
		func() string { return fmt.Sprintf("UPDATE parents SET n = n + 1 WHERE code = 'c%d'", num()) },
		func() string {
			return fmt.Sprintf("INSERT INTO parents VALUES (%d, 'c%d') ON CONFLICT DO NOTHING", num(), num())
		},
		func() string { return fmt.Sprintf("DELETE FROM parents WHERE id = %d", num()) }, // SET NULL on kids
		func() string {
			return fmt.Sprintf("INSERT INTO things VALUES ('%s', 'x', (SELECT id FROM kids ORDER BY random() LIMIT 1)) ON CONFLICT DO NOTHING",
				uuids[rng.IntN(len(uuids))])
		},
		func() string {
			return fmt.Sprintf("UPDATE things SET kid_id = %d WHERE id = '%s' AND EXISTS (SELECT FROM kids WHERE id = %[1]d)", num(), uuids[rng.IntN(len(uuids))])
		},
		func() string {
			return fmt.Sprintf("UPDATE things SET name = name || '!' WHERE id = '%s'", uuids[rng.IntN(len(uuids))])
		},
		func() string { return fmt.Sprintf("DELETE FROM things WHERE id = '%s'", uuids[rng.IntN(len(uuids))]) },
	}
	bulk := []func() string{
		func() string { return fmt.Sprintf("UPDATE kids SET v = v + 1 WHERE id %% %d = 0", 1+rng.IntN(4)) }, // over or under MaxRows
		func() string {
			a := num()
			return fmt.Sprintf("DELETE FROM kids WHERE id BETWEEN %d AND %d", a, a+rng.IntN(8))
		},
		func() string {
			a := num()
			return fmt.Sprintf("INSERT INTO kids SELECT i, 's' || i, 1 + i %% 6, 100 + i FROM generate_series(%d, %d) AS i ON CONFLICT DO NOTHING", a, a+rng.IntN(8))
		},
		func() string { return fmt.Sprintf("UPDATE parents SET n = n + 1 WHERE id <= %d", num()) },
		func() string { return "UPDATE things SET name = upper(name)" },
		func() string {
			if rng.IntN(3) == 0 {
				return "TRUNCATE parents, kids, things"
			}
			return "TRUNCATE things"
		},
	}
	write := func() []string {
		k := 1
		if rng.IntN(4) == 0 {
			k = 2 + rng.IntN(3) // a transaction mixing statements
		}
		var stmts []string
		for range k {
			if rng.IntN(4) == 0 {
				stmts = append(stmts, bulk[rng.IntN(len(bulk))]())
			} else {
				stmts = append(stmts, single[rng.IntN(len(single))]())
			}
		}
		return stmts
	}

	const writes = 120
	var changed, invalidated, misses, failed int
	before := results()
	writer := p.conn()
	for w := range writes {
		stmts := write()
		rec.reset()
		tx, err := writer.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range stmts {
			if _, err = tx.Exec(ctx, st); err != nil {
				break // a unique or foreign key refused it: the transaction rolls back
			}
		}
		if err == nil {
			err = tx.Commit(ctx)
		}
		if err != nil {
			failed++
			_ = tx.Rollback(ctx)
		}
		s.sentinel(rec)
		inv := make(map[string]bool)
		for _, e := range rec.all() {
			inv[strings.TrimPrefix(e, "tag ")] = true
		}
		after := results()
		for i, r := range reads {
			hit := slices.ContainsFunc(r.tags(), func(tag string) bool { return inv[tag] })
			if hit {
				invalidated++
			}
			if before[i] == after[i] {
				continue
			}
			changed++
			if !hit {
				misses++
				t.Errorf("write %d %q: the result of %s changed (%q → %q) but none of its tags %q was invalidated (invalidated: %q)",
					w, stmts, r, before[i], after[i], r.tags(), rec.all())
			}
		}
		before = after
		if rng.IntN(10) == 0 { // refill after deletes and truncations
			p.exec(`INSERT INTO parents SELECT i, 'c' || i FROM generate_series(1, 6) AS i ON CONFLICT DO NOTHING;
				INSERT INTO kids SELECT i, 's' || i, (SELECT id FROM parents WHERE id = 1 + i % 6), i FROM generate_series(1, 8) AS i
					ON CONFLICT DO NOTHING`)
			s.sentinel(rec)
			before = results()
		}
	}
	ratio := 0.0
	if changed > 0 {
		ratio = float64(invalidated) / float64(changed)
	}
	t.Logf("%d writes (%d refused), %d reads checked after each; %d reads whose result changed, %d misses; %d reads invalidated: over-invalidation ratio %.2f",
		writes, failed, len(reads), changed, misses, invalidated, ratio)
}
