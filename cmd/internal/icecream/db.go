package icecream

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// SQLite returns the dialector for the SQLite database file at path (created if missing),
// with foreign keys enforced, write-ahead logging, a busy timeout so that concurrent
// requests wait for each other instead of failing, and transactions that take the write lock
// when they begin: the gormdumper plugin reads the rows a write changes inside its
// transaction first, and a deferred transaction that has read cannot become a writer once
// another connection has committed (SQLITE_BUSY_SNAPSHOT, which the busy timeout does not
// retry).
func SQLite(path string) gorm.Dialector {
	return sqlite.Open(path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate")
}

// Open opens the database and migrates the schema. Database errors and slow queries go to
// logger; nil means no logging.
//
// Instances started together on a new database (two -redis instances on one new SQLite file,
// say) each migrate it: the migration runs in a transaction that holds the schema's lock (see
// lockSchema), so that one creates the tables and the others find them.
func Open(d gorm.Dialector, logger *slog.Logger) (*gorm.DB, error) {
	cfg := &gorm.Config{TranslateError: true, Logger: gormlogger.Discard}
	if logger != nil {
		cfg.Logger = gormlogger.NewSlogLogger(logger, gormlogger.Config{
			SlowThreshold:             200 * time.Millisecond,
			LogLevel:                  gormlogger.Warn,
			IgnoreRecordNotFoundError: true,
		})
	}
	db, err := openRetrying(d, cfg)
	if err != nil {
		return nil, fmt.Errorf("icecream: open database: %w", err)
	}
	err = db.Transaction(func(tx *gorm.DB) error {
		if err := lockSchema(tx); err != nil {
			return err
		}
		return tx.AutoMigrate(&IceCream{}, &Size{})
	})
	if err != nil {
		closeDB(db)
		return nil, fmt.Errorf("icecream: migrate: %w", err)
	}
	return db, nil
}

// openRetrying opens the database, trying again for a while when SQLite reports it busy:
// switching a new file to write-ahead logging takes a lock that SQLite does not wait for
// (its busy timeout does not apply), so instances started together on one new file can find
// it held by another's switch for a moment.
func openRetrying(d gorm.Dialector, cfg *gorm.Config) (*gorm.DB, error) {
	deadline := time.Now().Add(10 * time.Second)
	pause := 5 * time.Millisecond
	for {
		db, err := gorm.Open(d, cfg)
		if err == nil || !sqliteBusy(err) || time.Now().After(deadline) {
			return db, err
		}
		time.Sleep(pause) // back off: another instance holds the lock for a moment
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY (or an extended code of it).
func sqliteBusy(err error) bool {
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code()&0xff == 5
}

// Close closes the database connections of db.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

func closeDB(db *gorm.DB) { _ = Close(db) }

// Seed fills an empty shop (no flavors and no sizes) with three flavors and three sizes:
// vanilla in small and medium, chocolate in medium and large, strawberry in small. It leaves a
// shop that has any flavor or size alone. Instances that seed one database together seed it
// once.
func Seed(db *gorm.DB) error {
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := lockSchema(tx); err != nil {
			return err
		}
		var flavors, sizes int64
		if err := tx.Model(&IceCream{}).Count(&flavors).Error; err != nil {
			return err
		}
		if err := tx.Model(&Size{}).Count(&sizes).Error; err != nil {
			return err
		}
		if flavors > 0 || sizes > 0 {
			return nil
		}
		small := Size{Slug: "small", Name: "Small"}
		medium := Size{Slug: "medium", Name: "Medium"}
		large := Size{Slug: "large", Name: "Large"}
		if err := tx.Create([]*Size{&small, &medium, &large}).Error; err != nil {
			return err
		}
		return tx.Create([]*IceCream{
			{Slug: "vanilla", Name: "Vanilla", Sizes: []Size{small, medium}},
			{Slug: "chocolate", Name: "Chocolate", Sizes: []Size{medium, large}},
			{Slug: "strawberry", Name: "Strawberry", Sizes: []Size{small}},
		}).Error
	})
	if err != nil {
		return fmt.Errorf("icecream: seed: %w", err)
	}
	return nil
}

// lockSchema makes the transaction tx the only one of its kind on the shop's schema until it
// ends, so that migrations and seeds of instances started together run one after the other.
// On PostgreSQL it takes an advisory lock keyed by the schema. SQLite needs nothing more: a
// transaction on a database opened with [SQLite] takes the write lock as it begins, waiting
// for it up to the busy timeout.
func lockSchema(tx *gorm.DB) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(hashtext('dumper icecream'), hashtext(current_schema()))").Error
}

// isDuplicate reports whether err is a unique-constraint violation.
func isDuplicate(err error) bool { return errors.Is(err, gorm.ErrDuplicatedKey) }
