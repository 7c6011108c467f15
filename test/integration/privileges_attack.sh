#!/usr/bin/env bash
# The attacks of the privilege review, replayed from real LOGIN roles (never
# SET ROLE): pa_bob holds mf_trainer, pa_carol holds mf_trainer, pa_dave holds
# mf_reader, pa_mallory holds nothing. None of them may become superuser, write
# the catalog directly, act on another's model, read another's training data
# or make a source run with rights its author does not have.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
ROLES="pa_bob pa_carol pa_dave pa_mallory"

# Drop the test roles and what they own (also at exit).
cleanup() {
	sql "SELECT mf_drop_model(name) FROM mf.models WHERE name IN ('pa_e1', 'pa_e3', 'pa_e4', 'pa_m1', 'pa_m2', 'pa_carols', 'pa_leaky')" || true
	drop_roles $ROLES
	sql "DROP SCHEMA IF EXISTS pa_sales CASCADE; DROP TABLE IF EXISTS public.pa_t, public.pa_sec_data;
	     DROP FUNCTION IF EXISTS public.dba_train(text)" || true
}
trap cleanup EXIT
cleanup

# No test role may be superuser.
no_superuser() {
	[ "$(q "SELECT count(*) FROM pg_roles WHERE rolname IN ('pa_bob', 'pa_carol', 'pa_dave', 'pa_mallory') AND rolsuper")" = 0 ] ||
		fail "a test role became superuser: $(q "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolsuper")"
}

sql "CREATE ROLE pa_bob LOGIN; CREATE ROLE pa_carol LOGIN; CREATE ROLE pa_dave LOGIN; CREATE ROLE pa_mallory LOGIN;
     GRANT mf_trainer TO pa_bob, pa_carol; GRANT mf_reader TO pa_dave;
     CREATE SCHEMA pa_bob AUTHORIZATION pa_bob;"
as pa_bob "CREATE TABLE pa_bob.data AS SELECT i::float8 AS x, (i % 7)::float8 AS y, (i % 3 = 0)::int::text AS label,
                 CASE WHEN i % 2 = 0 THEN 'SSN-' || (100000 + i) ELSE 'SSN-0' END AS ssn
          FROM generate_series(1, 400) i;
        CREATE TABLE pa_bob.seen (who name);
        CREATE FUNCTION pa_bob.pwn() RETURNS float8 LANGUAGE plpgsql AS \$\$
        BEGIN INSERT INTO pa_bob.seen VALUES (current_user);
              IF current_user <> 'pa_bob' THEN EXECUTE 'ALTER ROLE pa_bob SUPERUSER'; END IF; RETURN 1; END \$\$;" >/dev/null

# A trainer does the whole quickstart on its own models.
as pa_bob "SELECT mf_create_model('{\"name\": \"pa_e1\", \"family\": \"linear_regression\"}')" >/dev/null
as pa_bob "SELECT mf_train('pa_e1', 'SELECT x, y FROM pa_bob.data', 'y')" >/dev/null
as pa_bob "SELECT mf_set_stage('pa_e1:1.0.0', 'production'); SELECT mf_set_alias('pa_e1:1.0.0', 'champion');
        SELECT mf_register_model('pa_e1', tags => ARRAY['t'], metrics => '{\"r2\": 0.5}')" >/dev/null
[ "$(as pa_bob "SELECT count(*) FROM mf_search_models(tags => ARRAY['t'])")" = 1 ] || fail "pa_bob cannot search his model"
[ -n "$(as pa_bob "SELECT mf_predict('pa_e1', ARRAY[3.0])")" ] || fail "pa_bob cannot predict"
id="$(as pa_bob "SELECT mf_train_async('pa_e1', 'SELECT x, y FROM pa_bob.data', 'y')")"
[ "$(as pa_bob "SELECT (mf_wait($id, '60 s')).status")" = succeeded ] || fail "pa_bob's job $id: $(job "$id" "status || ' ' || coalesce(error, '')")"
[ "$(as pa_bob "SELECT mf_drop_model('pa_e1')")" = "" ] || true
pass "a role holding mf_trainer creates, trains, promotes, predicts, queues and drops its own model"
[ "$(q "SELECT count(*) FROM mf.events WHERE model_name = 'pa_e1' AND actor <> 'pa_bob'")" = 0 ] ||
	fail "events of pa_bob's model name another actor: $(q "SELECT string_agg(DISTINCT actor, ',') FROM mf.events WHERE model_name = 'pa_e1'")"
