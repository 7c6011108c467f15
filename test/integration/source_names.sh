#!/usr/bin/env bash
# One rule decides whether a training source is a relation name or a query
# (src/features.c MfSourceFromItem), and mf_train, mf_train_async,
# mf_evaluate and mf_retrain (with min_new_rows, which counts the source) all
# use it: tables named like keywords, quoted and schema-qualified names, and
# queries starting with WITH, SELECT, (SELECT, VALUES or comments.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
cleanup() {
	sql "SELECT mf_drop_model(name) FROM mf.models WHERE name LIKE 'srcname_%'"
	sql "DROP TABLE IF EXISTS withdrawals, with_x, selection, \"Values 2024\"; DROP SCHEMA IF EXISTS src_schema CASCADE"
}
trap cleanup EXIT
cleanup
sql "CREATE SCHEMA src_schema"
i=0
while IFS= read -r line; do
	[ -n "$line" ] || continue
	src="$(printf '%b' "$line")"
	i=$((i + 1))
	tgt=y
	m="srcname_$i"
	case "$src" in
		TABLE:*) tbl="${src#TABLE:}"; sql "CREATE TABLE $tbl AS SELECT g::float8 AS x, (2 * g)::float8 AS y FROM generate_series(1, 60) g"; src="$tbl" ;;
	esac
	case "$src" in VALUES*) tgt=column2 ;; esac
	lit="$(printf '%s' "$src" | sed "s/'/''/g")"
	sql "SELECT mf_create_model('{\"name\": \"$m\", \"family\": \"linear_regression\"}')"
	sql "SELECT mf_train('$m', '$lit', '$tgt')" || fail "mf_train on: $src"
	[ -n "$(q "SELECT mf_evaluate('$m', '$lit', '$tgt') ->> 'r2'")" ] || fail "mf_evaluate on: $src"
	id="$(q "SELECT mf_train_async('$m', '$lit', '$tgt')")" || fail "mf_train_async on: $src"
	[ "$(q "SELECT (mf_wait($id, '60 s')).status")" = succeeded ] || fail "job on $src: $(job "$id" "coalesce(error, status)")"
	out="$(q "SELECT coalesce(mf_retrain('$m', '{\"min_new_rows\": 1000000}')::text, 'skipped')")" || fail "mf_retrain on: $src"
	[ "$out" = skipped ] || fail "mf_retrain with min_new_rows on $src queued $out"
	pass "source $src: mf_train, mf_evaluate, mf_train_async and mf_retrain (min_new_rows)"
done <<'SOURCES'
TABLE:withdrawals
TABLE:with_x
TABLE:selection
TABLE:"Values 2024"
TABLE:src_schema.t
WITH r AS (SELECT x, y FROM withdrawals) SELECT * FROM r
SELECT x, y FROM with_x
  (SELECT x, y FROM selection)
VALUES (1.0::float8, 2.0::float8), (2.0, 4.0), (3.0, 6.1), (4.0, 8.0), (5.0, 9.9), (6.0, 12.0), (7.0, 14.2), (8.0, 16.0), (9.0, 18.0), (10.0, 20.1)
-- leading comment\nSELECT x, y FROM src_schema.t
/* block comment */ SELECT x, y FROM "Values 2024"
SOURCES
