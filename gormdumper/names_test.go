package gormdumper_test

import (
	"testing"

	"gorm.io/gorm"
)

// CasedNote is kept in a table whose name has capitals.
type CasedNote struct {
	ID   uint `gorm:"primaryKey"`
	Text string
}

func (CasedNote) TableName() string { return "CasedNotes" }

// TestTableNameCase checks that the tags of a table are the same however a statement spells
// its name: on SQLite, whose names ignore case, they name it in lower case; on PostgreSQL,
// where GORM quotes names, as the catalog spells it (and so pgnotify's triggers and the SQL
// capture). A write, however it names the table, drops the page of a read, however it names
// it.
func TestTableNameCase(t *testing.T) {
	t.Parallel()
	byID := func(db *gorm.DB) error { return db.First(&CasedNote{}, 1).Error }
	update := func(db *gorm.DB) error { return db.Model(&CasedNote{ID: 1}).Update("text", "x").Error }
	tests := []struct {
		name        string
		only        string // a backend's name: the case runs on it alone
		read, write func(db *gorm.DB) error
		drop        map[string][]string // by backend: tags that drop the page
	}{
		{
			name: "the model's name", read: byID, write: update,
			drop: map[string][]string{
				"sqlite":   {"row:casednotes:id=1", "table:casednotes"},
				"postgres": {"row:CasedNotes:id=1", "table:CasedNotes"},
			},
		},
		{
			name: "a read by another spelling", only: "sqlite",
			read: func(db *gorm.DB) error {
				return db.Table("CASEDNOTES").Where("id = ?", 1).Find(&[]CasedNote{}).Error
			},
			write: update,
			drop:  map[string][]string{"sqlite": {"row:casednotes:id=1"}},
		},
		{
			name: "a bulk write by another spelling", only: "sqlite", read: byID,
			write: func(db *gorm.DB) error {
				return db.Table("casedNOTES").Where("text = ?", "hello").Update("text", "x").Error
			},
		},
		{
			name: "a write by key by another spelling", only: "sqlite", read: byID,
			write: func(db *gorm.DB) error {
				return db.Table("CASEDNOTES").Model(&CasedNote{ID: 1}).Update("text", "x").Error
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				if tt.only != "" && b.name != tt.only {
					t.Skipf("for %s only", tt.only)
				}
				e := newEnv(t, b, capture)
				if err := e.db.AutoMigrate(&CasedNote{}); err != nil {
					t.Fatal(err)
				}
				if err := e.db.Create(&CasedNote{ID: 1, Text: "hello"}).Error; err != nil {
					t.Fatal(err)
				}
				get := e.page(t, tt.read)
				stored := func() {
					t.Helper()
					if get(); !get() {
						t.Fatal("the response was not stored")
					}
				}
				stored()
				for _, tag := range tt.drop[b.name] {
					if err := e.cache.InvalidateTags(t.Context(), tag); err != nil {
						t.Fatal(err)
					}
					if get() {
						t.Errorf("invalidating %s kept the response; want it dropped", tag)
					}
					stored()
				}
				if err := tt.write(e.db); err != nil {
					t.Fatal(err)
				}
				if get() {
					t.Error("the write kept the response; want it dropped")
				}
			})
		})
	}
}
