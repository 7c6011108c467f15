#!/usr/bin/env bash
# `make bench`: mf_ext training against its Python peers, both sides measured
# in the same run on the same rows of the private cluster (database mf_bench).
#
#   1. install the peers' Debian packages when missing (python3-sklearn,
#      python3-psycopg2, python3-torch; never part of `make test`)
#   2. build and install mf_ext and restart the cluster, like `make demo`
#      (MF_BENCH_BUILD=0 skips this and uses what is installed)
#   3. recreate extension mf_ext in database mf_bench (the generated tables
#      bench_lr*, bench_mlp* are kept between runs; MF_BENCH_REGEN=1 rebuilds)
#   4. run bench/train_logreg.py, train_linreg.py, train_mlp.py, transformer.sh
#      (the transformer kernels against PyTorch on CPU, no server), predict.py, serve.sh
#      (mf-serve against Flask + gunicorn + scikit-learn and against pgbench, one
#      SELECT per request, loaded with wrk; its own table, bench_serve),
#      image_push.sh (build + push of a new version as an image, against
#      skopeo copy of the same layout), image_start.sh (root: the image's
#      cold start under runc against Flask + gunicorn + scikit-learn started
#      the same way) and cold_start.py (last: it restarts the cluster and
#      times new connections in database mf_cold); each prints a summary. Until mf_train exists our
#      side reads "n/a". bench/cold_start.sh [REV] compares the cold start of
#      another revision's build with this one's in one run.
# Knobs: MF_BENCH_REPEATS (3), MF_BENCH_MLP_EPOCHS (5), MF_BENCH_LR_ROWS (1000000),
# MF_BENCH_ONLY (benchmarks to run, e.g. "predict.py"; default all; PyTorch is
# installed with the other peers), bench/transformer.sh's (MF_BENCH_TF_STEPS,
# MF_BENCH_TF_SHAPE) and predict.py's own (see their headers).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"

CLUSTER="$MF_ROOT/scripts/cluster.sh"
BENCH_DB=mf_bench
PY=/usr/bin/python3
PEER_PKGS="python3-sklearn python3-psycopg2 python3-torch python3-flask gunicorn wrk"
# Each benchmark by its file name; MF_BENCH_ONLY="predict.py cold_start.py" runs some only.
BENCHES="${MF_BENCH_ONLY:-train_logreg.py train_linreg.py train_mlp.py transformer.sh predict.py serve.sh image_push.sh image_start.sh cold_start.py}"
for b in $BENCHES; do
	[ -f "$MF_ROOT/bench/$b" ] || die "MF_BENCH_ONLY: no benchmark bench/$b"
done

# Install the peers' packages that are missing (apt output in build/logs).
install_peers() {
	local p missing=""
	for p in $PEER_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	info "installing benchmark peers:$missing (log: build/logs/apt-bench.log)"
	run_logged "$MF_BUILD/logs/apt-bench.log" as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get -q -y -o DPkg::Lock::Timeout=600 update ||
		die "apt-get update failed"
	# shellcheck disable=SC2086 # word splitting of the package list is wanted
	run_logged "$MF_BUILD/logs/apt-bench.log" as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends $missing ||
		die "could not install$missing"
}

# Build, install and restart so the newest mf_ext is measured; a failed
# build is reported and the benchmark goes on with what is installed.
build_and_start() {
	if [ "${MF_BENCH_BUILD:-1}" = 1 ]; then
		if mf_build && mf_install; then
			"$CLUSTER" restart
		else
			warn "building/installing mf_ext failed: measuring with the installed version"
		fi
	fi
	"$CLUSTER" start
	eval "$("$CLUSTER" env)"
	export PGHOST PGPORT PGUSER
	export PGDATABASE="$BENCH_DB"
}

# Create database mf_bench if needed and a fresh extension in it.
prepare_database() {
	if [ "$("$PG_BIN/psql" -X -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$BENCH_DB'")" != 1 ]; then
		"$PG_BIN/psql" -X -q -d postgres -c "CREATE DATABASE $BENCH_DB"
	fi
	if ! "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -c 'SET client_min_messages = warning' \
		-c 'DROP EXTENSION IF EXISTS mf_ext CASCADE' -c 'CREATE EXTENSION mf_ext CASCADE' \
		>/dev/null; then
		warn "CREATE EXTENSION mf_ext failed in $BENCH_DB: only the peers will be measured"
	fi
}

# Run every benchmark (a .sh with bash, a .py with python3); keep going when
# one fails, fail at the end.
run_all() {
	local b failed=""
	for b in $BENCHES; do
		info "bench/$b"
		case "$b" in
			*.sh) bash "$MF_ROOT/bench/$b" || failed="$failed ${b%.*}" ;;
			*) (cd "$MF_ROOT/bench" && "$PY" "$b") || failed="$failed ${b%.*}" ;;
		esac
	done
	[ -z "$failed" ] || die "benchmarks failed:$failed"
}

install_peers
build_and_start
prepare_database
T0=$(date +%s)
run_all
info "benchmarks done in $(($(date +%s) - T0)) s"
