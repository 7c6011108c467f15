# shellcheck shell=bash
# Helpers of the monitoring integration tests (sourced, not a test): the HTTP
# helpers (http_lib.bash), a trained classifier, a served model directory
# exported from it and an mf-serve on a free loopback port.
. "$(dirname "${BASH_SOURCE[0]}")/http_lib.bash"
SERVE="$MF_ROOT/build/mf-serve"
TMP="$(mktemp -d)"
PIDS=()
# Stop what the test started; remove its files.
monitor_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap monitor_cleanup EXIT

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Train classifier $1 (two numeric features x1, x2; labels hit/miss) after dropping it.
monitor_model() {
	sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
	sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$1'"
	sql "DROP TABLE IF EXISTS ${1}_train"
	sql "CREATE TABLE ${1}_train AS SELECT sin(g * 0.7) AS x1, (g % 5) - 2 AS x2,
	     CASE WHEN sin(g * 0.7) + (g % 4) / 4.0 > 0.3 THEN 'hit' ELSE 'miss' END AS y FROM generate_series(1, 200) g"
	sql "SELECT mf_create_model('{\"name\": \"$1\", \"family\": \"logistic_regression\"}')"
	sql "SELECT mf_train('$1', 'SELECT x1, x2, y FROM ${1}_train', 'y', '{\"features\": [\"x1\", \"x2\"]}')"
}

# Export model $1 into $TMP/models (the documented pipe).
monitor_export() {
	mkdir -p "$TMP/models"
	"$PG_BIN/psql" -X -Atc "SELECT encode(mf_export_model('$1'), 'base64')" | base64 -d | tar -x -C "$TMP/models"
}

# Start mf-serve on port $1 over $TMP/models (more mf-serve options after it); sets SERVE_PID; waits until it is ready.
monitor_serve() {
	"$SERVE" --model-base-path "$TMP/models" --host 127.0.0.1 --port "$1" --threads 2 --poll-seconds 0 "${@:2}" \
		2>>"$TMP/serve.log" &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	for _ in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$1/v2/health/ready" >/dev/null && return 0
		sleep 0.1
	done
	cat "$TMP/serve.log" >&2
	fail "mf-serve not ready on port $1"
}

# The server, mf-serve built, classifier $1 trained and exported, served on a free
# port (PORT; more mf-serve options after $1).
monitor_start() {
	wait_for_server || fail "server not reachable"
	make -s -C "$MF_ROOT" build/mf-serve >/dev/null || fail "mf-serve does not build"
	monitor_model "$1"
	monitor_export "$1"
	PORT="$(free_port)"
	monitor_serve "$PORT" "${@:2}"
}
