#!/usr/bin/env bash
# A checksummed artifact whose metadata was not written by mf_train (the
# bytes are intact, the JSON says something else) is refused with XX001
# (or 22023 where the kernels refuse the shape) and the server stays up:
# by mf._evaluate_run, which anyone may call with any bytea, and by
# mf_predict when such an artifact is stored.  Each case edits the metadata
# text of a real artifact in place (same length, so every offset stays
# valid) and recomputes the crc32: named edits first, then random ones.
. "$(dirname "$0")/jobs_lib.bash"
wait_for_server || fail "server not reachable"
sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
sql "DROP TABLE IF EXISTS am_data; CREATE TABLE am_data AS
     SELECT (i % 13) / 13.0 AS x1, (i % 7) / 7.0 AS x2, ((i % 13) / 13.0 > (i % 7) / 7.0)::int AS label,
            (ARRAY['red', 'green', NULL])[1 + i % 3] AS colour
       FROM generate_series(1, 400) i"
for m in am_log am_mlp am_cat; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'"; done
sql "SELECT mf_create_model('{\"name\": \"am_log\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_create_model('{\"name\": \"am_mlp\", \"family\": \"mlp\", \"hidden_layers\": [4]}')"
sql "SELECT mf_create_model('{\"name\": \"am_cat\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('am_log', 'am_data', 'label', '{\"features\": [\"x1\", \"x2\"]}')"
sql "SELECT mf_train('am_cat', 'am_data', 'label')"
sql "SELECT mf_train('am_mlp', 'am_data', 'label', '{\"epochs\": 2, \"features\": [\"x1\", \"x2\"]}')"

# The artifact of a model as hex.
artifact() { q "SELECT encode(a.bytes, 'hex') FROM mf.artifacts a JOIN mf.catalog c USING (version_id) WHERE c.ref = '$1:1.0.0'"; }

# The artifact (hex on stdin) with the metadata text edited: old -> new, same length.
edit() {
	python3 -c '
import struct, sys, zlib
old, new = sys.argv[1].encode(), sys.argv[2].encode()
assert len(old) == len(new), "edits must keep the length"
b = bytearray(bytes.fromhex(sys.stdin.read().strip()))
n_tensors, meta_len = struct.unpack_from("<II", b, 16)
start = 40 + 88 * n_tensors
meta = bytes(b[start:start + meta_len])
if old not in meta:
    sys.exit("metadata lacks " + sys.argv[1] + ": " + meta.decode())
b[start:start + meta_len] = meta.replace(old, new, 1)
struct.pack_into("<I", b, 36, zlib.crc32(bytes(b[:36]) + bytes(b[40:])))
print(b.hex())' "$1" "$2"
}

# Evaluating the edited artifact fails with SQLSTATE $1 and the message
# names what is wrong.
refused() {
	local code="$1" model="$2" old="$3" new="$4" why="$5" hex out
	hex="$(artifact "$model" | edit "$old" "$new")" || fail "could not edit the $model artifact"
	out="$("$PG_BIN/psql" -X -q -tA -v VERBOSITY=verbose -c "SELECT mf._evaluate_run(decode('$hex', 'hex'), 'am_data', 'label', current_user::regrole::oid, 'public')" 2>&1)" &&
		fail "$model with $new was evaluated: $out"
	case "$out" in
		*"ERROR:  $code: "*"$why"*) ;;
		*) wait_for_server || true; fail "$model with $new: expected $code ($why), got: $out" ;;
	esac
	[ "$(q 'SELECT 1')" = 1 ] || fail "the server is gone after $model with $new"
	pass "$model: $new refused ($why)"
}

# The unedited artifact evaluates (the edit helper itself changes nothing else).
hex="$(artifact am_log | edit '"task":"classification"' '"task":"classification"')"
[ -n "$(q "SELECT mf._evaluate_run(decode('$hex', 'hex'), 'am_data', 'label', current_user::regrole::oid, 'public') ->> 'accuracy'")" ] ||
	fail "an artifact re-checksummed without edits is refused"
pass "an artifact re-checksummed without edits evaluates"

