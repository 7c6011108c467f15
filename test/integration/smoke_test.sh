#!/usr/bin/env bash
# mf_smoke_test against a real mf-serve on an "edge host": a network namespace
# made by this test (ip netns, a veth pair on a private /30), the server bound
# to the namespace's address, so the job worker reaches it only over that link.
#   1. mf-serve (installed in pg bindir) serving the version exported with
#      mf_export_model: the smoke test passes, mf.smoke_tests records every
#      test row with 0 mismatches and latencies, the deployment is verified,
#      the job succeeded, the job log and mf.events say so; the server is alive;
#      the deployment now has the tested endpoint and the monitor worker
#      checks it (health_checks rows, no mf_set_endpoint); an endpoint the
#      user set with mf_set_endpoint survives a later passing test.
#   2. a server serving a tampered model (another version's artifact under
#      this version's name, semver and number): mismatches, the deployment
#      failed with the error, the job failed, the mismatching rows in details.
#   3. a dead endpoint: a clear failure within seconds (not ready: connection
#      refused), every row counted as a mismatch.
#   4. refusals: bad endpoint, bad options, a deployment without image, a role
#      that does not own the model.
# The oci deployment is a row this test inserts as superuser (an image
# reference by digest) and the edge server is mf-serve from bindir, so the
# job's rules are tested without building an image; test/integration/
# edge_runc.sh runs the real chain (mf_deploy to a registry, skopeo, umoci,
# the image under runc in the same kind of namespace, edge_lib.bash).
. "$(dirname "$0")/jobs_lib.bash"
. "$(dirname "$0")/edge_lib.bash"
[ "$(id -u)" = 0 ] || fail "this test makes a network namespace: run it as root"
command -v ip >/dev/null || fail "ip (iproute2) is missing"
wait_for_server || fail "server not reachable"
sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
wait_for "SELECT launcher_pid > 0 FROM mf._jobs_state()" 30 || fail "no mf_ext launcher runs"
TMP=""
edge_net_init smk
NS="$EDGE_NS"
SERVE_PID=""

# Stop the server, remove the namespace and the link, the test's rows and files (also at exit).
cleanup() {
	[ -z "$SERVE_PID" ] || { kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; } || true
	SERVE_PID=""
	edge_net_down
	sql "DELETE FROM mf.deployments WHERE model_name IN ('smk_churn', 'smk_other')" || true
	sql "SELECT mf_drop_model(name) FROM mf.models WHERE name IN ('smk_churn', 'smk_other')" || true
	sql "DROP TABLE IF EXISTS smk_train; DROP ROLE IF EXISTS smk_trainer" || true
	[ -z "$TMP" ] || rm -rf "$TMP"
}
trap cleanup EXIT
cleanup
TMP="$(mktemp -d)"
chmod 755 "$TMP"

# The edge host: namespace, veth pair, EDGE_HOST_IP/30 here and EDGE_IP/30 there.
edge_net_up || fail "no edge namespace"
pass "edge host: network namespace $NS, veth $EDGE_VETH_HOST ($EDGE_HOST_IP/30) <-> $EDGE_VETH_NS ($EDGE_IP/30)"

# Two models trained on different data: the tampered server serves the other one's artifact.
sql "CREATE TABLE smk_train AS
     SELECT (i % 13) / 6.5 - 1 AS x1, (i % 7)::int AS x2, (ARRAY['red', 'blue', 'green'])[1 + i % 3] AS colour,
            CASE WHEN (i % 13) / 6.5 - 1 + 0.2 * (i % 4) > 0 THEN 'yes' ELSE 'no' END AS y,
            CASE WHEN (i % 7) > 3 THEN 'yes' ELSE 'no' END AS y_other
       FROM generate_series(1, 400) i"
sql "SELECT mf_create_model('{\"name\": \"smk_churn\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('smk_churn', 'SELECT x1, x2, colour, y FROM smk_train', 'y')"
sql "SELECT mf_create_model('{\"name\": \"smk_other\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('smk_other', 'SELECT x1, x2, colour, y_other AS y FROM smk_train', 'y')"
VID="$(q "SELECT version_id FROM mf._resolve('smk_churn:1.0.0')")"
N_ROWS="$(q "SELECT jsonb_array_length(mf._test_rows($VID, 100))")"
[ "$N_ROWS" -gt 10 ] || fail "smk_churn keeps only $N_ROWS test rows"
IMAGE="registry.example.com:5000/models/smk-churn@sha256:$(printf 'smoke' | sha256sum | cut -c1-64)"
DEP="$(q "INSERT INTO mf.deployments (model_name, version, ref, target, name, status, image, created_by)
          VALUES ('smk_churn', '1.0.0', 'smk_churn:1.0.0', 'oci', 'smk_churn', 'active', '$IMAGE', current_user)
          RETURNING deployment_id")"

