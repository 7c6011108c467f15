#!/usr/bin/env bash
# mf_cancel_job: a running job stops within two seconds, its version is
# failed with reason "cancelled" and nothing half-written remains; a queued
# job is cancelled before it starts; an ended job cannot be cancelled.
. "$(dirname "$0")/jobs_lib.sh"
setup_jobs_db
fresh_mlp jc_run
fresh_mlp jc_queued

id="$(queue_mlp jc_run 5000)"
wait_for "SELECT phase = 'training' AND epoch > 0 FROM mf.jobs WHERE job_id = $id" 60 || fail "job $id never reported training progress"
pass "job $id reports training progress: $(job "$id" "format('%s%%, epoch %s', round(progress * 100), epoch)")"
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
