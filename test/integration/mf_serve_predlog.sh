#!/usr/bin/env bash
# mf-serve --prediction-log: the standalone server, serving a model exported
# with mf_export_model, appends one JSON line per scored row to a file on
# every scoring route (TF Serving :predict, OIP infer with an id tensor,
# /predict, /batch_predict), in the in-database server's format: the
# --deployment-id, name, version, number, the X-Request-Id (or OIP id), the
# row ids of --prediction-log-id-field (else <request id>/<index>), the
# label and the time.  Checked: a refused request logs nothing; 40
# concurrent requests leave 160 whole lines (one write per request); the
# file loads with COPY into a table and its predictions are mf_predict's labels
# on the same rows; mf_import_predictions makes them a deployment's logged
# predictions (once: a second import adds none; bad lines, unknown deployments
# and non-owners refused) and mf_record_outcomes joins labels with them;
# SIGHUP reopens the file (rotation); the server is alive.
. "$(dirname "$0")/monitor_lib.bash"
M=msp_churn
LOG="$TMP/predictions.jsonl"
monitor_start "$M" --prediction-log "$LOG" --prediction-log-id-field order_id --deployment-id 7
URL="http://127.0.0.1:$PORT"
pass "mf-serve serves $M with --prediction-log"

post() { curl -s -o "$TMP/ans" -w '%{http_code}' -H 'Content-Type: application/json' "$@"; }
[ "$(post -H 'X-Request-Id: tf-1' -d '{"instances": [{"order_id": "T1", "x1": 0.5, "x2": 1}, {"order_id": "T2", "x1": -0.5, "x2": -2},
	{"order_id": 3, "x1": 0.9, "x2": 0}]}' "$URL/v1/models/$M:predict")" = 200 ] || fail "TF predict: $(cat "$TMP/ans")"
[ "$(post -d '{"id": "oip-1", "inputs": [{"name": "order_id", "shape": [2], "datatype": "BYTES", "data": ["O1", "O2"]},
	{"name": "x1", "shape": [2], "datatype": "FP64", "data": [0.1, -0.8]}, {"name": "x2", "shape": [2], "datatype": "FP64", "data": [2, -1]}]}' \
	"$URL/v2/models/$M/infer")" = 200 ] || fail "OIP infer: $(cat "$TMP/ans")"
[ "$(post -H 'X-Request-Id: gen-1' -d '{"order_id": "G1", "x1": 0.3, "x2": 1}' "$URL/predict")" = 200 ] || fail "/predict: $(cat "$TMP/ans")"
[ "$(post -H 'X-Request-Id: gen-2' -d '[{"x1": 0.3, "x2": 1}, {"x1": -0.3, "x2": -1}]' "$URL/batch_predict")" = 200 ] ||
	fail "/batch_predict: $(cat "$TMP/ans")"
[ "$(post -d '{"instances": [{"order_id": "BAD", "x1": "oops"}]}' "$URL/v1/models/$M:predict")" = 400 ] || fail "a bad row was not refused"
pass "TF predict, OIP infer, /predict and /batch_predict answered 200; a bad row 400"

# 40 concurrent requests of 4 rows each.
for k in $(seq 1 40); do
	printf '{"instances": [{"order_id": "C%d-0", "x1": 0.1, "x2": 1}, {"order_id": "C%d-1", "x1": 0.2, "x2": 0}, {"order_id": "C%d-2", "x1": -0.3, "x2": 2}, {"order_id": "C%d-3", "x1": 0.7, "x2": -2}]}\n' \
		"$k" "$k" "$k" "$k" >"$TMP/c$k.json"
done
seq 1 40 | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' -H 'X-Request-Id: conc-{}' --data-binary @"$TMP/c{}.json" \
	"$URL/v1/models/$M:predict" >"$TMP/codes"
[ "$(sort -u "$TMP/codes")" = 200 ] || fail "concurrent requests: $(sort "$TMP/codes" | uniq -c)"

