package pgnotify

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/jackc/pgx/v5"
)

// invalidations is an Invalidator that keeps what it is asked to invalidate.
type invalidations struct{ paths, tags []string }

func (i *invalidations) InvalidatePaths(_ context.Context, paths ...string) error {
	i.paths = append(i.paths, paths...)
	return nil
}

func (i *invalidations) InvalidateTags(_ context.Context, tags ...string) error {
	i.tags = append(i.tags, tags...)
	return nil
}

// TestInvalidateBurst checks that a batch with more than MaxRows row-level changes of one
// table invalidates its tag without calling Map for each, while the other tables of the batch
// are mapped row by row.
func TestInvalidateBurst(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	mapped := func(_ context.Context, c Change) ([]string, []string, error) {
		calls.Add(1)
		return []string{"/" + c.Table + "/" + c.Key[0]}, nil, nil
	}
	config, err := pgx.ParseConfig("postgres://localhost/x")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewListener(config, Options{MaxRows: 3}, Table{Name: "a", Map: mapped}, Table{Name: "b", Map: mapped})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		a, b      int // row-level changes of each table
		wantCalls int64
		wantPaths int
		wantTags  []string
	}{
		{"at the threshold", 3, 1, 4, 4, nil},
		{"over it", 4, 1, 1, 1, []string{"table:a"}},
		{"both over it", 5, 9, 0, 0, []string{"table:a", "table:b"}},
	}
	for _, tt := range tests {
		calls.Store(0)
		var batch []notice
		for i := range tt.a {
			batch = append(batch, notice{Change: Change{Schema: "s", Table: "a", Op: Update, Key: []string{strconv.Itoa(i)}}})
		}
		for i := range tt.b {
			batch = append(batch, notice{Change: Change{Schema: "s", Table: "b", Op: Update, Key: []string{strconv.Itoa(i)}}})
		}
		var inv invalidations
		if err := l.invalidate(context.Background(), &inv, batch, nil); err != nil {
			t.Fatal(err)
		}
		if got := calls.Load(); got != tt.wantCalls {
			t.Errorf("%s: Map called %d times, want %d", tt.name, got, tt.wantCalls)
		}
		if len(inv.paths) != tt.wantPaths || fmt.Sprint(inv.tags) != fmt.Sprint(tt.wantTags) {
			t.Errorf("%s: invalidated paths %q and tags %q, want %d paths and tags %q", tt.name, inv.paths, inv.tags, tt.wantPaths, tt.wantTags)
		}
	}
}

