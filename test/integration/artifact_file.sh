#!/usr/bin/env bash
# Artifact files (src/artifact_file.c): the first backend that loads a model
# leaves its artifact in base/pgsql_tmp, named by database, version and
# sha256 (a retrained version's older file is removed); a new
# backend reads that file instead of the TOAST chunks and predicts bit for
# bit what the TOAST read predicts. A damaged file (same size, flipped bytes)
# or a file of another size is never used: prediction answers the same from
# mf.artifacts, and a damaged file is replaced. The privilege check still
# comes first: a role without mf_reader gets 42501 with the file present.
# Uses its own database mf_it_artfile (dropped at the end) and role.
# shellcheck source=jobs_lib.bash
. "$(dirname "$0")/jobs_lib.bash"
DB=mf_it_artfile
ROLE=mf_it_artfile_nobody
export PGDATABASE=$DB
trap '"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1 || true' EXIT

PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" \
	-c "DROP ROLE IF EXISTS $ROLE" -c "CREATE ROLE $ROLE LOGIN" >/dev/null
sql "CREATE EXTENSION mf_ext CASCADE"
sql "CREATE TABLE af_data AS
     SELECT i, (i % 97) / 97.0 AS x1, (i % 89) / 89.0 AS x2, (i % 83) / 83.0 AS x3,
            sin(i)::float8 AS y
       FROM generate_series(1, 1000) i"
sql "SELECT mf_create_model('{\"name\": \"af\", \"family\": \"mlp\", \"task\": \"regression\", \"hidden_layers\": [96, 96]}')"
sql "SELECT mf_train('af', 'SELECT x1, x2, x3, y FROM af_data', 'y', '{\"epochs\": 2, \"early_stopping\": false}')"

VID="$(q "SELECT v.version_id FROM mf.model_versions v JOIN mf.models m USING (model_id) WHERE m.name = 'af'")"
SHA="$(q "SELECT a.sha256 FROM mf.artifacts a JOIN mf.model_versions v USING (version_id)
          JOIN mf.models m USING (model_id) WHERE m.name = 'af'")"
SIZE="$(q "SELECT a.size_bytes FROM mf.artifacts a JOIN mf.model_versions v USING (version_id)
           JOIN mf.models m USING (model_id) WHERE m.name = 'af'")"
[ "$SIZE" -gt 8192 ] || fail "the artifact ($SIZE bytes) should be large enough to be TOASTed"
OID="$(q "SELECT oid FROM pg_database WHERE datname = current_database()")"
FILE="$(q "SHOW data_directory")/base/pgsql_tmp/pgsql_tmp_mf_${OID}_${VID}_${SHA}.mfa"
rm -f "$FILE"

# One new connection: where the model came from (DEBUG2 line) and the sum of its predictions (exact text).
PREDICT="SELECT sum(mf_predict('af:1.0.0', ARRAY[x1, x2, x3]))::text FROM af_data"
predict() {
	PGOPTIONS='-c client_min_messages=debug2' "$PG_BIN/psql" -X -tA -v ON_ERROR_STOP=1 -c "$PREDICT" 2>&1 |
		grep -E '^DEBUG:  mf model cache: af:1.0.0 loaded from|^-?[0-9]' | sed -e 's/ in [0-9.]* ms$//'
}

first="$(predict)"
from_table="$(sed -n 2p <<<"$first")"
grep -q 'loaded from mf.artifacts' <<<"$first" || fail "first load not from mf.artifacts: $first"
[ -n "$from_table" ] || fail "no prediction: $first"
pass "the first backend reads mf.artifacts (sum $from_table)"

