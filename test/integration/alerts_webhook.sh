#!/usr/bin/env bash
# An alert fires and resolves through the real pieces: metric rows of a
# deployment (written here as the monitor worker writes them) cross a rule's
# threshold; the monitor worker (mf._evaluate_alerts() and webhook delivery
# once per cycle, every second) opens the alert; a
# LISTEN mf_alerts session receives the JSON payload; the webhook reaches a
# receiver started here (test/integration/alert_receiver.py), which answers
# the first POST 500: the delivery is retried after the backoff and then
# accepted, with Alertmanager's payload (version 4, firing, alerts[] with
# labels, annotations, startsAt, endsAt).  The errors stop: the alert
# resolves (row, NOTIFY, webhook "resolved").  The receiver and the server
# are alive at the end.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
TMP="$(mktemp -d)"
RECV_PID=""
LISTEN_PID=""
WORKER_PID=""
cleanup() {
	[ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null
	[ -n "$LISTEN_PID" ] && kill "$LISTEN_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# A model, its deployment, no rules or metric rows left from an earlier run.
sql "DELETE FROM mf.serving_metrics WHERE model_name = 'aw_model'"
sql "SELECT mf_drop_alert(rule_id) FROM mf.alert_rules WHERE metric = 'error_rate' AND target IN
       (SELECT deployment_id::text FROM mf.deployments WHERE model_name = 'aw_model')"
sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'aw_model'"
sql "CREATE TABLE IF NOT EXISTS aw_data AS SELECT i::float8 / 10 AS x, (i % 3 = 0)::int::text AS y FROM generate_series(1, 200) i"
sql "SELECT mf_create_model('{\"name\": \"aw_model\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('aw_model', 'aw_data', 'y')"
DEP="$(q "SET client_min_messages = warning; SELECT mf_deploy('aw_model', 'http', '{\"name\": \"aw_model\"}')")"
[ -n "$DEP" ] || fail "no deployment"

# The receiver.
python3 "$MF_ROOT/test/integration/alert_receiver.py" "$TMP/port" "$TMP/hooks.jsonl" &
RECV_PID=$!
for _ in $(seq 1 50); do [ -f "$TMP/port" ] && break; sleep 0.1; done
PORT="$(cat "$TMP/port")" || fail "the receiver did not start"
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || fail "the receiver does not answer"

# A LISTEN session, polling for about 15 s (psql prints notifications after each statement).
{ echo "LISTEN mf_alerts;"; for _ in $(seq 1 60); do echo "SELECT pg_sleep(0.25);"; done; } >"$TMP/listen.sql"
"$PG_BIN/psql" -X -q -tA -f "$TMP/listen.sql" >"$TMP/listen.out" 2>&1 &
LISTEN_PID=$!
sleep 0.5

# 10 % errors in this minute and the one before; a rule on error_rate > 5 % with a webhook.
sql "INSERT INTO mf.serving_metrics (model_name, version, deployment_id, minute, requests, errors, latency_p50_ms,
                                     latency_p95_ms, latency_p99_ms, bytes_in, bytes_out)
     SELECT 'aw_model', '1.0.0', $DEP, date_trunc('minute', now()) - m * interval '1 minute', 200, 20, 1, 2, 3, 0, 0
       FROM generate_series(0, 1) m"
RULE="$(q "SELECT mf_set_alert('$DEP', 'error_rate', '>', 0.05,
                                '{\"window\": \"2 min\", \"webhook\": \"http://127.0.0.1:$PORT/hook\"}')")"
wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mf_ext monitor'" 30 || fail "no monitor worker runs"
WORKER_PID="$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mf_ext monitor'")"
pass "rule $RULE set; the monitor worker ($WORKER_PID) evaluates it"

wait_for "SELECT count(*) = 1 FROM mf.alerts WHERE rule_id = $RULE AND resolved_at IS NULL" 10 || fail "the alert did not fire"
ALERT="$(q "SELECT alert_id FROM mf.alerts WHERE rule_id = $RULE")"
[ "$(q "SELECT value FROM mf.alerts WHERE alert_id = $ALERT")" = 0.1 ] || fail "value: $(q "SELECT value FROM mf.alerts WHERE alert_id = $ALERT")"
pass "the alert fires (row $ALERT, value 0.1)"

wait_for "SELECT status = 'delivered' FROM mf.alert_webhooks WHERE alert_id = $ALERT AND payload ->> 'status' = 'firing'" 15 ||
	fail "the firing webhook was not delivered: $(q "SELECT status || ' ' || attempts || ' ' || coalesce(last_error, '') FROM mf.alert_webhooks WHERE alert_id = $ALERT")"
[ "$(q "SELECT attempts || ' ' || (delivered_at - created_at >= interval '1 s') FROM mf.alert_webhooks WHERE alert_id = $ALERT")" = "2 true" ] ||
	fail "expected 2 attempts, the second after the 1 s backoff: $(q "SELECT attempts, delivered_at - created_at FROM mf.alert_webhooks WHERE alert_id = $ALERT")"