// TestSalvage checks which payloads that decode refuses are turned into a table-level change.
func TestSalvage(t *testing.T) {
	t.Parallel()
	config, err := pgx.ParseConfig("postgres://localhost/x")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewListener(config, Options{}, Table{Name: "a"}, Table{Schema: "s", Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		payload string
		want    bool
	}{
		{`{"s":"x","t":"a","op":"I","k":[null]}`, true},
		{`{"t":"a"}`, true},
		{`{"s":"s","t":"b","op":"?"}`, true},
		{`{"s":"other","t":"b","op":"I","k":[null]}`, false},
		{`{"s":"x","t":"c","op":"I","k":[null]}`, false},
		{`not json`, false},
	}
	for _, tt := range tests {
		c, ok := l.salvage(tt.payload)
		if ok != tt.want || (ok && (!c.All || c.Key != nil)) {
			t.Errorf("salvage(%s) = %+v, %v; want a table-level change: %v", tt.payload, c, ok, tt.want)
		}
	}
}

// TestCommitsBothReadings checks that a path the Listener maps is left out only when the
// plugin invalidated every tag [dumper.InvalidatePaths] would: a path holding a "%" or a "?"
// has two readings, and the plugin covering one of them through another spelling does not
// cover the other.
func TestCommitsBothReadings(t *testing.T) {
	t.Parallel()
	config, err := pgx.ParseConfig("postgres://localhost/x")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		plugin, tags []string // what the plugin invalidated after commit
		mapped       string   // the path Map returns for the change
		wantLeftOut  bool
	}{
		{"same plain path", []string{"/p/vanilla"}, nil, "/p/vanilla", true},
		{"same escaped path", []string{"/p/caf%C3%A9"}, nil, "/p/caf%C3%A9", true},
		{"raw UTF-8 for an escaped path", []string{"/p/café"}, nil, "/p/caf%C3%A9", false},
		{"escaped path for raw UTF-8", []string{"/p/caf%C3%A9"}, nil, "/p/café", true},
		{"link reading only", []string{"/p/50Aoff"}, nil, "/p/50%41off", false},
		{"both readings through two paths", []string{"/p/50Aoff", dumper.Path("p", "50%41off")}, nil, "/p/50%41off", true},
		{"query reading only", []string{"/search/what"}, nil, "/search/what?", false},
		{"both readings as tags", nil, []string{"/search/what", "/search/what%3F"}, "/search/what?", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := NewListener(config, Options{}, Table{Name: "p", Map: func(context.Context, Change) ([]string, []string, error) {
				return []string{tt.mapped}, nil, nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var inv invalidations
			commits, err := NewCommits(&inv, CommitsOptions{})
			if err != nil {
				t.Fatal(err)
			}
			batch := []notice{{Change: Change{Schema: "public", Table: "p", Op: Update, Key: []string{"k"}}, tx: 100, pid: 1}}
			id := batch[0].txKey()
			commits.Committing(id)
			commits.Committed(ctx, id, tt.plugin, tt.tags, nil)
			cv, late := commits.resolve(ctx, batch)
			if late != 0 {
				t.Fatalf("resolve: %d late", late)
			}
			if err := l.invalidate(ctx, &inv, batch, cv); err != nil {
				t.Fatal(err)
			}
			if leftOut := len(inv.paths) == 0; leftOut != tt.wantLeftOut {
				t.Errorf("plugin invalidated paths %q and tags %q, mapped %q: Listener invalidated %q, want left out %v",
					tt.plugin, tt.tags, tt.mapped, inv.paths, tt.wantLeftOut)
			}
		})
	}
}

// TestCommitsRawTextReading is the scenario of a page cached under the raw-text reading of a
// path the Map builds by pasting a slug ("/p/" + "caf%C3%A9"), while the plugin, in the same
// transaction, invalidated the link reading under another spelling ("/p/café"): the page
// must not be served from the cache after the change.
func TestCommitsRawTextReading(t *testing.T) {
	t.Parallel()
	c, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	renders := 0
	mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		renders++
		fmt.Fprintf(w, "render %d", renders)
	}))
	page := dumper.Path("p", "caf%C3%A9") // the page of the row whose slug is the raw text "caf%C3%A9"
	get := func() string {
		w := httptest.NewRecorder()
		mw.ServeHTTP(w, httptest.NewRequest("GET", page, nil))
		return w.Body.String()
	}
	if got := get(); got != "render 1" {
		t.Fatalf("first GET: %q", got)
	}
	if got := get(); got != "render 1" {
		t.Fatalf("second GET: %q, want it cached", got)
	}
	ctx := context.Background()
	commits, err := NewCommits(c, CommitsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	config, err := pgx.ParseConfig("postgres://localhost/x")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewListener(config, Options{}, Table{Name: "p", Map: func(_ context.Context, ch Change) ([]string, []string, error) {
		return []string{"/p/" + ch.Key[0]}, nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	batch := []notice{{Change: Change{Schema: "public", Table: "p", Op: Update, Key: []string{"caf%C3%A9"}}, tx: 100, pid: 1}}
	id := batch[0].txKey()
	commits.Committing(id)
	if err := commits.InvalidatePaths(ctx, "/p/café"); err != nil {
		t.Fatal(err)
	}
	commits.Committed(ctx, id, []string{"/p/café"}, nil, nil)
	cv, _ := commits.resolve(ctx, batch)
	if err := l.invalidate(ctx, commits, batch, cv); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "render 2" {
		t.Errorf("GET %s after the change: %q, want a new rendering", page, got)
	}
}

func TestWritesString(t *testing.T) {
	var w writes
	for _, c := range []Change{
		{Schema: "s", Table: "a", Op: Update},
		{Schema: "s", Table: "b", Op: Insert},
		{Schema: "s", Table: "a", Op: Update},
		{Schema: "s", Table: "a", Op: Truncate, All: true},
		{Table: "c", Op: Delete, All: true},
		{Table: "d", All: true},
	} {
		w.add(&c)
	}
	want := "UPDATE on s.a, 2 rows; INSERT on s.b, 1 row; TRUNCATE on s.a; DELETE on c, rows not known; a change on d, rows not known"
	if got := w.String(); got != want {
		t.Errorf("writes %q, want %q", got, want)
	}
}
