#!/usr/bin/env bash
# Serving metrics of the in-database HTTP server under load, with two
# serving processes: 10,000 predictions sent with ab (keep-alive, 4
# connections) while the monitor worker writes mf.serving_metrics every
# second; the requests and the request bytes added to the deployment's rows
# equal what was sent, the errors too (50 bad bodies), the percentiles are
# ordered, the server is alive afterwards.  Then mf.track_predictions counts
# in-database mf_predict calls and rows (deployment_id NULL), and
# mf.metrics_retention removes old rows in batches after a reload.
. "$(dirname "$0")/monitor_lib.bash"
trap 'monitor_cleanup; http_off >/dev/null 2>&1 || true; sql "ALTER SYSTEM RESET mf.http_workers"; sql "ALTER SYSTEM RESET mf.http_role";
      sql "ALTER SYSTEM RESET mf.metrics_retention"; sql "SELECT pg_reload_conf()"' EXIT
wait_for_server || fail "server not reachable"
command -v ab >/dev/null || fail "ab (apache2-utils) is not installed"
M=ml_log
monitor_model "$M"
http_on 2
# one round of checks at deploy time, then none for a day: the probes do not mix with the load
D="$(q "SELECT mf_deploy('$M', 'http', '{\"health\": {\"interval\": \"1 day\"}}')")"
http_wait_code "$HTTP/v2/models/$M/ready" 200 10 >/dev/null || fail "model not served"
wait_for "SELECT count(*) > 0 FROM mf.health_checks WHERE deployment_id = $D" 10 || fail "no health round"
# the probes' counts are written within a cycle or two: take the baseline once it is stable
sum() { q "SELECT coalesce(sum($1), 0) FROM mf.serving_metrics WHERE deployment_id = $D"; }
prev=-1
for _ in $(seq 1 20); do
	cur="$(sum requests)/$(sum errors)/$(sum bytes_in)"
	[ "$cur" = "$prev" ] && break
	prev="$cur"
	sleep 1.5
done
IFS=/ read -r r0 e0 b0 <<<"$cur"
# requests of the model in a scrape of /metrics (whichever serving process answers it)
scraped() {
	curl -sf "$HTTP/metrics" | awk -v m="model=\"$M\"" '/^mf_serve_requests_total\{/ && index($0, m) { n += $NF } END { print n + 0 }'
}
m0="$(scraped)"
pass "baseline after the deploy-time checks: $r0 requests, $e0 errors, $b0 bytes in ($m0 in /metrics)"

BODY='{"instances": [{"x1": 0.5, "x2": 1}, {"x1": -0.25, "x2": -2}]}'
printf '%s' "$BODY" >"$TMP/body.json"
ab -q -k -n 10000 -c 4 -p "$TMP/body.json" -T application/json "http://127.0.0.1:$HTTP_PORT/v1/models/$M:predict" \
	>"$TMP/ab.txt" 2>&1 || { cat "$TMP/ab.txt" >&2; fail "ab failed"; }
grep -q '^Complete requests: *10000$' "$TMP/ab.txt" || { cat "$TMP/ab.txt" >&2; fail "ab did not complete 10000"; }
grep -q '^Failed requests: *0$' "$TMP/ab.txt" || { cat "$TMP/ab.txt" >&2; fail "ab saw failures"; }
! grep -q '^Non-2xx responses' "$TMP/ab.txt" || { cat "$TMP/ab.txt" >&2; fail "ab saw non-2xx answers"; }
for _ in $(seq 1 50); do
	[ "$(http_code POST "$HTTP/v1/models/$M:predict" -d '{"instances": [')" = 400 ] || fail "a bad body is not a 400"
done
pass "ab: 10000 requests answered 200 ($(sed -n 's/^Requests per second: *\([0-9.]*\).*/\1/p' "$TMP/ab.txt") per second), then 50 bad bodies answered 400"

want=$((r0 + 10050))
wait_for "SELECT sum(requests) = $want FROM mf.serving_metrics WHERE deployment_id = $D" 10 ||
	fail "requests in mf.serving_metrics: $(sum requests), want $want"
