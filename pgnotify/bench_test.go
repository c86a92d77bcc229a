package pgnotify_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper/pgnotify"
)

// BenchmarkCommitToFresh measures how long a page stays stale after a write made outside the
// application: from sending an autocommit UPDATE (and from its COMMIT being acknowledged) to
// the moment the Listener's invalidation has returned, after which every request gets the
// new page (checked with one request per write). The page is cached (a hit) before each
// write.
//
//	go test -run '^$' -bench CommitToFresh -benchtime 3000x ./pgnotify/
func BenchmarkCommitToFresh(b *testing.B) {
	s := newShop(b, pgnotify.Options{})
	l := s.listener(s.config())
	site := s.site(l)
	rec := newRecorder(site.cache)
	run(b, l, rec)
	writer := s.conn()
	ctx := context.Background()
	site.get("/f/vanilla")

	fromSent := make([]time.Duration, 0, b.N)
	fromAck := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("Vanilla %d", i)
		for j := 0; ; j++ {
			if _, cs := site.get("/f/vanilla"); cs == "dumper; hit" {
				break
			} else if j == 3 {
				b.Fatalf("before write %d: Cache-Status %q, want a hit", i, cs)
			}
		}
		rec.reset()
		sent := time.Now()
		if _, err := writer.Exec(ctx, "UPDATE flavors SET name = $1 WHERE slug = 'vanilla'", name); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		rec.waitFor(b, "path /f/vanilla")
		rec.mu.Lock()
		fresh := rec.calls[0].at
		rec.mu.Unlock()
		if body, cs := site.get("/f/vanilla"); body != name {
			b.Fatalf("write %d: after the invalidation, GET = %q (%s), want %q", i, body, cs, name)
		}
		fromSent = append(fromSent, fresh.Sub(sent))
		fromAck = append(fromAck, fresh.Sub(acked))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(fromAck, 50)), "p50-ms-from-ack")
	b.ReportMetric(ms(percentile(fromAck, 99)), "p99-ms-from-ack")
	b.ReportMetric(ms(percentile(fromSent, 50)), "p50-ms-from-sent")
	b.ReportMetric(ms(percentile(fromSent, 99)), "p99-ms-from-sent")
	b.ReportMetric(ms(slices.Max(fromSent)), "max-ms-from-sent")
}

// BenchmarkBulkUpdate measures the writer's cost of the triggers: an UPDATE of all 10,000
// rows of a table without triggers and of an identical one with them, alternately, in
// autocommit. The ratio is the overhead (transition tables, one count, one table-level
// NOTIFY).
//
//	go test -run '^$' -bench BulkUpdate -benchtime 30x ./pgnotify/
func BenchmarkBulkUpdate(b *testing.B) {
	compareWrites(b, 10000, 0, "UPDATE %s SET n = n + 1")
}

// BenchmarkWideUpdate measures the triggers' cost on an UPDATE of 100 rows (notified row by
// row) that each hold a wide column the notification does not carry: the trigger must read
// only the key and the requested columns, not the whole row.
//
//	go test -run '^$' -bench WideUpdate -benchtime 30x ./pgnotify/
func BenchmarkWideUpdate(b *testing.B) {
	for _, width := range []int{20 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("body=%dKiB", width>>10), func(b *testing.B) {
			compareWrites(b, 100, width, "UPDATE %s SET n = n + 1")
		})
	}
}

// BenchmarkTransaction measures the triggers' cost on a transaction of 1,000 single-row
// UPDATEs (a loop in a DO block, so that no round trip dilutes it): past MaxRows
// notifications in a transaction, the triggers send the table-level one instead of one per
// row.
//
//	go test -run '^$' -bench Transaction -benchtime 30x ./pgnotify/
func BenchmarkTransaction(b *testing.B) {
	compareWrites(b, 1000, 0, "DO $$ BEGIN FOR i IN 1..1000 LOOP UPDATE %s SET n = n + 1 WHERE id = i; END LOOP; END $$")
}

// compareWrites creates three identical tables of rows rows (each with a body column of
// width random bytes), installs the triggers on one, version 2 of the triggers (as the
// previous release installed them, without key columns) on another, and runs statement (a
// format with the table's name) on each in turn, in autocommit. It reports the median time
// of each, the ratio of the triggers' to none, and of the triggers' to version 2's.
func compareWrites(b *testing.B, rows, width int, statement string) {
	p := newPG(b)
	for _, table := range []string{"plain", "notified", "notified_v2"} {
		p.exec(fmt.Sprintf(`CREATE TABLE %s (id bigserial PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL, n int NOT NULL DEFAULT 0, body text NOT NULL DEFAULT '');
			INSERT INTO %[1]s (slug, name, body) SELECT 'flavor-' || i, 'Flavor ' || i,
				(SELECT coalesce(string_agg(md5(random()::text || i || j), ''), '') FROM generate_series(1, %d / 32) AS j)
			FROM generate_series(1, %d) AS i`, table, width, rows))
		p.exec("VACUUM ANALYZE " + table)
	}
	p.install(pgnotify.Options{Channel: p.channel}, pgnotify.Table{Name: "notified", Columns: []string{"slug"}})
	v2, err := os.ReadFile("testdata/function_v2.sql")
	if err != nil {
		b.Fatal(err)
	}
	p.exec(string(v2))
	for _, ev := range []struct{ event, referencing string }{
		{"INSERT", "REFERENCING NEW TABLE AS dumper_new"},
		{"UPDATE", "REFERENCING OLD TABLE AS dumper_old NEW TABLE AS dumper_new"},
		{"DELETE", "REFERENCING OLD TABLE AS dumper_old"},
		{"TRUNCATE", ""},
	} {
		p.exec(fmt.Sprintf("CREATE TRIGGER v2_%s AFTER %s ON notified_v2 %s FOR EACH STATEMENT EXECUTE FUNCTION dumper_pgnotify_v2('%s_v2', '100', '1', 'id', 'slug')",
			strings.ToLower(ev.event), ev.event, ev.referencing, p.channel))
	}
	raw := p.listen()
	ctx := context.Background()
	writer := p.conn()
	run := func(table string) time.Duration {
		start := time.Now()
		if _, err := writer.Exec(ctx, fmt.Sprintf(statement, table)); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	tables := []string{"plain", "notified", "notified_v2"}
	times := make(map[string][]time.Duration)
	b.ResetTimer()
	for i := range b.N {
		for j := range tables {
			table := tables[(i+j)%len(tables)] // each first in turn
			times[table] = append(times[table], run(table))
		}
	}
	b.StopTimer()
	got := raw.count(b)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pm, nm, vm := percentile(times["plain"], 50), percentile(times["notified"], 50), percentile(times["notified_v2"], 50)
	b.ReportMetric(ms(pm), "ms-without-trigger")
	b.ReportMetric(ms(nm), "ms-with-trigger")
	b.ReportMetric(ms(vm), "ms-with-v2-trigger")
	b.ReportMetric(float64(nm)/float64(pm), "ratio")
	b.ReportMetric(float64(nm)/float64(vm), "ratio-to-v2")
	// The fastest runs are the least disturbed by other load on the machine.
	b.ReportMetric(float64(slices.Min(times["notified"]))/float64(slices.Min(times["plain"])), "ratio-of-min")
	b.ReportMetric(float64(slices.Min(times["notified"]))/float64(slices.Min(times["notified_v2"])), "ratio-to-v2-of-min")
	b.ReportMetric(float64(got)/float64(b.N), "notifications/op")
}

// percentile returns the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}
