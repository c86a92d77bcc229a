// Package icecream is the ice-cream shop demo of dumper: a small site whose pages are cached
// forever and refreshed the moment a flavor or a size behind them changes.
//
// The pages are plain GORM reads made with the request's context and the API plain GORM
// writes: the gormdumper plugin tags each page with the rows and tables its queries read, and
// each write invalidates the pages whose reads its rows could change. Nothing in the shop
// names a path or a tag; the handlers never call the cache themselves. [NewHandler] is the bare site; [CachedHandler]
// wires it to a [dumper.Cache] the way cmd/icecream serves it.
package icecream

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/pgnotify"
	"gorm.io/gorm"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the templates in templates/, each rendered inside layout.html.
var pageNames = []string{"home", "flavor", "size", "me", "notfound"}

type handler struct {
	db    *gorm.DB
	log   *slog.Logger
	pages map[string]*template.Template
}

// NewHandler returns the shop's handler, without a cache. It serves the pages
//
//	GET /                 every flavor, each linking to its page
//	GET /icecream/{slug}  a flavor and the sizes it comes in (404 if unknown)
//	GET /sizes/{slug}     a size and the flavors served in it (404 if unknown)
//	GET /me               "Hello, NAME" from the user cookie, Cache-Control: private
//
// in English, or in French when Accept-Language starts with "fr" (hence Vary:
// Accept-Language), and the JSON API
//
//	POST   /api/icecream                     {"slug":…,"name":…} → 201
//	PATCH  /api/icecream/{slug}              {"name":…} → 200
//	DELETE /api/icecream/{slug}              → 204
//	PUT    /api/icecream/{slug}/sizes/{size} → 204
//	DELETE /api/icecream/{slug}/sizes/{size} → 204
//	POST   /api/sizes                        {"slug":…,"name":…} → 201
//	PATCH  /api/sizes/{slug}                 {"name":…} → 200
//	DELETE /api/sizes/{slug}                 → 204
//	POST   /login                            form user=NAME → sets the user cookie, 303 to /me
//
// Bad input gets a 4xx with a JSON body {"error": …} and writes nothing; so do unknown API
// paths (404) and wrong methods on API paths (405, with Allow). Unexpected errors are logged to logger; nil means no logging.
func NewHandler(db *gorm.DB, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{db: db, log: logger, pages: make(map[string]*template.Template, len(pageNames))}
	for _, name := range pageNames {
		h.pages[name] = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.home)
	mux.HandleFunc("GET /icecream/{slug}", h.flavor)
	mux.HandleFunc("GET /sizes/{slug}", h.size)
	mux.HandleFunc("GET /me", h.me)
	mux.HandleFunc("POST /login", h.login)

	mux.HandleFunc("POST /api/icecream", h.createFlavor)
	mux.HandleFunc("PATCH /api/icecream/{slug}", h.renameFlavor)
	mux.HandleFunc("DELETE /api/icecream/{slug}", h.deleteFlavor)
	mux.HandleFunc("PUT /api/icecream/{slug}/sizes/{size}", h.addSize)
	mux.HandleFunc("DELETE /api/icecream/{slug}/sizes/{size}", h.removeSize)
	mux.HandleFunc("POST /api/sizes", h.createSize)
	mux.HandleFunc("PATCH /api/sizes/{slug}", h.renameSize)
	mux.HandleFunc("DELETE /api/sizes/{slug}", h.deleteSize)
	mux.Handle("/api/", apiFallback(mux))
	return mux
}

// apiMethods are the methods the API may allow on a path.
var apiMethods = []string{http.MethodDelete, http.MethodGet, http.MethodPatch, http.MethodPost, http.MethodPut}

// apiFallback answers the API requests that no route of mux takes, in JSON like the rest of
// the API: 405 with an Allow header when the path has routes for other methods, 404
// otherwise. It is mux's "/api/" route.
func apiFallback(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range apiMethods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/api/" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			writeError(w, http.StatusNotFound, "no such API endpoint: "+r.URL.Path)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
	}
}

