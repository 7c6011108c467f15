#!/usr/bin/env bash
# The in-database HTTP server serves deployments: one model per family
# (linear, binary and 3-class logistic, MLP classifier and regressor,
# k-means; a text feature, NULLs, an unseen and a non-ASCII category) is
# deployed with mf_deploy and scored through TensorFlow Serving REST and the
# Open Inference Protocol with curl: values, labels and probabilities equal
# mf_predict / mf_predict_label / mf_predict_proba bit for bit.  Then: a
# bearer token (401 + WWW-Authenticate: Bearer), a rate limit (429 +
# Retry-After), a 3:1 traffic split over 2,000 requests (X-Model-Version),
# a promotion and an alias move followed within a second, undeploy -> 404,
# 1,000 generated malformed bodies -> 4xx with an error object, /health and
# /metrics (promtool), and the same serving processes alive at the end.
. "$(dirname "$0")/http_lib.bash"
setup_jobs_db
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"; http_off >/dev/null 2>&1 || true' EXIT

MODELS=(hs_lin hs_log hs_log3 hs_mlp hs_mlpr hs_km)
for m in "${MODELS[@]}" hs_ab; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'"; done
sql "DROP TABLE IF EXISTS hs_train, hs_score"
sql "CREATE TABLE hs_train AS
     SELECT i AS id,
            CASE WHEN i % 17 = 0 THEN NULL ELSE (i % 13) / 6.5 - 1 END::float8 AS x1,
            (i % 7)::float8 AS x2,
            CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END AS flag,
            (ARRAY['red', 'grün', 'blue', NULL])[1 + i % 4] AS colour,
            round(((i % 13) / 6.5 - 1 + (i % 7) / 7.0)::numeric, 2)::float8 AS y_num,
            CASE WHEN (i % 13) / 6.5 - 1 + 0.2 * (i % 4) > 0 THEN 'yes' ELSE 'no' END AS y_bin,
            (1 + (i % 3 + i % 5) % 3)::int AS y_three
       FROM generate_series(1, 300) i"
sql "CREATE TABLE hs_score AS
     SELECT id, x1, x2, flag, colour FROM hs_train WHERE id <= 30
     UNION ALL VALUES (1001, NULL::float8, 3::float8, NULL::bool, NULL::text),
                      (1002, 0.123456789, -4, true, 'purple'),
                      (1003, -2.5e3, 0, false, 'grün'),
                      (1004, 1e-300, 100000, true, 'Red')"
SRC='SELECT x1, x2, flag, colour, y_num, y_bin, y_three FROM hs_train'
train() { # name family-config target options
	sql "SELECT mf_create_model('$2'::jsonb || '{\"name\": \"$1\"}')"
	sql "SELECT mf_train('$1', '$SRC', $3, '{\"features\": [\"x1\", \"x2\", \"flag\", \"colour\"]$4}')"
}
train hs_lin '{"family": "linear_regression"}' "'y_num'" ', "standardize": true'
train hs_log '{"family": "logistic_regression"}' "'y_bin'" ''
train hs_log3 '{"family": "logistic_regression"}' "'y_three'" ''
train hs_mlp '{"family": "mlp", "hidden_layers": [6, 5], "activation": "tanh"}' "'y_bin'" ', "epochs": 5'
train hs_mlpr '{"family": "mlp", "task": "regression", "hidden_layers": [7]}' "'y_num'" ', "epochs": 5'
train hs_km '{"family": "kmeans", "k": 3}' NULL ', "test_size": 0'

http_on 1
PIDS0="$(q "SELECT server_pids FROM mf._http_state()")"
for m in "${MODELS[@]}"; do sql "SELECT mf_deploy('$m')"; done
for m in "${MODELS[@]}"; do
	http_wait_code "$HTTP/v1/models/$m" 200 2 >/dev/null || fail "$m not served within 2 s of mf_deploy"
done
pass "${#MODELS[@]} deployments served within 2 s"

# ---------------------------------------------------------------- bit for bit
q "SELECT jsonb_agg(to_jsonb(s) - 'id' ORDER BY id) FROM hs_score s" >"$TMP/rows.json"
python3 - "$TMP/rows.json" "$TMP" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
json.dump({"instances": rows}, open(sys.argv[2] + "/tf.json", "w"), ensure_ascii=False)
types = {"x1": "FP64", "x2": "FP64", "flag": "BOOL", "colour": "BYTES"}
json.dump({"inputs": [{"name": c, "shape": [len(rows)], "datatype": t, "data": [r[c] for r in rows]}
                      for c, t in types.items()]}, open(sys.argv[2] + "/oip.json", "w"), ensure_ascii=False)
