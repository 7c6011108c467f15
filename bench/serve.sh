#!/usr/bin/env bash
# `make bench` part (bench/run.sh runs it) or alone: mf-serve against a
# Flask + gunicorn + scikit-learn microservice serving the same logistic
# model, and against one SELECT mf_predict per request through libpq
# (pgbench), all loaded on loopback in the same run (see bench/serve.py).
# Alone it starts the private cluster (scripts/cluster.sh; MF_CLUSTER_DIR,
# MF_PORT) and uses database mf_bench; under bench/run.sh it inherits PG*.
# Needs: wrk, gunicorn, python3-flask, python3-sklearn (bench/run.sh installs them).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
if [ -z "${PGDATABASE:-}" ]; then
	"$MF_ROOT/scripts/cluster.sh" start >/dev/null
	eval "$("$MF_ROOT/scripts/cluster.sh" env)"
	export PGHOST PGPORT PGUSER PGDATABASE=mf_bench
	if [ "$("$PG_BIN/psql" -X -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'mf_bench'")" != 1 ]; then
		"$PG_BIN/psql" -X -q -d postgres -c "CREATE DATABASE mf_bench"
	fi
	"$PG_BIN/psql" -X -q -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS mf_ext CASCADE' >/dev/null
fi
for tool in wrk gunicorn; do
	command -v "$tool" >/dev/null || die "$tool not found (bench/run.sh installs the benchmark peers)"
done
exec /usr/bin/python3 "$MF_ROOT/bench/serve.py"