[ -f "$FILE" ] || fail "no artifact file $FILE"
[ "$(stat -c %s "$FILE")" = "$SIZE" ] || fail "artifact file of $(stat -c %s "$FILE") bytes, stored $SIZE"
[ "$(stat -c %a "$FILE")" = 600 ] || fail "artifact file mode $(stat -c %a "$FILE"), expected 600"
[ "$(sha256sum "$FILE" | cut -d' ' -f1)" = "$SHA" ] || fail "artifact file does not hash to $SHA"
[ "$(q "SELECT count(*) FROM pg_ls_tmpdir() WHERE name = 'pgsql_tmp_mf_${OID}_${VID}_${SHA}.mfa'")" = 1 ] ||
	fail "pg_ls_tmpdir() does not list the artifact file"
pass "the artifact file holds exactly the stored bytes (sha256, $SIZE bytes, mode 600, listed by pg_ls_tmpdir)"

second="$(predict)"
grep -q 'loaded from its artifact file' <<<"$second" || fail "second load not from the file: $second"
[ "$(sed -n 2p <<<"$second")" = "$from_table" ] || fail "from the file: $(sed -n 2p <<<"$second"), from the table: $from_table"
pass "a new backend reads the file and predicts the same bit for bit"

# Same size, bytes flipped in the middle: the artifact's checks refuse it, the table answers, the file is rewritten.
printf '\377\377\377\377\377\377\377\377' | dd of="$FILE" bs=1 seek=$((SIZE / 2)) conv=notrunc status=none
damaged="$(predict)"
grep -q 'loaded from mf.artifacts' <<<"$damaged" || fail "a damaged file was used: $damaged"
[ "$(sed -n 2p <<<"$damaged")" = "$from_table" ] || fail "after damage: $(sed -n 2p <<<"$damaged"), expected $from_table"
[ "$(sha256sum "$FILE" | cut -d' ' -f1)" = "$SHA" ] || fail "the damaged file was not replaced"
pass "a damaged file is not used (same answer from mf.artifacts) and is replaced"

# Another size: not used.
truncate -s $((SIZE - 100)) "$FILE"
short="$(predict)"
grep -q 'loaded from mf.artifacts' <<<"$short" || fail "a short file was used: $short"
[ "$(sed -n 2p <<<"$short")" = "$from_table" ] || fail "after truncation: $(sed -n 2p <<<"$short"), expected $from_table"
pass "a file of another size is not used (same answer from mf.artifacts)"

# The privilege check comes before the file: no mf_reader, no prediction.
[ "$(sha256sum "$FILE" | cut -d' ' -f1)" = "$SHA" ] || fail "no whole artifact file for the privilege check"
out="$(PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/psql" -X -tA -U "$ROLE" -v VERBOSITY=verbose \
	-c "SELECT mf_predict('af', ARRAY[0.1, 0.2, 0.3])" 2>&1 || true)"
grep -q '42501' <<<"$out" || fail "a role without mf_reader predicted: $out"
pass "a role without mf_reader still gets 42501 while the file exists"

# A rewritten artifact (here: version 1.0.0 given the bytes of a second version): read from
# mf.artifacts, it gets its own file and the version's old file goes.
sql "SELECT mf_train('af:1.0.0', 'SELECT x1, x2, x3, y FROM af_data', 'y', '{\"epochs\": 3, \"early_stopping\": false}')"
sql "UPDATE mf.artifacts a SET bytes = b.bytes
       FROM mf.artifacts b WHERE a.version_id = $VID AND b.version_id = (SELECT max(version_id) FROM mf.artifacts)"
SHA2="$(q "SELECT sha256 FROM mf.artifacts WHERE version_id = $VID")"
[ "$SHA2" != "$SHA" ] || fail "the rewrite left the same artifact"
rewritten="$(predict)"
grep -q 'loaded from mf.artifacts' <<<"$rewritten" || fail "the rewritten artifact was not read from mf.artifacts: $rewritten"
[ "$(sed -n 2p <<<"$rewritten")" != "$from_table" ] || fail "the rewritten version predicts as before"
[ -f "${FILE%_"$SHA".mfa}_$SHA2.mfa" ] || fail "no file for the rewritten artifact"
[ ! -e "$FILE" ] || fail "the old artifact's file was kept"
pass "a rewritten artifact is read from mf.artifacts, gets its own file, and the old file is removed"
