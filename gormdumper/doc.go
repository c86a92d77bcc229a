// Package gormdumper invalidates the pages cached by a [dumper.Cache] when GORM writes the
// rows behind them. Register it once and write as usual; handlers and data-access code call
// nothing:
//
//	cache, _ := dumper.New(dumper.Options{})
//	db.Use(gormdumper.New(cache))
//
// # What a write invalidates
//
// A model opts in by declaring the pages that show it, with a method DependentPaths and/or
// DependentTags returning []string or iter.Seq[string] (see [dumper.Dependencies]). Models
// that declare neither are ignored, except for table tags (below).
//
//   - Create: what each new row declares.
//   - Update (Save, Updates, Update, UpdateColumn, UpdateColumns): what each row declared
//     before the write and what it declares after it, so that changing a slug invalidates both
//     the old and the new path.
//   - Delete, soft or hard: what each row declared before the delete.
//   - Association changes (Association(…).Append, Replace, Delete, Clear, and creates and
//     saves that carry associations): for a many-to-many relation GORM writes the join table.
//     A page that shows A and B together is declared by both: by A because of B (an
//     IceCream lists the page of each of its Sizes) and by B because of A (a Size lists the
//     page of each of its IceCreams). So for each join row (A, B) added or removed, the
//     plugin invalidates what A declares because of B — what A declares with its relation
//     field set to [B], less what it declares with the field empty — and the same from B's
//     side, whichever side the change is made from. What A declares regardless of B (the
//     home page listing it, the pages of its other Sizes) does not change and is not
//     invalidated; A's own page is, as B declares it because of A. A page of A that shows
//     the relation as a whole (a count of its Sizes, say) is invalidated by its changes if
//     A declares it once per related row, in the loop over its Sizes, rather than always.
//     Association(…).Append and Replace also update the owner with only the
//     association selected; that update changes no column (GORM's automatic UpdatedAt
//     aside) and invalidates nothing by itself. The rows GORM re-saves with ON CONFLICT DO
//     NOTHING, such as the associated rows and join rows that exist already, are not
//     written and invalidate nothing.
//
// A row that is deleted, with its join rows or not, invalidates everything it declared before
// the delete. So does a delete that names its rows by primary key only in its conditions,
// db.Delete(&IceCream{}, id): the plugin loads those rows, inside the transaction, first.
//
// "What a row declares" is computed on the row as it is in the database at that moment,
// loaded inside the write's transaction with its direct associations preloaded
// (clause.Associations): an IceCream whose DependentPaths lists the pages of its Sizes sees
// its Sizes even when the value passed to Update had none loaded. Each write therefore costs
// one query per table and association before and/or after it. Model hooks such as AfterFind
// run on these loads. Models that declare nothing cost nothing.
//
// # Bulk writes and table tags
//
// A write that cannot tell which rows it changes invalidates the tag [TableTag] of its table
// ("table:ice_creams"): db.Model(&IceCream{}).Where(…).Update(…), a create from a map, an
// upsert whose conflict target is not the primary key, writes through db.Table(…) without a
// model, and the removals of has-one and has-many association changes (Delete, Replace,
// Clear), which GORM makes as bulk updates. A delete with conditions other than the primary
// key, db.Where(…).Delete(&IceCream{}), invalidates both the table tag and what the rows it
// matches declare, loaded before the delete (a row may come to match between that load and
// the delete); past 1000 such rows, or for a model that declares nothing, it invalidates the
// table tag alone. A page that reads a table tags its response with it, so that such writes
// reach it:
//
//	dumper.Tag(r.Context(), gormdumper.TableTag("ice_creams"))
//
// Writes that name their rows invalidate only what those rows declare, never the table tag.
// Raw SQL (db.Exec, db.Raw) is not seen at all: call the cache's InvalidatePaths or
// InvalidateTags yourself after it, or let pgnotify's triggers see it.
//
// # Transactions
//
// Pages are invalidated when the write is made and, when it is made in a transaction, again
// once the transaction has committed. The first invalidation drops what was cached before
// the write; the second drops what a request rendered while the transaction was open, from
// data read outside it — data the commit has just made old. A transaction that rolls back
// gets no second invalidation. This holds for GORM's implicit transactions, for
// db.Transaction and Begin…Commit, and with PrepareStmt. Nested transactions (savepoints)
// join their outer transaction: their writes are invalidated again when it commits, even
// when the savepoint was rolled back (an extra invalidation is harmless).
//
// With PostgreSQL and pgnotify's Listener, give the plugin a pgnotify.Commits in front of the
// cache (a [CommitRecorder]) instead of the cache, and the Listener the same: the plugin then
// runs one more query in each transaction (before its first write, to learn the
// transaction's id), registers the transaction before COMMIT and reports after its
// invalidation after commit what it invalidated, so that the Listener does not invalidate
// those pages again when the transaction's notifications arrive.
//
// A write that fails invalidates what it knows (the rows' state before it, and its table's
// tag) in case it was partly made. In a transaction begun through the plugin this waits for
// the commit, so that a failed write in GORM's implicit transaction, which then rolls back
// (a duplicate key, say), invalidates nothing. Without a transaction it is invalidated at
// once.
//
// GORM has no after-commit callback, so [Plugin.Initialize] wraps the database's connection
// pool: transactions begun through it keep their pending invalidations (per transaction; the
// plugin has no global state) and run them when Commit returns. Commit waits for that second
// invalidation: a slow [Invalidator] slows every commit, and there is no deadline on it but
// the Invalidator's own (the Redis store has its timeout; the memory store does not wait). A
// write made in a transaction begun elsewhere — through db.Connection, or another plugin that
// swaps the pool (dbresolver) — is invalidated when it is made only, and logged at Warn
// level. A database opened over a *sql.Tx (the dialector's Conn) is such a transaction: the
// plugin leaves its pool alone, so that db.Transaction runs in it as a savepoint, and says so
// once, at Warn level, when it is registered.
//
// # Errors
//
// A failed invalidation does not fail the write, nor the commit: it is logged at Error level
// and passed to [Options.OnError], wrapping [ErrInvalidation]. The store owns that failure:
// the memory store never fails, and the Redis store keeps an invalidation it could not apply,
// retries it, and serves nothing from the cache until it is applied. Failing the writes while
// the store is down would turn a cache outage into a write outage. In a transaction, a failed
// invalidation at write time is tried again after commit.
//
// [Options.FailWrites] restores the strict policy for those who prefer failing writes to any
// risk of a stale page on other instances: a failed invalidation at write time is added to
// the write's error, which rolls back GORM's implicit transaction (without a transaction,
// SkipDefaultTransaction, the row has been written when the error is reported). An
// invalidation after commit never fails anything: Commit returns the database's answer alone,
// since the data has changed and a retry could write twice.
//
// An error loading the rows' state (a database error, in the write's transaction) fails the
// write in any case.
package gormdumper
