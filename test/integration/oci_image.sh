#!/usr/bin/env bash
# OCI images of trained versions, built in C (image/oci*.c through
# build/unit/oci_cli) from the real export (mf_export_model) and the
# installed mf-serve (pg_config --bindir):
# - a quickstart-like classifier (iris, logistic regression) and an MLP with
#   a text, a boolean and a numeric feature and NULLs;
# - index.json, manifest and config validated against the image-spec JSON
#   schemas, every digest, size and diff_id recomputed (python3, not the
#   builder), members sorted and owned 0:0 (oci_image_check.py);
# - `umoci unpack` (root) unpacks it; the unpacked mf-serve, started through
#   the image's own loader, answers OIP v2 with mf_predict's doubles bit for
#   bit (compared as the hex of their bits) and stays alive;
# - the verifier (mf_oci_verify) passes the image; a tampered model layer
#   (another artifact under the same name and version) fails it naming a
#   row, and a flipped byte in a layer blob fails its digest check;
# - the same version builds the same digests twice; a new version changes
#   the model layer only; the layer limit is refused with a clear error.
. "$(dirname "$0")/jobs_lib.bash"
. "$(dirname "$0")/edge_lib.bash"
wait_for_server || fail "server not reachable"
make -s -C "$MF_ROOT" build/unit/oci_cli >/dev/null || fail "oci_cli does not build"
CLI="$MF_ROOT/build/unit/oci_cli"
SERVE="$("$PG_CONFIG" --bindir)/mf-serve"
[ -x "$SERVE" ] || fail "no installed mf-serve at $SERVE (make install)"
SCHEMAS=/usr/share/gocode/src/github.com/opencontainers/image-spec/schema
[ -f "$SCHEMAS/image-manifest-schema.json" ] || fail "image-spec schemas missing (golang-github-opencontainers-image-spec-dev)"
command -v umoci >/dev/null || fail "umoci missing (scripts/install-deps.sh)"
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
for m in oci_iris oci_mix; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'"; done
sql "DROP TABLE IF EXISTS oci_iris_data, oci_mix_data"
sql "CREATE TABLE oci_iris_data (sepal_length float8, sepal_width float8, petal_length float8, petal_width float8,
                                 species text, split text)"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -c "\\copy oci_iris_data FROM '$MF_ROOT/test/data/iris.csv' WITH (FORMAT csv, HEADER true)" ||
	fail "cannot load iris"
sql "SELECT mf_create_model('logistic_regression', '{\"name\": \"oci_iris\"}')"
sql "SELECT mf_train('oci_iris', 'SELECT sepal_length, sepal_width, petal_length, petal_width, species FROM oci_iris_data', 'species')"
sql "SELECT mf_create_model('{\"name\": \"oci_iris\", \"family\": \"logistic_regression\", \"C\": 0.05}')"
sql "SELECT mf_train('oci_iris:1.1.0', 'SELECT sepal_length, sepal_width, petal_length, petal_width, species FROM oci_iris_data', 'species')"
sql "CREATE TABLE oci_mix_data AS
     SELECT g AS id, CASE WHEN g % 13 = 0 THEN NULL ELSE sin(g * 0.3) END::float8 AS x1,
            CASE WHEN g % 7 = 2 THEN NULL ELSE g % 3 = 0 END AS flag,
            CASE g % 4 WHEN 0 THEN 'nord' WHEN 1 THEN 'süd' WHEN 2 THEN 'ost' END AS colour,
            CASE WHEN sin(g * 0.3) + (g % 4) / 4.0 > 0.3 THEN 'hit' ELSE 'miss' END AS y
       FROM generate_series(1, 200) g"
sql "SELECT mf_create_model('{\"name\": \"oci_mix\", \"family\": \"mlp\", \"hidden_layers\": [5], \"activation\": \"tanh\"}')"
sql "SELECT mf_train('oci_mix', 'SELECT x1, flag, colour, y FROM oci_mix_data', 'y', '{\"epochs\": 4}')"
pass "trained oci_iris 1.0.0 and 1.1.0 (logistic, iris) and oci_mix (mlp; text, boolean, NULLs)"

