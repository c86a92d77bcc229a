package pgnotify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Names of what Install creates. The functions live in the schema that is first on the
// search_path at install time; their names carry the version of the trigger function's body,
// so that two versions of this package sharing a database do not overwrite each other's. The
// trigger names carry the channel (see triggerName).
const (
	functionName  = "dumper_pgnotify_v3"
	installerName = "dumper_pgnotify_v3_install" // creates a table's triggers, see installerSQL
	triggerPrefix = "dumper_pgnotify_"           // + insert, update, delete, truncate, "_", channel
	newRows       = "dumper_new"                 // transition tables, as the function refers to them
	oldRows       = "dumper_old"
	rowsSetting   = "dumper_pgnotify.rows" // row-level notifications sent by this transaction
	// recordedSetting is "1" in a transaction whose writer will record, in a store every
	// instance reads, what it invalidated after commit (see Commits.TxQuery).
	recordedSetting = "dumper_pgnotify.recorded"
)

// events are the four events the triggers fire on, in the order installerSQL creates them.
var events = []string{"INSERT", "UPDATE", "DELETE", "TRUNCATE"}

// lockTimeout bounds how long Install waits for a table's lock (the ACCESS EXCLUSIVE lock
// DROP TRIGGER takes on a table whose triggers must change), so that a
// deploy fails fast instead of queueing every reader of the table behind it while a long
// transaction holds the table.
const lockTimeout = "5s"

// installLock is the key of the transaction-level advisory lock the installation takes, so
// that several instances of an application starting at once install one after the other
// (concurrent CREATE OR REPLACE FUNCTION fails with "tuple concurrently updated"). It spells
// "dumper" in ASCII.
const installLock = 0x64756d706572

