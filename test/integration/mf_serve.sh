#!/usr/bin/env bash
# mf-serve against the database: models of every family are trained with
# mf_train (a numeric, an integer, a boolean and a text feature, NULLs in
# every column, a non-ASCII category), written as a served model directory
# (<name>/<n>/model.mfa = mf.artifacts.bytes, serving.json as the brief
# lays it out), and served by the real binary on a free port.  Checked:
# - TF Serving :predict (row form with objects), the columnar form and OIP
#   v2 infer (one tensor per input, nulls included) give mf_predict,
#   mf_predict_label and mf_predict_proba bit for bit (doubles compared as
#   the hex of their bits, python3 parsing the JSON);
# - status codes and error objects of bad requests, 401 and 429 of the
#   policy flags (a second server);
# - SIGHUP serves a newly trained version, polling drops a removed model;
# - SIGTERM with a request in flight: the request is answered, exit 0;
# - the server answers GET /v2/health/live after everything else.
. "$(dirname "$0")/jobs_lib.bash"
wait_for_server || fail "server not reachable"
make -s -C "$MF_ROOT" build/mf-serve >/dev/null || fail "mf-serve does not build"
SERVE="$MF_ROOT/build/mf-serve"
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
MODELS=(ms_lin ms_log ms_log3 ms_mlp ms_mlpr ms_km)

sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
for m in "${MODELS[@]}"; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'"; done
sql "DROP TABLE IF EXISTS ms_train, ms_rows"
# Features: a number (NULL every 19th row), an integer, a boolean (NULL every
# 10th), a text category with a non-ASCII value (NULL every 4th).
sql "CREATE TABLE ms_train AS
     SELECT g AS id, v.x1, (g % 5)::int - 2 AS x2, CASE WHEN g % 10 = 3 THEN NULL ELSE g % 2 = 1 END AS flag,
            CASE g % 4 WHEN 0 THEN 'nord' WHEN 1 THEN 'süd' WHEN 2 THEN 'ost' END AS colour,
            round((coalesce(v.x1, 0) * 2 + g % 5 / 3.0)::numeric, 3) AS y_num,
            CASE WHEN coalesce(v.x1, 0) + (g % 4) / 4.0 > 0.3 THEN 'hit' ELSE 'miss' END AS y_bin,
            1 + (g * 7 % 3) AS y_three
       FROM generate_series(1, 240) g,
            LATERAL (SELECT CASE WHEN g % 19 = 0 THEN NULL ELSE sin(g * 0.7) END::float8 AS x1) v"
sql "CREATE TABLE ms_rows AS
     SELECT id, x1, x2, flag, colour FROM ms_train WHERE id BETWEEN 15 AND 28
     UNION ALL VALUES (1001, NULL::float8, NULL::int, NULL::bool, NULL::text),
                      (1002, 0.123456789, -4, true, 'west'),
                      (1003, -2.5e3, 0, false, 'süd')"
SRC='SELECT x1, x2, flag, colour, y_num, y_bin, y_three FROM ms_train'
# create_and_train NAME FAMILY-CONFIG TARGET EXTRA-OPTIONS
train() {
	sql "SELECT mf_create_model(jsonb_build_object('name', '$1') || '$2'::jsonb)"
	sql "SELECT mf_train('$1', '$SRC', $3, jsonb_build_object('features', ARRAY['x1', 'x2', 'flag', 'colour']) || '{$4}'::jsonb)"
}
train ms_lin '{"family": "linear_regression"}' "'y_num'" '"standardize": true'
train ms_log '{"family": "logistic_regression"}' "'y_bin'" ''
train ms_log3 '{"family": "logistic_regression"}' "'y_three'" ''
train ms_mlp '{"family": "mlp", "hidden_layers": [5, 4], "activation": "tanh"}' "'y_bin'" '"epochs": 4'
train ms_mlpr '{"family": "mlp", "task": "regression", "hidden_layers": [6]}' "'y_num'" '"epochs": 4'
train ms_km '{"family": "kmeans", "k": 4}' NULL '"test_size": 0'
sql "SELECT mf_set_stage('ms_log:1.0.0', 'production')"
sql "SELECT mf_set_alias('ms_log:1.0.0', 'champion')"
pass "trained ${#MODELS[@]} models (linear, 2- and 3-class logistic, mlp classifier and regressor, kmeans)"

