package icecream_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/redisstore"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// apiWrites is how many renames TestOneRenderPerWrite makes.
const apiWrites = 10

// renameAndRead renames vanilla through the API, then reads its page: right away (which
// renders it), then, once the listener (if any) has processed the write's notification,
// twice more, which must be hits. It returns how many times the page was rendered.
func renameAndRead(t *testing.T, s *shop, listener *notifyShop, name string) uint64 {
	t.Helper()
	var from uint64
	if listener != nil {
		from = listener.listener.Stats().Changes
	}
	before := s.renders()
	s.write(http.MethodPatch, "/api/icecream/vanilla", `{"name":"`+name+`"}`, http.StatusOK)
	shows(t, "vanilla after the write", s.get("/icecream/vanilla", ""), name)
	if listener != nil {
		listener.processed(from, 1) // the UPDATE of one row: one change
	}
	s.get("/icecream/vanilla", "")
	s.get("/icecream/vanilla", "")
	return s.renders() - before
}

// lateWait is the CommitsOptions.Wait of the tests that assert no notification was late: a
// writer reports within a millisecond or two of its COMMIT, but a loaded machine can hold it
// back past the default 100 ms, and a late report is then counted though nothing is wrong.
// No test waits for it to run out.
const lateWait = 10 * time.Second

// TestOneRenderPerWrite: after a write through the API, the page it changes is rendered
// once, on PostgreSQL with the NOTIFY listener as on SQLite: the listener leaves out the
// write's notification, which the plugin invalidated after commit already.
func TestOneRenderPerWrite(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s := sqliteShop(t)
		s.warm("/icecream/vanilla")
		for i := range apiWrites {
			if n := renameAndRead(t, s, nil, fmt.Sprint("Vanilla ", i)); n != 1 {
				t.Errorf("write %d: page rendered %d times, want 1", i, n)
			}
		}
	})
	t.Run("postgres-notify", func(t *testing.T) {
		t.Parallel()
		s := newNotifyShop(t, notifyConfig{dsn: postgresDSN(t), seed: true, wait: lateWait})
		s.warm("/icecream/vanilla")
		for i := range apiWrites {
			if n := renameAndRead(t, s.shop, s, fmt.Sprint("Vanilla ", i)); n != 1 {
				t.Errorf("write %d: page rendered %d times, want 1", i, n)
			}
		}
		if st := s.listener.Stats(); st.Deduplicated != apiWrites || st.Late != 0 {
			t.Errorf("listener %+v, want %d changes deduplicated, none late", st, apiWrites)
		}
	})
	// The wiring before Commits, for the record: the listener invalidates each write again
	// when its notification arrives, after the first read has stored the page, so most
	// writes cost two renders (how many depends on timing: it is not asserted).
	t.Run("postgres-notify-before-commits", func(t *testing.T) {
		t.Parallel()
		s := newNotifyShop(t, notifyConfig{dsn: postgresDSN(t), seed: true, legacy: true})
		s.warm("/icecream/vanilla")
		var total uint64
		for i := range apiWrites {
			total += renameAndRead(t, s.shop, s, fmt.Sprint("Vanilla ", i))
		}
		t.Logf("without Commits: %d renders for %d writes", total, apiWrites)
	})
}