// functionSQL is the trigger function, the same for every table: the trigger's arguments say
// what to send. It runs once per statement, never per row (see the package documentation).
// Its body must not change without a new functionName. Version 2 added to every notification
// the id of the writing transaction ("x", txid_current_if_assigned(), which never assigns
// one) and, when the writer set recordedSetting, "r": true (see [Commits]). Version 3 adds
// to a row's notification the table's key columns ("c", found in the catalog at install
// time, see installerSQL) and their values before ("ko") and after ("kn") the change, as
// PostgreSQL prints them (::text), in the order of "c", a NULL as null; a requested column
// that is a key column is sent with the key columns only ("o" and "n" leave it out, the
// Listener puts it back: for the canonical types, to_jsonb and ::text print the same).
//
// Arguments: channel, max rows, number of Key columns, number of requested columns, the Key
// columns, the requested columns, the key columns.
const functionSQL = `CREATE OR REPLACE FUNCTION ` + functionName + `() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgnotify$
-- Installed by github.com/dumperhq/dumper/pgnotify: sends one notification per changed row,
-- or one for the whole table past max rows in the transaction, for a payload over the limit,
-- for a NULL Key, or on TRUNCATE; each carries the id of the writing transaction (x), and r
-- when the writer records what it invalidated after commit; a row's carries the values of
-- the table's key columns (c) before (ko) and after (kn).
-- Arguments: channel, max rows, number of Key columns, number of requested columns, Key
-- columns, requested columns, key columns.
DECLARE
	channel  text   := TG_ARGV[0];
	max_rows int    := TG_ARGV[1];
	nkeys    int    := TG_ARGV[2];
	ncols    int    := TG_ARGV[3];
	keys     text[] := TG_ARGV[4 : 3 + nkeys];
	cols     text[] := TG_ARGV[4 + nkeys : 3 + nkeys + ncols];
	kcols    text[] := TG_ARGV[4 + nkeys + ncols : TG_NARGS - 1];
	-- A requested column that is a key column travels once, with the key columns.
	vcols    text[] := ARRAY(SELECT c FROM unnest(cols) AS c WHERE c <> ALL (kcols));
	op       text   := left(TG_OP, 1);
	tx       bigint := txid_current_if_assigned();
	recorded boolean := CASE WHEN current_setting('` + recordedSetting + `', true) = '1' THEN true END;
	whole    text   := jsonb_strip_nulls(jsonb_build_object('s', TG_TABLE_SCHEMA, 't', TG_TABLE_NAME, 'op', op, 'all', true, 'x', tx, 'r', recorded))::text;
	sent     int    := coalesce(nullif(current_setting('` + rowsSetting + `', true), ''), '0')::int;
	room     int    := greatest(max_rows - sent, 0);
	n        bigint;
	side     text;
	nulls    boolean;
	matched  bigint;
	payloads text[];
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify(channel, whole);
		RETURN NULL;
	END IF;
	-- Count no further than the room left in this transaction: a bulk statement costs the
	-- same whatever its size, and so does a transaction of many small ones.
	IF TG_OP = 'DELETE' THEN
		SELECT count(*) INTO n FROM (SELECT FROM ` + oldRows + ` LIMIT room + 1) AS s;
	ELSE
		SELECT count(*) INTO n FROM (SELECT FROM ` + newRows + ` LIMIT room + 1) AS s;
	END IF;
	IF n = 0 THEN
		RETURN NULL;
	END IF;
	IF n > room THEN
		PERFORM pg_notify(channel, whole);
		RETURN NULL;
	END IF;
	-- Read the Key, the requested and the key columns only, never the whole row (which may
	-- hold wide values stored out of line): one row per change, with its Key (k), whether a
	-- Key value is NULL (z), the requested columns' values (v) and the key columns' (w).
	side := format('SELECT ARRAY[%s]::text[] AS k, (%s) AS z, %s AS v, %s AS w FROM ',
		(SELECT string_agg(format('to_jsonb(r.%I) #>> ''{}''', k), ', ' ORDER BY i) FROM unnest(keys) WITH ORDINALITY AS u(k, i)),
		(SELECT string_agg(format('r.%I IS NULL', k), ' OR ') FROM unnest(keys) AS k),
		CASE WHEN cardinality(vcols) = 0 THEN 'NULL::jsonb' ELSE format('jsonb_object(%L::text[], ARRAY[%s]::text[])', vcols,
			(SELECT string_agg(format('to_jsonb(r.%I) #>> ''{}''', c), ', ' ORDER BY i) FROM unnest(vcols) WITH ORDINALITY AS u(c, i))) END,
		CASE WHEN cardinality(kcols) = 0 THEN '''{}''::text[]' ELSE format('ARRAY[%s]::text[]',
			(SELECT string_agg(format('r.%I::text', c), ', ' ORDER BY i) FROM unnest(kcols) WITH ORDINALITY AS u(c, i))) END);
	BEGIN
		IF TG_OP = 'UPDATE' THEN
			-- Pair each row's old and new versions by Key; a row whose Key changed comes out
			-- as two changes, one with its old values only, one with its new values only.
			EXECUTE format('SELECT bool_or(coalesce(a.z, false) OR coalesce(b.z, false)), count(a.k) FILTER (WHERE b.k IS NOT NULL),
					array_agg(jsonb_strip_nulls(jsonb_build_object(''s'', $1, ''t'', $2, ''op'', $3, ''x'', $4, ''r'', $5, ''k'', coalesce(b.k, a.k), ''o'', a.v, ''n'', b.v,
						''c'', $6, ''ko'', a.w, ''kn'', b.w))::text)
				FROM (%s) AS a FULL JOIN (%s) AS b ON a.k = b.k', side || '` + oldRows + ` AS r', side || '` + newRows + ` AS r')
				USING TG_TABLE_SCHEMA, TG_TABLE_NAME, op, tx, recorded, coalesce(kcols, '{}') INTO nulls, matched, payloads;
		ELSE
			EXECUTE format('SELECT bool_or(x.z), 0,
					array_agg(jsonb_strip_nulls(jsonb_build_object(''s'', $1, ''t'', $2, ''op'', $3, ''x'', $4, ''r'', $5, ''k'', x.k, %L, x.v, ''c'', $6, %L, x.w))::text)
				FROM (%s) AS x', CASE op WHEN 'I' THEN 'n' ELSE 'o' END, CASE op WHEN 'I' THEN 'kn' ELSE 'ko' END,
				side || CASE op WHEN 'I' THEN '` + newRows + `' ELSE '` + oldRows + `' END || ' AS r')
				USING TG_TABLE_SCHEMA, TG_TABLE_NAME, op, tx, recorded, coalesce(kcols, '{}') INTO nulls, matched, payloads;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		-- A column dropped or renamed since the install: never fail the writer's transaction.
		RAISE WARNING 'dumper_pgnotify: %; notifying the whole table', SQLERRM;
		nulls := true;
	END;
	-- A NULL Key names no row, and NULL Keys pair with each other, as do the values of a Key
	-- that is not unique (more pairs than rows): notify the whole table. (A NULL in another
	-- key column is sent as null: no read narrowed by equality can match it.)
	IF nulls OR matched > n THEN
		PERFORM pg_notify(channel, whole);
		RETURN NULL;
	END IF;
	PERFORM set_config('` + rowsSetting + `', (sent + n)::text, true);
	-- pg_notify fails (and with it the writer's transaction) at 8000 bytes: send the
	-- table-level notification instead (PostgreSQL delivers identical ones once).
	PERFORM pg_notify(channel, CASE WHEN octet_length(p) < 8000 THEN p ELSE whole END) FROM unnest(payloads) AS p;
	RETURN NULL;
END
$pgnotify$;
`

