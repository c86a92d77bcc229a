package gormpg_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"github.com/dumperhq/dumper/gormpg"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/sqldumper/capturetest"
	"gorm.io/gorm"
)

// The models of capturetest's tables, with a many-to-many relation of t0 and t3 through the
// join table t0_t3 that the test adds.
type T0 struct {
	ID   int    `gorm:"primaryKey;autoIncrement:false"`
	Slug string `gorm:"unique;not null"`
	N    *int
	S    *string
	T1s  []T1 `gorm:"foreignKey:Ref;constraint:OnDelete:CASCADE"`
	T3s  []T3 `gorm:"many2many:t0_t3"`
}

type T1 struct {
	ID     int    `gorm:"primaryKey;autoIncrement:false"`
	Slug   string `gorm:"unique;not null"`
	Ref    *int
	N      *int
	S      *string
	Parent *T0  `gorm:"foreignKey:Ref"`
	T2s    []T2 `gorm:"foreignKey:Ref;constraint:OnDelete:SET NULL"`
}

type T2 struct {
	ID     int    `gorm:"primaryKey;autoIncrement:false"`
	Slug   string `gorm:"unique;not null"`
	Ref    *int
	N      *int
	S      *string
	Parent *T1 `gorm:"foreignKey:Ref"`
}

type T3 struct {
	ID int `gorm:"primaryKey;autoIncrement:false"`
	N  *int
	S  *string
}

func (T0) TableName() string { return "t0" }
func (T1) TableName() string { return "t1" }
func (T2) TableName() string { return "t2" }
func (T3) TableName() string { return "t3" }

const joinTable = `CREATE TABLE t0_t3 (
	t0_id int REFERENCES t0 (id) ON DELETE CASCADE,
	t3_id int REFERENCES t3 (id) ON DELETE CASCADE,
	PRIMARY KEY (t0_id, t3_id))`

// TestCaptureProperty is capturetest's property test through GORM on PostgreSQL: its
// generated SQL reads and writes made with db.Raw, db.Exec and db.Transaction (through the
// gormpg Analyzer), and generated reads and writes of GORM's own API on models of its tables
// (First, Find, Where IN, scans, ranges, Order, Limit, Count, Pluck, Preload, Joins,
// subqueries, association Find; Create, Save, Updates by key and by condition, Delete,
// association changes, transactions), in one run. After each write every page whose result
// changed must carry a tag the write stamped.
func TestCaptureProperty(t *testing.T) {
	t.Parallel()
	_, dsn := testservice.PostgresSchema(t, "gormcapture")
	var db *gorm.DB
	res := capturetest.Run(t, capturetest.Config{
		DSN:    dsn,
		Writes: 100,
		Setup:  []string{joinTable, `INSERT INTO t0_t3 SELECT t0.id, t3.id FROM t0, t3 WHERE (t0.id + t3.id) % 4 = 0`},
		Layers: func(inv dumper.Invalidator) []capturetest.Layer {
			db = openGORM(t, dsn)
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Use(gormdumper.NewWithOptions(inv, gormdumper.Options{Analyzer: gormpg.New(sqlDB, nil)})); err != nil {
				t.Fatal(err)
			}
			return []capturetest.Layer{rawLayer(db)}
		},
		Reads: func(g *capturetest.Gen) []capturetest.Read { return ormReads(g, db) },
		Write: func(g *capturetest.Gen) (capturetest.Write, bool) {
			if g.Rand().IntN(3) == 0 {
				return capturetest.Write{}, false // a generated SQL write, through db.Exec
			}
			return ormWrite(g, db, true), true
		},
	})
	if res.Misses > 0 {
		t.Errorf("%d misses", res.Misses)
	}
}

// rawLayer runs capturetest's SQL through GORM's hand-written SQL: db.Raw(…).Rows, db.Exec,
// db.Transaction. The SQL has $n placeholders, which GORM passes on with the values.
func rawLayer(db *gorm.DB) capturetest.Layer {
	return capturetest.Layer{
		Name: "gorm raw",
		Query: func(ctx context.Context, q string, args ...any) ([][]string, error) {
			rows, err := db.WithContext(ctx).Raw(q, args...).Rows()
			if err != nil {
				return nil, err
			}
			return capturetest.ScanRows(rows)
		},
		Exec: func(ctx context.Context, q string, args ...any) error {
			return db.WithContext(ctx).Exec(q, args...).Error
		},
		Tx: func(ctx context.Context, fn func(exec func(string, ...any) error) error) error {
			return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return fn(func(q string, args ...any) error { return tx.Exec(q, args...).Error })
			})
		},
	}
}

