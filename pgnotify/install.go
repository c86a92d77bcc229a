package pgnotify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Names of what Install creates. The function lives in the schema that is first on the
// search_path at install time; its name carries the version of its body, so that two
// versions of this package sharing a database do not overwrite each other's. The trigger
// names carry the channel (see triggerName).
const (
	functionName  = "dumper_pgnotify_v2"
	triggerPrefix = "dumper_pgnotify_" // + insert, update, delete, truncate, "_", channel
	newRows       = "dumper_new"       // transition tables, as the function refers to them
	oldRows       = "dumper_old"
	rowsSetting   = "dumper_pgnotify.rows" // row-level notifications sent by this transaction
	// recordedSetting is "1" in a transaction whose writer will record, in a store every
	// instance reads, what it invalidated after commit (see Commits.TxQuery).
	recordedSetting = "dumper_pgnotify.recorded"
)

// events are the four events the triggers fire on, and the transition tables each has.
var events = []struct{ event, referencing string }{
	{"INSERT", "REFERENCING NEW TABLE AS " + newRows},
	{"UPDATE", "REFERENCING OLD TABLE AS " + oldRows + " NEW TABLE AS " + newRows},
	{"DELETE", "REFERENCING OLD TABLE AS " + oldRows},
	{"TRUNCATE", ""},
}

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
// Its body must not change without a new functionName. Version 2 adds to every notification
// the id of the writing transaction ("x", txid_current_if_assigned(), which never assigns
// one) and, when the writer set recordedSetting, "r": true (see [Commits]).
//
// Arguments: channel, max rows, number of key columns, the key columns, the other columns.
const functionSQL = `CREATE OR REPLACE FUNCTION ` + functionName + `() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgnotify$
-- Installed by github.com/dumperhq/dumper/pgnotify: sends one notification per changed row,
-- or one for the whole table past max rows in the transaction, for a payload over the limit,
-- for a NULL key, or on TRUNCATE; each carries the id of the writing transaction (x), and r
-- when the writer records what it invalidated after commit.
-- Arguments: channel, max rows, number of key columns, key columns, other columns.
DECLARE
	channel  text   := TG_ARGV[0];
	max_rows int    := TG_ARGV[1];
	nkeys    int    := TG_ARGV[2];
	keys     text[] := TG_ARGV[3 : 2 + nkeys];
	cols     text[] := TG_ARGV[3 + nkeys : TG_NARGS - 1];
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
	-- Read the key and the requested columns only, never the whole row (which may hold
	-- wide values stored out of line): one row per change, with its key (k), whether a key
	-- value is NULL (z) and the columns' values (v).
	side := format('SELECT ARRAY[%s]::text[] AS k, (%s) AS z, %s AS v FROM ',
		(SELECT string_agg(format('to_jsonb(r.%I) #>> ''{}''', k), ', ' ORDER BY i) FROM unnest(keys) WITH ORDINALITY AS u(k, i)),
		(SELECT string_agg(format('r.%I IS NULL', k), ' OR ') FROM unnest(keys) AS k),
		CASE WHEN cardinality(cols) = 0 THEN 'NULL::jsonb' ELSE format('jsonb_object(%L::text[], ARRAY[%s]::text[])', cols,
			(SELECT string_agg(format('to_jsonb(r.%I) #>> ''{}''', c), ', ' ORDER BY i) FROM unnest(cols) WITH ORDINALITY AS u(c, i))) END);
	BEGIN
		IF TG_OP = 'UPDATE' THEN
			-- Pair each row's old and new versions by key; a row whose key changed comes out
			-- as two changes, one with its old values only, one with its new values only.
			EXECUTE format('SELECT bool_or(coalesce(a.z, false) OR coalesce(b.z, false)), count(a.k) FILTER (WHERE b.k IS NOT NULL),
					array_agg(jsonb_strip_nulls(jsonb_build_object(''s'', $1, ''t'', $2, ''op'', $3, ''x'', $4, ''r'', $5, ''k'', coalesce(b.k, a.k), ''o'', a.v, ''n'', b.v))::text)
				FROM (%s) AS a FULL JOIN (%s) AS b ON a.k = b.k', side || '` + oldRows + ` AS r', side || '` + newRows + ` AS r')
				USING TG_TABLE_SCHEMA, TG_TABLE_NAME, op, tx, recorded INTO nulls, matched, payloads;
		ELSE
			EXECUTE format('SELECT bool_or(x.z), 0,
					array_agg(jsonb_strip_nulls(jsonb_build_object(''s'', $1, ''t'', $2, ''op'', $3, ''x'', $4, ''r'', $5, ''k'', x.k, %L, x.v))::text)
				FROM (%s) AS x', CASE op WHEN 'I' THEN 'n' ELSE 'o' END,
				side || CASE op WHEN 'I' THEN '` + newRows + `' ELSE '` + oldRows + `' END || ' AS r')
				USING TG_TABLE_SCHEMA, TG_TABLE_NAME, op, tx, recorded INTO nulls, matched, payloads;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		-- A column dropped or renamed since the install: never fail the writer's transaction.
		RAISE WARNING 'dumper_pgnotify: %; notifying the whole table', SQLERRM;
		nulls := true;
	END;
	-- A NULL key names no row, and NULL keys pair with each other, as do the values of a key
	-- that is not unique (more pairs than rows): notify the whole table.
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

// SQL returns the SQL that installs the triggers on tables, for a migration: it creates (or
// replaces) the trigger function and, on each table, drops and recreates four statement-level
// AFTER triggers (INSERT, UPDATE, DELETE and TRUNCATE) named after the channel, so that
// applications on other channels keep theirs. Running it again is harmless, and running it
// with other options or columns updates the installation. It must run in one transaction, as
// most migration tools do; it contains no BEGIN or COMMIT. It also checks that the key and
// value columns exist (a SELECT that fails otherwise). DROP TRIGGER takes an ACCESS
// EXCLUSIVE lock on each table, which waits for the transactions that use the table (and
// makes later readers wait behind it): set a lock_timeout in the migration if that matters.
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
	b.WriteString(p.function)
	for _, t := range p.tables {
		b.WriteString(t.sql)
	}
	return b.String(), nil
}

// A plan is the SQL of an installation, in pieces, and what it leaves in the catalog so that
// Install can tell which pieces are already in place.
type plan struct {
	header       string // comment and advisory lock
	function     string // CREATE FUNCTION and its COMMENT
	functionMark string // the function's comment
	tables       []tablePlan
}

type tablePlan struct {
	qualified string            // quoted name
	sql       string            // column check, DROP, CREATE and COMMENT of the four triggers
	triggers  map[string]string // trigger name → its comment
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
	p := &plan{functionMark: mark(functionSQL)}
	p.header = fmt.Sprintf("-- dumper/pgnotify: notify channel %s of every change to %d table(s).\nSELECT pg_advisory_xact_lock(%d);\n",
		quoteIdent(o.channel), len(tables), installLock)
	p.function = functionSQL + fmt.Sprintf("COMMENT ON FUNCTION %s() IS %s;\n", functionName, quoteLiteral(p.functionMark))
	for i := range tables {
		p.tables = append(p.tables, triggersOf(&tables[i], o))
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

// triggersOf returns the check of t's columns and its four triggers.
func triggersOf(t *Table, o resolved) tablePlan {
	tp := tablePlan{qualified: t.qualified(), triggers: make(map[string]string)}
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

	var b strings.Builder
	fmt.Fprintf(&b, "\n-- %s\n", tp.qualified)
	fmt.Fprintf(&b, "SELECT %s FROM %s WHERE false;\n", strings.Join(cols, ", "), tp.qualified)
	for _, ev := range events {
		name := quoteIdent(triggerName(ev.event, o.channel))
		referencing := ev.referencing
		if referencing != "" {
			referencing += " "
		}
		create := fmt.Sprintf("CREATE TRIGGER %s AFTER %s ON %s %sFOR EACH STATEMENT EXECUTE FUNCTION %s;\n",
			name, ev.event, tp.qualified, referencing, call)
		m := mark(functionName + "\n" + create)
		tp.triggers[triggerName(ev.event, o.channel)] = m
		fmt.Fprintf(&b, "DROP TRIGGER IF EXISTS %s ON %s;\n", name, tp.qualified)
		b.WriteString(create)
		fmt.Fprintf(&b, "COMMENT ON TRIGGER %s ON %s IS %s;\n", name, tp.qualified, quoteLiteral(m))
	}
	tp.sql = b.String()
	return tp
}

// DropSQL returns the SQL that removes the triggers of opts.Channel from tables, for a
// migration that undoes [SQL]; the triggers of other channels stay. It leaves the function,
// which other tables may use; DROP FUNCTION dumper_pgnotify_v2() CASCADE removes it with
// every trigger that calls it (and dumper_pgnotify_v1(), if triggers installed by an earlier
// version of this package were upgraded, is left unused by them).
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
			fmt.Fprintf(&b, "DROP TRIGGER IF EXISTS %s ON %s;\n", quoteIdent(triggerName(ev.event, o.channel)), tables[i].qualified())
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

// missing returns the part of p that is not installed yet, or "".
func (p *plan) missing(ctx context.Context, tx pgx.Tx) (string, error) {
	var b strings.Builder
	var fn *string
	err := tx.QueryRow(ctx, `SELECT obj_description(oid, 'pg_proc') FROM pg_proc
		WHERE proname = $1 AND pronargs = 0 AND pronamespace = current_schema()::regnamespace`, functionName).Scan(&fn)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	if fn == nil || *fn != p.functionMark {
		b.WriteString(p.function)
	}
	names := make([]string, len(p.tables))
	for i, t := range p.tables {
		names[i] = t.qualified
	}
	rows, err := tx.Query(ctx, `SELECT u.i::int, t.tgname::text, coalesce(obj_description(t.oid, 'pg_trigger'), '')
		FROM unnest($1::text[]) WITH ORDINALITY AS u(name, i)
		JOIN pg_trigger AS t ON t.tgrelid = to_regclass(u.name) AND t.tgenabled IN ('O', 'A')`, names)
	if err != nil {
		return "", err
	}
	found := make([]int, len(p.tables)) // triggers in place, per table
	var i int
	var name, comment string
	_, err = pgx.ForEachRow(rows, []any{&i, &name, &comment}, func() error {
		if want, ok := p.tables[i-1].triggers[name]; ok && want == comment {
			found[i-1]++
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for i, t := range p.tables {
		if found[i] != len(t.triggers) {
			b.WriteString(t.sql)
		}
	}
	return b.String(), nil
}