// installerSQL is the function that installs the triggers of one table, so that a migration
// ([SQL]) and [Install] do the same: it finds the table's key columns in the catalog, builds
// the four CREATE TRIGGER statements, and runs them (after DROP TRIGGER IF EXISTS) only for
// the triggers whose comment is not the digest of that statement, or that are disabled. A
// table whose triggers are in place is only read from the catalog: no lock. It returns
// whether it changed anything. Its body must not change without a new installerName.
//
// The key columns are the columns of the table's primary key, unique constraints, unique
// indexes (partial, on expressions and INCLUDE columns too, as every reader counts them) and foreign
// keys — every column of each — of a type with one canonical text (smallint, integer,
// bigint, text, varchar with a deterministic collation, uuid: dumper.KeyKind), in the
// table's order. A column of a multi-column constraint is a key column on its own: a row tag
// says "the rows whose column holds this value", which is exact whether or not the value is
// unique (a read narrowed by that column returns only rows holding the value, so a change
// that alters its result held the value before or holds it after, and stamps that tag).
// Uniqueness only makes it likely that reads are narrowed by the column; a column the
// trigger sends that no reader narrows by costs bytes, never a miss.
//
// Arguments: channel, max rows, the table, its Key columns, its requested columns, and the
// four trigger names.
const installerSQL = `CREATE OR REPLACE FUNCTION ` + installerName + `(channel text, max_rows int, rel regclass, keys text[], cols text[], names text[]) RETURNS boolean
LANGUAGE plpgsql
AS $install$
-- Installed by github.com/dumperhq/dumper/pgnotify: (re)creates the triggers of rel that
-- differ from what they should be, with the key columns the catalog gives.
DECLARE
	events  text[] := ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'];
	refs    text[] := ARRAY['REFERENCING NEW TABLE AS ` + newRows + ` ',
		'REFERENCING OLD TABLE AS ` + oldRows + ` NEW TABLE AS ` + newRows + ` ',
		'REFERENCING OLD TABLE AS ` + oldRows + ` ', ''];
	target  text;
	fn      text := pg_catalog.format('%I.%I', pg_catalog.current_schema(), '` + functionName + `');
	kcols   text[];
	args    text;
	stmt    text;
	m       text;
	changed boolean := false;
BEGIN
	SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO target
		FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = rel;
	-- Types: int2 (21), int4 (23), int8 (20), text (25), varchar (1043), uuid (2950).
	-- collisdeterministic is read through to_jsonb: PostgreSQL 11 has no such column (and
	-- only deterministic collations).
	SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}') INTO kcols
		FROM pg_catalog.pg_attribute AS a
		WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
			AND a.atttypid IN (20, 21, 23, 25, 1043, 2950)
			AND (a.attcollation = 0 OR (SELECT coalesce((pg_catalog.to_jsonb(l) ->> 'collisdeterministic')::boolean, true)
				FROM pg_catalog.pg_collation AS l WHERE l.oid = a.attcollation))
			AND (EXISTS (SELECT FROM pg_catalog.pg_constraint AS k
					WHERE k.conrelid = rel AND k.contype IN ('p', 'u', 'f') AND a.attnum = ANY (k.conkey))
				-- Every column of every unique index, partial, on expressions or INCLUDEd
				-- alike: the readers (gormdumper's catalog, sqldumper) count them all as key
				-- columns, and a writer must send at least what any reader narrows by.
				OR EXISTS (SELECT FROM pg_catalog.pg_index AS i
					WHERE i.indrelid = rel AND i.indisunique AND a.attnum = ANY (i.indkey::int2[])));
	SELECT pg_catalog.string_agg(pg_catalog.quote_literal(x), ', ' ORDER BY i) INTO args
		FROM unnest(ARRAY[channel, max_rows::text, cardinality(keys)::text, cardinality(cols)::text] || keys || cols || kcols) WITH ORDINALITY AS u(x, i);
	FOR e IN 1..4 LOOP
		stmt := pg_catalog.format('CREATE TRIGGER %I AFTER %s ON %s %sFOR EACH STATEMENT EXECUTE FUNCTION %s(%s)',
			names[e], events[e], target, refs[e], fn, args);
		m := 'dumper/pgnotify ' || left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(stmt, 'UTF8')), 'hex'), 24);
		CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_trigger AS t
			WHERE t.tgrelid = rel AND t.tgname = names[e] AND t.tgenabled IN ('O', 'A')
				AND pg_catalog.obj_description(t.oid, 'pg_trigger') = m);
		IF NOT changed THEN
			-- The Key and requested columns must exist (the key columns do).
			EXECUTE pg_catalog.format('SELECT %s FROM %s WHERE false',
				(SELECT pg_catalog.string_agg(pg_catalog.quote_ident(x), ', ') FROM unnest(keys || cols) AS x), target);
		END IF;
		EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', names[e], target);
		EXECUTE stmt;
		EXECUTE pg_catalog.format('COMMENT ON TRIGGER %I ON %s IS %L', names[e], target, m);
		changed := true;
	END LOOP;
	RETURN changed;
END
$install$;
`

