#!/usr/bin/env bash
# Artifact files of dropped versions (src/artifact_file.c, MfArtifactFileSweep):
# two models are trained and each loaded by a new backend, which leaves its
# artifact file in base/pgsql_tmp; one model is dropped; after a reload
# (which makes the monitor worker run its once-a-minute units at once) the
# dropped version's file is removed within seconds, and the other model's
# file stays and is still read by a new backend with the same answer.
# The files of a dropped database go too: a model of database
# mf_it_afsweep (created and dropped here) leaves its file, the database is
# dropped, and after a reload the file is removed.
# Runs in database mf (the monitor worker's mf.database), with its own model names.
# shellcheck source=jobs_lib.bash
. "$(dirname "$0")/jobs_lib.bash"
KEEP=afs_keep
GONE=afs_gone
DB2=mf_it_afsweep
trap 'sql "SELECT mf_drop_model(n) FROM unnest(ARRAY['"'$KEEP', '$GONE'"']) n WHERE EXISTS (SELECT 1 FROM mf.models WHERE name = n)" || true
      "$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB2" >/dev/null 2>&1 || true' EXIT
sql "SELECT mf_drop_model(n) FROM unnest(ARRAY['$KEEP', '$GONE']) n WHERE EXISTS (SELECT 1 FROM mf.models WHERE name = n)"
sql "DROP TABLE IF EXISTS afs_data"
sql "CREATE TABLE afs_data AS SELECT (i % 97) / 97.0 AS x1, (i % 89) / 89.0 AS x2, sin(i)::float8 AS y
       FROM generate_series(1, 400) i"
DIR="$(q "SHOW data_directory")/base/pgsql_tmp"
OID="$(q "SELECT oid FROM pg_database WHERE datname = current_database()")"

# Train a model, load it in a new backend; prints the path of its artifact file.
trained_file() {
	local vid sha
	sql "SELECT mf_create_model('{\"name\": \"$1\", \"family\": \"linear_regression\"}')"
	sql "SELECT mf_train('$1', 'SELECT x1, x2, y FROM afs_data', 'y')"
	vid="$(q "SELECT v.version_id FROM mf.model_versions v JOIN mf.models m USING (model_id) WHERE m.name = '$1'")"
	sha="$(q "SELECT sha256 FROM mf.artifacts WHERE version_id = $vid")"
	q "SELECT mf_predict('$1', ARRAY[0.5, 0.25])" >/dev/null
	printf '%s/pgsql_tmp_mf_%s_%s_%s.mfa' "$DIR" "$OID" "$vid" "$sha"
}
keep_file="$(trained_file "$KEEP")"
gone_file="$(trained_file "$GONE")"
[ -f "$keep_file" ] && [ -f "$gone_file" ] || fail "no artifact files after loading: $(ls "$DIR" 2>&1)"
answer="$(q "SELECT mf_predict('$KEEP', ARRAY[0.5, 0.25])::text")"
pass "both models' artifact files exist after a new backend loaded each"

sql "SELECT mf_drop_model('$GONE')"
[ -f "$gone_file" ] || fail "the file went before the sweep"
sql "SELECT pg_reload_conf()"
t0="$(date +%s)"
while [ -e "$gone_file" ]; do
	[ $(($(date +%s) - t0)) -lt 15 ] || fail "the dropped version's artifact file is still there 15 s after a reload"
	sleep 0.2
done
pass "the dropped version's artifact file is removed by the monitor worker ($(($(date +%s) - t0)) s after a reload)"

[ -f "$keep_file" ] || fail "the file of the model that was not dropped was removed"
out="$(PGOPTIONS='-c client_min_messages=debug2' "$PG_BIN/psql" -X -tA -v ON_ERROR_STOP=1 \
	-c "SELECT mf_predict('$KEEP', ARRAY[0.5, 0.25])::text" 2>&1)"
grep -q "mf model cache: $KEEP:1.0.0 loaded from its artifact file" <<<"$out" || fail "the kept file was not read: $out"
[ "$(tail -n 1 <<<"$out")" = "$answer" ] || fail "from the kept file: $(tail -n 1 <<<"$out"), expected $answer"
pass "the other model's file stays and a new backend reads it, with the same answer"
sql "DROP TABLE afs_data"

# A dropped database: its files go as well.
PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
	-c "DROP DATABASE IF EXISTS $DB2" -c "CREATE DATABASE $DB2" >/dev/null
OID2="$(q "SELECT oid FROM pg_database WHERE datname = '$DB2'")"
PGDATABASE=$DB2 sql "CREATE EXTENSION mf_ext CASCADE"
PGDATABASE=$DB2 sql "CREATE TABLE afs_data AS SELECT (i % 97) / 97.0 AS x1, (i % 89) / 89.0 AS x2, sin(i)::float8 AS y
       FROM generate_series(1, 400) i"
PGDATABASE=$DB2 sql "SELECT mf_create_model('{\"name\": \"afs_other\", \"family\": \"linear_regression\"}')"
PGDATABASE=$DB2 sql "SELECT mf_train('afs_other', 'SELECT x1, x2, y FROM afs_data', 'y')"
PGDATABASE=$DB2 q "SELECT mf_predict('afs_other', ARRAY[0.5, 0.25])" >/dev/null
ls "$DIR"/pgsql_tmp_mf_"${OID2}"_*.mfa >/dev/null 2>&1 || fail "no artifact file of database $DB2"
"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE $DB2" >/dev/null
sql "SELECT pg_reload_conf()"
t0="$(date +%s)"
while ls "$DIR"/pgsql_tmp_mf_"${OID2}"_*.mfa >/dev/null 2>&1; do
	[ $(($(date +%s) - t0)) -lt 15 ] || fail "the dropped database's artifact file is still there 15 s after a reload"
	sleep 0.2
done
[ -f "$keep_file" ] || fail "the file of database mf's model was removed with the other database's"
pass "a dropped database's artifact file is removed too ($(($(date +%s) - t0)) s after a reload); mf's own file stays"
