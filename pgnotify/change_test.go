package pgnotify

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// encode is the inverse of decode, for the fuzz test's round trip.
func encode(c notice) string {
	p := payload{Schema: c.Schema, Table: c.Table, Op: string(rune(c.Op)), All: c.All, Old: c.Old, New: c.New, Tx: c.tx, Rec: c.recorded}
	for _, k := range c.Key {
		p.Key = append(p.Key, &k)
	}
	p.KeyCols = c.KeyColumns
	values := func(m map[string]string) []*string {
		if m == nil {
			return nil
		}
		out := make([]*string, 0, len(c.KeyColumns))
		for _, k := range c.KeyColumns {
			if v, ok := m[k]; ok {
				out = append(out, &v)
			} else {
				out = append(out, nil)
			}
		}
		return out
	}
	p.OldKeys, p.NewKeys = values(c.OldKeys), values(c.NewKeys)
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    notice
		wantErr bool
	}{
		// As PostgreSQL 15 prints them.
		{"insert", `{"k": ["1"], "n": {"slug": "vanilla"}, "s": "public", "t": "ice_creams", "op": "I"}`,
			notice{Change: Change{Schema: "public", Table: "ice_creams", Op: Insert, Key: []string{"1"}, New: map[string]string{"slug": "vanilla"}}}, false},
		{"update", `{"k": ["1", "b"], "n": {"slug": "b"}, "o": {"slug": "a"}, "s": "public", "t": "x", "op": "U"}`,
			notice{Change: Change{Schema: "public", Table: "x", Op: Update, Key: []string{"1", "b"}, Old: map[string]string{"slug": "a"}, New: map[string]string{"slug": "b"}}}, false},
		{"delete without columns", `{"k": ["7"], "s": "public", "t": "ice_cream_sizes", "op": "D"}`,
			notice{Change: Change{Schema: "public", Table: "ice_cream_sizes", Op: Delete, Key: []string{"7"}}}, false},
		{"table-level", `{"s" : "public", "t" : "ice_creams", "op" : "U", "all" : true}`,
			notice{Change: Change{Schema: "public", Table: "ice_creams", Op: Update, All: true}}, false},
		{"truncate", `{"s":"public","t":"x","op":"T","all":true}`,
			notice{Change: Change{Schema: "public", Table: "x", Op: Truncate, All: true}}, false},
		// Version 2 adds the transaction's id, and r when its writer records its invalidation.
		{"with transaction id", `{"k": ["1"], "s": "public", "t": "x", "op": "D", "x": 9007199254740993}`,
			notice{Change: Change{Schema: "public", Table: "x", Op: Delete, Key: []string{"1"}}, tx: 9007199254740993}, false},
		{"recorded", `{"s": "public", "t": "x", "op": "U", "all": true, "x": 42, "r": true}`,
			notice{Change: Change{Schema: "public", Table: "x", Op: Update, All: true}, tx: 42, recorded: true}, false},
		// Version 3 adds the key columns and their values, a NULL as null.
		{"with key columns", `{"k": ["1"], "n": {"name": "V"}, "s": "public", "t": "x", "op": "U", "o": {"name": "v"}, "c": ["id", "slug", "size_id"], "ko": ["1", "a", null], "kn": ["1", "b", "3"]}`,
			notice{Change: Change{Schema: "public", Table: "x", Op: Update, Key: []string{"1"}, Old: map[string]string{"name": "v"}, New: map[string]string{"name": "V"},
				KeyColumns: []string{"id", "slug", "size_id"}, OldKeys: map[string]string{"id": "1", "slug": "a"}, NewKeys: map[string]string{"id": "1", "slug": "b", "size_id": "3"}}}, false},
		{"no key columns", `{"k": ["1"], "s": "public", "t": "x", "op": "I", "c": [], "kn": []}`,
			notice{Change: Change{Schema: "public", Table: "x", Op: Insert, Key: []string{"1"}, KeyColumns: []string{}, NewKeys: map[string]string{}}}, false},
		{"key values without key columns", `{"k": ["1"], "s": "public", "t": "x", "op": "I", "kn": ["1"]}`, notice{}, true},
		{"fewer key values than key columns", `{"k": ["1"], "s": "public", "t": "x", "op": "I", "c": ["id", "slug"], "kn": ["1"]}`, notice{}, true},
		{"key column twice", `{"k": ["1"], "s": "public", "t": "x", "op": "I", "c": ["id", "id"], "kn": ["1", "1"]}`, notice{}, true},
		{"old key values of an insert", `{"k": ["1"], "s": "public", "t": "x", "op": "I", "c": ["id"], "ko": ["1"]}`, notice{}, true},
		{"new key values of a delete", `{"k": ["1"], "s": "public", "t": "x", "op": "D", "c": ["id"], "kn": ["1"]}`, notice{}, true},
		{"table-level with key columns", `{"s": "public", "t": "x", "op": "U", "all": true, "c": ["id"]}`, notice{}, true},
		{"negative transaction id", `{"k": ["1"], "s": "public", "t": "x", "op": "D", "x": -1}`, notice{}, true},
		{"not JSON", `hello`, notice{}, true},
		{"JSON array", `[]`, notice{}, true},
		{"no table", `{"s":"public","op":"I","k":["1"]}`, notice{}, true},
		{"no schema", `{"t":"x","op":"I","k":["1"]}`, notice{}, true},
		{"unknown op", `{"s":"public","t":"x","op":"X","k":["1"]}`, notice{}, true},
		{"long op", `{"s":"public","t":"x","op":"II","k":["1"]}`, notice{}, true},
		{"no key", `{"s":"public","t":"x","op":"I"}`, notice{}, true},
		{"NULL key", `{"s":"public","t":"x","op":"I","k":[null]}`, notice{}, true},
		{"key not a string", `{"s":"public","t":"x","op":"I","k":[1]}`, notice{}, true},
		{"table-level with a key", `{"s":"public","t":"x","op":"I","all":true,"k":["1"]}`, notice{}, true},
		{"row-level truncate", `{"s":"public","t":"x","op":"T","k":["1"]}`, notice{}, true},
		{"insert with old values", `{"s":"public","t":"x","op":"I","k":["1"],"o":{}}`, notice{}, true},
		{"delete with new values", `{"s":"public","t":"x","op":"D","k":["1"],"n":{}}`, notice{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decode(tt.payload)
			if (err != nil) != tt.wantErr {
				t.Fatalf("decode(%q) error = %v, want error %v", tt.payload, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errPayload) {
				t.Errorf("error %v does not wrap errPayload", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decode(%q) = %+v, want %+v", tt.payload, got, tt.want)
			}
		})
	}
}

// FuzzDecode checks that decode never panics, and that what it accepts survives a round trip.
// Found crashers are kept in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"k": ["1"], "n": {"slug": "vanilla"}, "s": "public", "t": "ice_creams", "op": "I"}`,
		`{"k": ["1", "b"], "n": {"slug": "b"}, "o": {"slug": "a"}, "s": "public", "t": "x", "op": "U"}`,
		`{"s" : "public", "t" : "ice_creams", "op" : "U", "all" : true}`,
		`{"s":"public","t":"x","op":"T","all":true}`,
		`{"s":"public","t":"x","op":"D","k":[null]}`,
		`{"s":"\u0000","t":"\ud800","op":"D","k":["\\"],"o":{"":null}}`,
		`{"s":"public","t":"x","op":"U","all":true,"x":42,"r":true}`,
		`{"k":["1"],"s":"public","t":"x","op":"U","c":["id","slug"],"ko":["1","a"],"kn":["1",null],"x":7}`,
		`{"k":["1"],"s":"public","t":"x","op":"I","c":["id","id"],"kn":["1","1"]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decode(s)
		if err != nil {
			return
		}
		again, err := decode(encode(c))
		if err != nil {
			t.Fatalf("decode(%q) = %+v, whose encoding does not decode: %v", s, c, err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip of %q: %+v became %+v", s, c, again)
		}
		if c.All != (c.Key == nil) || c.Schema == "" || c.Table == "" || !strings.Contains("IUDT", string(rune(c.Op))) {
			t.Fatalf("decode(%q) = %+v: inconsistent change", s, c)
		}
	})
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	lo, hi := 100*time.Millisecond, 10*time.Second
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{7, 5 * time.Second, 10 * time.Second}, // 12.8 s capped
		{62, 5 * time.Second, 10 * time.Second},
		{1 << 30, 5 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		for _, r := range []float64{0, 0.5, 0.999999} {
			d := backoff(lo, hi, tt.n, r)
			if d < tt.min || d > tt.max {
				t.Errorf("backoff(%v, %v, %d, %v) = %v, want in [%v, %v]", lo, hi, tt.n, r, d, tt.min, tt.max)
			}
		}
		if backoff(lo, hi, tt.n, 0) == backoff(lo, hi, tt.n, 0.9) {
			t.Errorf("backoff(…, %d, r) does not depend on r: no jitter", tt.n)
		}
	}
}

func TestOptionsAndTablesRefused(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 64)
	tests := []struct {
		name   string
		opts   Options
		tables []Table
		want   string
	}{
		{"no tables", Options{}, nil, "no tables"},
		{"empty name", Options{}, []Table{{}}, "empty name"},
		{"long name", Options{}, []Table{{Name: long}}, "longer than 63"},
		{"NUL", Options{}, []Table{{Name: "a\x00b"}}, "NUL"},
		{"empty key", Options{}, []Table{{Name: "a", Key: []string{}}}, "empty Key"},
		{"key twice", Options{}, []Table{{Name: "a", Key: []string{"id", "id"}}}, "listed twice"},
		{"column twice", Options{}, []Table{{Name: "a", Columns: []string{"s", "s"}}}, "listed twice"},
		{"table twice", Options{}, []Table{{Name: "a"}, {Name: "a"}}, "listed twice"},
		{"long channel", Options{Channel: long}, []Table{{Name: "a"}}, "Channel"},
		{"negative backoff", Options{MinBackoff: -1}, []Table{{Name: "a"}}, "negative"},
		{"min over max", Options{MinBackoff: time.Minute, MaxBackoff: time.Second}, []Table{{Name: "a"}}, "more than MaxBackoff"},
	}
	config, err := pgx.ParseConfig("postgres://localhost/x")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, errSQL := SQL(tt.opts, tt.tables...)
			_, errNew := NewListener(config, tt.opts, tt.tables...)
			for _, err := range []error{errSQL, errNew} {
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "pgnotify: ") {
					t.Errorf("error %v, want one that starts with pgnotify: and mentions %q", err, tt.want)
				}
			}
		})
	}
	if _, err := NewListener(nil, Options{}, Table{Name: "a"}); err == nil {
		t.Error("NewListener(nil config): no error")
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	if got, want := quoteIdent(`a"b`), `"a""b"`; got != want {
		t.Errorf("quoteIdent = %s, want %s", got, want)
	}
	if got, want := quoteLiteral(`it's \n`), `E'it''s \\n'`; got != want {
		t.Errorf("quoteLiteral = %s, want %s", got, want)
	}
}
