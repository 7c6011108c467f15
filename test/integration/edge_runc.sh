#!/usr/bin/env bash
# The edge host of issue 15 §6, with the real image under runc: a version is
# deployed as an image (mf_deploy(ref, 'oci', ...): built, verified and pushed
# by the deploy job to Debian's docker-registry on loopback), pulled back with
# `skopeo copy` into an OCI layout, unpacked with `umoci unpack` into a runtime
# bundle, and run by `runc run -d` inside a network namespace this test makes
# (ip netns, a veth pair on a private /30; edge_lib.bash). The bundle's
# config.json is umoci's (the image's entrypoint, its non-root user 65532)
# with three changes: no terminal, the test's namespace as the container's
# network namespace, a read-only root. Then:
#   1. the container runs mf-serve as 65532 in that namespace, with a
#      read-only root, reachable from the database's side only through the
#      veth link;
#   2. mf_smoke_test(deployment, 'http://<edge ip>:8501') from the database
#      passes with 0 mismatches and the deployment becomes verified; curl gets
#      the model's status and an OIP answer equal to mf_predict's; the
#      container is still running and live afterwards;
#   3. the same bundle with another version's artifact in its model layer
#      (tampered) runs under runc too, and its smoke test fails with
#      mismatches: the deployment is failed.
# runc kill/delete and the namespace's removal happen at exit (trap).
. "$(dirname "$0")/jobs_lib.bash"
. "$(dirname "$0")/edge_lib.bash"
[ "$(id -u)" = 0 ] || fail "this test makes a network namespace and runs runc: run it as root"
for t in ip runc umoci skopeo docker-registry jq; do
	command -v "$t" >/dev/null || fail "$t is missing (scripts/install-deps.sh)"
done
wait_for_server || fail "server not reachable"
sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
wait_for "SELECT launcher_pid > 0 FROM mf._jobs_state()" 30 || fail "no mf_ext launcher runs"
TMP=""
REGISTRY_PID=""
CID="mfedge$$"
edge_net_init edg

# Containers, namespace, registry, the test's rows and files gone (also at exit).
cleanup() {
	edge_stop "$CID"
	edge_stop "$CID-t"
	edge_net_down
	[ -z "$REGISTRY_PID" ] || { kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null; } || true
	sql "DELETE FROM mf.deployments WHERE model_name = 'edge_iris'" || true
	sql "SELECT mf_drop_registry(name) FROM mf.registries WHERE name = 'edge_local'" || true
	sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'edge_iris'" || true
	sql "DROP TABLE IF EXISTS edge_iris_data" || true
	[ -z "$TMP" ] || rm -rf "$TMP"
}
trap cleanup EXIT
cleanup
TMP="$(mktemp -d)"
EDGE_RUNC_ROOT="$TMP/runc"	# runc's state (edge_lib.bash)
export EDGE_RUNC_ROOT

# Two versions of an iris classifier: 1.0.0 is deployed, 1.1.0's artifact is the tampering.
sql "CREATE TABLE edge_iris_data (sepal_length float8, sepal_width float8, petal_length float8, petal_width float8,
                                  species text, split text)"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -c "\\copy edge_iris_data FROM '$MF_ROOT/test/data/iris.csv' WITH (FORMAT csv, HEADER true)" ||
	fail "cannot load iris"
SRC='SELECT sepal_length, sepal_width, petal_length, petal_width, species FROM edge_iris_data'
sql "SELECT mf_create_model('{\"name\": \"edge_iris\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('edge_iris', '$SRC', 'species')"
sql "SELECT mf_create_model('{\"name\": \"edge_iris\", \"family\": \"logistic_regression\", \"C\": 0.05}')"
sql "SELECT mf_train('edge_iris:1.1.0', '$SRC', 'species')"
VID="$(q "SELECT version_id FROM mf.catalog WHERE ref = 'edge_iris:1.0.0'")"
N_ROWS="$(q "SELECT jsonb_array_length(mf._test_rows($VID, 100))")"
[ "$N_ROWS" -gt 10 ] || fail "edge_iris keeps only $N_ROWS test rows"

# The image: built, verified and pushed by the deploy job.
registry_up "$TMP/registry" || fail "no registry"
sql "SELECT mf_create_registry('edge_local', 'http://127.0.0.1:$REGISTRY_PORT', '{\"insecure\": true}')"
DEP="$(q "SELECT mf_deploy('edge_iris:1.0.0', 'oci', '{\"registry\": \"edge_local\", \"repository\": \"models/edge-iris\"}')")"
JOB="$(q "SELECT job_id FROM mf.deployments WHERE deployment_id = $DEP")"
PGOPTIONS="-c client_min_messages=warning" q "SELECT status FROM mf_wait($JOB, '90 s')" >/dev/null || true
IMAGE="$(q "SELECT image FROM mf.deployments WHERE deployment_id = $DEP AND status = 'active'")"
[[ "$IMAGE" =~ ^127\.0\.0\.1:$REGISTRY_PORT/models/edge-iris@sha256:[0-9a-f]{64}$ ]] ||
	fail "deploy job: $(q "SELECT status || ' ' || coalesce(image, '') || ' ' || coalesce(error, '') FROM mf.deployments WHERE deployment_id = $DEP")"