# export REF DIR: the served model directory of a version, through the README's pipe.
export_to() {
	mkdir -p "$2"
	"$PG_BIN/psql" -X -q -Atc "SELECT encode(mf_export_model('$1'), 'base64')" | base64 -d | tar -x -C "$2" ||
		fail "mf_export_model('$1') | tar -x failed"
}
vid() { q "SELECT version_id FROM mf.catalog WHERE ref = '$1'"; }
IRIS1="$(vid oci_iris:1.0.0)"; IRIS2="$(vid oci_iris:1.1.0)"; MIX="$(vid oci_mix:1.0.0)"
export_to oci_iris:1.0.0 "$TMP/m1"
export_to oci_iris:1.1.0 "$TMP/m2"
export_to oci_mix:1.0.0 "$TMP/mix"
# The test rows: what mf_predict(ref, jsonb) takes (held-out rows and more; NULLs and an unseen category in mix).
q "SELECT json_agg(to_jsonb(t) ORDER BY n) FROM (SELECT row_number() OVER () AS n, sepal_length, sepal_width, petal_length,
          petal_width FROM oci_iris_data) t" | python3 -c 'import json,sys; r=json.load(sys.stdin); [x.pop("n") for x in r]; print(json.dumps(r))' \
	>"$TMP/iris_rows.json"
q "SELECT json_agg(json_build_object('x1', x1, 'flag', flag, 'colour', colour) ORDER BY id)
     FROM (SELECT id, x1, flag, colour FROM oci_mix_data WHERE id <= 40
           UNION ALL VALUES (1001, NULL::float8, NULL::bool, NULL::text), (1002, 0.5, true, 'west')) t" >"$TMP/mix_rows.json"

# build NAME N MODEL_BASE OUT: the image, its digests as JSON in OUT.json.
build() {
	OCI_CONFIG_HASH="$(q "SELECT config_hash FROM mf.model_versions WHERE version_id = $2" 2>/dev/null || echo none)" \
		"$CLI" build "$3" "$1" "$2" "$SERVE" "$4" "${5:-1.0.0}" >"$4.json" || fail "building $1/$2 failed"
}
t0=$(date +%s.%N)
build oci_iris "$IRIS1" "$TMP/m1" "$TMP/img1"
t1=$(date +%s.%N)
pass "built the image of oci_iris:1.0.0 in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s: $(cat "$TMP/img1.json" | head -c 300)"

python3 "$MF_ROOT/test/integration/oci_image_check.py" "$TMP/img1" "$SCHEMAS" 2>"$TMP/check1.json" || {
	cat "$TMP/check1.json" >&2; fail "the layout does not check"; }

# The same version twice: the same digests; a new version: the same base layer, another model layer.
build oci_iris "$IRIS1" "$TMP/m1" "$TMP/img1b"
build oci_iris "$IRIS2" "$TMP/m2" "$TMP/img2" 1.1.0
python3 - "$TMP/img1.json" "$TMP/img1b.json" "$TMP/img2.json" <<'EOF' || fail "digests are not reproducible"
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:])
assert a == b, (a, b)
assert a["layers"][0] == c["layers"][0] and a["layers"][1] != c["layers"][1] and a["manifest"] != c["manifest"]
assert c["layer_sizes"][1] < 65536, c["layer_sizes"]
EOF
pass "the same version builds the same manifest, config and layer digests; 1.1.0 shares the base layer, its model layer is $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layer_sizes"][1])' "$TMP/img2.json") bytes"

# The dpkg records and the user, as a scanner and a runtime read them.
python3 - "$TMP/check1.json" <<'EOF' || fail "config is wrong"
import json, sys
c = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["config"]
cfg = c["config"]
assert cfg["User"] == "65532:65532", cfg["User"]
assert cfg["Entrypoint"][:3] == ["/usr/bin/mf-serve", "--model-base-path", "/models"], cfg["Entrypoint"]
assert "8501/tcp" in cfg["ExposedPorts"]
l = cfg["Labels"]
assert l["org.opencontainers.image.title"] == "oci_iris" and l["org.opencontainers.image.version"] == "1.0.0"
assert l["mf.model"] == "oci_iris" and l["mf.version"] == "1.0.0" and "mf.config_hash" in l
assert c["created"] == l["org.opencontainers.image.created"]
EOF
pass "config: non-root numeric user, entrypoint mf-serve on /models, port 8501, OCI and mf labels, created = trained_at"

