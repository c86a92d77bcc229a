package dumper

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"unsafe"
)

func TestNewHeader(t *testing.T) {
	t.Parallel()
	src := http.Header{
		"Content-Type": {"text/html"},
		"Set-Cookie":   {"a=1", "b=2"},
		"X-Empty":      {},
		"X-Custom":     {"v"},
	}
	h := NewHeader(src)
	src["Content-Type"][0] = "changed" // a Header keeps a copy
	if got := h.Len(); got != 4 {
		t.Errorf("Len() = %d, want 4", got)
	}
	if got := h.Get("Content-Type"); got != "text/html" {
		t.Errorf(`Get("Content-Type") = %q, want "text/html"`, got)
	}
	if got := h.Values("Set-Cookie"); !slices.Equal(got, []string{"a=1", "b=2"}) || cap(got) != len(got) {
		t.Errorf(`Values("Set-Cookie") = %q (cap %d), want ["a=1" "b=2"], capped`, got, cap(got))
	}
	if got := h.Values("X-Empty"); got == nil || len(got) != 0 {
		t.Errorf(`Values("X-Empty") = %#v, want an empty, non-nil slice`, got)
	}
	if got := h.Values("Missing"); got != nil {
		t.Errorf(`Values("Missing") = %q, want nil`, got)
	}
	var names []string
	for k := range h.All() {
		names = append(names, k)
	}
	if !slices.IsSorted(names) || len(names) != 4 {
		t.Errorf("All() gave %q, want the 4 names in order", names)
	}
	c := h.Clone()
	c["X-Custom"][0] = "modified"
	if got := h.Get("X-Custom"); got != "v" {
		t.Errorf("modifying a Clone changed the Header: %q", got)
	}
	var zero Header
	if zero.Len() != 0 || zero.Values("X") != nil || zero.Clone() != nil {
		t.Error("the zero Header is not empty")
	}
}

// TestEntriesShareHeaderShape: the entries a cache builds from one handler share their names
// and repeating values; each keeps only its own values, in one array with its tags, so that
// its strings cost it two allocations, and none of them points into the request.
func TestEntriesShareHeaderShape(t *testing.T) {
	t.Parallel()
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Path", r.URL.Path)
		w.Write([]byte(`{"path":"` + r.URL.Path + `"}`))
	}))
	var entries []*Entry
	for i := range 3 {
		target := "/p/" + strconv.Itoa(i)
		r := httptest.NewRequest(http.MethodGet, target, nil)
		mw.ServeHTTP(httptest.NewRecorder(), r)
		l, err := c.store.Get(t.Context(), "G http://example.com"+target)
		if err != nil || l.Entry == nil {
			t.Fatalf("entry %d not stored: %v", i, err)
		}
		e := l.Entry
		entries = append(entries, e)
		if got := e.Header.Get("X-Request-Path"); got != target {
			t.Errorf("X-Request-Path = %q, want %q", got, target)
		}
		// Every string the entry keeps lies in its own memory: none in the request's.
		uri := unsafe.StringData(r.RequestURI)
		for _, s := range append(slices.Clone(e.Tags), e.Header.ownValues()...) {
			if p := unsafe.StringData(s); len(s) > 0 && uintptr(unsafe.Pointer(p)) >= uintptr(unsafe.Pointer(uri)) &&
				uintptr(unsafe.Pointer(p)) < uintptr(unsafe.Pointer(uri))+uintptr(len(r.RequestURI)) {
				t.Errorf("entry %d keeps %q, a substring of the request's RequestURI", i, s)
			}
		}
	}
	for _, e := range entries[1:] {
		if e.Header.s != entries[0].Header.s {
			t.Error("two entries of one handler have header shapes of their own")
		}
	}
	s := entries[0].Header.s
	if !s.shared || s.own != 3 { // Content-Length, Etag, X-Request-Path
		t.Errorf("shape: shared %v, %d own values; want shared, 3", s.shared, s.own)
	}
	want := http.Header{
		"Cache-Control":  {"no-cache"},
		"Content-Length": {"15"},
		"Content-Type":   {"application/json"},
		"Etag":           entries[0].Header.Values("Etag"),
		"X-Request-Path": {"/p/0"},
	}
	if got := entries[0].Header.Clone(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Header = %q, want %q", got, want)
	}
	// The own values and the tags share one array.
	if own, tags := entries[0].Header.ownValues(), entries[0].Tags; unsafe.SliceData(own) == nil ||
		unsafe.Pointer(unsafe.SliceData(tags)) != unsafe.Add(unsafe.Pointer(unsafe.SliceData(own)), len(own)*stringSize) {
		t.Error("the tags do not follow the own values in one array")
	}
}

func TestAllocSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ n, want int }{
		{0, 0}, {1, 16}, {16, 16}, {17, 32}, {96, 96}, {257, 288}, {4096, 4096}, {4097, 4608},
	} {
		if got := allocSize(tt.n); got != tt.want {
			t.Errorf("allocSize(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

// TestHeaderValuesOfAskedFields checks the fields a hit asks for whatever the request
// (Last-Modified, Accept-Ranges), which a Header answers for from its shape: present, absent,
// and under a name kept as the handler spelled it, in a Header of its own and in one whose
// shape a cache's table shares.
func TestHeaderValuesOfAskedFields(t *testing.T) {
	t.Parallel()
	lm := "Mon, 02 Jan 2006 15:04:05 GMT"
	tests := []struct {
		name string
		h    http.Header
		want map[string][]string
	}{
		{"both", http.Header{"Last-Modified": {lm}, "Accept-Ranges": {"bytes"}, "Etag": {`"x"`}},
			map[string][]string{"Last-Modified": {lm}, "Accept-Ranges": {"bytes"}, "Etag": {`"x"`}}},
		{"neither", http.Header{"Etag": {`"x"`}, "Content-Type": {"text/plain"}},
			map[string][]string{"Last-Modified": nil, "Accept-Ranges": nil, "Etag": {`"x"`}}},
		{"one", http.Header{"Accept-Ranges": {"none"}},
			map[string][]string{"Last-Modified": nil, "Accept-Ranges": {"none"}}},
		{"spelled otherwise", http.Header{"last-modified": {lm}},
			map[string][]string{"Last-Modified": nil, "last-modified": {lm}}},
	}
	table := newHeaderTable()
	for _, tt := range tests {
		for _, h := range []Header{NewHeader(tt.h), buildHeader(table, tt.h, nil)} {
			for name, want := range tt.want {
				if got := h.Values(name); !slices.Equal(got, want) {
					t.Errorf("%s: Values(%q) = %q, want %q", tt.name, name, got, want)
				}
			}
		}
	}
}
