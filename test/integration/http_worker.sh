#!/usr/bin/env bash
# The HTTP worker's life: it reads as mf.http_role (mf_reader: pg_stat_activity
# shows it, it may write nothing) and refuses a superuser or a missing role;
# a reload moves the port; mf.http_workers = 2 gives two serving processes
# that both answer; kill -9 of a serving process: it is replaced and the
# server answers again, while a job worker, a session and the launcher go on
# undisturbed (no crash restart of the cluster); mf.http_port = 0 stops it.
. "$(dirname "$0")/http_lib.bash"
setup_jobs_db
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"; http_off >/dev/null 2>&1 || true; sql "ALTER SYSTEM RESET mf.http_workers"; sql "ALTER SYSTEM RESET mf.http_role"' EXIT

sql "SELECT mf_drop_model(name) FROM mf.models WHERE name IN ('hw_lin', 'hw_job')"
sql "SELECT mf_create_model('{\"name\": \"hw_lin\", \"family\": \"linear_regression\"}')"
sql "SELECT mf_train('hw_lin', 'SELECT x1, x2, x3 FROM jobs_data', 'x3')"
sql "SELECT mf_deploy('hw_lin')"
BODY='{"instances": [{"x1": 0.25, "x2": 0.5}]}'
predict_code() { http_code POST "$1/v1/models/hw_lin:predict" --data-binary "$BODY"; }

# ---------------------------------------------------------------- the role
http_on 1
[ "$(predict_code "$HTTP")" = 200 ] || fail "hw_lin not served"
[ "$(q "SELECT usename || ' ' || (SELECT role FROM mf._http_state()) FROM pg_stat_activity WHERE backend_type = 'mf_ext http'")" = "mf_reader mf_reader" ] ||
	fail "the HTTP worker does not act as mf_reader: $(q "SELECT usename FROM pg_stat_activity WHERE backend_type = 'mf_ext http'")"
writable="$(q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'mf' AND c.relkind IN ('r', 'p', 'v')
                 AND (has_table_privilege('mf_reader', c.oid, 'INSERT') OR has_table_privilege('mf_reader', c.oid, 'UPDATE')
                      OR has_table_privilege('mf_reader', c.oid, 'DELETE') OR has_table_privilege('mf_reader', c.oid, 'TRUNCATE'))")"
[ "$writable" = 0 ] || fail "mf_reader may write $writable tables of schema mf"
[ "$(q "SELECT has_table_privilege('mf_reader', 'mf.deployment_secrets', 'SELECT') OR rolsuper FROM pg_roles WHERE rolname = 'mf_reader'")" = f ] ||
	fail "mf_reader reads the token hashes or is a superuser"
pass "the HTTP worker acts as mf_reader (pg_stat_activity.usename), which may write no table of mf nor read token hashes"
http_set "mf.http_role = 'postgres'"
wait_for "SELECT state = 'refused' AND message LIKE '%is a superuser%' FROM mf._http_state()" 15 ||
	fail "a superuser role was not refused: $(q 'SELECT row(s.*) FROM mf._http_state() s')"
[ "$(predict_code "$HTTP")" = 000 ] || fail "the server answers as a superuser"
http_set "mf.http_role = 'hw_nobody'"
wait_for "SELECT state = 'refused' AND message LIKE '%does not exist%' FROM mf._http_state()" 15 ||
	fail "a missing role was not refused: $(q 'SELECT row(s.*) FROM mf._http_state() s')"
pass "mf.http_role = a superuser or a missing role: refused, nothing listens, the reason is shown"
http_set "mf.http_role = 'mf_reader'"
http_wait_state serving "$HTTP_PORT" 15 || fail "not serving again as mf_reader"

