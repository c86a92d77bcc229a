package dumper_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
)

func TestDependTagSpellings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{dumper.TableTag("ice_creams"), "table:ice_creams"},
		{dumper.ScanTag("ice_creams"), "scan:ice_creams"},
		{dumper.RowTag("ice_creams", "slug", "vanilla"), "row:ice_creams:slug=vanilla"},
		{dumper.RowTag("ice_creams", "id", "42"), "row:ice_creams:id=42"},
		// Separators and anything outside the kept bytes are escaped, so no two (table,
		// column, value) give the same tag.
		{dumper.RowTag("a:b", "c=d", "e f,g"), "row:a%3Ab:c%3Dd=e%20f%2Cg"},
		{dumper.RowTag("t", "slug", "50%41off"), "row:t:slug=50%2541off"},
		{dumper.RowTag("t", "slug", "crème"), "row:t:slug=cr%C3%A8me"},
		{dumper.RowTag("t", "slug", ""), "row:t:slug="},
		{dumper.TableTag(`we"ird table`), "table:we%22ird%20table"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

type valuer struct{ v any }

// Types of an application's own over integers and strings.
type (
	flavorID uint
	sizeID   int16
	slug     string
)

func (v valuer) Value() (driver.Value, error) { return v.v, nil }

func TestKeyKindCanonical(t *testing.T) {
	const u = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
	raw := [16]byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}
	for _, tc := range []struct {
		kind dumper.KeyKind
		in   any
		want string // "" for not convertible
	}{
		{dumper.KeyInt, 42, "42"},
		{dumper.KeyInt, int64(-7), "-7"},
		{dumper.KeyInt, uint64(1 << 63), "9223372036854775808"},
		{dumper.KeyInt, int8(3), "3"},
		{dumper.KeyInt, "0042", "42"},
		{dumper.KeyInt, " +42 ", "42"},
		{dumper.KeyInt, []byte("17"), "17"},
		{dumper.KeyInt, float64(5), "5"},
		{dumper.KeyInt, 5.5, ""},
		{dumper.KeyInt, "4x", ""},
		{dumper.KeyInt, nil, ""},
		{dumper.KeyInt, true, ""},
		{dumper.KeyInt, valuer{int64(9)}, "9"},
		{dumper.KeyInt, flavorID(12), "12"},
		{dumper.KeyInt, sizeID(-3), "-3"},
		{dumper.KeyText, slug("mint"), "mint"},
		{dumper.KeyText, float64(42), ""},
		{dumper.KeyText, float32(1), ""},
		{dumper.KeyText, "Vanilla", "Vanilla"},
		{dumper.KeyText, []byte("x y"), "x y"},
		{dumper.KeyText, 12, "12"},
		{dumper.KeyText, nil, ""},
		{dumper.KeyText, valuer{"v"}, "v"},
		{dumper.KeyUUID, u, u},
		{dumper.KeyUUID, strings.ToUpper(u), u},
		{dumper.KeyUUID, "{" + u + "}", u},
		{dumper.KeyUUID, strings.ReplaceAll(u, "-", ""), u},
		{dumper.KeyUUID, "a0eebc999c0b4ef8-bb6d6bb9-bd380a11", u},
		{dumper.KeyUUID, raw, u},
		{dumper.KeyUUID, raw[:], u},
		{dumper.KeyUUID, []byte(u), u},
		{dumper.KeyUUID, u[:35], ""},
		{dumper.KeyUUID, u + "0", ""},
		{dumper.KeyUUID, "-" + strings.ReplaceAll(u, "-", ""), ""},
		{dumper.KeyUUID, "a0eebc99--9c0b4ef8bb6d6bb9bd380a11", ""},
		{dumper.KeyUUID, "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", ""},
		{dumper.KeyUUID, 7, ""},
		{dumper.KeyKind(0), "x", ""},
	} {
		got, ok := tc.kind.Canonical(tc.in)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("KeyKind(%d).Canonical(%#v) = %q, %v; want %q", tc.kind, tc.in, got, ok, tc.want)
		}
	}
}

