#!/usr/bin/env bash
# `make demo` runs the quickstart end to end: the same script (without its
# package/build set-up, which `make test` has just done) against the tests'
# own cluster must finish without an error and show what the README promises:
# the classifier pushed as an image to the demo's local registry (skopeo reads
# it back by digest) with its Kubernetes manifests, and a drift alert that
# fires and resolves on its own.
set -euo pipefail
cd "${MF_ROOT:-$(dirname "$0")/../..}"
out="$(MF_DEMO_SETUP=0 scripts/demo.sh 2>&1)" || { printf '%s\n' "$out" | tail -n 40; exit 1; }
for want in 'churn:1.0.0' 'translator:1.0.0' 'iris_species:1.0.0' 'petal_width:1.0.0' 'product_category:1.0.0' 'text_accuracy' \
	'accuracy_on_all_rows' 'make stop' 'the in-database HTTP server serves iris_species' '"label":"setosa"' \
	'"model_version":' 'kind: Deployment' 'kind: HorizontalPodAutoscaler' 'image: "127.0.0.1:' \
	'the quickstart pushed iris_species as an image' '"Digest": "sha256:' 'drift_psi of model iris_species is'; do
	if ! grep -qF -- "$want" <<<"$out"; then
		printf 'the demo output lacks "%s"; its last lines:\n' "$want"
		printf '%s\n' "$out" | tail -n 40
		exit 1
	fi
done
if grep -qE '^(ERROR|FATAL|psql:.*ERROR)' <<<"$out"; then
	grep -E '^(ERROR|FATAL|psql:.*ERROR)' <<<"$out"
	exit 1
fi
# The image: pushed by digest with its two layers, and the registry (started by the demo) still serves it.
# shellcheck source=test/integration/jobs_lib.bash
. "$(dirname "$0")/jobs_lib.bash"
image="$(q "SELECT image FROM mf.deployments WHERE model_name = 'iris_species' AND target = 'oci' AND status = 'active'
              AND image ~ '^127\.0\.0\.1:[0-9]+/quickstart/iris_species@sha256:[0-9a-f]{64}$' AND cardinality(layers) = 2")"
[ -n "$image" ] || fail "no active image deployment of iris_species by digest with two layers"
skopeo inspect --tls-verify=false "docker://$image" >/dev/null || fail "skopeo cannot read $image from the demo's registry"
pass "the quickstart pushed $image; skopeo reads it"
# The drift alert fired and resolved on its own (before the quickstart dropped its rule): the row printed after the
# wait for resolution has started_at, resolved_at, lasted_s and psi.
grep -qE '^ +[0-9]+ \| [0-9-]+ [0-9:.+]+ \| [0-9-]+ [0-9:.+]+ \| +[0-9.]+ \| +[0-9.]+$' <<<"$out" ||
	fail "the quickstart shows no drift alert that resolved on its own"
pass "the drift alert fired and resolved before its rule was dropped"
echo "quickstart ran end to end"
