#!/usr/bin/env bash
# registry_push.sh - the OCI registry client (image/registry*.c) and the
# registries of SQL (sql/registries.sql) against real registries.
#
# Starts, on loopback: Debian's docker-registry twice - one with htpasswd
# Basic auth (bcrypt), one with auth.token pointing at a token server written
# for this test (test/integration/registry/token_server.py: the ACR
# /oauth2/token shape, refresh-token and password grants, RS256 JWTs the
# registry checks against a certificate made here with openssl).  Then:
# pushes (chunked, mounted), pulls back with skopeo and recomputes every
# digest, copies across and within registries, wrong credentials, the
# registry stopped mid-push (clean failure, no manifest, a retry succeeds),
# the 1 GiB limit, the same through SQL (mf_create_registry,
# mf._registry_push/_copy), secrets absent from every log, event and
# statement text, and the gate of a gated registry.
# shellcheck source=test/integration/jobs_lib.bash
. "$(dirname "$0")/jobs_lib.bash"

for tool in docker-registry skopeo htpasswd openssl; do
	command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done
PY=/usr/bin/python3
$PY -c 'import cryptography' 2>/dev/null || fail "python3-cryptography is missing (scripts/install-deps.sh installs it)"
make -s -C "$MF_ROOT" build/unit/registry_cli >/dev/null || fail "registry_cli does not build"
CLI="$MF_ROOT/build/unit/registry_cli"
HERE="$MF_ROOT/test/integration/registry"
PGLOG="${MF_CLUSTER_DIR:-$MF_ROOT/.mf}/log/postgresql.log"

W="$(mktemp -d /tmp/mf-registry-XXXXXX)"
chmod 755 "$W"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