// SQL returns the SQL that installs the triggers on tables, for a migration: it creates (or
// replaces) the trigger function and the function that installs a table's triggers, then
// calls the latter for each table: it finds the table's key columns in the catalog and
// (re)creates those of the four statement-level AFTER triggers (INSERT, UPDATE, DELETE and
// TRUNCATE) that differ from what they should be, named after the channel, so that
// applications on other channels keep theirs. Running it again is harmless, and running it
// with other options or columns, or after a table's keys changed (a unique index or a
// foreign key added or dropped), updates the installation: run it again in a migration
// that changes a table's keys. It must run in one transaction, as most migration tools do;
// it contains no BEGIN or COMMIT. It also checks that the Key and requested columns exist (a
// SELECT that fails otherwise). DROP TRIGGER takes an ACCESS EXCLUSIVE lock on each table
// whose triggers change, which waits for the transactions that use the table (and makes
// later readers wait behind it): set a lock_timeout in the migration if that matters.
//
// Only Channel and MaxRows of opts matter here. Every name is quoted, so no name can inject
// SQL; names that PostgreSQL would truncate or refuse are an error.
func SQL(opts Options, tables ...Table) (string, error) {
	p, err := newPlan(opts, tables)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(p.header)
	for _, f := range p.functions {
		b.WriteString(f.sql)
	}
	for _, t := range p.tables {
		b.WriteString(t)
	}
	return b.String(), nil
}

// A plan is the SQL of an installation, in pieces, and what it leaves in the catalog so that
// Install can tell which functions are already in place.
type plan struct {
	header    string // comment and advisory lock
	functions []function
	tables    []string // the call of the installer, per table
}

// A function is the SQL that creates a function, its name and the comment it leaves on it.
type function struct {
	name, sql, mark string
}

// newPlan validates opts and tables and returns the SQL that installs them.
func newPlan(opts Options, tables []Table) (*plan, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if err := validateTables(tables); err != nil {
		return nil, err
	}
	p := &plan{}
	p.header = fmt.Sprintf("-- dumper/pgnotify: notify channel %s of every change to %d table(s).\nSELECT pg_advisory_xact_lock(%d);\n",
		quoteIdent(o.channel), len(tables), installLock)
	for _, f := range []struct{ name, args, def string }{
		{functionName, "()", functionSQL},
		{installerName, "(text, int, regclass, text[], text[], text[])", installerSQL},
	} {
		m := mark(f.def)
		p.functions = append(p.functions, function{
			name: f.name,
			sql:  f.def + fmt.Sprintf("COMMENT ON FUNCTION %s%s IS %s;\n", f.name, f.args, quoteLiteral(m)),
			mark: m,
		})
	}
	for i := range tables {
		p.tables = append(p.tables, installCall(&tables[i], o))
	}
	return p, nil
}

// mark returns the comment that identifies what def created: a digest of its text.
func mark(def string) string {
	sum := sha256.Sum256([]byte(def))
	return "dumper/pgnotify " + hex.EncodeToString(sum[:12])
}

