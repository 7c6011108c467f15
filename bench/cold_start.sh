#!/usr/bin/env bash
# Cold start of two builds in the same run: bench/cold_start.sh [BASE_REV]
# (default main) builds BASE_REV in a scratch worktree, then ROUNDS times
# (MF_BENCH_COLD_ROUNDS, 2) installs the base build and runs
# bench/cold_start.py (which restarts the cluster, recreates mf_ext in
# database mf_cold and times new connections), then does the same with this
# checkout's build; prints both builds' medians per round, and leaves this
# checkout's build installed. It installs into the one PostgreSQL
# installation: run it where nothing else uses that installation meanwhile
# (on a shared machine, under the lock that guards it). Cluster: like
# `make bench`, $MF_CLUSTER_DIR / $MF_PORT of scripts/cluster.sh.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"

BASE="${1:-main}"
ROUNDS="${MF_BENCH_COLD_ROUNDS:-2}"
CLUSTER="$MF_ROOT/scripts/cluster.sh"
SCRATCH="$MF_BUILD/cold-base"
PY=/usr/bin/python3
# `bench/cold_start.sh preload`: this checkout's build twice per round, first
# without mf_core in shared_preload_libraries (MF_PRELOAD_CORE=0), then with it.
if [ "$BASE" = preload ]; then
	SCRATCH="$MF_ROOT"
	export MF_PRELOAD_CORE=0
	BASE="not preloaded"
fi

# Build BASE_REV in a detached worktree of its own (log in build/logs).
build_base() {
	local rev
	rev="$(git -C "$MF_ROOT" rev-parse --verify "$BASE^{commit}")" || die "no such revision: $BASE"
	if [ ! -d "$SCRATCH" ] || [ "$(git -C "$SCRATCH" rev-parse HEAD 2>/dev/null)" != "$rev" ]; then
		git -C "$MF_ROOT" worktree remove --force "$SCRATCH" 2>/dev/null || rm -rf "$SCRATCH"
		git -C "$MF_ROOT" worktree add --detach "$SCRATCH" "$rev" >/dev/null
	fi
	info "building $BASE ($(git -C "$SCRATCH" rev-parse --short HEAD)) in ${SCRATCH#"$MF_ROOT"/} (log: build/logs/cold-base.log)"
	run_logged "$MF_BUILD/logs/cold-base.log" make -C "$SCRATCH" -j"$(nproc)" || die "building $BASE failed"
}

# Install one tree's build and measure it; the medians go to $2.
measure() {
	run_logged "$MF_BUILD/logs/cold-install.log" as_root make -C "$1" install || die "installing $1 failed"
	"$CLUSTER" restart >/dev/null	# a preloaded mf_core is the postmaster's: load the new build
	(cd "$MF_ROOT/bench" && MF_BENCH_COLD_JSON="$2" "$PY" cold_start.py)
}

mkdir -p "$MF_BUILD/logs"
[ "$SCRATCH" = "$MF_ROOT" ] || build_base
mf_build || die "building this checkout failed"
"$CLUSTER" start
eval "$("$CLUSTER" env)"
export PGHOST PGPORT PGUSER
HEAD_REV="$(git -C "$MF_ROOT" rev-parse --short HEAD)$(git -C "$MF_ROOT" diff --quiet HEAD -- . 2>/dev/null || echo +changes)"
for r in $(seq 1 "$ROUNDS"); do
	info "round $r: $BASE"
	measure "$SCRATCH" "$MF_BUILD/cold-base-$r.json"
	info "round $r: this checkout ($HEAD_REV)"
	if [ "$BASE" = "not preloaded" ]; then
		MF_PRELOAD_CORE=1 measure "$MF_ROOT" "$MF_BUILD/cold-head-$r.json"
	else
		measure "$MF_ROOT" "$MF_BUILD/cold-head-$r.json"
	fi
done
"$PY" - "$BASE" "$HEAD_REV" "$ROUNDS" "$MF_BUILD" <<'PYEOF'
import json, sys
base, head, rounds, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def cell(x, k):
    v = x[k]
    s = f"{v['wall']:.1f}"
    if v.get("cpu") is not None:
        s += f" / {v['cpu']:.1f} / {v['faults']:.0f}"
    return s
print("medians per round, ms: wall / backend CPU / page faults (first call on a new connection minus warm)")
print(f"{'build':<22} {'round':>5}  {'everything':>22}  {'LOAD mf_core':>22}  {'model alone':>22}  {'warm':>6}")
for r in range(1, rounds + 1):
    for name, tag in ((base, "base"), (head, "head")):
        x = json.load(open(f"{d}/cold-{tag}-{r}.json"))
        print(f"{name:<22} {r:>5}  {cell(x, 'everything'):>22}  {cell(x, 'library'):>22}  "
              f"{cell(x, 'model'):>22}  {x['warm']['wall']:>6.2f}")
PYEOF