sleep 1.5
[ "$(sum requests)" = "$want" ] || fail "requests moved on to $(sum requests)"
[ "$(sum errors)" = $((e0 + 50)) ] || fail "errors: $(sum errors), want $((e0 + 50))"
[ "$(sum bytes_in)" = $((b0 + 10000 * ${#BODY} + 50 * 15)) ] || fail "bytes in: $(sum bytes_in), want $((b0 + 10000 * ${#BODY} + 50 * 15))"
[ "$(q "SELECT bool_and(model_name = '$M' AND version = '1.0.0' AND latency_p50_ms > 0 AND latency_p50_ms <= latency_p95_ms
                        AND latency_p95_ms <= latency_p99_ms AND bytes_out > 0 AND rows IS NULL AND minute = date_trunc('minute', minute))
        FROM mf.serving_metrics WHERE deployment_id = $D")" = t ] ||
	fail "rows: $(q "SELECT json_agg(s) FROM mf.serving_metrics s WHERE deployment_id = $D")"
for _ in 1 2 3 4 5 6; do
	[ "$(scraped)" = $((m0 + 10050)) ] || fail "/metrics shows $(scraped) requests of $M, want $((m0 + 10050))"
done
pids="$(q "SELECT array_to_string(server_pids, ' ') FROM mf._http_state()")"
[ "$(wc -w <<<"$pids")" = 2 ] || fail "not two serving processes: $pids"
http_alive || fail "server not alive after the load"
pass "mf.serving_metrics counts exactly the 10050 requests (50 errors, bytes in) across 2 serving processes; every scrape of /metrics too; server alive"

# mf.track_predictions: calls and rows of in-database predictions, deployment_id NULL
p0="$(q "SELECT coalesce(sum(requests), 0) || '/' || coalesce(sum(rows), 0) FROM mf.serving_metrics
         WHERE deployment_id IS NULL AND model_name = '$M'")"
q "SELECT count(mf_predict('$M', ARRAY[x1, x2])) FROM ${M}_train" >/dev/null
PGOPTIONS='-c mf.track_predictions=on' q "SELECT count(mf_predict('$M', ARRAY[x1, x2])) FROM ${M}_train" >/dev/null
PGOPTIONS='-c mf.track_predictions=on' q "SELECT mf_predict('$M', '[{\"x1\": 1, \"x2\": 0}, {\"x1\": 2, \"x2\": 1}, {\"x1\": 3, \"x2\": 2}]'::jsonb)" >/dev/null
IFS=/ read -r c0 w0 <<<"$p0"
wait_for "SELECT sum(requests) = $((c0 + 201)) AND sum(rows) = $((w0 + 203)) FROM mf.serving_metrics
          WHERE deployment_id IS NULL AND model_name = '$M'" 10 ||
	fail "tracked predictions: $(q "SELECT json_agg(s) FROM mf.serving_metrics s WHERE deployment_id IS NULL AND model_name = '$M'")"
pass "mf.track_predictions: 201 calls and 203 rows counted (the untracked query not), deployment_id NULL"

# retention: 2500 rows 40 days old go in batches; today's stay
n_now="$(q "SELECT count(*) FROM mf.serving_metrics")"
sql "INSERT INTO mf.serving_metrics (model_name, version, deployment_id, minute, requests)
     SELECT '$M', '1.0.0', $D, date_trunc('minute', now()) - interval '40 days' - g * interval '1 minute', 1
       FROM generate_series(1, 2500) g"
sql "ALTER SYSTEM SET mf.metrics_retention = '30d'"
sql "SELECT pg_reload_conf()"
wait_for "SELECT count(*) = $n_now FROM mf.serving_metrics" 10 ||
	fail "old rows left: $(q "SELECT count(*) FROM mf.serving_metrics WHERE minute < now() - interval '30 days'")"
pass "mf.metrics_retention: 2500 rows older than 30 days removed after a reload, the $n_now recent ones kept"
sql "SELECT mf_drop_model('$M')"
sql "DROP TABLE ${M}_train"
