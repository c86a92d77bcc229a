package gormdumper_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// callLog is an Invalidator that counts the calls that stamp dumper.DatabaseTag, and fails
// every call while fail is set.
type callLog struct {
	mu    sync.Mutex
	calls int
	fail  error
}

func (l *callLog) InvalidatePaths(context.Context, ...string) error { return nil }

func (l *callLog) InvalidateTags(_ context.Context, tags ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.Contains(tags, dumper.DatabaseTag) {
		l.calls++
	}
	return l.fail
}

func (l *callLog) take() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.calls
	l.calls = 0
	return n
}

func (l *callLog) setFail(err error) {
	l.mu.Lock()
	l.fail = err
	l.mu.Unlock()
}

// plainsDB opens b with the plains of ids 1 to 3 and the plugin, with opts, invalidating
// through the returned log.
func plainsDB(t *testing.T, b backend, opts gormdumper.Options) (*gorm.DB, *callLog) {
	t.Helper()
	db := b.open(t, &gorm.Config{Logger: logger.Discard})
	if err := db.AutoMigrate(&Plain{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&[]Plain{{ID: 1, Slug: "a", Name: "A"}, {ID: 2, Slug: "b", Name: "B"}, {ID: 3, Slug: "c", Name: "C"}}).Error; err != nil {
		t.Fatal(err)
	}
	log := &callLog{}
	if err := db.Use(gormdumper.NewWithOptions(log, opts)); err != nil {
		t.Fatal(err)
	}
	return db, log
}

// TestRawRowsInvalidatedWhenClosed: a write of hand-written SQL outside a transaction whose
// rows are read after GORM's callbacks (Row, Rows, Scan) is invalidated when it has run and
// again once its rows are closed, when the database has committed it; its rows read as the
// database's would. In a transaction it is invalidated again after commit only, and a read
// not at all.
func TestRawRowsInvalidatedWhenClosed(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		db, log := plainsDB(t, b, gormdumper.Options{})
		calls := func(what string, want int) {
			t.Helper()
			if got := log.take(); got != want {
				t.Errorf("%s: %d invalidations, want %d", what, got, want)
			}
		}

		rows, err := db.Raw("UPDATE plains SET name = ? WHERE id IN (1, 2) RETURNING id, name", "x").Rows()
		if err != nil {
			t.Fatal(err)
		}
		calls("Rows, before Close", 1)
		if cols, err := rows.Columns(); err != nil || !slices.Equal(cols, []string{"id", "name"}) {
			t.Errorf("Rows: columns %q, %v", cols, err)
		}
		if types, err := rows.ColumnTypes(); err != nil || len(types) != 2 || types[1].Name() != "name" {
			t.Errorf("Rows: column types %v, %v", types, err)
		}
		var got []string
		for rows.Next() {
			var id int
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				t.Fatal(err)
			}
			got = append(got, name)
		}
		if err := rows.Err(); err != nil || !slices.Equal(got, []string{"x", "x"}) {
			t.Errorf("Rows: %q, %v", got, err)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		calls("Rows, closed", 1)

		var name string
		row := db.Raw("UPDATE plains SET name = ? WHERE id = 3 RETURNING name", "y").Row()
		calls("Row, before Scan", 1)
		if err := row.Scan(&name); err != nil || name != "y" {
			t.Errorf("Row: %q, %v", name, err)
		}
		calls("Row, scanned", 1)

		var ps []Plain
		if err := db.Raw("UPDATE plains SET name = 'z' WHERE id IN (1, 2, 3) RETURNING *").Scan(&ps).Error; err != nil || len(ps) != 3 || ps[2].Name != "z" {
			t.Errorf("Scan: %+v, %v", ps, err)
		}
		calls("Scan", 2)

		if err := db.Raw("UPDATE plains SET name = 'w' WHERE id = 99 RETURNING name").Row().Scan(&name); !errors.Is(err, sql.ErrNoRows) {
			t.Errorf("Row of no row: %v, want sql.ErrNoRows", err)
		}
		log.take()
		if err := db.Raw("UPDATE plains SET slug = 'a' WHERE id = 2 RETURNING name").Row().Scan(&name); err == nil || errors.Is(err, sql.ErrNoRows) {
			t.Errorf("Row of a write the database rejects: %v, want its error", err)
		}
		log.take()

		if err := db.Transaction(func(tx *gorm.DB) error {
			return tx.Raw("UPDATE plains SET name = 'v' WHERE id = 1 RETURNING name").Scan(&name).Error
		}); err != nil || name != "v" {
			t.Errorf("Scan in a transaction: %q, %v", name, err)
		}
		calls("Scan in a transaction, committed", 2)

		if err := db.Raw("SELECT name FROM plains WHERE id = 1").Row().Scan(&name); err != nil || name != "v" {
			t.Errorf("Row of a read: %q, %v", name, err)
		}
		calls("Row of a read", 0)
	})
}

// TestRawRowsFailWrites: under FailWrites, a write of hand-written SQL whose invalidation
// fails returns the invalidation's error from Rows and Scan, and its rows, which the caller
// does not close on an error, are closed: no connection is left in use.
func TestRawRowsFailWrites(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		db, log := plainsDB(t, b, gormdumper.Options{FailWrites: true})
		sqlDB, err := db.DB()
		if err != nil {
			t.Fatal(err)
		}
		log.setFail(errors.New("store down"))
		var ps []Plain
		if err := db.Raw("UPDATE plains SET name = 'x' WHERE id IN (1, 2) RETURNING *").Scan(&ps).Error; !errors.Is(err, gormdumper.ErrInvalidation) {
			t.Errorf("Scan: %v, want the invalidation's error", err)
		}
		if _, err := db.Raw("UPDATE plains SET name = 'y' WHERE id = 3 RETURNING *").Rows(); !errors.Is(err, gormdumper.ErrInvalidation) {
			t.Errorf("Rows: %v, want the invalidation's error", err)
		}
		if n := sqlDB.Stats().InUse; n != 0 {
			t.Errorf("%d connections in use after the writes", n)
		}
		log.setFail(nil)
		var names []string
		if err := db.Raw("SELECT name FROM plains ORDER BY id").Scan(&names).Error; err != nil || !slices.Equal(names, []string{"x", "x", "y"}) {
			t.Errorf("after the writes: %q, %v", names, err)
		}
	})
}
