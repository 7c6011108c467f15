#!/usr/bin/env bash
# Write served model directories (TensorFlow Serving layout, see the
# "Served model directory" interface) from the database, until
# mf_export_model exists:
#
#   test/integration/serve/export_model.sh BASE_DIR REF...
#
# REF is `name` (every trained version of the model) or `name:version`.
# For each version it writes BASE_DIR/<name>/<n>/model.mfa (exactly the
# bytes of mf.artifacts.bytes, read as base64 through psql) and
# BASE_DIR/<name>/<n>/serving.json, where <n> is mf.model_versions.version_id
# and labels are the version's stage (when not development) and its
# aliases.  Connection: the usual libpq variables (PGHOST, PGPORT, PGUSER,
# PGDATABASE); psql from $PG_BIN (default /usr/lib/postgresql/15/bin).
# Prints one line per version written: "<name> <n> <semver> <dir>".
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BASE_DIR REF..." >&2; exit 2; }
PSQL="${PG_BIN:-/usr/lib/postgresql/15/bin}/psql"
BASE="$1"
shift

# One row per (model, trained version with an artifact) the ref names:
# name, version_id, semver.
versions_of() {
	local name="${1%%:*}" version=""
	[ "$name" != "$1" ] && version="${1#*:}"
	"$PSQL" -X -q -tA -F ' ' -v ON_ERROR_STOP=1 -v name="$name" -v version="$version" <<'SQL'
SELECT m.name, v.version_id, v.version
  FROM mf.models m JOIN mf.model_versions v USING (model_id) JOIN mf.artifacts a USING (version_id)
 WHERE m.name = :'name' AND (:'version' = '' OR v.version = :'version') AND v.status = 'trained'
 ORDER BY v.version_id
SQL
}

# Write the directory of one version (its id in $1).
write_version() {
	local id="$1" dir="$2"
	mkdir -p "$dir"
	"$PSQL" -X -q -tA -v ON_ERROR_STOP=1 -v id="$id" \
		<<<"SELECT encode(bytes, 'base64') FROM mf.artifacts WHERE version_id = :id" |
		base64 -d >"$dir/model.mfa.tmp"
	"$PSQL" -X -q -tA -v ON_ERROR_STOP=1 -v id="$id" <<'SQL' >"$dir/serving.json.tmp"
SELECT jsonb_build_object(
         'format', 'mf-serving/1', 'name', m.name, 'version', v.version,
         'version_number', v.version_id, 'family', m.family,
         'labels', to_jsonb(ARRAY(SELECT s FROM (SELECT 0 AS o, v.stage AS s WHERE v.stage <> 'development'
                                                UNION ALL
                                                SELECT 1, al.alias FROM mf.aliases al WHERE al.version_id = v.version_id) l
                                   ORDER BY o, s)),
         'artifact', 'model.mfa', 'artifact_sha256', a.sha256,
         'trained_at', to_char(v.trained_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
  FROM mf.model_versions v JOIN mf.models m USING (model_id) JOIN mf.artifacts a USING (version_id)
 WHERE v.version_id = :id
SQL
	# The bytes on disk must be the stored bytes.
	local want
	want="$("$PSQL" -X -q -tA -v ON_ERROR_STOP=1 -v id="$id" <<<"SELECT sha256 FROM mf.artifacts WHERE version_id = :id")"
	[ "$(sha256sum <"$dir/model.mfa.tmp" | cut -d' ' -f1)" = "$want" ] ||
		{ echo "export_model: artifact of version $id does not match its sha256" >&2; exit 1; }
	mv "$dir/model.mfa.tmp" "$dir/model.mfa"
	mv "$dir/serving.json.tmp" "$dir/serving.json"
}

for ref in "$@"; do
	found=0
	while read -r name id semver; do
		[ -n "$name" ] || continue
		write_version "$id" "$BASE/$name/$id"
		echo "$name $id $semver $BASE/$name/$id"
		found=1
	done < <(versions_of "$ref")
	[ "$found" = 1 ] || { echo "export_model: no trained version matches '$ref'" >&2; exit 1; }
done
