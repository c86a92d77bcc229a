package gormpg_test

import (
	"context"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// IceCream and Size are the demo's models: migrated by GORM (the unique slugs and the join
// table's keys are then in the catalog as the models declare them).
type IceCream struct {
	ID    uint   `gorm:"primaryKey"`
	Slug  string `gorm:"size:100;not null;uniqueIndex"`
	Name  string `gorm:"size:200;not null"`
	Sizes []Size `gorm:"many2many:ice_cream_sizes"`
}

type Size struct {
	ID        uint       `gorm:"primaryKey"`
	Slug      string     `gorm:"size:100;not null;uniqueIndex"`
	Name      string     `gorm:"size:200;not null"`
	IceCreams []IceCream `gorm:"many2many:ice_cream_sizes"`
}

// TestDemoPages: the demo's pages written with db.Raw are cached at row precision, and GORM's
// writes and db.Exec writes drop exactly the pages whose rows they change.
func TestDemoPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	db := e.db
	if err := db.AutoMigrate(&IceCream{}, &Size{}); err != nil { // DDL through db.Exec: the analyzer sees it
		t.Fatal(err)
	}
	small, large := Size{Slug: "small", Name: "Small"}, Size{Slug: "large", Name: "Large"}
	if err := db.Create([]*Size{&small, &large}).Error; err != nil {
		t.Fatal(err)
	}
	for _, f := range []*IceCream{
		{Slug: "vanilla", Name: "Vanilla", Sizes: []Size{small}},
		{Slug: "chocolate", Name: "Chocolate", Sizes: []Size{large}},
	} {
		if err := db.Create(f).Error; err != nil {
			t.Fatal(err)
		}
	}
	flavor := func(slug string) func(db *gorm.DB) string {
		return func(db *gorm.DB) string {
			var f struct {
				ID   uint
				Name string
			}
			if err := db.Raw(`SELECT id, name FROM ice_creams WHERE slug = ?`, slug).Scan(&f).Error; err != nil {
				return "error: " + err.Error()
			}
			var sizes []string
			err := db.Raw(`SELECT s.name FROM sizes s JOIN ice_cream_sizes j ON j.size_id = s.id WHERE j.ice_cream_id = ? ORDER BY s.name`, f.ID).
				Scan(&sizes).Error
			return result(f.Name+" "+strings.Join(sizes, ","), err)
		}
	}
	home := func(db *gorm.DB) string {
		var names []string
		return result(names, db.Raw(`SELECT name FROM ice_creams ORDER BY name`).Scan(&names).Error)
	}
	pages := map[string]func(*gorm.DB) string{"/": home, "/vanilla": flavor("vanilla"), "/chocolate": flavor("chocolate")}
	warm := func() {
		for p, read := range pages {
			e.page(t, p, read)
		}
	}
	want := func(step string, cached map[string]bool) {
		t.Helper()
		for p, read := range pages {
			body, _, hit := e.page(t, p, read)
			if fresh := read(db.WithContext(context.Background())); body != fresh {
				t.Errorf("%s: %s served %q, the database gives %q", step, p, body, fresh)
			}
			if hit != cached[p] {
				t.Errorf("%s: %s served from the cache %v, want %v", step, p, hit, cached[p])
			}
		}
	}
	warm()
	want("warm", map[string]bool{"/": true, "/vanilla": true, "/chocolate": true})

	var choc IceCream
	if err := db.Where("slug = ?", "chocolate").First(&choc).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Model(&choc).Update("name", "Dark chocolate").Error; err != nil { // GORM, by model
		t.Fatal(err)
	}
	want("GORM renames chocolate", map[string]bool{"/vanilla": true})

	warm()
	if err := db.Exec(`UPDATE ice_creams SET name = ? WHERE id = ? AND slug = ?`, "Bourbon vanilla", 1, "vanilla").Error; err != nil {
		t.Fatal(err)
	}
	want("db.Exec renames vanilla by its keys", map[string]bool{"/chocolate": true})

	warm()
	if err := db.Exec(`INSERT INTO ice_cream_sizes (ice_cream_id, size_id) VALUES (?, ?)`, choc.ID, small.ID).Error; err != nil {
		t.Fatal(err)
	}
	want("db.Exec adds small to chocolate", map[string]bool{"/": true, "/vanilla": true})

	warm()
	if err := db.Exec(`UPDATE sizes SET name = ? WHERE slug = ?`, "Tiny", "small").Error; err != nil {
		t.Fatal(err)
	}
	// By one key of two: the table tag of sizes, which both flavor pages read (scan:sizes).
	want("db.Exec renames small by slug", map[string]bool{"/": true})
}
