#!/usr/bin/env bash
# Build + push of a new version (issue 15 §7), in the private cluster of
# scripts/cluster.sh ($MF_CLUSTER_DIR / $MF_PORT; database mf, whose
# launcher runs the deploy jobs) against Debian's docker-registry on loopback
# (started here, anonymous, plain http):
#
#   1. version 1.0.0 of an iris classifier is deployed first
#      (mf_deploy(ref, 'oci', ...)): this push uploads the base layer;
#   2. then, MF_BENCH_REPEATS times (default 3), a new version is trained and
#      deployed: "ours" is the wall time from mf_train to the deployment
#      `active` (mf_wait on the deploy job), and the job's phases from its
#      log (mf.job_events): queued -> claimed, building, verifying, pushing;
#   3. the peer, in the same run: `skopeo copy` of the same OCI layout
#      (built by build/unit/oci_cli from the same export: the same bytes as
#      the job's) to another repository of the same registry where that
#      version's predecessor was pushed before, i.e. with the base layer
#      already there as well. skopeo only pushes (no build, no check of the
#      answers), so it is the peer of our push phase.
# Prints medians and the ratio peer / ours of the push.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
# shellcheck source=test/integration/edge_lib.bash
. "$MF_ROOT/test/integration/edge_lib.bash"
eval "$("$MF_ROOT/scripts/cluster.sh" env)"
export PGHOST PGPORT PGUSER PGDATABASE=mf
REPEATS="${MF_BENCH_REPEATS:-3}"
q() { "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -c "$1"; }
for t in docker-registry skopeo; do command -v "$t" >/dev/null || die "$t missing (scripts/install-deps.sh)"; done
make -s -C "$MF_ROOT" build/unit/oci_cli >/dev/null
TMP="$(mktemp -d)"
REGISTRY_PID=""
cleanup() {
	[ -z "$REGISTRY_PID" ] || { kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null; } || true
	q "SELECT mf_drop_registry(name) FROM mf.registries WHERE name = 'bench_push'" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT
now() { date +%s.%N; }

export PGOPTIONS='-c client_min_messages=warning'
q "CREATE EXTENSION IF NOT EXISTS mf_ext" >/dev/null
q "SELECT launcher_pid > 0 FROM mf._jobs_state()" | grep -q t || die "no mf_ext launcher runs in database mf"
q "DELETE FROM mf.deployments WHERE model_name = 'bench_push'" >/dev/null
q "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'bench_push'" >/dev/null
q "DROP TABLE IF EXISTS bench_push_data" >/dev/null
q "CREATE TABLE bench_push_data (sepal_length float8, sepal_width float8, petal_length float8, petal_width float8,
   species text, split text)" >/dev/null
"$PG_BIN/psql" -X -q -c "\\copy bench_push_data FROM '$MF_ROOT/test/data/iris.csv' WITH (FORMAT csv, HEADER true)"
SRC='SELECT sepal_length, sepal_width, petal_length, petal_width, species FROM bench_push_data'
registry_up "$TMP/registry" || die "no registry"
q "SELECT mf_drop_registry(name) FROM mf.registries WHERE name = 'bench_push'" >/dev/null
q "SELECT mf_create_registry('bench_push', 'http://127.0.0.1:$REGISTRY_PORT', '{\"insecure\": true}')" >/dev/null

# deploy REF: mf_deploy as an image, wait for the job; prints "job_id seconds".
deploy() {
	local t0 dep job
	t0="$(now)"
	dep="$(q "SELECT mf_deploy('$1', 'oci', '{\"registry\": \"bench_push\", \"repository\": \"bench/mf\"}')")"
	job="$(q "SELECT job_id FROM mf.deployments WHERE deployment_id = $dep")"
	q "SELECT status FROM mf_wait($job, '300 s')" >/dev/null
	[ "$(q "SELECT status FROM mf.deployments WHERE deployment_id = $dep")" = active ] ||
		die "deployment of $1: $(q "SELECT status || ' ' || coalesce(error, '') FROM mf.deployments WHERE deployment_id = $dep")"
	echo "$job $(echo "$(now) - $t0" | bc)"
}
# phases JOB: "queue build verify push job" seconds, from the job's log (job: queued to finished).
phases() {
	q "WITH e AS (SELECT min(logged_at) FILTER (WHERE message LIKE 'building the image of %') AS b,
	                     min(logged_at) FILTER (WHERE message LIKE 'built sha256:%') AS v,
	                     min(logged_at) FILTER (WHERE message LIKE 'verified: %') AS p
	                FROM mf.job_events WHERE job_id = $1)
	   SELECT concat_ws(' ', round(extract(epoch FROM e.b - j.queued_at)::numeric, 3),
	                    round(extract(epoch FROM e.v - e.b)::numeric, 3), round(extract(epoch FROM e.p - e.v)::numeric, 3),
	                    round(extract(epoch FROM j.finished_at - e.p)::numeric, 3),
	                    round(extract(epoch FROM j.finished_at - j.queued_at)::numeric, 3))
	     FROM mf.jobs j, e WHERE j.job_id = $1"
}
# layout REF OUT: the image of REF built by oci_cli from its export (the job's bytes), tagged with its version.
layout() {
	local n v
	n="$(q "SELECT version_id FROM mf.catalog WHERE ref = '$1'")"
	v="${1#*:}"
	mkdir -p "$TMP/m$n"
	q "SELECT encode(mf_export_model('$1'), 'base64')" | base64 -d | tar -x -C "$TMP/m$n"
	OCI_CONFIG_HASH="$(q "SELECT config_hash FROM mf.model_versions WHERE version_id = $n")" \
		"$MF_ROOT/build/unit/oci_cli" build "$TMP/m$n" bench_push "$n" "$("$PG_CONFIG" --bindir)/mf-serve" "$2" "$v" >"$2.json"
}
# skopeo_push LAYOUT TAG: seconds of `skopeo copy` of the layout to bench/skopeo:TAG.
skopeo_push() {
	local t0
	t0="$(now)"
	skopeo copy -q --dest-tls-verify=false "oci:$1:$2" "docker://127.0.0.1:$REGISTRY_PORT/bench/skopeo:$2" >/dev/null
	echo "$(now) - $t0" | bc
}

