#!/usr/bin/env bash
# `make test`: set up like the demo (deps, build, install), create the tests'
# own cluster afresh, then run every test layer, continuing past failures:
#   unit         test/unit/test_*.c programs (TAP)
#   pg_regress   make installcheck (test/sql -> test/expected)
#   pgTAP        pg_prove over test/pgtap/*.sql in a fresh database mf_tap
#   integration  every executable test/integration/*.sh (pass = exit 0)
# The last line printed is exactly "N passed, N failed"; the exit status is
# non-zero when anything failed or a layer could not run. Logs: build/test-logs.
#
# The tests never touch the demo cluster (.mf/, port $MF_PORT, default 5499):
# they run in a cluster of their own in .mf/test (or $MF_TEST_CLUSTER_DIR),
# on port $MF_TEST_PORT (default $MF_PORT + 1), which every run destroys and
# creates again and stops at the end. Tests needing more clusters put them
# under .mf/ too, on the ports after it.
set -euo pipefail
shopt -s nullglob
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

CLUSTER="$MF_ROOT/scripts/cluster.sh"
DEMO_PORT="${MF_PORT:-5499}"
MF_CLUSTER_DIR="${MF_TEST_CLUSTER_DIR:-$MF_ROOT/.mf/test}"
MF_PORT="${MF_TEST_PORT:-$((DEMO_PORT + 1))}"
export MF_CLUSTER_DIR MF_PORT
LOGS="$MF_BUILD/test-logs"
BUDGET="${MF_TEST_BUDGET:-1140}" # seconds for the whole run (hard limit: 20 min)
T0="$(date +%s)"
TAP_DB=mf_tap
TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()
SETUP_OK=1