// show returns v as JSON, or "not found".
func show(v any, err error) (string, error) {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "not found", nil
	}
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// model describes a table of the run for the generic reads and writes.
type model struct {
	table  string
	one    func() any // a pointer to a zero model value
	many   func() any // a pointer to a nil slice of them
	slug   bool       // it has a unique slug
	parent string     // the table its ref references
}

var models = []model{
	{"t0", func() any { return new(T0) }, func() any { return new([]T0) }, true, ""},
	{"t1", func() any { return new(T1) }, func() any { return new([]T1) }, true, "t0"},
	{"t2", func() any { return new(T2) }, func() any { return new([]T2) }, true, "t1"},
	{"t3", func() any { return new(T3) }, func() any { return new([]T3) }, false, ""},
}

func ormReads(g *capturetest.Gen, db *gorm.DB) []capturetest.Read {
	var rs []capturetest.Read
	add := func(desc string, run func(db *gorm.DB) (string, error)) {
		rs = append(rs, capturetest.Read{Desc: desc, Run: func(ctx context.Context) (string, error) {
			return run(db.WithContext(ctx))
		}})
	}
	rng := g.Rand()
	for range 2 { // each shape twice, with other values
		for _, m := range models {
			ids := g.IDs(m.table)
			a, b, k, w := g.Pick(ids), g.Pick(ids), rng.IntN(10), g.Word()
			add(fmt.Sprintf("%s First(%d)", m.table, a), func(db *gorm.DB) (string, error) {
				v := m.one()
				return show(v, db.First(v, a).Error)
			})
			add(fmt.Sprintf("%s Find([%d %d])", m.table, a, b), func(db *gorm.DB) (string, error) {
				v := m.many()
				return show(v, db.Order("id").Find(v, []int{a, b}).Error)
			})
			add(fmt.Sprintf("%s Where(id IN [%d %d])", m.table, a, b), func(db *gorm.DB) (string, error) {
				v := m.many()
				return show(v, db.Where("id IN ?", []int{a, b}).Order("id").Find(v).Error)
			})
			add(fmt.Sprintf("%s Where(map id=%d, n>=0)", m.table, a), func(db *gorm.DB) (string, error) {
				v := m.many()
				return show(v, db.Where(map[string]any{"id": a}).Where("n >= ?", 0).Find(v).Error)
			})
			add(m.table+" all", func(db *gorm.DB) (string, error) {
				v := m.many()
				return show(v, db.Order("id").Find(v).Error)
			})
			add(fmt.Sprintf("%s n > %d", m.table, k), func(db *gorm.DB) (string, error) {
				v := m.many()
				return show(v, db.Where("n > ?", k).Order("id").Find(v).Error)
			})
			add(m.table+" top 3 by n", func(db *gorm.DB) (string, error) {
				v := m.many()
				return show(v, db.Order("n DESC, id").Limit(3).Find(v).Error)
			})
			add(fmt.Sprintf("%s count s=%s", m.table, w), func(db *gorm.DB) (string, error) {
				var n int64
				return show(n, db.Model(m.one()).Where("s = ?", w).Count(&n).Error)
			})
			add(fmt.Sprintf("%s id=%d OR n=%d", m.table, a, k), func(db *gorm.DB) (string, error) {
				v := m.many()
				return show(v, db.Where("id = ?", a).Or("n = ?", k).Order("id").Find(v).Error)
			})
			add(fmt.Sprintf("%s pluck s IN [%d %d]", m.table, a, b), func(db *gorm.DB) (string, error) {
				var ss []sql.NullString
				return show(ss, db.Model(m.one()).Where("id IN ?", []int{a, b}).Order("id").Pluck("s", &ss).Error)
			})
			add(fmt.Sprintf("%s raw id=%d", m.table, a), func(db *gorm.DB) (string, error) {
				var out []map[string]any
				return show(out, db.Raw("SELECT id, n FROM "+m.table+" WHERE id = ?", a).Scan(&out).Error)
			})
			if m.slug {
				s := g.PickSlug(g.Slugs(m.table))
				add(fmt.Sprintf("%s slug=%s", m.table, s), func(db *gorm.DB) (string, error) {
					v := m.one()
					return show(v, db.Where("slug = ?", s).First(v).Error)
				})
			}
			if m.parent != "" {
				p := g.Pick(g.IDs(m.parent))
				add(fmt.Sprintf("%s ref=%d", m.table, p), func(db *gorm.DB) (string, error) {
					v := m.many()
					return show(v, db.Where("ref = ?", p).Order("id").Find(v).Error)
				})
				add(fmt.Sprintf("%s Joins(Parent) First(%d)", m.table, a), func(db *gorm.DB) (string, error) {
					v := m.one()
					return show(v, db.Joins("Parent").First(v, a).Error)
				})
				add(fmt.Sprintf("%s Preload(Parent) ref=%d", m.table, p), func(db *gorm.DB) (string, error) {
					v := m.many()
					return show(v, db.Preload("Parent").Where("ref = ?", p).Order("id").Find(v).Error)
				})
				add(fmt.Sprintf("%s ref IN (subquery %s n > %d)", m.table, m.parent, k), func(db *gorm.DB) (string, error) {
					v := m.many()
					sub := db.Table(m.parent).Select("id").Where("n > ?", k)
					return show(v, db.Where("ref IN (?)", sub).Order("id").Find(v).Error)
				})
				add(fmt.Sprintf("%s raw join %s id=%d", m.table, m.parent, p), func(db *gorm.DB) (string, error) {
					var out []map[string]any
					err := db.Table(m.table).Select(m.table+".id, p.slug").
						Joins("JOIN "+m.parent+" p ON p.id = "+m.table+".ref").Where("p.id = ?", p).Order(m.table + ".id").Scan(&out).Error
					return show(out, err)
				})
			}
		}
		ids0 := g.IDs("t0")
		a := g.Pick(ids0)
		add(fmt.Sprintf("t0 Preload(T1s.T2s) First(%d)", a), func(db *gorm.DB) (string, error) {
			var v T0
			order := func(db *gorm.DB) *gorm.DB { return db.Order("id") }
			return show(v, db.Preload("T1s", order).Preload("T1s.T2s", order).First(&v, a).Error)
		})
		add(fmt.Sprintf("t0 Preload(T3s) First(%d)", a), func(db *gorm.DB) (string, error) {
			var v T0
			return show(v, db.Preload("T3s", func(db *gorm.DB) *gorm.DB { return db.Order("t3.id") }).First(&v, a).Error)
		})
		add(fmt.Sprintf("t0 %d Association(T3s).Find", a), func(db *gorm.DB) (string, error) {
			var v []T3
			return show(v, db.Model(&T0{ID: a}).Order("t3.id").Association("T3s").Find(&v))
		})
		add(fmt.Sprintf("t0 %d Association(T1s).Count", a), func(db *gorm.DB) (string, error) {
			return show(db.Model(&T0{ID: a}).Association("T1s").Count(), nil)
		})
		add("t0 Preload(T3s) all", func(db *gorm.DB) (string, error) {
			var v []T0
			return show(v, db.Preload("T3s", func(db *gorm.DB) *gorm.DB { return db.Order("t3.id") }).Order("id").Find(&v).Error)
		})
	}
	return rs
}

