#!/usr/bin/env bash
# A checksummed artifact whose metadata was not written by mf_train (the
# bytes are intact, the JSON says something else) is refused with XX001,
# naming the metadata member at fault, and the server stays up (same
# pg_postmaster_start_time() at the end): by mf._evaluate_run, which anyone
# may call with any bytea, and by every prediction function (mf_predict on
# an array, a record and jsonb, mf_predict_label, mf_predict_proba,
# mf_predict_batch) when such an artifact is stored.  Both loaders read the
# metadata through model/model_meta.c, so they refuse the same artifacts.
# Named edits first (same-length edits of the text, and re-encoded
# artifacts for the two cases of the security review: k-means with 3
# centres marked a 2-label classifier, a linear regression marked a
# classifier), then random ones.
. "$(dirname "$0")/jobs_lib.bash"
wait_for_server || fail "server not reachable"
started="$(q 'SELECT pg_postmaster_start_time()')"
sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
sql "DROP TABLE IF EXISTS am_data; CREATE TABLE am_data AS
     SELECT (i % 13) / 13.0 AS x1, (i % 7) / 7.0 AS x2, ((i % 13) / 13.0 > (i % 7) / 7.0)::int AS label,
            (ARRAY['red', 'green', NULL])[1 + i % 3] AS colour
       FROM generate_series(1, 400) i"
for m in am_log am_mlp am_cat am_lin am_km; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'"; done
sql "SELECT mf_create_model('{\"name\": \"am_log\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_create_model('{\"name\": \"am_mlp\", \"family\": \"mlp\", \"hidden_layers\": [4]}')"
sql "SELECT mf_create_model('{\"name\": \"am_cat\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('am_log', 'am_data', 'label', '{\"features\": [\"x1\", \"x2\"]}')"
sql "SELECT mf_train('am_cat', 'am_data', 'label')"
sql "SELECT mf_train('am_mlp', 'am_data', 'label', '{\"epochs\": 2, \"features\": [\"x1\", \"x2\"]}')"
sql "SELECT mf_create_model('{\"name\": \"am_lin\", \"family\": \"linear_regression\"}')"
sql "SELECT mf_train('am_lin', 'am_data', 'label', '{\"features\": [\"x1\", \"x2\"], \"standardize\": true}')"
sql "SELECT mf_create_model('{\"name\": \"am_km\", \"family\": \"kmeans\", \"k\": 3}')"
sql "SELECT mf_train('am_km', 'am_data', NULL, '{\"features\": [\"x1\", \"x2\"], \"test_size\": 0}')"

# The artifact of a model as hex.
artifact() { q "SELECT encode(a.bytes, 'hex') FROM mf.artifacts a JOIN mf.catalog c USING (version_id) WHERE c.ref = '$1:1.0.0'"; }

# The artifact as trained (kept before any edit is stored).
declare -A ORIGINAL
for m in am_log am_mlp am_cat am_lin am_km; do ORIGINAL[$m]="$(artifact "$m")"; done
original_of() { printf '%s' "${ORIGINAL[$1]}"; }

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

# The artifact (hex on stdin) with its metadata rewritten by the Python
# statements $1 (on the parsed object m) and laid out again: any length.
rewrite() {
	python3 -c '
import json, struct, sys, zlib
b = bytes.fromhex(sys.stdin.read().strip())
n, meta_len = struct.unpack_from("<II", b, 16)
start = 40 + 88 * n
m = json.loads(b[start:start + meta_len])
exec(sys.argv[1])
meta = json.dumps(m, sort_keys=True, separators=(",", ":")).encode()
out = bytearray(b[:start]) + meta
tensors = [b[o:o + nb] for o, nb in (struct.unpack_from("<QQ", b, 40 + 88 * i + 72) for i in range(n))]
for i, t in enumerate(tensors):
    out += bytes(-len(out) % 8)
    struct.pack_into("<Q", out, 40 + 88 * i + 72, len(out))
    out += t
out += bytes(-len(out) % 8)
struct.pack_into("<I", out, 20, len(meta))
struct.pack_into("<Q", out, 24, len(out))
struct.pack_into("<I", out, 36, zlib.crc32(bytes(out[:36]) + bytes(out[40:])))
print(out.hex())' "$1"
}

# The SQL of every prediction function on model $1 (rows of its width).
predict_calls() {
	local ref="$1:1.0.0" row="0.5, 0.25" row2="0.1, 0.9"
	[ "$1" = am_cat ] && row="0.5, 0.25, 0, 1" && row2="0.1, 0.9, 1, 0"
	printf '%s\n' \
		"SELECT mf_predict('$ref', ARRAY[$row]::float8[]) IS NOT NULL;" \
		"SELECT count(mf_predict('$ref', d)) FROM (SELECT * FROM am_data LIMIT 3) d;" \
		"SELECT mf_predict_label('$ref', ARRAY[$row]::float8[]) IS NOT NULL;" \
		"SELECT array_length(mf_predict_proba('$ref', ARRAY[$row]::float8[]), 1) >= 2;" \
		"SELECT array_length(mf_predict_batch('$ref', ARRAY[[$row], [$row2]]::float8[]), 1) = 2;" \
		"SELECT mf_predict('$ref', '{\"x1\": 0.5, \"x2\": 0.25, \"colour\": \"red\"}'::jsonb) ? 'prediction';"
}