# umoci unpacks it (as root, like a runtime would), then its mf-serve runs through its own loader.
umoci unpack --image "$TMP/img1:1.0.0" "$TMP/bundle" >"$TMP/umoci.log" 2>&1 || { cat "$TMP/umoci.log" >&2; fail "umoci unpack failed"; }
ROOT="$TMP/bundle/rootfs"
for f in usr/bin/mf-serve lib64/ld-linux-x86-64.so.2 etc/passwd var/lib/dpkg/status.d/libc6 "models/oci_iris/$IRIS1/model.mfa"; do
	[ -f "$ROOT/$f" ] || fail "unpacked image lacks /$f"
done
grep -q '^Version: ' "$ROOT/var/lib/dpkg/status.d/libc6" || fail "status.d/libc6 has no Version"
missing="$(ldd "$SERVE" | awk '$3 ~ /^\// {print $1}' | while read -r so; do
	find "$ROOT" -name "$so" | grep -q . || echo "$so"; done)"
[ -z "$missing" ] || fail "libraries ldd lists are missing in the image: $missing"
pass "umoci unpack: mf-serve, its loader, every library ldd lists, dpkg status.d records, the model"

libdirs="$(find "$ROOT" -name '*.so*' -type f -printf '%h\n' | sort -u | paste -sd:)"
env -i "$ROOT/lib64/ld-linux-x86-64.so.2" --library-path "$libdirs" "$ROOT/usr/bin/mf-serve" \
	--model-base-path "$ROOT/models" --host 127.0.0.1 --port 0 --poll-seconds 0 --threads 2 2>"$TMP/serve.log" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q 'listening on' "$TMP/serve.log" && break; sleep 0.1; done
PORT="$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\)\/.*/\1/p' "$TMP/serve.log")"
[ -n "$PORT" ] || { cat "$TMP/serve.log" >&2; fail "the unpacked mf-serve did not start"; }
python3 - "$TMP/iris_rows.json" >"$TMP/infer.json" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
keys = list(rows[0])
print(json.dumps({"inputs": [{"name": k, "datatype": "FP64", "shape": [len(rows)], "data": [r[k] for r in rows]} for k in keys]}))
EOF
code="$(curl -s -o "$TMP/answer.json" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$TMP/infer.json" \
	"http://127.0.0.1:$PORT/v2/models/oci_iris/versions/1.0.0/infer")"
[ "$code" = 200 ] || fail "OIP infer answered $code: $(head -c 300 "$TMP/answer.json")"
q "SELECT json_agg(mf_predict('oci_iris:1.0.0', r) ORDER BY n) FROM jsonb_array_elements('$(cat "$TMP/iris_rows.json")'::jsonb)
     WITH ORDINALITY x(r, n)" >"$TMP/db.json"
python3 - "$TMP/answer.json" "$TMP/db.json" <<'EOF' || fail "the image's answers differ from mf_predict"
import json, struct, sys
ans = json.load(open(sys.argv[1])); db = json.load(open(sys.argv[2]))
out = {o["name"]: o["data"] for o in ans["outputs"]}
hexes = lambda xs: [struct.pack("<d", float(x)).hex() for x in xs]
assert len(out["predict"]) == len(db) == 150, (len(out["predict"]), len(db))
assert hexes(out["predict"]) == hexes(d["prediction"] for d in db)
assert out["label"] == [d["label"] for d in db]
k = len(db[0]["probabilities"])
proba = out["probabilities"]
for i, d in enumerate(db):
    assert sorted(hexes(proba[i * k:(i + 1) * k])) == sorted(hexes(d["probabilities"].values())), i
EOF
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/health/live")" = 200 ] || fail "the image's server died"
pass "the unpacked image's mf-serve (its own loader and libraries) answers 150 rows over OIP v2 with mf_predict's prediction, label and probabilities, doubles bit for bit; still alive"

