package dumper_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/dumperhq/dumper"
)

// rewritingStore is a memory store that hands out, instead of the entries it was given,
// entries that a store author might build: rewrite returns what Get returns.
type rewritingStore struct {
	*dumper.MemoryStore
	rewrite func(e *dumper.Entry) *dumper.Entry
}

func (s rewritingStore) Get(ctx context.Context, key string) (dumper.Lookup, error) {
	l, err := s.MemoryStore.Get(ctx, key)
	if l.Entry != nil && l.Entry.Kind == dumper.StoredResponse {
		l.Entry = s.rewrite(l.Entry)
	}
	return l, err
}

// TestStoreBuiltEntry checks that a hit sends the header of the entry the store returns,
// whether the store returns the entry it was given, a copy with a Header of its own, or an
// entry it built field by field.
func TestStoreBuiltEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rewrite func(e *dumper.Entry) *dumper.Entry
	}{
		{"same entry", func(e *dumper.Entry) *dumper.Entry { return e }},
		{"copy", func(e *dumper.Entry) *dumper.Entry {
			c := *e
			c.Header = e.Header.Clone()
			c.Header.Set("X-Store", "copy")
			c.Header.Del("X-Handler")
			return &c
		}},
		{"built", func(e *dumper.Entry) *dumper.Entry {
			h := e.Header.Clone()
			h.Set("X-Store", "built")
			return &dumper.Entry{
				Kind: e.Kind, Status: e.Status, Header: h, Body: e.Body, Tags: e.Tags,
				Born: e.Born, Stored: e.Stored, Vary: e.Vary, Public: e.Public,
			}
		}},
		{"decoded", func(e *dumper.Entry) *dumper.Entry {
			b, err := e.MarshalBinary()
			if err != nil {
				panic(err)
			}
			var d dumper.Entry
			if err := d.UnmarshalBinary(b); err != nil {
				panic(err)
			}
			d.Header = d.Header.Clone() // a decoded entry is immutable: another header is another map
			d.Header.Set("X-Store", "decoded")
			return &d
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var served *dumper.Entry
			store := rewritingStore{newMemoryStore(t, 0), func(e *dumper.Entry) *dumper.Entry {
				served = tt.rewrite(e)
				return served
			}}
			c := newCache(t, dumper.Options{Store: store})
			mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Handler", "1")
				w.Write([]byte("page"))
			}))
			wantStatus(t, do(t, mw, "GET", "/p"), "dumper; fwd=uri-miss; stored")
			w := do(t, mw, "GET", "/p")
			wantStatus(t, w, "dumper; hit")
			wantBody(t, w, "page")
			got := w.Header().Clone()
			got.Del("Cache-Status")
			for k, v := range served.Header {
				if !slices.Equal(got[k], v) {
					t.Errorf("hit sent %s: %q, want the store's %q", k, got[k], v)
				}
			}
			for k, v := range got {
				if _, ok := served.Header[k]; !ok {
					t.Errorf("hit sent %s: %q, which the store's entry does not have", k, v)
				}
			}
		})
	}
}
