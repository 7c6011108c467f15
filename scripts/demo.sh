#!/usr/bin/env bash
# `make demo`: install dependencies, build and install mf_ext, (re)start the
# private cluster, recreate the extension in database mf and run the
# quickstart (examples/quickstart.sql, or $MF_QUICKSTART). Safe to re-run.
# MF_DEMO_SETUP=0 skips the set-up and uses the running private cluster
# (test/integration/quickstart_runs.sh does that).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

CLUSTER="$MF_ROOT/scripts/cluster.sh"
QUICKSTART="${MF_QUICKSTART:-$MF_ROOT/examples/quickstart.sql}"

# Install packages, build, install, and restart so the new libraries load.
setup() {
	if [ "${MF_DEMO_SETUP:-1}" != 0 ]; then
		"$MF_ROOT/scripts/install-deps.sh"
		mf_build || die "build failed (log: build/logs/build.log)"
		mf_install || die "make install failed (log: build/logs/install.log)"
		"$CLUSTER" restart
	fi
	eval "$("$CLUSTER" env)"
	export PGHOST PGPORT PGUSER PGDATABASE
}

# Run the quickstart with its statements echoed.
run_quickstart() {
	[ -f "$QUICKSTART" ] || die "quickstart not found: $QUICKSTART"
	info "running ${QUICKSTART#"$MF_ROOT"/}"
	echo
	"$PG_BIN/psql" -X -v ON_ERROR_STOP=1 --echo-all -f "$QUICKSTART"
	echo
}

# Tell the user how to connect and how to stop.
print_next_steps() {
	cat <<EOF
The mf_ext cluster is running.
  connect:  psql -h $PGHOST -p $PGPORT -U $PGUSER $PGDATABASE
            (or: eval "\$(scripts/cluster.sh env)"; psql   or: scripts/cluster.sh psql)
  over TCP: psql -h 127.0.0.1 -p $PGPORT -U $PGUSER $PGDATABASE
  stop:     make stop
EOF
}

setup
mf_recreate_extension
run_quickstart
print_next_steps