pass "mf_deploy(edge_iris:1.0.0, oci): built, verified and pushed by the deploy job: $IMAGE"

# Pulled back and unpacked into a runtime bundle for the edge namespace.
edge_pull "127.0.0.1:$REGISTRY_PORT/models/edge-iris:1.0.0" "$TMP/pulled" 1.0.0 || fail "pull failed"
[ "$(jq -r '.manifests[0].digest' "$TMP/pulled/index.json")" = "${IMAGE#*@}" ] || fail "skopeo pulled another manifest"
edge_bundle "$TMP/pulled" 1.0.0 "$TMP/bundle" || fail "no bundle"
blob() { echo "$TMP/pulled/blobs/sha256/${1#sha256:}"; }
USER_OF_IMAGE="$(jq -r .config.User "$(blob "$(jq -r .config.digest "$(blob "${IMAGE#*@}")")")")"
[ "$USER_OF_IMAGE" = 65532:65532 ] || fail "the image's config names user $USER_OF_IMAGE"
[ "$(jq -c '[(.process.user | "\(.uid):\(.gid)"), .process.args[0], .process.terminal, .root.readonly,
             (.linux.namespaces[] | select(.type == "network") | .path)]' "$TMP/bundle/config.json")" = \
	"[\"$USER_OF_IMAGE\",\"/usr/bin/mf-serve\",false,true,\"/var/run/netns/$EDGE_NS\"]" ] ||
	fail "bundle config: $(jq -c '{user: .process.user, args: .process.args, root, ns: .linux.namespaces}' "$TMP/bundle/config.json")"
pass "skopeo copy pulled $IMAGE back; umoci unpacked it: entrypoint /usr/bin/mf-serve as $USER_OF_IMAGE (the image config's User), read-only root, network namespace /var/run/netns/$EDGE_NS"

# 1. runc runs it in the edge namespace.
edge_net_up || fail "no edge namespace"
edge_run "$CID" "$TMP/bundle" "$TMP/serve.log" || fail "runc run failed"
edge_wait "http://$EDGE_IP:8501/v2/health/ready" 30 || fail "the container did not become ready: $(cat "$TMP/serve.log")"
[ "$(edge_state "$CID")" = running ] || fail "runc state: $(edge_state "$CID")"
[ "$(stat -L -c %i "/proc/$EDGE_PID/ns/net")" = "$(stat -L -c %i "/var/run/netns/$EDGE_NS")" ] ||
	fail "the container is not in the namespace $EDGE_NS"
[ "$(stat -L -c %i "/proc/$EDGE_PID/ns/net")" != "$(stat -L -c %i /proc/$$/ns/net)" ] || fail "the container shares the host's network"
[ "$(awk '/^Uid:/ {u = $2} /^Gid:/ {g = $2} END {print u ":" g}' "/proc/$EDGE_PID/status")" = "$USER_OF_IMAGE" ] ||
	fail "mf-serve does not run as $USER_OF_IMAGE"
[ "$(tr '\0' ' ' <"/proc/$EDGE_PID/cmdline")" = "/usr/bin/mf-serve --model-base-path /models --port 8501 " ] ||
	fail "the container runs $(tr '\0' ' ' <"/proc/$EDGE_PID/cmdline")"
awk '$5 == "/" {print $6}' "/proc/$EDGE_PID/mountinfo" | grep -q '^ro' || fail "the container's root is writable"
ip route get "$EDGE_IP" | grep -q "dev $EDGE_VETH_HOST" || fail "$EDGE_IP is not routed over $EDGE_VETH_HOST: $(ip route get "$EDGE_IP")"
pass "runc runs the bundle as container $CID: mf-serve as $USER_OF_IMAGE in namespace $EDGE_NS (read-only root), $EDGE_IP:8501 reached over $EDGE_VETH_HOST ($EDGE_HOST_IP/30) only"

# 2. The smoke test from the database, over the link.
SJ="$(q "SELECT mf_smoke_test($DEP, 'http://$EDGE_IP:8501')")"
PGOPTIONS="-c client_min_messages=warning" q "SELECT status FROM mf_wait($SJ, '50 s')" >/dev/null || true
[ "$(q "SELECT passed::text || ' ' || rows || ' ' || mismatches || ' ' || endpoint FROM mf.smoke_tests WHERE job_id = $SJ")" = \
	"true $N_ROWS 0 http://$EDGE_IP:8501" ] || fail "smoke test: $(q "SELECT row_to_json(s) FROM mf.smoke_tests s WHERE job_id = $SJ")"
[ "$(q "SELECT status || '/' || coalesce(error, '') FROM mf.deployments WHERE deployment_id = $DEP")" = verified/ ] ||
	fail "deployment: $(q "SELECT status, error FROM mf.deployments WHERE deployment_id = $DEP")"