q "SELECT mf_create_model('{\"name\": \"bench_push\", \"family\": \"logistic_regression\"}')" >/dev/null
q "SELECT mf_train('bench_push', '$SRC', 'species')" >/dev/null
out="$(deploy bench_push:1.0.0)"
job="${out% *}" first="${out#* }"
first_push="$(phases "$job")"
first_push="$(cut -d' ' -f4 <<<"$first_push")"
layout bench_push:1.0.0 "$TMP/l0"
first_skopeo="$(skopeo_push "$TMP/l0" 1.0.0)"
echo "first version (base layer uploaded): mf_deploy -> active $(printf '%.2f' "$first") s, its push phase $first_push s; skopeo copy of the same layout $(printf '%.2f' "$first_skopeo") s"

: >"$TMP/rows"
for i in $(seq 1 "$REPEATS"); do
	ref="bench_push:1.$i.0"
	t0="$(now)"
	q "SELECT mf_create_model('{\"name\": \"bench_push\", \"family\": \"logistic_regression\", \"C\": $i.5}')" >/dev/null
	q "SELECT mf_train('$ref', '$SRC', 'species')" >/dev/null
	train="$(echo "$(now) - $t0" | bc)"
	out="$(deploy "$ref")"
	job="${out% *}" dep="${out#* }"
	total="$(echo "$(now) - $t0" | bc)"
	layout "$ref" "$TMP/l$i"
	sk="$(skopeo_push "$TMP/l$i" "1.$i.0")"
	echo "$train $dep $total $(phases "$job") $sk $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layer_sizes"][1])' "$TMP/l$i.json")" >>"$TMP/rows"
	echo "  $ref: train $(printf '%.2f' "$train") s, mf_deploy -> active $(printf '%.2f' "$dep") s (phases queue/build/verify/push, job: $(phases "$job")), skopeo copy $(printf '%.2f' "$sk") s"
done
python3 - "$TMP/rows" <<'EOF'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
m = lambda k: statistics.median(r[k] for r in rows)
print("new version, base layer already in the registry (median of %d):" % len(rows))
print("  mf_ext: training %.2f s + mf_deploy -> active %.2f s (psql round trips included) = %.2f s; the job queued -> finished %.2f s:"
      " queue %.2f, build %.2f, verify %.2f, push %.2f s (model layer %d bytes)"
      % (m(0), m(1), m(2), m(7), m(3), m(4), m(5), m(6), m(9)))
print("  peer skopeo copy of the same layout (push only): %.2f s; ratio skopeo / mf_ext push phase: %.2fx" % (m(8), m(8) / m(6)))
EOF
