package gormdumper

import (
	"slices"
	"testing"

	"github.com/dumperhq/dumper/internal/testservice"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// TestDescendantsQualified checks that the inheritance children of a table are known by
// their schemas, so that their catalogs are read for them, not for tables of the same names
// in the search_path.
func TestDescendantsQualified(t *testing.T) {
	t.Parallel()
	_, dsn := testservice.PostgresSchema(t, "gormdumper_")
	other, _ := testservice.PostgresSchema(t, "gormdumper_other_")
	db, err := gorm.Open(postgres.Open(testservice.WithParam(dsn, "connect_timeout", "5")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sqlDB.Close() }) // before the schemas are dropped
	o := `"` + other + `"`
	for _, q := range []string{
		`CREATE TABLE kids (id bigint PRIMARY KEY, slug text UNIQUE)`,
		`CREATE TABLE ` + o + `.all_kids (id bigint PRIMARY KEY, slug text UNIQUE)`,
		`CREATE TABLE ` + o + `.kids () INHERITS (` + o + `.all_kids)`,
	} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rel, err := readRelation(t.Context(), sqlDB, other+".all_kids")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{other + ".kids"}; !slices.Equal(rel.descendants, want) {
		t.Fatalf("descendants %q, want %q", rel.descendants, want)
	}
	if !slices.Contains(rel.tables, "kids") {
		t.Errorf("tables %q, want kids (bare, as tags name it) among them", rel.tables)
	}
	keys, err := readCatalogKeys(t.Context(), sqlDB, rel.descendants[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := keys["slug"]; ok || len(keys) != 0 {
		t.Errorf("key columns of the child %v, want none (the search_path's kids has id and slug)", keys)
	}
}
