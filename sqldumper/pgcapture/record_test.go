package pgcapture

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
)

// setRecorder is a memory store that keeps the tags of the entries set.
type setRecorder struct {
	dumper.Store
	tags [][]string
}

func (s *setRecorder) Set(ctx context.Context, ttl time.Duration, items ...dumper.Item) error {
	for _, it := range items {
		if it.Entry.Status == http.StatusOK {
			s.tags = append(s.tags, slices.Clone(it.Entry.Tags))
		}
	}
	return s.Store.Set(ctx, ttl, items...)
}

// TestRecordRender checks that a read recorded in the response being rendered, with the tags
// its plan built, carries the tags the test recorder is given, for each kind of read.
func TestRecordRender(t *testing.T) {
	a := New(nopInvalidator{}, fakeLoader, nil)
	tests := []struct {
		sql  string
		args []any
	}{
		{`SELECT * FROM t WHERE id = $1`, []any{7}},
		{`SELECT * FROM t WHERE id IN ($1, $2, 3)`, []any{int64(1), "2"}},
		{`SELECT * FROM t WHERE id = ANY($1)`, []any{[]int{4, 5}}},
		{`SELECT * FROM t WHERE id = $1`, []any{nil}},     // matches no row: the table tag
		{`SELECT * FROM t WHERE id = $1`, []any{"x"}},     // no integer: a scan
		{`SELECT * FROM t WHERE slug = $1`, []any{"a b"}}, // escaped
		{`SELECT * FROM t a JOIN p b ON b.id = a.id WHERE a.slug = $1`, []any{"s"}},
		{`SELECT * FROM v`, nil},
		{`SELECT * FROM p WHERE id = 1`, nil}, // and its child c
		{`SELECT * FROM t ORDER BY n LIMIT 3`, nil},
		{`SELECT * FROM t WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)`, nil}, // past the stack's room
		{`SELECT h(1)`, nil},                                                     // reads no relation: DatabaseTag alone
	}
	for _, tt := range tests {
		mem, err := dumper.NewMemoryStore(0)
		if err != nil {
			t.Fatal(err)
		}
		store := &setRecorder{Store: mem}
		c, err := dumper.New(dumper.Options{Store: store})
		if err != nil {
			t.Fatal(err)
		}
		h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.Read(r.Context(), a.Shape(tt.sql), tt.args)
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/p", nil))
		c.Close()
		rec := &tagRecorder{store: true}
		a.record(context.Background(), a.Shape(tt.sql), tt.args, rec)
		if len(store.tags) != 1 {
			t.Errorf("%s %v: %d responses stored, want 1", tt.sql, tt.args, len(store.tags))
			continue
		}
		got := joinTags(slices.DeleteFunc(store.tags[0], func(s string) bool { return s == "/p" }))
		if want := joinTags(rec.tags); got != want || !strings.Contains(got, DatabaseTag) {
			t.Errorf("%s %v: the response's tags\n%s\nwant, with %s,\n%s", tt.sql, tt.args, got, DatabaseTag, want)
		}
	}
}
