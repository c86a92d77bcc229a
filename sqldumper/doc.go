// Package sqldumper gives database/sql users (plain database/sql, sqlc, sqlx) dumper's
// automatic dependency capture for PostgreSQL: open the database through it, pass each
// request's context to your queries, and the pages a dumper cache stores are invalidated when
// the rows they read change, with nothing declared by hand.
//
//	cache, _ := dumper.New(dumper.Options{})
//	db, _ := sqldumper.Open("pgx", dsn, cache, nil)
//	http.ListenAndServe(addr, cache.Middleware(site(db)))
//
// A query made with the context of a request the cache is rendering tags the response with
// what it read: the rows of a table it looked up by key (WHERE id = $1, slug IN (…),
// author_id = ANY($1)), or the whole table. A write stamps the tags its rows could change:
// the row tags of the rows it names every key of — by INSERT … VALUES, by its WHERE, or by
// what its RETURNING gives back (UPDATE … RETURNING *, as sqlc writes it, read with
// QueryRow or Query) — or the table's tag. A
// statement the capture cannot classify is never left untagged: as a read it keeps the
// response out of the cache, as a write it invalidates every captured page ([DatabaseTag]).
// The rule is in docs/capture.md and, in full, in package [pgcapture].
//
// Queries made with a context that belongs to no render (a background job, a query made
// with context.Background() inside a handler) record nothing: pass r.Context().
//
// # Transactions
//
// A write is invalidated when it is made and, in a transaction, again once the transaction
// has committed, so that a request that read the old row while the transaction was open
// cannot keep its page; a transaction that rolls back gets no second invalidation. This holds
// for transactions begun with [sql.DB.BeginTx] and for BEGIN … COMMIT sent as statements on
// one connection ([sql.Conn]). Commit returns after the second invalidation. A write outside a
// transaction whose rows are read after the query returns (UPDATE … RETURNING, with QueryRow or
// Query) is invalidated again once its rows are closed: PostgreSQL commits it only after it has
// sent its last row. A statement the server rejected changed nothing and invalidates nothing.
//
// # Errors
//
// A failed invalidation does not fail the write: it goes to [Options.OnError] and the Logger.
// [Options.FailWrites] makes the write return it (the write has been made); an invalidation
// after commit never fails the commit.
//
// # Catalog
//
// Key columns, views, partitions, foreign-key actions, triggers and user functions are read
// from the catalog, once per table, over connections of the wrapped connector (so with the
// application's search_path), and kept: schema changes made through the wrapped database
// refresh them; after a migration run elsewhere, call [Connector.Refresh] (or restart). A
// table the catalog then gives fewer key columns has its pages dropped once (its table tag),
// since writes no longer stamp the row tags of the column it lost.
//
// The capture needs PostgreSQL (it parses SQL with PostgreSQL's own parser) and a driver
// whose placeholders are $1, $2…: pgx's stdlib, lib/pq.
package sqldumper
