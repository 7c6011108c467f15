#!/usr/bin/env bash
# Prometheus scrapes both servers: Debian's prometheus, started here on
# loopback with a 1 s scrape interval, scrapes the in-database HTTP server
# (two serving processes: whichever answers a scrape shows the counts of
# both) and an mf-serve serving the same model (exported); the test sends known
# numbers of good and bad requests to each and finds exactly those counts
# through Prometheus's HTTP API (requests, errors, histogram count); promtool
# check metrics is clean on both /metrics; both servers are alive afterwards.
. "$(dirname "$0")/monitor_lib.bash"
trap 'monitor_cleanup; http_off >/dev/null 2>&1 || true; sql "ALTER SYSTEM RESET mf.http_workers"; sql "ALTER SYSTEM RESET mf.http_role"' EXIT
wait_for_server || fail "server not reachable"
command -v prometheus >/dev/null && command -v promtool >/dev/null || fail "prometheus/promtool (package prometheus) missing"
make -s -C "$MF_ROOT" build/mf-serve >/dev/null || fail "mf-serve does not build"
M=mp_log
monitor_model "$M"
monitor_export "$M"
SPORT="$(free_port)"
monitor_serve "$SPORT"
http_on 2
# one round of checks at deploy time, then none for a day: the probes stay out of the counts
D="$(q "SELECT mf_deploy('$M', 'http', '{\"health\": {\"interval\": \"1 day\"}}')")"
http_wait_code "$HTTP/v2/models/$M/ready" 200 10 >/dev/null || fail "model not served in the database"
wait_for "SELECT count(*) > 0 FROM mf.health_checks WHERE deployment_id = $D" 10 || fail "no health round"

PPORT="$(free_port)"
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: indb
    static_configs: [{targets: ['127.0.0.1:$HTTP_PORT']}]
  - job_name: serve
    static_configs: [{targets: ['127.0.0.1:$SPORT']}]
YML
promtool check config "$TMP/prometheus.yml" >/dev/null || fail "promtool check config"
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn 2>"$TMP/prometheus.log" &
PIDS+=($!)
# The value of a PromQL expression ("" when it has none yet): the first sample of the vector.
promq() {
	curl -s "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
		sed -n 's/^{"status":"success".*"value":\[[0-9.e+]*,"\([^"]*\)"\].*/\1/p' || true
}
# Wait until a PromQL expression equals $2 (at most $3 s).
prom_wait() {
	local t0
	t0="$(date +%s)"
	until [ "$(promq "$1")" = "$2" ]; do
		[ $(($(date +%s) - t0)) -ge "$3" ] && return 1
		sleep 0.3
	done
}
prom_wait 'sum(up)' 2 20 || { cat "$TMP/prometheus.log" >&2; fail "prometheus does not see both targets up: $(promq 'sum(up)')"; }
pass "prometheus on 127.0.0.1:$PPORT scrapes the in-database server ($HTTP_PORT) and mf-serve ($SPORT)"

# in-database server: the deploy-time round of checks (finished before prometheus
# started) made the first requests; they are the baseline
sel_db="job=\"indb\",model=\"$M\""
prom_wait_any() {
	local t0
	t0="$(date +%s)"
	until [ -n "$(promq "$1")" ]; do
		[ $(($(date +%s) - t0)) -ge "$2" ] && return 1
		sleep 0.3
	done
}
prom_wait_any "sum(mf_serve_requests_total{$sel_db})" 10 || fail "no in-database series in prometheus"
r0="$(promq "sum(mf_serve_requests_total{$sel_db})")"
# send: N requests of one body to one URL over one connection; prints the status codes, one a line
send() {
	local n="$1" url="$2" body="$3" urls=()
	for _ in $(seq 1 "$n"); do urls+=(-o /dev/null "$url"); done
	curl -s -w '%{http_code}\n' -H 'Content-Type: application/json' -d "$body" "${urls[@]}"
}
GOOD='{"instances": [{"x1": 0.5, "x2": 1}]}'
BAD='{"instances": ['
[ "$(send 25 "$HTTP/v1/models/$M:predict" "$GOOD" | sort | uniq -c | xargs)" = "25 200" ] || fail "in-database: not 25 x 200"
[ "$(send 5 "$HTTP/v1/models/$M:predict" "$BAD" | sort | uniq -c | xargs)" = "5 400" ] || fail "in-database: not 5 x 400"
[ "$(send 17 "http://127.0.0.1:$SPORT/v1/models/$M:predict" "$GOOD" | sort | uniq -c | xargs)" = "17 200" ] ||
	fail "mf-serve: not 17 x 200"
[ "$(send 3 "http://127.0.0.1:$SPORT/v1/models/$M:predict" "$BAD" | sort | uniq -c | xargs)" = "3 400" ] ||
	fail "mf-serve: not 3 x 400"
prom_wait "sum(mf_serve_requests_total{$sel_db})" $((r0 + 30)) 15 ||
	fail "in-database requests in prometheus: $(promq "sum(mf_serve_requests_total{$sel_db})"), want $((r0 + 30))"
prom_wait "sum(mf_serve_errors_total{$sel_db})" 5 10 || fail "in-database errors: $(promq "sum(mf_serve_errors_total{$sel_db})")"
prom_wait "sum(mf_serve_requests_total{$sel_db,code=\"400\"})" 5 5 || fail "in-database 400s"
pass "prometheus finds the in-database counts: +30 requests ($r0 before), 5 errors, code 400 x5"

sel_s="job=\"serve\",model=\"$M\""
prom_wait "sum(mf_serve_requests_total{$sel_s})" 20 15 || fail "mf-serve requests: $(promq "sum(mf_serve_requests_total{$sel_s})")"
prom_wait "sum(mf_serve_errors_total{$sel_s})" 3 5 || fail "mf-serve errors: $(promq "sum(mf_serve_errors_total{$sel_s})")"
prom_wait "sum(mf_serve_request_duration_seconds_count{$sel_s})" 20 5 || fail "mf-serve histogram count"
prom_wait "sum(mf_serve_requests_total{$sel_s,code=\"200\"})" 17 5 || fail "mf-serve 200s"
b="$(promq "sum(mf_serve_request_bytes_total{$sel_s})")"
[ "$b" = $((17 * ${#GOOD} + 3 * ${#BAD})) ] || fail "mf-serve request bytes: $b, want $((17 * ${#GOOD} + 3 * ${#BAD}))"
pass "prometheus finds the mf-serve counts: 20 requests (17 x 200, 3 x 400), histogram count 20, $b request bytes"

for u in "$HTTP/metrics" "http://127.0.0.1:$SPORT/metrics"; do
	curl -sf "$u" >"$TMP/metrics.txt" || fail "GET $u"
	out="$(promtool check metrics <"$TMP/metrics.txt" 2>&1)" || fail "promtool check metrics on $u: $out"
	[ -z "$out" ] || fail "promtool check metrics on $u says: $out"
	grep -q '^process_resident_memory_bytes [1-9]' "$TMP/metrics.txt" || fail "no resident memory in $u"
done
pass "promtool check metrics: clean on both /metrics (with process_resident_memory_bytes)"
http_alive || fail "in-database server not alive"
curl -sf "http://127.0.0.1:$SPORT/v2/health/live" >/dev/null || fail "mf-serve not alive"
pass "both servers alive after the test"
sql "SELECT mf_drop_model('$M')"
sql "DROP TABLE ${M}_train"
