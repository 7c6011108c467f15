#!/usr/bin/env bash
# mf.max_workers (2 here) is respected with more jobs queued than slots:
# never more than 2 jobs run at once, yet 2 do run side by side.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
[ "$(q "SHOW mf.max_workers")" = 2 ] || fail "expected mf.max_workers = 2"
for m in jm_a jm_b jm_c jm_d jm_e; do fresh_mlp "$m"; done
ids_csv="$(q "SELECT string_agg(mf_train_async(m, 'SELECT x1, x2, x3, x4, y FROM jobs_data', 'y',
                                               '{\"epochs\": 40, \"early_stopping\": false}')::text, ',')
                FROM unnest(ARRAY['jm_a', 'jm_b', 'jm_c', 'jm_d', 'jm_e']) m")"
max_seen="$(max_running "$ids_csv")"
echo "most jobs seen running at once: $max_seen"
[ "$max_seen" -le 2 ] || fail "$max_seen jobs ran at once"
[ "$(q "SELECT count(*) FROM mf.jobs WHERE job_id IN ($ids_csv) AND status = 'succeeded'")" = 5 ] ||
	fail "not all 5 jobs succeeded: $(q "SELECT string_agg(status, ',') FROM mf.jobs WHERE job_id IN ($ids_csv)")"
overlap="$(job_overlap "$ids_csv")"
echo "most jobs running at once by started_at/finished_at: $overlap"
[ "$overlap" = 2 ] || fail "expected exactly 2 jobs side by side, got $overlap"
pass "5 jobs, never more than 2 at once, 2 side by side"
