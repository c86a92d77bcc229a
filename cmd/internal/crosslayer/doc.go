// Package crosslayer holds the tests of the capture across data layers (docs/capture.md): pages
// read through one layer (sqldumper's database/sql capture) and rows written through another
// (gormdumper; raw SQL seen by pgnotify's triggers) must agree on a table's key columns, which
// gormdumper learns from the PostgreSQL catalog as the others do. It has no code of its own.
package crosslayer