func ptr[T any](v T) *T { return &v }

// withID returns a model value of m's table with only its primary key set, as an
// application names a row to update or delete.
func withID(m model, id int) any {
	switch m.table {
	case "t0":
		return &T0{ID: id}
	case "t1":
		return &T1{ID: id}
	case "t2":
		return &T2{ID: id}
	}
	return &T3{ID: id}
}

// setN sets the n column of a model value.
func setN(v any, n int) {
	switch v := v.(type) {
	case *T0:
		v.N = &n
	case *T1:
		v.N = &n
	case *T2:
		v.N = &n
	case *T3:
		v.N = &n
	}
}

// ormWrite generates a write of GORM's own API, or with raw (a WriteAnalyzer sees them) now
// and then one of db.Exec with ? placeholders, alone or in a transaction with GORM's.
func ormWrite(g *capturetest.Gen, db *gorm.DB, raw bool) capturetest.Write {
	rng := g.Rand()
	if rng.IntN(10) == 0 { // a transaction of two writes
		a, b := ormStep(g), ormStep(g)
		if raw && rng.IntN(2) == 0 {
			a = rawStep(g)
		}
		return capturetest.Write{Desc: "transaction [" + a.Desc + "; " + b.Desc + "]", Run: func(ctx context.Context) error {
			return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				if err := a.run(tx); err != nil {
					return err
				}
				return b.run(tx)
			})
		}}
	}
	s := ormStep(g)
	if raw && rng.IntN(8) == 0 {
		s = rawStep(g)
	}
	return capturetest.Write{Desc: s.Desc, Run: func(ctx context.Context) error { return s.run(db.WithContext(ctx)) }}
}

