#!/usr/bin/env bash
# Jobs queued when the server stops run after the restart; a job training
# when the server stops (fast shutdown) is re-queued, attempt not used up,
# and runs again after the restart.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
trap 'sql "ALTER SYSTEM RESET mf.max_workers" && sql "SELECT pg_reload_conf()"' EXIT
# Pause the queue (mf.max_workers = 0) so the jobs are still queued at the restart.
sql "ALTER SYSTEM SET mf.max_workers = 0"
sql "SELECT pg_reload_conf()"
sleep 1
fresh_mlp jr_a
fresh_mlp jr_b
fresh_mlp jr_running
sql "ALTER SYSTEM RESET mf.max_workers"
sql "SELECT pg_reload_conf()"
r="$(queue_mlp jr_running 5000)"
wait_for "SELECT phase = 'training' AND epoch > 0 FROM mf.jobs WHERE job_id = $r" 60 || fail "job $r never trained"
sql "ALTER SYSTEM SET mf.max_workers = 0"
sql "SELECT pg_reload_conf()"
sleep 1
a="$(queue_mlp jr_a 10)"
b="$(queue_mlp jr_b 10)"
sleep 2.5
[ "$(q "SELECT count(*) FROM mf.jobs WHERE job_id IN ($a, $b) AND status = 'queued'")" = 2 ] || fail "jobs did not stay queued"
pass "jobs $a and $b queued while the queue is paused"
sql "ALTER SYSTEM RESET mf.max_workers"
"$CLUSTER_SH" restart
wait_for_server || fail "server did not restart"
for id in "$a" "$b"; do
	[ "$(q "SELECT (mf_wait($id, '60 s')).status" 2>/dev/null)" = succeeded ] || fail "job $id did not run after the restart: $(job "$id" status)"
done
pass "both queued jobs ran after the restart"
[ "$(q "SELECT count(*) FROM mf_job_log($r) WHERE level = 'warning' AND message = 'interrupted by a server shutdown; re-queued'")" = 1 ] ||
	fail "no re-queue line for job $r: $(job "$r" "status || ' ' || coalesce(error, '')")"
wait_for "SELECT status = 'running' AND attempts = 1 AND epoch > 0 FROM mf.jobs WHERE job_id = $r" 60 ||
	fail "job $r not training again: $(job "$r" "status || ' attempts ' || attempts")"
pass "job $r, training at the shutdown, was re-queued (no attempt used up) and trains again"
[ "$(q "SELECT mf_cancel_job($r)")" = t ] && [ "$(q "SELECT (mf_wait($r, '30 s')).status" 2>/dev/null)" = cancelled ] ||
	fail "could not cancel job $r"