# ---------------------------------------------------------------- a reload moves the port
http_set "mf.http_port = $HTTP_PORT2"
http_wait_state serving "$HTTP_PORT2" 15 || fail "did not move to $HTTP_PORT2"
[ "$(predict_code "http://127.0.0.1:$HTTP_PORT2")" = 200 ] || fail "not served on $HTTP_PORT2"
[ "$(predict_code "$HTTP")" = 000 ] || fail "still listening on $HTTP_PORT"
pass "mf.http_port $HTTP_PORT -> $HTTP_PORT2 + reload: served on the new port only"

# ---------------------------------------------------------------- two serving processes
http_on 2
read -r a b <<<"$(q "SELECT array_to_string(server_pids, ' ') FROM mf._http_state()")"
for stopped in "$a" "$b"; do
	kill -STOP "$stopped"
	ok=0
	for _ in 1 2 3 4 5; do [ "$(predict_code "$HTTP")" = 200 ] && ok=$((ok + 1)); done
	kill -CONT "$stopped"
	[ "$ok" = 5 ] || fail "with $stopped stopped, $ok of 5 requests answered"
done
pass "mf.http_workers = 2: serving processes $a and $b each answer alone"

# ---------------------------------------------------------------- kill -9 of a serving process
fresh_mlp hw_job
job_id="$(queue_mlp hw_job 400)"
wait_for "SELECT phase = 'training' FROM mf.jobs WHERE job_id = $job_id" 60 || fail "job $job_id never trained"
"$PG_BIN/psql" -X -q -tA -c "SELECT pg_sleep(4); SELECT 'session survived'" >"$TMP/session" 2>&1 &
session=$!
sleep 0.5
launcher="$(q "SELECT launcher_pid FROM mf._jobs_state()")"
worker="$(q "SELECT worker_pid FROM mf._http_state()")"
restarts="$(q "SELECT server_restarts FROM mf._http_state()")"
kill -9 "$a"
t0="$(date +%s%N)"
wait_for "SELECT NOT ($a = ANY (server_pids)) AND cardinality(server_pids) = 2 AND server_restarts = $restarts + 1 FROM mf._http_state()" 10 ||
	fail "serving process $a was not replaced: $(q 'SELECT row(s.*) FROM mf._http_state() s')"
until [ "$(predict_code "$HTTP")" = 200 ]; do
	[ $((($(date +%s%N) - t0) / 1000000)) -gt 5000 ] && fail "not serving 5 s after the kill"
	sleep 0.05
done
read -r a2 b2 <<<"$(q "SELECT array_to_string(server_pids, ' ') FROM mf._http_state()")"
for p in $a2 $b2; do kill -STOP "$p"; [ "$(predict_code "$HTTP")" = 200 ] || { kill -CONT "$p"; fail "not served while $p stopped"; }; kill -CONT "$p"; done
pass "kill -9 of serving process $a: replaced, both processes ($a2 $b2) answer after $((($(date +%s%N) - t0) / 1000000)) ms"
wait "$session" || fail "a session was disturbed: $(cat "$TMP/session")"
grep -q 'session survived' "$TMP/session" || fail "a session was disturbed: $(cat "$TMP/session")"
[ "$(q "SELECT launcher_pid FROM mf._jobs_state()")" = "$launcher" ] || fail "the launcher restarted"
[ "$(q "SELECT worker_pid FROM mf._http_state()")" = "$worker" ] || fail "the HTTP worker restarted"
[ "$(PGOPTIONS='-c client_min_messages=warning' q "SELECT (mf_wait($job_id, '120 s')).status")" = succeeded ] || fail "job $job_id: $(job "$job_id" "status || ' ' || coalesce(error, '')")"
[ "$(job "$job_id" attempts)" = 1 ] || fail "job $job_id ran $(job "$job_id" attempts) times"
pass "nothing else disturbed: a session, the launcher ($launcher), the HTTP worker ($worker) and job $job_id (succeeded at its first attempt)"

# ---------------------------------------------------------------- off
http_off
[ "$(predict_code "$HTTP")" = 000 ] || fail "still listening after mf.http_port = 0"
for p in $a2 $b2; do kill -0 "$p" 2>/dev/null && fail "serving process $p outlived the server"; done
pass "mf.http_port = 0 + reload: the worker and its serving processes are gone"
sql "SELECT mf_drop_model(name) FROM mf.models WHERE name IN ('hw_lin', 'hw_job')"
