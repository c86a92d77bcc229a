package gormdumper_test

import (
	"context"
	"sync"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// The plugin's invalidations reach the cache's observers as coming from GORM, with the time
// of the write and a description of the statement (its SQL, with its placeholders, and the rows
// it affected).
func TestInvalidationSource(t *testing.T) {
	var mu sync.Mutex
	var events []dumper.InvalidationEvent
	cache, err := dumper.New(dumper.Options{Observers: []dumper.Observer{{
		Invalidation: func(_ context.Context, ev dumper.InvalidationEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	db := openSQLite(t, &gorm.Config{Logger: logger.Discard})
	if err := db.AutoMigrate(&Note{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Use(gormdumper.New(cache)); err != nil {
		t.Fatal(err)
	}
	take := func() []dumper.InvalidationEvent {
		mu.Lock()
		defer mu.Unlock()
		evs := events
		events = nil
		return evs
	}
	tests := []struct {
		write     func() error
		wantWrite string
	}{
		{func() error { return db.Create(&Note{Text: "hello"}).Error }, "INSERT INTO `notes` (`text`) VALUES (?) RETURNING `id` (1 row)"},
		{func() error { return db.Model(&Note{}).Where("text <> ?", "x").Update("text", "bye").Error }, "UPDATE `notes` SET `text`=? WHERE text <> ? (1 row)"},
		{func() error { return db.Exec("DELETE FROM notes WHERE text = ?", "bye").Error }, "DELETE FROM notes WHERE text = ? (1 row)"},
		{func() error {
			return db.Transaction(func(tx *gorm.DB) error {
				return tx.Create(&[]Note{{Text: "a"}, {Text: "b"}}).Error
			})
		}, "INSERT INTO `notes` (`text`) VALUES (?),(?) RETURNING `id` (2 rows)"},
	}
	for _, tt := range tests {
		if err := tt.write(); err != nil {
			t.Fatal(err)
		}
		evs := take()
		if len(evs) == 0 {
			t.Fatalf("%s: no invalidation observed", tt.wantWrite)
		}
		for _, ev := range evs {
			if ev.Source != gormdumper.Source || ev.Written.IsZero() {
				t.Errorf("invalidation %v: Source %q, Written %v; want %q and the time of the write", ev.Tags, ev.Source, ev.Written, gormdumper.Source)
			}
			if ev.Write != tt.wantWrite {
				t.Errorf("invalidation %v: Write %q, want %q", ev.Tags, ev.Write, tt.wantWrite)
			}
		}
	}
}
