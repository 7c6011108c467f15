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
# max_length), a decoder's OIP infer (BYTES prompts, parameters as
# mf_generate's options) answering mf_generate's texts for the same seed,
# malformed text bodies answered 4xx with the error object and
# the server alive after each, OIP answers valid against the protocol's
# OpenAPI file (openapi-response-validator from npm).  An image of the
# version (mf_deploy(ref, 'oci') to a loopback docker-registry) is verified
# with the text test rows, and mf_smoke_test passes against mf-serve.
# Embeddings: mf_train writes encoders with a classifier head only, so an
# embedding version (task "embedding", no head) is made from a third small
# classifier, st_emb, whose stored artifact is replaced by
# build/unit/tf_embed_artifact's (its encoder without the head; mf_embed
# answers the same floats for both).  Both homes are checked by
# test/integration/serve/embed_check.py (OIP output "embedding" FP32 [n, d],
# TF vectors, metadata, malformed bodies 4xx and alive, OpenAPI-valid OIP
# answers) against mf_embed's float4 bits, and the OIP answer's numbers,
# read back as float4 by PostgreSQL, equal mf_embed's; an image of st_emb is
# verified with its test rows and smoke-tested against mf-serve.
# A classifier's embeddings: st_cls is asked for them in both homes by
# embed_check.py --classifier (OIP "outputs": [{"name": "embedding"}], alone
# and beside probabilities; TF "signature_name": "embedding"; metadata; no
# embedding in default answers; unknown output / signature 400 and alive),
# against mf_embed('st_cls', text) bit for bit, read back by PostgreSQL too.
. "$(dirname "$0")/http_lib.bash"
wait_for_server || fail "server not reachable"
SERVE_DIR="$MF_ROOT/test/integration/serve"
TMP="$(mktemp -d)"
PY=/usr/bin/python3
SERVE_PID=
LSERVE_PID=
REG_PID=
cleanup() {
	[ -n "$LSERVE_PID" ] && kill "$LSERVE_PID" 2>/dev/null && wait "$LSERVE_PID" 2>/dev/null
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	[ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null
	rm -rf "$TMP"
	http_off >/dev/null 2>&1 || true
	sql "ALTER SYSTEM RESET mf.http_workers" >/dev/null 2>&1 || true
	sql "ALTER SYSTEM RESET mf.http_role" >/dev/null 2>&1 || true
	sql "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
}
trap cleanup EXIT
make -s -C "$MF_ROOT" build/mf-serve build/unit/tf_embed_artifact >/dev/null || fail "mf-serve or tf_embed_artifact does not build"
"$SERVE_DIR/npm_validator.sh" "$MF_ROOT/build/npm-serve" || fail "could not install the OpenAPI validator from npm"

sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
sql "SELECT mf_undeploy(deployment_id) FROM mf.deployments WHERE name = 'st_cls' AND status NOT IN ('undeployed', 'failed')"
sql "SELECT mf_undeploy(deployment_id) FROM mf.deployments WHERE name = 'st_lm' AND status NOT IN ('undeployed', 'failed')"
sql "SELECT mf_undeploy(deployment_id) FROM mf.deployments WHERE name = 'st_emb' AND status NOT IN ('undeployed', 'failed')"
sql "SELECT mf_drop_model(name) FROM mf.models WHERE name IN ('st_cls', 'st_lm', 'st_emb')"
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
sql "SELECT mf_create_model('transformer_decoder_lm', '{\"name\": \"st_lm\", \"d_model\": 16, \"num_layers\": 1,
       \"num_heads\": 2, \"d_ff\": 2, \"dropout\": 0.0, \"vocab_size\": 120, \"max_length\": 24}')"
[ "$(q "SELECT mf_train('st_lm', 'st_titles', NULL, '{\"text_column\": \"title\", \"epochs\": 2, \"batch_size\": 16}')")" = st_lm:1.0.0 ] ||
	fail "mf_train of the decoder st_lm"
# Generation: prompts, options (mf_generate's, sent as OIP parameters) and mf_generate's texts.
GEN_OPTS='{"temperature": 1.0, "top_k": 20, "seed": 7, "max_tokens": 8}'
q "SELECT jsonb_build_object('prompts', jsonb_agg(p ORDER BY p), 'options', '$GEN_OPTS'::jsonb,
      'sampled', jsonb_agg(mf_generate('st_lm', p, '$GEN_OPTS') ORDER BY p),
      'greedy', jsonb_agg(mf_generate('st_lm', p, '{\"max_tokens\": 8}') ORDER BY p))
     FROM unnest(ARRAY['Alto', 'Zephyr cast', '', 'Küche 🍳']) p" >"$TMP/gen.json"
