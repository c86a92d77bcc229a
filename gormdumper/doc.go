// Package gormdumper ties a GORM database to a [dumper.Cache]: the pages a request renders are
// tagged with what their queries read, and every write through GORM invalidates the pages whose
// reads its rows could change (automatic dependency capture, docs/capture.md). Register it once
// and read with the request's context; handlers and models declare nothing:
//
//	cache, _ := dumper.New(dumper.Options{})
//	db.Use(gormdumper.New(cache))
//	…
//	db.WithContext(r.Context()).Preload("Sizes").Where("slug = ?", slug).First(&f)
//
// # What a read depends on
//
// A query (Find, First, Take, Last, Scan, Count, Pluck, Row, Rows, preloads, association
// Find and Count) whose Statement.Context belongs to a render ([dumper.Rendering]) tags the
// response, once GORM has built it, with:
//
//   - the rows of its table narrowed by a key column ([dumper.ReadRows]) when a top-level
//     conjunct of its WHERE is column = value or column IN (values) on one: clause.Eq and
//     clause.IN, the struct and map conditions GORM turns into them, primary-key conditions
//     (First(&f, 3), a model value with its key set), a preload's IN on the foreign key, and
//     the fragments of SQL of exactly the shapes "col = ?", "col IN ?" and "col IN (?)" with
//     one argument. Other conjuncts (soft delete's deleted_at IS NULL, a range, LIKE, ORDER
//     BY, LIMIT, GROUP BY, HAVING) narrow nothing but do not undo the narrowing;
//   - the whole table otherwise ([dumper.ReadTable]): a list, a condition on another column,
//     an OR at the top level (Or(…), or one GORM writes without parentheses: in a fragment
//     of SQL, a named one under Not or in a group of one, an argument written as SQL, an
//     expression type of the application's), a fragment of SQL that does not close what it
//     opens (a parenthesis, a quote), an IS NULL, and every query with a JOIN — each joined
//     table is read whole, the join table of an association query included;
//   - the table of every subquery (a *gorm.DB among the values), read whole.
//
// A read the plugin cannot attribute keeps the response out of the cache ([dumper.NoStore]):
// db.Raw and db.Exec (hand-written SQL), a JOIN or a FROM written in SQL (Joins("JOIN …"),
// db.Table("flavors AS f")), a subquery written in SQL or with joins, and any fragment of
// SQL in the statement (a condition, a raw Select column, an Order or Group expression) that
// could name another relation: one holding SELECT, FROM, JOIN, EXISTS, TABLE, VALUES,
// LATERAL or WITH as a word, or a call of a function other than a few pure built-ins (lower,
// upper, coalesce, count, … — see docs/capture.md). An [Analyzer]
// ([Options.Analyzer]; package gormpg's on PostgreSQL) can classify those instead. Outside a render the callbacks record
// nothing and cost a context lookup.
//
// The walk of a statement's clauses is done once per SQL text GORM builds: its outcome is kept
// (up to 4 MiB of texts and outcomes per plugin) and replayed for the next statement with the
// same text, with that statement's own arguments, since GORM binds the k-th argument to the
// k-th placeholder. An outcome is kept only when the arguments it narrows by are each equal to
// exactly one argument of the statement, and is dropped when what the plugin knows of the
// tables changes (a model seen for the first time, [Plugin.RefreshKeys]).
//
// A table's key columns are, over every model the plugin has seen on it, the primary key, the
// columns of a unique constraint or a single-column unique index, and the foreign keys of
// their relations (belongs to, has one, has many, and the two columns of a many-to-many join
// table), of a type with one canonical text ([dumper.KeyKind]): integers, uuid, and text on
// PostgreSQL and SQLite unless its type names a collation (MySQL's and SQL Server's default
// collations ignore case: text is no key there). On PostgreSQL they also include the key
// columns the database catalog has, by the rule of the SQL capture and of pgnotify's triggers
// (every column of a primary key, unique or foreign-key constraint and unique index, of type
// smallint, integer, bigint, uuid, or text or varchar with a deterministic collation), and on
// SQLite those of its schema (every column of the primary key, of a unique index and of a
// foreign key, of a declared type with integer or text affinity, or uuid): a unique index or
// a foreign key made by a migration that no model declares is a key for GORM's reads and
// writes as it is for sqldumper's and pgxdumper's reads and for raw-SQL writes. Reads are
// narrowed by the catalog's key columns only, which every writer reads before it stamps, in
// every process, whatever models it has used: a process that only writes posts stamps
// posts.author_id, which a page of an author preloading its posts is narrowed by, although
// only Author's has-many relation names it. In other dialects (MySQL) reads are narrowed only
// by the key columns of the table's own models (primary key, unique columns, belongs-to
// foreign keys), which every writer through those models knows, not by a foreign key that
// another model's has-one or has-many relation names. The catalog is read once per table,
// over the connection of the statement that first uses it; after a migration that changes a
// table's keys, call [Plugin.RefreshKeys] (or restart) in every process. On SQLite no read
// is narrowed by a text column that SQLite compares otherwise than byte-wise (a column or
// index collation other than BINARY, as COLLATE NOCASE). A value that does not convert
// exactly makes the read a scan; a NULL matches nothing.
//
// Tags name a table without its schema and, on every database but PostgreSQL (SQLite ignores
// the case of names), in lower case: db.Table("FLAVORS") on SQLite reads and is tagged as
// flavors. On PostgreSQL, where GORM quotes names, as the catalog spells it. The catalog
// read for a statement is that of the table it names, with its schema if it names one
// (db.Table("other.items"); on SQLite, a table of an attached database): a read is narrowed
// only by a key column of that table, not of a table of the same name in another schema.
//
// A read of a view depends on the tables the view reads (on PostgreSQL, from the catalog:
// it is a scan of each); a read of a materialized view, a foreign table or a SQLite view is
// not stored. A read of a table with partitions or inheritance children reads each of them
// too, narrowed as the parent's where the child has the parent's key column. [Options.NoReadCapture] turns read capture off.
//
// # What a write invalidates
//
// Every write that names its rows loads them, inside its transaction, before and/or after
// it, and stamps for each row its change tags ([dumper.ChangeTags]): the row tag of the value
// of every key column, old and new, and the table's scan tag.
//
//   - Create: the new rows. Update (Save, Updates, Update, UpdateColumn, UpdateColumns): the
//     rows as they were and as they are. Delete, soft or hard: the rows as they were, also
//     when the delete names them by conditions only (loaded first, up to 1000 of them).
//   - Many-to-many association changes (Append, Replace, Delete, Clear, and creates and saves
//     that carry associations) write the join table: each join row added or removed stamps
//     its change tags (both foreign keys). The rows GORM re-saves with ON CONFLICT DO NOTHING
//     and finds there already are not written and stamp nothing.
//   - A write that cannot name its rows stamps its table's tag ([TableTag]) (see below).
//   - What the database writes in turn: the table tag of every table a foreign-key action of
//     the write changes (ON DELETE or, for an update of a referenced column, ON UPDATE
//     CASCADE, SET NULL, SET DEFAULT; followed to any depth), from PostgreSQL's catalog or
//     SQLite's schema, and on any database those the relations of the models declare
//     (constraint:OnDelete:CASCADE, SET NULL, SET DEFAULT; followed through CASCADE);
//     [dumper.DatabaseTag] where user triggers on the write's event or rules may write any
//     table (pgnotify's notifying triggers aside; on SQLite any trigger of the table); on
//     PostgreSQL, the table tags of its inheritance children and partitions, with their
//     triggers. What the database declares is read once per table and kept until
//     [Plugin.RefreshKeys].
//
// The values of key columns that the writing model does not map (another model of the table
// declares them, or only the catalog has them) are loaded as text by the rows' primary keys,
// in the write's transaction; where they cannot be (a model without a primary key, a
// dialect other than PostgreSQL and SQLite) the write stamps the table's tag too. So does a
// write on a table whose catalog could not be read, and one whose tags were in flight while
// the table gained key columns (a model seen for the first time, [Plugin.RefreshKeys]).
//
// # Declared dependencies
//
// A model may also declare the pages that show it, as an escape hatch for what the capture
// cannot see, with a method DependentPaths and/or DependentTags returning []string or
// iter.Seq[string] (see [dumper.Dependencies]); the plugin then invalidates them too:
//
//   - Create: what each new row declares.
//   - Update: what each row declared before the write and what it declares after it, so that
//     changing a slug invalidates both the old and the new path.
//   - Delete, soft or hard: what each row declared before the delete.
//   - Association changes: for a many-to-many relation GORM writes the join table.
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
//     aside, which stamps the owner's change tags only) and invalidates nothing declared.
//
// "What a row declares" is computed on the row as it is in the database at that moment,
// loaded inside the write's transaction with its direct associations preloaded
// (clause.Associations): an IceCream whose DependentPaths lists the pages of its Sizes sees
// its Sizes even when the value passed to Update had none loaded. Model hooks such as
// AfterFind run on these loads. A model that declares nothing is loaded for its key columns
// only.
//
// # Bulk writes and table tags
//
// A write that cannot tell which rows it changes invalidates the tag [TableTag] of its table
// ("table:ice_creams"), which every captured read of the table carries:
// db.Model(&IceCream{}).Where(…).Update(…), a create from a map, an upsert whose conflict
// may be on another key than the primary key (a target of other columns or a constraint,
// SQLite's DO UPDATE without a target, MySQL's ON DUPLICATE KEY UPDATE), a create or an
// update whose modifier may replace rows (SQLite's INSERT OR REPLACE and UPDATE OR REPLACE,
// which delete the rows whose unique keys the rows written take; any modifier but IGNORE,
// OR IGNORE, OR ABORT, OR FAIL, OR ROLLBACK and MySQL's priorities), every create and
// update of an SQLite table whose definition declares the conflict clause ON CONFLICT
// REPLACE (on a column's PRIMARY KEY, UNIQUE or NOT NULL, or on a table constraint: a plain
// INSERT or UPDATE that conflicts then deletes the rows it conflicts with), writes through
// db.Table(…) without a model, an update by model value whose other conditions are not a
// conjunction (db.Model(&f).Where(…).Or(…): GORM appends its condition on the key without
// parentheses, WHERE a OR b AND id = 1, which matches other rows), bulk updates of
// join rows, and the removals of has-one and has-many association changes (Delete, Replace,
// Clear), which GORM makes as bulk updates. A delete with conditions other than the primary
// key, db.Where(…).Delete(&IceCream{}), and a delete by model value whose other conditions
// are not a conjunction, db.Or(…).Delete(&f), invalidate both the table tag and the rows
// it matches, loaded before the delete with the WHERE clause GORM builds (a row may come to match between that load and the
// delete); past 1000 such rows it invalidates the table tag alone. With read capture off, a
// page that reads a table tags its response with it itself:
//
//	dumper.Tag(r.Context(), gormdumper.TableTag("ice_creams"))
//
// Raw SQL writes (db.Exec, db.Raw) are seen at row precision through a [WriteAnalyzer] in
// [Options.Analyzer] (package gormpg, on PostgreSQL), or by pgnotify's triggers. Without one
// the plugin cannot attribute them: a statement that may write (anything but a plain SELECT,
// VALUES or WITH, SAVEPOINT and the like; on PostgreSQL, one that calls a function other
// than known built-ins that write nothing, as a health check's SELECT pg_is_in_recovery()
// or version()) stamps [dumper.DatabaseTag], which every captured read carries, when it has
// run and again after its transaction commits. Outside a transaction, a raw write whose
// rows are read after the statement, db.Raw("UPDATE … RETURNING …") with Row, Rows or Scan,
// is invalidated again once its rows are closed: the database commits it only when it has
// sent them (the plugin hands GORM rows of its own that read the database's through and see
// their Close).
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
// The rows a write loads before it (an update's, a delete's, an upsert's) are locked by
// that load on PostgreSQL (FOR NO KEY UPDATE; FOR UPDATE for a delete) and MySQL (FOR
// UPDATE), until the transaction ends: under READ COMMITTED, a write that waits for a row
// another transaction is changing writes the row as that transaction commits it, so the
// load waits for it too and sees the values the write replaces. A row another transaction
// inserts between the load and the write, which no lock holds off, makes the write change
// more rows than it loaded (its RowsAffected), and the write stamps its table's tag; so does
// a create ON CONFLICT DO NOTHING that inserts more rows than it found missing. SQLite
// serializes its writers and needs no lock. Without a transaction (SkipDefaultTransaction)
// the lock ends with the load: a row another transaction changes between the load and the
// write (a rename committed then) can keep the pages of the values it had in between. So can,
// in any case, a row another transaction inserts while an upsert by primary key runs, which
// the upsert then updates: the values it had are not known.
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