// rawStep generates a write of hand-written SQL with GORM's ? placeholders.
func rawStep(g *capturetest.Gen) step {
	rng := g.Rand()
	m := models[rng.IntN(len(models))]
	ids := g.IDs(m.table)
	id, k := g.Pick(ids), rng.IntN(10)
	var q string
	var args []any
	switch rng.IntN(4) {
	case 0:
		q, args = "UPDATE "+m.table+" SET n = ? WHERE id = ?", []any{k, id}
	case 1:
		q, args = "DELETE FROM "+m.table+" WHERE id IN ?", []any{[]int{id, g.Pick(ids)}}
	case 2:
		if m.slug {
			q, args = "UPDATE "+m.table+" SET s = ? WHERE id = ? AND slug = ?", []any{g.Word(), id, g.PickSlug(g.Slugs(m.table))}
		} else {
			q, args = "UPDATE "+m.table+" SET s = ? WHERE id = ?", []any{g.Word(), id}
		}
	default:
		q, args = "INSERT INTO t3 (id, n, s) VALUES (?, ?, ?)", []any{g.Fresh(g.IDs("t3")), k, g.Word()}
	}
	return step{fmt.Sprintf("db.Exec(%s, %v)", q, args), func(db *gorm.DB) error { return db.Exec(q, args...).Error }}
}

type step struct {
	Desc string
	run  func(db *gorm.DB) error
}

// row returns a new model value of m's table with id and fields filled in.
func row(g *capturetest.Gen, m model, id int) any {
	rng := g.Rand()
	n, s := ptr(rng.IntN(10)), ptr(g.Word())
	var ref *int
	if m.parent != "" && rng.IntN(5) > 0 {
		ref = ptr(g.Pick(g.IDs(m.parent)))
	}
	switch m.table {
	case "t0":
		return &T0{ID: id, Slug: g.Slug("t0", id), N: n, S: s}
	case "t1":
		return &T1{ID: id, Slug: g.Slug("t1", id), Ref: ref, N: n, S: s}
	case "t2":
		return &T2{ID: id, Slug: g.Slug("t2", id), Ref: ref, N: n, S: s}
	}
	return &T3{ID: id, N: n, S: s}
}

