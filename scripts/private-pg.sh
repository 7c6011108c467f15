#!/usr/bin/env bash
# A private copy of the PostgreSQL 15 installation, for developers who build
# and test several branches at once on one machine: `make install` into the
# shared /usr/lib/postgresql/15 would mix their extensions.  PostgreSQL finds
# its share and lib directories relative to its programs, so a copy under DIR
# is a complete installation (with pgTAP and pg_cron, when installed).
#
#   scripts/private-pg.sh DIR      # creates DIR/usr/{lib,share}/postgresql/15 once
#   export PG_BIN=DIR/usr/lib/postgresql/15/bin PG_CONFIG=$PG_BIN/pg_config
#   make install && make test      # both use the copy
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir="$(mkdir -p "$1" && cd "$1" && pwd)"
if [ ! -x "$dir/usr/lib/postgresql/15/bin/postgres" ]; then
	mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql"
	cp -a /usr/lib/postgresql/15 "$dir/usr/lib/postgresql/"
	cp -a /usr/share/postgresql/15 "$dir/usr/share/postgresql/"
	# pg_config answers the headers relative to the copy too (PGXS builds)
	ln -sfn /usr/include "$dir/usr/include"
	chmod 755 "$dir"
fi
echo "export PG_BIN=$dir/usr/lib/postgresql/15/bin PG_CONFIG=$dir/usr/lib/postgresql/15/bin/pg_config"
