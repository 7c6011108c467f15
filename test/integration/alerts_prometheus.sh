#!/usr/bin/env bash
# The alert rules as Prometheus rules, and the Grafana dashboard's queries:
#  - mf_render_prometheus_rules() for rules on a model, a pinned version and
#    a deployment passes `promtool check rules`; `promtool test rules` feeds
#    the servers' series (mf_serve_requests_total, mf_serve_errors_total,
#    mf_serve_request_duration_seconds_bucket, as serve/metrics.c exposes
#    them) and checks which alerts fire, when, with which labels;
#  - every rawSql query of examples/grafana/mf_ext_dashboard.json runs
#    against the views and tables (Grafana's macros $__timeFilter and
#    $__timeGroupAlias expanded as Grafana's PostgreSQL data source does) and
#    returns rows over fixture metrics;
#  - every column of mf.deployment_status and mf.model_performance_daily has
#    a COMMENT.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
command -v promtool >/dev/null || fail "promtool is missing (Debian package prometheus: make deps)"

sql "SELECT mf_drop_alert(rule_id) FROM mf.alert_rules WHERE target LIKE 'ap\_model%' OR target IN
       (SELECT deployment_id::text FROM mf.deployments WHERE model_name = 'ap_model')"
sql "DELETE FROM mf.serving_metrics WHERE model_name = 'ap_model'"
sql "DELETE FROM mf.model_performance WHERE model_name = 'ap_model'"
sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'ap_model'"
sql "CREATE TABLE IF NOT EXISTS ap_data AS SELECT i::float8 / 10 AS x, (i % 3 = 0)::int::text AS y FROM generate_series(1, 200) i"
sql "SELECT mf_create_model('{\"name\": \"ap_model\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('ap_model', 'ap_data', 'y')"
DEP="$(q "SET client_min_messages = warning; SELECT mf_deploy('ap_model', 'http', '{\"name\": \"ap_served\"}')")"

R1="$(q "SELECT mf_set_alert('ap_model', 'error_rate', '>', 0.05, '{\"window\": \"2 min\", \"for\": \"1 min\"}')")"
R2="$(q "SELECT mf_set_alert('$DEP', 'latency_p99_ms', '>', 100)")"
R3="$(q "SELECT mf_set_alert('ap_model:1.0.0', 'throughput', '<', 0.5)")"
R4="$(q "SELECT mf_set_alert('$DEP', 'health', '<', 1)")"

# Only this test's rules (others may exist in the database): keep the rules naming ap_model's ids.
"$PG_BIN/psql" -X -q -tA -c "SELECT mf_render_prometheus_rules()" >"$TMP/all.yml"
grep -q "^      # rule $R4 (health of $DEP) is evaluated in the database only" "$TMP/all.yml" || fail "the health rule is not a comment: $(cat "$TMP/all.yml")"
out="$(promtool check rules "$TMP/all.yml" 2>&1)" || fail "promtool check rules: $out"
n="$(q "SELECT count(*) FROM mf.alert_rules WHERE metric NOT IN ('health', 'accuracy', 'drift_psi')")"
echo "$out" | grep -q "SUCCESS: $n rules found" || fail "expected $n rules: $out"
pass "mf_render_prometheus_rules passes promtool check rules ($n rules; health stays a comment)"

# promtool test rules: 110 requests a minute, 10 of them errors (9 %), latencies in (0.1 s, 0.25 s].
python3 - "$TMP" "$R1" "$R2" "$R3" "$DEP" <<'EOF' || fail "could not write the rule test"
import json, sys
tmp, r1, r2, r3, dep = sys.argv[1:]
lab = 'model="ap_model",version="1.0.0"'
served = 'model="ap_served"'
series = [
    {"series": 'mf_serve_requests_total{%s,code="200"}' % lab, "values": "0+100x20"},
    {"series": 'mf_serve_requests_total{%s,code="500"}' % lab, "values": "0+10x20"},
    {"series": 'mf_serve_errors_total{%s,code="500"}' % lab, "values": "0+10x20"},
]
for le, v in (("0.05", "0+0x20"), ("0.1", "0+5x20"), ("0.25", "0+110x20"), ("+Inf", "0+110x20")):
    series.append({"series": 'mf_serve_request_duration_seconds_bucket{%s,version="",le="%s"}' % (served, le), "values": v})
def labels(rule, metric, target):
    return {"metric": metric, "rule_id": rule, "source": "mf_ext", "target": target}
test = {"rule_files": [tmp + "/all.yml"], "evaluation_interval": "1m", "tests": [{
    "interval": "1m", "input_series": series,
    "alert_rule_test": [
        # pending for its 1 min "for" at 1m, firing from 2m on
        {"eval_time": "1m", "alertname": "mf_rule_%s_error_rate" % r1, "exp_alerts": []},
        {"eval_time": "5m", "alertname": "mf_rule_%s_error_rate" % r1, "exp_alerts": [{
            "exp_labels": labels(r1, "error_rate", "ap_model"),
            "exp_annotations": {"summary": "error_rate of ap_model > 0.05 (mf_ext rule %s)" % r1}}]},
        {"eval_time": "5m", "alertname": "mf_rule_%s_latency_p99_ms" % r2, "exp_alerts": [{
            "exp_labels": labels(r2, "latency_p99_ms", dep),
            "exp_annotations": {"summary": "latency_p99_ms of %s > 100 (mf_ext rule %s)" % (dep, r2)}}]},
        # 1.83 requests per second is not below 0.5
        {"eval_time": "5m", "alertname": "mf_rule_%s_throughput" % r3, "exp_alerts": []},
    ]}]}
