package pgnotify

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Names of what Install creates. The trigger names are per table; the function lives in the
// schema that is first on the search_path at install time.
const (
	functionName = "dumper_pgnotify"
	triggerName  = "dumper_pgnotify_" // + insert, update, delete, truncate
	newRows      = "dumper_new"       // transition tables, as the function refers to them
	oldRows      = "dumper_old"
)

// installLock is the key of the transaction-level advisory lock the installation takes, so
// that several instances of an application starting at once install one after the other
// (concurrent CREATE OR REPLACE FUNCTION fails with "tuple concurrently updated"). It spells
// "dumper" in ASCII.
const installLock = 0x64756d706572

// functionSQL is the trigger function, the same for every table: the trigger's arguments say
// what to send. It runs once per statement, never per row (see the package documentation).
//
// Arguments: channel, max rows, number of key columns, the key columns, the other columns.
const functionSQL = `CREATE OR REPLACE FUNCTION ` + functionName + `() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgnotify$
-- Installed by github.com/dumperhq/dumper/pgnotify: sends one notification per changed row,
-- or one for the whole table past max rows, for a payload over the limit, or on TRUNCATE.
-- Arguments: channel, max rows, number of key columns, key columns, other columns.
DECLARE
	channel  text   := TG_ARGV[0];
	max_rows int    := TG_ARGV[1];
	nkeys    int    := TG_ARGV[2];
	keys     text[] := TG_ARGV[3 : 2 + nkeys];
	cols     text[] := TG_ARGV[3 + nkeys : TG_NARGS - 1];
	op       text   := left(TG_OP, 1);
	whole    text   := json_build_object('s', TG_TABLE_SCHEMA, 't', TG_TABLE_NAME, 'op', op, 'all', true)::text;
	n        bigint;
	pairs    jsonb;
	o        jsonb;
	nw       jsonb;
	payload  text;
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify(channel, whole);
		RETURN NULL;
	END IF;
	-- Count no further than the threshold: a bulk statement costs the same whatever its size.
	IF TG_OP = 'DELETE' THEN
		SELECT count(*) INTO n FROM (SELECT FROM ` + oldRows + ` LIMIT greatest(max_rows, 0) + 1) AS s;
	ELSE
		SELECT count(*) INTO n FROM (SELECT FROM ` + newRows + ` LIMIT greatest(max_rows, 0) + 1) AS s;
	END IF;
	IF n = 0 THEN
		RETURN NULL;
	END IF;
	IF n > max_rows THEN
		PERFORM pg_notify(channel, whole);
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		SELECT jsonb_agg(jsonb_build_array(NULL, to_jsonb(r))) INTO pairs FROM ` + newRows + ` AS r;
	ELSIF TG_OP = 'DELETE' THEN
		SELECT jsonb_agg(jsonb_build_array(to_jsonb(r), NULL)) INTO pairs FROM ` + oldRows + ` AS r;
	ELSE
		-- Pair each row's old and new versions by key; a row whose key changed comes out as
		-- two changes, one with its old values only, one with its new values only.
		SELECT jsonb_agg(jsonb_build_array(a.j, b.j)) INTO pairs
		FROM (SELECT x.j, ARRAY(SELECT x.j ->> k FROM unnest(keys) WITH ORDINALITY AS u(k, i) ORDER BY i) AS key
		      FROM (SELECT to_jsonb(r) AS j FROM ` + oldRows + ` AS r) AS x) AS a
		FULL JOIN
		     (SELECT x.j, ARRAY(SELECT x.j ->> k FROM unnest(keys) WITH ORDINALITY AS u(k, i) ORDER BY i) AS key
		      FROM (SELECT to_jsonb(r) AS j FROM ` + newRows + ` AS r) AS x) AS b
		ON a.key = b.key;
	END IF;
	FOR o, nw IN SELECT nullif(p -> 0, 'null'), nullif(p -> 1, 'null') FROM jsonb_array_elements(pairs) AS p LOOP
		payload := jsonb_strip_nulls(jsonb_build_object(
			's', TG_TABLE_SCHEMA, 't', TG_TABLE_NAME, 'op', op,
			'k', (SELECT jsonb_agg(coalesce(nw, o) ->> k ORDER BY i) FROM unnest(keys) WITH ORDINALITY AS u(k, i)),
			'o', (SELECT jsonb_object_agg(c, o ->> c) FROM unnest(cols) AS c WHERE o IS NOT NULL),
			'n', (SELECT jsonb_object_agg(c, nw ->> c) FROM unnest(cols) AS c WHERE nw IS NOT NULL)))::text;
		-- pg_notify fails (and with it the writer's transaction) at 8000 bytes: send the
		-- table-level notification instead (PostgreSQL delivers identical ones once).
		IF octet_length(payload) < 8000 THEN
			PERFORM pg_notify(channel, payload);
		ELSE
			PERFORM pg_notify(channel, whole);
		END IF;
	END LOOP;
	RETURN NULL;
END
$pgnotify$;
`

