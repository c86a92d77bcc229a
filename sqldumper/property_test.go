package sqldumper_test

import (
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/sqldumper"
	"github.com/dumperhq/dumper/sqldumper/capturetest"
)

// TestCaptureProperty: after each generated write through database/sql, every generated read
// whose result changed carries a tag the write stamped (see package capturetest).
func TestCaptureProperty(t *testing.T) {
	_, dsn := testservice.PostgresSchema(t, "sqlcapture")
	res := capturetest.Run(t, capturetest.Config{
		DSN: dsn,
		Layers: func(inv dumper.Invalidator) []capturetest.Layer {
			db, err := sqldumper.Open("pgx", dsn, inv, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return []capturetest.Layer{capturetest.DB("database/sql", db)}
		},
	})
	if res.Misses > 0 {
		t.Errorf("%d misses", res.Misses)
	}
}
