#!/usr/bin/env bash
# One language per rule: the header of every sql/ part of the install script
# says which rules the file owns ("Owns") and names each of its PL/pgSQL
# functions of 25 lines or more, with the rule it owns or the C it calls.
# A long PL/pgSQL function the header does not name, or a header without
# "Owns", fails.  Reads the files only (no server).
set -euo pipefail
cd "$(dirname "$0")/../.."
LIMIT=25

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
pass() { printf 'ok - %s\n' "$*"; }

# The parts of the install script, from the Makefile.
parts="$(sed -n '/^SQL_PARTS *=/,/[^\\]$/p' Makefile | sed 's/^SQL_PARTS *=//; s/\\$//' | tr -s ' \t\n' '\n' | grep '\.sql$')"
[ -n "$parts" ] || fail "no SQL_PARTS in the Makefile"

# The leading comment block of a file (-- lines, or a /* */ block).
header() { awk '/^(--|\/\*| \*)/ { print; next } { exit }' "$1"; }

# "name lines" of every PL/pgSQL function of a file.
plpgsql_lengths() {
	awk '
		match($0, /^CREATE (OR REPLACE )?FUNCTION [a-z_.]+\(/) {
			name = $0; sub(/^CREATE (OR REPLACE )?FUNCTION /, "", name); sub(/\(.*/, "", name)
			start = NR; plpgsql = 0; inbody = 0; next
		}
		start && !inbody && /LANGUAGE plpgsql/ { plpgsql = 1 }
		start && !inbody && /AS \$\$$/ { inbody = 1; next }
		start && !inbody && /MODULE_PATHNAME/ { start = 0; next }
		start && inbody && /^\$\$/ { if (plpgsql) print name, NR - start + 1; start = 0 }
	' "$1"
}

n=0
for f in $parts; do
	h="$(header "$f")"
	grep -q 'Owns' <<<"$h" || fail "$f: the header does not say which rules the file owns (\"Owns\")"
	while read -r name len; do
		[ -n "$name" ] || continue
		[ "$len" -ge "$LIMIT" ] || continue
		grep -qF "$name " <<<"$h" || grep -qF "$name:" <<<"$h" ||
			fail "$f: $name ($len lines of PL/pgSQL) is not named in the header"
		n=$((n + 1))
	done <<<"$(plpgsql_lengths "$f")"
	pass "$f: the header names what the file owns and its long PL/pgSQL functions"
done
[ "$n" -gt 0 ] || fail "no PL/pgSQL function of $LIMIT lines or more found: the parser is broken"
pass "$n PL/pgSQL functions of $LIMIT lines or more, each named in its file's header"