refused XX001 am_log '"name":"x1"' '"nAme":"x1"' "a schema column lacks its name"
refused XX001 am_log '"kind":"numeric"' '"kind":"numerix"' "a schema column has an unknown kind"
refused XX001 am_log '"kind":"numeric"' '"kind":123456789' "a schema column lacks its kind"
refused XX001 am_log '"labels":["0",' '"labels":[0  ,' "a label is not a string"
refused XX001 am_log '"task":"classification"' '"task":"regression"    ' "the task does not match the family"
refused XX001 am_log '"stds":[0.' '"stds":[-1' "a scaling statistic"
refused XX001 am_log '"labels":["0","1"]' '"labels":["0"    ]' "a classifier without labels"
refused XX001 am_mlp '"num_classes":2' '"num_classes":5' "the mlp's outputs do not match the labels"
refused XX001 am_mlp '"hidden_layers":[4]' '"hidden_layers":[9]' "params do not match the architecture"
refused 22023 am_mlp '"hidden_layers":[4]' '"hidden_layers":[0]' "invalid mlp architecture"
refused 22023 am_mlp '"activation":"relu"' '"activation":"relx"' "unknown activation"

# Random same-length edits that keep the metadata valid JSON (so each one
# reaches the checks of its meaning), given to the evaluator as a bytea and
# to the predictor as the stored artifact of the version (the table is
# updated as superuser, as a restore of a damaged backup would): every call
# returns a result or an error, never a crash.
# Run the SQL file $2 of cases of model $1 (mutation seed $3, through $4):
# each case prints one value or fails.
fuzz_run() {
	local model="$1" file="$2" seed="$3" what="$4" out ok errors
	out="$("$PG_BIN/psql" -X -q -tA -f "$file" 2>&1)" || true
	ok="$(printf '%s\n' "$out" | grep -c '^[tf0-9]$' || true)"
	errors="$(printf '%s\n' "$out" | grep -c '^psql:.*ERROR:' || true)"
	if printf '%s\n' "$out" | grep -q 'server closed the connection\|connection to server was lost'; then
		wait_for_server || true
		fail "a mutated $model artifact crashed the server in $what (seed $seed; cases in $file)"
	fi
	[ $((ok + errors)) = 150 ] || fail "$model, $what: expected 150 outcomes, got $ok results and $errors errors"
	[ "$(q 'SELECT 1')" = 1 ] || fail "the server is gone after the $model mutations ($what)"
	pass "$model: 150 random valid-JSON edits of the metadata (seed $seed) in $what: $ok scored, $errors refused, no crash"
}
for model in am_log am_cat am_mlp; do
	seed="$RANDOM"
	version="$(q "SELECT version_id FROM mf.catalog WHERE ref = '$model:1.0.0'")"
	original="$(artifact "$model")"
	printf '%s' "$original" | python3 -c '
import json, random, struct, sys, zlib
random.seed(int(sys.argv[1]))
b = bytes.fromhex(sys.stdin.read().strip())
n_tensors, meta_len = struct.unpack_from("<II", b, 16)
start = 40 + 88 * n_tensors
meta = b[start:start + meta_len]
alphabet = b"0123456789-.eE,:[]{}\" ntruefalsxyzNIa"
made = 0
while made < 150:
    m = bytearray(meta)
    for _ in range(random.randint(1, 3)):
        m[random.randrange(len(m))] = random.choice(alphabet)
    try:
        json.loads(m.decode())
    except Exception:
        continue
    out = bytearray(b)
    out[start:start + meta_len] = m
    struct.pack_into("<I", out, 36, zlib.crc32(bytes(out[:36]) + bytes(out[40:])))
    print(out.hex())
    made += 1' "$seed" >"$MF_ROOT/build/artifact_fuzz_$model.hex" || fail "could not mutate the $model artifact"
	sed "s/.*/SELECT mf._evaluate_run(decode('&', 'hex'), 'am_data', 'label', current_user::regrole::oid, 'public') IS NOT NULL;/" \
		"$MF_ROOT/build/artifact_fuzz_$model.hex" >"$MF_ROOT/build/artifact_fuzz_$model.sql"
	fuzz_run "$model" "$MF_ROOT/build/artifact_fuzz_$model.sql" "$seed" "mf._evaluate_run"
	sed "s/.*/UPDATE mf.artifacts SET bytes = decode('&', 'hex') WHERE version_id = $version; SELECT count(mf_predict('$model:1.0.0', d)) FROM (SELECT * FROM am_data LIMIT 3) d;/" \
		"$MF_ROOT/build/artifact_fuzz_$model.hex" >"$MF_ROOT/build/artifact_fuzz_predict_$model.sql"
	fuzz_run "$model" "$MF_ROOT/build/artifact_fuzz_predict_$model.sql" "$seed" "mf_predict"
	sql "UPDATE mf.artifacts SET bytes = decode('$original', 'hex') WHERE version_id = $version"
done
