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
// whether the store returns the entry it was given, a copy with a Header of its own, an
// entry it built field by field, or one it decoded.
func TestStoreBuiltEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rewrite func(e *dumper.Entry) *dumper.Entry
	}{
		{"same entry", func(e *dumper.Entry) *dumper.Entry { return e }},
		{"copy", func(e *dumper.Entry) *dumper.Entry {
			c := *e
			h := e.Header.Clone()
			h.Set("X-Store", "copy")
			h.Del("X-Handler")
			c.Header = dumper.NewHeader(h)
			return &c
		}},
		{"built", func(e *dumper.Entry) *dumper.Entry {
			h := e.Header.Clone()
			h.Set("X-Store", "built")
			return &dumper.Entry{
				Kind: e.Kind, Status: e.Status, Header: dumper.NewHeader(h), Body: e.Body, Tags: e.Tags,
				Born: e.Born, Stored: e.Stored, Public: e.Public,
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
			h := d.Header.Clone() // a decoded entry is immutable: another header is another Header
			h.Set("X-Store", "decoded")
			d.Header = dumper.NewHeader(h)
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
			for k, v := range served.Header.All() {
				if !slices.Equal(got[k], v) {
					t.Errorf("hit sent %s: %q, want the store's %q", k, got[k], v)
				}
			}
			for k, v := range got {
				if served.Header.Values(k) == nil {
					t.Errorf("hit sent %s: %q, which the store's entry does not have", k, v)
				}
			}
		})
	}
}