pass "every event of pa_bob's model names pa_bob"

# 1. Promotion evaluates the job's source as its author, never as the worker.
as pa_bob "SELECT mf_create_model('{\"name\": \"pa_e3\", \"family\": \"linear_regression\"}');
        SELECT mf_train('pa_e3', 'SELECT x, y, pa_bob.pwn() AS z FROM pa_bob.data', 'y');
        SELECT mf_set_stage('pa_e3:1.0.0', 'production')" >/dev/null
id="$(as pa_bob "SELECT mf_retrain('pa_e3', '{\"promote\": \"if_better\"}')")"
[ "$(as pa_bob "SELECT (mf_wait($id, '60 s')).status")" = succeeded ] || fail "retrain job $id: $(job "$id" "status || ' ' || coalesce(error, '')")"
[ "$(job "$id" "result #>> '{promotion,same_test_split}'")" = true ] || fail "promotion did not evaluate: $(job "$id" result)"
id="$(q "SELECT mf_retrain('pa_e3', '{\"promote\": \"if_better\"}')")"
[ "$(q "SELECT (mf_wait($id, '60 s')).status")" = succeeded ] || fail "superuser's retrain job $id: $(job "$id" "status || ' ' || coalesce(error, '')")"
no_superuser
[ "$(q "SELECT string_agg(DISTINCT who, ',') FROM pa_bob.seen")" = pa_bob ] ||
	fail "pa_bob's source ran as $(q "SELECT string_agg(DISTINCT who, ',') FROM pa_bob.seen")"
pass "pa_bob's source ran only as pa_bob: in his session, in the worker, at promotion, and when a superuser retrained"

# 2. Identity is never data: the catalog tables are not writable, not even by trainers.
refused pa_bob "INSERT INTO mf.jobs (version_id, source, target, queued_by, run_as, search_path)
             SELECT version_id, 'SELECT x, y, pa_bob.pwn() AS z FROM pa_bob.data', 'y', 'postgres', 'postgres', 'public'
               FROM mf.catalog WHERE ref = 'pa_e3:1.0.0'" 42501 "a trainer cannot insert a job"
refused pa_bob "UPDATE mf.jobs SET queued_by = 'postgres'" 42501 "a trainer cannot re-own a job"
# 3. A stored training_spec cannot be rewritten.
refused pa_bob "UPDATE mf.model_versions SET training_spec = jsonb_set(training_spec, '{source}', '\"x\"')" 42501 \
	"a trainer cannot rewrite a training_spec"
# 5. Artifacts are written only by the extension.
refused pa_bob "UPDATE mf.artifacts SET bytes = '\\x00'" 42501 "a trainer cannot rewrite an artifact"
refused pa_bob "SELECT bytes FROM mf.artifacts" 42501 "a trainer cannot read weights directly"
# 8. Audit and ownership.
refused pa_bob "INSERT INTO mf.events (actor, action, model_name) VALUES ('postgres', 'register', 'x')" 42501 "a trainer cannot forge events"
refused pa_bob "DELETE FROM mf.models WHERE name = 'pa_e3'" 42501 "a trainer cannot delete a model through the table"
as pa_carol "SELECT mf_create_model('{\"name\": \"pa_carols\", \"family\": \"kmeans\", \"k\": 2}')" >/dev/null
refused pa_bob "SELECT mf_drop_model('pa_carols')" 42501 "a trainer cannot drop another's model"
refused pa_bob "SELECT mf_set_stage('pa_carols:1.0.0', 'archived')" 42501 "a trainer cannot change another's stage"
refused pa_bob "SELECT mf_register_model('pa_carols', tags => ARRAY['mine'])" 42501 "a trainer cannot tag another's model"
refused pa_bob "SELECT mf_create_version('pa_carols', '{}', '{\"k\": 3}')" 42501 "a trainer cannot version another's model"
refused pa_bob "SELECT mf_create_model('{\"name\": \"pa_carols\", \"family\": \"kmeans\", \"k\": 5}')" 42501 \
	"a trainer cannot add a version to another's model by creating it again"
refused pa_dave "SELECT mf_create_model('{\"name\": \"daves\", \"family\": \"kmeans\", \"k\": 2}')" 42501 "a reader cannot create models"
q "GRANT pa_carol TO pa_bob" >/dev/null
as pa_bob "SELECT mf_register_model('pa_carols', tags => ARRAY['shared'])" >/dev/null
pass "membership in the owner role counts"
q "SELECT mf_drop_model('pa_carols')" >/dev/null
pass "mf_admin (a superuser here) may drop any model"
refused pa_mallory "SELECT * FROM mf.model_versions" 42501 "a role without grants reads no catalog"
refused pa_mallory "SELECT mf_get_model('pa_e3')" 42501 "a role without grants gets no model"
refused pa_mallory "SELECT mf_predict('pa_e3', ARRAY[1.0, 1.0])" 42501 "a role without grants cannot predict"
# A mistyped reference: "did you mean" names other models only to roles that may read the catalog.
out="$(PGUSER=pa_dave "$PG_BIN/psql" -X -q -tA -c "SELECT mf_get_model('pa_e')" 2>&1)" && fail "mf_get_model('pa_e') accepted"
echo "$out" | grep -q 'HINT:  Did you mean "pa_e[134]"?' || fail "a reader gets no suggestion for a mistyped model: $out"
out="$(PGUSER=pa_mallory "$PG_BIN/psql" -X -q -tA -c "SELECT mf_train('pa_e', 'SELECT 1 AS y', 'y')" 2>&1)" &&
	fail "mf_train('pa_e') accepted as pa_mallory"
echo "$out" | grep -q 'model "pa_e" does not exist' || fail "pa_mallory's mistyped reference: $out"
echo "$out" | grep -q 'pa_e[134]' && fail "a role without grants is told other model names: $out"
pass "a mistyped reference is answered with a suggestion for readers, with no other name for roles without grants"

# 7. Training data is not published: raw categories only for the owner and mf_admin.
as pa_bob "SELECT mf_create_model('{\"name\": \"pa_leaky\", \"family\": \"logistic_regression\"}');
        SELECT mf_train('pa_leaky', 'SELECT x, ssn, label FROM pa_bob.data', 'label')" >/dev/null
[ "$(as pa_bob "SELECT mf_get_model('pa_leaky') #>> '{feature_schema,columns,1,categories,0}'")" != "" ] ||
	fail "the owner does not see the categories"
[ "$(as pa_dave "SELECT mf_get_model('pa_leaky')::text LIKE '%SSN-1%'")" = f ] || fail "a reader sees raw categories"
[ "$(as pa_dave "SELECT mf_get_model('pa_leaky') #>> '{training_spec,source}'")" = "" ] || fail "a reader sees the source"
refused pa_dave "SELECT feature_schema FROM mf.model_versions" 42501 "a reader cannot select feature_schema"
refused pa_dave "SELECT source FROM mf.jobs" 42501 "a reader cannot select job sources"
[ -n "$(as pa_dave "SELECT mf_predict_label('pa_leaky', ARRAY[1.0] || array_fill(0.0::float8, ARRAY[(mf_get_model('pa_leaky') #>> '{feature_schema,n_features}')::int - 1]))")" ] ||
	fail "a reader cannot predict"
pass "a reader predicts and reads the catalog without the training data"

# 4. Fixed search_path: a DBA's SECURITY DEFINER wrapper is not hijacked.
q "CREATE TABLE public.pa_sec_data AS SELECT * FROM pa_bob.data;
   CREATE FUNCTION public.dba_train(m text) RETURNS text LANGUAGE sql SECURITY DEFINER AS
   \$\$ SELECT mf_train(m, 'public.pa_sec_data', 'y', '{\"features\": [\"x\"]}') \$\$;
   GRANT EXECUTE ON FUNCTION public.dba_train(text) TO pa_bob" >/dev/null
as pa_bob "CREATE FUNCTION pa_bob.mf_create_version(text, text[], jsonb) RETURNS text LANGUAGE plpgsql AS
        \$\$ BEGIN EXECUTE 'ALTER ROLE pa_bob SUPERUSER'; RETURN 'x'; END \$\$;
        CREATE FUNCTION pa_bob._create_version(text, text[], jsonb) RETURNS text LANGUAGE plpgsql AS
        \$\$ BEGIN EXECUTE 'ALTER ROLE pa_bob SUPERUSER'; RETURN 'x'; END \$\$;
        CREATE FUNCTION pa_bob._resolve(text) RETURNS record LANGUAGE plpgsql AS
        \$\$ BEGIN EXECUTE 'ALTER ROLE pa_bob SUPERUSER'; RETURN NULL; END \$\$" >/dev/null
PGUSER=pa_bob PGOPTIONS='-c search_path=pa_bob,public' q "SELECT public.dba_train('pa_e3')" >/dev/null
no_superuser
pass "functions of the caller's search_path are never called by mf_ext's own functions"
[ "$(q "SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
          JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mf_ext' JOIN pg_language l ON l.oid = p.prolang
         WHERE l.lanname IN ('sql', 'plpgsql') AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, mf, pg_temp'], false)")" = 0 ] ||
	fail "an SQL or PL/pgSQL function of mf_ext has no fixed search_path"
pass "every SQL and PL/pgSQL function of mf_ext has a fixed search_path"

# 6. Sources mean the same everywhere: the session's search_path, captured at queue time.
q "CREATE SCHEMA pa_sales; GRANT USAGE ON SCHEMA pa_sales TO pa_bob;
   CREATE TABLE pa_sales.pa_t AS SELECT i::float8 AS x, (2 * i)::float8 AS y FROM generate_series(1, 300) i;
   CREATE TABLE public.pa_t AS SELECT i::float8 AS x, (3 * i)::float8 AS y FROM generate_series(1, 100) i;
   GRANT SELECT ON pa_sales.pa_t, public.pa_t TO pa_bob" >/dev/null
as pa_bob "SELECT mf_create_model('{\"name\": \"pa_m1\", \"family\": \"linear_regression\"}');
        SELECT mf_create_model('{\"name\": \"pa_m2\", \"family\": \"linear_regression\"}')" >/dev/null
PGUSER=pa_bob PGOPTIONS='-c search_path=pa_sales,public' q "SELECT mf_train('pa_m1', 'pa_t', 'y')" >/dev/null
id="$(PGUSER=pa_bob PGOPTIONS='-c search_path=pa_sales,public' q "SELECT mf_train_async('pa_m2', 'pa_t', 'y')")"
[ "$(as pa_bob "SELECT (mf_wait($id, '60 s')).status")" = succeeded ] || fail "job $id: $(job "$id" "status || ' ' || coalesce(error, '')")"
rows() { q "SELECT (metrics ->> 'train_rows')::int + (metrics ->> 'test_rows')::int FROM mf.catalog WHERE ref = '$1'"; }
[ "$(rows pa_m1:1.0.0)" = 300 ] && [ "$(rows pa_m2:1.0.0)" = 300 ] || fail "sync read $(rows pa_m1:1.0.0) rows, async $(rows pa_m2:1.0.0)"
id="$(q "SELECT mf_retrain('pa_m2:1.0.0', '{\"promote\": \"never\"}')")"
[ "$(q "SELECT (mf_wait($id, '60 s')).status")" = succeeded ] || fail "retrain job $id: $(job "$id" "status || ' ' || coalesce(error, '')")"
[ "$(rows "$(job "$id" "result ->> 'ref'")")" = 300 ] || fail "the retrain read $(rows "$(job "$id" "result ->> 'ref'")") rows"
pass "mf_train, mf_train_async and mf_retrain read pa_sales.pa_t under search_path pa_sales, public"
refused pa_bob "CREATE TEMP TABLE tmp_src AS SELECT * FROM pa_bob.data; SELECT mf_train_async('pa_m2', 'tmp_src', 'y')" 0A000 \
	"a temporary table is refused at queue time"
no_superuser
pass "no test role is superuser at the end"