# The served directories: the true export, and a tampered one (smk_other's artifact as smk_churn:1.0.0).
mkdir -p "$TMP/good" "$TMP/other" "$TMP/tampered"
q "SELECT encode(mf_export_model('smk_churn'), 'base64')" | base64 -d | tar -x -C "$TMP/good" || fail "export failed"
q "SELECT encode(mf_export_model('smk_other'), 'base64')" | base64 -d | tar -x -C "$TMP/other" || fail "export failed"
OVID="$(ls "$TMP/other/smk_other")"
mkdir -p "$TMP/tampered/smk_churn/$VID"
cp "$TMP/other/smk_other/$OVID/model.mfa" "$TMP/tampered/smk_churn/$VID/"
jq --argjson n "$VID" '.name = "smk_churn" | .version = "1.0.0" | .version_number = $n' \
	"$TMP/other/smk_other/$OVID/serving.json" >"$TMP/tampered/smk_churn/$VID/serving.json"
chmod -R a+rX "$TMP"

# Start mf-serve on directory $1 in the namespace, bound to EDGE_IP:8501; wait until it is ready.
start_edge() {
	ip netns exec "$NS" "$PG_BIN/mf-serve" --model-base-path "$1" --host "$EDGE_IP" --port 8501 >"$TMP/serve.log" 2>&1 &
	SERVE_PID=$!
	for _ in $(seq 1 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$EDGE_IP:8501/v2/health/ready")" = 200 ] && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || fail "mf-serve exited: $(cat "$TMP/serve.log")"
		sleep 0.1
	done
	fail "mf-serve in $NS did not become ready: $(cat "$TMP/serve.log")"
}
# Stop the edge server.
stop_edge() { kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=""; }
# Run a smoke test (endpoint, options); print the job id once it ended (at most 50 s).
smoke() {
	local j o="${2:-}"
	[ -n "$o" ] || o='{}'
	j="$(q "SELECT mf_smoke_test($DEP, '$1', '$o')")" || fail "mf_smoke_test($1) refused"
	q "SELECT status FROM mf_wait($j, '50 s')" >/dev/null 2>&1 || true
	echo "$j"
}
# A column of the smoke test of job $1.
st() { q "SELECT $2 FROM mf.smoke_tests WHERE job_id = $1"; }

# The server is reachable over the link only (nothing listens on that address on this side).
start_edge "$TMP/good"
ip netns exec "$NS" ip route | grep -q "$EDGE_SUB/30 dev $EDGE_VETH_NS" || fail "no link route in the namespace"
pass "mf-serve from pg bindir serves the exported smk_churn:1.0.0 (number $VID) at $EDGE_IP:8501 inside $NS"

# 1. The true model passes.
J="$(smoke "http://$EDGE_IP:8501")"
[ "$(job "$J" status)" = succeeded ] || fail "job $J: $(job "$J" "status || ' ' || coalesce(error, '')")"
[ "$(st "$J" "passed::text || ' ' || rows || ' ' || mismatches || ' ' || (latency_p50_ms > 0 AND latency_p99_ms >= latency_p50_ms)::text")" = "true $N_ROWS 0 true" ] ||
	fail "smoke test row: $(st "$J" "row_to_json(smoke_tests)")"
[ "$(st "$J" "details ->> 'answered_version' || ' ' || (details -> 'status_counts' ->> '200')")" = "1.0.0 $N_ROWS" ] ||
	fail "details: $(st "$J" details)"
[ "$(q "SELECT status || '/' || coalesce(error, '') FROM mf.deployments WHERE deployment_id = $DEP")" = "verified/" ] ||
	fail "deployment not verified: $(q "SELECT status, error FROM mf.deployments WHERE deployment_id = $DEP")"
