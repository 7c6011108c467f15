#!/usr/bin/env bash
# Transformer text classifiers served over HTTP (issue 17): a small encoder
# classifier is trained on test/data/product_titles.csv (the quickstart's
# data, shrunk to a few epochs), its test rows are checked (mf.test_rows
# holds text rows: images and smoke tests send them), it is exported with
# mf_export_model and served by the real mf-serve, then deployed with
# mf_deploy and served by the in-database HTTP worker.  Both homes are
# checked by test/integration/serve/text_check.py: TF Serving :predict
# (instances of strings and of objects, columnar inputs), OIP v2 infer with
# one BYTES tensor, the generated /predict, metadata of both protocols,
# answers equal to mf_predict, mf_predict_label and mf_predict_proba bit for
# bit (for titles, an empty text, non-ASCII and emoji, a text beyond
# max_length), malformed text bodies answered 4xx with the error object and
# the server alive after each, OIP answers valid against the protocol's
# OpenAPI file (openapi-response-validator from npm).
. "$(dirname "$0")/http_lib.bash"
wait_for_server || fail "server not reachable"
SERVE_DIR="$MF_ROOT/test/integration/serve"
TMP="$(mktemp -d)"
PY=/usr/bin/python3
SERVE_PID=
cleanup() {
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	rm -rf "$TMP"
	http_off >/dev/null 2>&1 || true
	sql "ALTER SYSTEM RESET mf.http_workers" >/dev/null 2>&1 || true
	sql "ALTER SYSTEM RESET mf.http_role" >/dev/null 2>&1 || true
	sql "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
}
trap cleanup EXIT
make -s -C "$MF_ROOT" build/mf-serve >/dev/null || fail "mf-serve does not build"
"$SERVE_DIR/npm_validator.sh" "$MF_ROOT/build/npm-serve" || fail "could not install the OpenAPI validator from npm"

sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
sql "SELECT mf_undeploy(deployment_id) FROM mf.deployments WHERE name = 'st_cls' AND status NOT IN ('undeployed', 'failed')"
sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'st_cls'"
sql "DROP TABLE IF EXISTS st_titles, st_texts"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE st_titles (title text, category text);
\copy st_titles FROM 'test/data/product_titles.csv' WITH (FORMAT csv, HEADER true)
SQL
sql "SELECT mf_create_model('transformer_encoder_classifier',
       '{\"name\": \"st_cls\", \"d_model\": 32, \"num_layers\": 1, \"num_heads\": 2, \"d_ff\": 2, \"dropout\": 0.0,
         \"vocab_size\": 200, \"max_length\": 24, \"num_classes\": 4}')"
[ "$(q "SELECT mf_train('st_cls', 'st_titles', 'category',
          '{\"text_column\": \"title\", \"epochs\": 4, \"learning_rate\": 0.005, \"optimizer\": \"adamw\", \"batch_size\": 16}')")" = st_cls:1.0.0 ] ||
	fail "mf_train did not return st_cls:1.0.0"
VID="$(q "SELECT version_id FROM mf.catalog WHERE ref = 'st_cls:1.0.0'")"
pass "trained st_cls:1.0.0 (transformer encoder classifier of product titles, version $VID)"

# Test rows of a text model: objects {"title": ...} of the test split, which
# the served model answers like mf_predict(ref, jsonb) on the same objects.
[ "$(q "SELECT count(*) > 0 AND bool_and(jsonb_typeof(r -> 'title') = 'string')
          FROM jsonb_array_elements(mf._test_rows($VID, 100)) r")" = t ] ||
	fail "mf._test_rows($VID) holds no text rows: $(q "SELECT left(mf._test_rows($VID, 2)::text, 200)")"
[ "$(q "SELECT count(*) FROM jsonb_array_elements(mf._test_rows($VID, 100)) r
         WHERE mf_predict_label('st_cls', r ->> 'title') IS NULL")" = 0 ] || fail "test rows not scored"
pass "training stored $(q "SELECT jsonb_array_length(mf._test_rows($VID, 100))") text test rows in mf.test_rows"

