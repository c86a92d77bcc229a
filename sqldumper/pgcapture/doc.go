// Package pgcapture classifies PostgreSQL statements for dumper's automatic dependency
// capture (docs/capture.md): it is the analyzer that the database/sql wrapper (sqldumper) and
// the pgx tracer (pgxdumper) share. Applications use those; this package is for data layers.
//
// SQL text is analysed with PostgreSQL's own parser (pg_query_go), once per distinct text
// ([Analyzer.Shape]); what the text names is then resolved against the database catalog, once
// per relation, and the result is kept until [Analyzer.Refresh]; a table that the catalog,
// read again, gives fewer key columns has its table tag invalidated once, since its writes no
// longer stamp the row tags its pages may have been read by.
//
// # Reads
//
// A read made during a render ([Analyzer.Read]) tags the response with [DatabaseTag] and, for
// each relation the statement names anywhere (FROM lists, joins, subqueries, CTEs, UNION arms,
// views' definitions, inheritance children and partitions):
//
//   - its rows by key ([dumper.ReadRows]) when a top-level conjunct of the WHERE of the
//     relation's own SELECT, or of the ON of an inner join (of the nullable side's ON for an
//     outer join), is col = v, col IN (v, …) or col = ANY(a) on one of its key columns, with v
//     a parameter or a constant (cast, if at all, to the column's own kind) and a an array
//     parameter, ARRAY[…] or array literal. A qualified column must name the relation or its
//     alias; an unqualified one narrows only if the catalog shows that exactly one relation
//     of its FROM list has that column and nothing else there (a subquery, a function, a CTE)
//     could;
//   - the whole relation otherwise ([dumper.ReadTable]).
//
// Key columns are those of a primary key, unique constraint, unique index or foreign key, of
// a type with a canonical text (integers, text and varchar of a deterministic collation,
// uuid). A view is read as its definition. Each value is canonicalized with the column's
// [dumper.KeyKind]; a value that does not convert exactly (NULL aside, which matches nothing)
// makes the read a scan, as do more than 256 values.
//
// The response is not stored ([dumper.NoStore]) when the capture cannot tell what a read
// depends on: SQL the parser rejects, a relation the catalog cannot find, a foreign table, a
// sequence, a table with row-level security, a STABLE or VOLATILE function defined outside
// pg_catalog (or unknown to the catalog), the few built-in functions that run a query or read
// a table or file by name (query_to_xml, currval…), FETCH from a cursor, CALL, DO, EXECUTE,
// schema changes, and any write: a page whose own request writes shows what it changed.
//
// Functions are assumed to read no table when they are built in or IMMUTABLE, as PostgreSQL
// requires of IMMUTABLE functions ([Options.PureFunctions] adds others); operators likewise,
// by the function that implements them. Code the statement does not name — column defaults,
// check constraints, casts, and the operators that sorting and grouping use implicitly — is
// assumed to read and write no table.
//
// # Writes
//
// A write ([Session.Done]) stamps:
//
//   - for INSERT … VALUES (no ON CONFLICT DO UPDATE, no OVERRIDING USER VALUE, which
//     gives identity columns their generated values whatever the row says) that gives every
//     key column of the table a parameter or constant in every row: [dumper.ChangeTags] of
//     each row — its row tags and the table's scan tag (a NULL key gives no row tag: it
//     matches no read);
//   - for UPDATE and DELETE whose WHERE narrows every key column of the table (top-level
//     conjuncts col = v, IN, = ANY, as for reads) and, for UPDATE, that assigns each key
//     column nothing or a parameter or constant: the row tags of every value each key
//     column may hold before and after, and the scan tag (a table whose primary key is its
//     only key: UPDATE … WHERE id = $1);
//   - for INSERT, UPDATE and DELETE whose RETURNING gives every key column of the table (and
//     that assign no key column), when the data layer sees the result ([Analyzer.Returned],
//     [Session.DoneReturned]; sqldumper does, a pgx tracer cannot): [dumper.ChangeTags] of
//     each row returned, once every row was read (the table tag otherwise);
//   - for any other INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY FROM and REFRESH
//     MATERIALIZED VIEW: the table tag of each relation written, with its inheritance
//     children and partitions, the base tables of a view, and the tables that foreign keys
//     with ON DELETE or ON UPDATE actions (and TRUNCATE … CASCADE) write in turn;
//   - a write to an inheritance child or a partition stamps, besides its own tags, those of
//     each table it is a child or a partition of, to any depth, by the same rule (its rows
//     are theirs: a reader of the parent through another layer may name them so);
//   - [DatabaseTag], which every captured read carries, for what the capture cannot
//     attribute: SQL the parser rejects, a relation the catalog cannot find, a table with
//     triggers or rules, a VOLATILE user function, CALL, DO, EXECUTE, COMMIT PREPARED, and
//     schema changes (which also refresh the catalog).
//
// Writes are found in CTEs and in EXPLAIN ANALYZE too. A key value written to a varchar(n)
// column is stamped as PostgreSQL stores it (trailing spaces past n cut). User SQL is never
// rewritten and rows are never loaded: an UPDATE or DELETE that names its rows by some keys
// only (WHERE id = $1 on a table with a unique slug too), and returns no more, stamps the
// table tag, since the other keys' values are not in the text.
package pgcapture