[ "$(job "$J" "phase || ' ' || (result ->> 'passed')")" = "smoke_testing true" ] || fail "job phase/result"
q "SELECT message FROM mf_job_log($J)" | grep -q "^passed: $N_ROWS rows answered as the database answers them" || fail "job log: $(q "SELECT message FROM mf_job_log($J)")"
[ "$(q "SELECT count(*) FROM mf.events WHERE action = 'deploy' AND model_name = 'smk_churn'
        AND after ->> 'status' = 'verified' AND (after ->> 'smoke_test_id')::bigint = $(st "$J" smoke_test_id)")" = 1 ] ||
	fail "no audit event for the verification"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE_IP:8501/v2/health/live")" = 200 ] || fail "mf-serve died during the smoke test"
pass "true model: $N_ROWS test rows over OIP v2, every answer equal to the database's (0 mismatches, p50 $(st "$J" "round(latency_p50_ms::numeric, 3)") ms), deployment verified, job succeeded, events written, server alive"

# The answers compared are the database's: mf_predict on a test row has the served probabilities (as doubles).
ROW="$(q "SELECT (mf._test_rows($VID, 1)) -> 0")"
DB="$(q "SELECT mf_predict('smk_churn:1.0.0', '$ROW'::jsonb) -> 'probabilities'" | jq -c '[.[]] | sort')"
BODY="$(jq -c '{inputs: [to_entries[] | {name: .key, shape: [1], datatype: (if (.value | type) == "string" then "BYTES" else "FP64" end), data: [.value]}]}' <<<"$ROW")"
SERVED="$(curl -s -X POST -H 'Content-Type: application/json' -d "$BODY" "http://$EDGE_IP:8501/v2/models/smk_churn/versions/1.0.0/infer" |
	jq -c '.outputs[] | select(.name == "probabilities") | .data | sort')"
[ -n "$SERVED" ] && [ "$DB" = "$SERVED" ] || fail "served $SERVED, database $DB"
pass "a served answer has mf_predict's probabilities, the same doubles ($SERVED)"

# The passing test gave the deployment its endpoint: the monitor worker polls it (no mf_set_endpoint).
[ "$(q "SELECT endpoint || ' ' || (options ? 'endpoint_set')::text FROM mf.deployments WHERE deployment_id = $DEP")" = \
	"http://$EDGE_IP:8501 false" ] || fail "endpoint after the smoke test: $(q "SELECT endpoint FROM mf.deployments WHERE deployment_id = $DEP")"
wait_for "SELECT count(*) >= 3 FROM mf.health_checks WHERE deployment_id = $DEP AND \"check\" IN ('ready', 'model_loaded', 'canary')" 15 ||
	fail "no health checks of the smoke-tested endpoint within 15 s"
got="$(q "SELECT string_agg(\"check\" || ':' || ok || ':' || coalesce(http_status::text, '-'), ' ' ORDER BY \"check\")
          FROM mf.health_checks WHERE deployment_id = $DEP AND \"check\" IN ('ready', 'model_loaded', 'canary')
           AND checked_at = (SELECT min(checked_at) FROM mf.health_checks WHERE deployment_id = $DEP)")"
[ "$got" = "canary:true:200 model_loaded:true:200 ready:true:200" ] || fail "first round at the smoke-tested endpoint: $got"
pass "the smoke-tested endpoint is the deployment's: the monitor worker checks it (ready, model_loaded, canary: 200)"

# An endpoint set with mf_set_endpoint stays when a later smoke test elsewhere passes.
q "SELECT mf_set_endpoint($DEP, 'http://127.0.0.1:9')" >/dev/null
J="$(smoke "http://$EDGE_IP:8501" '{"rows": 5}')"
[ "$(job "$J" status)" = succeeded ] || fail "second smoke test: job $J is $(job "$J" status)"
[ "$(q "SELECT status || ' ' || endpoint FROM mf.deployments WHERE deployment_id = $DEP")" = "verified http://127.0.0.1:9" ] ||
	fail "a user's endpoint was replaced: $(q "SELECT status, endpoint FROM mf.deployments WHERE deployment_id = $DEP")"
pass "an endpoint set with mf_set_endpoint is kept by a passing smoke test at another URL"
stop_edge

# 2. A tampered model under the same name and version fails.
start_edge "$TMP/tampered"
J="$(smoke "http://$EDGE_IP:8501")"
[ "$(job "$J" status)" = failed ] || fail "tampered: job $J is $(job "$J" status)"
MM="$(st "$J" mismatches)"
[ "$(st "$J" "passed::text || ' ' || rows")" = "false $N_ROWS" ] && [ "$MM" -gt 0 ] ||
	fail "tampered: $(st "$J" "row_to_json(smoke_tests)")"
[ "$(st "$J" "jsonb_array_length(details -> 'mismatch_rows') > 0 AND details -> 'mismatch_rows' -> 0 ->> 'got_status' = '200'")" = t ] ||
	fail "tampered: no mismatching rows in details"
[ "$(q "SELECT status || ': ' || error FROM mf.deployments WHERE deployment_id = $DEP")" = \
	"failed: smoke test at http://$EDGE_IP:8501: $MM of $N_ROWS rows answered differently from the database" ] ||
	fail "tampered: deployment $(q "SELECT status, error FROM mf.deployments WHERE deployment_id = $DEP")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE_IP:8501/v2/health/live")" = 200 ] || fail "tampered mf-serve died"
