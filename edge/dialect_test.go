package edge

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

var dialects = []Dialect{Varnish, Fastly, Cloudflare, Akamai, Bunny}

func TestKey(t *testing.T) {
	long := strings.Repeat("x", 1025)
	tests := []struct {
		name string
		d    Dialect
		tag  string
		want string // "#" means: a hashed form
	}{
		{"plain", Fastly, "/icecream/vanilla", "/icecream/vanilla"},
		{"row tag", Varnish, "row:ice_creams:slug=vanilla", "row:ice_creams:slug=vanilla"},
		{"space escaped", Fastly, "a b", "a%20b"},
		{"comma escaped", Cloudflare, "a,b", "a%2Cb"},
		{"percent escaped", Bunny, "cr%C3%A8me", "cr%25C3%25A8me"},
		{"non-ASCII escaped", Varnish, "crème", "cr%C3%A8me"},
		{"colon escaped on Akamai", Akamai, "row:t:id=1", "row%3At%3Aid%3D1"},
		{"database tag on Akamai", Akamai, "table:*", "table%3A%2A"},
		{"1 KiB fits Fastly", Fastly, long[:1024], long[:1024]},
		{"over 1 KiB hashed on Fastly", Fastly, long, "#"},
		{"128 fits Akamai", Akamai, long[:128], long[:128]},
		{"129 hashed on Akamai", Akamai, long[:129], "#"},
		{"escapes past 128 hashed on Akamai", Akamai, strings.Repeat(":", 43), "#"},
		{"hash prefix hashed", Fastly, "h-0123456789abc", "#"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.d.Key(tt.tag)
			if tt.want == "#" {
				if !strings.HasPrefix(got, hashPrefix) || len(got) != hashLen {
					t.Fatalf("%v.Key(%q) = %q, want a hashed form", tt.d, tt.tag, got)
				}
				if again := tt.d.Key(tt.tag); again != got {
					t.Fatalf("Key is not deterministic: %q then %q", got, again)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("%v.Key(%q) = %q, want %q", tt.d, tt.tag, got, tt.want)
			}
		})
	}
}

// TestKeyAllowed checks that every dialect's spelling of any byte is within what it allows.
func TestKeyAllowed(t *testing.T) {
	for _, d := range dialects {
		l := d.limits()
		for c := 0; c < 256; c++ {
			for _, tag := range []string{string(rune(0)) + string([]byte{byte(c)}), "a" + string([]byte{byte(c)}) + "z", strings.Repeat(string([]byte{byte(c)}), 2000)} {
				k := d.Key(tag)
				if len(k) > l.maxKey {
					t.Fatalf("%v.Key(%q…) is %d bytes, over %d", d, tag[:min(len(tag), 8)], len(k), l.maxKey)
				}
				for i := 0; i < len(k); i++ {
					if !l.allowed(k[i]) && k[i] != '%' {
						t.Fatalf("%v.Key(%q) = %q holds %q", d, tag, k, k[i])
					}
				}
			}
		}
	}
}

// covered checks the edge's promise for one response: each of its tags is purged by a key
// that its tag field carries, so that no invalidation of a tag misses the response.
func covered(t *testing.T, d Dialect, tags []string, header string) {
	t.Helper()
	sep := string(d.limits().sep)
	have := map[string]bool{}
	for _, k := range strings.Split(header, sep) {
		have[k] = true
	}
	for _, tag := range tags {
		if !slices.ContainsFunc(d.Keys([]string{tag}), func(k string) bool { return have[k] }) {
			t.Fatalf("%v: the tag field %.80q… carries no key that purging %q sends", d, header, tag)
		}
	}
	if !have[d.key(AllTag)] {
		t.Fatalf("%v: the tag field lacks %q", d, AllTag)
	}
}

func within(t *testing.T, d Dialect, header string) {
	t.Helper()
	l := d.limits()
	keys := strings.Split(header, string(l.sep))
	if len(header) > l.maxHeader {
		t.Fatalf("%v: tag field of %d bytes, over %d", d, len(header), l.maxHeader)
	}
	if l.maxTags > 0 && len(keys) > l.maxTags {
		t.Fatalf("%v: %d tags, over %d", d, len(keys), l.maxTags)
	}
	for _, k := range keys {
		if len(k) > l.maxKey || k == "" {
			t.Fatalf("%v: tag %q of %d bytes, over %d", d, k, len(k), l.maxKey)
		}
	}
}

func rows(table string, n int) []string {
	tags := []string{"table:*", "table:" + table}
	for i := range n {
		tags = append(tags, fmt.Sprintf("row:%s:id=%d", table, i))
	}
	return tags
}