pass "trained the decoder st_lm:1.0.0; mf_generate's texts for 4 prompts, sampled (seed 7) and greedy"
# gen_check PORT: OIP infer of st_lm answers mf_generate's texts; TF :predict points to OIP.
gen_check() {
	"$PY" - "$1" "$TMP/gen.json" <<'PYEOF' || fail "generation over HTTP (port $1) differs from mf_generate"
import json, sys, urllib.request, urllib.error
port, g = sys.argv[1], json.load(open(sys.argv[2]))
def post(path, body):
    req = urllib.request.Request('http://127.0.0.1:%s%s' % (port, path), json.dumps(body).encode(),
                                 {'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
n = len(g['prompts'])
for key, params in (('sampled', g['options']), ('greedy', {'max_tokens': 8})):
    st, a = post('/v2/models/st_lm/infer', {'inputs': [{'name': 'prompt', 'shape': [n], 'datatype': 'BYTES',
                                                        'data': g['prompts']}], 'parameters': params})
    out = (a.get('outputs') or [{}])[0]
    assert st == 200 and out.get('name') == 'text' and out.get('datatype') == 'BYTES' and out.get('data') == g[key], (key, st, a, g[key])
st, a = post('/v2/models/st_lm/infer', {'inputs': [{'name': 'p', 'shape': [1], 'datatype': 'BYTES', 'data': ['a']}],
                                       'parameters': {'top_k': -1}})
assert st == 400 and 'top_k' in a.get('error', ''), a
st, a = post('/v1/models/st_lm:predict', {'instances': ['Alto']})
assert st == 400 and 'infer' in a.get('error', ''), a
print('ok - OIP infer of the decoder on port %s: mf_generate\'s texts (sampled, seed 7; greedy); bad parameter 400' % port)
PYEOF
}

# The embedding version: a small classifier whose artifact becomes its encoder without the head.
sql "SELECT mf_create_model('transformer_encoder_classifier',
       '{\"name\": \"st_emb\", \"d_model\": 16, \"num_layers\": 1, \"num_heads\": 2, \"d_ff\": 2, \"dropout\": 0.0,
         \"vocab_size\": 120, \"max_length\": 24, \"num_classes\": 4}')"
[ "$(q "SELECT mf_train('st_emb', 'st_titles', 'category', '{\"text_column\": \"title\", \"epochs\": 1, \"batch_size\": 16}')")" = st_emb:1.0.0 ] ||
	fail "mf_train of st_emb"
EVID="$(q "SELECT version_id FROM mf.catalog WHERE ref = 'st_emb:1.0.0'")"
q "SELECT encode(bytes, 'base64') FROM mf.artifacts WHERE version_id = $EVID" | base64 -d >"$TMP/st_emb_cls.mfa"
"$MF_ROOT/build/unit/tf_embed_artifact" <"$TMP/st_emb_cls.mfa" >"$TMP/st_emb.mfa" || fail "tf_embed_artifact refused st_emb's artifact"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL || fail "storing st_emb's embedding artifact"
UPDATE mf.artifacts SET bytes = decode('$(base64 -w0 "$TMP/st_emb.mfa")', 'base64') WHERE version_id = $EVID;
SQL
EDIM="$(q "SELECT array_length(mf_embed('st_emb', 'a'), 1)")"
[ "$EDIM" = 16 ] || fail "mf_embed of st_emb has $EDIM values, not 16"
q "SELECT mf_predict('st_emb', 'a')" >/dev/null 2>&1 && fail "mf_predict of the embedding version st_emb answered"
out="$("$PG_BIN/psql" -X -q -tA -v VERBOSITY=verbose -c "SELECT mf_evaluate('st_emb', 'st_titles')" 2>&1 || true)"
grep -q '0A000.*task embedding cannot be evaluated on other rows' <<<"$out" || fail "mf_evaluate of st_emb: $out"
pass "st_emb:1.0.0: an embedding version (the encoder of a trained classifier, no head; mf_embed gives $EDIM floats, mf_predict and mf_evaluate refuse)"

# embed_check PORT MODEL EXPECT DIM [--classifier]: embed_check.py, then the OIP answer's numbers
# (output "embedding") read back as float4 by PostgreSQL (float4in on the JSON number's text)
# against mf_embed(MODEL, text), bit for bit.
embed_check() {
	local rc=0 ans
	"$PY" "$SERVE_DIR/embed_check.py" --port "$1" --expect "$3" --model "$2" --work "$TMP" ${5:-} \
		--npm "$MF_ROOT/build/npm-serve" --spec "$SERVE_DIR/open_inference_rest.yaml" || rc=$?
	[ "$rc" -eq 0 ] || fail "embedding checks of $2 on port $1 failed (see the 'not ok' lines above)"
	ans="$(q "SELECT jsonb_build_object('outputs', jsonb_build_array(jsonb_build_object('name', 'embedding')),
	          'inputs', jsonb_build_array(jsonb_build_object('name', 'title',
	          'shape', jsonb_build_array(count(*)), 'datatype', 'BYTES', 'data', jsonb_agg(t ORDER BY id)))) FROM st_texts" |
		curl -sf -H 'Content-Type: application/json' --data-binary @- "http://127.0.0.1:$1/v2/models/$2/infer")" ||
		fail "OIP infer of $2 on port $1"
	[ "$("$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -v ans="$ans" -v d="$4" -v m="$2" <<'SQL'
WITH a AS (SELECT :'ans'::jsonb -> 'outputs' -> 0 AS o),
     t AS (SELECT t, row_number() OVER (ORDER BY id) - 1 AS i FROM st_texts),
     got AS (SELECT t.i, t.t, (SELECT array_agg(encode(float4send((e.v::text)::float4), 'hex') ORDER BY e.k)
                               FROM a, jsonb_array_elements(a.o -> 'data') WITH ORDINALITY e(v, k)
                               WHERE e.k > t.i * :d AND e.k <= (t.i + 1) * :d) AS v FROM t)
SELECT count(*) FILTER (WHERE v IS DISTINCT FROM
                        (SELECT array_agg(encode(float4send(x), 'hex') ORDER BY k)
                         FROM unnest(mf_embed(:'m', got.t)) WITH ORDINALITY u(x, k))) || '/' || count(*)
FROM got
SQL
)" = "0/$(q "SELECT count(*) FROM st_texts")" ] || fail "port $1: $2's OIP embedding numbers read back as float4 differ from mf_embed"
	pass "port $1: $2's OIP embedding numbers, read back as float4 by PostgreSQL, are mf_embed's for every text"
}

# Test rows of a text model: objects {"title": ...} of the test split, which
# the served model answers like mf_predict(ref, jsonb) on the same objects.
[ "$(q "SELECT count(*) > 0 AND bool_and(jsonb_typeof(r -> 'title') = 'string')
          FROM jsonb_array_elements(mf._test_rows($VID, 100)) r")" = t ] ||
	fail "mf._test_rows($VID) holds no text rows: $(q "SELECT left(mf._test_rows($VID, 2)::text, 200)")"
[ "$(q "SELECT count(*) FROM jsonb_array_elements(mf._test_rows($VID, 100)) r
         WHERE mf_predict_label('st_cls', r ->> 'title') IS NULL")" = 0 ] || fail "test rows not scored"
pass "training stored $(q "SELECT jsonb_array_length(mf._test_rows($VID, 100))") text test rows in mf.test_rows"
[ "$(q "SELECT count(*) > 0 AND bool_and(r ?& ARRAY['title'] AND (SELECT count(*) FROM jsonb_object_keys(r)) = 1)
          FROM mf.catalog c, jsonb_array_elements(mf._test_rows(c.version_id, 100)) r WHERE c.ref = 'st_lm:1.0.0'")" = t ] ||
	fail "the decoder's test rows are not prompts {\"title\": ...}"

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
# embed_expect MODEL DIM FILE: mf_embed(MODEL, text)'s floats for the same texts (float4send bits).
embed_expect() {
	{
		printf '{"text_column": "title", "dim": %s,\n' "$2"
		printf '"texts": %s,\n' "$(q "SELECT jsonb_agg(t ORDER BY id) FROM st_texts")"
		printf '"expect": %s}\n' "$(q "SELECT jsonb_agg(to_jsonb(ARRAY(SELECT encode(float4send(u), 'hex')
		          FROM unnest(mf_embed('$1', t)) WITH ORDINALITY x(u, k) ORDER BY k)) ORDER BY id) FROM st_texts")"
	} >"$3"
	[ "$(q "SELECT count(DISTINCT mf_embed('$1', t)::text) FROM st_texts")" -ge 4 ] ||
		fail "$1's embeddings of different texts are equal"
}
embed_expect st_emb "$EDIM" "$TMP/embed.json"
# the classifier st_cls embeds too (its encoder's pooled output; the head unused)
CDIM="$(q "SELECT array_length(mf_embed('st_cls', 'a'), 1)")"
[ "$CDIM" = 32 ] || fail "mf_embed of st_cls has $CDIM values, not 32 (its d_model)"
embed_expect st_cls "$CDIM" "$TMP/cembed.json"
pass "database answers for $(q "SELECT count(*) FROM st_texts") texts (titles, empty, non-ASCII, beyond max_length)"

# mf-serve on the exported directory.
"$SERVE_DIR/export_model.sh" "$TMP/models" st_cls >/dev/null || fail "mf_export_model of st_cls failed"
"$SERVE_DIR/export_model.sh" "$TMP/lm" st_lm >/dev/null || fail "mf_export_model of st_lm failed"
"$SERVE_DIR/export_model.sh" "$TMP/lm" st_emb >/dev/null || fail "mf_export_model of st_emb failed"
cmp -s "$TMP/st_emb.mfa" "$TMP/lm/st_emb/$EVID/model.mfa" || fail "the export of st_emb is not its embedding artifact"
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
embed_check "$PORT" st_cls "$TMP/cembed.json" "$CDIM" --classifier
# the decoder and the embedding version from a second mf-serve (the first keeps one model: the generated /predict)
LPORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$MF_ROOT/build/mf-serve" --model-base-path "$TMP/lm" --host 127.0.0.1 --port "$LPORT" --threads 2 2>"$TMP/serve-lm.log" &
LSERVE_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$LPORT/v2/models/st_lm/ready" >/dev/null && break; sleep 0.1; done
gen_check "$LPORT"
embed_check "$LPORT" st_emb "$TMP/embed.json" "$EDIM"
pass "mf-serve: TF Serving and OIP answers on text equal mf_predict*, mf_generate and mf_embed (of st_emb and of the classifier st_cls) bit for bit; malformed bodies 4xx, alive"

# An image of the transformer: mf_deploy(ref, 'oci') builds it, verifies it with the stored text test
# rows and pushes it to Debian's docker-registry on loopback; mf_smoke_test then sends those rows to the
# mf-serve above (the same version) and marks the deployment verified.
command -v docker-registry >/dev/null || fail "docker-registry missing (scripts/install-deps.sh)"
RPORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
printf 'version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s/registry}}\nhttp: {addr: "127.0.0.1:%s", secret: st}\n' \
	"$TMP" "$RPORT" >"$TMP/registry.yml"
docker-registry serve "$TMP/registry.yml" >"$TMP/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do [ "$(http_code GET "http://127.0.0.1:$RPORT/v2/")" = 200 ] && break; sleep 0.1; done
sql "SELECT mf_drop_registry(name) FROM mf.registries WHERE name = 'st_local'"
sql "SELECT mf_create_registry('st_local', 'http://127.0.0.1:$RPORT', '{\"insecure\": true}')"
wait_for "SELECT launcher_pid > 0 FROM mf._jobs_state()" 30 || fail "no mf_ext launcher runs"
# oci_deploy MODEL REPOSITORY VID: mf_deploy(MODEL:1.0.0, 'oci') to st_local, active, pushed, and
# verified by the job with the text test rows of version VID; sets ODEP.
oci_deploy() {
	local job
	ODEP="$(q "SELECT mf_deploy('$1:1.0.0', 'oci', '{\"registry\": \"st_local\", \"repository\": \"$2\"}')")"
	job="$(q "SELECT job_id FROM mf.deployments WHERE deployment_id = $ODEP")"
	PGOPTIONS="-c client_min_messages=warning" q "SELECT status FROM mf_wait($job, '90 s')" >/dev/null
	[ "$(q "SELECT status || '|' || (image LIKE '127.0.0.1:$RPORT/$2@sha256:%') FROM mf.deployments WHERE deployment_id = $ODEP")" = "active|true" ] ||
		fail "oci deployment $ODEP of $1: $(q "SELECT status || ' ' || coalesce(error, '') FROM mf.deployments WHERE deployment_id = $ODEP")"
	grep -q "verified: the image answered $(q "SELECT jsonb_array_length(mf._test_rows($3, 100))") test rows as the database does" \
		<<<"$(q "SELECT string_agg(message, E'\n' ORDER BY event_id) FROM mf.job_events WHERE job_id = $job")" ||
		fail "the deploy job did not verify the image of $1 with its text test rows"
}
# smoke_verified DEPLOYMENT URL ROWS: mf_smoke_test against URL marks the deployment verified; SMOKE its counts.
smoke_verified() {
	local job
	job="$(q "SELECT mf_smoke_test($1, '$2', '{\"rows\": $3}')")"
	PGOPTIONS="-c client_min_messages=warning" q "SELECT status FROM mf_wait($job, '60 s')" >/dev/null
	[ "$(q "SELECT status FROM mf.deployments WHERE deployment_id = $1")" = verified ] ||
		fail "mf_smoke_test of deployment $1: $(q "SELECT row(s.*) FROM mf.smoke_tests s WHERE deployment_id = $1")"
	SMOKE="$(q "SELECT rows || ' rows, ' || mismatches || ' mismatches' FROM mf.smoke_tests WHERE deployment_id = $1 ORDER BY smoke_test_id DESC LIMIT 1")"
}
oci_deploy st_cls models/st-cls "$VID"
pass "mf_deploy(st_cls, oci): image built, verified with the stored text test rows, pushed ($(q "SELECT image FROM mf.deployments WHERE deployment_id = $ODEP" | sed 's/.*@//' | cut -c1-19)...)"
smoke_verified "$ODEP" "http://127.0.0.1:$PORT" 50
pass "mf_smoke_test sends the text test rows to mf-serve: $SMOKE: verified"
sql "SELECT mf_undeploy($ODEP)"
# The embedding version's image: verified with st_emb's text test rows, then smoke-tested against the second mf-serve.
oci_deploy st_emb models/st-emb "$EVID"
smoke_verified "$ODEP" "http://127.0.0.1:$LPORT" 20
pass "mf_deploy(st_emb, oci): the image's embeddings equal the database's on the test rows; mf_smoke_test against mf-serve: $SMOKE"
sql "SELECT mf_undeploy($ODEP)"
kill "$LSERVE_PID" && wait "$LSERVE_PID" || fail "mf-serve (st_lm, st_emb) did not exit 0 on SIGTERM"
LSERVE_PID=
sql "SELECT mf_drop_registry('st_local')"
kill "$REG_PID" && wait "$REG_PID" 2>/dev/null || true
kill "$SERVE_PID" && wait "$SERVE_PID" || fail "mf-serve did not exit 0 on SIGTERM"
SERVE_PID=

# The in-database HTTP worker: mf_deploy accepts the transformer version.
DEP="$(q "SELECT mf_deploy('st_cls')" 2>/dev/null)"
LDEP="$(q "SELECT mf_deploy('st_lm')" 2>/dev/null)"
EDEP="$(q "SELECT mf_deploy('st_emb')" 2>/dev/null)"
[ "$(q "SELECT status FROM mf.deployments WHERE deployment_id = $DEP")" = active ] || fail "deployment $DEP not active"
[ -n "$EDEP" ] && [ "$(q "SELECT status FROM mf.deployments WHERE deployment_id = $EDEP")" = active ] ||
	fail "mf_deploy('st_emb') is not active: $(q "SELECT mf_deploy('st_emb')" 2>&1)"
http_on 1
for _ in $(seq 50); do [ "$(http_code GET "$HTTP/v2/models/st_cls/ready")" = 200 ] && break; sleep 0.2; done
[ "$(http_code GET "$HTTP/v2/models/st_cls/ready")" = 200 ] ||
	fail "the in-database server does not serve st_cls: $(q 'SELECT row(s.*) FROM mf._http_state() s')"
pass "mf_deploy('st_cls') active; the in-database server serves it"
"$PY" "$SERVE_DIR/text_check.py" --port "$HTTP_PORT" --expect "$TMP/expect.json" --model st_cls --work "$TMP" \
	--npm "$MF_ROOT/build/npm-serve" --spec "$SERVE_DIR/open_inference_rest.yaml" || rc=$?
[ "$rc" -eq 0 ] || fail "in-database server text checks failed (see the 'not ok' lines above)"
embed_check "$HTTP_PORT" st_cls "$TMP/cembed.json" "$CDIM" --classifier
for _ in $(seq 50); do [ "$(http_code GET "$HTTP/v2/models/st_lm/ready")" = 200 ] && break; sleep 0.2; done
gen_check "$HTTP_PORT"
for _ in $(seq 50); do [ "$(http_code GET "$HTTP/v2/models/st_emb/ready")" = 200 ] && break; sleep 0.2; done
embed_check "$HTTP_PORT" st_emb "$TMP/embed.json" "$EDIM"
http_off
sql "SELECT mf_undeploy($DEP)"
sql "SELECT mf_undeploy($LDEP)"
sql "SELECT mf_undeploy($EDEP)"
sql "SELECT mf_drop_model('st_cls')"
sql "SELECT mf_drop_model('st_lm')"
sql "SELECT mf_drop_model('st_emb')"
sql "DROP TABLE st_titles, st_texts"
pass "in-database HTTP server: the same answers (embeddings of st_emb and st_cls included), errors and OpenAPI-valid OIP bodies"
