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

# One value from a query in $PGDATABASE (psql -tA), stopping on errors.
mf_query() {
	"$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -c "$1"
}

# Run SQL in $PGDATABASE quietly (notices off), stopping on errors.
mf_sql() {
	PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null
}

# True when version $1 is older than version $2 (semantic version order).
version_lt() {
	[ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]
}

# Print the fingerprint of mf_ext in database $1 (scripts/extension-fingerprint.sql).
mf_fingerprint() {
	PGDATABASE="$1" "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -f "$MF_ROOT/scripts/extension-fingerprint.sql"
}

# Compare mf_ext in $PGDATABASE with a fresh CREATE EXTENSION of the installed
# script in a scratch database (dropped again); print the objects that differ
# (changed, only in the installed catalog, only in the script). Status 0: same, 1: they differ,
# 2: the check itself failed (its error is printed).
mf_extension_drift() {
	local probe="mf_setup_probe" here fresh rc=0
	mf_sql "DROP DATABASE IF EXISTS $probe WITH (FORCE)" && mf_sql "CREATE DATABASE $probe" || return 2
	if ! PGDATABASE="$probe" mf_sql "CREATE EXTENSION mf_ext CASCADE"; then
		rc=2
	else
		here="$(mf_fingerprint "$PGDATABASE")" || rc=2
		fresh="$(mf_fingerprint "$probe")" || rc=2
	fi
	mf_sql "DROP DATABASE IF EXISTS $probe WITH (FORCE)" || true
	[ "$rc" -eq 0 ] || return "$rc"
	[ "$here" = "$fresh" ] && return 0
	diff <(printf '%s\n' "$here") <(printf '%s\n' "$fresh") | awk '
		/^[<>] / { side = $1; sub(/^[<>] /, ""); sub(/ [0-9a-f]+$/, ""); seen[$0] = seen[$0] side; if (!($0 in order)) order[$0] = n++ }
		END { for (o in order) name[order[o]] = o
		      for (i = 0; i < n && i < 20; i++) {
		          w = seen[name[i]]
		          print "  " (w ~ /</ && w ~ />/ ? "changed:        " : w ~ /</ ? "only installed: " : "only in script: ") name[i] }
		      if (n > 20) print "  ... and " (n - 20) " more" }'
	return 1
}

# Make $PGDATABASE hold mf_ext at the installed default version, keeping every
# row and every object that depends on it: create it when missing, update it
# (ALTER EXTENSION UPDATE) when older, keep it when current. Stops, changing
# nothing, when no update path exists, when the database is newer than this
# checkout, or when the installed catalog differs from the script of the same
# version (a development change: `make reset` starts over, MF_KEEP_CATALOG=1
# keeps going with the catalog as it is).
mf_ensure_extension() {
	local have want
	want="$(mf_query "SELECT default_version FROM pg_available_extensions WHERE name = 'mf_ext'")"
	[ -n "$want" ] || die "mf_ext is not installed in $("$PG_CONFIG" --sharedir)/extension: run 'make install'"
	have="$(mf_query "SELECT extversion FROM pg_extension WHERE extname = 'mf_ext'")"
	if [ -z "$have" ]; then
		info "creating extension mf_ext $want in database $PGDATABASE"
		mf_sql "CREATE EXTENSION mf_ext VERSION '$want' CASCADE"
		return
	fi
	if version_lt "$want" "$have"; then
		die "database $PGDATABASE holds mf_ext $have, newer than this checkout's $want: nothing was changed; use a checkout of $have or newer"
	fi
	if [ "$have" != "$want" ]; then
		info "updating extension mf_ext $have -> $want in database $PGDATABASE (your models are kept)"
		if ! mf_sql "ALTER EXTENSION mf_ext UPDATE TO '$want'"; then
			die "mf_ext $have could not be updated to $want in database $PGDATABASE (no upgrade script mf_ext--$have--$want.sql, or it failed: see above); nothing was changed and your models are intact. 'make reset' starts over and DROPS every model."
		fi
	else
		info "extension mf_ext $have is already in database $PGDATABASE: keeping it and your models"
	fi
	mf_check_drift "$have" "$want"
}