// SQL returns the SQL that installs the triggers on tables, for a migration: it creates (or
// replaces) the trigger function and, on each table, drops and recreates four statement-level
// AFTER triggers (INSERT, UPDATE, DELETE and TRUNCATE). Running it again is harmless, and
// running it with other options or columns updates the installation. It must run in one
// transaction, as most migration tools do; it contains no BEGIN or COMMIT. It also checks
// that the key and value columns exist (a SELECT that fails otherwise).
//
// Only Channel and MaxRows of opts matter here. Every name is quoted, so no name can inject
// SQL; names that PostgreSQL would truncate or refuse are an error.
func SQL(opts Options, tables ...Table) (string, error) {
	o, err := opts.resolve()
	if err != nil {
		return "", err
	}
	if err := validateTables(tables); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "-- dumper/pgnotify: notify channel %s of every change to %d table(s).\n", quoteIdent(o.channel), len(tables))
	fmt.Fprintf(&b, "SELECT pg_advisory_xact_lock(%d);\n", installLock)
	b.WriteString(functionSQL)
	for i := range tables {
		writeTriggers(&b, &tables[i], o)
	}
	return b.String(), nil
}

// writeTriggers writes the check of t's columns and its four triggers.
func writeTriggers(b *strings.Builder, t *Table, o resolved) {
	table := t.qualified()
	key := t.key()
	cols := make([]string, 0, len(key)+len(t.Columns))
	args := []string{quoteLiteral(o.channel), quoteLiteral(strconv.Itoa(o.maxRows)), quoteLiteral(strconv.Itoa(len(key)))}
	for _, c := range key {
		cols = append(cols, quoteIdent(c))
		args = append(args, quoteLiteral(c))
	}
	for _, c := range t.Columns {
		cols = append(cols, quoteIdent(c))
		args = append(args, quoteLiteral(c))
	}
	call := functionName + "(" + strings.Join(args, ", ") + ")"

	fmt.Fprintf(b, "\n-- %s\n", table)
	fmt.Fprintf(b, "SELECT %s FROM %s WHERE false;\n", strings.Join(cols, ", "), table)
	for _, tr := range []struct{ event, referencing string }{
		{"INSERT", "REFERENCING NEW TABLE AS " + newRows},
		{"UPDATE", "REFERENCING OLD TABLE AS " + oldRows + " NEW TABLE AS " + newRows},
		{"DELETE", "REFERENCING OLD TABLE AS " + oldRows},
		{"TRUNCATE", ""},
	} {
		name := triggerName + strings.ToLower(tr.event)
		fmt.Fprintf(b, "DROP TRIGGER IF EXISTS %s ON %s;\n", name, table)
		if tr.referencing != "" {
			tr.referencing += " "
		}
		fmt.Fprintf(b, "CREATE TRIGGER %s AFTER %s ON %s %sFOR EACH STATEMENT EXECUTE FUNCTION %s;\n",
			name, tr.event, table, tr.referencing, call)
	}
}

// DropSQL returns the SQL that removes the triggers from tables, for a migration that undoes
// [SQL]. It leaves the function, which other tables may use; DROP FUNCTION dumper_pgnotify()
// CASCADE removes it with every trigger that calls it.
func DropSQL(tables ...Table) (string, error) {
	if err := validateTables(tables); err != nil {
		return "", err
	}
	var b strings.Builder
	for i := range tables {
		for _, event := range []string{"insert", "update", "delete", "truncate"} {
			fmt.Fprintf(&b, "DROP TRIGGER IF EXISTS %s ON %s;\n", triggerName+event, tables[i].qualified())
		}
	}
	return b.String(), nil
}

// Beginner begins a transaction: *pgx.Conn, *pgxpool.Pool and pgx.Tx (a savepoint) are
// Beginners.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Install runs [SQL] in a transaction begun on db, and commits it: the triggers are in place
// on every table, or on none. It is idempotent, and safe to run from several instances at
// once (they take turns on an advisory lock).
func Install(ctx context.Context, db Beginner, opts Options, tables ...Table) error {
	script, err := SQL(opts, tables...)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, script)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgnotify: install: %w", err)
	}
	return nil
}
