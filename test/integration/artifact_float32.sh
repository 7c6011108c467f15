#!/usr/bin/env bash
# Transformer weights as float32 (artifact format 2) and the transformer
# versions stored before (format 1, float64): a small encoder classifier and
# a small decoder are trained twice with one seed (the same weights); the
# first version of each is then given the format-1 artifact of its weights
# (build/unit/artifact_cli widen: what mf_ext 0.5.0 stored for them), as an
# upgrade finds it.  Checked: mf_train writes format 2 with float32 params
# (format_version column and header agree) about half the size; both
# versions answer mf_predict_proba, mf_predict_label, mf_embed (bits of
# every value) and mf_generate (greedy and sampled with a seed) the same;
# mf._artifact_tensors gives the same JSON for both; mf-serve serves both
# versions exported by mf_export_model with equal bodies and stays alive.
. "$(dirname "$0")/jobs_lib.bash"
wait_for_server || fail "server not reachable"
make -s -C "$MF_ROOT" build/unit/artifact_cli build/mf-serve >/dev/null || fail "artifact_cli or mf-serve does not build"
CLI="$MF_ROOT/build/unit/artifact_cli"
TMP="$(mktemp -d)"
SERVE_PID=
cleanup() {
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
for m in af_cls af_lm; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'"; done
sql "DROP TABLE IF EXISTS af_titles"
sql "CREATE TABLE af_titles (title text, category text)"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
	-c "\\copy af_titles FROM '$MF_ROOT/test/data/product_titles.csv' WITH (FORMAT csv, HEADER true)" ||
	fail "cannot load product_titles.csv"
sql "SELECT mf_create_model('transformer_encoder_classifier',
     '{\"name\": \"af_cls\", \"d_model\": 16, \"num_layers\": 1, \"num_heads\": 2, \"d_ff\": 2, \"dropout\": 0.0,
       \"vocab_size\": 120, \"max_length\": 16, \"num_classes\": 4}')"
sql "SELECT mf_create_model('transformer_decoder_lm',
     '{\"name\": \"af_lm\", \"d_model\": 16, \"num_layers\": 1, \"num_heads\": 2, \"d_ff\": 2, \"vocab_size\": 120,
       \"max_length\": 16}')"
for _ in 1 2; do
	sql "SELECT mf_train('af_cls', 'af_titles', 'category', '{\"text_column\": \"title\", \"epochs\": 1, \"seed\": 11}')"
	sql "SELECT mf_train('af_lm', 'af_titles', NULL, '{\"text_column\": \"title\", \"epochs\": 1, \"seed\": 11}')"
done

# ref -> the version_id; the artifact bytes of a version into a file
vid() { q "SELECT version_id FROM mf.catalog WHERE ref = '$1'"; }
bytes() { q "SELECT encode(bytes, 'base64') FROM mf.artifacts WHERE version_id = $1" | base64 -d >"$2"; }

for m in af_cls af_lm; do
	old="$(vid "$m:1.0.0")"
	new="$(vid "$m:1.1.0")"
	[ -n "$old" ] && [ -n "$new" ] || fail "$m: two versions expected"
	bytes "$new" "$TMP/$m.v2.mfa"
	info="$("$CLI" info "$TMP/$m.v2.mfa")" || fail "$m: the new artifact does not open"
	[ "$(q "SELECT format_version FROM mf.artifacts WHERE version_id = $new")" = 2 ] &&
		[ "$(printf '%s\n' "$info" | sed -n 1p)" = "version 2" ] &&
		printf '%s\n' "$info" | grep -q '^params float32 ' ||
		fail "$m: mf_train did not write format 2 with float32 params: $info"
	"$CLI" widen "$TMP/$m.v2.mfa" "$TMP/$m.v1.mfa" || fail "$m: widen failed"
	[ "$("$CLI" info "$TMP/$m.v1.mfa" | sed -n 1p)" = "version 1" ] || fail "$m: widened artifact is not format 1"
	n="$(printf '%s\n' "$info" | awk '$1 == "params" {print $3}')"
	s1="$(stat -c %s "$TMP/$m.v1.mfa")"
	s2="$(stat -c %s "$TMP/$m.v2.mfa")"
	[ $((s1 - s2)) -ge $((4 * n - 4)) ] && [ $((s1 - s2)) -le $((4 * n + 4)) ] ||
		fail "$m: float32 artifact $s2 bytes, float64 $s1, for $n floats"
	# the first version now holds what an upgrade finds: format 1, the same weights as float64
	base64 -w0 "$TMP/$m.v1.mfa" >"$TMP/$m.v1.b64"
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<-SQL || fail "$m: cannot store the format-1 artifact"
		\\set b64 \`cat $TMP/$m.v1.b64\`
		UPDATE mf.artifacts SET format_version = 1, bytes = decode(:'b64', 'base64') WHERE version_id = $old;
	SQL
	[ "$(q "SELECT format_version || ' ' || size_bytes FROM mf.artifacts WHERE version_id = $old")" = "1 $s1" ] ||
		fail "$m: format-1 artifact not stored"
	pass "$m: trained as format 2 (float32 params, $s2 bytes; format 1 of the same weights: $s1 bytes)"
done

# The same answers from both versions, bit for bit (float8send of every value).
bits() { printf "(SELECT string_agg(encode(float8send(x::float8), 'hex'), ',') FROM unnest(%s) x)" "$1"; }
diffs="$(q "SELECT count(*) FROM (SELECT title FROM af_titles ORDER BY title LIMIT 60) t
            WHERE $(bits "mf_predict_proba('af_cls:1.0.0', title)") IS DISTINCT FROM $(bits "mf_predict_proba('af_cls:1.1.0', title)")
               OR mf_predict_label('af_cls:1.0.0', title) IS DISTINCT FROM mf_predict_label('af_cls:1.1.0', title)
               OR $(bits "mf_embed('af_cls:1.0.0', title)") IS DISTINCT FROM $(bits "mf_embed('af_cls:1.1.0', title)")")"
[ "$diffs" = 0 ] || fail "classifier: $diffs of 60 titles answered differently by the format-1 version"
[ "$(q "SELECT count(DISTINCT $(bits "mf_predict_proba('af_cls:1.0.0', title)")) FROM af_titles")" -gt 1 ] ||
	fail "classifier: every title has the same probabilities (nothing compared)"
pass "classifier: format 1 and format 2 give the same probabilities, labels and embeddings for 60 titles, bit for bit"

diffs="$(q "SELECT count(*) FROM (VALUES ('Vesta'), ('Alto eco'), (''), ('Zephyr cast')) p(t), (VALUES
              ('{\"max_tokens\": 6}'::jsonb), ('{\"max_tokens\": 6, \"temperature\": 0.9, \"seed\": 3}')) o(opt)
            WHERE mf_generate('af_lm:1.0.0', t, opt) IS DISTINCT FROM mf_generate('af_lm:1.1.0', t, opt)")"
[ "$diffs" = 0 ] || fail "decoder: $diffs of 8 generations differ between the formats"
pass "decoder: format 1 and format 2 generate the same texts (greedy and sampled with a seed)"

[ "$(q "SELECT count(DISTINCT md5(mf._artifact_tensors(bytes)::text)) FROM mf.artifacts a
         JOIN mf.catalog c USING (version_id) WHERE c.model = 'af_cls'")" = 1 ] ||
	fail "mf._artifact_tensors differs between the formats"
pass "mf._artifact_tensors gives the same JSON for both formats"

# mf-serve: both versions of the classifier from one model directory.
mkdir -p "$TMP/models"
for v in 1.0.0 1.1.0; do
	q "SELECT encode(mf_export_model('af_cls:$v'), 'base64')" | base64 -d | tar -x -C "$TMP/models" ||
		fail "export of af_cls:$v failed"
done
PORT="$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$MF_ROOT/build/mf-serve" --model-base-path "$TMP/models" --host 127.0.0.1 --port "$PORT" --threads 1 2>"$TMP/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v2/models/af_cls/ready" >/dev/null && break; sleep 0.1; done
body='{"instances": ["Vesta laptop stand", "Brisa mini cotton t-shirt", "", "Zephyr cast iron frying pan"]}'
declare -A got
for v in $(q "SELECT version_id FROM mf.catalog WHERE model = 'af_cls' ORDER BY version_id"); do
	code="$(curl -s -o "$TMP/answer.$v" -w '%{http_code}' -X POST -d "$body" \
		"http://127.0.0.1:$PORT/v1/models/af_cls/versions/$v:predict")"
	[ "$code" = 200 ] && grep -q '"probabilities"' "$TMP/answer.$v" ||
		fail "mf-serve version $v: HTTP $code $(head -c 300 "$TMP/answer.$v"; cat "$TMP/serve.log")"
	got[$v]="$(cat "$TMP/answer.$v")"
done
[ "${#got[@]}" = 2 ] && [ "$(printf '%s\n' "${got[@]}" | sort -u | wc -l)" = 1 ] ||
	fail "mf-serve answers differ between the format-1 and format-2 versions"
curl -sf "http://127.0.0.1:$PORT/v2/health/live" >/dev/null || fail "mf-serve is not alive afterwards"
pass "mf-serve serves the format-1 and the format-2 version with the same answers, and is alive"

for m in af_cls af_lm; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'"; done
sql "DROP TABLE af_titles"