# The verifier: the image's answers against the in-process handler on the database's artifact.
"$CLI" verify "$TMP/img1" "$TMP/work1" "$TMP/m1" oci_iris "$IRIS1" "$TMP/iris_rows.json" >"$TMP/v1.out" 2>&1 ||
	{ cat "$TMP/v1.out" >&2; fail "verification of a good image failed"; }
grep -q '"rows": 150, "mismatches": 0' "$TMP/v1.out" || fail "verification output: $(cat "$TMP/v1.out")"
[ ! -e "$TMP/work1" ] || fail "the verifier left its work directory"
build oci_mix "$MIX" "$TMP/mix" "$TMP/imgmix"
"$CLI" verify "$TMP/imgmix" "$TMP/work2" "$TMP/mix" oci_mix "$MIX" "$TMP/mix_rows.json" >"$TMP/v2.out" 2>&1 ||
	{ cat "$TMP/v2.out" >&2; fail "verification of the mlp image failed"; }
pass "mf_oci_verify passes both images (150 iris rows; 42 mix rows with NULLs, text, boolean, an unseen category)"

# A tampered model layer: 1.1.0's artifact under 1.0.0's name, version and number.
mkdir -p "$TMP/bad"; cp -r "$TMP/m1/oci_iris" "$TMP/bad/"
cp "$TMP/m2/oci_iris/$IRIS2/model.mfa" "$TMP/bad/oci_iris/$IRIS1/model.mfa"
sha="$(sha256sum "$TMP/bad/oci_iris/$IRIS1/model.mfa" | cut -d' ' -f1)"
sed -i "s/\"artifact_sha256\": *\"[0-9a-f]*\"/\"artifact_sha256\": \"$sha\"/" "$TMP/bad/oci_iris/$IRIS1/serving.json"
build oci_iris "$IRIS1" "$TMP/bad" "$TMP/imgbad"
if "$CLI" verify "$TMP/imgbad" "$TMP/work3" "$TMP/m1" oci_iris "$IRIS1" "$TMP/iris_rows.json" >"$TMP/v3.out" 2>&1; then
	fail "a tampered model layer passed verification"
fi
grep -q 'answers to 150 test rows differ; first: row [0-9]*, output' "$TMP/v3.out" || fail "tamper message: $(cat "$TMP/v3.out")"
pass "a tampered model layer fails verification: $(grep -o '[0-9]* of the answers.*' "$TMP/v3.out" | head -c 200)"

# A flipped byte in a layer blob fails the digest check before anything runs.
cp -r "$TMP/img1" "$TMP/imgflip"
blob="$TMP/imgflip/blobs/sha256/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][1][7:])' "$TMP/img1.json")"
printf '\x00' | dd of="$blob" bs=1 seek=20 conv=notrunc 2>/dev/null
if "$CLI" verify "$TMP/imgflip" "$TMP/work4" "$TMP/m1" oci_iris "$IRIS1" "$TMP/iris_rows.json" >"$TMP/v4.out" 2>&1; then
	fail "a corrupted layer blob passed verification"
fi
grep -q 'has digest sha256:' "$TMP/v4.out" || fail "corrupt-blob message: $(cat "$TMP/v4.out")"
pass "a corrupted layer blob fails verification on its digest"

# The layer limit.
if "$CLI" build "$TMP/m1" oci_iris "$IRIS1" "$SERVE" "$TMP/imgsmall" 1.0.0 1048576 >"$TMP/small.out" 2>&1; then
	fail "a layer over the limit was built"
fi
grep -q 'the layer exceeds the limit of 1048576 bytes (1 MiB) of uncompressed tar' "$TMP/small.out" || fail "limit message: $(cat "$TMP/small.out")"
pass "a layer over the limit is refused: $(head -c 160 "$TMP/small.out")"