# The texts to score and the database's answers (bits of the doubles).
sql "CREATE TABLE st_texts AS
     SELECT row_number() OVER () AS id, t FROM (
       SELECT title AS t FROM st_titles LIMIT 12) x
     UNION ALL VALUES (100, ''), (101, 'Kühlschrank für die Küche – très grand 🍳'),
                      (102, repeat('Alto wireless earbuds ', 40)), (103, 'zzzz qqqq unknown words')"
hex() { printf "encode(float8send(%s), 'hex')" "$1"; }
{
	printf '{"text_column": "title", "labels": %s,\n' "$(q "SELECT feature_schema -> 'labels' FROM mf.model_versions WHERE version_id = $VID")"
	printf '"texts": %s,\n' "$(q "SELECT jsonb_agg(t ORDER BY id) FROM st_texts")"
	printf '"expect": %s}\n' "$(q "SELECT jsonb_agg(jsonb_build_object('value', $(hex "mf_predict('st_cls', t)"),
	          'label', mf_predict_label('st_cls', t),
	          'proba', to_jsonb(ARRAY(SELECT $(hex u) FROM unnest(mf_predict_proba('st_cls', t)) u))) ORDER BY id)
	     FROM st_texts")"
} >"$TMP/expect.json"
[ "$(q "SELECT count(*) FROM st_texts")" -ge 16 ] || fail "texts to score"
pass "database answers for $(q "SELECT count(*) FROM st_texts") texts (titles, empty, non-ASCII, beyond max_length)"

# mf-serve on the exported directory.
"$SERVE_DIR/export_model.sh" "$TMP/models" st_cls >/dev/null || fail "mf_export_model of st_cls failed"
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$MF_ROOT/build/mf-serve" --model-base-path "$TMP/models" --host 127.0.0.1 --port "$PORT" --threads 2 2>"$TMP/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v2/models/st_cls/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/v2/models/st_cls/ready" >/dev/null || { cat "$TMP/serve.log" >&2; fail "mf-serve does not serve st_cls"; }
pass "mf-serve serves the exported transformer on port $PORT"
rc=0
"$PY" "$SERVE_DIR/text_check.py" --port "$PORT" --expect "$TMP/expect.json" --model st_cls --work "$TMP" --one-model \
	--npm "$MF_ROOT/build/npm-serve" --spec "$SERVE_DIR/open_inference_rest.yaml" || rc=$?
[ "$rc" -eq 0 ] || fail "mf-serve text checks failed (see the 'not ok' lines above)"
kill "$SERVE_PID" && wait "$SERVE_PID" || fail "mf-serve did not exit 0 on SIGTERM"
SERVE_PID=
pass "mf-serve: TF Serving and OIP answers on text equal mf_predict* bit for bit; malformed bodies 4xx, alive"

# The in-database HTTP worker: mf_deploy accepts the transformer version.
DEP="$(q "SELECT mf_deploy('st_cls')")"
[ "$(q "SELECT status FROM mf.deployments WHERE deployment_id = $DEP")" = active ] || fail "deployment $DEP not active"
http_on 1
for _ in $(seq 50); do [ "$(http_code GET "$HTTP/v2/models/st_cls/ready")" = 200 ] && break; sleep 0.2; done
[ "$(http_code GET "$HTTP/v2/models/st_cls/ready")" = 200 ] ||
	fail "the in-database server does not serve st_cls: $(q 'SELECT row(s.*) FROM mf._http_state() s')"
pass "mf_deploy('st_cls') active; the in-database server serves it"
"$PY" "$SERVE_DIR/text_check.py" --port "$HTTP_PORT" --expect "$TMP/expect.json" --model st_cls --work "$TMP" \
	--npm "$MF_ROOT/build/npm-serve" --spec "$SERVE_DIR/open_inference_rest.yaml" || rc=$?
[ "$rc" -eq 0 ] || fail "in-database server text checks failed (see the 'not ok' lines above)"
http_off
sql "SELECT mf_undeploy($DEP)"
sql "SELECT mf_drop_model('st_cls')"
sql "DROP TABLE st_titles, st_texts"
pass "in-database HTTP server: the same answers, errors and OpenAPI-valid OIP bodies"
