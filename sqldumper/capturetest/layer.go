package capturetest

import (
	"context"
	"database/sql"
)

// DB returns the Layer of a database opened with database/sql.
func DB(name string, db *sql.DB) Layer {
	return Layer{
		Name: name,
		Query: func(ctx context.Context, q string, args ...any) ([][]string, error) {
			rows, err := db.QueryContext(ctx, q, args...)
			if err != nil {
				return nil, err
			}
			return ScanRows(rows)
		},
		Exec: func(ctx context.Context, q string, args ...any) error {
			_, err := db.ExecContext(ctx, q, args...)
			return err
		},
		Tx: func(ctx context.Context, fn func(exec func(string, ...any) error) error) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			err = fn(func(q string, args ...any) error {
				_, err := tx.ExecContext(ctx, q, args...)
				return err
			})
			if err != nil {
				_ = tx.Rollback()
				return err
			}
			return tx.Commit()
		},
	}
}
