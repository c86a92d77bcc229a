package icecream

import "github.com/dumperhq/dumper"

// IceCream is a flavor on the menu. It is shown on the home page, on its own page and on the
// page of every size it comes in.
type IceCream struct {
	ID    uint   `gorm:"primaryKey"`
	Slug  string `gorm:"size:100;not null;uniqueIndex"`
	Name  string `gorm:"size:200;not null"`
	Sizes []Size `gorm:"many2many:ice_cream_sizes"`
}

// Size is a cup size. It is shown on its own page and on the page of every flavor available in
// it.
type Size struct {
	ID        uint       `gorm:"primaryKey"`
	Slug      string     `gorm:"size:100;not null;uniqueIndex"`
	Name      string     `gorm:"size:200;not null"`
	IceCreams []IceCream `gorm:"many2many:ice_cream_sizes"`
}

// Table names, for the NOTIFY listener.
const (
	tableIceCreams = "ice_creams"
	tableSizes     = "sizes"
	tableJoin      = "ice_cream_sizes"
)

// flavorPath and sizePath are the paths of the pages, for links. dumper.Path escapes the slug,
// so that whatever it holds the path names that page alone.
func flavorPath(slug string) string { return dumper.Path("icecream", slug) }
func sizePath(slug string) string   { return dumper.Path("sizes", slug) }
