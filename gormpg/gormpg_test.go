package gormpg_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/sqldumper/capturetest"
	"gorm.io/gorm"
)

// TestRawReads: hand-written SQL read in a render is recorded by PostgreSQL's parser, with the
// placeholders and values GORM binds ($1… for ?, named @ arguments, IN ? expanded).
func TestRawReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type row struct {
		ID   int
		Slug string
	}
	scan := func(sql string, args ...any) func(db *gorm.DB) string {
		return func(db *gorm.DB) string {
			var rs []row
			err := db.Raw(sql, args...).Scan(&rs).Error
			return result(rs, err)
		}
	}
	tests := []struct {
		name string
		read func(db *gorm.DB) string
		want []string // tags the page must carry; nil: not stored
		not  []string // tags it must not carry
	}{
		{"question mark", scan(`SELECT id, slug FROM authors WHERE slug = ?`, "ann"),
			[]string{"row:authors:slug=ann", "table:authors", dumper.DatabaseTag}, []string{"scan:authors"}},
		{"dollar placeholder", scan(`SELECT id, slug FROM authors WHERE id = $1`, 2),
			[]string{"row:authors:id=2"}, []string{"scan:authors"}},
		{"IN list", scan(`SELECT id, slug FROM authors WHERE id IN ? ORDER BY id`, []int{1, 3}),
			[]string{"row:authors:id=1", "row:authors:id=3"}, []string{"scan:authors"}},
		{"named", scan(`SELECT id, slug FROM authors WHERE slug = @slug`, map[string]any{"slug": "bob"}),
			[]string{"row:authors:slug=bob"}, []string{"scan:authors"}},
		{"any array", scan(`SELECT id, slug FROM authors WHERE id = ANY($1)`, []int64{1, 2}), // GORM passes it as it is
			[]string{"row:authors:id=1", "row:authors:id=2"}, []string{"scan:authors"}},
		{"scan", scan(`SELECT id, slug FROM authors ORDER BY id`), []string{"scan:authors"}, nil},
		{"range", scan(`SELECT id, slug FROM authors WHERE id > ? ORDER BY id`, 1), []string{"scan:authors"}, nil},
		{"join", scan(`SELECT a.id, a.slug FROM authors a JOIN posts p ON p.author_id = a.id WHERE a.id = ?`, 1),
			[]string{"row:authors:id=1", "scan:posts"}, []string{"scan:authors"}},
		{"subquery", scan(`SELECT id, slug FROM authors WHERE id IN (SELECT author_id FROM posts WHERE id = ?)`, 10),
			[]string{"row:posts:id=10", "scan:authors"}, nil},
		{"find", func(db *gorm.DB) string {
			var as []Author
			return result(len(as), db.Raw(`SELECT * FROM authors WHERE id = ?`, 3).Find(&as).Error)
		}, []string{"row:authors:id=3"}, []string{"scan:authors"}},
		{"row", func(db *gorm.DB) string {
			var slug string
			return result(slug, db.Raw(`SELECT slug FROM authors WHERE id = ?`, 1).Row().Scan(&slug))
		}, []string{"row:authors:id=1"}, []string{"scan:authors"}},
		{"join written in SQL", func(db *gorm.DB) string {
			var as []Author
			err := db.Joins("JOIN posts ON posts.author_id = authors.id").Where("authors.id = ?", 2).Find(&as).Error
			return result(len(as), err)
		}, []string{"row:authors:id=2", "scan:posts"}, []string{"scan:authors"}},
		{"unparseable", scan(`SELEC id FROM authors`), nil, nil},
		{"unknown relation", scan(`SELECT id FROM nosuch`), nil, nil},
		{"a write", scan(`UPDATE authors SET name = name WHERE id = ? RETURNING id, slug`, 1), nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, tags, _ := e.page(t, "/"+strings.ReplaceAll(tc.name, " ", "-"), tc.read)
			if tc.want == nil {
				if tags != nil {
					t.Errorf("stored with %v; want not stored (body %q)", tags, body)
				}
				return
			}
			if strings.HasPrefix(body, "error") {
				t.Fatal(body)
			}
			for _, w := range tc.want {
				if !slices.Contains(tags, w) {
					t.Errorf("tags %v lack %s", tags, w)
				}
			}
			for _, n := range tc.not {
				if slices.Contains(tags, n) {
					t.Errorf("tags %v hold %s", tags, n)
				}
			}
		})
	}
}

