// Package gormpg analyses the hand-written SQL of a GORM database on PostgreSQL for dumper's
// automatic dependency capture (docs/capture.md): db.Raw and db.Exec, and the queries whose JOIN
// or FROM is written in SQL, go through PostgreSQL's own parser (sqldumper's pgcapture) rather
// than keeping the page out of the cache and going unseen as writes.
//
//	sqlDB, _ := db.DB()
//	db.Use(gormdumper.NewWithOptions(cache, gormdumper.Options{Analyzer: gormpg.New(sqlDB, nil)}))
//
// Reads in a render are recorded as sqldumper records them: the rows of a table narrowed by
// = or IN on a key column of the catalog's (db.Raw("SELECT … WHERE slug = ?", s)), the whole
// table otherwise, and the page is not stored when the SQL cannot be classified. Writes
// (db.Exec("UPDATE …")) stamp what sqldumper's writes stamp: the row tags of the rows the text
// names by every key column, the table tags of the tables written otherwise, and
// [dumper.DatabaseTag] for what cannot be attributed (SQL the parser rejects, DDL, CALL…);
// gormdumper invalidates them when the statement has run and again after GORM's transaction
// commits. The SQL and its values are those GORM sends to the driver: ? placeholders bound as
// $1, $2…, IN ? expanded, SQL written with $1 passed on with its values.
//
// Outside a transaction, a write made with db.Raw(…).Row(), Rows() or Scan() (UPDATE …
// RETURNING) is invalidated when the query returns and again once its rows are closed, since
// PostgreSQL commits it only after it has sent its last row. Transaction statements in the SQL
// text (db.Exec("BEGIN")) are not followed.
//
// It is a package of its own, not part of gormdumper, because the parser is C code (cgo):
// gormdumper stays a pure Go package for SQLite and MySQL users.
package gormpg
