#!/usr/bin/env bash
# Protocol conformance and robustness of the standalone server mf-serve.
#
# Trains, in database mf of the test cluster, a 3-class logistic classifier
# with a text feature and NULLs (two versions: 1.0.0 in production, 1.1.0
# with alias challenger) and a linear regressor, writes them in the served
# model layout (test/integration/serve/export_model.sh), computes the
# database's own answers (mf_predict, mf_predict_label, mf_predict_proba on
# the record form, as the hex of their bits) for a set of rows, then runs
# test/integration/serve/conformance.py, which starts mf-serve on free ports
# and checks:
#   - OIP v2 answers against the protocol's OpenAPI file with a real
#     validator from npm (openapi-response-validator, installed into
#     build/npm-serve on first use), predictions bit for bit;
#   - TensorFlow Serving REST golden cases (row and columnar predict,
#     classify, regress, model status and metadata, errors);
#   - more than 1,000 seeded malformed bodies over every POST endpoint:
#     each answered 4xx with {"error": "..."}, never 5xx, server alive;
#   - clients that disconnect mid-request, slow clients (timed out while
#     others are served), more connections than the limit (503), 405, 404;
#   - bearer tokens (401 + WWW-Authenticate), rate limits (429 +
#     Retry-After), GET /metrics through `promtool check metrics`.
# Then the in-database HTTP server serves the same versions (mf_deploy with a
# traffic split that puts sc_cls@challenger beside production) and passes the
# same OIP (OpenAPI-validated) and TF Serving checks, bit for bit.
# The whole test keeps under about two minutes.
. "$(dirname "$0")/http_lib.bash"
wait_for_server || fail "server not reachable"
SERVE_DIR="$MF_ROOT/test/integration/serve"
TMP="$(mktemp -d)"
# MF_SERVE_TEST_KEEP=1 keeps the directory (models, expectations, server logs).
if [ "${MF_SERVE_TEST_KEEP:-0}" = 1 ]; then echo "# work directory: $TMP"; else trap 'rm -rf "$TMP"' EXIT; fi
PY=/usr/bin/python3

# The mf-serve binary: $MF_SERVE, else the installed one, else the build's.
find_mf_serve() {
	local c
	for c in "${MF_SERVE:-}" "$("$PG_CONFIG" --bindir)/mf-serve" "$MF_ROOT/build/mf-serve" "$MF_ROOT/serve/mf-serve"; do
		[ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
	done
	return 1
}
MF_SERVE_BIN="$(find_mf_serve)" || fail "mf-serve not found (installed by make install into $("$PG_CONFIG" --bindir))"
pass "mf-serve: $MF_SERVE_BIN"

for tool in promtool node npm; do
	command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh installs it)"
done

# The OpenAPI validator from npm, cached under build/ (reruns do not reinstall).
"$SERVE_DIR/npm_validator.sh" "$MF_ROOT/build/npm-serve" || fail "could not install the OpenAPI validator from npm"
pass "openapi-response-validator installed in build/npm-serve"

sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
for m in sc_cls sc_reg; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'"; done
sql "DROP TABLE IF EXISTS sc_train, sc_score"
sql "CREATE TABLE sc_train AS
     SELECT i AS id,
            CASE WHEN i % 17 = 0 THEN NULL ELSE (i % 13) / 6.5 - 1 END::float8 AS x1,
            (i % 7)::int AS x2,
            CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END AS flag,
            (ARRAY['red', 'grün', 'blue', NULL])[1 + i % 4] AS colour,
            round(((i % 13) / 6.5 - 1 + (i % 7) / 7.0 + 0.3 * (i % 4))::numeric, 2)::float8 AS y_num,
            (ARRAY['low', 'mid', 'high'])[1 + (i % 3 + i % 5) % 3] AS y_cls
       FROM generate_series(1, 400) i"
# Rows to score: training rows, NULL in every column, an unseen and a
# non-ASCII category, numbers of several sizes.
sql "CREATE TABLE sc_score AS
     SELECT id, x1, x2, flag, colour FROM sc_train WHERE id <= 24
     UNION ALL VALUES (1001, NULL::float8, NULL::int, NULL::bool, NULL::text),
                      (1002, 0.123456789, -4, true, 'purple'),
                      (1003, -2.5e3, 0, false, 'grün'),
                      (1004, 1e-300, 100000, true, 'blue'),
                      (1005, 0.1, 2, NULL, 'Red')"
FEATURES='"features": ["x1", "x2", "flag", "colour"]'
SRC='SELECT x1, x2, flag, colour, y_num, y_cls FROM sc_train'
sql "SELECT mf_create_model('{\"name\": \"sc_cls\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('sc_cls:1.0.0', '$SRC', 'y_cls', '{$FEATURES}')"
sql "SELECT mf_create_model('{\"name\": \"sc_cls\", \"family\": \"logistic_regression\", \"C\": 0.05}')"
sql "SELECT mf_train('sc_cls:1.1.0', '$SRC', 'y_cls', '{$FEATURES}')"
sql "SELECT mf_set_stage('sc_cls:1.0.0', 'production')"
sql "SELECT mf_set_alias('sc_cls:1.1.0', 'challenger')"
sql "SELECT mf_create_model('{\"name\": \"sc_reg\", \"family\": \"linear_regression\"}')"
sql "SELECT mf_train('sc_reg', '$SRC', 'y_num', '{$FEATURES, \"standardize\": true}')"
pass "trained sc_cls 1.0.0 (production), 1.1.0 (challenger) and sc_reg 1.0.0"