# Write the served directory of one version: export_version MODEL VERSION_ID.
export_version() {
	local m="$1" vid="$2" dir sha meta
	dir="$TMP/models/$m/$vid"
	mkdir -p "$dir"
	q "SELECT encode(bytes, 'base64') FROM mf.artifacts WHERE version_id = $vid" | base64 -d >"$dir/model.mfa"
	sha="$(sha256sum "$dir/model.mfa" | cut -d' ' -f1)"
	meta="$(q "SELECT json_build_object('format', 'mf-serving/1', 'name', c.model, 'version', c.version,
	             'version_number', c.version_id, 'family', c.family,
	             'labels', to_json(array_remove(ARRAY[CASE WHEN c.stage <> 'development' THEN c.stage END], NULL)
	                               || coalesce((SELECT array_agg(alias ORDER BY alias) FROM mf.aliases a
	                                            WHERE a.version_id = c.version_id), '{}')),
	             'artifact', 'model.mfa', 'artifact_sha256', '$sha',
	             'trained_at', to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))
	           FROM mf.catalog c WHERE c.version_id = $vid")"
	printf '%s\n' "$meta" >"$dir/serving.json"
}
for m in "${MODELS[@]}"; do
	export_version "$m" "$(q "SELECT version_id FROM mf.catalog WHERE model = '$m'")"
done
[ -s "$TMP/models/ms_log/$(q "SELECT version_id FROM mf.catalog WHERE model = 'ms_log'")/model.mfa" ] ||
	fail "artifact export failed"

# The expected answers: per model, per row, value|label|proba as hex bits.
hex() { printf "encode(float8send(%s), 'hex')" "$1"; }
for m in "${MODELS[@]}"; do
	if [ "$m" = ms_lin ] || [ "$m" = ms_mlpr ] || [ "$m" = ms_km ]; then
		label="'-'"
		proba="'-'"
	else
		label="mf_predict_label('$m', s)"
		proba="array_to_string(ARRAY(SELECT $(hex u) FROM unnest(mf_predict_proba('$m', s)) u), ',')"
	fi
	q "SELECT $(hex "mf_predict('$m', s)") || '|' || $label || '|' || $proba FROM ms_rows s ORDER BY id" >"$TMP/$m.expected"
done
q "SELECT jsonb_agg(to_jsonb(s) - 'id' ORDER BY id) FROM ms_rows s" >"$TMP/rows.json"

# A free TCP port.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
"$SERVE" --model-base-path "$TMP/models" --host 127.0.0.1 --port "$PORT" --threads 2 --poll-seconds 1 \
	--log-requests 2>"$TMP/serve.log" &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null || { cat "$TMP/serve.log" >&2; fail "mf-serve not ready"; }
pass "mf-serve serves $TMP/models on port $PORT"

cat >"$TMP/check.py" <<'EOF'
"""Predictions over HTTP against the SQL functions, bit for bit."""
import json, struct, sys, urllib.request

base, tmp, models = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = json.load(open(f"{tmp}/rows.json"))
names = ["x1", "x2", "flag", "colour"]


def post(path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r), r.headers.get("X-Model-Version")


def bits(v):
    return struct.pack(">d", float(v)).hex()


def line(value, label, proba):
    return "|".join([bits(value), label if label is not None else "-",
                     ",".join(bits(p) for p in proba) if proba is not None else "-"])


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