# Every line whole and of the same shape; the expected count (3 + 2 + 1 + 2 + 160).
for _ in $(seq 1 20); do [ "$(wc -l <"$LOG")" -ge 168 ] && break; sleep 0.1; done
[ "$(wc -l <"$LOG")" = 168 ] || fail "$(wc -l <"$LOG") lines logged, expected 168"
jq -e -s 'all(.[]; (keys == ["at", "deployment_id", "name", "number", "prediction", "request_id", "row_id", "version"])
                     and .deployment_id == 7 and .name == "'$M'" and .version == "1.0.0" and (.at | type) == "number")' "$LOG" >/dev/null ||
	fail "malformed lines: $(head -3 "$LOG")"
[ "$(jq -r 'select(.request_id | startswith("conc-")) | .row_id' "$LOG" | sort -u | wc -l)" = 160 ] || fail "concurrent rows lost or repeated"
ids="$(jq -r 'select(.request_id | test("^(tf|oip|gen)-")) | .request_id + ":" + .row_id' "$LOG" | sort | tr '\n' ' ')"
[ "$ids" = "gen-1:G1 gen-2:gen-2/0 gen-2:gen-2/1 oip-1:O1 oip-1:O2 tf-1:3 tf-1:T1 tf-1:T2 " ] || fail "request and row ids: $ids"
! grep -q BAD "$LOG" || fail "a refused request was logged"
pass "168 whole lines (160 from 40 concurrent requests), same members as mf.prediction_log's lines, ids from order_id/X-Request-Id/OIP id, nothing for the 400"

# The file loads with COPY (csv with quote and delimiter no JSON line contains) and its predictions are the database's.
sql "DROP TABLE IF EXISTS msp_log; CREATE TABLE msp_log (line jsonb)"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -c "\\copy msp_log (line) FROM '$LOG' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')" ||
	fail "COPY of the log failed"
[ "$(q "SELECT count(*) FROM msp_log")" = 168 ] || fail "COPY loaded $(q "SELECT count(*) FROM msp_log") rows"
[ "$(q "SELECT count(*) FROM msp_log l JOIN (VALUES ('T1', '{\"x1\": 0.5, \"x2\": 1}'), ('T2', '{\"x1\": -0.5, \"x2\": -2}'),
        ('3', '{\"x1\": 0.9, \"x2\": 0}'), ('O1', '{\"x1\": 0.1, \"x2\": 2}'), ('O2', '{\"x1\": -0.8, \"x2\": -1}'),
        ('G1', '{\"x1\": 0.3, \"x2\": 1}')) v(row_id, row) ON v.row_id = l.line ->> 'row_id'
       WHERE l.line ->> 'prediction' = mf_predict('$M', v.row::jsonb) ->> 'label'")" = 6 ] ||
	fail "logged predictions differ from mf_predict's labels: $(q "SELECT json_agg(line) FROM msp_log WHERE line ->> 'request_id' IN ('tf-1', 'oip-1', 'gen-1')")"
pass "COPY loads the 168 lines into a jsonb table; the logged labels are mf_predict's on the same rows"

# mf_import_predictions: the lines become a deployment's logged predictions; mf_record_outcomes joins them.
D="$(q "SELECT mf_deploy('$M')" 2>/dev/null)"
sql "DELETE FROM mf.prediction_log WHERE model_name = '$M'; DELETE FROM mf.outcomes WHERE model_name = '$M';
     DELETE FROM mf.model_performance WHERE model_name = '$M'"
[ "$(q "SELECT mf_import_predictions($D, jsonb_agg(line)) FROM msp_log")" = 168 ] || fail "import did not add 168 rows"
[ "$(q "SELECT mf_import_predictions($D, jsonb_agg(line)) FROM msp_log")" = 0 ] || fail "a second import added rows"
[ "$(q "SELECT count(*) FROM mf.prediction_log p JOIN msp_log l ON l.line ->> 'row_id' = p.row_id
         AND l.line ->> 'request_id' = p.request_id AND l.line -> 'prediction' = p.prediction AND p.version = '1.0.0'
       WHERE p.deployment_id = $D AND p.model_name = '$M'")" = 168 ] || fail "imported rows differ from the lines"
