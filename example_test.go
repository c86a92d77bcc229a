package dumper_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/dumperhq/dumper"
)

// A site-wide cache: the first request for a page runs the handler and stores the response,
// the next one is answered from the cache. Cache-Status says which.
func Example() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /icecream/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Ice cream %s\n", r.PathValue("id"))
	})
	site := c.Middleware(mux)

	for range 2 {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/icecream/42", nil))
		fmt.Printf("%d %s: %s", w.Code, w.Header().Get("Cache-Status"), w.Body)
	}
	// Output:
	// 200 dumper; fwd=uri-miss; stored: Ice cream 42
	// 200 dumper; hit: Ice cream 42
}

// InvalidatePaths drops every variant of a path at once: here the English and the French
// page, stored apart because the response varies on Accept-Language.
func ExampleCache_InvalidatePaths() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	greetings := map[string]string{"en": "Hello", "fr": "Bonjour"}
	site := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintln(w, greetings[r.Header.Get("Accept-Language")])
	}))
	get := func(lang string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Language", lang)
		w := httptest.NewRecorder()
		site.ServeHTTP(w, r)
		fmt.Printf("%s: %s (%s)\n", lang, strings.TrimSpace(w.Body.String()), w.Header().Get("Cache-Status"))
	}

	get("en")
	get("fr")
	get("en")
	get("fr")
	if err := c.InvalidatePaths(context.Background(), "/"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("invalidated /")
	get("en")
	get("fr")
	// Output:
	// en: Hello (dumper; fwd=uri-miss; stored)
	// fr: Bonjour (dumper; fwd=vary-miss; stored)
	// en: Hello (dumper; hit)
	// fr: Bonjour (dumper; hit)
	// invalidated /
	// en: Hello (dumper; fwd=stale; stored)
	// fr: Bonjour (dumper; fwd=stale; stored)
}

// A handler tags what it renders with the data it shows; invalidating a tag drops every page
// that carries it, whatever its path.
func ExampleCache_InvalidateTags() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /icecream/{id}", func(w http.ResponseWriter, r *http.Request) {
		dumper.Tag(r.Context(), "icecream:"+r.PathValue("id"))
		fmt.Fprintf(w, "Ice cream %s\n", r.PathValue("id"))
	})
	mux.HandleFunc("GET /specials", func(w http.ResponseWriter, r *http.Request) {
		dumper.Tag(r.Context(), "icecream:42")
		fmt.Fprintln(w, "Today: ice cream 42")
	})
	site := c.Middleware(mux)
	get := func(path string) {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Printf("%s: %s\n", path, w.Header().Get("Cache-Status"))
	}

	for _, p := range []string{"/icecream/42", "/icecream/7", "/specials"} {
		get(p)
	}
	if err := c.InvalidateTags(context.Background(), "icecream:42"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("invalidated icecream:42")
	for _, p := range []string{"/icecream/42", "/icecream/7", "/specials"} {
		get(p)
	}
	// Output:
	// /icecream/42: dumper; fwd=uri-miss; stored
	// /icecream/7: dumper; fwd=uri-miss; stored
	// /specials: dumper; fwd=uri-miss; stored
	// invalidated icecream:42
	// /icecream/42: dumper; fwd=stale; stored
	// /icecream/7: dumper; hit
	// /specials: dumper; fwd=stale; stored
}

// Tag works from any code that has the request's context, such as a data-access function,
// so the tags follow the data a page actually read.
func ExampleTag() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// loadFlavor stands for a repository method: it tags the response being rendered with
	// the row it reads.
	loadFlavor := func(ctx context.Context, id string) string {
		dumper.Tag(ctx, "icecream:"+id)
		return map[string]string{"42": "pistachio"}[id]
	}
	site := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Flavor of the day: %s\n", loadFlavor(r.Context(), "42"))
	}))
	get := func() {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		fmt.Printf("%s (%s)\n", strings.TrimSpace(w.Body.String()), w.Header().Get("Cache-Status"))
	}

	get()
	get()
	if err := c.InvalidateTags(context.Background(), "icecream:42"); err != nil {
		log.Fatal(err)
	}
	get()
	// Output:
	// Flavor of the day: pistachio (dumper; fwd=uri-miss; stored)
	// Flavor of the day: pistachio (dumper; hit)
	// Flavor of the day: pistachio (dumper; fwd=stale; stored)
}

// Scoop is a model that declares the pages showing it: its own and the menu.
type Scoop struct {
	ID     int
	Flavor string
}

// DependentPaths lists the paths to invalidate when s changes.
func (s Scoop) DependentPaths() iter.Seq[string] {
	return func(yield func(string) bool) {
		_ = yield(fmt.Sprintf("/scoops/%d", s.ID)) && yield("/menu")
	}
}