func TestTagsLimits(t *testing.T) {
	many := func(n, size int) []string {
		var tags []string
		for i := range n {
			tags = append(tags, fmt.Sprintf("/p/%0*d", size-3, i))
		}
		return tags
	}
	tests := []struct {
		name string
		d    Dialect
		tags []string
		want Fit
	}{
		{"page on Varnish", Varnish, append([]string{"/icecream/vanilla"}, rows("ice_creams", 3)...), Fits},
		{"Varnish over 8000 bytes: rows coarsened", Varnish, append([]string{"/"}, rows("sizes", 700)...), Coarsened},
		{"Fastly 16 KiB of paths: fits", Fastly, many(15, 1000), Fits},
		{"Fastly over 16 KiB of paths: refused", Fastly, many(17, 1000), Refused},
		{"Fastly over 16 KiB of rows: coarsened", Fastly, append([]string{"/"}, rows("sizes", 2000)...), Coarsened},
		{"Cloudflare 1000 tags", Cloudflare, many(999, 5), Fits},
		{"Cloudflare over 1000 tags: refused", Cloudflare, many(1000, 5), Refused},
		{"Cloudflare over 1000 rows: coarsened", Cloudflare, append([]string{"/"}, rows("sizes", 1200)...), Coarsened},
		{"Cloudflare over 16 KB: refused", Cloudflare, many(16, 1024), Refused},
		{"Akamai 128 tags", Akamai, many(127, 5), Fits},
		{"Akamai over 128 tags: refused", Akamai, many(128, 5), Refused},
		{"Akamai over 128 rows: coarsened", Akamai, append([]string{"/"}, rows("sizes", 200)...), Coarsened},
		{"Akamai long tags hashed", Akamai, many(100, 500), Fits},
		{"Bunny 1024 bytes", Bunny, append([]string{"/"}, rows("sizes", 10)...), Fits},
		{"Bunny over 1024 bytes: coarsened", Bunny, append([]string{"/"}, rows("sizes", 100)...), Coarsened},
		{"Bunny two tables, the larger coarsened first", Bunny, append(append([]string{"/"}, rows("sizes", 70)...), rows("flavors", 5)...), Coarsened},
		{"Bunny over 1024 bytes of paths: refused", Bunny, many(3, 500), Refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, fit := tt.d.Tags(tt.tags)
			if fit != tt.want {
				t.Fatalf("%v.Tags: %v, want %v", tt.d, fit, tt.want)
			}
			if fit == Refused {
				if header != "" {
					t.Fatalf("refused with a tag field %q", header)
				}
				return
			}
			within(t, tt.d, header)
			covered(t, tt.d, tt.tags, header)
		})
	}
}

// TestTagsCoarsensTheLargestTable checks that the table with the most row tags is the one
// coarsened when that is enough.
func TestTagsCoarsensTheLargestTable(t *testing.T) {
	tags := append(append([]string{"/"}, rows("sizes", 70)...), rows("flavors", 3)...)
	header, fit := Bunny.Tags(tags)
	if fit != Coarsened {
		t.Fatalf("fit %v, want coarsened", fit)
	}
	if !strings.Contains(header, "row:flavors:id=2") || strings.Contains(header, "row:sizes:") || !strings.Contains(header, "scan:sizes") {
		t.Fatalf("tag field %q: want flavors' rows kept and sizes' replaced by scan:sizes", header)
	}
}

func TestPurgeTags(t *testing.T) {
	got := PurgeTags([]string{"row:sizes:id=1", "/", "row:sizes:id=2", "row:ice_creams:slug=a", "scan:x", "row:bad"})
	want := []string{"/", "row:bad", "row:ice_creams:slug=a", "row:sizes:id=1", "row:sizes:id=2", "scan:ice_creams", "scan:sizes", "scan:x"}
	if !slices.Equal(got, want) {
		t.Fatalf("PurgeTags = %q, want %q", got, want)
	}
}

func TestKeysFoldCaseOnCloudflare(t *testing.T) {
	got := Cloudflare.Keys([]string{"/A", "/a"})
	if !slices.Equal(got, []string{"/a"}) {
		t.Fatalf("Cloudflare.Keys = %q, want one key, in lower case", got)
	}
	if h, _ := Cloudflare.Tags([]string{"/Vanilla"}); !strings.Contains(h, "/vanilla") {
		t.Fatalf("Cloudflare tag field %q: want /vanilla", h)
	}
}

// FuzzTags checks, for any set of tags and every dialect, that the tag field fits the
// dialect's limits and carries, for each tag, a key that purging it sends — or that the
// response is refused.
func FuzzTags(f *testing.F) {
	f.Add("/icecream/vanilla\nrow:ice_creams:slug=vanilla\ntable:ice_creams\ntable:*", 0)
	f.Add("/\nrow:sizes:id=1\nrow:sizes:id=2", 300)
	f.Add("a b,c\ncrème\nh-0123456789abc", 5)
	f.Fuzz(func(t *testing.T, list string, rowCount int) {
		tags := strings.Split(list, "\n")
		tags = slices.DeleteFunc(tags, func(s string) bool { return s == "" })
		tags = append(tags, rows("t", rowCount%1200)...)
		for _, d := range dialects {
			header, fit := d.Tags(tags)
			if fit == Refused {
				continue
			}
			within(t, d, header)
			covered(t, d, tags, header)
		}
	})
}
