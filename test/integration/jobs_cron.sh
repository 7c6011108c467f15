#!/usr/bin/env bash
# pg_cron schedules mf_retrain: within the next minute a new version appears,
# its job succeeds and the promotion decision is in mf.events, both versions
# scored on the same test split (identical data and seed: identical scores,
# so if_better keeps the old version).  Also the min_new_rows recipe.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
JOB=mf-test-retrain
trap 'q "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '"'$JOB'"'" >/dev/null 2>&1 || true' EXIT
sql "CREATE EXTENSION IF NOT EXISTS pg_cron"
sql "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '$JOB'"
sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'jcron'"
# mf.events is append-only: look only at the events of this run.
since="$(q "SELECT coalesce(max(event_id), 0) FROM mf.events")"
sql "SELECT mf_create_model('{\"name\": \"jcron\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('jcron', 'SELECT x1, x2, x3, x4, y FROM jobs_data', 'y')"
sql "SELECT mf_set_stage('jcron:1.0.0', 'production')"

# Retrain only when new data arrived: 20000 rows seen, none new.
[ "$(q "SELECT mf_retrain('jcron', '{\"min_new_rows\": 100}') IS NULL")" = t ] || fail "retrain without new rows was queued"
[ "$(q "SELECT count(*) FROM mf.events WHERE event_id > $since AND model_name = 'jcron' AND action = 'retrain_skipped'
          AND (after ->> 'rows_seen')::int = 20000 AND (after ->> 'rows_now')::int = 20000")" = 1 ] || fail "skip not recorded"
pass "min_new_rows: no new rows, no job, skip recorded"

sql "SELECT cron.schedule('$JOB', '* * * * *', \$\$SELECT mf_retrain('jcron')\$\$)"
echo "scheduled at $(date -u +%T); waiting for the next minute"
wait_for "SELECT EXISTS (SELECT 1 FROM mf.jobs j JOIN mf.catalog c USING (version_id)
                          WHERE c.model = 'jcron' AND j.policy IS NOT NULL AND j.status IN ('succeeded', 'failed'))" 100 ||
	fail "no retrain job ended; cron runs: $(q "SELECT string_agg(status || ': ' || coalesce(return_message, ''), '; ') FROM cron.job_run_details")"
sql "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '$JOB'"
id="$(q "SELECT min(j.job_id) FROM mf.jobs j JOIN mf.catalog c USING (version_id) WHERE c.model = 'jcron' AND j.policy IS NOT NULL")"
[ "$(job "$id" status)" = succeeded ] || fail "retrain job $id: $(job "$id" "status || ' ' || coalesce(error, '')")"
[ "$(job "$id" "result ->> 'ref'")" = jcron:1.1.0 ] || fail "new version: $(job "$id" "result ->> 'ref'")"
[ "$(q "SELECT status || ' ' || stage FROM mf.catalog WHERE ref = 'jcron:1.1.0'")" = "trained archived" ] ||
	fail "jcron:1.1.0 is $(q "SELECT status || ' ' || stage FROM mf.catalog WHERE ref = 'jcron:1.1.0'"), not trained and archived (kept)"
pass "cron ran mf_retrain: job $id succeeded, jcron:1.1.0 trained and, not promoted, archived"
ev="$(q "SELECT after ->> 'decision', after ->> 'metric', after ->> 'same_test_split',
               (after ->> 'new_score')::float8 = (after ->> 'production_score')::float8, after ->> 'production_version'
          FROM mf.events WHERE event_id > $since AND model_name = 'jcron' AND action = 'promotion'")"
echo "promotion event: $ev"
[ "$ev" = "kept|accuracy|true|t|jcron:1.0.0" ] || fail "promotion decision: $ev"
[ "$(q "SELECT ref FROM mf.catalog WHERE model = 'jcron' AND stage = 'production'")" = jcron:1.0.0 ] || fail "production changed"
pass "decision recorded: kept (equal accuracy on the same test split)"

# always promotes (queued directly, no cron wait)
id="$(q "SELECT mf_retrain('jcron', '{\"promote\": \"always\"}')")"
[ "$(q "SELECT (mf_wait($id, '60 s')).status" 2>/dev/null)" = succeeded ] || fail "retrain job $id failed"
[ "$(q "SELECT ref FROM mf.catalog WHERE model = 'jcron' AND stage = 'production'")" = jcron:1.2.0 ] || fail "promote always did not promote"
pass "promote always: jcron:1.2.0 is production"
