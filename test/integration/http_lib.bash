# shellcheck shell=bash
# Helpers of the in-database HTTP server's integration tests (sourced, not a
# test): the jobs helpers (jobs_lib.bash), plus setting mf.http_* in the
# tests' cluster and waiting for the server.  The HTTP port is the cluster's
# port + 10000 (and + 10100 for a move), so tests of clusters on other ports
# do not collide.
. "$(dirname "${BASH_SOURCE[0]}")/jobs_lib.bash"
HTTP_PORT=$((PGPORT + 10000))
HTTP_PORT2=$((PGPORT + 10100))
HTTP="http://127.0.0.1:$HTTP_PORT"

# Set mf.http_* GUCs ("name = value" pairs as ALTER SYSTEM takes them) and reload.
http_set() {
	local s
	for s in "$@"; do sql "ALTER SYSTEM SET $s"; done
	sql "SELECT pg_reload_conf()"
}

# Wait until the server is in state $1 on port $2 (at most $3 s, default 15).
http_wait_state() {
	wait_for "SELECT state = '$1' AND port = $2 FROM mf._http_state()" "${3:-15}"
}

# Turn the server on at $HTTP_PORT with $1 serving processes (default 1) and wait for it.
http_on() {
	http_set "mf.http_port = $HTTP_PORT" "mf.http_workers = ${1:-1}" "mf.http_role = 'mf_reader'" \
		"mf.http_listen_addresses = 'localhost'"
	http_wait_state serving "$HTTP_PORT" 20 || fail "HTTP server not serving on $HTTP_PORT: $(q 'SELECT row(s.*) FROM mf._http_state() s')"
	[ "$(q "SELECT cardinality(server_pids) FROM mf._http_state()")" = "${1:-1}" ] ||
		wait_for "SELECT cardinality(server_pids) = ${1:-1} FROM mf._http_state()" 10 ||
		fail "not ${1:-1} serving processes: $(q 'SELECT server_pids FROM mf._http_state()')"
}

# Turn the server off (mf.http_port = 0) and wait until it has stopped.
http_off() {
	http_set "mf.http_port = 0"
	wait_for "SELECT state IN ('stopped', 'refused') AND worker_pid = 0 FROM mf._http_state()" 15 ||
		fail "HTTP server did not stop"
}

# The status code of a request: http_code METHOD URL [curl args...].
http_code() {
	local m="$1" u="$2"
	shift 2
	curl -s -o /dev/null -w '%{http_code}' -X "$m" "$@" "$u" || true
}

# Wait until GET $1 answers status $2 (at most $3 s, default 5); prints the seconds it took.
http_wait_code() {
	local t0 now
	t0="$(date +%s%N)"
	while [ "$(http_code GET "$1")" != "$2" ]; do
		now="$(date +%s%N)"
		[ $(((now - t0) / 1000000)) -ge $((${3:-5} * 1000)) ] && return 1
		sleep 0.02
	done
	echo "$((($(date +%s%N) - t0) / 1000000))"
}

# The server answers /health (and is thus alive).
http_alive() {
	[ "$(http_code GET "$HTTP/health")" = 200 ]
}
