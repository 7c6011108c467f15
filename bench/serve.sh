#!/usr/bin/env bash
# `make bench` part (bench/run.sh runs it) or alone: mf-serve against a
# Flask + gunicorn + scikit-learn microservice serving the same logistic
# model, and against one SELECT mf_predict per request through libpq
# (pgbench), and against the in-database HTTP worker serving the same model,
# all loaded on loopback in the same run (see bench/serve.py).
# It runs in a cluster of its own (below), alone or under bench/run.sh.
# Needs: wrk, gunicorn, python3-flask, python3-sklearn (bench/run.sh installs them).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
# A cluster of its own (.mf/bench-serve, port MF_PORT + 3) whose mf.database is
# mf_bench, so that the in-database HTTP worker serves the benchmark's model
# without a model in anyone's database; stopped at the end.
export MF_CLUSTER_DIR="$MF_ROOT/.mf/bench-serve" MF_PORT=$((${MF_PORT:-5499} + 3))
"$MF_ROOT/scripts/cluster.sh" start >/dev/null
trap '"$MF_ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true' EXIT
eval "$("$MF_ROOT/scripts/cluster.sh" env)"
export PGHOST PGPORT PGUSER PGDATABASE=postgres
if [ "$("$PG_BIN/psql" -X -tAc "SELECT 1 FROM pg_database WHERE datname = 'mf_bench'")" != 1 ]; then
	"$PG_BIN/psql" -X -q -c "CREATE DATABASE mf_bench"
fi
if [ "$("$PG_BIN/psql" -X -tAc "SELECT current_setting('mf.database', true)")" != mf_bench ]; then
	"$PG_BIN/psql" -X -q -c "ALTER SYSTEM SET mf.database = 'mf_bench'"
	"$MF_ROOT/scripts/cluster.sh" restart >/dev/null
fi
export PGDATABASE=mf_bench
"$PG_BIN/psql" -X -q -c 'SET client_min_messages = warning' -c 'DROP EXTENSION IF EXISTS mf_ext CASCADE' \
	-c 'CREATE EXTENSION mf_ext CASCADE' >/dev/null
for tool in wrk gunicorn; do
	command -v "$tool" >/dev/null || die "$tool not found (bench/run.sh installs the benchmark peers)"
done
# not exec: the EXIT trap above must still stop the cluster
/usr/bin/python3 "$MF_ROOT/bench/serve.py"