// CachedHandler registers the gormdumper plugin on db, so that every write through db
// invalidates the pages it changes in cache, and returns NewHandler(db, logger) behind the
// cache's middleware. This is the whole stack cmd/icecream serves. It fails if db already has
// the plugin.
//
// With the NOTIFY listener, commits is the pgnotify.Commits in front of cache that the
// listener runs with (see [Listen]): the plugin invalidates through it, so that the listener
// does not invalidate again the writes the plugin invalidated after commit. Nil means the
// plugin invalidates in cache directly.
func CachedHandler(db *gorm.DB, cache *dumper.Cache, commits *pgnotify.Commits, logger *slog.Logger) (http.Handler, error) {
	var inv dumper.Invalidator = cache
	if commits != nil {
		inv = commits
	}
	if err := db.Use(gormdumper.New(inv)); err != nil {
		return nil, err
	}
	return cache.Middleware(NewHandler(db, logger)), nil
}

// page is what the templates see.
type page struct {
	T     *messages
	Title string // page title before the shop's name; empty on the home page
	Name  string // the flavor's or the size's name
	Links []link // flavors or sizes listed on the page
	Empty string // what the page says when Links is empty
	User  string // /me: the signed-in user, or empty
}

type link struct{ Name, Href string }

func flavorLink(f IceCream) link { return link{Name: f.Name, Href: flavorPath(f.Slug)} }
func sizeLink(s Size) link       { return link{Name: s.Name, Href: sizePath(s.Slug)} }

// byID orders preloaded associations as they were created.
func byID(tx *gorm.DB) *gorm.DB { return tx.Order("id") }

func (h *handler) home(w http.ResponseWriter, r *http.Request) {
	var flavors []IceCream
	if err := h.db.WithContext(r.Context()).Order("id").Find(&flavors).Error; err != nil {
		h.pageError(w, r, err)
		return
	}
	p := page{T: language(r)}
	p.Empty = p.T.NoFlavors
	for _, f := range flavors {
		p.Links = append(p.Links, flavorLink(f))
	}
	h.render(w, r, http.StatusOK, "home", p)
}

func (h *handler) flavor(w http.ResponseWriter, r *http.Request) {
	var f IceCream
	err := h.db.WithContext(r.Context()).Preload("Sizes", byID).Where("slug = ?", r.PathValue("slug")).First(&f).Error
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	p := page{T: language(r), Title: f.Name, Name: f.Name}
	p.Empty = p.T.NoSizes
	for _, s := range f.Sizes {
		p.Links = append(p.Links, sizeLink(s))
	}
	h.render(w, r, http.StatusOK, "flavor", p)
}

func (h *handler) size(w http.ResponseWriter, r *http.Request) {
	var s Size
	err := h.db.WithContext(r.Context()).Preload("IceCreams", byID).Where("slug = ?", r.PathValue("slug")).First(&s).Error
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	p := page{T: language(r), Title: s.Name, Name: s.Name}
	p.Empty = p.T.NoSizeFlavor
	for _, f := range s.IceCreams {
		p.Links = append(p.Links, flavorLink(f))
	}
	h.render(w, r, http.StatusOK, "size", p)
}

// me greets the user named by the user cookie. The page differs per user, so it is private:
// the cache must never store it.
func (h *handler) me(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "private")
	w.Header().Add("Vary", "Cookie")
	p := page{T: language(r)}
	if c, err := r.Cookie(userCookie); err == nil {
		if name, err := url.QueryUnescape(c.Value); err == nil && validUser(name) == nil {
			p.User = name
		}
	}
	h.render(w, r, http.StatusOK, "me", p)
}

// pageError answers a page request that failed: 404 for a missing row, 500 otherwise.
func (h *handler) pageError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		h.render(w, r, http.StatusNotFound, "notfound", page{T: language(r), Title: language(r).NotFound})
		return
	}
	if r.Context().Err() != nil {
		return // the client went away; nobody to answer
	}
	h.log.ErrorContext(r.Context(), "icecream: page", "path", r.URL.Path, "err", err)
	w.Header().Add("Vary", "Accept-Language")
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// render writes the page, fully rendered first so that a template error becomes a 500
// rather than half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.pageError(w, r, err)
		return
	}
	hdr := w.Header()
	hdr.Add("Vary", "Accept-Language")
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Language", p.T.Lang)
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	// The body is written for HEAD too: net/http drops it, and a cache that answers a later
	// GET from what it saw must see the whole response.
	_, _ = io.Copy(w, &buf)
}