// triggerName returns the name of the trigger of event (insert, update…) for channel: the
// channel's name in full if it fits in PostgreSQL's 63 bytes, else a digest of it.
func triggerName(event, channel string) string {
	name := triggerPrefix + strings.ToLower(event) + "_" + channel
	if len(name) > maxIdentBytes {
		sum := sha256.Sum256([]byte(channel))
		name = triggerPrefix + strings.ToLower(event) + "_" + hex.EncodeToString(sum[:12])
	}
	return name
}

// installCall returns the statement that installs t's triggers.
func installCall(t *Table, o resolved) string {
	names := make([]string, len(events))
	for i, ev := range events {
		names[i] = triggerName(ev, o.channel)
	}
	return fmt.Sprintf("\n-- %s\nSELECT %s(%s, %d, %s::regclass, %s, %s, %s);\n", t.qualified(), installerName,
		quoteLiteral(o.channel), o.maxRows, quoteLiteral(t.qualified()), textArray(t.key()), textArray(t.Columns), textArray(names))
}

// textArray returns s as an SQL text[] constant.
func textArray(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = quoteLiteral(x)
	}
	return "ARRAY[" + strings.Join(q, ", ") + "]::text[]"
}

// DropSQL returns the SQL that removes the triggers of opts.Channel from tables, for a
// migration that undoes [SQL]; the triggers of other channels stay. It leaves the functions,
// which other tables may use; DROP FUNCTION dumper_pgnotify_v3() CASCADE removes the trigger
// function with every trigger that calls it, and dumper_pgnotify_v3_install(text, int,
// regclass, text[], text[], text[]) is called only by SQL and Install (dumper_pgnotify_v1()
// and dumper_pgnotify_v2(), if triggers installed by an earlier version of this package were
// upgraded, are left unused by them).
func DropSQL(opts Options, tables ...Table) (string, error) {
	o, err := opts.resolve()
	if err != nil {
		return "", err
	}
	if err := validateTables(tables); err != nil {
		return "", err
	}
	var b strings.Builder
	for i := range tables {
		for _, ev := range events {
			fmt.Fprintf(&b, "DROP TRIGGER IF EXISTS %s ON %s;\n", quoteIdent(triggerName(ev, o.channel)), tables[i].qualified())
		}
	}
	return b.String(), nil
}

// Beginner begins a transaction: *pgx.Conn, *pgxpool.Pool and pgx.Tx (a savepoint) are
// Beginners.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Install installs what [SQL] would, in a transaction begun on db, and commits it: the
// triggers are in place on every table, or on none. It is idempotent, and safe to run from
// several instances at once (they take turns on an advisory lock).
//
// It changes only what differs from what is installed: a table whose four triggers are
// already those SQL would create (each carries a digest of its definition as its comment,
// and is enabled) is left alone, so that an application can install at every start-up
// without locking its tables. Changing a trigger takes an ACCESS EXCLUSIVE lock on its
// table, which waits for every transaction using the table while the readers that come
// after wait behind it: Install waits at most 5 seconds for any lock (lock_timeout), then
// fails, rather than stall the application's reads behind a long transaction. (Waiting for
// another instance's installation, on the advisory lock, is bounded by ctx only.)
func Install(ctx context.Context, db Beginner, opts Options, tables ...Table) error {
	p, err := newPlan(opts, tables)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// The advisory lock first: waiting for another instance's installation stalls no
		// reader, and it takes at most lockTimeout for each table it changes.
		if _, err := tx.Exec(ctx, p.header+"SET LOCAL lock_timeout = '"+lockTimeout+"';\n"); err != nil {
			return err
		}
		script, err := p.missing(ctx, tx)
		if err != nil || script == "" {
			return err
		}
		_, err = tx.Exec(ctx, script)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgnotify: install: %w", err)
	}
	return nil
}

// missing returns the part of p that may not be installed yet: the functions whose comment
// differs from their mark, and the call of the installer for every table (which changes only
// the triggers that differ).
func (p *plan) missing(ctx context.Context, tx pgx.Tx) (string, error) {
	var b strings.Builder
	for _, f := range p.functions {
		var fn *string
		err := tx.QueryRow(ctx, `SELECT obj_description(oid, 'pg_proc') FROM pg_proc
			WHERE proname = $1 AND pronamespace = current_schema()::regnamespace`, f.name).Scan(&fn)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return "", err
		}
		if fn == nil || *fn != f.mark {
			b.WriteString(f.sql)
		}
	}
	for _, t := range p.tables {
		b.WriteString(t)
	}
	return b.String(), nil
}
