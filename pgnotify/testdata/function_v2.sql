-- Version 2 of the trigger function, as the previous release of this package installed it.
CREATE OR REPLACE FUNCTION dumper_pgnotify_v2() RETURNS trigger
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
	recorded boolean := CASE WHEN current_setting('dumper_pgnotify.recorded', true) = '1' THEN true END;
	whole    text   := jsonb_strip_nulls(jsonb_build_object('s', TG_TABLE_SCHEMA, 't', TG_TABLE_NAME, 'op', op, 'all', true, 'x', tx, 'r', recorded))::text;
	sent     int    := coalesce(nullif(current_setting('dumper_pgnotify.rows', true), ''), '0')::int;
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
		SELECT count(*) INTO n FROM (SELECT FROM dumper_old LIMIT room + 1) AS s;
	ELSE
		SELECT count(*) INTO n FROM (SELECT FROM dumper_new LIMIT room + 1) AS s;
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
				FROM (%s) AS a FULL JOIN (%s) AS b ON a.k = b.k', side || 'dumper_old AS r', side || 'dumper_new AS r')
				USING TG_TABLE_SCHEMA, TG_TABLE_NAME, op, tx, recorded INTO nulls, matched, payloads;
		ELSE
			EXECUTE format('SELECT bool_or(x.z), 0,
					array_agg(jsonb_strip_nulls(jsonb_build_object(''s'', $1, ''t'', $2, ''op'', $3, ''x'', $4, ''r'', $5, ''k'', x.k, %L, x.v))::text)
				FROM (%s) AS x', CASE op WHEN 'I' THEN 'n' ELSE 'o' END,
				side || CASE op WHEN 'I' THEN 'dumper_new' ELSE 'dumper_old' END || ' AS r')
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
	PERFORM set_config('dumper_pgnotify.rows', (sent + n)::text, true);
	-- pg_notify fails (and with it the writer's transaction) at 8000 bytes: send the
	-- table-level notification instead (PostgreSQL delivers identical ones once).
	PERFORM pg_notify(channel, CASE WHEN octet_length(p) < 8000 THEN p ELSE whole END) FROM unnest(payloads) AS p;
	RETURN NULL;
END
$pgnotify$;