sql "DROP TABLE IF EXISTS msp_labels; CREATE TABLE msp_labels AS
     SELECT row_id AS order_id, CASE WHEN row_id IN ('T1', 'O2') THEN 'miss' ELSE 'hit' END AS y
       FROM unnest(ARRAY['T1', 'T2', '3', 'O1', 'O2', 'G1', 'nobody']) row_id"
[ "$(q "SELECT mf_record_outcomes('$M', 'msp_labels', 'order_id', 'y')")" = 6 ] || fail "mf_record_outcomes did not match the 6 labelled rows"
expected="$(q "SELECT round(avg((l.line ->> 'prediction' = b.y)::int)::numeric, 12) FROM msp_log l JOIN msp_labels b ON b.order_id = l.line ->> 'row_id'")"
[ "$(q "SELECT n || ' ' || round(accuracy::numeric, 12) FROM mf.model_performance WHERE model_name = '$M' AND version = '1.0.0'")" = "6 $expected" ] ||
	fail "model_performance: $(q "SELECT json_agg(p) FROM mf.model_performance p WHERE model_name = '$M'"), expected 6 $expected"
pass "mf_import_predictions loads the 168 lines as deployment $D's (again: 0 added); mf_record_outcomes matches 6 labels, accuracy $expected"
refused "$PGUSER" "SELECT mf_import_predictions($D, '[{\"row_id\": \"x\", \"version\": \"9.9.9\", \"prediction\": \"hit\", \"at\": 1}]')" 22023 \
	"mf_import_predictions: a line naming no version of the model" "version: 9.9.9 is not a version of $M"
refused "$PGUSER" "SELECT mf_import_predictions($D, '[{\"row_id\": \"x\", \"version\": \"1.0.0\", \"prediction\": \"hit\", \"at\": 1}, {\"row_id\": 5}]')" 22023 \
	"mf_import_predictions: a malformed second line" "invalid prediction log line 2 of 2"
refused "$PGUSER" "SELECT mf_import_predictions(987654321, '[]')" 42704 "mf_import_predictions: an unknown deployment"
sql "DROP ROLE IF EXISTS msp_trainer; CREATE ROLE msp_trainer LOGIN IN ROLE mf_trainer"
refused msp_trainer "SELECT mf_import_predictions($D, '[]')" 42501 "mf_import_predictions by a trainer who does not own the model"
[ "$(q "SELECT count(*) FROM mf.prediction_log WHERE model_name = '$M'")" = 168 ] || fail "a refused import added rows"
sql "DROP ROLE msp_trainer"

# Rotation: move the file away, SIGHUP, the next request goes to a new file.
mv "$LOG" "$LOG.1"
kill -HUP "$SERVE_PID"
for _ in $(seq 1 50); do [ -e "$LOG" ] && break; sleep 0.1; done
[ -e "$LOG" ] || fail "SIGHUP did not reopen the log: $(tail -3 "$TMP/serve.log")"
[ "$(post -H 'X-Request-Id: after-hup' -d '{"instances": [{"order_id": "H1", "x1": 0.5, "x2": 1}]}' "$URL/v1/models/$M:predict")" = 200 ] ||
	fail "request after SIGHUP"
for _ in $(seq 1 20); do [ -s "$LOG" ] && break; sleep 0.1; done
[ "$(jq -r '.row_id' "$LOG")" = H1 ] && [ "$(wc -l <"$LOG.1")" = 168 ] || fail "rotation: new $(cat "$LOG"), old $(wc -l <"$LOG.1") lines"
pass "SIGHUP reopens the log: the rotated file keeps its 168 lines, new rows go to the new file"

[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/health/live")" = 200 ] || fail "mf-serve is not alive at the end"
pass "mf-serve is alive at the end"
sql "DROP TABLE msp_log, msp_labels, ${M}_train"
sql "DELETE FROM mf.prediction_log WHERE model_name = '$M'; DELETE FROM mf.outcomes WHERE model_name = '$M';
     DELETE FROM mf.model_performance WHERE model_name = '$M'"
sql "SELECT mf_drop_model('$M')"
