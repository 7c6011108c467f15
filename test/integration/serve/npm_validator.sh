#!/usr/bin/env bash
# Install the OpenAPI response validator the serving tests use, from npm,
# into DIR (default build/npm-serve): openapi-response-validator (ajv
# underneath).  Cached: when DIR already holds the pinned version nothing
# is fetched.  Exit 1 with npm's log when the install fails.
set -euo pipefail
DIR="${1:?usage: $0 DIR}"
PKG=openapi-response-validator
VER=12.1.3
mkdir -p "$DIR"
if [ -f "$DIR/node_modules/$PKG/package.json" ] &&
	grep -q "\"version\": \"$VER\"" "$DIR/node_modules/$PKG/package.json"; then
	exit 0
fi
[ -f "$DIR/package.json" ] || echo '{"name": "mf-serve-test-tools", "private": true}' >"$DIR/package.json"
if ! (cd "$DIR" && timeout 300 npm install --no-audit --no-fund --loglevel=error "$PKG@$VER") >"$DIR/npm-install.log" 2>&1; then
	echo "npm install $PKG@$VER failed (network? registry?); log:" >&2
	tail -n 20 "$DIR/npm-install.log" >&2
	exit 1
fi
