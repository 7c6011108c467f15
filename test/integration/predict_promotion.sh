#!/usr/bin/env bash
# Concurrent sessions predicting while another session promotes versions over
# and over never error, and every statement uses exactly one version (its
# sum equals one version's sum, for the array and the record form at once).
# Two pgbench runs predict (simple and prepared protocol, the latter with
# cached plans rewritten by the planner) while a loop promotes 1.0.0, 1.1.0
# and 1.2.0 in turn. Fails when pgbench reports an error, when a statement's
# result matches no version, or when the run saw fewer than two versions.
# Uses its own database mf_it_promo (dropped at the end).
set -euo pipefail
cd "${MF_ROOT:-$(dirname "$0")/../..}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
DB=mf_it_promo
SECONDS_RUN="${MF_IT_PROMO_SECONDS:-6}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; "$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT

psql_db() {
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"
}

"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION mf_ext CASCADE;
CREATE TABLE cc_data AS
SELECT i, (i % 23)::float8 / 4 - 2.5 AS a, ((i * 7) % 19)::float8 / 3 - 3 AS b,
       CASE WHEN (i % 23) + ((i * 7) % 19) % 5 >= 12 THEN 'yes' ELSE 'no' END AS label
  FROM generate_series(1, 2000) i;
SELECT mf_create_model('{"name": "cc", "family": "logistic_regression"}');
SELECT mf_train('cc', 'cc_data', 'label', '{"features": ["a", "b"], "C": 100}');
SELECT mf_train('cc:1.0.0', 'cc_data', 'label', '{"features": ["a", "b"], "C": 0.01}');
SELECT mf_train('cc:1.0.0', 'cc_data', 'label', '{"features": ["a", "b"], "C": 0.0001}');
SELECT mf_set_stage('cc:1.0.0', 'production');
-- The sum of the probabilities of "yes" under each version.
CREATE TABLE cc_expected AS
SELECT v, (SELECT sum((mf_predict_proba('cc:' || v, ARRAY[a, b]))[2]) FROM cc_data) AS s
  FROM unnest(ARRAY['1.0.0', '1.1.0', '1.2.0']) v;
CREATE TABLE cc_seen (v text NOT NULL);
CREATE FUNCTION cc_mismatch(s float8, r float8) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'sums % (array) and % (record) match no single version', s, r;
END;
$$;
SQL
if [ "$(psql_db -tAc 'SELECT count(DISTINCT s) FROM cc_expected')" != 3 ]; then
	echo "the three versions do not give three different sums" >&2
	exit 1
fi

# One statement: both forms, matched against the versions (an error when none matches).
cat >"$WORK/predict.sql" <<'SQL'
INSERT INTO cc_seen SELECT CASE WHEN e.v IS NULL THEN cc_mismatch(q.s, q.r) ELSE e.v END
  FROM (SELECT sum((mf_predict_proba('cc', ARRAY[a, b]))[2]) AS s, sum((mf_predict_proba('cc', d))[2]) AS r
          FROM cc_data d) q
  LEFT JOIN cc_expected e ON e.s = q.s AND e.s = q.r;
SQL

# Promote the versions in turn until told to stop; count the promotions.
promote_loop() {
	local n=0 v
	while [ ! -e "$WORK/stop" ]; do
		for v in 1.1.0 1.2.0 1.0.0; do
			psql_db -tAc "SELECT mf_set_stage('cc:$v', 'production')" >/dev/null
			n=$((n + 1))
		done
	done
	echo "$n" >"$WORK/promotions"
}

promote_loop &
PROMOTER=$!
rc=0
"$PG_BIN/pgbench" -n -M simple -c 2 -T "$SECONDS_RUN" -f "$WORK/predict.sql" "$DB" >"$WORK/simple.log" 2>&1 &
P1=$!
"$PG_BIN/pgbench" -n -M prepared -c 2 -T "$SECONDS_RUN" -f "$WORK/predict.sql" "$DB" >"$WORK/prepared.log" 2>&1 &
P2=$!
wait "$P1" || { rc=1; echo "pgbench -M simple failed:" >&2; tail -n 20 "$WORK/simple.log" >&2; }
wait "$P2" || { rc=1; echo "pgbench -M prepared failed:" >&2; tail -n 20 "$WORK/prepared.log" >&2; }
touch "$WORK/stop"
wait "$PROMOTER" || { rc=1; echo "the promoting session failed" >&2; }
[ "$rc" = 0 ] || exit 1

promotions="$(cat "$WORK/promotions")"
read -r statements versions <<<"$(psql_db -tAF ' ' -c 'SELECT count(*), count(DISTINCT v) FROM cc_seen')"
grep -h "number of transactions actually processed" "$WORK/simple.log" "$WORK/prepared.log"
echo "promotions: $promotions; predicting statements: $statements; versions seen: $versions"
if [ "$promotions" -lt 3 ] || [ "$statements" -lt 4 ] || [ "$versions" -lt 2 ]; then
	echo "the run did not exercise promotions under load (need >= 3 promotions, >= 4 statements, >= 2 versions seen)" >&2
	exit 1
fi
echo "ok: no errors, every statement used exactly one version"
