#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for mf_ext development and tests.
#
#   scripts/cluster.sh start|stop|status|restart|env|psql [psql args]|destroy
#   scripts/cluster.sh registry start|stop|status|url   (its local OCI registry)
#
# Layout: the demo cluster lives in .mf/ of the checkout (.mf/data, .mf/run for
# the socket, .mf/log/postgresql.log). $MF_CLUSTER_DIR names another cluster
# directory: `make test` uses .mf/test, a cluster of its own that it destroys
# and creates again on every run (`destroy` refuses the demo cluster). As
# root a cluster is owned and run by the `postgres` OS user; when that user
# cannot reach the directory (e.g. a checkout under /root), the cluster goes
# to /var/tmp/mf-<checkout name>[-<cluster name>]-<hash> and <dir>/cluster is
# a symlink to it. Port: $MF_PORT, default 5499. Superuser: `postgres` (trust
# auth, so the server listens on 127.0.0.1 only and its socket directory is
# private to the cluster), database: mf. `stop` also stops the cluster's
# local OCI registry (scripts/registry.bash) when it runs.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

DEMO_DIR="$MF_ROOT/.mf"
MF_DIR="${MF_CLUSTER_DIR:-$DEMO_DIR}"
MARKER=.mf-cluster
PORT="${MF_PORT:-5499}"
DB_SUPERUSER=postgres
DB_NAME=mf
# shellcheck source=scripts/registry.bash
. "$(dirname "$0")/registry.bash"

# Directory of a fallback cluster under /var/tmp, named after the checkout
# (and after the cluster directory when it is not the demo cluster).
fallback_dir() {
	local hash key="$MF_ROOT" name
	name="$(basename "$MF_ROOT")"
	if [ "$MF_DIR" != "$DEMO_DIR" ]; then
		key="$MF_DIR"
		name="$name-$(basename "$MF_DIR")"
	fi
	hash="$(printf '%s' "$key" | sha1sum | cut -c1-8)"
	echo "/var/tmp/mf-$(printf '%s' "$name" | tr -c 'A-Za-z0-9_.\n-' '_')-$hash"
}

# True when this cluster directory holds a cluster (or points to one).
cluster_exists() {
	[ -d "$MF_DIR/data" ] || [ -L "$MF_DIR/cluster" ]
}

# True when the cluster owner can reach a directory through all its parents.
owner_can_reach() {
	as_pg test -x "$1" 2>/dev/null
}

# Print the cluster directory, choosing (and creating) it on first use:
# .mf itself when the owner can reach it, else a directory under /var/tmp.
cluster_dir() {
	if [ -L "$MF_DIR/cluster" ]; then
		readlink -f "$MF_DIR/cluster"
		return
	fi
	mkdir -p "$MF_DIR"
	# Mark a directory this script starts from empty: only such a one may be destroyed.
	[ -n "$(ls -A "$MF_DIR")" ] || echo "cluster directory of scripts/cluster.sh" >"$MF_DIR/$MARKER"
	if [ -d "$MF_DIR/data" ] || { owner_can_reach "$MF_DIR" && socket_path_ok "$MF_DIR/run"; }; then
		echo "$MF_DIR"
		return
	fi
	local fb
	fb="$(fallback_dir)"
	prepare_owned "$fb"
	chmod 755 "$fb"
	owner_can_reach "$fb" || die "the $(pg_os_user) user cannot reach $fb"
	ln -sfn "$fb" "$MF_DIR/cluster"
	info "the $(pg_os_user) user cannot reach $MF_DIR: the cluster lives in $fb (${MF_DIR#"$MF_ROOT"/}/cluster points there)" >&2
	echo "$fb"
}

# Create a directory owned by the cluster owner (a no-op for a normal user).
prepare_owned() {
	mkdir -p "$1"
	if is_root; then chown postgres:postgres "$1"; fi
}

# True when a socket in this directory fits the 107-byte limit of sun_path.
socket_path_ok() {
	[ "${#1}" -le 80 ]
}

# Set CL (cluster dir), DATA, RUN and LOG; create the owned subdirectories.
resolve_paths() {
	if is_root && ! id postgres >/dev/null 2>&1; then
		die "no 'postgres' OS user: PostgreSQL 15 is not installed; run 'make deps'"
	fi
	CL="$(cluster_dir)"
	DATA="$CL/data"
	RUN="$CL/run"
	LOG="$CL/log/postgresql.log"
	prepare_owned "$RUN"
	chmod 700 "$RUN" # trust auth: only the owner (and root) may reach the socket
	prepare_owned "$CL/log"
}

# The port of the running server (from postmaster.pid), else $PORT.
current_port() {
	local p=""
	[ -f "$DATA/postmaster.pid" ] && p="$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true)"
	echo "${p:-$PORT}"
}

