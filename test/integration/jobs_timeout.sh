#!/usr/bin/env bash
# mf.job_timeout: a job running longer is stopped and marked failed.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
# Leave the cluster configured as we found it.
trap 'sql "ALTER SYSTEM RESET mf.job_timeout" && sql "SELECT pg_reload_conf()"' EXIT
sql "ALTER SYSTEM SET mf.job_timeout = '2s'"
sql "SELECT pg_reload_conf()"
sleep 1
fresh_mlp jt_slow

id="$(queue_mlp jt_slow 5000)"
[ "$(q "SELECT (mf_wait($id, '60 s')).status" 2>/dev/null)" = failed ] || fail "job $id did not fail: $(job "$id" status)"
[ "$(job "$id" error)" = "job exceeded mf.job_timeout (2 s)" ] || fail "error: $(job "$id" error)"
[ "$(job "$id" "result ->> 'reason'")" = timeout ] || fail "reason not timeout"
secs="$(job "$id" "round(extract(epoch FROM finished_at - started_at)::numeric, 2)")"
echo "ran ${secs} s with mf.job_timeout = 2s"
[ "$(job "$id" "finished_at - started_at BETWEEN '2 s' AND '4 s'")" = t ] || fail "stopped after ${secs} s"
[ "$(q "SELECT status || ' ' || (metadata #>> '{failure,reason}') FROM mf.model_versions v JOIN mf.models m USING (model_id) WHERE m.name = 'jt_slow'")" = "failed timeout" ] ||
	fail "version not failed with reason timeout"
pass "job stopped after ${secs} s, failed with reason timeout"
