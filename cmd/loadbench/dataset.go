package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"gorm.io/gorm"
)

// The shop every origin serves: nFlavors flavors and nSizes sizes, each flavor in up to three
// sizes, so nFlavors+nSizes+1 pages (with the home page), each in two languages.
const (
	nFlavors = 300
	nSizes   = 40
)

func flavorSlug(i int) string { return fmt.Sprintf("f%03d", i) }
func sizeSlug(j int) string   { return fmt.Sprintf("s%02d", j) }

// flavorName is flavor i's name at version v. The checker finds versions in page bodies by
// this shape: "Flavor NNN vV".
func flavorName(i, v int) string { return fmt.Sprintf("Flavor %03d v%d", i, v) }

// flavorSizes lists the sizes flavor i comes in.
func flavorSizes(i int) []int {
	s := []int{i % nSizes, (i*7 + 3) % nSizes, (i*13 + 11) % nSizes}
	slices.Sort(s)
	return slices.Compact(s)
}

// dependentPaths lists the pages a rename of flavor i changes: the home page, its page and the
// page of each of its sizes. The Varnish row purges these keys; gormdumper's capture
// invalidates the same pages (the demo's TestWriteInvalidations).
func dependentPaths(i int) []string {
	p := []string{"/", "/icecream/" + flavorSlug(i)}
	for _, j := range flavorSizes(i) {
		p = append(p, "/sizes/"+sizeSlug(j))
	}
	return p
}

// seed fills an empty database with the shop at version 0.
func seed(db *gorm.DB) error {
	return db.Transaction(func(tx *gorm.DB) error {
		sizes := make([]*icecream.Size, nSizes)
		for j := range sizes {
			sizes[j] = &icecream.Size{Slug: sizeSlug(j), Name: "Size " + strconv.Itoa(j)}
		}
		if err := tx.Create(sizes).Error; err != nil {
			return err
		}
		flavors := make([]*icecream.IceCream, nFlavors)
		for i := range flavors {
			f := &icecream.IceCream{Slug: flavorSlug(i), Name: flavorName(i, 0)}
			for _, j := range flavorSizes(i) {
				f.Sizes = append(f.Sizes, *sizes[j])
			}
			flavors[i] = f
		}
		return tx.CreateInBatches(flavors, 100).Error
	})
}

// page is one URL of the shop.
type page struct{ path string }

// pages lists the shop's URLs: the home page, then the flavors, then the sizes.
func pages() []page {
	p := []page{{"/"}}
	for i := range nFlavors {
		p = append(p, page{"/icecream/" + flavorSlug(i)})
	}
	for j := range nSizes {
		p = append(p, page{"/sizes/" + sizeSlug(j)})
	}
	return p
}

var langs = []string{"en", "fr"}

// mix is the request mix: 10 % home page, 70 % flavor pages and 20 % size pages, flavors and
// sizes by Zipf popularity (s = 1.1) in a fixed shuffled order; 70 % English, 30 % French.
type mix struct {
	flavorRank, sizeRank []int
}

func newMix() *mix {
	r := rand.New(rand.NewPCG(1, 2))
	m := &mix{flavorRank: r.Perm(nFlavors), sizeRank: r.Perm(nSizes)}
	return m
}

// sequence returns n request indexes (page*len(langs)+lang) drawn for connection c; the same
// c gives the same sequence in every row.
func (m *mix) sequence(c, n int) []int {
	r := rand.New(rand.NewPCG(uint64(c)+100, 7))
	zf := rand.NewZipf(r, 1.1, 1, nFlavors-1)
	zs := rand.NewZipf(r, 1.1, 1, nSizes-1)
	seq := make([]int, n)
	for k := range seq {
		var p int
		switch x := r.IntN(100); {
		case x < 10:
			p = 0
		case x < 80:
			p = 1 + m.flavorRank[zf.Uint64()]
		default:
			p = 1 + nFlavors + m.sizeRank[zs.Uint64()]
		}
		l := 0
		if r.IntN(100) < 30 {
			l = 1
		}
		seq[k] = p*len(langs) + l
	}
	return seq
}
