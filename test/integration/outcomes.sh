#!/usr/bin/env bash
# Live accuracy end to end: the in-database HTTP server (two serving
# processes) logs the predictions of a deployment with option
# log_predictions into mf.prediction_log (spool files flushed by its
# worker), over TF Serving REST and OIP infer, with the row ids clients send
# (row objects, the columnar form, an OIP id tensor) or request_id/index,
# and the request ids of X-Request-Id (or the OIP body's id); the monitor
# worker's canary (sent with the cluster's probe token) is not logged, a
# request with a wrong X-Mf-Probe is; the logged
# predictions are the database's own (mf_predict_label); a serving process
# killed with -9 right after answering loses none of its rows; a deployment
# without the option logs nothing; then labels known later go in with
# mf_record_outcomes and mf.model_performance holds the accuracy computed
# directly in SQL.  Also: the option is validated, the server stays alive.
. "$(dirname "$0")/http_lib.bash"
setup_jobs_db
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"; http_off >/dev/null 2>&1 || true' EXIT

for m in oc_churn oc_quiet; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'"; done
sql "DELETE FROM mf.prediction_log WHERE model_name IN ('oc_churn', 'oc_quiet');
     DELETE FROM mf.outcomes WHERE model_name = 'oc_churn';
     DELETE FROM mf.model_performance WHERE model_name = 'oc_churn'"
sql "DROP TABLE IF EXISTS oc_data, oc_labels"
sql "CREATE TABLE oc_data AS
     SELECT 'A' || lpad(i::text, 4, '0') AS order_id, (i % 13) / 6.5 - 1 AS x1, (i % 7)::float8 AS x2,
            (ARRAY['red', 'green', 'blue'])[1 + i % 3] AS colour,
            CASE WHEN (i % 13) / 6.5 - 1 + 0.3 * (i % 4) - 0.2 * (i % 3) > 0 THEN 'yes' ELSE 'no' END AS churned
       FROM generate_series(1, 400) i"
sql "SELECT mf_create_model('{\"name\": \"oc_churn\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('oc_churn', 'SELECT x1, x2, colour, churned FROM oc_data', 'churned', '{\"max_iter\": 5}')"
sql "SELECT mf_create_model('{\"name\": \"oc_quiet\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('oc_quiet', 'SELECT x1, x2, colour, churned FROM oc_data', 'churned')"

# The option is checked.
out="$("$PG_BIN/psql" -X -q -tA -c "SELECT mf_deploy('oc_churn', 'http', '{\"log_predictions\": {\"id\": 1}}')" 2>&1)" &&
	fail "a malformed log_predictions was accepted"
echo "$out" | grep -qF 'options.log_predictions: must be true, false or {"id_field"' || fail "log_predictions error: $out"
pass "a malformed log_predictions option is refused with its path"

http_on 2
DEP="$(q "SELECT mf_deploy('oc_churn', 'http', '{\"log_predictions\": {\"id_field\": \"order_id\"}}')")"
[ "$(q "SELECT options -> 'log_predictions' FROM mf.deployments WHERE deployment_id = $DEP")" = '{"id_field": "order_id"}' ] ||
	fail "the stored option"
q "SELECT mf_deploy('oc_quiet', 'http', '{\"log_predictions\": false}')" >/dev/null
for m in oc_churn oc_quiet; do http_wait_code "$HTTP/v1/models/$m" 200 3 >/dev/null || fail "$m not served"; done
PIDS0="$(q "SELECT server_pids FROM mf._http_state()")"
# The monitor worker's canary reaches the deployment (a passing check) but is never logged (counts below).
wait_for "SELECT count(*) > 0 FROM mf.health_checks WHERE deployment_id = $DEP AND \"check\" = 'canary' AND ok" 15 ||
	fail "no passing canary check of the log_predictions deployment: $(q "SELECT json_agg(h) FROM mf.health_checks h WHERE deployment_id = $DEP")"
pass "the monitor worker sends its canary to the log_predictions deployment"

# 300 rows in 30 requests of 10 objects carrying order_id, over both processes.
for k in $(seq 0 29); do
	q "SELECT json_build_object('instances', json_agg(json_build_object('order_id', order_id, 'x1', x1, 'x2', x2,
	                                                                    'colour', colour) ORDER BY order_id))
	     FROM (SELECT * FROM oc_data ORDER BY order_id OFFSET $((k * 10)) LIMIT 10) s" >"$TMP/req$k.json"
	code="$(curl -s -o "$TMP/ans$k.json" -w '%{http_code}' -H "X-Request-Id: req-$k" \
		--data-binary @"$TMP/req$k.json" "$HTTP/v1/models/oc_churn:predict")"
	[ "$code" = 200 ] || fail "request $k: $code $(head -c 200 "$TMP/ans$k.json")"
done
# The columnar form: ids from the order_id input.
q "SELECT json_build_object('inputs', json_build_object('order_id', json_agg(order_id ORDER BY order_id),
        'x1', json_agg(x1 ORDER BY order_id), 'x2', json_agg(x2 ORDER BY order_id), 'colour', json_agg(colour ORDER BY order_id)))
     FROM (SELECT * FROM oc_data ORDER BY order_id OFFSET 300 LIMIT 50) s" >"$TMP/col.json"
