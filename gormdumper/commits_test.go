package gormdumper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// commitLog is a CommitRecorder that records what the plugin tells it, and what another
// connection sees of the database at each call, on PostgreSQL.
type commitLog struct {
	*recorder
	outside *gorm.DB // the same database, through other connections
	queries atomic.Int64

	mu     sync.Mutex
	events []string
}

// TxQuery names the transaction by its id (txid_current) alone, which the test compares with
// the xmin of the rows it wrote.
func (c *commitLog) TxQuery() string {
	c.queries.Add(1)
	return "SELECT txid_current()::text"
}

func (c *commitLog) Committing(id string) {
	c.add(fmt.Sprintf("committing %s, outside sees %s", c.xid(id), c.vanilla()))
}

func (c *commitLog) Committed(_ context.Context, id string, paths, tags []string, err error) {
	slices.Sort(paths)
	slices.Sort(tags)
	c.add(fmt.Sprintf("committed %s, outside sees %s, paths %q tags %q, failed %v", c.xid(id), c.vanilla(), paths, tags, errors.Is(err, gormdumper.ErrInvalidation)))
}

func (c *commitLog) add(e string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
}

func (c *commitLog) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.events
	c.events = nil
	return e
}

// vanilla returns the name of the vanilla flavor and whether the transaction of id wrote the
// row that holds it, as another connection sees them.
func (c *commitLog) vanilla() string {
	var row struct {
		Name string
		Xmin string
	}
	if err := c.outside.Raw("SELECT name, xmin::text AS xmin FROM flavors WHERE slug = 'vanilla'").Scan(&row).Error; err != nil {
		return "error: " + err.Error()
	}
	return row.Name + " (xmin " + row.Xmin + ")"
}

// xid turns a 64-bit transaction id into the 32-bit one that xmin shows.
func (c *commitLog) xid(id string) string {
	var x uint64
	if _, err := fmt.Sscan(id, &x); err != nil {
		return "unreadable id " + id
	}
	return fmt.Sprint("xid ", x%(1<<32))
}

// TestCommitRecorder checks what the plugin tells a CommitRecorder: the transaction is named
// once, in the transaction (the id is that of the rows it writes), registered before COMMIT
// (another connection still sees the old row) and reported after it with what the
// invalidation after commit covered, or its failure; a transaction that rolls back, and
// writes outside a transaction, are not reported.
func TestCommitRecorder(t *testing.T) {
	t.Parallel()
	db := openPostgres(t, &gorm.Config{Logger: logger.Discard})
	if err := db.AutoMigrate(models...); err != nil {
		t.Fatal(err)
	}
	cache, err := dumper.New(dumper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	var fails atomic.Bool
	outside, err := gorm.Open(db.Dialector, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	log := &commitLog{recorder: &recorder{next: cache, fails: &fails}, outside: outside}
	if err := db.Use(gormdumper.New(log)); err != nil {
		t.Fatal(err)
	}
	vanilla := Flavor{Slug: "vanilla", Name: "Vanilla"}
	if err := db.Create(&vanilla).Error; err != nil {
		t.Fatal(err)
	}
	var xmin string
	rowXmin := func() string {
		t.Helper()
		if err := outside.Raw("SELECT xmin::text FROM flavors WHERE slug = 'vanilla'").Scan(&xmin).Error; err != nil {
			t.Fatal(err)
		}
		return "xid " + xmin
	}
	if got := log.take(); len(got) != 2 || !strings.HasPrefix(got[0], "committing "+rowXmin()) {
		t.Fatalf("create: events %q, want the transaction that wrote the row (%s) registered and reported", got, rowXmin())
	}
	log.queries.Store(0)

	tests := []struct {
		name  string
		fail  bool
		write func(db *gorm.DB) error
		want  []string // with XID for the id of the row's transaction, NAME for its name after
	}{
		{"implicit transaction", false, func(db *gorm.DB) error {
			return db.Model(&vanilla).Update("name", "Vanilla Bean").Error
		}, []string{
			`committing XID, outside sees Vanilla (xmin PREV)`,
			`committed XID, outside sees Vanilla Bean (xmin XMIN), paths ["/" "/flavors/vanilla"] tags ["row:flavors:id=1" "row:flavors:slug=vanilla" "scan:flavors"], failed false`,
		}},
		{"two writes in a Transaction, one query", false, func(db *gorm.DB) error {
			return db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Model(&vanilla).Update("name", "Vanilla Pod").Error; err != nil {
					return err
				}
				return tx.Create(&Note{Text: "n"}).Error
			})
		}, []string{
			`committing XID, outside sees Vanilla Bean (xmin PREV)`,
			`committed XID, outside sees Vanilla Pod (xmin XMIN), paths ["/" "/flavors/vanilla"] tags ["row:flavors:id=1" "row:flavors:slug=vanilla" "row:notes:id=1" "scan:flavors" "scan:notes"], failed false`,
		}},
		{"a write without a model, named before COMMIT", false, func(db *gorm.DB) error {
			return db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Exec("UPDATE flavors SET name = 'Raw' WHERE slug = 'vanilla'").Error; err != nil {
					return err
				}
				return tx.Table("notes").Where("text = ?", "n").Update("text", "m").Error
			})
		}, []string{
			`committing XID, outside sees Vanilla Pod (xmin PREV)`,
			`committed XID, outside sees Raw (xmin XMIN), paths [] tags ["table:*" "table:notes"], failed false`,
		}},
		{"invalidation after commit failed", true, func(db *gorm.DB) error {
			return db.Model(&vanilla).Update("name", "Vanilla").Error
		}, []string{
			`committing XID, outside sees Raw (xmin PREV)`,
			`committed XID, outside sees Vanilla (xmin XMIN), paths ["/" "/flavors/vanilla"] tags ["row:flavors:id=1" "row:flavors:slug=vanilla" "scan:flavors"], failed true`,
		}},
		{"rolled back", false, func(db *gorm.DB) error {
			err := db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Model(&vanilla).Update("name", "Never").Error; err != nil {
					return err
				}
				return errors.New("roll back")
			})
			if err == nil {
				return errors.New("the transaction did not fail")
			}
			return nil
		}, nil},
		{"no transaction", false, func(db *gorm.DB) error {
			return db.Session(&gorm.Session{SkipDefaultTransaction: true}).Model(&vanilla).Update("name", "Plain").Error
		}, nil},
	}
	for _, tt := range tests {
		prev := rowXmin()
		log.queries.Store(0)
		fails.Store(tt.fail)
		if err := tt.write(db); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		fails.Store(false)
		got := log.take()
		x := rowXmin()
		want := make([]string, len(tt.want))
		for i, w := range tt.want {
			want[i] = strings.NewReplacer("XID", x, "PREV", strings.TrimPrefix(prev, "xid "), "XMIN", strings.TrimPrefix(x, "xid ")).Replace(w)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: events\n%q\nwant\n%q", tt.name, got, want)
		}
		wantQueries := int64(1)
		if tt.want == nil && tt.name == "no transaction" {
			wantQueries = 0
		}
		if n := log.queries.Load(); n != wantQueries {
			t.Errorf("%s: TxQuery run %d times, want %d", tt.name, n, wantQueries)
		}
	}
}