# The artifact hex $3 of model $2 is refused with SQLSTATE $1 and an
# errdetail containing $4: by the evaluator, and, once stored as the
# version's artifact, by every prediction function; $5 names the case.
refused_hex() {
	local code="$1" model="$2" hex="$3" why="$4" what="$5" out version call
	out="$("$PG_BIN/psql" -X -q -tA -v VERBOSITY=verbose -c "SELECT mf._evaluate_run(decode('$hex', 'hex'), 'am_data', 'label', current_user::regrole::oid, 'public')" 2>&1)" &&
		fail "$model with $what was evaluated: $out"
	case "$out" in
		*"ERROR:  $code: "*"DETAIL:  "*"$why"*) ;;
		*) wait_for_server || true; fail "$model with $what: expected $code ($why) from the evaluator, got: $out" ;;
	esac
	version="$(q "SELECT version_id FROM mf.catalog WHERE ref = '$model:1.0.0'")"
	sql "UPDATE mf.artifacts SET bytes = decode('$hex', 'hex') WHERE version_id = $version"
	while IFS= read -r call; do
		out="$("$PG_BIN/psql" -X -q -tA -v VERBOSITY=verbose -c "$call" 2>&1)" &&
			fail "$model with $what: $call answered $out"
		case "$out" in
			*"ERROR:  $code: "*"DETAIL:  "*"$why"*) ;;
			*) wait_for_server || true; fail "$model with $what: expected $code ($why) from $call, got: $out" ;;
		esac
	done < <(predict_calls "$model")
	sql "UPDATE mf.artifacts SET bytes = decode('$(original_of "$model")', 'hex') WHERE version_id = $version"
	[ "$(q 'SELECT 1')" = 1 ] || fail "the server is gone after $model with $what"
	pass "$model: $what refused ($code, $why) by the evaluator and the 6 prediction calls"
}

# The same-length edit old -> new of model $2's metadata is refused (see refused_hex).
refused() {
	local code="$1" model="$2" old="$3" new="$4" why="$5" hex
	hex="$(original_of "$model" | edit "$old" "$new")" || fail "could not edit the $model artifact"
	refused_hex "$code" "$model" "$hex" "$why" "$new"
}

# The unedited artifact evaluates (the edit helper itself changes nothing else).
hex="$(artifact am_log | edit '"task":"classification"' '"task":"classification"')"
[ -n "$(q "SELECT mf._evaluate_run(decode('$hex', 'hex'), 'am_data', 'label', current_user::regrole::oid, 'public') ->> 'accuracy'")" ] ||
	fail "an artifact re-checksummed without edits is refused"
pass "an artifact re-checksummed without edits evaluates"

refused XX001 am_log '"name":"x1"' '"nAme":"x1"' 'member "columns[0].name"'
refused XX001 am_log '"kind":"numeric"' '"kind":"numerix"' 'member "columns[0].kind"'
refused XX001 am_log '"kind":"numeric"' '"kind":123456789' 'member "columns[0].kind"'
refused XX001 am_log '"labels":["0",' '"labels":[0  ,' 'member "labels"'
refused XX001 am_log '"task":"classification"' '"task":"regression"    ' 'member "task"'
refused XX001 am_log '"stds":[0.' '"stds":[-1' 'member "stds"'
refused XX001 am_log '"labels":["0","1"]' '"labels":["0"    ]' 'member "labels"'
refused XX001 am_mlp '"num_classes":2' '"num_classes":5' 'member "model.num_classes"'
refused XX001 am_mlp '"hidden_layers":[4]' '"hidden_layers":[9]' 'member "model.hidden_layers"'
refused XX001 am_mlp '"hidden_layers":[4]' '"hidden_layers":[0]' 'member "model.hidden_layers"'
refused XX001 am_mlp '"activation":"relu"' '"activation":"relx"' 'member "model.activation"'
refused XX001 am_cat '"categories":["green","red"]' '"categories":["red","green"]' 'member "columns[2].categories"'

# The two cases of the security review, and their neighbours.
refused_hex XX001 am_km "$(original_of am_km | rewrite 'm["task"] = "classification"; m["labels"] = ["0", "1"]')" \
	'member "task"' "k-means with 3 centres marked a classifier with 2 labels"
refused_hex XX001 am_km "$(original_of am_km | rewrite 'm["labels"] = ["0", "1"]')" \
	'member "labels"' "k-means with 2 labels"
refused_hex XX001 am_km "$(original_of am_km | rewrite 'm["model"]["k"] = 2')" \
	'member "model.k"' "k-means with 3 centres and k = 2"
