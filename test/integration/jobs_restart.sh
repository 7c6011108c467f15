#!/usr/bin/env bash
# Jobs queued when the server stops run after the restart.
. "$(dirname "$0")/jobs_lib.sh"
setup_jobs_db
trap 'sql "ALTER SYSTEM RESET mf.max_workers" && sql "SELECT pg_reload_conf()"' EXIT
# Pause the queue (mf.max_workers = 0) so the jobs are still queued at the restart.
sql "ALTER SYSTEM SET mf.max_workers = 0"
sql "SELECT pg_reload_conf()"
sleep 1
fresh_mlp jr_a
fresh_mlp jr_b
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
pass "both jobs ran after the restart"
