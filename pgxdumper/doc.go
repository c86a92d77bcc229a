// Package pgxdumper gives pgx users (pgxpool, sqlc with pgx) dumper's automatic dependency
// capture: set its tracer on the pool's connection configuration, pass each request's
// context to your queries, and the pages a dumper cache stores are invalidated when the rows
// they read change, with nothing declared by hand.
//
//	cache, _ := dumper.New(dumper.Options{})
//	cfg, _ := pgxpool.ParseConfig(dsn)
//	cfg.ConnConfig.Tracer = pgxdumper.NewTracer(cache, nil)
//	pool, _ := pgxpool.NewWithConfig(ctx, cfg)
//
// What a read records and a write stamps is the rule of package [pgcapture] (docs/capture.md),
// the same as for database/sql (sqldumper): the rows of a table a query looks up by key, or
// the whole table; the row tags of an INSERT … VALUES that gives every key, or the table's
// tag; [DatabaseTag] for what cannot be attributed, and no storing of a read that cannot be
// classified. Unlike sqldumper, a tracer does not see result rows, so a write is never named
// by what its RETURNING gives back. To combine it with another tracer, use pgx's multitracer
// package. Calls made on the pgconn.PgConn directly bypass pgx's tracers.
//
// # Transactions
//
// pgx sends BEGIN, COMMIT, ROLLBACK and the savepoints of nested transactions as statements
// through the tracer, which follows them per connection (the state lives with the
// connection, in its CustomData). A write is invalidated when it is made and, in a
// transaction, again when COMMIT has returned, before Commit returns to the caller; a
// rollback, and a commit that the server turned into a rollback, invalidate nothing more. A
// batch outside a transaction runs in one implicit transaction: its writes are invalidated
// as each result is read and again when the batch is closed. CopyFrom stamps its table.
//
// Named arguments (pgx.NamedArgs, pgx.StrictNamedArgs) and statements prepared with a name
// are understood; a query made with another pgx.QueryRewriter is unclassifiable.
//
// # Errors
//
// A failed invalidation goes to Options.OnError and the Logger. A tracer cannot fail the
// call it traces, so Options.FailWrites has no effect here; use sqldumper for that policy.
package pgxdumper