// TestRawSQLInTransaction: raw SQL in a GORM transaction, next to a write the plugin sees,
// changes a row the plugin never saw: its pages are invalidated by its notification, while
// the page of the row the plugin saw is rendered once.
func TestRawSQLInTransaction(t *testing.T) {
	t.Parallel()
	s := newNotifyShop(t, notifyConfig{dsn: postgresDSN(t), seed: true})
	s.warm("/icecream/vanilla", "/icecream/chocolate", "/sizes/large")
	var vanilla icecream.IceCream
	if err := s.db.Where("slug = ?", "vanilla").First(&vanilla).Error; err != nil {
		t.Fatal(err)
	}
	from, renders := s.listener.Stats().Changes, s.renders()
	err := s.db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&vanilla).Omit(clause.Associations).Update("name", "Vanilla Bean").Error; err != nil {
			return err
		}
		return tx.Exec("UPDATE ice_creams SET name = 'Dark Chocolate' WHERE slug = 'chocolate'").Error
	})
	if err != nil {
		t.Fatal(err)
	}
	s.processed(from, 2)
	shows(t, "chocolate, changed by raw SQL", s.miss("/icecream/chocolate", ""), "Dark Chocolate")
	shows(t, "large, which lists chocolate", s.miss("/sizes/large", ""), "Dark Chocolate")
	shows(t, "vanilla, changed through GORM", s.miss("/icecream/vanilla", ""), "Vanilla Bean")
	s.stillHit("/icecream/vanilla", "/icecream/chocolate", "/sizes/large")
	if n := s.renders() - renders; n != 3 {
		t.Errorf("%d renders, want 3: each page once", n)
	}
	if st := s.listener.Stats(); st.Deduplicated != 1 {
		t.Errorf("listener %+v: want the GORM write's change deduplicated, the raw one invalidated", st)
	}
}

// fault makes the invalidations of one write fail, or hang after the first, through
// faulty: the plugin's, since the write's context carries it; the listener's go through.
type fault struct {
	fail    bool
	hangAt  int32 // calls from this one on wait for release
	calls   atomic.Int32
	release chan struct{}
}

type faultKey struct{}

type faulty struct{ next dumper.Invalidator }

func (f faulty) check(ctx context.Context) error {
	ft, _ := ctx.Value(faultKey{}).(*fault)
	if ft == nil {
		return nil
	}
	n := ft.calls.Add(1)
	if ft.fail {
		return errors.New("faulty: failing on purpose")
	}
	if ft.hangAt > 0 && n >= ft.hangAt {
		<-ft.release
	}
	return nil
}

func (f faulty) InvalidatePaths(ctx context.Context, paths ...string) error {
	if err := f.check(ctx); err != nil {
		return err
	}
	return f.next.InvalidatePaths(ctx, paths...)
}

func (f faulty) InvalidateTags(ctx context.Context, tags ...string) error {
	if err := f.check(ctx); err != nil {
		return err
	}
	return f.next.InvalidateTags(ctx, tags...)
}

// TestPluginInvalidationFails: when the plugin's invalidation after commit fails, or never
// returns (as if the process had died between COMMIT and it), the write's notification is
// the safety net: the listener invalidates it, at once or after CommitsOptions.Wait.
func TestPluginInvalidationFails(t *testing.T) {
	t.Parallel()
	const wait = 200 * time.Millisecond
	s := newNotifyShop(t, notifyConfig{dsn: postgresDSN(t), seed: true, wait: wait,
		inv: func(c *dumper.Cache) dumper.Invalidator { return faulty{c} }})
	var vanilla icecream.IceCream
	if err := s.db.Where("slug = ?", "vanilla").First(&vanilla).Error; err != nil {
		t.Fatal(err)
	}
	rename := func(ft *fault, name string) error {
		ctx := context.WithValue(context.Background(), faultKey{}, ft)
		return s.db.WithContext(ctx).Model(&vanilla).Omit(clause.Associations).Update("name", name).Error
	}

	t.Run("failed", func(t *testing.T) {
		s.warm("/icecream/vanilla")
		from := s.listener.Stats()
		ft := &fault{fail: true}
		if err := rename(ft, "Vanilla Failed"); err != nil {
			t.Fatal(err) // a failed invalidation does not fail the write
		}
		if ft.calls.Load() < 2 {
			t.Fatalf("%d invalidations failed, want the write's and the one after commit", ft.calls.Load())
		}
		s.processed(from.Changes, 1)
		shows(t, "vanilla", s.miss("/icecream/vanilla", ""), "Vanilla Failed")
		if st := s.listener.Stats(); st.Deduplicated != from.Deduplicated || st.Late != from.Late {
			t.Errorf("listener %+v (before: %+v): want the change invalidated at once", st, from)
		}
	})

	t.Run("hangs", func(t *testing.T) {
		s.warm("/icecream/vanilla")
		from := s.listener.Stats()
		ft := &fault{hangAt: 2, release: make(chan struct{})} // the write's passes, the one after commit hangs
		written := make(chan error, 1)
		go func() { written <- rename(ft, "Vanilla Hung") }()
		s.processed(from.Changes, 1)
		shows(t, "vanilla while the plugin hangs", s.miss("/icecream/vanilla", ""), "Vanilla Hung")
		if st := s.listener.Stats(); st.Late != from.Late+1 || st.Deduplicated != from.Deduplicated {
			t.Errorf("listener %+v (before: %+v): want the transaction late, its change invalidated", st, from)
		}
		select {
		case err := <-written:
			t.Fatalf("the write returned (%v) while its invalidation after commit hangs", err)
		default:
		}
		close(ft.release)
		if err := <-written; err != nil {
			t.Fatal(err)
		}
	})
}

