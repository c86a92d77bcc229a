package gormdumper_test

import (
	"fmt"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Stand has many Cups; Cup declares no relation back, so that only a process that has seen
// Stand knows from the models that cups.stand_id is a foreign key.
type Stand struct {
	ID   uint
	Name string
	Cups []Cup
}

type Cup struct {
	ID      uint
	StandID uint
	Flavor  string
}

// TestProcessesAgreeOnKeys: two processes share a database and a store; one renders a stand
// with its cups (a preload by cups.stand_id), the other, which has only ever written cups,
// adds one. What the page is narrowed by must be stamped by a writer that never saw Stand:
// reads narrow by the key columns of the database's schema, which every writer reads, not
// by those the models a process has used declare.
func TestProcessesAgreeOnKeys(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t, &gorm.Config{Logger: logger.Discard})
		if err := db.AutoMigrate(&Stand{}, &Cup{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&Stand{Name: "north", Cups: []Cup{{Flavor: "vanilla"}}}).Error; err != nil {
			t.Fatal(err)
		}
		cache, err := dumper.New(dumper.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cache.Close() })
		if err := db.Use(gormdumper.New(cache)); err != nil {
			t.Fatal(err)
		}
		// The other process: its own pool and plugin, on the same database and store.
		other, err := gorm.Open(db.Dialector, &gorm.Config{Logger: logger.Discard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeDB(t, other) })
		if err := other.Use(gormdumper.New(cache)); err != nil {
			t.Fatal(err)
		}
		render := func(db *gorm.DB) string {
			var s Stand
			err := db.Preload("Cups").First(&s, 1).Error
			return fmt.Sprint(s.Cups, err)
		}
		get := servePage(t, cache, db, render)
		get()
		if _, cs := get(); cs != "dumper; hit" {
			t.Fatalf("page not stored: Cache-Status %q", cs)
		}
		if err := other.Create(&Cup{StandID: 1, Flavor: "mint"}).Error; err != nil {
			t.Fatal(err)
		}
		if body, want := first(get()), render(db); body != want {
			t.Errorf("after the other process added a cup: served %q, the database gives %q", body, want)
		}
	})
}
