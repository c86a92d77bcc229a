// Package pgnotify invalidates the pages cached by a [dumper.Cache] when rows change in
// PostgreSQL, whoever changes them: raw SQL, bulk statements, migrations, cron jobs, other
// services, a psql session. Triggers send a notification (NOTIFY) for every committed change;
// a [Listener] turns each into the tags of the reads it could change — at row precision, with
// nothing to declare — and any paths and tags a [Table.Map] adds.
//
//	tables := []pgnotify.Table{
//		{Name: "ice_creams"},
//		{Name: "ice_cream_sizes", Key: []string{"ice_cream_id", "size_id"}},
//	}
//	err := pgnotify.Install(ctx, conn, pgnotify.Options{}, tables...) // or SQL(…) in a migration
//	listener, err := pgnotify.NewListener(connConfig, pgnotify.Options{}, tables...)
//	cache, err := dumper.New(dumper.Options{Policy: dumper.Policy{Ignore: listener.Ignore}})
//	commits, err := pgnotify.NewCommits(cache, pgnotify.CommitsOptions{}) // see below
//	db.Use(gormdumper.New(commits))
//	go listener.Run(ctx, commits)
//
// # Automatic tags
//
// The triggers send, with each changed row, the old and the new value of every key column of
// the table: the columns of its primary key, unique constraints, plain unique indexes and
// foreign keys, of a type with one canonical text (integers, text and varchar with a
// deterministic collation, uuid), which [Install] and [SQL] find in the catalog. The Listener
// invalidates, for each row, [dumper.ChangeTags]: the row tags of those values and the table's
// scan tag, the tags that dependency capture (gormdumper's reads, docs/capture.md) puts on
// every read narrowed by a key column or not narrowed at all. So a raw UPDATE of one row drops
// the pages that read that row, by any of its keys, or scanned the table, and keeps the
// others. A NULL in a key column is left out (no read narrowed by equality matches it). The
// table's partitions, inheritance children and parents get the change's tags under their
// own names too (see Inheritance and partitions below). Pages not tagged by capture need a
// [Table.Map] (paths, hand-made tags), which adds to the automatic tags, never replaces them. The readers' key columns must be among those the
// triggers send: install again when a table's keys change (Install at every start-up does),
// or a read narrowed by the new key is not reached by raw SQL.
//
// It adds coverage to an application's own invalidation (package gormdumper), it does not
// replace it: writes made through the application are invalidated synchronously, before they
// return, and stay never stale; writes seen only through NOTIFY are invalidated a few
// milliseconds after they commit (docs/postgres.md has measurements).
//
// # Writes made through the application
//
// A write made through the application is seen twice: gormdumper invalidates its pages after
// COMMIT, before the write returns, and its notification arrives a few milliseconds later. A
// page requested in between is rendered and stored, then dropped by the notification and
// rendered again. [Commits] removes the second invalidation, exactly: give the same Commits,
// in front of the cache, to gormdumper.New and to [Listener.Run]. The plugin names each of its
// transactions ([Commits.TxQuery], one query before the transaction's first write), registers
// it before COMMIT and reports after its invalidation after commit what that invalidated; the
// triggers add the transaction's id to every notification, which PostgreSQL delivers with
// the writing backend's process id. The Listener leaves out of a change only the paths and tags the plugin
// invalidated after that transaction's commit (as a set: order and repetitions do not matter,
// and a covered table tag covers the table's row and scan tags): gormdumper stamps
// dumper.ChangeTags for the rows it writes and the Listener computes the same for the same
// rows, so the change is left out when both see the same key columns (if the GORM schema's
// differ from the catalog's, the change is simply applied again). What the change maps to
// beyond them (a row written by raw SQL in the same transaction) is invalidated as usual, and so is everything of a
// transaction whose invalidation failed, that the plugin did not make, or whose report is
// late. A notification that arrives before the report waits for it, at most
// [CommitsOptions.Wait] (100 ms by default), then is invalidated in full; meanwhile the
// notifications behind it wait too (the Listener processes them in order), so a writer that
// dies between COMMIT and its report delays the invalidation of the changes committed right
// after it by that much (once per such transaction). With several instances, [CommitsOptions.Shared] (the Redis
// store) shares the reports, so that each instance's Listener leaves out the others' writes
// too; changes made outside the application are still invalidated by every instance's
// Listener, once each.
//
// A transaction is named by the writing backend's process id and its transaction id
// ("pid:txid"), which are unique within one PostgreSQL cluster only: two clusters (shards,
// or two databases' servers behind one cache) reuse the same small numbers. A Commits, and
// the records in its Shared store, must therefore serve the writes of one cluster: were a
// transaction of one taken for another cluster's, its changes would be left out although
// nothing invalidated them. With several clusters, give each its own Commits (its plugin
// and its Listener), with Shared nil unless each has a Shared store of its own.
//
// # What PostgreSQL guarantees, and what it costs
//
// NOTIFY is transactional: a notification is delivered when its transaction commits, in
// commit order, and never if it rolls back. So a Listener invalidates exactly the committed
// changes, after they are visible to the requests that re-render the pages. PostgreSQL drops
// a notification identical to one already sent in the same transaction; the triggers rely on
// it for table-level notifications.
//
// The triggers are statement-level AFTER triggers (one per event, since PostgreSQL forbids
// transition tables on a trigger with several events, plus one for TRUNCATE), each calling
// one function, dumper_pgnotify_v3 (the version is in the name, so that two versions of this
// package sharing a database keep their own; Install moves a table's triggers from an
// earlier version's function, v1 or v2, to this one, and leaves that function in place; a
// notification of an earlier version, which carries no key columns, is applied as before:
// Map, or the table's tag for a table without Map). A statement
// that changes up to
// [Options.MaxRows] rows (100 by default) sends one notification per row: schema, table,
// operation, Key, the values of the requested columns and of the key columns before and
// after, as compact JSON (a requested column that is a key column travels once), with the id
// of the writing transaction (see [Commits]). The function reads only those columns from the
// transition tables, never the whole row, so a wide column the notification does not carry (a 1 MB
// body) costs it nothing. A statement that changes more sends a single table-level
// notification, so a bulk UPDATE of 10,000 rows costs the writer one count that stops at
// MaxRows + 1 and one NOTIFY (the transition tables that let the trigger see the rows are the
// main cost, see docs/postgres.md), and costs the cache one invalidation. MaxRows also bounds a
// transaction: once its statements have sent MaxRows row-level notifications (a
// transaction-local counter, dumper_pgnotify.rows), the next ones send the table-level
// notification, so a loop of 10,000 single-row UPDATEs sends MaxRows notifications and one
// more, not 10,000. A row whose notification would exceed PostgreSQL's limit (8000 bytes,
// where NOTIFY would fail and take the writer's transaction with it) is sent as a
// table-level notification too, and so is TRUNCATE, a statement that changes a row whose
// [Table.Key] holds a NULL (its columns should be NOT NULL), and a statement the function cannot
// read (a notified column dropped since the install: it warns, and never fails the
// writer). A table-level change invalidates the table's tag ([Options.TableTag], "table:" +
// name, as [dumper.TableTag]), which every read tagged by capture carries.
//
// # What the triggers cannot see
//
// Triggers fire for the statements that change the table they are on, in a session whose
// session_replication_role is origin (the default), and nothing else:
//
//   - session_replication_role = replica (pg_restore --disable-triggers, some replication
//     and bulk-load tools) skips them: enable them with ALTER TABLE … ENABLE ALWAYS TRIGGER
//     (Install keeps that setting while the triggers need no change), or invalidate by hand
//     after such a load;
//   - logical replication applies changes on a subscriber as replica: likewise;
//   - a statement other than TRUNCATE fires the triggers of the table it names only, not
//     those of its partitions or inheritance children (the Listener stamps their tags, see
//     Inheritance and partitions): a
//     statement that names a partition or a child directly is heard only if that table has
//     the triggers too, so list each one that anything writes to directly as its own Table
//     (with the same Map);
//   - DDL that moves rows from table to table (ATTACH and DETACH PARTITION, ALTER TABLE …
//     INHERIT and NO INHERIT) changes what reads of the parent return and notifies nothing:
//     invalidate the tables' tags by hand after it;
//   - the triggers follow a table that is renamed, but the notifications then carry its new
//     name, which the Listener does not know: rename the Table too, and install again;
//   - ALTER TABLE … DISABLE TRIGGER silences them (Install enables them again).
//
// The notification queue is shared by the whole server (8 GB by default); a transaction
// fails at commit if it is full, which happens only when a session that LISTENs stops
// reading, or a very long transaction holds the queue's tail. The Listener reads
// continuously.
//
// # Inheritance and partitions
//
// A statement that names a partitioned table or a table with inheritance children fires that
// table's triggers only, yet its rows may be the partitions' or the children's, which a page
// that reads a partition or a child by its own name carries the tags of (as gormdumper and
// the SQL capture tag a read of events_2024); and a child's rows are its parents' rows, which
// a page that reads a parent by the parent's name carries the tags of. So the Listener
// stamps every change on the table's relatives too: its partitions and inheritance children,
// to any depth, and every table that it or one of those is a partition or a child of, to any
// depth. The notification cannot say which of them holds the row (PostgreSQL's transition
// tables do not carry it), so each relative gets the change's automatic tags under its own
// name — the row tags of the change's key values and its scan tag, which are exact since a
// relative's inherited columns have the table's types: a partition has its parent's keys,
// an inheritance child only those it declares (a read narrowed by a column that is no key of
// the child is a scan of it) — or its table tag when the relative has a key column whose
// value the notification does not carry (an inheritance child's own unique column, a unique
// index on one partition only). A table-level change, TRUNCATE, and a burst invalidate each
// relative's table tag, and so does a batch whose row-level changes of a table, times its
// relatives, exceed 4096 (a table with a thousand partitions must not turn a batch into
// millions of tags). Map is not called for the relatives.
//
// The relatives come from pg_inherits, read on the Listener's connection when a change
// arrives: a notification is delivered after its transaction commits, so the read sees every
// partition the statement could write, one created a second before included. A read serves
// the changes of every transaction its snapshot shows committed, so it costs one catalog
// query per notification that arrives after the previous read began (one per transaction in
// a trickle of writes, fewer under load), not one per row.
//
// # Installation
//
// [Install] runs the SQL that [SQL] returns in one transaction: CREATE OR REPLACE FUNCTION
// for the trigger function and for its installer (dumper_pgnotify_v3_install), then a call of
// the installer for each table, which finds the table's key columns in the catalog and runs
// DROP TRIGGER IF EXISTS and CREATE TRIGGER for each event, after a check that the named
// columns exist — but only for what is not installed already: each trigger and function
// carries a digest of its definition (key columns included) as its comment, and a table
// whose four triggers match is left alone. So an application can install at every start-up without
// taking the ACCESS EXCLUSIVE lock DROP TRIGGER needs; when a table's triggers must change,
// Install waits at most 5 s for that lock (lock_timeout) and then fails, rather than queue
// every reader of the table behind a long transaction. Running it with other columns or
// options updates the triggers. An advisory lock lets several instances install at start-up
// at once. Put the text of SQL in a migration instead if the application may not run DDL
// ([DropSQL] undoes it). The trigger names carry the channel, so applications on other
// channels keep their own triggers on a shared table. Every name is quoted, and names
// PostgreSQL would truncate are refused. The function is created in the first schema of the
// search_path and pins its own search_path, so writers with any search_path run it the same
// way. PostgreSQL 11 or later is required.
//
// # Listening
//
// A Listener holds one connection of its own (LISTEN belongs to a session; a pooled
// connection would be handed to other code), on which it also reads the relatives, waits for
// notifications, and hands them to a second goroutine that invalidates them: what arrives while an invalidation is under way is
// invalidated together, in one call for paths and one for tags. A row-level change
// invalidates its automatic tags and what its table's [Table.Map] gives; a Map that fails
// makes the table's tag invalidated instead, which is never wrong, only wider; so is a batch
// holding more than MaxRows changes of one table, which invalidates the table's tag instead
// of mapping each (Map may query the
// database: a burst must not delay the changes behind it). A notification that cannot be
// decoded but names one of the tables invalidates that table's tag; any other is logged and
// ignored.
//
// Notifications sent while the Listener is disconnected are lost, and a page cached then may
// be stale. So when the connection is lost — or checked and found dead after
// [Options.PingInterval] of silence (a ping unanswered within 1 s), or an invalidation fails
// — [Listener.Live] turns false at once, and the Listener reconnects with exponential backoff
// and jitter (which starts over only after a connection has stayed up for 10 s). Once LISTEN has
// succeeded again, every change from then on will be heard; it then invalidates the tag of
// every table and of each of its relatives, which drops whatever the missed changes made stale (the cache's logical clock
// also condemns pages rendered before that invalidation and stored after it), and only then
// reports Live again. While Live is false the application should not trust the cache:
// [Listener.Ignore], set as [dumper.Policy.Ignore], makes the cache neither serve nor store
// pages meanwhile, so the site stays correct, only slower, during an outage of the listener.
//
// A Listener has no package-level state and starts no goroutine before [Listener.Run], which
// stops all of them before it returns.
package pgnotify
