#!/usr/bin/env bash
# Differential test of the model module (model/model.c) against the SQL
# prediction functions: one model per family is trained with mf_train
# (linear regression, binary and 3-class logistic regression, an MLP
# classifier with tanh, an MLP regressor with ReLU, k-means), its artifact
# bytes are exported, and the same rows (NULL in every kind of column, an
# unseen category, a non-ASCII category, numbers of several types) are
# scored by build/unit/model_score_cli through the module alone and by
# mf_predict / mf_predict_label / mf_predict_proba on the record (table row),
# jsonb, array and argument forms (the last two on the features the module
# encoded), and by mf_predict_batch against the module's batch scorer.
# Values and probabilities are compared as the hex of their bits
# (float8send): they must be equal bit for bit.
. "$(dirname "$0")/jobs_lib.bash"
wait_for_server || fail "server not reachable"
make -s -C "$MF_ROOT" build/unit/model_score_cli >/dev/null || fail "model_score_cli does not build"
CLI="$MF_ROOT/build/unit/model_score_cli"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
sql "DROP TABLE IF EXISTS mm_train, mm_score"
sql "CREATE TABLE mm_train AS
     SELECT i AS id,
            CASE WHEN i % 17 = 0 THEN NULL ELSE (i % 13) / 6.5 - 1 END::float8 AS x1,
            (i % 7)::int AS x2,
            CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END AS flag,
            (ARRAY['red', 'grün', 'blue', NULL])[1 + i % 4] AS colour,
            round(((i % 13) / 6.5 - 1 + (i % 7) / 7.0)::numeric, 2) AS y_num,
            CASE WHEN (i % 13) / 6.5 - 1 + 0.2 * (i % 4) > 0 THEN 'yes' ELSE 'no' END AS y_bin,
            (1 + (i % 3 + i % 5) % 3)::int AS y_three
       FROM generate_series(1, 300) i"
sql "CREATE TABLE mm_score AS
     SELECT id, x1, x2, flag, colour FROM mm_train WHERE id <= 40
     UNION ALL VALUES (1001, NULL::float8, 3, NULL::bool, NULL::text),
                      (1002, 0.123456789, -4, true, 'purple'),
                      (1003, -2.5e3, 0, false, 'gr'),
                      (1004, 1e-300, 100000, true, 'grün'),
                      (1005, 0.1, 2, NULL, 'Red')"

MODELS=(mm_lin mm_log mm_log3 mm_mlp mm_mlpr mm_km)
for m in "${MODELS[@]}"; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'"; done
SRC='SELECT x1, x2, flag, colour, y_num, y_bin, y_three FROM mm_train'
train() { # name family-config target options
	sql "SELECT mf_create_model('$2'::jsonb || '{\"name\": \"$1\"}')"
	sql "SELECT mf_train('$1', '$SRC', $3, '{\"features\": [\"x1\", \"x2\", \"flag\", \"colour\"]$4}')"
}
train mm_lin '{"family": "linear_regression"}' "'y_num'" ', "standardize": true'
train mm_log '{"family": "logistic_regression"}' "'y_bin'" ''
train mm_log3 '{"family": "logistic_regression"}' "'y_three'" ''
train mm_mlp '{"family": "mlp", "hidden_layers": [6, 5], "activation": "tanh"}' "'y_bin'" ', "epochs": 5'
train mm_mlpr '{"family": "mlp", "task": "regression", "hidden_layers": [7]}' "'y_num'" ', "epochs": 5'
train mm_km '{"family": "kmeans", "k": 3}' NULL ', "test_size": 0'

q "SELECT jsonb_agg(to_jsonb(s) - 'id' ORDER BY id) FROM mm_score s" >"$TMP/rows.json"
NROWS="$(q 'SELECT count(*) FROM mm_score')"

# The hex of a float8 expression's bits.
hex() { printf "encode(float8send(%s), 'hex')" "$1"; }

