# shellcheck shell=bash
# Shared helpers for the mf_ext scripts (sourced, never run).
#
# Paths:  MF_ROOT (checkout), MF_BUILD (logs and build outputs), PG_BIN.
# Users:  as_root runs a command as root (directly or through sudo);
#         as_pg runs it as the cluster owner (the `postgres` OS user when we
#         are root, because initdb refuses root; ourselves otherwise).

MF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MF_BUILD="$MF_ROOT/build"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_CONFIG="${PG_CONFIG:-$PG_BIN/pg_config}"
export MF_ROOT MF_BUILD PG_CONFIG

# Print a progress line.
info() { printf '==> %s\n' "$*"; }

# Print a warning on stderr.
warn() { printf 'warning: %s\n' "$*" >&2; }

# Print an error on stderr and exit 1.
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# True when the current process runs as root.
is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as root: directly when root, else through sudo.
as_root() {
	if is_root; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "'$*' needs root: run as root or install and configure sudo"
	fi
}

# OS user that owns and runs the private cluster.
pg_os_user() {
	if is_root; then echo postgres; else id -un; fi
}

# Run a command as the cluster owner, from / so an unreadable cwd is harmless.
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Run a command with its output in a log file; on failure show the log's tail.
run_logged() {
	local log="$1"; shift
	mkdir -p "$(dirname "$log")"
	local rc=0
	"$@" >"$log" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] && return 0
	printf '%s\n' "--- last lines of $log ---" >&2
	tail -n 40 "$log" >&2
	return "$rc"
}

# Build the extension (both libraries), output in build/logs/build.log.
mf_build() {
	info "building mf_ext (log: build/logs/build.log)"
	run_logged "$MF_BUILD/logs/build.log" make -C "$MF_ROOT" -j"$(nproc)"
}

# Install the extension into PostgreSQL's directories (as root).
mf_install() {
	info "installing mf_ext into $("$PG_CONFIG" --pkglibdir) (log: build/logs/install.log)"
	run_logged "$MF_BUILD/logs/install.log" as_root make -C "$MF_ROOT" install
}

# Drop and recreate mf_ext in $PGDATABASE, so what runs there is the script
# just installed (a re-used cluster may hold an older build of the version).
mf_recreate_extension() {
	info "recreating extension mf_ext in database $PGDATABASE"
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
		-c 'SET client_min_messages = warning' \
		-c 'DROP EXTENSION IF EXISTS mf_ext CASCADE' \
		-c 'CREATE EXTENSION mf_ext CASCADE'
}