func TestChangeTags(t *testing.T) {
	keys := []string{"id", "slug"}
	for _, tc := range []struct {
		name     string
		old, new map[string]string
		want     []string
	}{
		{"insert", nil, map[string]string{"id": "3", "slug": "mint"},
			[]string{"row:t:id=3", "row:t:slug=mint", "scan:t"}},
		{"delete", map[string]string{"id": "3", "slug": "mint"}, nil,
			[]string{"row:t:id=3", "row:t:slug=mint", "scan:t"}},
		{"rename", map[string]string{"id": "3", "slug": "mint"}, map[string]string{"id": "3", "slug": "mint-2"},
			[]string{"row:t:id=3", "row:t:slug=mint", "row:t:slug=mint-2", "scan:t"}},
		{"key column unknown", map[string]string{"id": "3"}, map[string]string{"id": "3"},
			[]string{"row:t:id=3", "scan:t", "table:t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dumper.ChangeTags("t", keys, tc.old, tc.new)
			slices.Sort(got)
			got = slices.Compact(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("ChangeTags = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCaptureInvalidation: a page tagged by its reads is dropped by exactly the changes that
// could alter them.
func TestCaptureInvalidation(t *testing.T) {
	keys := []string{"id", "slug"}
	pages := map[string]func(ctx context.Context){
		"/icecream/vanilla": func(ctx context.Context) { dumper.ReadRows(ctx, "ice_creams", "slug", "vanilla") },
		"/icecream/mint":    func(ctx context.Context) { dumper.ReadRows(ctx, "ice_creams", "slug", "mint") }, // no such row yet
		"/":                 func(ctx context.Context) { dumper.ReadTable(ctx, "ice_creams") },
		"/sizes/large": func(ctx context.Context) {
			dumper.ReadRows(ctx, "sizes", "slug", "large")
			dumper.ReadRows(ctx, "ice_cream_sizes", "size_id", "3")
			dumper.ReadRows(ctx, "ice_creams", "id", "2", "3")
		},
	}
	row := func(id, slug string) map[string]string { return map[string]string{"id": id, "slug": slug} }
	for _, tc := range []struct {
		name    string
		tags    []string
		dropped []string
	}{
		{"rename vanilla (id 1)", dumper.ChangeTags("ice_creams", keys, row("1", "vanilla"), row("1", "vanilla")),
			[]string{"/", "/icecream/vanilla"}},
		{"rename chocolate (id 2, in large)", dumper.ChangeTags("ice_creams", keys, row("2", "chocolate"), row("2", "chocolate")),
			[]string{"/", "/sizes/large"}},
		{"insert mint", dumper.ChangeTags("ice_creams", keys, nil, row("4", "mint")),
			[]string{"/", "/icecream/mint"}},
		{"slug change vanilla → mint", dumper.ChangeTags("ice_creams", keys, row("1", "vanilla"), row("1", "mint")),
			[]string{"/", "/icecream/mint", "/icecream/vanilla"}},
		{"bulk update of ice_creams", []string{dumper.TableTag("ice_creams")},
			[]string{"/", "/icecream/mint", "/icecream/vanilla", "/sizes/large"}},
		{"join row for size 1", dumper.ChangeTags("ice_cream_sizes", []string{"ice_cream_id", "size_id"}, nil,
			map[string]string{"ice_cream_id": "1", "size_id": "1"}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			runs := map[string]int{}
			h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs[r.URL.Path]++
				pages[r.URL.Path](r.Context())
				fmt.Fprint(w, r.URL.Path)
			}))
			for p := range pages {
				do(t, h, "GET", p)
			}
			if err := c.InvalidateTags(context.Background(), tc.tags...); err != nil {
				t.Fatal(err)
			}
			var dropped []string
			for p := range pages {
				if !isHit(do(t, h, "GET", p)) {
					dropped = append(dropped, p)
				}
			}
			slices.Sort(dropped)
			if !slices.Equal(dropped, tc.dropped) {
				t.Errorf("dropped %q, want %q", dropped, tc.dropped)
			}
		})
	}
}

// TestReadRowsCap: past the bound on row values per table, a response is tagged with the
// table's scan tag, which any change stamps.
func TestReadRowsCap(t *testing.T) {
	c := newCache(t)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids := make([]string, 200)
		for i := range ids {
			ids[i] = fmt.Sprint(i)
		}
		dumper.ReadRows(r.Context(), "t", "id", ids...) // under the bound
		dumper.ReadRows(r.Context(), "t", "id", ids...) // past it
		fmt.Fprint(w, "many")
	}))
	do(t, h, "GET", "/many")
	if err := c.InvalidateTags(context.Background(), dumper.ChangeTags("t", []string{"id"}, nil, map[string]string{"id": "100000"})...); err != nil {
		t.Fatal(err)
	}
	if w := do(t, h, "GET", "/many"); isHit(w) {
		t.Errorf("a change to a row the page did not name a row tag for still hit: %s", status(w))
	}
}

