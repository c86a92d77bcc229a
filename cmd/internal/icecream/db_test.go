package icecream_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/internal/testservice"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// TestConcurrentStart: instances started together on a new database (two -redis instances on
// one new SQLite file, say) all start: each migrates and seeds, and the shop is seeded once.
func TestConcurrentStart(t *testing.T) {
	t.Parallel()
	for _, db := range []struct {
		name string
		open func(t *testing.T) func() gorm.Dialector
	}{
		{"sqlite", func(t *testing.T) func() gorm.Dialector {
			path := filepath.Join(t.TempDir(), "shop.db")
			return func() gorm.Dialector { return icecream.SQLite(path) }
		}},
		{"postgres", func(t *testing.T) func() gorm.Dialector {
			_, dsn := testservice.PostgresSchema(t, "icecream_start_")
			return func() gorm.Dialector { return postgres.Open(dsn) }
		}},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			for round := range 5 {
				dialector := db.open(t)
				const instances = 3
				var wg sync.WaitGroup
				dbs := make([]*gorm.DB, instances)
				errs := make([]error, instances)
				for i := range instances {
					wg.Go(func() {
						dbs[i], errs[i] = icecream.Open(dialector(), nil)
						if errs[i] == nil {
							errs[i] = icecream.Seed(dbs[i])
						}
					})
				}
				wg.Wait()
				for i, err := range errs {
					if dbs[i] != nil {
						t.Cleanup(func() { _ = icecream.Close(dbs[i]) })
					}
					if err != nil {
						t.Fatalf("round %d, instance %d: %v", round, i, err)
					}
				}
				var flavors, sizes int64
				if err := dbs[0].Model(&icecream.IceCream{}).Count(&flavors).Error; err != nil {
					t.Fatal(err)
				}
				if err := dbs[0].Model(&icecream.Size{}).Count(&sizes).Error; err != nil {
					t.Fatal(err)
				}
				if flavors != 3 || sizes != 3 {
					t.Errorf("round %d: %d flavors and %d sizes, want the seed's 3 and 3, once", round, flavors, sizes)
				}
			}
		})
	}
}
