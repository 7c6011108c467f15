#!/usr/bin/env bash
# Health checks of a remote deployment by the monitor worker, with a real
# mf-serve: a deployment registered with mf_set_endpoint (health interval
# 1 s, unhealthy_after 2, a canary row) is checked every second (ready,
# model_loaded, canary, response_time, memory_usage rows in
# mf.health_checks, all passing); mf-serve is stopped -> the deployment
# becomes unhealthy after 2 failed rounds (not before), with its error and a
# 'health' event; mf-serve is started again -> active again with an event;
# the remote server's /metrics is scraped into mf.serving_metrics (the 400s
# sent are counted exactly: the checks never produce one).  An alert rule on
# the deployment's health (< 1 over 3 s, with a webhook) fires while the server
# is down - an mf.alerts row, NOTIFY mf_alerts, Alertmanager's payload at a
# receiver the test starts - and resolves (row, NOTIFY, webhook) once it is back.
. "$(dirname "$0")/monitor_lib.bash"
M=mh_log
monitor_start "$M"
pass "mf-serve serves $M on port $PORT"

D="$(q "SELECT mf_deploy('$M')")"
q "SELECT mf_set_endpoint($D, 'http://127.0.0.1:$PORT',
     '{\"interval\": \"1 s\", \"timeout\": 0.5, \"unhealthy_after\": 2, \"canary\": {\"x1\": 0.25, \"x2\": 1}}')" >/dev/null
[ "$(q "SELECT endpoint || ' ' || (options -> 'health')::text FROM mf.deployments WHERE deployment_id = $D")" = \
	"http://127.0.0.1:$PORT {\"canary\": {\"x1\": 0.25, \"x2\": 1}, \"timeout\": 0.5, \"interval\": 1, \"unhealthy_after\": 2}" ] ||
	fail "endpoint/options not recorded: $(q "SELECT row(endpoint, options) FROM mf.deployments WHERE deployment_id = $D")"
[ "$(q "SELECT count(*) FROM mf.events WHERE action = 'set_endpoint' AND (after ->> 'deployment_id')::bigint = $D")" = 1 ] ||
	fail "no set_endpoint event"
pass "mf_set_endpoint records the URL, the normalised health options and an event"

wait_for "SELECT count(DISTINCT checked_at) >= 2 FROM mf.health_checks WHERE deployment_id = $D" 10 ||
	fail "no two rounds of checks within 10 s"
