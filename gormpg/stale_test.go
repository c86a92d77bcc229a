package gormpg_test

import (
	"testing"

	"gorm.io/gorm"
)

// AuthorView reads authors through a view.
type AuthorView struct {
	ID   int `gorm:"primaryKey"`
	Slug string
	Name string
}

func (AuthorView) TableName() string { return "author_view" }

// Shard is a row of a partitioned table.
type Shard struct {
	ID int `gorm:"primaryKey;autoIncrement:false"`
	K  int `gorm:"primaryKey;autoIncrement:false"`
	V  string
}

// staleCase is a page and a write that changes what it shows.
type staleCase struct {
	name  string
	read  func(db *gorm.DB) string
	write func(db *gorm.DB) error
}

// checkFresh renders each case's page, writes, and checks that the write changed what the
// page shows and that the page served next is what a fresh read gives.
func checkFresh(t *testing.T, e *env, cases []staleCase) {
	t.Helper()
	for _, c := range cases {
		p := "/" + c.name
		first, tags, _ := e.page(t, p, c.read)
		if err := c.write(e.db); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
		fresh := c.read(e.db)
		if fresh == first {
			t.Fatalf("%s: the write changed nothing the page shows (%q)", c.name, fresh)
		}
		if got, _, hit := e.page(t, p, c.read); got != fresh {
			t.Errorf("%s: stale: page %q (hit %v, tags %q), fresh %q", c.name, got, hit, tags, fresh)
		}
	}
}

// TestViewsAndExpressions checks GORM reads of a view (by key, scanned, by raw SQL through the
// analyzer) after writes to its table, a read of the table after a write through the view,
// and a read whose conjunct holds an OR in an expression argument.
func TestViewsAndExpressions(t *testing.T) {
	e := newEnv(t)
	if err := e.db.Exec(`CREATE VIEW author_view AS SELECT id, slug, name FROM authors`).Error; err != nil {
		t.Fatal(err)
	}
	checkFresh(t, e, []staleCase{
		{"view-by-key", func(db *gorm.DB) string {
			var v AuthorView
			return result(v, db.First(&v, 1).Error)
		}, func(db *gorm.DB) error { return db.Model(&Author{ID: 1}).Update("name", "Ann2").Error }},
		{"view-scan", func(db *gorm.DB) string {
			var v []AuthorView
			return result(v, db.Order("id").Find(&v).Error)
		}, func(db *gorm.DB) error { return db.Model(&Author{ID: 2}).Update("name", "Bob2").Error }},
		{"view-raw", func(db *gorm.DB) string {
			var v []AuthorView
			return result(v, db.Raw("SELECT * FROM author_view WHERE id = ?", 2).Scan(&v).Error)
		}, func(db *gorm.DB) error { return db.Model(&Author{ID: 2}).Update("name", "Bob3").Error }},
		{"write-through-view", func(db *gorm.DB) string {
			var a Author
			return result(a, db.First(&a, 3).Error)
		}, func(db *gorm.DB) error { return db.Model(&AuthorView{ID: 3}).Update("name", "Cy2").Error }},
		{"or-in-expression", func(db *gorm.DB) string {
			var as []Author
			return result(as, db.Where("id = ?", 3).Where("?", gorm.Expr("true OR true")).Order("id").Find(&as).Error)
		}, func(db *gorm.DB) error { return db.Model(&Author{ID: 1}).Update("name", "Ann3").Error }},
	})
}

// TestPartitionWrites checks GORM reads of a partitioned table after writes to it and to a
// partition, through GORM and raw SQL.
func TestPartitionWrites(t *testing.T) {
	e := newEnv(t)
	for _, s := range []string{
		`CREATE TABLE shards (id int, k int, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k)`,
		`CREATE TABLE shards1 PARTITION OF shards FOR VALUES FROM (0) TO (10)`,
		`CREATE TABLE shards2 PARTITION OF shards FOR VALUES FROM (10) TO (20)`,
		`INSERT INTO shards VALUES (1, 1, 'x'), (2, 11, 'y')`,
	} {
		if err := e.db.Exec(s).Error; err != nil {
			t.Fatal(err)
		}
	}
	checkFresh(t, e, []staleCase{
		{"raw-read-gorm-write", func(db *gorm.DB) string {
			var ss []Shard
			return result(ss, db.Raw(`SELECT * FROM shards WHERE id = ?`, 1).Scan(&ss).Error)
		}, func(db *gorm.DB) error { return db.Model(&Shard{ID: 1, K: 1}).Update("v", "x2").Error }},
		{"gorm-read-raw-write", func(db *gorm.DB) string {
			var ss []Shard
			return result(ss, db.Where("id = ?", 2).Find(&ss).Error)
		}, func(db *gorm.DB) error { return db.Exec(`UPDATE shards SET v = 'y2' WHERE id = 2 AND k = 11`).Error }},
		{"gorm-scan-raw-write-to-partition", func(db *gorm.DB) string {
			var ss []Shard
			return result(ss, db.Order("id").Find(&ss).Error)
		}, func(db *gorm.DB) error { return db.Exec(`UPDATE shards2 SET v = 'y3' WHERE id = 2 AND k = 11`).Error }},
		{"gorm-by-key-raw-write-to-partition", func(db *gorm.DB) string {
			var ss []Shard
			return result(ss, db.Where("id = ?", 2).Find(&ss).Error)
		}, func(db *gorm.DB) error { return db.Exec(`UPDATE shards2 SET v = 'y4' WHERE id = 2`).Error }},
		{"raw-scan-gorm-create", func(db *gorm.DB) string {
			var ss []Shard
			return result(ss, db.Raw(`SELECT * FROM shards ORDER BY id`).Scan(&ss).Error)
		}, func(db *gorm.DB) error { return db.Create(&Shard{ID: 3, K: 12, V: "z"}).Error }},
	})
}
