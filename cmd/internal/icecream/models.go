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

// DependentPaths lists the pages that show f: the home page, its own page and the page of each
// size in f.Sizes. The GORM plugin loads f.Sizes before an update or a delete.
func (f IceCream) DependentPaths() []string {
	paths := make([]string, 0, 2+len(f.Sizes))
	paths = append(paths, "/", flavorPath(f.Slug))
	for _, s := range f.Sizes {
		paths = append(paths, sizePath(s.Slug))
	}
	return paths
}

// Size is a cup size. It is shown on its own page and on the page of every flavor available in
// it.
type Size struct {
	ID        uint       `gorm:"primaryKey"`
	Slug      string     `gorm:"size:100;not null;uniqueIndex"`
	Name      string     `gorm:"size:200;not null"`
	IceCreams []IceCream `gorm:"many2many:ice_cream_sizes"`
}

// DependentPaths lists the pages that show s: its own page and the page of each flavor in
// s.IceCreams. The GORM plugin loads s.IceCreams before an update or a delete.
func (s Size) DependentPaths() []string {
	paths := make([]string, 0, 1+len(s.IceCreams))
	paths = append(paths, sizePath(s.Slug))
	for _, f := range s.IceCreams {
		paths = append(paths, flavorPath(f.Slug))
	}
	return paths
}

// Table names, for the pages' table tags.
const (
	tableIceCreams = "ice_creams"
	tableSizes     = "sizes"
	tableJoin      = "ice_cream_sizes"
)

// flavorPath and sizePath are the paths of the pages, for links and for invalidation alike.
// dumper.Path escapes the slug, so that whatever it holds the path names that page alone.
func flavorPath(slug string) string { return dumper.Path("icecream", slug) }
func sizePath(slug string) string   { return dumper.Path("sizes", slug) }
