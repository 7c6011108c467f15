#!/usr/bin/env bash
# ALTER EXTENSION mf_ext UPDATE from every released version keeps every user
# row and every object that depends on the extension, and leaves exactly what
# a fresh install of the current version has (members, function definitions,
# settings, privileges, comments, columns). Runs in databases of its own.
. "$(dirname "$0")/jobs_lib.bash"
wait_for_server || fail "server not reachable"
CUR="$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$(dirname "$0")/../../mf_ext.control")"
OLD=mf_upgrade_old
NEW=mf_upgrade_new
trap 'sql "DROP DATABASE IF EXISTS $OLD WITH (FORCE)"; sql "DROP DATABASE IF EXISTS $NEW WITH (FORCE)"' EXIT
in_db() { PGDATABASE="$1" q "$2"; }
for FROM in 0.1.0 0.2.0 0.3.0 0.4.0 0.5.0; do
for db in $OLD $NEW; do sql "DROP DATABASE IF EXISTS $db WITH (FORCE)"; sql "CREATE DATABASE $db"; done

in_db $OLD "CREATE EXTENSION mf_ext VERSION '$FROM'" >/dev/null
in_db $OLD "SELECT mf_create_model('{\"name\": \"kept\", \"family\": \"logistic_regression\"}');
            SELECT mf_register_model('kept', tags => ARRAY['mine'], metrics => '{\"accuracy\": 0.5}');
            SELECT mf_create_version('kept', '{}', '{\"C\": 0.5}');
            SELECT mf_set_alias('kept:1.0.0', 'champion');
            CREATE TABLE my_rows AS SELECT i::float8 AS x, (i % 2)::text AS y FROM generate_series(1, 200) i;
            CREATE VIEW my_search AS SELECT ref FROM mf_search_models(tags => ARRAY['mine']);
            CREATE VIEW my_scores AS SELECT x, mf_predict_label('kept:1.1.0', r) AS label FROM my_rows r" >/dev/null
before="$(in_db $OLD "SELECT count(*) || '/' || (SELECT count(*) FROM mf.events) FROM mf.model_versions")"
in_db $OLD "ALTER EXTENSION mf_ext UPDATE" >/dev/null
[ "$(in_db $OLD "SELECT extversion FROM pg_extension WHERE extname = 'mf_ext'")" = "$CUR" ] || fail "not updated from $FROM"
after="$(in_db $OLD "SELECT count(*) || '/' || (SELECT count(*) FROM mf.events) FROM mf.model_versions")"
[ "$before" = "$after" ] || fail "versions/events before $before, after $after"
[ "$(in_db $OLD "SELECT string_agg(ref, ',') FROM my_search")" = "kept:1.0.0,kept:1.1.0" ] || fail "the user's view lost its rows"
pass "ALTER EXTENSION UPDATE from $FROM to $CUR keeps the models, the events and the user's views"
in_db $OLD "SELECT mf_train('kept:1.1.0', 'my_rows', 'y')" >/dev/null
[ "$(in_db $OLD "SELECT count(*) FROM my_scores WHERE label IN ('0', '1')")" = 200 ] || fail "the user's prediction view does not work"
pass "after the update the kept model trains and the user's prediction view scores"

in_db $NEW "CREATE EXTENSION mf_ext" >/dev/null
# Every member with its definition, settings, privileges and comment.
members='SELECT pg_describe_object(d.classid, d.objid, 0) || coalesce(
           (SELECT format(E"\t%s %s %s %s %s %s", l.lanname, p.prosrc, p.prosecdef, p.provolatile, p.proconfig, p.proacl)
              FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE d.classid = $$pg_proc$$::regclass AND p.oid = d.objid), $$$$)
         || coalesce((SELECT E"\t" || c.relacl::text FROM pg_class c WHERE d.classid = $$pg_class$$::regclass AND c.oid = d.objid), $$$$)
         || coalesce(E"\t" || obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)), $$$$)
       FROM pg_depend d WHERE d.refclassid = $$pg_extension$$::regclass AND d.deptype = $$e$$
        AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = $$mf_ext$$) ORDER BY 1'
members="${members//\"/\'}"
diff <(in_db $NEW "$members") <(in_db $OLD "$members") >"${TMPDIR:-/tmp}/mf_upgrade.diff" ||
	fail "an updated $FROM differs from a fresh $CUR: $(head -c 3000 "${TMPDIR:-/tmp}/mf_upgrade.diff")"
cols='SELECT table_name || $$.$$ || column_name || $$ $$ || data_type || $$ $$ || is_nullable || $$ $$ || coalesce(column_default, $$$$)
        FROM information_schema.columns WHERE table_schema = $$mf$$ ORDER BY 1'
diff <(in_db $NEW "$cols") <(in_db $OLD "$cols") >"${TMPDIR:-/tmp}/mf_upgrade.diff" ||
	fail "the tables of an updated $FROM differ: $(head -c 3000 "${TMPDIR:-/tmp}/mf_upgrade.diff")"
pass "an updated $FROM has exactly the objects, definitions, privileges and columns of a fresh $CUR"
done