PY
hex() { printf "encode(float8send(%s), 'hex')" "$1"; }
NROWS="$(q 'SELECT count(*) FROM hs_score')"
for m in "${MODELS[@]}"; do
	if [ "$(q "SELECT (mf_get_model('$m') -> 'feature_schema' -> 'labels') IS NOT NULL AND '$m' <> 'hs_km'")" = t ]; then
		label="mf_predict_label('$m', s)"
		proba="array_to_string(ARRAY(SELECT $(hex u) FROM unnest(mf_predict_proba('$m', s)) u), ',')"
	else
		label="'-'"
		proba="'-'"
	fi
	q "SELECT $(hex "mf_predict('$m', s)") || ' ' || $label || ' ' || $proba FROM hs_score s ORDER BY id" >"$TMP/$m.sql"
	code="$(curl -s -o "$TMP/$m.tf" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary @"$TMP/tf.json" "$HTTP/v1/models/$m:predict")"
	[ "$code" = 200 ] || fail "$m TF predict: $code $(head -c 300 "$TMP/$m.tf")"
	code="$(curl -s -o "$TMP/$m.oip" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary @"$TMP/oip.json" "$HTTP/v2/models/$m/infer")"
	[ "$code" = 200 ] || fail "$m OIP infer: $code $(head -c 300 "$TMP/$m.oip")"
	python3 - "$TMP/$m.sql" "$TMP/$m.tf" "$TMP/$m.oip" "$m" <<'PY' || fail "$m: HTTP and SQL differ"
import json, struct, sys
h = lambda x: struct.pack(">d", float(x)).hex()
sql = [l.rstrip("\n").split(" ") for l in open(sys.argv[1], encoding="utf-8")]
tf = json.load(open(sys.argv[2]))["predictions"]
oip = json.load(open(sys.argv[3]))
outs = {o["name"]: o for o in oip["outputs"]}
assert oip["model_name"] == sys.argv[4], oip["model_name"]
bad = []
for i, (v, lab, pr) in enumerate(sql):
    t = tf[i]
    tv, tl, tp = (t["predict"], t["label"], t["probabilities"]) if isinstance(t, dict) else (t, "-", None)
    if h(tv) != v or h(outs["predict"]["data"][i]) != v:
        bad.append("row %d value: sql %s tf %s oip %s" % (i, v, h(tv), h(outs["predict"]["data"][i])))
    if lab != "-":
        k = len(pr.split(","))
        op = outs["probabilities"]["data"][i * k:(i + 1) * k]
        if tl != lab or outs["label"]["data"][i] != lab:
            bad.append("row %d label: sql %s tf %s oip %s" % (i, lab, tl, outs["label"]["data"][i]))
        if ",".join(map(h, tp)) != pr or ",".join(map(h, op)) != pr:
            bad.append("row %d probabilities differ" % i)
if len(tf) != len(sql) or bad:
    print("\n".join(bad[:10]) or "row counts differ", file=sys.stderr)
    sys.exit(1)
PY
	pass "$m: $NROWS rows bit for bit through TF REST and OIP (value$([ "$label" = "'-'" ] || echo ', label, probabilities'))"
done

# ---------------------------------------------------------------- auth and rate limit
sql "SELECT mf_deploy('hs_lin', 'http', '{\"name\": \"hs_auth\", \"auth\": {\"bearer_token\": \"s3cret-token-0123456789\"}}')"
sql "SELECT mf_deploy('hs_lin', 'http', '{\"name\": \"hs_rl\", \"rate_limit\": {\"requests_per_minute\": 5}}')"
http_wait_code "$HTTP/v2/models/hs_rl/ready" 200 2 >/dev/null || fail "hs_rl not served"
BODY='{"instances": [{"x1": 0.5, "x2": 1, "flag": true, "colour": "red"}]}'
curl -s -D "$TMP/h401" -o "$TMP/b401" --data-binary "$BODY" "$HTTP/v1/models/hs_auth:predict"
head -1 "$TMP/h401" | grep -q ' 401' || fail "no token: $(head -1 "$TMP/h401")"
grep -qi '^WWW-Authenticate: Bearer' "$TMP/h401" || fail "401 without WWW-Authenticate: Bearer"
grep -q '"error"' "$TMP/b401" || fail "401 without an error object"
[ "$(http_code POST "$HTTP/v1/models/hs_auth:predict" -H 'Authorization: Bearer wrong' --data-binary "$BODY")" = 401 ] ||
	fail "a wrong token is not 401"
[ "$(http_code POST "$HTTP/v1/models/hs_auth:predict" -H 'Authorization: Bearer s3cret-token-0123456789' --data-binary "$BODY")" = 200 ] ||
	fail "the right token is not 200"
