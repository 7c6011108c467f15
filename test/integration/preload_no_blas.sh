#!/usr/bin/env bash
# The preloaded mf_ext.so never links OpenBLAS (nor jansson): the postmaster
# and the launcher have no BLAS mapped, while a job worker does.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
lib="$("$PG_CONFIG" --pkglibdir)/mf_ext.so"
if ldd "$lib" | grep -Eq 'openblas|blas|jansson|yaml'; then fail "$lib links: $(ldd "$lib" | grep -E 'blas|jansson|yaml')"; fi
pass "mf_ext.so links no BLAS, jansson or libyaml"
postmaster="$(head -n 1 "$(q "SHOW data_directory")/postmaster.pid")"
launcher="$(q "SELECT launcher_pid FROM mf._jobs_state()")"
for p in "$postmaster" "$launcher"; do
	[ -r "/proc/$p/maps" ] || fail "cannot read /proc/$p/maps"
	if grep -q openblas "/proc/$p/maps"; then fail "process $p has OpenBLAS mapped"; fi
done
pass "postmaster ($postmaster) and launcher ($launcher) have no OpenBLAS mapped"
fresh_mlp jp_blas
id="$(queue_mlp jp_blas 5000)"
wait_for "SELECT worker_pid IS NOT NULL AND phase = 'training' FROM mf.jobs WHERE job_id = $id" 60 || fail "job $id did not start"
worker="$(job "$id" worker_pid)"
grep -q openblas "/proc/$worker/maps" || fail "the job worker $worker has no OpenBLAS mapped (is this the worker?)"
[ "$(q "SELECT mf_cancel_job($id)")" = t ] && [ "$(q "SELECT (mf_wait($id, '30 s')).status" 2>/dev/null)" = cancelled ] || fail "could not cancel job $id"
pass "the job worker ($worker) loads OpenBLAS through mf_core"
