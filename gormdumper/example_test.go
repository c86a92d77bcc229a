package gormdumper_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Product is shown on its own page and in the catalog.
type Product struct {
	ID   uint   `gorm:"primaryKey"`
	Slug string `gorm:"uniqueIndex"`
	Name string
}

// DependentPaths lists the pages that show p.
func (p Product) DependentPaths() []string {
	return []string{"/products/" + p.Slug, "/catalog"}
}

func Example() {
	dir, err := os.MkdirTemp("", "gormdumper-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := gorm.Open(sqlite.Open(filepath.Join(dir, "shop.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}
	if err := db.AutoMigrate(&Product{}); err != nil {
		log.Fatal(err)
	}

	cache, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	if err := db.Use(gormdumper.New(cache)); err != nil {
		log.Fatal(err)
	}

	// The page reads the database; it knows nothing about the cache.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{slug}", func(w http.ResponseWriter, r *http.Request) {
		var p Product
		if err := db.WithContext(r.Context()).First(&p, "slug = ?", r.PathValue("slug")).Error; err != nil {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, p.Name)
	})
	site := cache.Middleware(mux)
	get := func() {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/products/tea", nil))
		fmt.Printf("%s (%s)\n", w.Body, w.Header().Get("Cache-Status"))
	}

	tea := Product{Slug: "tea", Name: "Tea"}
	db.Create(&tea)
	get()
	get()
	db.Model(&tea).Update("name", "Green tea") // invalidates /products/tea and /catalog
	get()
	// Output:
	// Tea (dumper; fwd=uri-miss; stored)
	// Tea (dumper; hit)
	// Green tea (dumper; fwd=stale; stored)
}
