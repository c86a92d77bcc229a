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
// of the write.
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
	if err := db.Create(&Note{Text: "hello"}).Error; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) == 0 {
		t.Fatal("no invalidation observed")
	}
	for _, ev := range events {
		if ev.Source != gormdumper.Source || ev.Written.IsZero() {
			t.Errorf("invalidation %v: Source %q, Written %v; want %q and the time of the write", ev.Tags, ev.Source, ev.Written, gormdumper.Source)
		}
	}
}
