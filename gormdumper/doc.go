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
//     saves that carry associations): for a many-to-many relation GORM writes the join table;
//     every row on either side of a join row that is added or removed is invalidated, as it
//     is after an insert or before a delete, from whichever side the change is made. The
//     owner of the association is also updated by GORM, so what it declares before and after
//     is invalidated too.
//
// "What a row declares" is computed on the row as it is in the database at that moment,
// loaded inside the write's transaction with its direct associations preloaded
// (clause.Associations): an IceCream whose DependentPaths lists the pages of its Sizes sees
// its Sizes even when the value passed to Update had none loaded. Each write therefore costs
// one query per table and association before and/or after it. Model hooks such as AfterFind
// run on these loads.
//
// # Bulk writes and table tags
//
// A write that names no row by primary key — db.Model(&IceCream{}).Where(…).Update(…),
// db.Where(…).Delete(&IceCream{}), db.Delete(&IceCream{}, id), a create from a map, an
// upsert whose conflict target is not the primary key, writes through db.Table(…) without a
// model, and the removals of has-one and has-many association changes (Delete, Replace,
// Clear), which GORM makes as bulk updates — cannot tell which rows it changes. It invalidates the tag [TableTag] of its table instead
// ("table:ice_creams"). A page that reads a table tags its response with it, so that such
// writes reach it:
//
//	dumper.Tag(r.Context(), gormdumper.TableTag("ice_creams"))
//
// Writes that name their rows invalidate only what those rows declare, never the table tag.
// Raw SQL (db.Exec, db.Raw) is not seen at all: call the cache's InvalidatePaths or
// InvalidateTags yourself after it.
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
// GORM has no after-commit callback, so [Plugin.Initialize] wraps the database's connection
// pool: transactions begun through it keep their pending invalidations (per transaction; the
// plugin has no global state) and run them when Commit returns. A write made in a transaction
// begun elsewhere — through db.Connection, a *sql.Tx passed as the dialector's connection,
// or another plugin that swaps the pool (dbresolver) — is invalidated when it is made only,
// and logged at Warn level.
//
// # Errors
//
// A failed invalidation at write time is added to the write's error, wrapping
// [ErrInvalidation]: a page that is never invalidated stays stale forever, so the write had
// better fail. In a transaction — GORM's implicit one included — this rolls the write back.
// Without a transaction (SkipDefaultTransaction) the row has been written when the error is
// reported. An error loading the rows' state fails the write the same way.
//
// A failed invalidation after commit cannot undo the commit, and returning it from Commit
// would tell the caller that the data did not change when it did (and invite a retry that
// writes twice). It is logged at Error level and passed to [Options.AfterCommitError]; Commit
// returns the database's answer alone. The invalidation at write time has succeeded by then,
// so only pages rendered while the transaction was open may be stale.
package gormdumper
