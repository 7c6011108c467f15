# shellcheck shell=bash
# Helpers of the background-job integration tests (sourced, not a test).
#
# The tests run in database mf of the cluster `make test` made for them (its
# launcher serves mf: scripts/cluster.sh sets mf.database), never in the demo
# cluster; mf_ext is installed there.
# Each test uses its own model names and drops them first, so the tests can
# run in any order and again.
set -euo pipefail
cd "${MF_ROOT:-$(dirname "${BASH_SOURCE[0]}")/../..}"
MF_ROOT="$(pwd)"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_CONFIG="${PG_CONFIG:-$PG_BIN/pg_config}"
CLUSTER_SH="$MF_ROOT/scripts/cluster.sh"
eval "$("$CLUSTER_SH" env)"
export PGHOST PGPORT PGUSER PGDATABASE=mf

# Print a failure and exit 1.
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# Print a passed check.
pass() { printf 'ok - %s\n' "$*"; }

# One value from a query (psql -tA), stopping on errors.
q() { "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -c "$1"; }

# Run SQL quietly (notices off), stopping on errors.
sql() { PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }

# Wait until a query returns 't' (at most $2 seconds, default 30).
wait_for() {
	local query="$1" limit="${2:-30}" t0
	t0="$(date +%s)"
	while [ "$(q "$query" 2>/dev/null || true)" != t ]; do
		[ $(($(date +%s) - t0)) -ge "$limit" ] && return 1
		sleep 0.2
	done
}

# Wait until the server accepts connections again (after a crash or restart).
wait_for_server() {
	local i
	for i in $(seq 1 150); do
		"$PG_BIN/pg_isready" -q -h "$PGHOST" -p "$PGPORT" && q 'SELECT 1' >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# mf_ext in database mf, and a 20000-row classification table jobs_data.
setup_jobs_db() {
	wait_for_server || fail "server not reachable"
	sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
	sql "CREATE TABLE IF NOT EXISTS jobs_data AS
	     SELECT i, (i % 97) / 97.0 AS x1, (i % 89) / 89.0 AS x2, (i % 83) / 83.0 AS x3, (i % 79) / 79.0 AS x4,
	            ((i % 97) / 97.0 + (i % 89) / 89.0 > 1)::int::text AS y
	       FROM generate_series(1, 20000) i"
	wait_for "SELECT launcher_pid > 0 FROM mf._jobs_state()" 30 || fail "no mf_ext launcher runs"
}

# Drop a model if it exists, then create an MLP classifier of that name.
fresh_mlp() {
	sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$1'"
	sql "SELECT mf_create_model('{\"name\": \"$1\", \"family\": \"mlp\", \"hidden_layers\": [64, 64]}')"
}

# Queue training of model $1 for $2 epochs (no early stopping) with extra options $3; prints the job id.
queue_mlp() {
	q "SELECT mf_train_async('$1', 'SELECT x1, x2, x3, x4, y FROM jobs_data', 'y',
	                         '{\"epochs\": $2, \"early_stopping\": false${3:+, $3}}')"
}

# A column of a job row.
job() { q "SELECT $2 FROM mf.jobs WHERE job_id = $1"; }

# Poll the jobs $1 (comma-separated ids) every 0.1 s until none is queued or
# running (at most 60 s); print the most seen running at once.
max_running() {
	local r running max_seen=0 i
	for i in $(seq 1 600); do
		r="$(q "SELECT count(*) FILTER (WHERE status = 'running' AND worker_pid IS NOT NULL) || ' ' ||
		               count(*) FILTER (WHERE status IN ('queued', 'running'))
		        FROM mf.jobs WHERE job_id IN ($1)")"
		running="${r% *}"
		[ "$running" -gt "$max_seen" ] && max_seen="$running"
		[ "${r#* }" = 0 ] && break
		sleep 0.1
	done
	echo "$max_seen"
}

# The most of the jobs $1 running at once, from their started_at/finished_at.
job_overlap() {
	q "SELECT max((SELECT count(*) FROM mf.jobs b WHERE b.job_id IN ($1)
	                  AND b.started_at <= a.started_at AND b.finished_at > a.started_at))
	     FROM mf.jobs a WHERE a.job_id IN ($1)"
}

# Drop the given test roles and everything they own (tests of privileges).
drop_roles() {
	local r
	for r in "$@"; do
		sql "DO \$\$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$r') THEN
		       EXECUTE 'DROP OWNED BY $r CASCADE'; EXECUTE 'DROP ROLE $r'; END IF; END \$\$" || true
	done
}

# Run SQL as a LOGIN role; prints the result rows.
as() { local r="$1"; shift; PGUSER="$r" q "$1"; }

# Run SQL $2 as role $1, which must fail with SQLSTATE $3 (and show the text
# $5 when given); $4 says what. The error must not contain $REFUSED_FORBID
# when that is set (a secret).
refused() {
	local out
	out="$(PGUSER="$1" PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 \
		-v VERBOSITY=verbose -c "$2" 2>&1)" && fail "$4: accepted (as $1): $2"
	echo "$out" | grep -q "ERROR:  $3" || fail "$4: expected SQLSTATE $3, got: $out"
	[ -z "${5:-}" ] || echo "$out" | grep -qF "$5" || fail "$4: expected \"$5\" in: $out"
	[ -z "${REFUSED_FORBID:-}" ] || ! echo "$out" | grep -qF "$REFUSED_FORBID" || fail "$4: the error shows a secret: $out"
	pass "$4 ($3)"
}
