#!/usr/bin/env bash
# Install the manifest validators the k8s tests use, from npm, into DIR
# (default build/npm-k8s): kubernetes-models with @kubernetes-models/validate
# (the Kubernetes OpenAPI schemas per kind), ajv (the KServe CRD's
# openAPIV3Schema and the IoT Edge schema) and js-yaml (reads the YAML back).
# Cached: when DIR holds the pinned versions nothing is fetched.
set -euo pipefail
DIR="${1:?usage: $0 DIR}"
PKGS=(kubernetes-models@5.1.0 @kubernetes-models/validate@5.0.2 ajv@8.20.0 js-yaml@4.1.0)
have() { # name version
	[ -f "$DIR/node_modules/$1/package.json" ] && grep -q "\"version\": \"$2\"" "$DIR/node_modules/$1/package.json"
}
all=1
for p in "${PKGS[@]}"; do have "${p%@*}" "${p##*@}" || all=0; done
[ "$all" = 1 ] && exit 0
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{"name": "mf-k8s-test-tools", "private": true}' >"$DIR/package.json"
if ! (cd "$DIR" && timeout 300 npm install --no-audit --no-fund --loglevel=error "${PKGS[@]}") >"$DIR/npm-install.log" 2>&1; then
	echo "npm install ${PKGS[*]} failed (network? registry?); log:" >&2
	tail -n 20 "$DIR/npm-install.log" >&2
	exit 1
fi
