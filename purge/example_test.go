package purge_test

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/purge"
)

// An endpoint that purges a page of the cached site, for an operator with the token.
func Example() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	pages := http.NewServeMux()
	pages.HandleFunc("GET /icecream/{slug}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Ice cream %s\n", r.PathValue("slug"))
	})
	mux := http.NewServeMux()
	mux.Handle("/_dumper/purge", &purge.Handler{Cache: c, Token: "s3cr3t-t0ken-from-the-environment"})
	mux.Handle("/", c.Middleware(pages))

	send := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	page := func() string {
		return send(httptest.NewRequest(http.MethodGet, "/icecream/vanilla", nil)).Header().Get("Cache-Status")
	}
	purgeWith := func(token, body string) {
		r := httptest.NewRequest(http.MethodPost, "/_dumper/purge", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		w := send(r)
		fmt.Printf("purge: %d %s", w.Code, w.Body)
	}

	fmt.Println(page())
	fmt.Println(page())
	purgeWith("guess", `{"paths":["/icecream/vanilla"]}`)
	fmt.Println(page())
	purgeWith("s3cr3t-t0ken-from-the-environment", `{"paths":["/icecream/vanilla"]}`)
	fmt.Println(page())
	// Output:
	// dumper; fwd=uri-miss; stored
	// dumper; hit
	// purge: 401 {"error":"purge: unauthorized: send Authorization: Bearer <token>"}
	// dumper; hit
	// purge: 200 {"paths":["/icecream/vanilla"],"invalidated":["/icecream/vanilla"]}
	// dumper; fwd=stale; stored
}

// An Authorize function that knows several clients by their tokens, compared in constant
// time, and lets only some of them purge; who purged is in the log.
func ExampleHandler_authorize() {
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	type client struct {
		name     string
		digest   [sha256.Size]byte
		mayPurge bool
	}
	clients := []client{
		{"deploy", sha256.Sum256([]byte("token-of-the-deploy-job")), true},
		{"dashboard", sha256.Sum256([]byte("token-of-the-dashboard")), false},
	}
	h := &purge.Handler{Cache: c, Authorize: func(r *http.Request) (string, error) {
		token, ok := purge.BearerToken(r)
		if !ok {
			return "", errors.New("no bearer token")
		}
		d := sha256.Sum256([]byte(token))
		for _, cl := range clients {
			if subtle.ConstantTimeCompare(d[:], cl.digest[:]) == 1 {
				if !cl.mayPurge {
					return cl.name, fmt.Errorf("%s may not purge: %w", cl.name, purge.ErrForbidden)
				}
				return cl.name, nil
			}
		}
		return "", errors.New("unknown token")
	}}

	for _, token := range []string{"token-of-the-deploy-job", "token-of-the-dashboard", "guess"} {
		r := httptest.NewRequest(http.MethodPost, "/_dumper/purge", strings.NewReader(`{"tags":["icecream:42"]}`))
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d %s", w.Code, w.Body)
	}
	// Output:
	// 200 {"tags":["icecream:42"],"invalidated":["icecream:42"]}
	// 403 {"error":"purge: forbidden"}
	// 401 {"error":"purge: unauthorized: send Authorization: Bearer <token>"}
}
