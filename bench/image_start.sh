#!/usr/bin/env bash
# Cold start of the image (issue 15 §7): container start (`runc run -d`) to
# the first correct answer over HTTP, ours against a Python peer started the
# same way, in the same run (bench/image_start.py times both). Needs root
# (ip netns, runc); uses the private cluster of scripts/cluster.sh (database
# mf) to train the model and compute the expected answer.
#
#   ours: the image of a logistic model (10 float8 features, two labels)
#         built by build/unit/oci_cli from mf_export_model, unpacked by umoci;
#         its entrypoint mf-serve as user 65532, read-only root.
#   peer: Flask + gunicorn (2 sync workers) + scikit-learn from Debian's
#         python3, bench/serve_peer.py (the peer of bench/serve.sh) serving
#         the same coefficients; its bundle's root holds mount points only,
#         with /usr and /etc bound read-only from this system (what a
#         python:3.x-slim image would hold), gunicorn's worker files in
#         /dev/shm (the usual setting in containers), the same user and
#         read-only root.
# Both bundles join the same network namespace (edge_lib.bash); the client
# in the root namespace POSTs one TF Serving row form request
# ({"instances": [[x1..x10]]}) over the veth link until it is answered.
# MF_BENCH_REPEATS rounds (default 5), sides alternating; MF_BENCH_KEEP=1
# keeps the work directory (bundles and the servers' logs).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
# shellcheck source=test/integration/edge_lib.bash
. "$MF_ROOT/test/integration/edge_lib.bash"
is_root || die "bench/image_start.sh makes a network namespace and runs runc: run it as root"
for t in runc umoci jq gunicorn; do command -v "$t" >/dev/null || die "$t missing (scripts/install-deps.sh, bench/run.sh)"; done
eval "$("$MF_ROOT/scripts/cluster.sh" env)"
export PGHOST PGPORT PGUSER PGDATABASE=mf
export PGOPTIONS='-c client_min_messages=warning'
q() { "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -c "$1"; }
make -s -C "$MF_ROOT" build/unit/oci_cli >/dev/null
TMP="$(mktemp -d)"
chmod 755 "$TMP"
EDGE_RUNC_ROOT="$TMP/runc"	# runc's state (edge_lib.bash)
export EDGE_RUNC_ROOT
edge_net_init bst
cleanup() {
	local c
	for c in "$EDGE_RUNC_ROOT"/*; do [ -d "$c" ] && edge_stop "$(basename "$c")"; done
	edge_net_down
	[ -n "${MF_BENCH_KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
MODEL=bench_start
P=10

# The model: binary logistic regression on 10 numeric features (bench/serve.sh's data, 2,000 rows).
q "CREATE EXTENSION IF NOT EXISTS mf_ext" >/dev/null
q "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$MODEL'" >/dev/null
q "DROP TABLE IF EXISTS bench_start_data" >/dev/null
cols="$(seq -s, -f 'x%g' 1 $P)"
q "CREATE TABLE bench_start_data AS SELECT i, $(for k in $(seq 0 $((P - 1))); do printf '((i * %d) %% 1009) / 504.5 - 1 AS x%d, ' $((7 + 6 * k)) $((k + 1)); done)
   CASE WHEN ((i * 7) % 1009) / 504.5 - ((i * 13) % 1009) / 1009.0 + ((i * 31) % 97) / 194.0 > 0.3 THEN 'yes' ELSE 'no' END AS y
   FROM generate_series(1, 2000) i" >/dev/null
q "SELECT mf_create_model('{\"name\": \"$MODEL\", \"family\": \"logistic_regression\"}')" >/dev/null
q "SELECT mf_train('$MODEL', 'SELECT $cols, y FROM bench_start_data', 'y')" >/dev/null
N="$(q "SELECT version_id FROM mf.catalog WHERE ref = '$MODEL:1.0.0'")"
mkdir -p "$TMP/models" "$TMP/peer-model"
q "SELECT encode(mf_export_model('$MODEL:1.0.0'), 'base64')" | base64 -d | tar -x -C "$TMP/models"
q "SELECT json_build_object('coef', w -> 'coef', 'intercept', w -> 'intercept', 'labels', fs -> 'labels',
          'features', fs -> 'features', 'means', fs -> 'means', 'stds', fs -> 'stds',
          'standardize', coalesce(fs -> 'standardize', 'false'))
     FROM (SELECT mf._model_weights('$MODEL:1.0.0') w, v.feature_schema fs
             FROM mf.catalog c JOIN mf.model_versions v USING (version_id) WHERE c.ref = '$MODEL:1.0.0') s" \
	>"$TMP/peer-model/peer_model.json"
ROW="$(q "SELECT json_build_array($cols) FROM bench_start_data WHERE i = 17")"
EXPECTED="$(q "SELECT json_build_object('label', p ->> 'label', 'probabilities',
                (SELECT json_agg(v::float8 ORDER BY v::float8) FROM jsonb_each_text(p -> 'probabilities') e(k, v)))
                FROM bench_start_data d, mf_predict('$MODEL:1.0.0', to_jsonb(d) - 'i' - 'y') p WHERE d.i = 17")"

# Ours: the image, unpacked for the edge namespace.
"$MF_ROOT/build/unit/oci_cli" build "$TMP/models" "$MODEL" "$N" "$("$PG_CONFIG" --bindir)/mf-serve" "$TMP/img" 1.0.0 >/dev/null
edge_bundle "$TMP/img" 1.0.0 "$TMP/mf" || die "no bundle"

# The peer: mount points only, /usr and /etc of this system, the peer's code and weights, read-only.
mkdir -p "$TMP/peer/rootfs"/{usr,etc,app,model,proc,dev,sys}
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$TMP/peer/rootfs/$d"; done
(cd "$TMP/peer" && runc spec)
jq --arg app "$MF_ROOT/bench" --arg model "$TMP/peer-model" '.process.user = {uid: 65532, gid: 65532}
	| .process.args = ["/usr/bin/python3", "/usr/bin/gunicorn", "--workers", "2", "--worker-class", "sync",
	                   "--bind", "0.0.0.0:8501", "--log-level", "warning", "--worker-tmp-dir", "/dev/shm",
	                   "--chdir", "/app", "serve_peer:app"]
	| .process.env = ["PATH=/usr/bin", "HOME=/dev/shm", "TMPDIR=/dev/shm", "MF_PEER_MODEL=/model/peer_model.json", "PYTHONDONTWRITEBYTECODE=1"]
	| .mounts += [{destination: "/usr", type: "bind", source: "/usr", options: ["rbind", "ro"]},
	              {destination: "/etc", type: "bind", source: "/etc", options: ["rbind", "ro"]},
	              {destination: "/app", type: "bind", source: $app, options: ["rbind", "ro"]},
	              {destination: "/model", type: "bind", source: $model, options: ["rbind", "ro"]}]' \
	"$TMP/peer/config.json" >"$TMP/peer/c.json" && mv "$TMP/peer/c.json" "$TMP/peer/config.json"
edge_bundle_config "$TMP/peer" || die "no peer bundle"
chmod -R a+rX "$TMP/peer-model"

edge_net_up || die "no edge namespace"
jq -n --arg root "$EDGE_RUNC_ROOT" --argjson n "${MF_BENCH_REPEATS:-5}" --argjson expected "$EXPECTED" \
	--arg mf "$TMP/mf" --arg peer "$TMP/peer" --arg url "http://$EDGE_IP:8501/v1/models/$MODEL:predict" \
	--argjson row "$ROW" '{runc_root: $root, repeats: $n, expected: $expected,
	  sides: [{name: "mf-serve image", bundle: $mf, url: $url, body: {instances: [$row]}},
	          {name: "flask+gunicorn+sklearn", bundle: $peer, url: $url, body: {instances: [$row]}}]}' >"$TMP/cfg.json"
echo "image cold start: $MODEL (logistic, $P features) at $EDGE_IP:8501 in namespace $EDGE_NS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$MF_ROOT/bench/image_start.py" "$TMP/cfg.json"