pass "bearer token: 401 with WWW-Authenticate: Bearer without it or with a wrong one, 200 with it"
codes=""
for i in $(seq 1 8); do
	codes="$codes $(curl -s -D "$TMP/h$i" -o /dev/null -w '%{http_code}' --data-binary "$BODY" "$HTTP/v1/models/hs_rl:predict")"
done
[ "$codes" = " 200 200 200 200 200 429 429 429" ] || fail "rate limit 5/min: codes$codes"
grep -qi '^Retry-After: [1-9]' "$TMP/h8" || fail "429 without Retry-After"
pass "rate limit 5 per minute: 5 answered, then 429 with Retry-After"

# ---------------------------------------------------------------- traffic split, promotion, alias
sql "SELECT mf_create_model('{\"name\": \"hs_ab\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('hs_ab', '$SRC', 'y_bin', '{\"features\": [\"x1\", \"x2\"]}')"
sql "SELECT mf_train('hs_ab', '$SRC', 'y_bin', '{\"features\": [\"x1\", \"x2\", \"colour\"]}')"
V1="$(q "SELECT version FROM mf.catalog WHERE model = 'hs_ab' ORDER BY version_id LIMIT 1")"
V2="$(q "SELECT version FROM mf.catalog WHERE model = 'hs_ab' ORDER BY version_id DESC LIMIT 1")"
[ "$V1" != "$V2" ] || fail "hs_ab has one version"
sql "SELECT mf_deploy('hs_ab', 'http', '{\"name\": \"hs_split\", \"traffic\": {\"hs_ab:$V1\": 3, \"hs_ab:$V2\": 1}}')"
http_wait_code "$HTTP/v1/models/hs_split" 200 2 >/dev/null || fail "hs_split not served"
N=2000
# shellcheck disable=SC2046
curl -s -D "$TMP/split" --data-binary "$BODY" $(for _ in $(seq 1 $N); do printf '%s ' "$HTTP/v1/models/hs_split:predict"; done) >/dev/null
n1="$(grep -ci "^X-Model-Version: $V1" "$TMP/split" || true)"
n2="$(grep -ci "^X-Model-Version: $V2" "$TMP/split" || true)"
[ $((n1 + n2)) -eq $N ] || fail "split: $n1 + $n2 answers of $N carry a version"
# expected 1500 / 500; 5 standard deviations of a binomial(2000, 0.75) = 97
[ "$n1" -ge 1403 ] && [ "$n1" -le 1597 ] || fail "split 3:1 gave $n1 / $n2"
pass "traffic split 3:1 over $N requests: $n1 x $V1, $n2 x $V2 (expected 1500 +- 97)"

# the version a served name answers with now
served_version() { curl -s -o /dev/null -D - --data-binary "$BODY" "$HTTP/v1/models/$1:predict" | tr -d '\r' |
	sed -n 's/^[Xx]-[Mm]odel-[Vv]ersion: //p'; }
# Change something (SQL $2), then wait until served name $1 answers version $3; prints ms.
followed_within() {
	local t0
	sql "$2"
	t0="$(date +%s%N)"
	while [ "$(served_version "$1")" != "$3" ]; do
		[ $((($(date +%s%N) - t0) / 1000000)) -gt 1000 ] && return 1
		sleep 0.02
	done
	echo "$((($(date +%s%N) - t0) / 1000000))"
}
sql "SELECT mf_deploy('hs_ab', 'http', '{\"name\": \"hs_follow\"}')"
sql "SELECT mf_set_alias('hs_ab:$V1', 'champion')"
sql "SELECT mf_deploy('hs_ab@champion', 'http', '{\"name\": \"hs_alias\"}')"
http_wait_code "$HTTP/v1/models/hs_follow" 200 2 >/dev/null || fail "hs_follow not served"
[ "$(served_version hs_follow)" = "$V2" ] || fail "hs_follow without production: $(served_version hs_follow), expected the newest $V2"
ms="$(followed_within hs_follow "SELECT mf_set_stage('hs_ab:$V1', 'production')" "$V1")" || fail "promotion of $V1 not followed within 1 s"
pass "promotion of hs_ab:$V1 to production served after $ms ms"
ms="$(followed_within hs_follow "SELECT mf_set_stage('hs_ab:$V2', 'production')" "$V2")" || fail "promotion of $V2 not followed within 1 s"
pass "promotion of hs_ab:$V2 to production served after $ms ms"
[ "$(served_version hs_alias)" = "$V1" ] || fail "hs_alias serves $(served_version hs_alias), not $V1"
ms="$(followed_within hs_alias "SELECT mf_set_alias('hs_ab:$V2', 'champion')" "$V2")" || fail "alias move not followed within 1 s"
pass "alias champion moved to $V2: served after $ms ms"

