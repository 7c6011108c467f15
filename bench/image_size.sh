#!/usr/bin/env bash
# Image size: bench/image_size.sh builds the image of the quickstart
# classifier (iris, logistic regression) with the C builder
# (build/unit/oci_cli over image/oci*.c, the installed mf-serve) in the
# private cluster of scripts/cluster.sh ($MF_CLUSTER_DIR / $MF_PORT), and
# prints its layer sizes (compressed = what a registry stores and a node
# pulls; uncompressed = the tar) and the build time.
#
# The peer, "python:3.x-slim + scikit-learn", is sized on paper: this
# machine has no network, so Docker Hub's published layer sizes of
# python:3.11-slim cannot be read here. What is printed instead comes from
# the Debian archive's own metadata (apt-cache show: Size = the .deb,
# xz-compressed; Installed-Size = unpacked) for the packages apt would
# install for python3-sklearn without recommends on an empty system, i.e.
# Python 3.11 plus scikit-learn, SciPy, NumPy and their libraries as a
# Debian-based slim image would install them (libc included, so this is a
# whole image without the shell and tools debian:bookworm-slim adds).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_CONFIG="${PG_CONFIG:-$PG_BIN/pg_config}"
eval "$("$MF_ROOT/scripts/cluster.sh" env)"
export PGHOST PGPORT PGUSER PGDATABASE=mf
q() { "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -c "$1"; }
make -s -C "$MF_ROOT" build/unit/oci_cli >/dev/null
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

PGOPTIONS='-c client_min_messages=warning' q "CREATE EXTENSION IF NOT EXISTS mf_ext" >/dev/null
if [ -z "$(q "SELECT 1 FROM mf.catalog WHERE ref = 'bench_img_iris:1.0.0' AND status = 'trained'")" ]; then
	PGOPTIONS='-c client_min_messages=warning' q "DROP TABLE IF EXISTS bench_img_iris_data" >/dev/null
	q "CREATE TABLE bench_img_iris_data (sepal_length float8, sepal_width float8, petal_length float8, petal_width float8,
	   species text, split text)" >/dev/null
	"$PG_BIN/psql" -X -q -c "\\copy bench_img_iris_data FROM '$MF_ROOT/test/data/iris.csv' WITH (FORMAT csv, HEADER true)"
	q "SELECT mf_create_model('logistic_regression', '{\"name\": \"bench_img_iris\"}')" >/dev/null
	q "SELECT mf_train('bench_img_iris', 'SELECT sepal_length, sepal_width, petal_length, petal_width, species
	   FROM bench_img_iris_data', 'species')" >/dev/null
fi
n="$(q "SELECT version_id FROM mf.catalog WHERE ref = 'bench_img_iris:1.0.0'")"
mkdir -p "$TMP/models"
q "SELECT encode(mf_export_model('bench_img_iris:1.0.0'), 'base64')" | base64 -d | tar -x -C "$TMP/models"
t0="$(date +%s.%N)"
"$MF_ROOT/build/unit/oci_cli" build "$TMP/models" bench_img_iris "$n" "$("$PG_CONFIG" --bindir)/mf-serve" "$TMP/img" >"$TMP/img.json"
t1="$(date +%s.%N)"
python3 - "$TMP/img.json" "$TMP/img" "$t0" "$t1" <<'EOF'
import gzip, json, os, sys
r = json.load(open(sys.argv[1]))
blobs = os.path.join(sys.argv[2], "blobs", "sha256")
raw = [len(gzip.decompress(open(os.path.join(blobs, d[7:]), "rb").read())) for d in r["layers"]]
mb = lambda b: b / 1e6
print("mf_ext image of bench_img_iris:1.0.0 (built in %.2f s):" % (float(sys.argv[4]) - float(sys.argv[3])))
print("  base layer  %.2f MB compressed, %.2f MB tar (%d shared objects, %d Debian packages)"
      % (mb(r["layer_sizes"][0]), mb(raw[0]), r["libraries"], r["packages"]))
print("  model layer %d bytes compressed, %d bytes tar" % (r["layer_sizes"][1], raw[1]))
print("  total       %.2f MB compressed, %.2f MB uncompressed" % (mb(sum(r["layer_sizes"])), mb(sum(raw))))
EOF

# The peer on paper: what apt would install for python3-sklearn (no recommends) on an empty system
# (simulated against an empty dpkg status), sized from the archive's metadata.
: >"$TMP/empty-status"
apt-get -s -o Dir::State::status="$TMP/empty-status" install --no-install-recommends python3-sklearn 2>/dev/null |
	awk '/^Inst /{print $2}' | sort -u >"$TMP/closure"
apt-cache show --no-all-versions $(cat "$TMP/closure") 2>/dev/null |
	awk -v n="$(wc -l <"$TMP/closure")" '/^Size: /{s+=$2} /^Installed-Size: /{i+=$2} END {
		printf "python3-sklearn on an empty Debian system (apt simulation, archive metadata): %d packages, %.1f MB of .deb (xz), %.1f MB installed\n", n, s / 1e6, i * 1024 / 1e6 }'