# Record a layer's result: record NAME PASSED FAILED [NOTE].
record() {
	TOTAL_PASS=$((TOTAL_PASS + $2))
	TOTAL_FAIL=$((TOTAL_FAIL + $3))
	SUMMARY+=("$(printf '  %-12s %3d passed, %3d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}

# Seconds left for a step: min(its own limit, what is left of the budget).
time_left() {
	local left=$((BUDGET - ($(date +%s) - T0)))
	[ "$left" -lt 1 ] && left=1
	[ "$left" -lt "$1" ] && echo "$left" || echo "$1"
}

# Count lines of a file matching an extended regex (0 when none).
count_lines() {
	grep -cE "$1" "$2" || true
}

# Explain a test program's non-zero exit status.
describe_exit() {
	if [ "$1" -eq 124 ]; then
		echo "    timed out"
	elif [ "$1" -gt 128 ]; then
		echo "    crashed: killed by signal $(($1 - 128)) ($(kill -l "$(($1 - 128))" 2>/dev/null || echo '?'))"
	else
		echo "    exited with status $1"
	fi
}

# Print a section header.
section() {
	printf '\n==> %s\n' "$*"
}

# Deps, build, install, a fresh test cluster and its environment.
setup() {
	mkdir -p "$LOGS"
	section "set-up"
	"$MF_ROOT/scripts/install-deps.sh" || { record setup 0 1 "dependencies"; SETUP_OK=0; return; }
	mf_build || { record setup 0 1 "build failed: build/logs/build.log"; SETUP_OK=0; return; }
	mf_install || { record setup 0 1 "install failed: build/logs/install.log"; SETUP_OK=0; return; }
	info "the tests' own cluster: ${MF_CLUSTER_DIR#"$MF_ROOT"/}, port $MF_PORT (created afresh; the demo cluster is not touched)"
	"$CLUSTER" destroy || { record setup 0 1 "could not remove the previous test cluster"; SETUP_OK=0; return; }
	"$CLUSTER" start || { record setup 0 1 "test cluster did not start"; SETUP_OK=0; return; }
	eval "$("$CLUSTER" env)"
	export PGHOST PGPORT PGUSER PGDATABASE
	mf_ensure_extension >/dev/null || { record setup 0 1 "CREATE EXTENSION mf_ext failed in $PGDATABASE"; SETUP_OK=0; return; }
}

# Layer (a): build and run each C unit test program, counting TAP lines.
layer_unit() {
	section "C unit tests"
	local srcs=("$MF_ROOT"/test/unit/test_*.c) src name bin log rc p f plan note
	local pass=0 fail=0
	if [ ${#srcs[@]} -eq 0 ]; then record unit 0 0 "none found"; return; fi
	rm -f "$MF_BUILD"/unit/test_*
	timeout "$(time_left 600)" make -C "$MF_ROOT" -k unit-build >"$LOGS/unit-build.log" 2>&1 ||
		{ echo "some unit tests did not build:"; { grep -E 'error|Error|undefined reference' "$LOGS/unit-build.log" || true; } | head -n 30; }
	mkdir -p "$LOGS/unit"
	for src in "${srcs[@]}"; do
		name="$(basename "$src" .c)"
		bin="$MF_BUILD/unit/$name"
		log="$LOGS/unit/$name.log"
		if [ ! -x "$bin" ]; then
			echo "  $name: did not build (log: ${LOGS#"$MF_ROOT"/}/unit-build.log)"
			fail=$((fail + 1))
			continue
		fi
		rc=0
		# "; exit $?" keeps the subshell alive, so the shell's "Aborted" report goes to the log.
		(cd "$MF_ROOT" && timeout "$(time_left 300)" "$bin"; exit $?) >"$log" 2>&1 || rc=$?
		p="$(count_lines '^ok( |$)' "$log")"
		f="$(count_lines '^not ok( |$)' "$log")"
		plan="$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)"
		note=""
		if [ "$rc" -ne 0 ]; then
			# A crash or timeout is a failure of its own; a plain non-zero exit
			# is one when no "not ok" explains it.
			{ [ "$f" -eq 0 ] || [ "$rc" -ge 124 ]; } && f=$((f + 1))
			note="$(describe_exit "$rc")"
		elif [ -z "$plan" ] || [ "$plan" -ne $((p + f)) ]; then
			f=$((f + 1))
			note="    plan '1..${plan:-?}' does not match the $((p + f - 1)) test lines"
		fi
		echo "  $name: $p passed, $f failed"
		[ -z "$note" ] || echo "$note"
		if [ "$f" -gt 0 ]; then
			{ grep -E '^not ok|^#' "$log" || true; } | head -n 20 | sed 's/^/    /'
			echo "    (full output: ${log#"$MF_ROOT"/})"
		fi
		pass=$((pass + p))
		fail=$((fail + f))
	done
	record unit "$pass" "$fail"
}

# Layer (b): pg_regress through `make installcheck`; each test/sql file is one
# test, passed only when pg_regress printed "ok" for it (it stops early on some
# errors, e.g. a missing expected file).
layer_regress() {
	section "pg_regress (make installcheck)"
	local tests=("$MF_ROOT"/test/sql/*.sql) log="$LOGS/regress.log" rc=0 p=0 f=0 t name
	if [ ${#tests[@]} -eq 0 ]; then record pg_regress 0 0 "none found"; return; fi
	if [ "$SETUP_OK" != 1 ]; then record pg_regress 0 1 "not run: set-up failed"; return; fi
	timeout "$(time_left 600)" make -C "$MF_ROOT" installcheck >"$log" 2>&1 || rc=$?
	for t in "${tests[@]}"; do
		name="$(basename "$t" .sql)"
		if grep -qE "^(test )? *$name +\.\.\. +ok" "$log"; then
			p=$((p + 1))
		else
			f=$((f + 1))
			echo "  $name: FAILED$(grep -qE "^(test )? *$name +\.\.\. +FAILED" "$log" || echo ' (not run to completion)')"
		fi
	done
	echo "  $p of ${#tests[@]} test files ok (log: ${log#"$MF_ROOT"/})"
	if [ "$rc" -ne 0 ]; then
		echo "  make installcheck exited with status $rc; last lines:"
		tail -n 8 "$log" | sed 's/^/    /'
	fi
	if [ -s "$MF_BUILD/regress/regression.diffs" ] && [ "$f" -gt 0 ]; then
		echo "  --- build/regress/regression.diffs (first 200 lines) ---"
		head -n 200 "$MF_BUILD/regress/regression.diffs"
	fi
	record pg_regress "$p" "$f"
}

# Recreate database mf_tap with pgtap and mf_ext installed.
make_tap_db() {
	PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
		-c "DROP DATABASE IF EXISTS $TAP_DB WITH (FORCE)" \
		-c "CREATE DATABASE $TAP_DB" &&
		"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$TAP_DB" \
			-c 'CREATE EXTENSION pgtap' \
			-c 'CREATE EXTENSION mf_ext CASCADE'
}

# Layer (c): each pgTAP file through pg_prove, one count per assertion; a file
# that dies or misses its plan without a "not ok" counts one failure.
layer_pgtap() {
	section "pgTAP (pg_prove)"
	local files=("$MF_ROOT"/test/pgtap/*.sql) t name log rc p f pass=0 fail=0
	if [ ${#files[@]} -eq 0 ]; then record pgTAP 0 0 "none found"; return; fi
	if [ "$SETUP_OK" != 1 ]; then record pgTAP 0 1 "not run: set-up failed"; return; fi
	if ! make_tap_db >"$LOGS/pgtap-setup.log" 2>&1; then
		cat "$LOGS/pgtap-setup.log"
		record pgTAP 0 1 "not run: could not create database $TAP_DB"
		return
	fi
	mkdir -p "$LOGS/pgtap"
	for t in "${files[@]}"; do
		name="$(basename "$t" .sql)"
		log="$LOGS/pgtap/$name.log"
		rc=0
		(cd "$MF_ROOT" && timeout "$(time_left 300)" pg_prove --verbose -d "$TAP_DB" \
			"test/pgtap/$name.sql"; exit $?) >"$log" 2>&1 || rc=$?
		p="$(count_lines '^ *ok [0-9]' "$log")"
		f="$(count_lines '^ *not ok [0-9]' "$log")"
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		echo "  $name: $p passed, $f failed"
		if [ "$rc" -ne 0 ]; then
			{ grep -E '^ *not ok|^# |ERROR|Bad plan|Dubious' "$log" || true; } | head -n 20 | sed 's/^/    /'
			echo "    (pg_prove exit $rc; full output: ${log#"$MF_ROOT"/})"
		fi
		pass=$((pass + p))
		fail=$((fail + f))
	done
	record pgTAP "$pass" "$fail"
}

# Layer (d): each executable test/integration/*.sh is one test.
layer_integration() {
	section "integration tests"
	local t name log rc pass=0 fail=0 ran=0
	mkdir -p "$LOGS/integration"
	for t in "$MF_ROOT"/test/integration/*.sh; do
		if [ ! -x "$t" ]; then
			echo "  $(basename "$t"): not executable, skipped (helper?)"
			continue
		fi
		ran=$((ran + 1))
		if [ "$SETUP_OK" != 1 ]; then fail=$((fail + 1)); continue; fi
		name="$(basename "$t" .sh)"
		log="$LOGS/integration/$name.log"
		rc=0
		(cd "$MF_ROOT" && timeout "$(time_left 300)" "$t"; exit $?) >"$log" 2>&1 || rc=$?
		if [ "$rc" -eq 0 ]; then
			echo "  $name: ok"
			pass=$((pass + 1))
		else
			echo "  $name: FAILED (exit $rc; log: ${log#"$MF_ROOT"/})"
			tail -n 30 "$log" | sed 's/^/    /'
			fail=$((fail + 1))
		fi
	done
	if [ "$ran" -eq 0 ]; then record integration 0 0 "none found"; return; fi
	record integration "$pass" "$fail" "$([ "$SETUP_OK" = 1 ] || echo "not run: set-up failed")"
}

# Print the per-layer counts and, as the very last line, the totals.
summary() {
	section "summary ($(($(date +%s) - T0)) s; logs in build/test-logs)"
	printf '%s\n' "${SUMMARY[@]}"
	echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
}

# Main: set up, run all layers, stop the test cluster, summarise.
main() {
	export MF_ROOT CLUSTER_SH="$CLUSTER"
	setup
	layer_unit
	layer_regress
	layer_pgtap
	layer_integration
	"$CLUSTER" stop >/dev/null 2>&1 || true
	summary
	[ "$TOTAL_FAIL" -eq 0 ]
}

main "$@"