pass "tampered model (smk_other's artifact as smk_churn:1.0.0): $MM of $N_ROWS rows mismatch, deployment failed with the count, job failed"
stop_edge

# 3. Nothing listens any more: a clear failure, fast.
T0="$(date +%s)"
J="$(smoke "http://$EDGE_IP:8501" '{"rows": 10, "timeout_ms": 2000}')"
[ "$(job "$J" status)" = failed ] || fail "dead endpoint: job $J is $(job "$J" status)"
[ "$(st "$J" "passed::text || ' ' || rows || ' ' || mismatches || ' ' || (latency_p50_ms IS NULL)::text")" = "false 10 10 true" ] ||
	fail "dead endpoint: $(st "$J" "row_to_json(smoke_tests)")"
ERR="$(q "SELECT error FROM mf.deployments WHERE deployment_id = $DEP")"
grep -q "^endpoint http://$EDGE_IP:8501 is not ready: .*\(refused\|connect\)" <<<"$ERR" || fail "dead endpoint error: $ERR"
[ $(($(date +%s) - T0)) -lt 20 ] || fail "dead endpoint took $(($(date +%s) - T0)) s"
pass "dead endpoint: failed within $(($(date +%s) - T0)) s with \"$ERR\""

# 4. Refusals.
refused "$PGUSER" "SELECT mf_smoke_test($DEP, 'http://user:pw@$EDGE_IP:8501')" 22023 "mf_smoke_test: invalid option or endpoint" "invalid smoke test endpoint"
refused "$PGUSER" "SELECT mf_smoke_test($DEP, 'file:///etc/passwd')" 22023 "mf_smoke_test: invalid option or endpoint" "invalid smoke test endpoint"
refused "$PGUSER" "SELECT mf_smoke_test($DEP, 'http://$EDGE_IP:8501', '{\"rows\": 0}')" 22023 "mf_smoke_test: invalid option or endpoint" "options.rows: must be a positive integer (at most 100)"
refused "$PGUSER" "SELECT mf_smoke_test($DEP, 'http://$EDGE_IP:8501', '{\"row\": 5}')" 22023 "mf_smoke_test: invalid option or endpoint" 'options.row: unknown key "row"'
HTTP_DEP="$(q "INSERT INTO mf.deployments (model_name, version, ref, target, name, status, created_by)
               VALUES ('smk_churn', '1.0.0', 'smk_churn:1.0.0', 'http', 'smk_churn_http', 'active', current_user)
               RETURNING deployment_id")"
refused "$PGUSER" "SELECT mf_smoke_test($HTTP_DEP, 'http://$EDGE_IP:8501')" 55000 "mf_smoke_test: a deployment without image" "deployment $HTTP_DEP has no image to smoke-test"
sql "CREATE ROLE smk_trainer LOGIN IN ROLE mf_trainer"
refused smk_trainer "SELECT mf_smoke_test($DEP, 'http://$EDGE_IP:8501')" 42501 "mf_smoke_test by a trainer who does not own the model"
[ "$(q "SELECT count(*) FROM mf.smoke_tests WHERE deployment_id = $DEP")" = 4 ] || fail "refused calls left smoke tests behind"
pass "refused calls record no smoke test"