pass "mf_smoke_test($DEP, 'http://$EDGE_IP:8501'): $N_ROWS test rows, 0 mismatches (p50 $(q "SELECT round(latency_p50_ms::numeric, 3) FROM mf.smoke_tests WHERE job_id = $SJ") ms); the deployment is verified"

# curl: the model's status and one answer, compared with mf_predict; the container lives on.
code="$(curl -s -o "$TMP/status.json" -w '%{http_code}' "http://$EDGE_IP:8501/v1/models/edge_iris")"
[ "$code" = 200 ] && [ "$(jq -c '.model_version_status' "$TMP/status.json")" = \
	"[{\"version\":\"$VID\",\"state\":\"AVAILABLE\",\"status\":{\"error_code\":\"OK\",\"error_message\":\"\"}}]" ] ||
	fail "GET /v1/models/edge_iris: $code $(cat "$TMP/status.json")"
ROW="$(q "SELECT mf._test_rows($VID, 1) -> 0")"
BODY="$(jq -c '{inputs: [to_entries[] | {name: .key, shape: [1], datatype: "FP64", data: [.value]}]}' <<<"$ROW")"
code="$(curl -s -o "$TMP/infer.json" -w '%{http_code}' -H 'Content-Type: application/json' -d "$BODY" \
	"http://$EDGE_IP:8501/v2/models/edge_iris/infer")"
[ "$code" = 200 ] || fail "OIP infer: $code $(cat "$TMP/infer.json")"
DB="$(q "SELECT json_build_object('label', p ->> 'label', 'version', '1.0.0', 'proba', (SELECT json_agg(v::float8 ORDER BY v::float8)
         FROM jsonb_each_text(p -> 'probabilities') e(k, v))) FROM mf_predict('edge_iris:1.0.0', '$ROW'::jsonb) p" | jq -cS .)"
GOT="$(jq -cS '{label: (.outputs[] | select(.name == "label") | .data[0]), version: .model_version,
                proba: (.outputs[] | select(.name == "probabilities") | .data | sort)}' "$TMP/infer.json")"
[ "$GOT" = "$DB" ] || fail "the container answered $GOT, the database $DB"
code="$(curl -s -o "$TMP/missing.json" -w '%{http_code}' "http://$EDGE_IP:8501/v2/models/no_such_model")"
[ "$code" = 404 ] && jq -e '.error | length > 0' "$TMP/missing.json" >/dev/null || fail "unknown model: $code $(cat "$TMP/missing.json")"
[ "$(edge_state "$CID")" = running ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE_IP:8501/v2/health/live")" = 200 ] ||
	fail "the container is not running any more: $(edge_state "$CID") $(cat "$TMP/serve.log")"
pass "curl over the link: GET /v1/models/edge_iris 200 AVAILABLE (version $VID), OIP infer 200 with mf_predict's label and probabilities ($GOT), unknown model 404; container still running and live"

# 3. The same bundle with 1.1.0's artifact as 1.0.0's: its smoke test fails.
edge_stop "$CID"
[ -z "$(edge_state "$CID")" ] || fail "runc delete left $CID"
cp -a "$TMP/bundle" "$TMP/bundle-t"
M="$TMP/bundle-t/rootfs/models/edge_iris/$VID"
q "SELECT encode(a.bytes, 'base64') FROM mf.artifacts a JOIN mf.catalog c USING (version_id) WHERE c.ref = 'edge_iris:1.1.0'" |
	base64 -d >"$M/model.mfa" || fail "cannot read the artifact of 1.1.0"
jq --arg s "$(sha256sum "$M/model.mfa" | cut -c1-64)" '.artifact_sha256 = $s' "$M/serving.json" >"$M/s.json" && mv "$M/s.json" "$M/serving.json"
edge_run "$CID-t" "$TMP/bundle-t" "$TMP/serve-t.log" || fail "runc run of the tampered bundle failed"
edge_wait "http://$EDGE_IP:8501/v2/health/ready" 30 || fail "the tampered container did not become ready: $(cat "$TMP/serve-t.log")"
SJ="$(q "SELECT mf_smoke_test($DEP, 'http://$EDGE_IP:8501')")"
PGOPTIONS="-c client_min_messages=warning" q "SELECT status FROM mf_wait($SJ, '50 s')" >/dev/null 2>&1 || true
MM="$(q "SELECT mismatches FROM mf.smoke_tests WHERE job_id = $SJ AND NOT passed AND rows = $N_ROWS")"
[ -n "$MM" ] && [ "$MM" -gt 0 ] || fail "tampered: $(q "SELECT row_to_json(s) FROM mf.smoke_tests s WHERE job_id = $SJ")"
[ "$(q "SELECT status FROM mf.deployments WHERE deployment_id = $DEP")" = failed ] || fail "tampered: the deployment is not failed"
[ "$(edge_state "$CID-t")" = running ] || fail "the tampered container died"
pass "the bundle with 1.1.0's artifact in its model layer, under runc: smoke test failed ($MM of $N_ROWS rows differ), deployment failed"