# The deploy job: mf_deploy(ref, 'oci', ...) builds and verifies the same image in the database's worker
# (the version's stored test rows, mf._test_rows), pushes it to a registry (Debian's docker-registry on
# loopback, anonymous), records the image by digest and the layers, removes its directory; skopeo pulls
# the pushed image back: its manifest is the deployment's digest, its layers oci_cli's.
command -v docker-registry >/dev/null && command -v skopeo >/dev/null || fail "docker-registry and skopeo (scripts/install-deps.sh)"
registry_up "$TMP/registry" || fail "no registry"
RPORT="$REGISTRY_PORT"
PIDS+=("$REGISTRY_PID")
sql "SELECT mf_drop_registry(name) FROM mf.registries WHERE name = 'oci_local'"
sql "SELECT mf_create_registry('oci_local', 'http://127.0.0.1:$RPORT', '{\"insecure\": true}')"
wait_for "SELECT launcher_pid > 0 FROM mf._jobs_state()" 30 || fail "no mf_ext launcher runs"
dep="$(q "SELECT mf_deploy('oci_iris:1.0.0', 'oci', '{\"registry\": \"oci_local\", \"repository\": \"models/oci-iris\"}')")"
job="$(q "SELECT job_id FROM mf.deployments WHERE deployment_id = $dep")"
[ "$(q "SELECT status FROM mf.deployments WHERE deployment_id = $dep")" != "" ] || fail "no deployment row"
PGOPTIONS="-c client_min_messages=warning" q "SELECT status FROM mf_wait($job, '90 s')" >/dev/null
row="$(q "SELECT status || '|' || coalesce(array_to_string(layers, ','), '') || '|' || coalesce(image, '') || '|' || coalesce(error, '') FROM mf.deployments WHERE deployment_id = $dep")"
want="$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["layers"]))' "$TMP/img1.json")"
manifest="${row#*|*|127.0.0.1:$RPORT/models/oci-iris@}"; manifest="${manifest%|}"
[ "$row" = "active|$want|127.0.0.1:$RPORT/models/oci-iris@$manifest|" ] && [[ "$manifest" =~ ^sha256:[0-9a-f]{64}$ ]] ||
	fail "deploy job: deployment row $row (expected active, layers $want, image 127.0.0.1:$RPORT/models/oci-iris@sha256:...)"
log="$(q "SELECT string_agg(message, E'\n' ORDER BY event_id) FROM mf.job_events WHERE job_id = $job")"
grep -q "verified: the image answered $(q "SELECT jsonb_array_length(mf._test_rows($IRIS1, 100))") test rows as the database does" <<<"$log" ||
	fail "deploy job log lacks the verification: $log"
[ "$(q "SELECT phase || '|' || status FROM mf.jobs WHERE job_id = $job")" = "pushing|succeeded" ] || fail "job phase/status: $(q "SELECT phase, status FROM mf.jobs WHERE job_id = $job")"
[ ! -e "$(q "SHOW data_directory")/mf_images/$dep" ] || fail "the deploy job left \$PGDATA/mf_images/$dep"
edge_pull "127.0.0.1:$RPORT/models/oci-iris:1.0.0" "$TMP/pulled" 1.0.0 || fail "skopeo could not pull the pushed image"
pulled="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$TMP/pulled/index.json")"
[ "$pulled" = "$manifest" ] || fail "the pulled manifest is $pulled, not $manifest"
got="$(python3 -c 'import json,sys; m = json.load(open(sys.argv[1] + "/blobs/sha256/" + sys.argv[2][7:])); print(",".join(l["digest"] for l in m["layers"]))' "$TMP/pulled" "$manifest")"
[ "$got" = "$want" ] || fail "the pulled image's layers are $got, not $want"
pass "mf_deploy(oci): the job built the layers of oci_cli ($want), verified the stored test rows, pushed $manifest (pulled back by skopeo: same digest, same layers), removed its directory"
# The gate: a registry created with "gated": true takes no new build, and an image only once its
# digest passed a smoke test; the refusal is an event.  The image pulled back above (its own bytes,
# unpacked by umoci, its mf-serve started through its own loader) is smoke-tested; then the copy to the
# gated registry is exactly that digest.
registry_up "$TMP/prod-registry" || fail "no second registry"
GPORT="$REGISTRY_PORT"
PIDS+=("$REGISTRY_PID")
sql "SELECT mf_drop_registry(name) FROM mf.registries WHERE name = 'oci_prod'"
sql "SELECT mf_create_registry('oci_prod', 'http://127.0.0.1:$GPORT', '{\"insecure\": true, \"gated\": true}')"
refusals="$(q "SELECT count(*) FROM mf.events WHERE action = 'gate_refused'")"
out="$(q "SELECT mf_deploy('oci_iris:1.0.0', 'oci', '{\"registry\": \"oci_prod\", \"from\": $dep}')" 2>&1)" && fail "an untested image was copied to a gated registry"
grep -q "registry \"oci_prod\" accepts only smoke-tested images" <<<"$out" || fail "gate refusal: $out"
wait_for "SELECT count(*) = $refusals + 1 FROM mf.events WHERE action = 'gate_refused'" 10 || fail "the refusal is not an event"
out="$(q "SELECT mf_deploy('oci_iris:1.0.0', 'oci', '{\"registry\": \"oci_prod\", \"repository\": \"models/oci-iris\"}')" 2>&1)" &&
	fail "a new build was pushed to a gated registry"