# After a keep: stop unless the catalog matches the installed script; after
# an update: warn when the result differs from a fresh install.
mf_check_drift() {
	local diffs rc=0
	diffs="$(mf_extension_drift)" || rc=$?
	case "$rc" in
	0) return 0 ;;
	2) warn "could not compare mf_ext in $PGDATABASE with a fresh install (see above); keeping it as it is"; return 0 ;;
	esac
	if [ "$1" != "$2" ]; then
		warn "mf_ext updated $1 -> $2 in database $PGDATABASE differs from a fresh install of $2:"
		printf '%s\n' "$diffs" >&2
		return 0
	fi
	printf 'mf_ext %s in database %s was installed from another script of the same version\n' "$2" "$PGDATABASE" >&2
	printf '(sql/ changed since): these objects differ from a fresh install:\n%s\n' "$diffs" >&2
	if [ "${MF_KEEP_CATALOG:-0}" = 1 ]; then
		warn "MF_KEEP_CATALOG=1: going on with the catalog as it is"
		return 0
	fi
	die "nothing was dropped and your models are intact. Either write an upgrade script (a new version), or run 'make reset' (drops mf_ext and every model in $PGDATABASE, after listing them), or go on with the catalog as it is: MF_KEEP_CATALOG=1 make demo"
}

# Print what DROP EXTENSION mf_ext CASCADE would drop in $PGDATABASE: the
# rows of the catalog and the objects of the user's that depend on mf_ext.
mf_describe_drop() {
	mf_query "SELECT format('  %s models (%s), %s versions, %s jobs, %s audit events',
	                        (SELECT count(*) FROM mf.models),
	                        coalesce((SELECT string_agg(name, ', ' ORDER BY name) FROM mf.models), 'none'),
	                        (SELECT count(*) FROM mf.model_versions), (SELECT count(*) FROM mf.jobs),
	                        (SELECT count(*) FROM mf.events))"
	local yours
	yours="$("$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -f "$MF_ROOT/scripts/extension-dependents.sql")"
	[ -z "$yours" ] || printf '  and these objects of yours that depend on it:\n%s\n' "$yours" | sed '2,$s/^/    /'
}

# `make reset`: say what DROP EXTENSION mf_ext CASCADE drops in $PGDATABASE,
# ask (or need MF_RESET=yes without a terminal), drop it; the caller creates
# it again.
mf_reset_extension() {
	local answer
	if [ -z "$(mf_query "SELECT 1 FROM pg_extension WHERE extname = 'mf_ext'")" ]; then
		info "no extension mf_ext in database $PGDATABASE: nothing to reset"
		return 0
	fi
	info "make reset drops extension mf_ext in database $PGDATABASE (port $PGPORT), and with it:"
	mf_describe_drop
	if [ "${MF_RESET:-}" != yes ]; then
		[ -t 0 ] || die "not dropped: run 'MF_RESET=yes make reset' to confirm without a terminal"
		read -r -p "Type 'yes' to drop all of this: " answer
		[ "$answer" = yes ] || die "not dropped"
	fi
	mf_sql "DROP EXTENSION mf_ext CASCADE"
	info "dropped extension mf_ext and everything listed above"
}

# Wait (at most $1 s, default 30) until the mf_ext launcher serves $PGDATABASE,
# so a job queued next finds it running; warn (truly) when it does not come.
mf_wait_for_launcher() {
	local limit="${1:-30}" t0 state
	state="$(mf_query "SELECT preloaded AND served_database = current_database() FROM mf._jobs_state()")"
	[ "$state" = t ] || return 0
	[ "$(mf_query "SELECT launcher_pid > 0 FROM mf._jobs_state()")" = t ] && return 0
	info "waiting for the mf_ext launcher to connect to database $PGDATABASE"
	t0="$(date +%s)"
	until [ "$(mf_query "SELECT launcher_pid > 0 FROM mf._jobs_state()")" = t ]; do
		if [ $(($(date +%s) - t0)) -ge "$limit" ]; then
			warn "the mf_ext launcher is not running in database $PGDATABASE after ${limit} s: background jobs will wait (see the server log)"
			return 0
		fi
		sleep 0.2
	done
}
