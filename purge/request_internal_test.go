package purge

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// FuzzParseRequest: whatever the body, parseRequest returns a request or an error, never
// panics; a request it accepts is within the limit, names something, never all with items,
// and reads back the same once encoded again.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"paths":["/a","/b?x=1"],"tags":["t"]}`,
		`{"all":true}`,
		`{"all":false,"tags":["icecream:42"]}`,
		`{"paths":["/cr\u00e8me","/c%25d"]}`,
		`{"paths":[],"tags":[""]}`,
		`{"paths":null}`,
		`{"paths":["/a"],"paths":["/b"]}`,
		`{"paths":[["/a"]]}`,
		`{"all":1}`,
		`{} {}`,
		`[]`,
		`{"paths":["/a"`,
		"{\"tags\":[\"\xff\"]}",
		` { "tags" : [ "a" , "b" ] } `,
	} {
		f.Add([]byte(s))
	}
	const maxItems = 5
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseRequest(body, maxItems)
		if err != nil {
			re, ok := err.(*requestError)
			if !ok || (re.status != 400 && re.status != 413) || !strings.HasPrefix(re.msg, "purge: ") {
				t.Fatalf("parseRequest(%q) error %#v, want a requestError with 400 or 413", body, err)
			}
			return
		}
		n := len(req.Paths) + len(req.Tags)
		switch {
		case n > maxItems:
			t.Fatalf("parseRequest(%q) accepted %d items, more than %d", body, n, maxItems)
		case req.All && n > 0:
			t.Fatalf("parseRequest(%q) accepted all with %d items", body, n)
		case !req.All && n == 0:
			t.Fatalf("parseRequest(%q) accepted a request naming nothing", body)
		}
		again, err := parseRequest(mustJSON(t, req), maxItems)
		if err != nil || again.All != req.All || !slices.Equal(again.Paths, req.Paths) || !slices.Equal(again.Tags, req.Tags) {
			t.Fatalf("parseRequest(%q) = %+v; encoded again it reads %+v, %v", body, req, again, err)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