# ---------------------------------------------------------------- undeploy
id="$(q "SELECT deployment_id FROM mf.deployments WHERE name = 'hs_follow' AND status = 'active'")"
sql "SELECT mf_undeploy($id)"
ms="$(http_wait_code "$HTTP/v1/models/hs_follow" 404 1)" || fail "undeployed hs_follow still served after 1 s"
[ "$(http_code POST "$HTTP/v1/models/hs_follow:predict" --data-binary "$BODY")" = 404 ] || fail "predict after undeploy is not 404"
[ "$(http_code GET "$HTTP/v1/models/hs_nothing")" = 404 ] || fail "a model never deployed is not 404"
[ "$(http_code GET "$HTTP/v2/models/hs_ab/ready")" = 404 ] || fail "an undeployed model name is reachable"
pass "undeploy -> 404 after $ms ms; only deployed names are reachable"

# ---------------------------------------------------------------- malformed bodies
python3 - "$HTTP" <<'PY' || fail "malformed bodies"
import http.client, json, random, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
random.seed(14)
good = json.dumps({"instances": [{"x1": 0.5, "x2": 1, "flag": True, "colour": "red"}]})
def bodies():
    for i in range(1000):
        k = i % 10
        if k == 0: yield "/v1/models/hs_log:predict", good[:random.randrange(0, len(good) - 1)]
        elif k == 1: yield "/v1/models/hs_log:predict", json.dumps({"instances": random.choice([1, "x", None, {}, [[]], [1, [2]]])})
        elif k == 2: yield "/v1/models/hs_log:predict", '{"instances": [{"x1": %s}]}' % random.choice(["NaN", "Infinity", "-Infinity", "1e999", "nan"])
        elif k == 3: d = random.randrange(40, 400); yield "/v1/models/hs_log:predict", "[" * d + "]" * d
        elif k == 4: yield "/v1/models/hs_log:predict", json.dumps({"instances": [{"x1": "abc%d" % i, "x2": 1}]})
        elif k == 5: yield "/v1/models/hs_log:predict", json.dumps({"instances": [[random.random()] * random.randrange(7, 30)]})
        elif k == 6: yield "/v1/models/hs_log:predict", bytes(random.randrange(256) for _ in range(random.randrange(1, 200))).decode("latin-1")
        elif k == 7: yield "/v2/models/hs_log/infer", json.dumps({"inputs": [{"name": "x1", "shape": [2, 3], "datatype": "FP64", "data": [1, 2]}]})
        elif k == 8: yield "/v2/models/hs_log/infer", json.dumps({"inputs": [{"name": "colour", "shape": [1], "datatype": random.choice(["FP16", "XYZ", "INT8X"]), "data": ["red"]}]})
        else: yield "/v2/models/hs_log/infer", json.dumps({"inputs": "nope", "id": i})
c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
n = 0
for path, body in bodies():
    c.request("POST", path, body=body.encode("latin-1") if isinstance(body, str) and not body.isascii() else body,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if not 400 <= r.status < 500:
        sys.exit("%s %r -> %d %r" % (path, body[:80], r.status, data[:200]))
    if "error" not in json.loads(data):
        sys.exit("%s %r -> %d without an error object" % (path, body[:80], r.status))
    if r.getheader("Connection", "").lower() == "close":
        c.close(); c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    n += 1
print("ok - %d malformed bodies answered 4xx with an error object" % n)
PY
head -c 1100000 /dev/zero | tr '\0' ' ' >"$TMP/big"
[ "$(http_code POST "$HTTP/v1/models/hs_log:predict" -H 'Content-Type: application/json' --data-binary @"$TMP/big")" = 413 ] ||
	fail "a body over mf.http_max_body is not 413"
pass "a body over mf.http_max_body (1 MB): 413"

# ---------------------------------------------------------------- health, metrics, still the same processes
curl -s "$HTTP/health" | grep -q '"hs_lin"' || fail "/health does not list hs_lin"
curl -s -D "$TMP/mh" -o "$TMP/metrics" "$HTTP/metrics"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$TMP/mh" || fail "/metrics content type: $(grep -i content-type "$TMP/mh")"
grep -q 'hs_log' "$TMP/metrics" || fail "/metrics does not count hs_log"
promtool check metrics <"$TMP/metrics" >"$TMP/promtool" 2>&1 || { cat "$TMP/promtool" >&2; fail "promtool check metrics"; }
pass "/health lists the served models; /metrics is valid Prometheus text (promtool)"
[ "$(q "SELECT server_pids FROM mf._http_state()")" = "$PIDS0" ] || fail "serving processes changed: $PIDS0 -> $(q "SELECT server_pids FROM mf._http_state()")"
http_alive || fail "server not alive at the end"
pass "the same serving process $PIDS0 answered everything and is alive"
for m in "${MODELS[@]}" hs_ab; do sql "SELECT mf_drop_model('$m')"; done
sql "DROP TABLE hs_train, hs_score"
