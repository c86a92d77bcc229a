package gormdumper_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/gormdumper"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TestReadCapture checks what a response rendered from a GORM read depends on: it is
// invalidated by each tag of drop and by no tag of keep. noStore: it is not stored at all.
// The seed: sizes small (1) and large (2); vanilla (1) in small, chocolate (2) in large.
func TestReadCapture(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		read       func(db *gorm.DB) error
		drop, keep []string
		noStore    bool
		only       string // a backend's name: the case runs on it alone
	}{
		{
			name: "Where col = ?",
			read: func(db *gorm.DB) error { return db.Where("slug = ?", "vanilla").First(&Flavor{}).Error },
			drop: []string{"row:flavors:slug=vanilla", "table:flavors"},
			keep: []string{"row:flavors:slug=chocolate", "scan:flavors", "row:flavors:id=1"},
		},
		{
			name: "First by primary key",
			read: func(db *gorm.DB) error { return db.First(&Flavor{}, 2).Error },
			drop: []string{"row:flavors:id=2"},
			keep: []string{"row:flavors:id=1", "scan:flavors"},
		},
		{
			name: "struct condition",
			read: func(db *gorm.DB) error { return db.Where(&Flavor{Slug: "chocolate"}).Find(&[]Flavor{}).Error },
			drop: []string{"row:flavors:slug=chocolate"},
			keep: []string{"scan:flavors"},
		},
		{
			name: "map condition, IN",
			read: func(db *gorm.DB) error {
				return db.Where(map[string]any{"id": []uint{1, 2}}).Find(&[]Flavor{}).Error
			},
			drop: []string{"row:flavors:id=1", "row:flavors:id=2"},
			keep: []string{"row:flavors:id=3", "scan:flavors"},
		},
		{
			name: "Where col IN ?",
			read: func(db *gorm.DB) error { return db.Where("slug IN ?", []string{"a", "b"}).Find(&[]Flavor{}).Error },
			drop: []string{"row:flavors:slug=a", "row:flavors:slug=b"},
			keep: []string{"scan:flavors"},
		},
		{
			name: "model's primary key, with other conditions",
			read: func(db *gorm.DB) error {
				f := Flavor{ID: 1}
				return db.Where("name <> ?", "x").Order("name").First(&f).Error
			},
			drop: []string{"row:flavors:id=1"},
			keep: []string{"scan:flavors"},
		},
		{
			name: "preload many2many",
			read: func(db *gorm.DB) error {
				return db.Preload("Sizes").First(&Flavor{}, "slug = ?", "vanilla").Error
			},
			drop: []string{"row:flavors:slug=vanilla", "row:flavor_sizes:flavor_id=1", "row:sizes:id=1"},
			keep: []string{"row:flavor_sizes:flavor_id=2", "row:sizes:id=2", "scan:sizes", "scan:flavor_sizes"},
		},
		{
			name: "list",
			read: func(db *gorm.DB) error { return db.Order("name").Limit(10).Find(&[]Flavor{}).Error },
			drop: []string{"scan:flavors", "table:flavors"},
			keep: []string{"row:flavors:id=1"},
		},
		{
			name: "not a key column",
			read: func(db *gorm.DB) error { return db.Where("name = ?", "Vanilla").Find(&[]Flavor{}).Error },
			drop: []string{"scan:flavors"},
		},
		{
			name: "OR",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Or("name = ?", "x").Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "a fragment that may hold an OR",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where("name = 'x' OR(1=1)").Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in an expression argument",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where("?", gorm.Expr("true OR true")).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in an expression compared to",
			read: func(db *gorm.DB) error {
				return db.Where(map[string]any{"name": gorm.Expr("'x' OR true")}).Where("slug = ?", "vanilla").Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in an expression in IN",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where(clause.IN{Column: "name", Values: []any{"y", gorm.Expr("'x') OR (true")}}).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in a named argument",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where("name = @n", sql.Named("n", gorm.Expr("'x' OR true"))).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in a map of named arguments",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where("name = @n", map[string]any{"n": gorm.Expr("'x' OR true")}).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in a Not",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Not("name = ?", gorm.Expr("'x' AND false OR true")).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in a named expression in a Not",
			read: func(db *gorm.DB) error {
				// NotConditions parenthesizes a clause.Expr with an OR, not a NamedExpr.
				return db.Where("slug = ?", "vanilla").Not("name = @n OR name = @m", sql.Named("n", "x"), sql.Named("m", "y")).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in a group of one named expression",
			read: func(db *gorm.DB) error {
				// db.Where(db.Or(…)): a group of one, which GORM parenthesizes only for a clause.Expr.
				or := db.Session(&gorm.Session{NewDB: true}).Or("name = @n OR name = @m", sql.Named("n", "x"), sql.Named("m", "y"))
				return db.Where("slug = ?", "vanilla").Where(or).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in a group of one group",
			read: func(db *gorm.DB) error {
				inner := clause.AndConditions{Exprs: []clause.Expression{clause.Expr{SQL: "name = 'x' OR true"}}}
				return db.Where("slug = ?", "vanilla").Where(clause.AndConditions{Exprs: []clause.Expression{inner}}).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in a named expression GORM parenthesizes",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where("name = @n OR name = @m", sql.Named("n", "x"), sql.Named("m", "y")).Find(&[]Flavor{}).Error
			},
			drop: []string{"row:flavors:slug=vanilla"},
			keep: []string{"scan:flavors"},
		},
		{
			name: "an OR in a struct of named arguments",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where("name = @N", struct{ N any }{gorm.Expr("'x' OR true")}).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in a pointer to a struct of named arguments, embedded",
			read: func(db *gorm.DB) error {
				type Names struct{ N any }
				args := &struct{ Names }{Names{gorm.Expr("'x' OR true")}}
				return db.Where("slug = ?", "vanilla").Where("name = @N", args).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "a struct of named values",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where("name <> @N", struct{ N string }{"x"}).Find(&[]Flavor{}).Error
			},
			drop: []string{"row:flavors:slug=vanilla"},
			keep: []string{"scan:flavors"},
		},
		{
			name: "an OR in a raw column argument",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where("name = ?", clause.Column{Name: "'x' OR true", Raw: true}).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an OR in the column of a comparison",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where(clause.Eq{Column: gorm.Expr("name = 'x' OR name"), Value: "y"}).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "a fragment that closes a parenthesis it did not open",
			read: func(db *gorm.DB) error {
				// Parenthesized by GORM, "(name = 'x') OR (true)".
				return db.Where("slug = ?", "vanilla").Where("name = 'x') OR (true").Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "a fragment that leaves a NOT open",
			read: func(db *gorm.DB) error {
				return db.Where("NOT (name = 'x'").Where("slug = ?", "vanilla").Where("true)").Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "a BETWEEN that takes the next conjunct in",
			read: func(db *gorm.DB) error {
				// "id BETWEEN 0 AND id = ?": every row, on SQLite.
				return db.Where("id BETWEEN 0").Where("id = ?", 1).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
			only: "sqlite", // PostgreSQL rejects the comparison of a boolean with an integer
		},
		{
			name: "an OR in an expression type of the application's",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Where(nameOrSlug{"x"}).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "an expression type of the application's alone",
			read: func(db *gorm.DB) error {
				return db.Where(slugIs{"vanilla"}).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"}, // its text is not read: not narrowed
		},
		{
			name: "an expression type of the application's that reads another table",
			read: func(db *gorm.DB) error {
				return db.Where(inSizes{}).Find(&[]Flavor{}).Error
			},
			noStore: true,
		},
		{
			name: "an expression type of the application's in ORDER BY",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Order(clause.OrderBy{Expression: slugIs{"x"}}).Find(&[]Flavor{}).Error
			},
			drop: []string{"row:flavors:slug=vanilla"},
			keep: []string{"scan:flavors"},
		},
		{
			name: "a gorm.Valuer whose expression reads another table",
			read: func(db *gorm.DB) error {
				return db.Where("name = ?", smallestSize{}).Find(&[]Flavor{}).Error
			},
			noStore: true,
		},
		{
			name: "a subquery in a named argument",
			read: func(db *gorm.DB) error {
				return db.Where("name = @n", map[string]any{"n": gorm.Expr("(SELECT name FROM sizes LIMIT 1)")}).Find(&[]Flavor{}).Error
			},
			noStore: true,
		},
		{
			name: "IS NULL by a NULL Valuer in a map",
			read: func(db *gorm.DB) error {
				return db.Where(map[string]any{"id": sql.NullInt64{}}).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "IS NULL by a NULL Valuer in clause.Eq",
			read: func(db *gorm.DB) error {
				return db.Where(clause.Eq{Column: "slug", Value: sql.NullString{}}).Find(&[]Flavor{}).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "a Valuer with a value in a map",
			read: func(db *gorm.DB) error {
				return db.Where(map[string]any{"id": sql.NullInt64{Int64: 1, Valid: true}}).Find(&[]Flavor{}).Error
			},
			drop: []string{"row:flavors:id=1"},
			keep: []string{"scan:flavors"},
		},
		{
			name: "a table named in another case",
			read: func(db *gorm.DB) error {
				return db.Table("FLAVORS").Where("slug = ?", "vanilla").Find(&[]Flavor{}).Error
			},
			// SQLite's names ignore case: the tags are those of flavors, as writes stamp them.
			drop: []string{"row:flavors:slug=vanilla", "table:flavors"},
			keep: []string{"scan:flavors"},
			only: "sqlite", // on PostgreSQL, GORM quotes the name: another table
		},
		{
			name: "a Not by value",
			read: func(db *gorm.DB) error {
				return db.Where("slug = ?", "vanilla").Not("name = ?", "x").Find(&[]Flavor{}).Error
			},
			drop: []string{"row:flavors:slug=vanilla"},
		},
		{
			name: "Count",
			read: func(db *gorm.DB) error {
				var n int64
				return db.Model(&Flavor{}).Where("slug = ?", "vanilla").Count(&n).Error
			},
			drop: []string{"row:flavors:slug=vanilla"},
			keep: []string{"scan:flavors"},
		},
		{
			name: "Pluck",
			read: func(db *gorm.DB) error {
				var names []string
				return db.Model(&Flavor{}).Pluck("name", &names).Error
			},
			drop: []string{"scan:flavors"},
		},
		{
			name: "Row",
			read: func(db *gorm.DB) error {
				var name string
				return db.Model(&Flavor{}).Select("name").Where("id = ?", 1).Row().Scan(&name)
			},
			drop: []string{"row:flavors:id=1"},
			keep: []string{"scan:flavors"},
		},
		{
			name: "subquery",
			read: func(db *gorm.DB) error {
				sub := db.Model(&Size{}).Select("id").Where("name = ?", "Small")
				return db.Table("flavor_sizes").Where("size_id IN (?)", sub).Find(&[]map[string]any{}).Error
			},
			drop: []string{"scan:sizes", "scan:flavor_sizes"},
		},
		{
			name: "Joins",
			read: func(db *gorm.DB) error {
				return db.Model(&Flavor{}).Joins("JOIN flavor_sizes ON flavor_sizes.flavor_id = flavors.id").Find(&[]Flavor{}).Error
			},
			noStore: true, // a JOIN written in SQL: tables unknown without an Analyzer
		},
		{
			name: "association Find",
			read: func(db *gorm.DB) error {
				return db.Model(&Flavor{ID: 1}).Association("Sizes").Find(&[]Size{})
			},
			drop: []string{"scan:sizes", "scan:flavor_sizes"},
		},
		{
			name: "Raw",
			read: func(db *gorm.DB) error {
				return db.Raw("SELECT * FROM flavors WHERE id = ?", 1).Scan(&[]Flavor{}).Error
			},
			noStore: true,
		},
		{
			name: "Exec",
			read: func(db *gorm.DB) error {
				return db.Exec("UPDATE notes SET text = text WHERE id = 0").Error
			},
			noStore: true,
		},
		{
			name: "a table without a model",
			read: func(db *gorm.DB) error {
				return db.Table("notes").Where("id = ?", 1).Find(&[]map[string]any{}).Error
			},
			// notes.id is a key column: the plugin has seen the model Note on notes.
			drop: []string{"row:notes:id=1"},
			keep: []string{"scan:notes"},
		},
		{
			name: "a table the plugin knows no key of",
			read: func(db *gorm.DB) error {
				return db.Table("flavor_sizes AS fs").Where("flavor_id = ?", 1).Find(&[]map[string]any{}).Error
			},
			noStore: true, // an alias: the plugin does not read FROM fragments
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				if tt.only != "" && b.name != tt.only {
					t.Skipf("for %s only", tt.only)
				}
				e := newEnv(t, b, capture)
				get := e.page(t, tt.read)
				get()
				if tt.noStore {
					if get() {
						t.Error("the response was stored; want it kept out of the cache")
					}
					return
				}
				if !get() {
					t.Fatal("the response was not stored")
				}
				for _, tag := range tt.keep {
					if err := e.cache.InvalidateTags(t.Context(), tag); err != nil {
						t.Fatal(err)
					}
					if !get() {
						t.Errorf("invalidating %s dropped the response; want it kept", tag)
						get()
					}
				}
				for _, tag := range tt.drop {
					if err := e.cache.InvalidateTags(t.Context(), tag); err != nil {
						t.Fatal(err)
					}
					if get() {
						t.Errorf("invalidating %s kept the response; want it dropped", tag)
					}
					get()
				}
			})
		})
	}
}

// nameOrSlug is an expression type of an application's: GORM writes its text bare.
type nameOrSlug struct{ term string }

func (e nameOrSlug) Build(b clause.Builder) {
	b.WriteString("name = ")
	b.AddVar(b, e.term)
	b.WriteString(" OR slug = ")
	b.AddVar(b, e.term)
}

// slugIs is an expression type of an application's that narrows by a key.
type slugIs struct{ slug string }

func (e slugIs) Build(b clause.Builder) {
	b.WriteString("slug = ")
	b.AddVar(b, e.slug)
}

// inSizes is an expression type of an application's that reads another table.
type inSizes struct{}

func (inSizes) Build(b clause.Builder) {
	b.WriteString("id IN (SELECT flavor_id FROM flavor_sizes)")
}

// smallestSize is a gorm.Valuer whose expression reads another table.
type smallestSize struct{}

func (smallestSize) GormValue(context.Context, *gorm.DB) clause.Expr {
	return clause.Expr{SQL: "(SELECT min(name) FROM sizes)"}
}

// TestReadCaptureOff checks that NoReadCapture leaves responses with the tags their handlers
// declare, and a raw read storable.
func TestReadCaptureOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, backends[0])
	h := e.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := e.db.WithContext(r.Context()).Raw("SELECT * FROM flavors").Scan(&[]Flavor{}).Error; err != nil {
			t.Error(err)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	for i := range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/raw", nil))
		if hit := isHit(w); hit != (i == 1) {
			t.Errorf("request %d: hit %v, want %v", i, hit, i == 1)
		}
	}
}

// TestWriteStamps checks the change tags that writes stamp, with or without declarations.
func TestWriteStamps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(e *env, t *testing.T) error
		want  []string // every row and scan tag invalidated
	}{
		{"rename", func(e *env, t *testing.T) error {
			return e.db.Model(e.flavor(t, "vanilla")).Omit(clause.Associations).Update("name", "V").Error
		}, []string{"row:flavors:id=1", "row:flavors:slug=vanilla", "scan:flavors"}},
		{"change of a unique key", func(e *env, t *testing.T) error {
			return e.db.Model(e.flavor(t, "vanilla")).Omit(clause.Associations).Update("slug", "vanille").Error
		}, []string{"row:flavors:id=1", "row:flavors:slug=vanilla", "row:flavors:slug=vanille", "scan:flavors"}},
		{"create", func(e *env, t *testing.T) error {
			return e.db.Create(&Note{Text: "x"}).Error
		}, []string{"row:notes:id=2", "scan:notes"}},
		{"delete by id, model without dependencies", func(e *env, t *testing.T) error {
			return e.db.Delete(&Note{}, 1).Error
		}, []string{"row:notes:id=1", "scan:notes"}},
		{"association Append", func(e *env, t *testing.T) error {
			return e.db.Model(&Flavor{ID: 2}).Association("Sizes").Append(e.size(t, "small"))
		}, []string{"row:flavor_sizes:flavor_id=2", "row:flavor_sizes:size_id=1", "scan:flavor_sizes"}},
		{"association Delete", func(e *env, t *testing.T) error {
			return e.db.Model(&Flavor{ID: 1}).Association("Sizes").Delete(e.size(t, "small"))
		}, []string{"row:flavor_sizes:flavor_id=1", "row:flavor_sizes:size_id=1", "scan:flavor_sizes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b, capture)
				e.rec.reset()
				if err := tt.write(e, t); err != nil {
					t.Fatal(err)
				}
				_, tags := e.rec.invalidated()
				var got []string
				for _, tag := range tags {
					if isChangeTag(tag) {
						got = append(got, tag)
					}
				}
				if strings.Join(got, " ") != strings.Join(tt.want, " ") {
					t.Errorf("stamped %q, want %q", got, tt.want)
				}
			})
		})
	}
}