// TestDatabaseTag: every captured read carries DatabaseTag, so a write the capture cannot
// attribute drops every captured page, and only those.
func TestDatabaseTag(t *testing.T) {
	c := newCache(t)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rows":
			dumper.ReadRows(r.Context(), "t", "id", "1")
		case "/scan":
			dumper.ReadTable(r.Context(), "t")
		case "/tagged":
			dumper.Tag(r.Context(), "hand")
		}
		fmt.Fprint(w, r.URL.Path)
	}))
	pages := []string{"/rows", "/scan", "/tagged", "/plain"}
	for _, p := range pages {
		do(t, h, "GET", p)
	}
	if err := c.InvalidateTags(context.Background(), dumper.DatabaseTag); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		captured := p == "/rows" || p == "/scan"
		if hit := isHit(do(t, h, "GET", p)); hit == captured {
			t.Errorf("%s: hit %v after DatabaseTag was stamped, want %v", p, hit, !captured)
		}
	}
	if dumper.TableTag("*") == dumper.DatabaseTag {
		t.Error("TableTag(\"*\") spells DatabaseTag")
	}
}

// TestReadOutsideRender: reads outside a render record nothing and do not panic.
func TestReadOutsideRender(t *testing.T) {
	ctx := context.Background()
	dumper.ReadRows(ctx, "t", "id", "1")
	dumper.ReadTable(ctx, "t")
}

func BenchmarkReadRowsOutsideRender(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		dumper.ReadRows(ctx, "ice_creams", "slug", "vanilla")
	}
}

func ExampleReadRows() {
	c, _ := dumper.New(dumper.Options{})
	defer c.Close()
	page := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What a data layer adapter does for SELECT … FROM ice_creams WHERE slug = 'vanilla':
		dumper.ReadRows(r.Context(), "ice_creams", "slug", "vanilla")
		fmt.Fprint(w, "Vanilla")
	}))
	get := func() string {
		w := httptest.NewRecorder()
		page.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/icecream/vanilla", nil))
		return w.Header().Get("Cache-Status")
	}
	fmt.Println(get())
	fmt.Println(get())
	// A change to that row (what a writer adapter stamps):
	_ = c.InvalidateTags(context.Background(), dumper.ChangeTags("ice_creams", []string{"id", "slug"},
		map[string]string{"id": "1", "slug": "vanilla"}, map[string]string{"id": "1", "slug": "vanilla"})...)
	fmt.Println(get())
	// Output:
	// dumper; fwd=uri-miss; stored
	// dumper; hit
	// dumper; fwd=stale; stored
}

// TestRequireDependencies: under Policy.RequireDependencies a response whose render recorded
// no read and no tag is sent but not stored; one that did is stored.
func TestRequireDependencies(t *testing.T) {
	c := newCache(t)
	site := c.MiddlewareWith(dumper.Policy{RequireDependencies: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rows":
			dumper.ReadRows(r.Context(), "t", "id", "1")
		case "/scan":
			dumper.ReadTable(r.Context(), "t")
		case "/read":
			dumper.NewRead([]string{"t"}, nil, "").Record(r.Context())
		case "/tag":
			dumper.Tag(r.Context(), "static")
		case "/header":
			w.Header().Set("Cache-Tag", "static")
		case "/empty-tag":
			dumper.Tag(r.Context(), "")
		}
		fmt.Fprint(w, r.URL.Path)
	}))
	for _, tt := range []struct {
		path   string
		stored bool
	}{
		{"/rows", true}, {"/scan", true}, {"/read", true}, {"/tag", true}, {"/header", true},
		{"/nothing", false}, {"/empty-tag", false},
	} {
		first := do(t, site, "GET", tt.path)
		if got := status(first); tt.stored == strings.Contains(got, "detail=no-dependencies") {
			t.Errorf("%s: Cache-Status %q", tt.path, got)
		}
		if first.Body.String() != tt.path {
			t.Errorf("%s: body %q, want the page", tt.path, first.Body.String())
		}
		if hit := isHit(do(t, site, "GET", tt.path)); hit != tt.stored {
			t.Errorf("%s: second request hit %v, want %v", tt.path, hit, tt.stored)
		}
	}
}
