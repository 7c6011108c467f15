#!/usr/bin/env bash
# Background jobs end to end: a committed job starts at once (latch, not the
# poll), runs mf_train, logs its epochs; a rolled-back mf_train_async runs
# nothing; mf_wait refuses a job queued in its own transaction; a job whose
# training raises an error fails with the error kept while the launcher goes
# on serving the next job.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
# A long fallback poll, so a quick start can only come from the latch; 2 BLAS threads per job.
trap 'sql "ALTER SYSTEM RESET mf.poll_interval" && sql "ALTER SYSTEM RESET mf.train_threads" && sql "SELECT pg_reload_conf()"' EXIT
sql "ALTER SYSTEM SET mf.poll_interval = '60s'"
sql "ALTER SYSTEM SET mf.train_threads = 2"
sql "SELECT pg_reload_conf()"
sleep 1
fresh_mlp jb_ok
fresh_mlp jb_rollback
fresh_mlp jb_err

# 1. Commit -> start: the launcher polls every 60 s here, so a start within 1 s is the latch.
id="$(queue_mlp jb_ok 20)"
[ "$(q "SELECT (mf_wait($id, '60 s')).status")" = succeeded ] || fail "job $id did not succeed: $(job "$id" error)"
pass "job $id succeeded"
lat="$(q "SELECT round(extract(epoch FROM started_at - queued_at) * 1000) FROM mf.jobs WHERE job_id = $id")"
echo "commit -> claim: ${lat} ms"
[ "$lat" -lt 1000 ] || fail "job $id started ${lat} ms after commit (the latch did not wake the launcher)"
pass "started ${lat} ms after commit"
[ "$(q "SELECT status FROM mf.catalog WHERE ref = 'jb_ok:1.0.0'")" = trained ] || fail "version not trained"
[ "$(job "$id" "result ->> 'ref'")" = jb_ok:1.0.0 ] || fail "result has no ref"
[ "$(job "$id" "progress = 1 AND epoch = 20 AND loss IS NOT NULL AND heartbeat_at IS NOT NULL")" = t ] || fail "final progress not recorded"
[ "$(q "SELECT count(*) FROM mf_job_log($id) WHERE level = 'epoch'")" = 20 ] || fail "expected 20 epoch lines"
[ "$(q "SELECT string_agg(level, ',' ORDER BY event_id) FROM mf_job_log($id) WHERE level IN ('info', 'error')")" = info,info,info,info ] ||
	fail "log: $(q "SELECT string_agg(message, ' | ') FROM mf_job_log($id)")"
[ "$(q "SELECT details ->> 'blas_threads' FROM mf_job_log($id) WHERE message LIKE 'started in worker%'")" = 2 ] || fail "mf.train_threads not applied"
pass "result, progress and job log (2 BLAS threads)"

# 2. Queued in a transaction that rolls back: no job, nothing runs.
before="$(q "SELECT count(*) FROM mf.jobs")"
sql "BEGIN; SELECT mf_train_async('jb_rollback', 'jobs_data', 'y'); ROLLBACK;"
sleep 1
[ "$(q "SELECT count(*) FROM mf.jobs")" = "$before" ] || fail "a rolled-back job is in mf.jobs"
[ "$(q "SELECT status FROM mf.catalog WHERE ref = 'jb_rollback:1.0.0'")" = created ] || fail "rolled-back job trained something"
pass "rollback queues nothing"

# 3. mf_wait in the queuing transaction would wait forever: refused.
out="$("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -c "BEGIN; SELECT mf_wait(mf_train_async('jb_rollback', 'jobs_data', 'y')); COMMIT;" 2>&1 || true)"
echo "$out" | grep -q 'ERROR:  job [0-9]* was queued in this transaction' || fail "mf_wait in the queuing transaction: $out"
pass "mf_wait refuses a job of its own transaction"

# 4. Training raises an error (a single class in the target): failed, error kept, launcher still serves.
id="$(q "SELECT mf_train_async('jb_err', 'SELECT x1, x2, ''a'' AS y FROM jobs_data', 'y')")"
[ "$(q "SELECT (mf_wait($id, '60 s')).status")" = failed ] || fail "job $id did not fail"
err="$(job "$id" error)"
echo "error kept: $err"
[ "$err" = 'target "y" has only one class (Every row has the label "a".)' ] || fail "error text: $err"
[ "$(job "$id" "result ->> 'sqlstate'")" = 22023 ] || fail "sqlstate not kept"
[ "$(q "SELECT v.status || ' ' || (v.metadata #>> '{failure,reason}') FROM mf.catalog c JOIN mf.model_versions v USING (version_id) WHERE c.ref = 'jb_err:1.0.0'")" = "failed error" ] ||
	fail "version not marked failed"
[ "$(q "SELECT count(*) FROM mf.artifacts a JOIN mf.catalog c USING (version_id) WHERE c.ref = 'jb_err:1.0.0'")" = 0 ] || fail "artifact left behind"
[ "$(q "SELECT count(*) FROM mf_job_log($id) WHERE level = 'error' AND message LIKE 'error: target \"y\" has only one class%'")" = 1 ] || fail "error not in the log"
pass "failing job: status failed, error kept, version failed, nothing written"
id2="$(queue_mlp jb_err 5)"
[ "$(q "SELECT (mf_wait($id2, '60 s')).status")" = succeeded ] || fail "launcher stopped serving after a failed job"
[ "$(q "SELECT result ->> 'ref' FROM mf.jobs WHERE job_id = $id2")" = jb_err:1.0.0 ] || fail "failed version was not retrained in place"
pass "launcher still serves: job $id2 succeeded"

# 5. The launcher is terminated: it is back within seconds; a job queued meanwhile gets a warning with a
#    hint and runs once it is back.
fresh_mlp jb_later
old_pid="$(q "SELECT launcher_pid FROM mf._jobs_state()")"
[ "$(q "SELECT pg_terminate_backend($old_pid, 5000)")" = t ] || fail "could not terminate the launcher"
out="$("$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -c "SELECT mf_train_async('jb_later', 'SELECT x1, x2, y FROM jobs_data', 'y')" 2>&1)"
echo "$out" | grep -q 'WARNING:  job [0-9]* is queued but the mf_ext launcher is not running' || fail "no warning: $out"
echo "$out" | grep -q 'HINT:  The launcher restarts within seconds' || fail "no hint: $out"
id="$(echo "$out" | grep -E '^[0-9]+$')"
[ "$(q "SELECT (mf_wait($id, '30 s')).status" 2>/dev/null)" = succeeded ] || fail "job $id did not run after the launcher came back"
new_pid="$(q "SELECT launcher_pid FROM mf._jobs_state()")"
[ "$new_pid" != "$old_pid" ] && [ "$new_pid" -gt 0 ] || fail "launcher pid $old_pid -> $new_pid"
pass "launcher restarted (pid $old_pid -> $new_pid); job $id queued meanwhile got a warning and ran"