// TestTableTag checks that gormdumper.TableTag is dumper.TableTag.
func TestTableTagIsDumpers(t *testing.T) {
	for _, table := range []string{"ice_creams", "a b"} {
		if got, want := gormdumper.TableTag(table), dumper.TableTag(table); got != want {
			t.Errorf("TableTag(%q) = %q, want %q", table, got, want)
		}
	}
}

// tableAnalyzer is an Analyzer that knows one thing of SQL: it reads the table named.
type tableAnalyzer struct {
	table string
	seen  chan string
}

func (a tableAnalyzer) Read(ctx context.Context, sql string, _ []any) {
	a.seen <- sql
	dumper.ReadTable(ctx, a.table)
}

// TestAnalyzer checks that Options.Analyzer classifies raw SQL read in a render: the
// response is stored, with what the analyzer recorded.
func TestAnalyzer(t *testing.T) {
	t.Parallel()
	a := tableAnalyzer{table: "flavors", seen: make(chan string, 4)}
	e := newEnv(t, backends[0], func(c *envConfig) {
		c.options.NoReadCapture = false
		c.options.Analyzer = a
	})
	h := e.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := e.db.WithContext(r.Context()).Raw("SELECT * FROM flavors WHERE id = ?", 1).Scan(&[]Flavor{}).Error; err != nil {
			t.Error(err)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	get := func() bool {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/raw", nil))
		return isHit(w)
	}
	get()
	if sql := <-a.seen; !strings.HasPrefix(sql, "SELECT * FROM flavors WHERE id = ") {
		t.Errorf("analyzer saw %q", sql)
	}
	if !get() {
		t.Fatal("the response was not stored")
	}
	if err := e.cache.InvalidateTags(t.Context(), "scan:flavors"); err != nil {
		t.Fatal(err)
	}
	if get() {
		t.Error("scan:flavors kept the response; want it dropped")
	}
}