# True when the server of this cluster is running.
is_running() {
	[ -f "$DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

# Run initdb once (trust auth, UTF-8, C.UTF-8 locale) and include mf.conf.
init_cluster() {
	[ -f "$DATA/PG_VERSION" ] && return 0
	[ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 is not installed ($PG_BIN/initdb missing): run 'make deps'"
	info "initdb $DATA (log: $CL/log/initdb.log)"
	prepare_owned "$DATA"
	chmod 700 "$DATA"
	if ! as_pg "$PG_BIN/initdb" -D "$DATA" -U "$DB_SUPERUSER" --auth=trust \
		-E UTF8 --locale=C.UTF-8 >"$CL/log/initdb.log" 2>&1; then
		tail -n 20 "$CL/log/initdb.log" >&2
		die "initdb failed (full log: $CL/log/initdb.log)"
	fi
	echo "include_if_exists = 'mf.conf'	# written by scripts/cluster.sh on every start" |
		as_pg tee -a "$DATA/postgresql.conf" >/dev/null
}

# The preload list: mf_ext, pg_cron and mf_core (a new connection then does not
# load mf_core on its first mf_ext call: ~4 ms; MF_PRELOAD_CORE=0 leaves it
# out), leaving out libraries not installed.
preload_libs() {
	local libdir libs="" l core=mf_core
	libdir="$("$PG_CONFIG" --pkglibdir)"
	[ "${MF_PRELOAD_CORE:-1}" = 1 ] || core=""
	for l in mf_ext pg_cron $core; do
		if [ -f "$libdir/$l.so" ]; then
			libs="${libs:+$libs,}$l"
		else
			warn "$libdir/$l.so is not installed; starting without it (run 'make install' / 'make deps')"
		fi
	done
	echo "$libs"
}

# (Re)write the settings file that postgresql.conf includes.
write_conf() {
	as_pg tee "$DATA/mf.conf" >/dev/null <<EOF
# Written by scripts/cluster.sh on every start: edit that script, not this file.
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN'
shared_preload_libraries = '$(preload_libs)'
cron.database_name = '$DB_NAME'
mf.database = '$DB_NAME'
max_worker_processes = 16
fsync = off
synchronous_commit = off
full_page_writes = off
log_line_prefix = '%m [%p] %q%u@%d '
lc_messages = 'C'
EOF
}

# Run psql against the cluster as the superuser (extra args passed through).
cl_psql() {
	"$PG_BIN/psql" -X -h "$RUN" -p "$(current_port)" -U "$DB_SUPERUSER" "$@"
}

# Create the database mf when it does not exist yet.
ensure_database() {
	if [ "$(cl_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]; then
		cl_psql -d postgres -qc "CREATE DATABASE $DB_NAME" || die "could not create database $DB_NAME"
		info "created database $DB_NAME"
	fi
}

# Start the server (idempotent) and make sure database mf exists.
cmd_start() {
	resolve_paths
	init_cluster
	if is_running; then
		info "cluster already running on port $(current_port) ($DATA)"
		[ "$(current_port)" = "$PORT" ] || warn "MF_PORT=$PORT differs: use 'restart' to move it"
		ensure_database
		return 0
	fi
	write_conf
	info "starting PostgreSQL 15 on port $PORT (data: $DATA, log: $LOG)"
	local before=0
	[ -f "$LOG" ] && before="$(wc -l <"$LOG")"
	if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null 2>&1; then
		echo "--- what the server logged ($LOG) ---" >&2
		tail -n +"$((before + 1))" "$LOG" | tail -n 25 >&2
		die "PostgreSQL did not start (port $PORT busy? try MF_PORT=5500 $0 start)"
	fi
	ensure_database
}

# Stop the server and the cluster's registry (idempotent).
cmd_stop() {
	stop_server registry
}

# Stop the server (idempotent: nothing to do when not running); with $1 =
# registry, the cluster's registry first.
stop_server() {
	if ! cluster_exists; then
		info "no cluster in $MF_DIR"
		return 0
	fi
	resolve_paths
	if [ "${1:-}" = registry ]; then
		registry_paths
		registry_stop
	fi
	if ! is_running; then
		info "cluster not running"
		return 0
	fi
	as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null ||
		die "pg_ctl stop failed (log: $LOG)"
	info "cluster stopped"
}

# Stop then start, e.g. so newly installed libraries are loaded.
cmd_restart() {
	stop_server
	cmd_start
}

# Report whether the cluster runs, where, and on which port.
cmd_status() {
	if ! cluster_exists; then
		echo "no cluster yet (run: $0 start)"
		return 3
	fi
	resolve_paths
	registry_paths
	if is_running; then
		echo "running: port $(current_port), data $DATA, socket dir $RUN, log $LOG"
		[ -z "$(registry_pid)" ] || cmd_registry status
	else
		echo "stopped: data $DATA"
		return 3
	fi
}

# Stop a cluster that is not the demo cluster and delete its directory
# (only one this script made, with its marker file).
cmd_destroy() {
	[ "$(readlink -f "$MF_DIR")" != "$(readlink -f "$DEMO_DIR")" ] ||
		die "the demo cluster ($DEMO_DIR) is never destroyed by a script: see 'Uninstall' in README.md"
	[ -e "$MF_DIR" ] || return 0
	[ -f "$MF_DIR/$MARKER" ] || die "$MF_DIR was not made by $0 (no $MARKER): not deleting it"
	cmd_stop >/dev/null
	local cl
	cl="$(cluster_dir)"
	[ "$cl" = "$MF_DIR" ] || rm -rf "$cl"
	rm -rf "$MF_DIR"
}

# Print shell exports for eval "$(scripts/cluster.sh env)".
cmd_env() {
	resolve_paths
	printf 'export PGHOST=%q PGPORT=%q PGUSER=%q PGDATABASE=%q\n' \
		"$RUN" "$(current_port)" "$DB_SUPERUSER" "$DB_NAME"
}

# Open psql on database mf (arguments are passed to psql).
cmd_psql() {
	resolve_paths
	is_running || die "cluster not running: run '$0 start'"
	cl_psql -d "$DB_NAME" "$@"
}

# Dispatch the subcommand.
main() {
	local cmd="${1:-}"
	[ $# -gt 0 ] && shift
	case "$cmd" in
	start) cmd_start ;;
	stop) cmd_stop ;;
	restart) cmd_restart ;;
	status) cmd_status ;;
	env) cmd_env ;;
	psql) cmd_psql "$@" ;;
	destroy) cmd_destroy ;;
	registry) cmd_registry "$@" ;;
	*)
		echo "usage: $0 {start|stop|status|restart|env|psql [args]|destroy|registry {start|stop|status|url}}" >&2
		exit 2
		;;
	esac
}

main "$@"
