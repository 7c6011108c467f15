#!/usr/bin/env bash
# A model dropped by another transaction while this one changes it: the
# waiting call answers 42704 (the model is gone), not a constraint violation.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
trap 'sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '"'race_m'"'"' EXIT
for call in "mf_create_version('race_m', '{}', '{\"k\": 3}')" "mf_set_alias('race_m', 'champion')" "mf_set_stage('race_m', 'staging')"; do
	sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'race_m'"
	sql "SELECT mf_create_model('{\"name\": \"race_m\", \"family\": \"kmeans\", \"k\": 2}')"
	# session 1 drops the model and holds its transaction open; session 2 waits on the model's row
	{ printf 'BEGIN;\nSELECT mf_drop_model(%s);\nSELECT pg_sleep(1.5);\nCOMMIT;\n' "'race_m'" | "$PG_BIN/psql" -X -q >/dev/null 2>&1; } &
	sleep 0.5
	out="$("$PG_BIN/psql" -X -q -tA -v VERBOSITY=verbose -c "SELECT $call" 2>&1 || true)"
	wait
	echo "$out" | grep -q "ERROR:  42704" || fail "$call after a concurrent drop: $out"
	pass "$call waiting on a concurrent mf_drop_model answers 42704"
done
