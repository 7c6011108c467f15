#!/usr/bin/env bash
# `make demo` runs the quickstart end to end: the same script (without its
# package/build set-up, which `make test` has just done) against the tests'
# own cluster must finish without an error and show what the README promises.
set -euo pipefail
cd "${MF_ROOT:-$(dirname "$0")/../..}"
out="$(MF_DEMO_SETUP=0 scripts/demo.sh 2>&1)" || { printf '%s\n' "$out" | tail -n 40; exit 1; }
for want in 'churn:1.0.0' 'translator:1.0.0' 'iris_species:1.0.0' 'petal_width:1.0.0' 'product_category:1.0.0' 'text_accuracy' \
	'accuracy_on_all_rows' 'make stop' 'the in-database HTTP server serves iris_species' '"label":"setosa"' \
	'"model_version":'; do
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
echo "quickstart ran end to end"