for m in models:
    expected = open(f"{tmp}/{m}.expected").read().split("\n")[:-1]
    tf, ver = post(f"/v1/models/{m}:predict", {"instances": rows})
    got = []
    for p in tf["predictions"]:
        got.append(line(p["predict"], p["label"], p["probabilities"]) if isinstance(p, dict) else line(p, None, None))
    if got != expected:
        fail(f"{m}: TF row form differs\n got {got[:3]}\n exp {expected[:3]}")
    col, _ = post(f"/v1/models/{m}:predict", {"inputs": {k: [r[k] for r in rows] for k in names}})
    outs = col["outputs"]
    if isinstance(outs, dict):
        got = [line(v, l, p) for v, l, p in zip(outs["predict"], outs["label"], outs["probabilities"])]
    else:
        got = [line(v, None, None) for v in outs]
    if got != expected:
        fail(f"{m}: TF columnar form differs")
    dtypes = {"x1": "FP64", "x2": "INT64", "flag": "BOOL", "colour": "BYTES"}
    oip, _ = post(f"/v2/models/{m}/infer", {"id": "q", "inputs": [
        {"name": k, "shape": [len(rows), 1], "datatype": dtypes[k], "data": [r[k] for r in rows]} for k in names]})
    o = {t["name"]: t for t in oip["outputs"]}
    k = o["probabilities"]["shape"][1] if "probabilities" in o else 0
    got = [line(v, o["label"]["data"][i] if "label" in o else None,
                o["probabilities"]["data"][i * k:(i + 1) * k] if k else None)
           for i, v in enumerate(o["predict"]["data"])]
    if got != expected:
        fail(f"{m}: OIP infer differs")
    if oip["model_version"] != ver or oip["model_name"] != m or oip["id"] != "q":
        fail(f"{m}: OIP model_version {oip['model_version']} / header {ver}")
    print(f"ok - {m}: {len(rows)} rows bit for bit through TF rows, TF columns and OIP (version {ver})")
EOF
python3 "$TMP/check.py" "http://127.0.0.1:$PORT" "$TMP" "${MODELS[@]}" || fail "predictions differ from mf_predict"

# Bad requests: status code and the protocol's error object.
bad() { # expected-status method path body what
	local out code
	out="$(curl -s -o "$TMP/bad.json" -w '%{http_code}' -X "$2" -H 'Content-Type: application/json' \
		${4:+--data-binary "$4"} "http://127.0.0.1:$PORT$3")"
	code="$out"
	[ "$code" = "$1" ] || fail "$5: status $code, expected $1 ($(cat "$TMP/bad.json"))"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert list(d)==["error"] and d["error"]' "$TMP/bad.json" ||
		fail "$5: no error object: $(cat "$TMP/bad.json")"
	pass "$5: $1 with {\"error\": ...}"
}
bad 404 POST /v1/models/nope:predict '{"instances": []}' "unknown model (TF)"
bad 404 GET /v2/models/ms_lin/versions/7.7.7 '' "unknown version (OIP)"
bad 400 POST /v1/models/ms_lin:predict '{"instances": [{"x1": 1' "malformed JSON"
bad 400 POST /v2/models/ms_lin/infer '{"inputs": [{"name": "x1", "shape": [1], "datatype": "FP64", "data": [NaN]}]}' "NaN"
bad 400 POST /v2/models/ms_log/infer '{"inputs": [{"name": "t", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}' "wrong tensor shape"
bad 405 GET /v1/models/ms_lin:predict '' "wrong method"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$TMP/big.json"
bad 413 POST /v1/models/ms_lin:predict "@$TMP/big.json" "body over 1 MB"
[ "$(curl -s "http://127.0.0.1:$PORT/v1/models/ms_log/labels/champion" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model_version_status"][0]["version"])')" = \
	"$(q "SELECT version_id FROM mf.catalog WHERE model = 'ms_log'")" ] || fail "label champion"
pass "TF /labels/champion names the aliased version"

# SIGHUP serves a newly trained version.
sql "SELECT mf_train('ms_lin', '$SRC', 'y_num', jsonb_build_object('features', ARRAY['x1', 'x2', 'flag', 'colour'], 'alpha', 0.5))"
NEW_VID="$(q "SELECT max(version_id) FROM mf.catalog WHERE model = 'ms_lin'")"
NEW_VER="$(q "SELECT version FROM mf.catalog WHERE version_id = $NEW_VID")"
export_version ms_lin "$NEW_VID"
kill -HUP "$SERVE_PID"
for _ in $(seq 1 50); do
	curl -s "http://127.0.0.1:$PORT/v1/models/ms_lin/versions/$NEW_VID" | grep -q AVAILABLE && break
	sleep 0.1
done
got="$(curl -s -X POST --data-binary @<(printf '{"instances": %s}' "$(cat "$TMP/rows.json")") \
	"http://127.0.0.1:$PORT/v1/models/ms_lin/versions/$NEW_VID:predict" |
	python3 -c 'import json,struct,sys; print("\n".join(struct.pack(">d", v).hex() for v in json.load(sys.stdin)["predictions"]))')"