json.dump(test, open(tmp + "/test.yml", "w"), indent=1)
EOF
out="$(promtool test rules "$TMP/test.yml" 2>&1)" || fail "promtool test rules: $out"
pass "promtool test rules: error_rate pending then firing, p99 of the served name firing, throughput not firing"

# Fixture metrics for the dashboard: the last 10 minutes, a health check, accuracy today, an open alert.
sql "INSERT INTO mf.serving_metrics (model_name, version, deployment_id, minute, requests, errors, latency_p50_ms,
                                     latency_p95_ms, latency_p99_ms, bytes_in, bytes_out)
     SELECT 'ap_model', '1.0.0', $DEP, date_trunc('minute', now()) - m * interval '1 minute', 120, 12, 3, 80, 140, 0, 0
       FROM generate_series(0, 9) m"
sql "INSERT INTO mf.health_checks (deployment_id, checked_at, \"check\", ok, latency_ms, http_status, error)
     VALUES ($DEP, now() - interval '20 s', 'ready', true, 2, 200, NULL), ($DEP, now(), 'ready', false, NULL, 503, 'not ready')"
sql "INSERT INTO mf.model_performance (model_name, version, day, n, accuracy) VALUES ('ap_model', '1.0.0', current_date, 50, 0.8)"
sql "SELECT mf._evaluate_alerts()"
sql "SELECT mf._evaluate_alerts_at(now() + interval '2 min')"
[ "$(q "SELECT open_alerts >= 2 AND healthy = false AND error_rate = 0.1 AND latency_p99_ms = 140
        FROM mf.deployment_status WHERE deployment_id = $DEP")" = t ] ||
	fail "deployment_status: $(q "SELECT * FROM mf.deployment_status WHERE deployment_id = $DEP")"
pass "mf.deployment_status shows the fixture: unhealthy, error rate 0.1, p99 140 ms, open alerts"

python3 - "$MF_ROOT/examples/grafana/mf_ext_dashboard.json" "$TMP/q" <<'EOF' || fail "could not read the dashboard"
import json, re, sys
d = json.load(open(sys.argv[1]))
n = 0
for p in d["panels"]:
    # the dashboard's range (now-6h .. now), or the panel's own (timeFrom: 30d)
    span = p.get("timeFrom", d["time"]["from"].replace("now-", ""))
    span = {"h": "%s hours", "d": "%s days"}[span[-1]] % span[:-1]
    for t in p.get("targets", []):
        sql = t["rawSql"]
        # Grafana's PostgreSQL macros, expanded as its data source does
        sql = re.sub(r"\$__timeFilter\(([^()]*)\)", r"(\1 BETWEEN now() - interval '%s' AND now())" % span, sql)
        sql = re.sub(r"\$__timeGroupAlias\(([^(),]*),\s*'?1m'?\)", r"date_trunc('minute', \1) AS time", sql)
        assert "$__" not in sql and "${" not in sql, "an unexpanded macro or variable: " + sql
        n += 1
        open("%s.%02d.sql" % (sys.argv[2], n), "w").write(sql + ";\n")
        open("%s.%02d.title" % (sys.argv[2], n), "w").write(p["title"])
assert n >= 9, n
EOF
for f in "$TMP"/q.*.sql; do
	title="$(cat "${f%.sql}.title")"
	rows="$(PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -f "$f" 2>&1)" ||
		fail "dashboard panel \"$title\": $rows"
	[ -n "$rows" ] || fail "dashboard panel \"$title\" returned no rows over the fixture"
done
pass "every query of the Grafana dashboard ($(ls "$TMP"/q.*.sql | wc -l)) runs and returns rows"

missing="$(q "SELECT string_agg(c.relname || '.' || a.attname, ', ')
                FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               WHERE c.oid IN ('mf.deployment_status'::regclass, 'mf.model_performance_daily'::regclass)
                 AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL")"
[ -z "$missing" ] || fail "columns without a COMMENT: $missing"
pass "every column of mf.deployment_status and mf.model_performance_daily has a COMMENT"

sql "SELECT mf_drop_alert(rule_id) FROM mf.alert_rules WHERE rule_id IN ($R1, $R2, $R3, $R4)"
sql "DELETE FROM mf.serving_metrics WHERE model_name = 'ap_model'"
sql "DELETE FROM mf.health_checks WHERE deployment_id = $DEP"
sql "DELETE FROM mf.model_performance WHERE model_name = 'ap_model'"
sql "SELECT mf_drop_model('ap_model')"