total=0
for m in "${MODELS[@]}"; do
	q "SELECT encode(a.bytes, 'hex') FROM mf.artifacts a JOIN mf.catalog c USING (version_id)
	   WHERE c.ref = '$m:1.0.0'" | xxd -r -p >"$TMP/$m.art"
	[ -s "$TMP/$m.art" ] || fail "$m: no artifact"
	"$CLI" "$TMP/$m.art" "$TMP/rows.json" >"$TMP/$m.module" || fail "$m: model_score_cli failed"
	if grep -q '"kind":"class"' <<<"$("$CLI" "$TMP/$m.art" --describe)"; then
		label="mf_predict_label('$m', s)"
		proba="array_to_string(ARRAY(SELECT $(hex u) FROM unnest(mf_predict_proba('$m', s)) u), ',')"
	else
		label="'-'"
		proba="'-'"
	fi
	# the record form (rewritten by the planner into the column form)
	q "SELECT $(hex "mf_predict('$m', s)") || ' ' || $label || ' ' || $proba FROM mm_score s ORDER BY id" \
		>"$TMP/$m.sql" 2>"$TMP/$m.err" || { cat "$TMP/$m.err" >&2; fail "$m: SQL scoring failed"; }
	# the record form without the rewrite (a whole-row value from a subquery)
	q "SELECT $(hex "mf_predict('$m', r)") FROM (SELECT s AS r, s.id FROM mm_score s OFFSET 0) z ORDER BY id" \
		>"$TMP/$m.rec"
	# the jsonb form
	q "SELECT $(hex "(mf_predict('$m', to_jsonb(s) - 'id') ->> 'prediction')::float8") FROM mm_score s ORDER BY id" \
		>"$TMP/$m.json"
	[ "$(wc -l <"$TMP/$m.module")" -eq "$NROWS" ] || fail "$m: the module scored $(wc -l <"$TMP/$m.module") of $NROWS rows"
	# value, label, probabilities (the class index is the label's position)
	awk '{ print $1, $3, $4 }' "$TMP/$m.module" >"$TMP/$m.cmp"
	if ! diff "$TMP/$m.cmp" "$TMP/$m.sql" >"$TMP/$m.diff"; then
		head -n 20 "$TMP/$m.diff" >&2
		fail "$m: the module and mf_predict/_label/_proba differ"
	fi
	cut -d' ' -f1 "$TMP/$m.module" >"$TMP/$m.values"
	diff -q "$TMP/$m.values" "$TMP/$m.json" >/dev/null || fail "$m: the module and mf_predict(ref, jsonb) differ"
	diff -q "$TMP/$m.values" "$TMP/$m.rec" >/dev/null || fail "$m: the module and the record form differ"
	# the array form (a float8[] value), the argument form (ARRAY[...], which
	# the planner rewrites into mf._predict_args) and mf_predict_batch, on the
	# features the module encoded (printed exactly) against the module's scores
	"$CLI" "$TMP/$m.art" "$TMP/rows.json" --encoded >"$TMP/$m.enc" || fail "$m: encoding failed"
	! grep -q '^error' "$TMP/$m.enc" || fail "$m: the module refused a row: $(grep -m1 '^error' "$TMP/$m.enc")"
	awk '{ printf "%d\t{%s}\n", NR, substr($0, 2, length($0) - 2) }' "$TMP/$m.enc" >"$TMP/$m.copy"
	sql "DROP TABLE IF EXISTS mm_enc"
	sql "CREATE TABLE mm_enc (n int, x float8[])"
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -c "\\copy mm_enc FROM '$TMP/$m.copy'" || fail "$m: copy failed"
	p="$(q 'SELECT array_length(x, 1) FROM mm_enc LIMIT 1')"
	args="ARRAY[$(seq -s, 1 "$p" | sed 's/\([0-9]\+\)/e.x[\1]/g')]"
	for form in "e.x" "$args"; do
		l="'-'"
		pr="'-'"
		if [ "$label" != "'-'" ]; then
			l="mf_predict_label('$m', $form)"
			pr="array_to_string(ARRAY(SELECT $(hex u) FROM unnest(mf_predict_proba('$m', $form)) u), ',')"
		fi
		sel="SELECT $(hex "mf_predict('$m', $form)") || ' ' || $l || ' ' || $pr FROM mm_enc e ORDER BY n"
		q "$sel" >"$TMP/$m.arr"
		diff -q "$TMP/$m.cmp" "$TMP/$m.arr" >/dev/null || fail "$m: the module and the form $form differ"
	done
	q "EXPLAIN (VERBOSE, COSTS OFF) SELECT mf_predict('$m', $args), mf_predict_label('$m', $args) FROM mm_enc e" |
		grep -q '_predict_label_args' || fail "$m: ARRAY[...] was not rewritten into the argument form"
	"$CLI" "$TMP/$m.art" "$TMP/rows.json" --batch >"$TMP/$m.batch" || fail "$m: batch scoring failed"
	q "SELECT $(hex v) FROM unnest(mf_predict_batch('$m', (SELECT array_agg(x ORDER BY n) FROM mm_enc)))
	   WITH ORDINALITY u(v, o) ORDER BY o" >"$TMP/$m.sqlbatch"
	diff -q "$TMP/$m.batch" "$TMP/$m.sqlbatch" >/dev/null || fail "$m: the module's batch and mf_predict_batch differ"
	if [ "$m" = mm_km ]; then
		awk '{ print $2 }' "$TMP/$m.module" | paste -d' ' - <(q "SELECT mf_predict('$m', s)::int FROM mm_score s ORDER BY id") |
			awk '$1 != $2 { bad = 1 } END { exit bad }' || fail "$m: cluster numbers differ"
	fi
	pass "$m: $NROWS rows bit for bit (value, class, label, probabilities; record, column, jsonb, array and argument forms; mf_predict_batch)"
	total=$((total + NROWS))
done

# The description names the inputs and the outputs.
desc="$("$CLI" "$TMP/mm_log3.art" --describe)"
case "$desc" in
*'"labels":["1","2","3"]'*'"standardize":true'*) pass "description of mm_log3" ;;
*) fail "description of mm_log3: $desc" ;;
esac
for m in "${MODELS[@]}"; do sql "SELECT mf_drop_model('$m')"; done
sql "DROP TABLE mm_train, mm_score, mm_enc"
pass "$total rows compared"
