package gormdumper

import (
	"slices"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// Kiosk has many KioskCups; KioskCup declares no relation back; KioskLid belongs to a Kiosk.
type Kiosk struct {
	ID   uint
	Cups []KioskCup
}

type KioskCup struct {
	ID      uint
	KioskID uint
	Code    string `gorm:"uniqueIndex"`
}

type KioskLid struct {
	ID      uint
	KioskID uint
	Kiosk   Kiosk
}

// TestNarrowingWithoutCatalog: in a dialect whose catalog the plugin does not read (MySQL),
// reads of a table narrow only by the columns its own models declare (primary key, unique
// columns, belongs-to foreign keys), which every writer through those models stamps; not by
// a foreign key that only another model's has-many relation names, which a process that has
// not seen that model does not know. Writes stamp all of them.
func TestNarrowingWithoutCatalog(t *testing.T) {
	t.Parallel()
	cache := &sync.Map{}
	parse := func(v any) *schema.Schema {
		t.Helper()
		s, err := schema.Parse(v, cache, schema.NamingStrategy{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r := &keyRegistry{dialect: "mysql"}
	kiosk := parse(&Kiosk{})
	r.register(kiosk, kiosk.Table)
	cups := r.table(nil, "kiosk_cups")
	if !slices.Contains(cups.cols, "kiosk_id") {
		t.Errorf("kiosk_cups: key columns %q for writes, want kiosk_id among them (Kiosk's has-many)", cups.cols)
	}
	if got := narrowCols(r, cups, "kiosk_cups"); slices.Contains(got, "kiosk_id") {
		t.Errorf("kiosk_cups: reads narrow by %q, with kiosk_id, which only Kiosk's relation names", got)
	}
	cup := parse(&KioskCup{})
	r.register(cup, cup.Table)
	cups = r.table(nil, "kiosk_cups")
	if got := narrowCols(r, cups, "kiosk_cups"); !slices.Equal(got, []string{"id"}) {
		t.Errorf("kiosk_cups seen through its own model: reads narrow by %q, want id (code is text: no key on MySQL)", got)
	}
	lid := parse(&KioskLid{})
	r.register(lid, lid.Table)
	if got := narrowCols(r, r.table(nil, "kiosk_lids"), "kiosk_lids"); !slices.Equal(got, []string{"id", "kiosk_id"}) {
		t.Errorf("kiosk_lids: reads narrow by %q, want id and kiosk_id (its own belongs-to)", got)
	}
}

// narrowCols returns the columns, sorted, that a read of relation, whose key columns are k,
// may be narrowed by.
func narrowCols(r *keyRegistry, k *keyColumns, relation string) []string {
	var cols []string
	for c := range k.kinds {
		if r.narrowKind(k, relation, c) != 0 {
			cols = append(cols, c)
		}
	}
	slices.Sort(cols)
	return cols
}