// Invalidate drops the pages that depend on a model, as the model declares them.
func ExampleCache_Invalidate() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	site := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "page %s\n", r.URL.Path)
	}))
	get := func(path string) {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Printf("%s: %s\n", path, w.Header().Get("Cache-Status"))
	}
	paths := []string{"/scoops/1", "/scoops/2", "/menu"}
	for _, p := range paths {
		get(p)
	}

	// After saving the scoop:
	if err := c.Invalidate(context.Background(), Scoop{ID: 1, Flavor: "lemon"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("invalidated scoop 1")
	for _, p := range paths {
		get(p)
	}
	// Output:
	// /scoops/1: dumper; fwd=uri-miss; stored
	// /scoops/2: dumper; fwd=uri-miss; stored
	// /menu: dumper; fwd=uri-miss; stored
	// invalidated scoop 1
	// /scoops/1: dumper; fwd=stale; stored
	// /scoops/2: dumper; hit
	// /menu: dumper; fwd=stale; stored
}

// A route with its own policy: it stores "not found" pages too, for a minute, where the
// cache's policy stores 200 responses only.
func ExampleCache_MiddlewareWith() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	scoop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "1" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "lemon")
	})
	withNotFound := c.MiddlewareWith(dumper.Policy{
		Statuses: map[int]time.Duration{200: 0, 404: time.Minute},
	})
	mux := http.NewServeMux()
	mux.Handle("GET /scoops/{id}", withNotFound(scoop))
	mux.Handle("GET /cones/{id}", c.Middleware(scoop))

	for _, p := range []string{"/scoops/9", "/scoops/9", "/cones/9", "/cones/9"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p, nil))
		fmt.Printf("%s: %d %s\n", p, w.Code, w.Header().Get("Cache-Status"))
	}
	// Output:
	// /scoops/9: 404 dumper; fwd=uri-miss; stored
	// /scoops/9: 404 dumper; hit
	// /cones/9: 404 dumper; fwd=uri-miss; detail=status
	// /cones/9: 404 dumper; fwd=uri-miss; detail=status
}

// NormalizePath gives the form under which a path is invalidated: the same for a path as a
// program writes it and as a browser sends it.
func ExampleNormalizePath() {
	for _, p := range []string{
		"/icecream/crème brûlée",
		"/icecream/cr%c3%a8me%20br%C3%BBl%C3%A9e",
		"/icecream/%7Bspecial%7D?page=2",
		"/%7Euser/glace",
		"https://example.com/icecream",
	} {
		n, err := dumper.NormalizePath(p)
		if err != nil {
			fmt.Println("error:", errors.Is(err, dumper.ErrInvalidPath), err)
			continue
		}
		fmt.Println(n)
	}
	// Output:
	// /icecream/cr%C3%A8me%20br%C3%BBl%C3%A9e
	// /icecream/cr%C3%A8me%20br%C3%BBl%C3%A9e
	// /icecream/%7Bspecial%7D
	// /~user/glace
	// error: true dumper: invalid path "https://example.com/icecream": pass the path alone, without scheme and host
}

// Path builds the path of a page from raw values, so that a "%" (or a "/", a "?") in a slug
// is part of the slug. "/product/" + slug would be ambiguous: InvalidatePaths would read
// "/product/50%41off" as the link to the slug "50Aoff" too, and warn.
func ExamplePath() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /product/{slug}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s\n", r.PathValue("slug"))
	})
	site := c.Middleware(mux)
	get := func() {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/product/50%2541off", nil))
		fmt.Printf("%s: %s", w.Header().Get("Cache-Status"), w.Body)
	}

	fmt.Println(dumper.Path("product", "50%41off"))
	fmt.Println(dumper.Path("icecream", "crème brûlée"))
	get()
	get()
	if err := c.InvalidatePaths(context.Background(), dumper.Path("product", "50%41off")); err != nil {
		log.Fatal(err)
	}
	get()
	// Output:
	// /product/50%2541off
	// /icecream/cr%C3%A8me%20br%C3%BBl%C3%A9e
	// dumper; fwd=uri-miss; stored: 50%41off
	// dumper; hit: 50%41off
	// dumper; fwd=stale; stored: 50%41off
}

// Observers see every request, invalidation and store operation: here a log of what the
// cache did, as a metrics or tracing adapter would record it.
func ExampleObserver() {
	c, err := dumper.New(dumper.Options{Observers: []dumper.Observer{{
		Request: func(_ context.Context, ev dumper.RequestEvent) {
			fmt.Printf("request: %v fwd=%q stored=%v status=%d\n", ev.Result, ev.Fwd, ev.Stored, ev.Status)
		},
		Invalidation: func(_ context.Context, ev dumper.InvalidationEvent) {
			fmt.Printf("invalidation from %q: %v\n", ev.Source, ev.Tags)
		},
	}}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	site := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "Vanilla")
	}))

	get := func() {
		site.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/icecream/vanilla", nil))
	}
	get()
	get()
	ctx := dumper.WithSource(context.Background(), "admin", time.Now())
	if err := c.InvalidatePaths(ctx, "/icecream/vanilla"); err != nil {
		log.Fatal(err)
	}
	get()
	// Output:
	// request: miss fwd="uri-miss" stored=true status=200
	// request: hit fwd="" stored=false status=200
	// invalidation from "admin": [/icecream/vanilla]
	// request: miss fwd="stale" stored=true status=200
}
