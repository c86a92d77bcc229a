package edge_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/edge"
)

func ExampleDialect_Key() {
	tag := dumper.RowTag("ice_creams", "slug", "vanilla")
	fmt.Println(edge.Fastly.Key(tag))
	fmt.Println(edge.Akamai.Key(tag)) // Akamai allows no ":" or "="
	fmt.Println(edge.Fastly.Key("a tag with spaces"))
	// Output:
	// row:ice_creams:slug=vanilla
	// row%3Aice_creams%3Aslug%3Dvanilla
	// a%20tag%20with%20spaces
}

func ExampleDialect_Keys() {
	// Purging a row also purges its table's scan tag, which stands for row tags on pages
	// whose tags did not fit the edge's header.
	fmt.Println(edge.Varnish.Keys([]string{"/icecream/vanilla", dumper.RowTag("ice_creams", "slug", "vanilla")}))
	// Output:
	// [/icecream/vanilla row:ice_creams:slug=vanilla scan:ice_creams]
}

func ExampleEdge() {
	e, err := edge.New(edge.Options{Dialect: edge.Fastly}) // with a Purger in production
	if err != nil {
		panic(err)
	}
	defer e.Close()
	c, err := dumper.New(dumper.Options{Policy: dumper.Policy{Edge: e}, Observers: []dumper.Observer{e.Observer()}})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dumper.ReadRows(r.Context(), "ice_creams", "slug", "vanilla")
		io.WriteString(w, "Vanilla")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/icecream/vanilla", nil))
	fmt.Println("Surrogate-Key:", rec.Header().Get("Surrogate-Key"))
	fmt.Println("Surrogate-Control:", rec.Header().Get("Surrogate-Control"))
	fmt.Println("Cache-Control:", rec.Header().Get("Cache-Control"))
	// Output:
	// Surrogate-Key: /icecream/vanilla dumper-all row:ice_creams:slug=vanilla table:* table:ice_creams
	// Surrogate-Control: max-age=86400
	// Cache-Control: no-cache
}