[ "$got" = "$(q "SELECT $(hex "mf_predict('ms_lin:$NEW_VER', s)") FROM ms_rows s ORDER BY id")" ] ||
	fail "after SIGHUP: version $NEW_VID does not answer as mf_predict('ms_lin:$NEW_VER')"
pass "SIGHUP: new version $NEW_VER (number $NEW_VID) served, bit for bit"

# Polling drops a removed model.
rm -rf "$TMP/models/ms_km"
for _ in $(seq 1 50); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/models/ms_km")" = 404 ] && break
	sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/models/ms_km")" = 404 ] ||
	fail "removed model still served after polling"
pass "--poll-seconds: a removed model is gone (404)"

# Policy flags on a second server: bearer token (401) and rate limit (429).
printf 'tok-%s\n' "$RANDOM" >"$TMP/token"
PORT2="$(free_port)"
"$SERVE" --model-base-path "$TMP/models" --host 127.0.0.1 --port "$PORT2" --threads 1 --poll-seconds 0 \
	--bearer-token-file "$TMP/token" --requests-per-minute 2 2>"$TMP/serve2.log" &
PIDS+=("$!")
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT2/v2/health/live" >/dev/null && break; sleep 0.1; done
URL2="http://127.0.0.1:$PORT2/v1/models/ms_log:predict"
BODY='{"instances": [{"x1": 0.5, "x2": 1, "flag": true, "colour": "ost"}]}'
code="$(curl -s -o /dev/null -D "$TMP/h401" -w '%{http_code}' -X POST --data-binary "$BODY" "$URL2")"
[ "$code" = 401 ] && grep -qi '^WWW-Authenticate: Bearer' "$TMP/h401" || fail "no token: $code"
AUTH="Authorization: Bearer $(cat "$TMP/token")"
c1="$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" -X POST --data-binary "$BODY" "$URL2")"
c2="$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" -X POST --data-binary "$BODY" "$URL2")"
c3="$(curl -s -o /dev/null -D "$TMP/h429" -w '%{http_code}' -H "$AUTH" -X POST --data-binary "$BODY" "$URL2")"
[ "$c1 $c2 $c3" = "200 200 429" ] && grep -qi '^Retry-After: [1-9]' "$TMP/h429" || fail "token + 2/min: $c1 $c2 $c3"
pass "--bearer-token-file: 401 with WWW-Authenticate; --requests-per-minute 2: 200 200 429 with Retry-After"

# Metrics of the first server.
curl -s "http://127.0.0.1:$PORT/metrics" | grep -q '^mf_serve_requests_total{model="ms_log",version="1.0.0",code="200"} [1-9]' ||
	fail "metrics lack the counter of ms_log"
pass "GET /metrics counts requests per model, version and code"

# Alive after everything.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/health/live")" = 200 ] || fail "not alive"
pass "alive after the bad requests and reloads (GET /v2/health/live 200)"

# SIGTERM with a request in flight: it is answered, then exit 0.
python3 - "$PORT" "$SERVE_PID" <<'EOF' || fail "drain on SIGTERM"
import os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
body = b'{"instances": [{"x1": 0.5, "x2": 1, "flag": true, "colour": "nord"}]}'
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /v1/models/ms_lin:predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
time.sleep(0.3)
os.kill(pid, signal.SIGTERM)
time.sleep(0.3)
s.sendall(body[10:])
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
assert data.startswith(b"HTTP/1.1 200"), data[:200]
assert b'"predictions"' in data
EOF
rc=0
wait "$SERVE_PID" || rc=$?
[ "$rc" = 0 ] || { tail -n 5 "$TMP/serve.log" >&2; fail "mf-serve exited $rc after SIGTERM"; }
grep -q "SIGTERM: draining" "$TMP/serve.log" || fail "no drain message"
pass "SIGTERM: the request in flight was answered, exit 0"
grep -q '"POST /v1/models/ms_lin:predict" 200' "$TMP/serve.log" || fail "--log-requests wrote no request line"
pass "--log-requests: one line per request"

for m in "${MODELS[@]}"; do sql "SELECT mf_drop_model('$m')"; done
sql "DROP TABLE ms_train, ms_rows"