// TestRawWrites: db.Exec and db.Raw writes invalidate what they stamp: the row tags of the
// rows the text names by every key column, the table tag otherwise, nothing when the database
// rejects them, DatabaseTag for a schema change.
func TestRawWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name  string
		write func(db *gorm.DB) error
		want  []string // tags stamped
		not   []string
	}{
		{"insert", func(db *gorm.DB) error {
			return db.Exec(`INSERT INTO authors (id, slug, name) VALUES (?, ?, ?)`, 5, "eve", "Eve").Error
		}, []string{"row:authors:id=5", "row:authors:slug=eve", "scan:authors"}, []string{"table:authors"}},
		{"update by every key", func(db *gorm.DB) error {
			return db.Exec(`UPDATE authors SET name = ? WHERE id = ? AND slug = ?`, "Annie", 1, "ann").Error
		}, []string{"row:authors:id=1", "row:authors:slug=ann", "scan:authors"}, []string{"table:authors"}},
		{"update by condition", func(db *gorm.DB) error {
			return db.Exec(`UPDATE authors SET name = upper(name) WHERE name LIKE ?`, "B%").Error
		}, []string{"table:authors"}, nil},
		{"update by one key of two", func(db *gorm.DB) error {
			return db.Exec(`UPDATE authors SET name = ? WHERE id = $2`, "Bobby", 2).Error
		}, []string{"table:authors"}, nil},
		{"delete through raw returning", func(db *gorm.DB) error {
			var ids []int
			return db.Raw(`DELETE FROM posts WHERE id = ? AND author_id = ? RETURNING id`, 20, 2).Scan(&ids).Error
		}, []string{"row:posts:id=20", "row:posts:author_id=2", "scan:posts"}, []string{"table:posts"}},
		{"update through raw find", func(db *gorm.DB) error {
			var ps []Post
			return db.Raw(`UPDATE posts SET title = ? WHERE author_id = ? RETURNING *`, "x", 1).Find(&ps).Error
		}, []string{"table:posts"}, nil},
		{"schema change", func(db *gorm.DB) error {
			return db.Exec(`CREATE INDEX posts_title ON posts (title)`).Error
		}, []string{dumper.DatabaseTag}, nil},
		{"rejected", func(db *gorm.DB) error {
			if err := db.Exec(`UPDATE nosuch SET x = 1`).Error; err == nil {
				return errors.New("no error")
			}
			return nil
		}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.inv.Take()
			if err := tc.write(e.db.WithContext(context.Background())); err != nil {
				t.Fatal(err)
			}
			calls := e.inv.Take()
			if tc.want == nil && len(calls) > 0 {
				t.Errorf("invalidated %v; want nothing", calls)
			}
			for _, w := range tc.want {
				if !capturetest.Has(calls, w) {
					t.Errorf("invalidated %v; want %s", calls, w)
				}
			}
			for _, n := range tc.not {
				if capturetest.Has(calls, n) {
					t.Errorf("invalidated %v; want no %s", calls, n)
				}
			}
		})
	}
}

// TestRawWriteAfterCommit: a page rendered while the transaction of a raw write is open reads
// the old row and is stored; the commit drops it. A rolled-back transaction invalidates once.
func TestRawWriteAfterCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	read := func(db *gorm.DB) string {
		var name string
		return result(name, db.Raw(`SELECT name FROM authors WHERE id = ?`, 1).Row().Scan(&name))
	}
	var during string
	err := e.db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`UPDATE authors SET name = ? WHERE id = ? AND slug = ?`, "Annie", 1, "ann").Error; err != nil {
			return err
		}
		var tags []string
		during, tags, _ = e.page(t, "/author/1", read)
		if !slices.Contains(tags, "row:authors:id=1") {
			t.Errorf("page rendered in the transaction: tags %v", tags)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if during != "Ann" {
		t.Fatalf("page rendered during the transaction: %q", during)
	}
	if body, _, hit := e.page(t, "/author/1", read); hit || body != "Annie" {
		t.Errorf("after commit: %q (hit %v); want Annie rendered anew", body, hit)
	}
	var n int
	for _, c := range e.inv.Take() {
		if slices.Contains(c, "row:authors:id=1") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("row:authors:id=1 invalidated %d times; want 2 (at the write and after commit)", n)
	}

	_ = e.db.Transaction(func(tx *gorm.DB) error {
		tx.Exec(`UPDATE authors SET name = ? WHERE id = ? AND slug = ?`, "Ann", 1, "ann")
		return errors.New("roll back")
	})
	if calls := e.inv.Take(); len(calls) != 1 {
		t.Errorf("rolled back: invalidations %v; want one, at the write", calls)
	}
}