grep -q "accepts only smoke-tested images" <<<"$out" || fail "gated direct push refusal: $out"
pass "the gated registry refuses an untested image (55000, a gate_refused event) and any new build"

umoci unpack --image "$TMP/pulled:1.0.0" "$TMP/bundle2" >"$TMP/umoci2.log" 2>&1 || { cat "$TMP/umoci2.log" >&2; fail "umoci unpack of the pulled image failed"; }
ROOT2="$TMP/bundle2/rootfs"
libdirs2="$(find "$ROOT2" -name '*.so*' -type f -printf '%h\n' | sort -u | paste -sd:)"
env -i "$ROOT2/lib64/ld-linux-x86-64.so.2" --library-path "$libdirs2" "$ROOT2/usr/bin/mf-serve" \
	--model-base-path "$ROOT2/models" --host 127.0.0.1 --port 0 --poll-seconds 0 --threads 2 2>"$TMP/serve2.log" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q 'listening on' "$TMP/serve2.log" && break; sleep 0.1; done
PORT2="$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\)\/.*/\1/p' "$TMP/serve2.log")"
[ -n "$PORT2" ] || { cat "$TMP/serve2.log" >&2; fail "the pulled image's mf-serve did not start"; }
sj="$(q "SELECT mf_smoke_test($dep, 'http://127.0.0.1:$PORT2', '{\"rows\": 50}')")"
PGOPTIONS="-c client_min_messages=warning" q "SELECT status FROM mf_wait($sj, '60 s')" >/dev/null
[ "$(q "SELECT status FROM mf.deployments WHERE deployment_id = $dep")" = verified ] ||
	fail "the pulled image did not pass its smoke test: $(q "SELECT status, error FROM mf.deployments WHERE deployment_id = $dep")"
pass "the pushed image, pulled back and run from its own bytes, passes mf_smoke_test (50 rows, 0 mismatches): verified"

gdep="$(q "SELECT mf_deploy('oci_iris:1.0.0', 'oci', '{\"registry\": \"oci_prod\", \"from\": $dep}')")" || fail "the copy of a verified image was refused"
gjob="$(q "SELECT job_id FROM mf.deployments WHERE deployment_id = $gdep")"
PGOPTIONS="-c client_min_messages=warning" q "SELECT status FROM mf_wait($gjob, '60 s')" >/dev/null
grow="$(q "SELECT status || '|' || coalesce(image, '') || '|' || coalesce(array_to_string(layers, ','), '') || '|' || coalesce(error, '') FROM mf.deployments WHERE deployment_id = $gdep")"
[ "$grow" = "active|127.0.0.1:$GPORT/models/oci-iris@$manifest|$want|" ] || fail "gated copy: $grow"
edge_pull "127.0.0.1:$GPORT/models/oci-iris:1.0.0" "$TMP/prod" 1.0.0 || fail "skopeo could not pull from the gated registry"
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$TMP/prod/index.json")" = "$manifest" ] ||
	fail "the gated registry holds another manifest"
pass "mf_deploy(..., {registry: gated, from: $dep}) copies exactly the smoke-tested digest $manifest (no rebuild; pulled back by skopeo)"
sql "SELECT mf_drop_registry('oci_prod')"
sql "SELECT mf_drop_registry('oci_local')"
