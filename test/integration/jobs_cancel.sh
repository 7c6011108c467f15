#!/usr/bin/env bash
# mf_cancel_job: a running job stops within two seconds, its version is
# failed with reason "cancelled" and nothing half-written remains; a queued
# job is cancelled before it starts; an ended job cannot be cancelled.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
fresh_mlp jc_run
fresh_mlp jc_queued

id="$(queue_mlp jc_run 5000)"
wait_for "SELECT phase = 'training' AND epoch > 0 FROM mf.jobs WHERE job_id = $id" 60 || fail "job $id never reported training progress"
pass "job $id reports training progress: $(job "$id" "format('%s%%, epoch %s', round(progress * 100), epoch)")"

# mf_wait returns at its timeout with the job still running, and a statement timeout interrupts it.
t0="$(date +%s%N)"
[ "$(q "SELECT (mf_wait($id, '1 s')).status" 2>/dev/null)" = running ] || fail "mf_wait(1 s) did not return the running job"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ] || fail "mf_wait(1 s) took ${ms} ms"
out="$(PGOPTIONS='-c statement_timeout=300' "$PG_BIN/psql" -X -q -c "SELECT mf_wait($id)" 2>&1 || true)"
echo "$out" | grep -q 'canceling statement due to statement timeout' || fail "mf_wait not interruptible: $out"
pass "mf_wait: returns at its timeout (${ms} ms for 1 s), interruptible"
sleep 1.5
# Progress and heartbeat: at most one progress line a second, heartbeat recent.
[ "$(q "SELECT count(*) FILTER (WHERE e.level = 'progress') <= ceil(extract(epoch FROM clock_timestamp() - j.started_at)) + 1
               AND clock_timestamp() - j.heartbeat_at < interval '3 s'
          FROM mf.jobs j JOIN mf.job_events e USING (job_id) WHERE j.job_id = $id GROUP BY j.started_at, j.heartbeat_at")" = t ] ||
	fail "progress lines or heartbeat: $(q "SELECT count(*) FROM mf.job_events WHERE job_id = $id AND level = 'progress'") lines"
pass "progress written at most once a second, heartbeat fresh"
t0="$(date +%s%N)"
[ "$(q "SELECT mf_cancel_job($id)")" = t ] || fail "mf_cancel_job returned false"
[ "$(q "SELECT (mf_wait($id, '30 s')).status" 2>/dev/null)" = cancelled ] || fail "job $id not cancelled: $(job "$id" "status || ' ' || coalesce(error, '')")"
ms=$((($(date +%s%N) - t0) / 1000000))
echo "cancel -> job cancelled: ${ms} ms"
[ "$ms" -lt 2000 ] || fail "cancel took ${ms} ms"
pass "running job cancelled in ${ms} ms"
[ "$(q "SELECT v.status || ' ' || (v.metadata #>> '{failure,reason}') || ' ' || (v.metrics = '{}') || ' ' || (v.feature_schema IS NULL)
        FROM mf.catalog c JOIN mf.model_versions v USING (version_id) WHERE c.ref = 'jc_run:1.0.0'")" = "failed cancelled true true" ] ||
	fail "version not failed/cancelled or half-written"
[ "$(q "SELECT count(*) FROM mf.artifacts a JOIN mf.catalog c USING (version_id) WHERE c.model = 'jc_run'")" = 0 ] || fail "an artifact remains"
[ "$(job "$id" "error || ' / ' || (result ->> 'reason')")" = "cancelled by mf_cancel_job() / cancelled" ] || fail "job error: $(job "$id" error)"
pass "version failed with reason cancelled, no artifact, no metrics"

out="$("$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 <<'SQL'
BEGIN;
SELECT mf_train_async('jc_queued', 'jobs_data', 'y') AS id \gset
SELECT mf_cancel_job(:id);
COMMIT;
SELECT status, started_at IS NULL, attempts FROM mf.jobs WHERE job_id = :id;
SQL
)"
[ "$(echo "$out" | tail -n 1)" = "cancelled|t|0" ] || fail "queued job: $out"
pass "queued job cancelled before it started"
[ "$(q "SELECT mf_cancel_job($id)")" = f ] || fail "cancelling an ended job returned true"
pass "an ended job cannot be cancelled"