pass "the firing webhook was refused once (500), retried after the backoff and delivered"

# What the receiver got: the same Alertmanager body twice, answered 500 then 200.
python3 - "$TMP/hooks.jsonl" "$RULE" "$DEP" <<'EOF' || fail "the firing payload"
import json, sys, datetime
hooks = [json.loads(l) for l in open(sys.argv[1])]
rule, dep = sys.argv[2], sys.argv[3]
assert [h["answered"] for h in hooks] == [500, 200], hooks
assert hooks[0]["body"] == hooks[1]["body"], "a retry sends the same body"
assert all(h["path"] == "/hook" and h["content_type"] == "application/json" for h in hooks)
b = hooks[1]["body"]
assert b["version"] == "4" and b["status"] == "firing" and b["receiver"] and isinstance(b["groupKey"], str), b
assert isinstance(b["truncatedAlerts"], int) and b["externalURL"] == ""
for k in ("groupLabels", "commonLabels", "commonAnnotations"):
    assert isinstance(b[k], dict), k
a = b["alerts"]
assert len(a) == 1 and a[0]["status"] == "firing", a
lab = a[0]["labels"]
assert lab["alertname"] == "mf_rule_%s_error_rate" % rule and lab["rule_id"] == rule and lab["target"] == dep, lab
assert lab["metric"] == "error_rate" and b["commonLabels"] == lab
assert "error_rate of deployment %s is 0.1" % dep in a[0]["annotations"]["summary"], a[0]["annotations"]
datetime.datetime.strptime(a[0]["startsAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
assert a[0]["endsAt"] == "0001-01-01T00:00:00Z" and isinstance(a[0]["fingerprint"], str)
EOF
pass "the receiver got Alertmanager's payload (version 4, firing, labels, annotations, startsAt, endsAt)"

# The errors stop: the alert resolves.
sql "UPDATE mf.serving_metrics SET errors = 0 WHERE model_name = 'aw_model'"
wait_for "SELECT resolved_at IS NOT NULL FROM mf.alerts WHERE alert_id = $ALERT" 10 || fail "the alert did not resolve"
pass "the alert resolves when the error rate falls"
wait_for "SELECT status = 'delivered' FROM mf.alert_webhooks WHERE alert_id = $ALERT AND payload ->> 'status' = 'resolved'" 10 ||
	fail "the resolved webhook was not delivered"
python3 - "$TMP/hooks.jsonl" <<'EOF' || fail "the resolved payload"
import json, sys, datetime
hooks = [json.loads(l) for l in open(sys.argv[1])]
assert len(hooks) == 3 and hooks[2]["answered"] == 200, hooks
b = hooks[2]["body"]
a = b["alerts"][0]
assert b["version"] == "4" and b["status"] == "resolved" and a["status"] == "resolved", b
f = "%Y-%m-%dT%H:%M:%S.%fZ"
assert datetime.datetime.strptime(a["endsAt"], f) >= datetime.datetime.strptime(a["startsAt"], f), a
assert a["startsAt"] == hooks[1]["body"]["alerts"][0]["startsAt"] and a["fingerprint"] == hooks[1]["body"]["alerts"][0]["fingerprint"]
EOF
pass "the resolved webhook reached the receiver (status resolved, endsAt after startsAt, same fingerprint)"

# NOTIFY: the LISTEN session saw both, as JSON.
wait "$LISTEN_PID" || true
LISTEN_PID=""
python3 - "$TMP/listen.out" "$ALERT" <<'EOF' || fail "NOTIFY payloads: $(cat "$TMP/listen.out")"
import json, re, sys
text = open(sys.argv[1]).read()
got = [json.loads(m) for m in re.findall(r'Asynchronous notification "mf_alerts" with payload "(.*)" received', text)]
mine = [g for g in got if str(g["alert_id"]) == sys.argv[2]]
assert [g["status"] for g in mine] == ["firing", "resolved"], got
assert mine[0]["value"] == 0.1 and mine[0]["metric"] == "error_rate" and mine[0]["resolved_at"] is None, mine[0]
assert mine[1]["resolved_at"] is not None and mine[1]["value"] == 0, mine[1]
EOF
pass "LISTEN mf_alerts received the firing and the resolution as JSON"

curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || fail "the receiver died"
[ "$(q "SELECT 1")" = 1 ] || fail "the server does not answer"
[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE pid = $WORKER_PID")" = 1 ] || fail "the monitor worker died"
pass "receiver, server and monitor worker alive at the end"

sql "SELECT mf_drop_alert($RULE)"
sql "DELETE FROM mf.serving_metrics WHERE model_name = 'aw_model'"
sql "SELECT mf_drop_model('aw_model')"
