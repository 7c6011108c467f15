#!/usr/bin/env bash
# When no background worker process is free (max_worker_processes leaves
# room for one job worker beside the workers that always run, the monitor
# worker included, while mf.max_workers allows 2), the launcher puts
# the claimed job back in the queue, logs why and retries: every job runs,
# one at a time, none is lost or stuck as running, no attempt is used up.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
restore() {
	sql "ALTER SYSTEM RESET max_worker_processes" || true
	"$CLUSTER_SH" restart >/dev/null || true
}
trap restore EXIT
# the workers that always run (the monitor worker too: it holds a worker process for good)
wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mf_ext monitor'" 30 || fail "no mf_ext monitor worker"
static="$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('logical replication launcher', 'pg_cron launcher', 'mf_ext launcher',
                                                                        'mf_ext monitor')")"
[ "$static" -ge 1 ] || fail "no mf_ext launcher among the background workers"
sql "ALTER SYSTEM SET max_worker_processes = $((static + 1))"
"$CLUSTER_SH" restart >/dev/null
wait_for_server || fail "server did not restart"
wait_for "SELECT launcher_pid > 0 FROM mf._jobs_state()" 30 || fail "no mf_ext launcher after the restart"
wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mf_ext monitor'" 30 ||
	fail "no mf_ext monitor worker after the restart"
[ "$(q "SHOW mf.max_workers")" = 2 ] || fail "expected mf.max_workers = 2"
log="$(dirname "$(q "SHOW data_directory")")/log/postgresql.log"
[ -r "$log" ] || fail "cannot read the server log $log"
lines_before="$(wc -l <"$log")"

for m in js_a js_b js_c; do fresh_mlp "$m"; done
ids_csv="$(q "SELECT string_agg(mf_train_async(m, 'SELECT x1, x2, x3, x4, y FROM jobs_data', 'y',
                                               '{\"epochs\": 15, \"early_stopping\": false}')::text, ',')
                FROM unnest(ARRAY['js_a', 'js_b', 'js_c']) m")"
max_seen="$(max_running "$ids_csv")"
[ "$(q "SELECT count(*) FROM mf.jobs WHERE job_id IN ($ids_csv) AND status = 'succeeded' AND attempts = 1")" = 3 ] ||
	fail "not all 3 jobs succeeded on their first attempt: $(q "SELECT string_agg(status || '/' || attempts, ',') FROM mf.jobs WHERE job_id IN ($ids_csv)")"
[ "$max_seen" -le 1 ] || fail "$max_seen job workers ran at once with one free worker process"
overlap="$(job_overlap "$ids_csv")"
[ "$overlap" = 1 ] || fail "jobs overlapped ($overlap at once) with one free worker process"
pass "3 jobs with room for one worker: all succeeded on the first attempt, one at a time"
tail -n +"$((lines_before + 1))" "$log" | grep -q "no background worker slot is free for job" ||
	fail "the launcher never logged a missing worker slot (was the back-off path taken?)"
pass "the launcher logged the missing slot and retried"
