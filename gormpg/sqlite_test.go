package gormpg_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/sqldumper/capturetest"
	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// TestCapturePropertySQLite is the GORM part of TestCaptureProperty on SQLite: GORM's own reads
// and writes only (capturetest's SQL is PostgreSQL's), with gormdumper alone, whose key
// columns and foreign-key actions then come from SQLite's schema and the models. Raw SQL reads
// are not stored.
func TestCapturePropertySQLite(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "capture.db") + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	direct, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	res := capturetest.Run(t, capturetest.Config{
		Direct:  direct,
		OwnOnly: true,
		Writes:  40,
		Setup:   []string{joinTable, `INSERT INTO t0_t3 SELECT t0.id, t3.id FROM t0, t3 WHERE (t0.id + t3.id) % 4 = 0`},
		Layers: func(inv dumper.Invalidator) []capturetest.Layer {
			if err := db.Use(gormdumper.New(inv)); err != nil {
				t.Fatal(err)
			}
			return nil
		},
		Reads: func(g *capturetest.Gen) []capturetest.Read { return ormReads(g, db) },
		Write: func(g *capturetest.Gen) (capturetest.Write, bool) { return ormWrite(g, db, false), true },
	})
	if res.Misses > 0 {
		t.Errorf("%d misses", res.Misses)
	}
}