// TestTwoInstancesNotify: two instances on one PostgreSQL database and one Redis, each with
// its own listener (every listener hears every commit) and its own Commits sharing its
// records through Redis. A write through either renders the page once in all: the other
// instance's listener finds the writer's record and leaves the change out too.
func TestTwoInstancesNotify(t *testing.T) {
	t.Parallel()
	dsn := postgresDSN(t)
	addr := testservice.RedisAddr(t)
	prefix := testservice.Unique("dumpertest-")
	var shops [2]*notifyShop
	for i := range shops {
		rs, err := redisstore.New(redisstore.Options{URL: "redis://" + addr, Prefix: prefix, Strict: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
		shops[i] = newNotifyShop(t, notifyConfig{dsn: dsn, seed: i == 0, store: rs, wait: lateWait})
		shops[i].host = "shop.example"
	}
	a, b := shops[0], shops[1]
	a.warm("/icecream/vanilla")
	b.hit("/icecream/vanilla", "")
	renders := func() uint64 { return a.renders() + b.renders() }
	changes := func() [2]uint64 { return [2]uint64{a.listener.Stats().Changes, b.listener.Stats().Changes} }
	for i := range 6 {
		via, other := a, b
		if i%2 == 1 {
			via, other = b, a
		}
		from, before := changes(), renders()
		name := fmt.Sprint("Vanilla ", i)
		via.write(http.MethodPatch, "/api/icecream/vanilla", `{"name":"`+name+`"}`, http.StatusOK)
		shows(t, "the writer's page", via.get("/icecream/vanilla", ""), name)
		a.processed(from[0], 1)
		b.processed(from[1], 1)
		shows(t, "the other instance's page", other.hit("/icecream/vanilla", ""), name)
		via.hit("/icecream/vanilla", "")
		if n := renders() - before; n != 1 {
			t.Errorf("write %d: %d renders on the two instances, want 1", i, n)
		}
	}
	for _, s := range shops {
		if st := s.listener.Stats(); st.Deduplicated != 6 || st.Late != 0 {
			t.Errorf("listener %+v, want 6 changes deduplicated, none late", st)
		}
	}

	// A write outside the application reaches both, and each listener invalidates it.
	from := changes()
	if err := a.db.Exec("UPDATE ice_creams SET name = 'Vanilla Raw' WHERE slug = 'vanilla'").Error; err != nil {
		t.Fatal(err)
	}
	a.processed(from[0], 1)
	b.processed(from[1], 1)
	shows(t, "after raw SQL", b.miss("/icecream/vanilla", ""), "Vanilla Raw")
	a.hit("/icecream/vanilla", "")
	if !strings.Contains(a.get("/icecream/vanilla", "").Body, "Vanilla Raw") {
		t.Error("A does not show the raw write")
	}
}