got="$(q "SELECT string_agg(\"check\" || ':' || ok || ':' || coalesce(http_status::text, '-'), ' ' ORDER BY \"check\")
          FROM mf.health_checks WHERE deployment_id = $D
           AND checked_at = (SELECT min(checked_at) FROM mf.health_checks WHERE deployment_id = $D)")"
[ "$got" = "canary:true:200 memory_usage:true:200 model_loaded:true:200 ready:true:200 response_time:true:-" ] ||
	fail "first round: $got"
[ "$(q "SELECT bool_and(latency_ms >= 0 AND error IS NULL) FROM mf.health_checks WHERE deployment_id = $D")" = t ] ||
	fail "latencies/errors of passing checks: $(q "SELECT json_agg(h) FROM mf.health_checks h WHERE deployment_id = $D")"
gap="$(q "SELECT round((extract(epoch FROM max(checked_at) - min(checked_at)) / (count(DISTINCT checked_at) - 1))::numeric, 2)
          FROM mf.health_checks WHERE deployment_id = $D")"
python3 -c "import sys; g = float(sys.argv[1]); sys.exit(0 if 0.8 <= g <= 2.5 else 1)" "$gap" ||
	fail "rounds are $gap s apart, not about 1 s"
[ "$(q "SELECT status FROM mf.deployments WHERE deployment_id = $D")" = active ] || fail "not active"
pass "rounds every ${gap} s: ready, model_loaded, canary, response_time, memory_usage all pass (200)"

# remote /metrics: 7 answers 400 (a body that is not JSON), 20 good ones
for _ in $(seq 1 7); do
	[ "$(http_code POST "http://127.0.0.1:$PORT/v1/models/$M:predict" -d '{"instances": [')" = 400 ] || fail "not a 400"
done
for _ in $(seq 1 20); do
	[ "$(http_code POST "http://127.0.0.1:$PORT/v1/models/$M:predict" -d '{"instances": [{"x1": 1, "x2": 0}]}')" = 200 ] ||
		fail "not a 200"
done
wait_for "SELECT sum(errors) = 7 AND sum(requests) >= 27 FROM mf.serving_metrics WHERE deployment_id = $D" 10 ||
	fail "scraped metrics: $(q "SELECT json_agg(s) FROM mf.serving_metrics s WHERE deployment_id = $D")"
[ "$(q "SELECT bool_and(model_name = '$M' AND version = '1.0.0' AND bytes_in > 0 AND bytes_out > 0 AND latency_p99_ms >= latency_p50_ms)
        FROM mf.serving_metrics WHERE deployment_id = $D")" = t ] ||
	fail "scraped rows: $(q "SELECT json_agg(s) FROM mf.serving_metrics s WHERE deployment_id = $D")"
pass "the remote /metrics is scraped into mf.serving_metrics (7 errors exactly, >= 27 requests, bytes, percentiles)"

# an alert on the deployment's health, a webhook receiver and a LISTEN session
python3 "$MF_ROOT/test/integration/alert_receiver.py" "$TMP/rport" "$TMP/hooks.jsonl" &
PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$TMP/rport" ] && break; sleep 0.1; done
RPORT="$(cat "$TMP/rport")" || fail "the webhook receiver did not start"
RULE="$(q "SELECT mf_set_alert('$D', 'health', '<', 1, '{\"window\": \"3 s\", \"webhook\": \"http://127.0.0.1:$RPORT/hook\"}')")"
{ echo "LISTEN mf_alerts;"; for _ in $(seq 1 160); do echo "SELECT pg_sleep(0.25);"; done; } >"$TMP/listen.sql"
"$PG_BIN/psql" -X -q -tA -f "$TMP/listen.sql" >"$TMP/listen.out" 2>&1 &
LISTEN_PID=$!
PIDS+=($LISTEN_PID)
sleep 4
[ "$(q "SELECT count(*) FROM mf.alerts WHERE rule_id = $RULE")" = 0 ] || fail "the health alert fired while every check passed"

# fault: stop mf-serve
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
t0="$(date +%s)"
wait_for "SELECT status = 'unhealthy' FROM mf.deployments WHERE deployment_id = $D" 15 ||
	fail "not unhealthy 15 s after mf-serve stopped: $(q "SELECT row(status, error) FROM mf.deployments WHERE deployment_id = $D")"
failed="$(q "SELECT count(*) FROM (SELECT checked_at FROM mf.health_checks WHERE deployment_id = $D
              GROUP BY checked_at HAVING NOT bool_and(ok)) x")"
[ "$failed" = 2 ] || fail "unhealthy after $failed failed rounds, not 2"
err="$(q "SELECT error FROM mf.deployments WHERE deployment_id = $D")"
case "$err" in
"2 failed rounds of health checks in a row; ready: "*) ;;
*) fail "error: $err" ;;
esac
[ "$(q "SELECT string_agg(\"check\" || ':' || ok, ' ' ORDER BY \"check\") FROM mf.health_checks
        WHERE deployment_id = $D AND checked_at = (SELECT max(checked_at) FROM mf.health_checks WHERE deployment_id = $D)")" = \
	"canary:false memory_usage:false model_loaded:false ready:false response_time:false" ] || fail "failed round rows"
[ "$(q "SELECT (before ->> 'status') || '>' || (after ->> 'status') FROM mf.events
        WHERE action = 'health' AND (after ->> 'deployment_id')::bigint = $D ORDER BY event_id")" = "active>unhealthy" ] ||
	fail "health events: $(q "SELECT json_agg(e) FROM mf.events e WHERE action = 'health'")"
pass "mf-serve stopped: unhealthy after exactly 2 failed rounds ($(($(date +%s) - t0)) s), error \"$err\", one event"
wait_for "SELECT count(*) = 1 FROM mf.alerts WHERE rule_id = $RULE AND resolved_at IS NULL AND value < 1" 10 ||
	fail "the health alert did not fire: $(q "SELECT json_agg(a) FROM mf.alerts a WHERE rule_id = $RULE")"
pass "the health alert fires: $(q "SELECT message FROM mf.alerts WHERE rule_id = $RULE")"

# recovery
monitor_serve "$PORT"
wait_for "SELECT status = 'active' FROM mf.deployments WHERE deployment_id = $D" 10 ||
	fail "not active again: $(q "SELECT row(status, error) FROM mf.deployments WHERE deployment_id = $D")"
[ "$(q "SELECT error IS NULL FROM mf.deployments WHERE deployment_id = $D")" = t ] || fail "error kept"
[ "$(q "SELECT string_agg((before ->> 'status') || '>' || (after ->> 'status'), ' ' ORDER BY event_id) FROM mf.events
        WHERE action = 'health' AND (after ->> 'deployment_id')::bigint = $D")" = "active>unhealthy unhealthy>active" ] ||
	fail "health events after recovery"
pass "mf-serve back: active again after one passing round, error cleared, event unhealthy>active"
wait_for "SELECT count(*) = 1 FROM mf.alerts WHERE rule_id = $RULE AND resolved_at IS NOT NULL" 15 ||
	fail "the health alert did not resolve: $(q "SELECT json_agg(a) FROM mf.alerts a WHERE rule_id = $RULE")"
wait_for "SELECT count(*) = 2 FROM mf.alert_webhooks w JOIN mf.alerts a USING (alert_id) WHERE a.rule_id = $RULE AND w.status = 'delivered'" 15 ||
	fail "webhooks: $(q "SELECT json_agg(w) FROM mf.alert_webhooks w JOIN mf.alerts a USING (alert_id) WHERE a.rule_id = $RULE")"
python3 - "$TMP/hooks.jsonl" "$RULE" <<'EOF' || fail "the webhook payloads"
import json, sys
hooks = [json.loads(l) for l in open(sys.argv[1])]
ok = [h["body"] for h in hooks if h["answered"] == 200]
assert [b["status"] for b in ok] == ["firing", "resolved"], hooks
assert all(b["version"] == "4" and b["alerts"][0]["labels"]["rule_id"] == sys.argv[2]
           and b["alerts"][0]["labels"]["metric"] == "health" for b in ok), ok
EOF
# psql prints a notification only after its current pg_sleep(0.25): wait for both before stopping it
for _ in $(seq 1 50); do
	[ "$(grep -c "mf_alerts" "$TMP/listen.out")" -ge 2 ] && break
	sleep 0.2
done
kill "$LISTEN_PID" 2>/dev/null || true
wait "$LISTEN_PID" 2>/dev/null || true
[ "$(grep -c "mf_alerts" "$TMP/listen.out")" -ge 2 ] || fail "NOTIFY mf_alerts: $(head -c 600 "$TMP/listen.out")"
pass "the health alert resolves; NOTIFY mf_alerts and the webhook (Alertmanager payload, firing then resolved) saw both"
sql "SELECT mf_drop_alert($RULE)"

# an undeployed deployment is not checked any more
sql "SELECT mf_undeploy($D)"
n="$(q "SELECT count(*) FROM mf.health_checks WHERE deployment_id = $D")"
sleep 2.5
[ "$(q "SELECT count(*) FROM mf.health_checks WHERE deployment_id = $D")" = "$n" ] || fail "still checked after undeploy"
curl -sf "http://127.0.0.1:$PORT/v2/health/live" >/dev/null || fail "mf-serve not alive at the end"
pass "undeployed: no more checks; mf-serve still alive"
sql "SELECT mf_drop_model('$M')"
sql "DROP TABLE ${M}_train"