# Three free loopback ports.
read -r P_BASIC P_TOKEN P_AUTH < <($PY -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

# Secrets of this run (random: a grep for them finds only leaks).
PASSWORD="pw-$(openssl rand -hex 12)"
REFRESH="rt-$(openssl rand -hex 16)"
WRONG="wrong-$(openssl rand -hex 12)"
USERNAME=mfuser

# Start a docker-registry on config $1 (log $2); its pid is appended to PIDS.
start_registry() {
	docker-registry serve "$1" >>"$2" 2>&1 &
	PIDS+=($!)
	LAST_PID=$!
}
# Wait until http://127.0.0.1:$1/v2/ answers (any status).
wait_http() {
	local i
	for i in $(seq 1 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v2/" || true)" != 000 ] && return 0
		sleep 0.1
	done
	return 1
}

# Basic registry (htpasswd, bcrypt).
htpasswd -Bbn "$USERNAME" "$PASSWORD" >"$W/htpasswd" 2>/dev/null
cat >"$W/basic.yml" <<EOF
version: 0.1
log: {level: info}
storage: {filesystem: {rootdirectory: $W/basic-data}}
http: {addr: "127.0.0.1:$P_BASIC", secret: mf-test-basic-secret}
auth: {htpasswd: {realm: mf-basic, path: $W/htpasswd}}
EOF
start_registry "$W/basic.yml" "$W/basic.log"
BASIC_PID=$LAST_PID

# Token registry and its token server.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/token.key" -out "$W/token.crt" -days 1 \
	-subj /CN=mf-test-token >/dev/null 2>&1 || fail "openssl could not make the token certificate"
$PY "$HERE/token_server.py" "$P_AUTH" "$W/token.key" "$W/token.crt" "$USERNAME" "$PASSWORD" "$REFRESH" \
	"$W/token-server.log" 2>"$W/token-server.err" &
PIDS+=($!)
cat >"$W/token.yml" <<EOF
version: 0.1
log: {level: info}
storage: {filesystem: {rootdirectory: $W/token-data}}
http: {addr: "127.0.0.1:$P_TOKEN", secret: mf-test-token-secret}
auth:
  token: {realm: "http://127.0.0.1:$P_AUTH/oauth2/token", service: mf-test-registry, issuer: mf-test-issuer,
          rootcertbundle: $W/token.crt}
EOF
start_registry "$W/token.yml" "$W/token.log"
wait_http "$P_BASIC" && wait_http "$P_TOKEN" || fail "the registries did not start (logs: $W/*.log)"
for i in $(seq 1 50); do curl -s "http://127.0.0.1:$P_AUTH/stats" >/dev/null && break; sleep 0.1; done
BASIC="http://127.0.0.1:$P_BASIC"
TOKEN="http://127.0.0.1:$P_TOKEN"
export MF_REG_INSECURE=1 MF_REG_CHUNK=1000000 MF_REG_BACKOFF_MS=100

# Layouts: v1 (3 blobs, one of 3 MB: pushed in chunks), v2 (other blobs).
D1="$($PY "$HERE/make_layout.py" "$W/lay1" v1 one 3000000)"
D2="$($PY "$HERE/make_layout.py" "$W/lay2" v2 two 3000000)"

# ---- Basic auth -----------------------------------------------------------
got="$(MF_REG_USERNAME=$USERNAME MF_REG_PASSWORD=$PASSWORD "$CLI" push "$BASIC" "$W/lay1" models/churn v1 2>"$W/push1.err")" ||
	fail "basic push: $(cat "$W/push1.err")"
[ "$got" = "$D1" ] || fail "basic push returned $got, the layout's manifest is $D1"
[ "$(grep -c '^progress: upload .* [0-9]*/3[0-9]*$' "$W/push1.err")" -ge 3 ] || fail "the 3 MB layer was not sent in chunks"
pass "basic auth: layout pushed in 1 MB chunks; the returned digest is the layout's manifest digest"

skopeo copy -q --src-tls-verify=false --src-creds "$USERNAME:$PASSWORD" "docker://127.0.0.1:$P_BASIC/models/churn:v1" \
	"oci:$W/pulled:v1" >/dev/null 2>"$W/skopeo.err" || fail "skopeo could not pull: $(cat "$W/skopeo.err")"
pulled="$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$W/pulled/index.json")"
[ "$pulled" = "$D1" ] || fail "skopeo pulled manifest $pulled, pushed $D1"
for b in "$W"/pulled/blobs/sha256/*; do
	[ "sha256:$(sha256sum "$b" | cut -d' ' -f1)" = "sha256:$(basename "$b")" ] || fail "pulled blob $b does not hash to its name"
	cmp -s "$b" "$W/lay1/blobs/sha256/$(basename "$b")" || fail "pulled blob $(basename "$b") differs from the pushed one"
done
pass "skopeo pulls it back: same manifest digest, every blob hashes to its name and equals the pushed bytes"

MF_REG_USERNAME=$USERNAME MF_REG_PASSWORD=$PASSWORD "$CLI" push "$BASIC" "$W/lay1" models/other v1 models/churn \
	>/dev/null 2>"$W/mount.err" || fail "mount push: $(cat "$W/mount.err")"
[ "$(grep -c '^progress: mount ' "$W/mount.err")" = 3 ] && ! grep -q '^progress: upload ' "$W/mount.err" ||
	fail "blobs were not mounted across repositories: $(cat "$W/mount.err")"
pass "cross-repository mount: 3 blobs mounted from models/churn, none uploaded"

if MF_REG_USERNAME=$USERNAME MF_REG_PASSWORD=$WRONG "$CLI" push "$BASIC" "$W/lay1" models/x v1 >/dev/null 2>"$W/wrong.err"; then
	fail "a wrong password pushed"
fi
grep -q '^error: auth http=401 ' "$W/wrong.err" && grep -q "registry $BASIC" "$W/wrong.err" ||
	fail "wrong password: unclear error: $(cat "$W/wrong.err")"
grep -q -- "$WRONG" "$W/wrong.err" && fail "the wrong password is in the error"
pass "basic, wrong password: auth error with registry and HTTP 401, the password not in it"
"$CLI" push "$BASIC" "$W/lay1" models/x v1 >/dev/null 2>"$W/none.err" && fail "an anonymous push to a Basic registry succeeded"
grep -q 'none are configured' "$W/none.err" || fail "no credentials: unclear error: $(cat "$W/none.err")"
pass "basic, no credentials: 'the registry requires credentials ... none are configured'"

# ---- Bearer tokens (ACR shape) ---------------------------------------------
got="$(MF_REG_REFRESH_TOKEN=$REFRESH "$CLI" push "$TOKEN" "$W/lay1" models/churn v1 2>"$W/acr.err")" ||
	fail "refresh-token push: $(cat "$W/acr.err")"
[ "$got" = "$D1" ] || fail "refresh-token push returned $got"
grep -q '^POST /oauth2/token grant_type=refresh_token$' "$W/token-server.log" || fail "no refresh-token grant was used"
issued="$(curl -s "http://127.0.0.1:$P_AUTH/stats" | $PY -c 'import json,sys; print(json.load(sys.stdin)["issued"])')"
[ "$issued" = 1 ] || fail "the token was not reused: $issued tokens for one push"
pass "bearer challenge, ACR refresh-token exchange at /oauth2/token; one token for the 9 requests of a push"

got="$(MF_REG_USERNAME=$USERNAME MF_REG_PASSWORD=$PASSWORD "$CLI" push "$TOKEN" "$W/lay2" models/churn v2 2>"$W/pwd.err")" ||
	fail "username/password push to the token registry: $(cat "$W/pwd.err")"
[ "$got" = "$D2" ] && grep -q '^GET /oauth2/token basic$' "$W/token-server.log" || fail "token GET with Basic credentials not used"
skopeo copy -q --src-tls-verify=false --src-creds "$USERNAME:$PASSWORD" "docker://127.0.0.1:$P_TOKEN/models/churn:v2" \
	"oci:$W/pulled2:v2" >/dev/null 2>"$W/skopeo2.err" || fail "skopeo could not pull from the token registry: $(cat "$W/skopeo2.err")"
[ "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$W/pulled2/index.json")" = "$D2" ] ||
	fail "skopeo pulled another manifest from the token registry"
pass "bearer with username/password (token GET with Basic); skopeo pulls the same digest back"

MF_REG_REFRESH_TOKEN=$WRONG "$CLI" push "$TOKEN" "$W/lay1" models/churn v1 >/dev/null 2>"$W/wrongrt.err" &&
	fail "a wrong refresh token pushed"
grep -q '^error: auth http=401 code=UNAUTHORIZED: .*token server .*refused the refresh-token credentials' "$W/wrongrt.err" ||
	fail "wrong refresh token: unclear error: $(cat "$W/wrongrt.err")"
grep -q -- "$WRONG" "$W/wrongrt.err" && fail "the wrong refresh token is in the error"
pass "bearer, wrong refresh token: auth error naming the token server and HTTP 401, the token not in it"

# ---- Copy by digest ---------------------------------------------------------
MF_REG_SRC_USERNAME=$USERNAME MF_REG_SRC_PASSWORD=$PASSWORD MF_REG_REFRESH_TOKEN=$REFRESH \
	"$CLI" copy "$BASIC" models/churn "$D1" "$TOKEN" models/copied v1 >/dev/null 2>"$W/copy.err" ||
	fail "copy across registries: $(cat "$W/copy.err")"
[ "$(grep -c '^progress: download ' "$W/copy.err")" = 3 ] || fail "the copy across registries did not download 3 blobs"
[ "$(MF_REG_REFRESH_TOKEN=$REFRESH "$CLI" exists "$TOKEN" models/copied "$D1" 2>/dev/null)" = yes ] ||
	fail "the copied manifest is not in the destination"
MF_REG_SRC_REFRESH_TOKEN=$REFRESH MF_REG_REFRESH_TOKEN=$REFRESH \
	"$CLI" copy "$TOKEN" models/copied "$D1" "$TOKEN" models/prod v1 >/dev/null 2>"$W/copy2.err" ||
	fail "copy within a registry: $(cat "$W/copy2.err")"
[ "$(grep -c '^progress: mount ' "$W/copy2.err")" = 3 ] || fail "the copy within one registry did not mount: $(cat "$W/copy2.err")"
pass "copy by digest: across registries (blobs downloaded, checked, uploaded), within one registry (3 mounts), same digest"

# ---- Registry stopped mid-push ----------------------------------------------
# Pause after the first chunk of v2's big layer, stop the registry, go on.
export MF_REG_USERNAME=$USERNAME MF_REG_PASSWORD=$PASSWORD
MF_REG_PAUSE="3:$W/pause" MF_REG_RETRIES=2 "$CLI" push "$BASIC" "$W/lay2" models/churn v2 >"$W/mid.out" 2>"$W/mid.err" &
cli_pid=$!
for i in $(seq 1 100); do [ -e "$W/pause.paused" ] && break; sleep 0.1; done
[ -e "$W/pause.paused" ] || fail "the push never reached its pause"
kill "$BASIC_PID"; wait "$BASIC_PID" 2>/dev/null || true
touch "$W/pause.go"
if wait "$cli_pid"; then fail "the push succeeded with the registry stopped"; fi
grep -q '^error: unavailable ' "$W/mid.err" || fail "registry stopped: unclear error: $(cat "$W/mid.err")"
start_registry "$W/basic.yml" "$W/basic.log"
BASIC_PID=$LAST_PID
wait_http "$P_BASIC" || fail "the basic registry did not restart"
[ "$("$CLI" exists "$BASIC" models/churn v2 2>/dev/null)" = no ] || fail "a partial push left the tag v2"
pass "registry stopped mid-push: clean 'unavailable' failure after retries, no manifest left"
got="$("$CLI" push "$BASIC" "$W/lay2" models/churn v2 2>"$W/retry.err")" || fail "the retried push failed: $(cat "$W/retry.err")"
[ "$got" = "$D2" ] && grep -q '^progress: exists ' "$W/retry.err" || fail "the retry did not reuse the blobs already pushed"
pass "the retried push succeeds, blobs already pushed are not sent again"

# ---- 429 and 503 are retried with backoff ----------------------------------------
P_FLAKY="$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
$PY "$HERE/flaky_proxy.py" "$P_FLAKY" "$P_BASIC" 2>"$W/flaky.err" &
PIDS+=($!)
for i in $(seq 1 50); do curl -s "http://127.0.0.1:$P_FLAKY/__stats" >/dev/null && break; sleep 0.1; done
D3="$($PY "$HERE/make_layout.py" "$W/lay3" v3 three)"
got="$("$CLI" push "http://127.0.0.1:$P_FLAKY" "$W/lay3" models/flaky v3 2>"$W/flaky-push.err")" ||
	fail "push through 429/503 failures: $(cat "$W/flaky-push.err")"
injected="$(curl -s "http://127.0.0.1:$P_FLAKY/__stats" | $PY -c 'import json,sys; print(json.load(sys.stdin)["injected"])')"
[ "$got" = "$D3" ] && [ "$injected" -ge 6 ] || fail "flaky push: digest $got, $injected failures injected"
pass "every other request answered 503 or 429 (Retry-After): $injected retried with backoff, the push succeeds"

# ---- Cancel -----------------------------------------------------------------------
MF_REG_PAUSE="1:$W/cancel" "$CLI" push "$BASIC" "$W/lay1" models/cancelled v1 >/dev/null 2>"$W/cancel.err" &
cli_pid=$!
for i in $(seq 1 100); do [ -e "$W/cancel.paused" ] && break; sleep 0.1; done
kill -INT "$cli_pid"
wait "$cli_pid" && fail "a cancelled push succeeded"
grep -q '^error: cancelled ' "$W/cancel.err" || fail "cancel: unclear error: $(cat "$W/cancel.err")"
[ "$("$CLI" exists "$BASIC" models/cancelled v1 2>/dev/null)" = no ] || fail "a cancelled push left its tag"
pass "cancel (the client's callback): the push stops with 'cancelled', no manifest"

# ---- The 1 GiB limit ----------------------------------------------------------
$PY "$HERE/make_layout.py" "$W/huge" v1 huge 0 huge >/dev/null
"$CLI" push "$BASIC" "$W/huge" models/huge v1 >/dev/null 2>"$W/huge.err" && fail "a layer over 1 GiB was pushed"
grep -q '^error: too_large .*has 1073741825 bytes, more than the limit of 1073741824 bytes' "$W/huge.err" ||
	fail "1 GiB limit: unclear error: $(cat "$W/huge.err")"
[ "$("$CLI" exists "$BASIC" models/huge v1 2>/dev/null)" = no ] || fail "the huge image was tagged"
pass "a layer of 1 GiB + 1 byte: refused before upload, naming the limit"
unset MF_REG_USERNAME MF_REG_PASSWORD

# ---- SQL ------------------------------------------------------------------------
setup_jobs_db
sql "SELECT mf_drop_registry(name) FROM mf.registries WHERE name LIKE 'it\_%'"
sql "SELECT mf_create_registry('it_basic', '$BASIC', '{\"username\": \"$USERNAME\", \"password\": \"$PASSWORD\", \"insecure\": true}')"
# The recommended way: the secret comes through \copy (COPY data is in no statement text).
printf '{"refresh_token": "%s", "insecure": true, "gated": true}\n' "$REFRESH" >"$W/acr-options.json"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<EOF
CREATE TEMP TABLE reg_opts (o jsonb);
\copy reg_opts FROM '$W/acr-options.json'
SELECT mf_create_registry('it_acr', '$TOKEN', (SELECT o FROM reg_opts));
EOF
[ "$(q "SELECT string_agg(name || ':' || auth || ':' || gated || ':' || insecure, ',' ORDER BY name) FROM mf.registries WHERE name LIKE 'it\_%'")" = \
	"it_acr:acr:true:true,it_basic:basic:false:true" ] || fail "mf.registries: $(q "TABLE mf.registries")"
pass "mf_create_registry: basic and ACR registries (the refresh token passed through \\copy)"

# A failing mf_create_registry logs neither its statement nor its context (the password is in it).
"$PG_BIN/psql" -X -q -c "SELECT mf_create_registry('it_bad', 'ftp://x', '{\"username\": \"u\", \"password\": \"$WRONG\"}')" \
	2>"$W/badcreate.err" && fail "a bad registry was created"
grep -q 'url: must start with https://' "$W/badcreate.err" || fail "bad registry: $(cat "$W/badcreate.err")"
ref="$(q "SELECT mf._registry_push('it_basic', '$W/lay1', 'sql/churn', 'v1')")"
[ "$ref" = "127.0.0.1:$P_BASIC/sql/churn@$D1" ] || fail "SQL push returned $ref"
ref="$(q "SELECT mf._registry_copy('it_basic', 'sql/churn', '$D1', 'it_acr', 'prod/churn', '1.0.0')")"
[ "$ref" = "127.0.0.1:$P_TOKEN/prod/churn@$D1" ] || fail "SQL copy returned $ref"
pass "SQL: push through the stored Basic credentials, copy to the ACR-shaped registry; references by digest"

sql "SELECT mf_create_registry('it_wrong', '$TOKEN', '{\"refresh_token\": \"$WRONG\", \"insecure\": true}')"
out="$("$PG_BIN/psql" -X -v VERBOSITY=verbose -c "SELECT mf._registry_push('it_wrong', '$W/lay1', 'sql/churn', 'v1')" 2>&1 || true)"
echo "$out" | grep -q 'ERROR:  28000: could not push image to registry "it_wrong"' &&
	echo "$out" | grep -q 'HTTP 401' || fail "SQL, wrong credentials: $out"
echo "$out" | grep -q -- "$WRONG" && fail "the wrong token is in the SQL error"
pass "SQL, wrong credentials: SQLSTATE 28000 naming the registry and HTTP 401, the token not in it"

"$PG_BIN/psql" -X -q -c "SELECT mf._registry_push('it_basic', '$W/huge', 'sql/huge', 'v1')" 2>"$W/sqlhuge.err" && fail "SQL pushed a huge layer"
grep -q 'could not push image to registry "it_basic"' "$W/sqlhuge.err" && grep -q '1073741824 bytes' "$W/sqlhuge.err" ||
	fail "SQL, 1 GiB limit: $(cat "$W/sqlhuge.err")"
pass "SQL, a layer over 1 GiB: refused with the limit in the detail"

# A registry that accepts connections and never answers: a query cancel ends the push at once.
$PY -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16); print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)' >"$W/hole.port" &
PIDS+=($!)
for i in $(seq 1 50); do [ -s "$W/hole.port" ] && break; sleep 0.1; done
sql "SELECT mf_create_registry('it_hole', 'http://127.0.0.1:$(cat "$W/hole.port")', '{\"insecure\": true}')"
t0="$(date +%s)"
"$PG_BIN/psql" -X -q -c "SELECT mf._registry_push('it_hole', '$W/lay1', 'sql/hole', 'v1')" 2>"$W/hole.err" &
psql_pid=$!
wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%it_hole%' AND pid <> pg_backend_pid() AND state = 'active'" 10 ||
	fail "the push to the silent registry did not start"
sleep 1
sql "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%it_hole%' AND pid <> pg_backend_pid()"
wait "$psql_pid" && fail "the push to a silent registry succeeded"
grep -q 'canceling statement due to user request' "$W/hole.err" && [ $(($(date +%s) - t0)) -lt 15 ] ||
	fail "query cancel did not end the push: $(cat "$W/hole.err")"
pass "SQL: pg_cancel_backend ends a push waiting on a silent registry (inside libcurl) with 57014"

# ---- The gate ---------------------------------------------------------------------
# mf.smoke_tests comes with mf_smoke_test (another part of issue 15): made here when absent.
made_smoke_tests="$(q "SELECT to_regclass('mf.smoke_tests') IS NULL")"
sql "DO \$\$ BEGIN IF to_regclass('mf.smoke_tests') IS NULL THEN
	CREATE TABLE mf.smoke_tests (smoke_test_id bigserial PRIMARY KEY, deployment_id bigint, endpoint text, rows int,
		mismatches int, latency_p50_ms float8, latency_p99_ms float8, passed bool, details jsonb,
		tested_at timestamptz DEFAULT now()); END IF; END \$\$"
dep="$(q "INSERT INTO mf.deployments (model_name, ref, target, name, options, status, image, created_by)
          VALUES ('it_gate_model', 'it_gate_model', 'oci', 'it_gate_model', '{}', 'active',
                  '127.0.0.1:$P_BASIC/sql/churn@$D1', current_user) RETURNING deployment_id")"
out="$("$PG_BIN/psql" -X -v VERBOSITY=verbose -c "SELECT deployment_id FROM mf._gate_source('it_acr', $dep)" 2>&1 || true)"
echo "$out" | grep -q 'ERROR:  55000: registry "it_acr" accepts only smoke-tested images' &&
	echo "$out" | grep -q "has not been smoke-tested" || fail "the gate let an untested image through: $out"
[ "$(q "SELECT count(*) FROM mf.events WHERE action = 'gate_refused' AND before ->> 'deployment_id' = '$dep'
        AND after ->> 'registry' = 'it_acr'")" = 1 ] || fail "the refusal is not an event"
pass "gate: an untested digest is refused (55000) and the refusal stays in mf.events"
sql "INSERT INTO mf.smoke_tests (deployment_id, endpoint, rows, mismatches, passed) VALUES ($dep, 'http://edge', 100, 3, false)"
q "SELECT 1 FROM mf._gate_source('it_acr', $dep)" >/dev/null 2>&1 && fail "the gate accepted a failed smoke test"
sql "INSERT INTO mf.smoke_tests (deployment_id, endpoint, rows, mismatches, passed) VALUES ($dep, 'http://edge', 100, 0, true)"
[ "$(q "SELECT deployment_id FROM mf._gate_source('it_acr', $dep)")" = "$dep" ] || fail "the gate refused a passed smoke test"
pass "gate: a failed smoke test is refused, the passing one admits the digest"
sql "DELETE FROM mf.smoke_tests WHERE deployment_id = $dep; DELETE FROM mf.deployments WHERE deployment_id = $dep"
[ "$made_smoke_tests" = t ] && sql "DROP TABLE mf.smoke_tests"

# ---- No secret anywhere -------------------------------------------------------------
for s in "$PASSWORD" "$REFRESH" "$WRONG"; do
	for f in "$W/basic.log" "$W/token.log" "$W/token-server.log" "$W"/*.err "$PGLOG"; do
		[ -f "$f" ] && grep -q -- "$s" "$f" && fail "a secret is in $f"
	done
	[ "$(q "SELECT count(*) FROM mf.events WHERE (before::text || after::text) LIKE '%$s%'")" = 0 ] || fail "a secret is in mf.events"
	[ "$(q "SELECT count(*) FROM mf.job_events WHERE row_to_json(job_events)::text LIKE '%$s%'")" = 0 ] || fail "a secret is in mf.job_events"
	[ "$(q "SELECT count(*) FROM mf.registries r WHERE row_to_json(r)::text LIKE '%$s%'")" = 0 ] || fail "a secret is in mf.registries"
done
[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%$REFRESH%' AND pid <> pg_backend_pid()")" = 0 ] ||
	fail "the refresh token passed through \\copy is in pg_stat_activity"
pass "no secret in the registries' logs, the token server's log, the client's errors, the server log, events, job events or mf.registries"
[ "$(q "SELECT count(*) FROM mf.registry_secrets WHERE registry LIKE 'it\_%'")" = 3 ] || fail "secrets not stored"
[ "$(q "SELECT has_table_privilege('mf_admin', 'mf.registry_secrets', 'SELECT')")" = f ] || fail "mf_admin reads the secrets"
pass "secrets stored in mf.registry_secrets, which mf_admin cannot read"
sql "SELECT mf_drop_registry(name) FROM mf.registries WHERE name LIKE 'it\_%'"
[ "$(q "SELECT count(*) FROM mf.registry_secrets WHERE registry LIKE 'it\_%'")" = 0 ] || fail "mf_drop_registry left secrets"
curl -s -o /dev/null "http://127.0.0.1:$P_AUTH/stats" && wait_http "$P_BASIC" && wait_http "$P_TOKEN" ||
	fail "a server died during the test"
pass "mf_drop_registry removes the secrets; registries and token server still alive"