func ormStep(g *capturetest.Gen) step {
	rng := g.Rand()
	m := models[rng.IntN(len(models))]
	ids := g.IDs(m.table)
	id, k, w := g.Pick(ids), rng.IntN(10), g.Word()
	switch rng.IntN(13) {
	case 0, 1:
		v := row(g, m, g.Fresh(ids))
		return step{fmt.Sprintf("Create %s %+v", m.table, v), func(db *gorm.DB) error { return db.Create(v).Error }}
	case 2: // Save: every column, a new slug now and then; a row not there is inserted
		v := row(g, m, id)
		return step{fmt.Sprintf("Save %s %+v", m.table, v), func(db *gorm.DB) error { return db.Save(v).Error }}
	case 3:
		if rng.IntN(2) == 0 { // by the model's key
			return step{fmt.Sprintf("%s Model(%d).Updates(n=%d, s=%s)", m.table, id, k, w), func(db *gorm.DB) error {
				return db.Model(withID(m, id)).Updates(map[string]any{"n": k, "s": w}).Error
			}}
		}
		return step{fmt.Sprintf("%s Where(id=%d).Updates(n=%d, s=%s)", m.table, id, k, w), func(db *gorm.DB) error {
			return db.Model(m.one()).Where("id = ?", id).Updates(map[string]any{"n": k, "s": w}).Error
		}}
	case 4: // a key changes, named by the model's key or by a condition
		byModel := rng.IntN(2) == 0
		update := func(db *gorm.DB, col string, v any) error {
			if byModel {
				return db.Model(withID(m, id)).Update(col, v).Error
			}
			return db.Model(m.one()).Where("id = ?", id).Update(col, v).Error
		}
		desc := func(col string, v any) string {
			if byModel {
				return fmt.Sprintf("%s Model(%d).Update(%s=%v)", m.table, id, col, v)
			}
			return fmt.Sprintf("%s Where(id=%d).Update(%s=%v)", m.table, id, col, v)
		}
		if m.slug && rng.IntN(2) == 0 {
			s := g.Slug(m.table, id)
			return step{desc("slug", s), func(db *gorm.DB) error { return update(db, "slug", s) }}
		}
		if m.parent != "" {
			p := g.Pick(g.IDs(m.parent))
			return step{desc("ref", p), func(db *gorm.DB) error { return update(db, "ref", p) }}
		}
		nid := g.Fresh(ids)
		return step{desc("id", nid), func(db *gorm.DB) error { return update(db, "id", nid) }}
	case 5: // bulk, by condition
		return step{fmt.Sprintf("%s Where(n < %d).Update(n+1)", m.table, k), func(db *gorm.DB) error {
			return db.Model(m.one()).Where("n < ?", k).Update("n", gorm.Expr("n + 1")).Error
		}}
	case 6:
		if rng.IntN(2) == 0 {
			return step{fmt.Sprintf("Delete %s Model(%d)", m.table, id), func(db *gorm.DB) error { return db.Delete(withID(m, id)).Error }}
		}
		return step{fmt.Sprintf("Delete %s %d", m.table, id), func(db *gorm.DB) error { return db.Delete(m.one(), id).Error }}
	case 7:
		return step{fmt.Sprintf("Delete %s Where(n = %d)", m.table, k), func(db *gorm.DB) error {
			return db.Where("n = ?", k).Delete(m.one()).Error
		}}
	case 8: // a loaded row, changed and saved
		return step{fmt.Sprintf("%s %d loaded, n=%d, Save", m.table, id, k), func(db *gorm.DB) error {
			v := m.one()
			if err := db.First(v, id).Error; err != nil {
				return err
			}
			setN(v, k)
			return db.Save(v).Error
		}}
	}
	// many-to-many and has-many association changes, on t0
	o := g.Pick(g.IDs("t0"))
	t3 := g.Pick(g.IDs("t3"))
	switch rng.IntN(5) {
	case 0:
		return step{fmt.Sprintf("t0 %d Association(T3s).Append(%d)", o, t3), func(db *gorm.DB) error {
			return db.Model(&T0{ID: o}).Association("T3s").Append(&T3{ID: t3})
		}}
	case 1:
		return step{fmt.Sprintf("t0 %d Association(T3s).Delete(%d)", o, t3), func(db *gorm.DB) error {
			return db.Model(&T0{ID: o}).Association("T3s").Delete(&T3{ID: t3})
		}}
	case 2:
		t3b := g.Pick(g.IDs("t3"))
		return step{fmt.Sprintf("t0 %d Association(T3s).Replace(%d, %d)", o, t3, t3b), func(db *gorm.DB) error {
			return db.Model(&T0{ID: o}).Association("T3s").Replace(&T3{ID: t3}, &T3{ID: t3b})
		}}
	case 3:
		return step{fmt.Sprintf("t0 %d Association(T3s).Clear", o), func(db *gorm.DB) error {
			return db.Model(&T0{ID: o}).Association("T3s").Clear()
		}}
	}
	c := g.Pick(g.IDs("t1"))
	return step{fmt.Sprintf("t0 %d Association(T1s).Append(t1 %d)", o, c), func(db *gorm.DB) error {
		var child T1
		if err := db.First(&child, c).Error; err != nil {
			return err
		}
		return db.Model(&T0{ID: o}).Association("T1s").Append(&child)
	}}
}