[ "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$TMP/col.json" "$HTTP/v1/models/oc_churn:predict")" = 200 ] ||
	fail "columnar request"
# OIP infer: 20 rows with an order_id tensor beside the model's inputs and the body's id as request id;
# 2 rows without it and X-Request-Id: row ids <request>/<index>.
q "SELECT json_build_object('id', 'oip-req', 'inputs', json_build_array(
        json_build_object('name', 'order_id', 'shape', json_build_array(count(*)), 'datatype', 'BYTES', 'data', json_agg(order_id ORDER BY order_id)),
        json_build_object('name', 'x1', 'shape', json_build_array(count(*)), 'datatype', 'FP64', 'data', json_agg(x1 ORDER BY order_id)),
        json_build_object('name', 'x2', 'shape', json_build_array(count(*)), 'datatype', 'FP64', 'data', json_agg(x2 ORDER BY order_id)),
        json_build_object('name', 'colour', 'shape', json_build_array(count(*)), 'datatype', 'BYTES', 'data', json_agg(colour ORDER BY order_id))))
     FROM (SELECT * FROM oc_data ORDER BY order_id OFFSET 350 LIMIT 20) s" >"$TMP/oip.json"
code="$(curl -s -o "$TMP/oip.out" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$TMP/oip.json" \
	"$HTTP/v2/models/oc_churn/infer")"
[ "$code" = 200 ] && [ "$(jq -r '.id + " " + (.outputs[] | select(.name == "label") | .data | length | tostring)' "$TMP/oip.out")" = "oip-req 20" ] ||
	fail "OIP infer with an id tensor: $code $(head -c 300 "$TMP/oip.out")"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Request-Id: oip-noid' -d '{"inputs": [
	{"name": "x1", "shape": [2], "datatype": "FP64", "data": [0.5, -0.5]}, {"name": "x2", "shape": [2], "datatype": "FP64", "data": [1, 2]},
	{"name": "colour", "shape": [2], "datatype": "BYTES", "data": ["red", "blue"]}]}' "$HTTP/v2/models/oc_churn/infer")" = 200 ] ||
	fail "OIP infer without an id tensor"
# A request with a wrong probe token is a user's: logged.
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Mf-Probe: 00000000000000000000000000000000' -H 'X-Request-Id: probe-fake' \
	-d '{"instances": [{"order_id": "P1", "x1": 0.2, "x2": 3, "colour": "green"}]}' "$HTTP/v1/models/oc_churn:predict")" = 200 ] ||
	fail "request with a wrong probe token"
# Rows as lists (no id member) and no X-Request-Id: request id made by the server, row ids <request>/<index>.
[ "$(curl -s -o /dev/null -w '%{http_code}' -d '{"instances": [[0.5, 1, "red"], [-0.5, 2, "blue"]]}' \
	"$HTTP/v1/models/oc_churn:predict")" = 200 ] || fail "list rows"
# The deployment without the option, and a refused request: nothing logged.
[ "$(curl -s -o /dev/null -w '%{http_code}' -d '{"instances": [{"order_id": "Q1", "x1": 1, "x2": 2, "colour": "red"}]}' \
	"$HTTP/v1/models/oc_quiet:predict")" = 200 ] || fail "oc_quiet"
[ "$(curl -s -o /dev/null -w '%{http_code}' -d '{"instances": [{"order_id": "Z1", "x1": "oops"}]}' \
	"$HTTP/v1/models/oc_churn:predict")" = 400 ] || fail "a bad row was not refused"

wait_for "SELECT count(*) = 375 FROM mf.prediction_log WHERE model_name = 'oc_churn'" 10 ||
	fail "prediction_log has $(q "SELECT count(*) FROM mf.prediction_log WHERE model_name = 'oc_churn'") rows of oc_churn, expected 375"
sleep 1.5
[ "$(q "SELECT count(*) FROM mf.prediction_log WHERE model_name = 'oc_churn'")" = 375 ] ||
	fail "more rows than sent were logged (the canary?): $(q "SELECT count(*) FROM mf.prediction_log WHERE model_name = 'oc_churn'")"
pass "375 scored rows logged within seconds (30 row-form requests, one columnar, two OIP, one with a wrong probe token, one of lists), the canary not"
[ "$(q "SELECT string_agg(row_id, ',' ORDER BY row_id) FROM mf.prediction_log WHERE request_id IN ('oip-noid', 'probe-fake')")" = \
	"P1,oip-noid/0,oip-noid/1" ] || fail "OIP rows without id / wrong probe: $(q "SELECT string_agg(request_id || ':' || row_id, ',') FROM mf.prediction_log WHERE request_id IN ('oip-noid', 'probe-fake')")"
[ "$(q "SELECT count(*) FROM mf.prediction_log WHERE request_id = 'oip-req' AND row_id BETWEEN 'A0351' AND 'A0370'")" = 20 ] ||
	fail "OIP rows with the id tensor: $(q "SELECT string_agg(request_id || ':' || row_id, ',') FROM mf.prediction_log WHERE row_id > 'A0350' AND row_id LIKE 'A%'")"
