package icecream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/wait"
	"github.com/jackc/pgx/v5"
)

// TestNotify checks that writes made outside the application — raw SQL through a second
// connection, no ORM — refresh exactly the pages they change, through the PostgreSQL
// triggers and a pgnotify.Listener wired as cmd/icecream wires them (with the Commits that
// leaves out the application's own writes: these are not).
func TestNotify(t *testing.T) {
	t.Parallel()
	s := newNotifyShop(t, notifyConfig{dsn: postgresDSN(t), seed: true})
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, s.config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	// Vanilla comes in small and medium; chocolate in medium and large.
	s.warm("/", "/icecream/vanilla", "/icecream/chocolate", "/sizes/small", "/sizes/medium", "/sizes/large")
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// fresh waits until the page, cached before the write, shows want: the write's
	// invalidation has then been made, in one call for all the pages of one change.
	fresh := func(path, want string) {
		t.Helper()
		wait.For(t, 10*time.Second, path+" to show "+want, func() bool { return strings.Contains(s.get(path, "").Body, want) })
	}

	exec("UPDATE ice_creams SET name = 'Vanilla Bean' WHERE slug = 'vanilla'")
	fresh("/icecream/vanilla", ">Vanilla Bean<")
	// The same invalidation dropped every page that shows vanilla…
	shows(t, "/", s.miss("/", ""), "Vanilla Bean")
	shows(t, "/sizes/small", s.miss("/sizes/small", ""), "Vanilla Bean")
	shows(t, "/sizes/medium", s.miss("/sizes/medium", ""), "Vanilla Bean")
	// …and no other.
	s.stillHit("/icecream/chocolate", "/sizes/large")

	// A new slug: the old page is gone, the new one is there.
	s.warm("/")
	exec("UPDATE ice_creams SET slug = 'vanilla-bean' WHERE slug = 'vanilla'")
	fresh("/", `href="/icecream/vanilla-bean"`)
	shows(t, "/icecream/vanilla-bean", s.miss("/icecream/vanilla-bean", ""), "Vanilla Bean")
	if r := s.do("GET", "/icecream/vanilla", ""); r.Status != 404 {
		t.Errorf("GET /icecream/vanilla after its slug changed: status %d, want 404", r.Status)
	}

	// A join row carries ids only: the pages of both ends are looked up.
	s.warm("/sizes/small", "/icecream/chocolate")
	exec(`INSERT INTO ice_cream_sizes (ice_cream_id, size_id)
		SELECT f.id, s.id FROM ice_creams f, sizes s WHERE f.slug = 'chocolate' AND s.slug = 'small'`)
	fresh("/sizes/small", ">Chocolate<")
	shows(t, "/icecream/chocolate", s.miss("/icecream/chocolate", ""), "Small")

	// A size renamed: its page and the pages of its flavors.
	s.warm("/sizes/large", "/icecream/chocolate", "/sizes/small", "/sizes/medium", "/icecream/vanilla-bean")
	exec("UPDATE sizes SET name = 'Huge' WHERE slug = 'large'")
	fresh("/sizes/large", ">Huge<")
	shows(t, "/icecream/chocolate", s.miss("/icecream/chocolate", ""), "Huge")
	s.stillHit("/sizes/small", "/sizes/medium", "/icecream/vanilla-bean")
}
