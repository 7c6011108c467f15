#!/usr/bin/env bash
# The promotion gate of mf_retrain: with no production version the new
# version is compared with the version it retrains (a worse one is not
# promoted), and a candidate that is not promoted is archived unless
# kept_stage says development; the decision is in mf.events and the result.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
trap 'sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '"'gate_lin'"'"; sql "DROP TABLE IF EXISTS gate_data"' EXIT
sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'gate_lin'"
sql "DROP TABLE IF EXISTS gate_data; CREATE TABLE gate_data AS
     SELECT i, (i % 97) / 97.0 AS x1, (i % 89) / 89.0 AS x2, 3 * ((i % 97) / 97.0) - 2 * ((i % 89) / 89.0) + (i % 7) / 70.0 AS y
       FROM generate_series(1, 5000) i"
sql "SELECT mf_create_model('{\"name\": \"gate_lin\", \"family\": \"linear_regression\"}');
     SELECT mf_train('gate_lin', 'SELECT x1, x2, y FROM gate_data', 'y')"
[ "$(q "SELECT count(*) FROM mf.catalog WHERE model = 'gate_lin' AND stage = 'production'")" = 0 ] || fail "a production version exists"

# A much worse candidate (heavy ridge penalty) is kept out of production and archived.
id="$(q "SELECT mf_retrain('gate_lin', '{\"alpha\": 100000}')")"
[ "$(q "SELECT (mf_wait($id, '60 s')).status")" = succeeded ] || fail "job $id: $(job "$id" "status || ' ' || coalesce(error, '')")"
[ "$(job "$id" "result #>> '{promotion,decision}'")" = kept ] || fail "a worse model was promoted: $(job "$id" "result -> 'promotion'")"
[ "$(job "$id" "result #>> '{promotion,compared_with}'")" = "retrained version" ] || fail "compared with: $(job "$id" "result -> 'promotion'")"
[ "$(job "$id" "result #>> '{promotion,compared_version}'")" = gate_lin:1.0.0 ] || fail "compared version: $(job "$id" "result -> 'promotion'")"
new="$(job "$id" "result ->> 'ref'")"
[ "$(q "SELECT stage FROM mf.catalog WHERE ref = '$new'")" = archived ] || fail "the kept candidate $new is $(q "SELECT stage FROM mf.catalog WHERE ref = '$new'")"
[ "$(q "SELECT after ->> 'decision' FROM mf.events WHERE action = 'promotion' AND version = split_part('$new', ':', 2) AND model_name = 'gate_lin'")" = kept ] ||
	fail "no promotion event for $new"
pass "with no production version, a worse retrain is compared with the retrained version, kept out and archived"

# kept_stage development leaves the candidate in development.
id="$(q "SELECT mf_retrain('gate_lin:1.0.0', '{\"alpha\": 100000, \"kept_stage\": \"development\"}')")"
[ "$(q "SELECT (mf_wait($id, '60 s')).status")" = succeeded ] || fail "job $id: $(job "$id" "status || ' ' || coalesce(error, '')")"
[ "$(q "SELECT stage FROM mf.catalog WHERE ref = '$(job "$id" "result ->> 'ref'")'")" = development ] || fail "kept_stage development ignored"
pass "kept_stage development keeps the candidate in development"

# A better candidate than the retrained version is promoted.
sql "SELECT mf_set_stage('gate_lin:1.0.0', 'archived')"
sql "SELECT mf_train('gate_lin:1.0.0', 'SELECT x1, x2, y FROM gate_data', 'y', '{\"alpha\": 1000}')"
weak="$(q "SELECT ref FROM mf.catalog WHERE model = 'gate_lin' AND status = 'trained' ORDER BY version_id DESC LIMIT 1")"
id="$(q "SELECT mf_retrain('$weak', '{\"alpha\": 0}')")"
[ "$(q "SELECT (mf_wait($id, '60 s')).status")" = succeeded ] || fail "job $id: $(job "$id" "status || ' ' || coalesce(error, '')")"
[ "$(job "$id" "result #>> '{promotion,decision}'")" = promoted ] || fail "a better model was not promoted: $(job "$id" "result -> 'promotion'")"
pass "a retrain better than the version it retrains is promoted"
refused_opt="$("$PG_BIN/psql" -X -q -tA -v VERBOSITY=verbose -c "SELECT mf_retrain('gate_lin', '{\"kept_stage\": \"staging\"}')" 2>&1 || true)"
echo "$refused_opt" | grep -q "22023" || fail "kept_stage staging accepted: $refused_opt"
pass "kept_stage is archived or development (22023 otherwise)"
