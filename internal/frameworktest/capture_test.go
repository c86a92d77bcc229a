package frameworktest_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/echodumper"
	"github.com/dumperhq/dumper/echov5dumper"
	"github.com/dumperhq/dumper/gindumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/gin-gonic/gin"
	"github.com/glebarez/sqlite"
	echo4 "github.com/labstack/echo/v4"
	echo5 "github.com/labstack/echo/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

type Flavor struct {
	ID   uint   `gorm:"primaryKey"`
	Slug string `gorm:"uniqueIndex"`
	Name string
}

// page reads a flavor by slug with the request's context, as a handler does, and renders it.
type page func(r *http.Request, slug string) (int, string)

// frameworks build a site that serves GET /flavors/:slug with page, behind the adapter, and
// PATCH /api/flavors/:slug renaming the flavor through GORM.
var frameworks = []struct {
	name string
	site func(c *dumper.Cache, get page, rename func(r *http.Request, slug, name string) error) http.Handler
}{
	{"gin", func(c *dumper.Cache, get page, rename func(*http.Request, string, string) error) http.Handler {
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		r.Use(gindumper.Middleware(c))
		r.GET("/flavors/:slug", func(g *gin.Context) {
			code, body := get(g.Request, g.Param("slug"))
			g.String(code, body)
		})
		r.PATCH("/api/flavors/:slug", func(g *gin.Context) {
			if err := rename(g.Request, g.Param("slug"), g.Query("name")); err != nil {
				g.String(http.StatusInternalServerError, err.Error())
				return
			}
			g.Status(http.StatusNoContent)
		})
		return r
	}},
	{"echo v4", func(c *dumper.Cache, get page, rename func(*http.Request, string, string) error) http.Handler {
		e := echo4.New()
		e.Logger.SetOutput(io.Discard)
		e.Use(echodumper.Middleware(c))
		e.GET("/flavors/:slug", func(ec echo4.Context) error {
			code, body := get(ec.Request(), ec.Param("slug"))
			return ec.String(code, body)
		})
		e.PATCH("/api/flavors/:slug", func(ec echo4.Context) error {
			if err := rename(ec.Request(), ec.Param("slug"), ec.QueryParam("name")); err != nil {
				return err
			}
			return ec.NoContent(http.StatusNoContent)
		})
		return e
	}},
	{"echo v5", func(c *dumper.Cache, get page, rename func(*http.Request, string, string) error) http.Handler {
		e := echo5.New()
		e.Logger = slog.New(slog.DiscardHandler)
		e.Use(echov5dumper.Middleware(c))
		e.GET("/flavors/:slug", func(ec *echo5.Context) error {
			code, body := get(ec.Request(), ec.Param("slug"))
			return ec.String(code, body)
		})
		e.PATCH("/api/flavors/:slug", func(ec *echo5.Context) error {
			if err := rename(ec.Request(), ec.Param("slug"), ec.QueryParam("name")); err != nil {
				return err
			}
			return ec.NoContent(http.StatusNoContent)
		})
		return e
	}},
}

// TestGORMCapture: a page that reads one flavor through GORM with the request's context is
// tagged with that row; renaming another flavor leaves it cached, renaming this one drops it.
func TestGORMCapture(t *testing.T) {
	t.Parallel()
	for _, fw := range frameworks {
		t.Run(fw.name, func(t *testing.T) {
			t.Parallel()
			c, err := dumper.New(dumper.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "shop.db")), &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if sqlDB, err := db.DB(); err == nil {
				t.Cleanup(func() { sqlDB.Close() })
			}
			if err := db.AutoMigrate(&Flavor{}); err != nil {
				t.Fatal(err)
			}
			if err := db.Use(gormdumper.New(c)); err != nil {
				t.Fatal(err)
			}
			for _, f := range []Flavor{{Slug: "vanilla", Name: "Vanilla"}, {Slug: "chocolate", Name: "Chocolate"}} {
				if err := db.Create(&f).Error; err != nil {
					t.Fatal(err)
				}
			}
			var renders atomic.Int64
			get := func(r *http.Request, slug string) (int, string) {
				if !dumper.Rendering(r.Context()) {
					t.Error("the handler's request context does not carry the render")
				}
				renders.Add(1)
				var f Flavor
				if err := db.WithContext(r.Context()).First(&f, "slug = ?", slug).Error; err != nil {
					return http.StatusNotFound, err.Error()
				}
				return http.StatusOK, f.Name
			}
			rename := func(r *http.Request, slug, name string) error {
				var f Flavor
				if err := db.WithContext(r.Context()).First(&f, "slug = ?", slug).Error; err != nil {
					return err
				}
				return db.WithContext(r.Context()).Model(&f).Update("name", name).Error
			}
			site := fw.site(c, get, rename)
			steps := []struct {
				method, target string
				code           int
				cacheStatus    string
				body           string
				renders        int64
			}{
				{"GET", "/flavors/vanilla", 200, "dumper; fwd=uri-miss; stored", "Vanilla", 1},
				{"GET", "/flavors/vanilla", 200, "dumper; hit", "Vanilla", 1},
				{"PATCH", "/api/flavors/chocolate?name=Dark", 204, "dumper; fwd=method", "", 1},
				{"GET", "/flavors/vanilla", 200, "dumper; hit", "Vanilla", 1}, // another row
				// The write has a path of its own, not the page's: only the capture can drop the page.
				{"PATCH", "/api/flavors/vanilla?name=Bourbon", 204, "dumper; fwd=method", "", 1},
				{"GET", "/flavors/vanilla", 200, "dumper; fwd=stale; stored", "Bourbon", 2},
			}
			for _, s := range steps {
				w := httptest.NewRecorder()
				site.ServeHTTP(w, httptest.NewRequest(s.method, s.target, nil))
				got := fmt.Sprintf("%d %q %q renders=%d", w.Code, w.Header().Get("Cache-Status"), w.Body, renders.Load())
				want := fmt.Sprintf("%d %q %q renders=%d", s.code, s.cacheStatus, s.body, s.renders)
				if got != want {
					t.Errorf("%s %s: %s, want %s", s.method, s.target, got, want)
				}
			}
		})
	}
}
