#!/usr/bin/env bash
# Write served model directories (TensorFlow Serving layout, see the
# "Served model directory" interface) from the database with the real
# export, as the README pipes it:
#
#   psql -Atc "SELECT encode(mf_export_model('<ref>'), 'base64')" | base64 -d | tar -x -C BASE_DIR
#
#   test/integration/serve/export_model.sh BASE_DIR REF...
#
# REF is `name` (every trained version of the model, one export each) or
# `name:version`.  mf_export_model writes BASE_DIR/<name>/<n>/model.mfa (the
# bytes of mf.artifacts.bytes) and BASE_DIR/<name>/<n>/serving.json, where
# <n> is mf.model_versions.version_id and labels are the version's stage
# (when not development) and its aliases; this helper checks the artifact's
# sha256 against mf.artifacts.  Connection: the usual libpq variables
# (PGHOST, PGPORT, PGUSER, PGDATABASE); psql from $PG_BIN (default
# /usr/lib/postgresql/15/bin).  Prints one line per version written:
# "<name> <n> <semver> <dir>".
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BASE_DIR REF..." >&2; exit 2; }
PSQL="${PG_BIN:-/usr/lib/postgresql/15/bin}/psql"
BASE="$1"
shift
mkdir -p "$BASE"

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

# Export one version (name, id, semver) into BASE with mf_export_model.
write_version() {
	local name="$1" id="$2" semver="$3" want
	"$PSQL" -X -q -Atc "SELECT encode(mf_export_model('$name:$semver'), 'base64')" | base64 -d | tar -x -C "$BASE"
	# The bytes on disk must be the stored bytes.
	want="$("$PSQL" -X -q -tA -v ON_ERROR_STOP=1 -v id="$id" <<<"SELECT sha256 FROM mf.artifacts WHERE version_id = :id")"
	[ "$(sha256sum <"$BASE/$name/$id/model.mfa" | cut -d' ' -f1)" = "$want" ] ||
		{ echo "export_model: artifact of version $id does not match its sha256" >&2; exit 1; }
}

for ref in "$@"; do
	found=0
	while read -r name id semver; do
		[ -n "$name" ] || continue
		write_version "$name" "$id" "$semver"
		echo "$name $id $semver $BASE/$name/$id"
		found=1
	done < <(versions_of "$ref")
	[ "$found" = 1 ] || { echo "export_model: no trained version matches '$ref'" >&2; exit 1; }
done