refused_hex XX001 am_lin "$(original_of am_lin | rewrite 'm["task"] = "classification"; m["labels"] = ["0", "1"]')" \
	'member "task"' "a linear regression marked a classifier"
refused_hex XX001 am_log "$(original_of am_log | rewrite 'm["labels"] = ["0", "1", "2"]')" \
	'member "model.multinomial"' "a binary logistic regression with 3 labels"
refused_hex XX001 am_mlp "$(original_of am_mlp | rewrite 'm["labels"] = ["0", "1", "2"]; m["model"]["num_classes"] = 3')" \
	'member "model.hidden_layers"' "an mlp with 2 outputs and 3 labels"
refused_hex XX001 am_lin "$(original_of am_lin | rewrite 'm["means"] = m["means"][:1]')" \
	'member "means"' "a linear regression with one mean for two features"

# A re-encoded artifact without edits still predicts as before.
for m in am_km am_lin am_log; do
	version="$(q "SELECT version_id FROM mf.catalog WHERE ref = '$m:1.0.0'")"
	before="$(q "SELECT string_agg(mf_predict('$m:1.0.0', d)::text, ',') FROM am_data d")"
	sql "UPDATE mf.artifacts SET bytes = decode('$(original_of "$m" | rewrite 'pass')', 'hex') WHERE version_id = $version"
	after="$(q "SELECT string_agg(mf_predict('$m:1.0.0', d)::text, ',') FROM am_data d")"
	sql "UPDATE mf.artifacts SET bytes = decode('$(original_of "$m")', 'hex') WHERE version_id = $version"
	[ "$before" = "$after" ] || fail "$m: the re-encoded artifact predicts differently"
	pass "$m: a re-encoded artifact without edits predicts the same 400 values"
done

# Random same-length edits that keep the metadata valid JSON (so each one
# reaches the checks of its meaning), given to the evaluator as a bytea and
# to every prediction function as the stored artifact of the version (the
# table is updated as superuser, as a restore of a damaged backup would):
# every call returns a correct-looking result (each query below is true
# for any model it accepts) or an error other than XX000, never a crash.
# Run the SQL file $2 of $5 cases of model $1 (mutation seed $3, through $4).
fuzz_run() {
	local model="$1" file="$2" seed="$3" what="$4" expected="$5" out ok wrong errors internal
	out="$("$PG_BIN/psql" -X -q -tA -v VERBOSITY=verbose -f "$file" 2>&1)" || true
	ok="$(printf '%s\n' "$out" | grep -c '^\(t\|[0-9]\)$' || true)"
	wrong="$(printf '%s\n' "$out" | grep -c '^f$' || true)"
	errors="$(printf '%s\n' "$out" | grep -c '^psql:.*ERROR:' || true)"
	internal="$(printf '%s\n' "$out" | grep '^psql:.*ERROR:  XX000' | head -3 || true)"
	if printf '%s\n' "$out" | grep -q 'server closed the connection\|connection to server was lost'; then
		wait_for_server || true
		fail "a mutated $model artifact crashed the server in $what (seed $seed; cases in $file)"
	fi
	[ -z "$internal" ] || fail "$model, $what: internal errors (seed $seed; cases in $file): $internal"
	[ "$wrong" = 0 ] || fail "$model, $what: $wrong wrong answers (seed $seed; cases in $file)"
	[ $((ok + errors)) = "$expected" ] || fail "$model, $what: expected $expected outcomes, got $ok results and $errors errors"
	[ "$(q 'SELECT 1')" = 1 ] || fail "the server is gone after the $model mutations ($what)"
	pass "$model: 150 random valid-JSON edits of the metadata (seed $seed) in $what: $ok answered, $errors refused, no crash"
}
n_calls="$(predict_calls am_log | wc -l)"
for model in am_log am_cat am_mlp am_lin am_km; do
	seed="$RANDOM"
	version="$(q "SELECT version_id FROM mf.catalog WHERE ref = '$model:1.0.0'")"
	original_of "$model" | python3 -c '
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
	fuzz_run "$model" "$MF_ROOT/build/artifact_fuzz_$model.sql" "$seed" "mf._evaluate_run" 150
	calls="$(predict_calls "$model" | tr '\n' ' ' | sed 's/[&/\\]/\\&/g')"
	sed "s/.*/UPDATE mf.artifacts SET bytes = decode('&', 'hex') WHERE version_id = $version; $calls/" \
		"$MF_ROOT/build/artifact_fuzz_$model.hex" >"$MF_ROOT/build/artifact_fuzz_predict_$model.sql"
	fuzz_run "$model" "$MF_ROOT/build/artifact_fuzz_predict_$model.sql" "$seed" "the $n_calls prediction calls" $((150 * n_calls))
	sql "UPDATE mf.artifacts SET bytes = decode('$(original_of "$model")', 'hex') WHERE version_id = $version"
done
[ "$(q 'SELECT pg_postmaster_start_time()')" = "$started" ] || fail "the server restarted during the test"
pass "the postmaster was never restarted (started $started)"