pass "OIP infer logs with the id tensor's row ids and the body's id, else <X-Request-Id>/<index>"
[ "$(q "SELECT count(*) FROM mf.prediction_log WHERE model_name = 'oc_quiet' OR row_id = 'Z1'")" = 0 ] ||
	fail "a deployment without log_predictions, or a refused request, was logged"
pass "nothing logged without the option, nor for a refused request"

# Each logged row: the deployment, version, request and row ids, and the database's label.
[ "$(q "SELECT count(*) FROM mf.prediction_log p JOIN oc_data d ON d.order_id = p.row_id
         WHERE p.model_name = 'oc_churn' AND p.deployment_id = $DEP AND p.version = '1.0.0'
           AND p.prediction #>> '{}' = mf_predict_label('oc_churn', (SELECT s FROM (SELECT d.x1, d.x2, d.colour) s))
           AND (p.request_id = 'req-' || ((substr(d.order_id, 2)::int - 1) / 10)::text OR substr(d.order_id, 2)::int BETWEEN 301 AND 350
                OR (p.request_id = 'oip-req' AND substr(d.order_id, 2)::int BETWEEN 351 AND 370))")" = 370 ] ||
	fail "logged rows differ from mf_predict_label or miss their ids"
pass "370 logged rows (TF and OIP) carry their order_id, request id, deployment and version, and mf_predict_label's answer"
[ "$(q "SELECT count(*) FROM mf.prediction_log WHERE model_name = 'oc_churn' AND row_id ~ '^[0-9]+-[0-9]+/[01]$'
          AND row_id LIKE request_id || '/%'")" = 2 ] || fail "rows without an id: $(q "SELECT string_agg(row_id, ',') FROM mf.prediction_log WHERE row_id NOT LIKE 'A%'")"
pass "rows without an id member: <request id made by the server>/<index>"

# A serving process killed with -9 right after answering: its unrotated file is read.
for k in 0 1 2 3; do
	curl -s -o /dev/null -H "X-Request-Id: kill-$k" \
		-d "{\"instances\": [{\"order_id\": \"K$k\", \"x1\": 0.1, \"x2\": 1, \"colour\": \"red\"}]}" "$HTTP/v1/models/oc_churn:predict"
done
for p in $(q "SELECT array_to_string(server_pids, ' ') FROM mf._http_state()"); do kill -9 "$p"; done
wait_for "SELECT count(*) = 4 FROM mf.prediction_log WHERE request_id LIKE 'kill-%'" 10 ||
	fail "rows of killed serving processes lost: $(q "SELECT count(*) FROM mf.prediction_log WHERE request_id LIKE 'kill-%'") of 4"
pass "a serving process killed with -9 loses none of its logged rows"
wait_for "SELECT cardinality(server_pids) = 2 AND server_pids <> '$PIDS0' FROM mf._http_state()" 10 || fail "serving processes not replaced"
[ "$(http_code GET "$HTTP/v1/models/oc_churn")" = 200 ] || fail "the server does not answer after the kill"
pass "the server answers again with new serving processes"
wait_for "SELECT count(*) = 0 FROM pg_ls_dir('mf_prediction_log') f" 5 || fail "spool files left: $(q "SELECT string_agg(f, ' ') FROM pg_ls_dir('mf_prediction_log') f")"
pass "every spool file was consumed"

# Labels known later -> live accuracy, equal to the direct computation.
sql "CREATE TABLE oc_labels AS SELECT order_id, churned FROM oc_data"
[ "$(q "SELECT mf_record_outcomes('oc_churn', 'oc_labels', 'order_id', 'churned')")" = 370 ] || fail "matched rows"
expected="$(q "SELECT round(avg((mf_predict_label('oc_churn', (SELECT s FROM (SELECT d.x1, d.x2, d.colour) s)) = d.churned)::int)::numeric, 12)
                 FROM oc_data d WHERE substr(d.order_id, 2)::int <= 370")"
got="$(q "SELECT n || ' ' || round(accuracy::numeric, 12) FROM mf.model_performance
           WHERE model_name = 'oc_churn' AND version = '1.0.0' AND day = (now() AT TIME ZONE 'UTC')::date")"
[ "$got" = "370 $expected" ] || fail "model_performance: got '$got', expected '370 $expected'"
pass "mf.model_performance: 370 labelled predictions (20 of them served over OIP), accuracy $expected = the direct computation"
[ "$(http_code GET "$HTTP/v1/models/oc_churn")" = 200 ] || fail "server not alive at the end"
pass "the server is alive at the end"

sql "SELECT mf_drop_model(name) FROM mf.models WHERE name IN ('oc_churn', 'oc_quiet')"
sql "DELETE FROM mf.prediction_log WHERE model_name IN ('oc_churn', 'oc_quiet');
     DELETE FROM mf.outcomes WHERE model_name = 'oc_churn';
     DELETE FROM mf.model_performance WHERE model_name = 'oc_churn'"
sql "DROP TABLE oc_data, oc_labels"