# Served directories: all models, and one holding only the classifier (the
# generated one-model API /predict, /batch_predict).
"$SERVE_DIR/export_model.sh" "$TMP/models" sc_cls sc_reg >"$TMP/exported" || fail "export of the models failed"
"$SERVE_DIR/export_model.sh" "$TMP/one" sc_cls:1.0.0 >/dev/null || fail "export of sc_cls:1.0.0 failed"
pass "exported $(wc -l <"$TMP/exported") versions in the TF Serving layout"

# The database's answers, as bit patterns, for every served version.
hex() { printf "encode(float8send(%s), 'hex')" "$1"; }
expect_of() { # ref classifier(0/1)
	local label="NULL" proba="NULL"
	if [ "$2" = 1 ]; then
		label="mf_predict_label('$1', s)"
		proba="to_jsonb(ARRAY(SELECT $(hex u) FROM unnest(mf_predict_proba('$1', s)) u))"
	fi
	q "SELECT jsonb_agg(jsonb_build_object('value', $(hex "mf_predict('$1', s)"), 'label', $label, 'proba', $proba) ORDER BY id)
	     FROM sc_score s"
}
# Rows of the 6 expanded features (x1, x2, flag, colour one-hot) for the one
# [n, p] tensor form, exactly representable in float32 (or integers), and
# the answers of mf_predict(ref, float8[]) for both models.
arrays_of() { # expr-of-i for x1, expr-of-i for x2
	local x="ARRAY[$1, $2, i % 2, (i % 3 = 0)::int, (i % 3 = 1)::int, (i % 3 = 2)::int]::float8[]"
	q "SELECT jsonb_build_object('x', jsonb_agg(to_jsonb(x) ORDER BY i),
	      'sc_cls:1.0.0', jsonb_agg(jsonb_build_object('value', $(hex "mf_predict('sc_cls:1.0.0', x)"),
	                                'label', mf_predict_label('sc_cls:1.0.0', x),
	                                'proba', to_jsonb(ARRAY(SELECT $(hex u) FROM unnest(mf_predict_proba('sc_cls:1.0.0', x)) u)))
	                    ORDER BY i),
	      'sc_reg:1.0.0', jsonb_agg(jsonb_build_object('value', $(hex "mf_predict('sc_reg:1.0.0', x)")) ORDER BY i))
	     FROM (SELECT i, $x AS x FROM generate_series(1, 12) i) s"
}
{
	printf '{"rows": %s,\n' "$(q "SELECT jsonb_agg(to_jsonb(s) - 'id' ORDER BY id) FROM sc_score s")"
	printf '"columns": ["x1", "x2", "flag", "colour"],\n'
	printf '"class_labels": %s,\n' "$(q "SELECT feature_schema -> 'labels' FROM mf.model_versions v JOIN mf.models m USING (model_id) WHERE m.name = 'sc_cls' AND v.version = '1.0.0'")"
	printf '"expect": {"sc_cls:1.0.0": %s,\n' "$(expect_of sc_cls:1.0.0 1)"
	printf '"sc_cls:1.1.0": %s,\n' "$(expect_of sc_cls:1.1.0 1)"
	printf '"sc_reg:1.0.0": %s},\n' "$(expect_of sc_reg:1.0.0 0)"
	printf '"arrays": {"fp": %s,\n' "$(arrays_of "0.5 * ((i % 7) - 3)" "0.25 * (i % 5)")"
	printf '"int": %s}}\n' "$(arrays_of "(i % 7) - 3" "i % 5")"
} >"$TMP/expect.json"
pass "database answers for $(q 'SELECT count(*) FROM sc_score') rows of 3 versions"

rc=0
"$PY" "$SERVE_DIR/conformance.py" --server "$MF_SERVE_BIN" --models "$TMP/models" --one-model "$TMP/one" \
	--expect "$TMP/expect.json" --npm "$MF_ROOT/build/npm-serve" \
	--spec "$SERVE_DIR/open_inference_rest.yaml" --work "$TMP" || rc=$?
[ "$rc" -eq 0 ] || fail "conformance checks failed (see the 'not ok' lines above)"
pass "mf-serve conformance"

# The in-database server: the same names and versions.  The bare name answers
# with production (weight 1); the challenger is served by version and label
# (a weight of 1e-12: about never chosen for the bare name).
trap '[ "${MF_SERVE_TEST_KEEP:-0}" = 1 ] || rm -rf "$TMP"; http_off >/dev/null 2>&1 || true; sql "ALTER SYSTEM RESET mf.http_workers"; sql "ALTER SYSTEM RESET mf.http_role"; sql "SELECT pg_reload_conf()"' EXIT
sql "SELECT mf_deploy('sc_cls', 'http', '{\"traffic\": {\"sc_cls@production\": 1, \"sc_cls@challenger\": 1e-12}}')"
sql "SELECT mf_deploy('sc_reg')"
http_on 1
wait_for "SELECT versions = 3 FROM mf._http_state()" 10 || fail "the in-database server does not serve the 3 versions: $(q 'SELECT row(s.*) FROM mf._http_state() s')"
"$PY" "$SERVE_DIR/conformance.py" --external-port "$HTTP_PORT" --models "$TMP/models" \
	--expect "$TMP/expect.json" --npm "$MF_ROOT/build/npm-serve" \
	--spec "$SERVE_DIR/open_inference_rest.yaml" --work "$TMP" || rc=$?
http_off
sql "SELECT mf_undeploy(deployment_id) FROM mf.deployments WHERE name IN ('sc_cls', 'sc_reg') AND status = 'active'"
for m in sc_cls sc_reg; do sql "SELECT mf_drop_model('$m')"; done
sql "DROP TABLE sc_train, sc_score"
[ "$rc" -eq 0 ] || fail "in-database server conformance checks failed (see the 'not ok' lines above)"
pass "in-database HTTP server conformance (OIP answers validated against the OpenAPI file, TF Serving golden cases)"
