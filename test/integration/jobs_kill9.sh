#!/usr/bin/env bash
# kill -9 of a job worker mid-training: the server restarts; the launcher
# fails the orphaned job (max_attempts 1) or re-queues it (max_attempts 2,
# and then it succeeds); no version stays "training"; committed data survive.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
fresh_mlp jk_once
fresh_mlp jk_twice

# Kill the worker of job $1 once it trains; wait for the server to come back.
kill_worker() {
	local id="$1" pid epoch
	wait_for "SELECT phase = 'training' AND epoch > 0 AND worker_pid IS NOT NULL FROM mf.jobs WHERE job_id = $id" 60 ||
		fail "job $id never reached training"
	pid="$(job "$id" worker_pid)"
	epoch="$(job "$id" epoch)"
	[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND backend_type = 'mf_ext job'")" = 1 ] ||
		fail "pid $pid is not an mf_ext job worker"
	kill -9 "$pid"
	KILLED_AT="$(date +%s%N)"
	echo "killed worker $pid of job $id at epoch $epoch"
	sleep 1
	wait_for_server || fail "server did not come back after kill -9"
}

sql "DROP TABLE IF EXISTS jk_marker; CREATE TABLE jk_marker (note text)"
id1="$(queue_mlp jk_once 5000)"
sql "INSERT INTO jk_marker VALUES ('committed before the crash')"
kill_worker "$id1"
wait_for "SELECT status = 'failed' FROM mf.jobs WHERE job_id = $id1" 30 || fail "job $id1 not failed after the crash: $(job "$id1" status)"
echo "kill -9 -> job marked failed: $((($(date +%s%N) - KILLED_AT) / 1000000)) ms"
job "$id1" error | grep -q 'ended without finishing the job' || fail "error: $(job "$id1" error)"
[ "$(q "SELECT v.status || ' ' || (v.metadata #>> '{failure,reason}') FROM mf.catalog c JOIN mf.model_versions v USING (version_id)
        WHERE c.ref = 'jk_once:1.0.0'")" = "failed worker died" ] || fail "version not failed"
[ "$(q "SELECT note FROM jk_marker")" = "committed before the crash" ] || fail "committed data lost"
pass "max_attempts 1: job $id1 failed after the crash; version failed; committed data kept"

id2="$(queue_mlp jk_twice 150 '"max_attempts": 2')"
kill_worker "$id2"
[ "$(q "SELECT (mf_wait($id2, '120 s')).status" 2>/dev/null)" = succeeded ] || fail "job $id2 not re-run: $(job "$id2" "status || ' ' || coalesce(error, '')")"
[ "$(job "$id2" attempts)" = 2 ] || fail "attempts = $(job "$id2" attempts)"
[ "$(q "SELECT count(*) FROM mf_job_log($id2) WHERE level = 'warning' AND message LIKE '%re-queued (attempt 1 of 2 done)'")" = 1 ] ||
	fail "no re-queue line in the log"
[ "$(q "SELECT status FROM mf.catalog WHERE ref = 'jk_twice:1.0.0'")" = trained ] || fail "version not trained"
pass "max_attempts 2: job $id2 re-queued after the crash and succeeded on attempt 2"
[ "$(q "SELECT count(*) FROM mf.model_versions WHERE status = 'training'
          AND version_id NOT IN (SELECT version_id FROM mf.jobs WHERE status = 'running')")" = 0 ] ||
	fail "a version is left training"
pass "no version left training"
