package pgxdumper_test

import (
	"context"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/pgxdumper"
	"github.com/dumperhq/dumper/sqldumper"
	"github.com/dumperhq/dumper/sqldumper/capturetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// TestCaptureProperty: the property test of package capturetest, with reads and writes made
// through pgx (a pool with the tracer) and through database/sql (sqldumper), in one run.
func TestCaptureProperty(t *testing.T) {
	_, dsn := testservice.PostgresSchema(t, "pgxcapture")
	res := capturetest.Run(t, capturetest.Config{
		DSN: dsn,
		Layers: func(inv dumper.Invalidator) []capturetest.Layer {
			cfg, err := pgxpool.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			cfg.ConnConfig.Tracer = pgxdumper.NewTracer(inv, nil)
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			db, err := sqldumper.Open("pgx", dsn, inv, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return []capturetest.Layer{poolLayer(pool), capturetest.DB("database/sql", db)}
		},
	})
	if res.Misses > 0 {
		t.Errorf("%d misses", res.Misses)
	}
}

func poolLayer(pool *pgxpool.Pool) capturetest.Layer {
	return capturetest.Layer{
		Name: "pgx",
		Query: func(ctx context.Context, q string, args ...any) ([][]string, error) {
			rows, err := pool.Query(ctx, q, args...)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]string, error) {
				vals, err := row.Values()
				out := make([]string, len(vals))
				for i, v := range vals {
					out[i] = capturetest.Text(v)
				}
				return out, err
			})
		},
		Exec: func(ctx context.Context, q string, args ...any) error {
			_, err := pool.Exec(ctx, q, args...)
			return err
		},
		Tx: func(ctx context.Context, fn func(exec func(string, ...any) error) error) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return fn(func(q string, args ...any) error {
					_, err := tx.Exec(ctx, q, args...)
					return err
				})
			})
		},
	}
}
