#!/usr/bin/env bash
# A transformer encoder classifier trained from SQL on balanced brackets
# (issue 17): the data are generated here in SQL with a seed (strings of
# length 2..32, half balanced, a quarter shuffles of a balanced string, a
# quarter one flipped bracket: only the order tells), the model comes from
# the transformer_encoder_classifier template shrunk to d_model 32, two
# layers, a character tokenizer; mf_train must reach >= 97 % accuracy on
# 500 fresh strings drawn with another seed (as the kernel's unit test
# does; short strings recur, so some were also drawn for training), through mf_predict_label(ref, text) and the
# record form alike; mf_embed returns d_model floats; the text forms refuse
# a tabular model and the tabular forms a text model.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'tf_brackets'"
sql "DROP TABLE IF EXISTS tf_brackets_train, tf_brackets_test"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE FUNCTION pg_temp.dyck(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text := ''; open_left int := n; depth int := 0;
BEGIN
	FOR i IN 1..2 * n LOOP
		IF open_left > 0 AND (depth = 0 OR random() < 0.5) THEN
			s := s || '('; open_left := open_left - 1; depth := depth + 1;
		ELSE
			s := s || ')'; depth := depth - 1;
		END IF;
	END LOOP;
	RETURN s;
END $$;
CREATE FUNCTION pg_temp.balanced(s text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE depth int := 0;
BEGIN
	FOR i IN 1..length(s) LOOP
		depth := depth + CASE substr(s, i, 1) WHEN '(' THEN 1 ELSE -1 END;
		IF depth < 0 THEN RETURN false; END IF;
	END LOOP;
	RETURN depth = 0;
END $$;
CREATE FUNCTION pg_temp.example() RETURNS text LANGUAGE plpgsql AS $$
DECLARE n int := 1 + floor(random() * 16)::int; kind int := floor(random() * 4)::int; s text; i int;
BEGIN
	s := pg_temp.dyck(n);
	IF kind = 2 THEN
		s := (SELECT string_agg(c, '' ORDER BY random()) FROM regexp_split_to_table(s, '') c);
	ELSIF kind = 3 THEN
		i := 1 + floor(random() * 2 * n)::int;
		s := overlay(s PLACING CASE substr(s, i, 1) WHEN '(' THEN ')' ELSE '(' END FROM i FOR 1);
	END IF;
	RETURN s;
END $$;
SELECT setseed(0.17);
CREATE TABLE tf_brackets_train AS
SELECT g AS id, s AS text, CASE WHEN pg_temp.balanced(s) THEN 'balanced' ELSE 'unbalanced' END AS label
  FROM (SELECT g, pg_temp.example() AS s FROM generate_series(1, 6000) g) x;
SELECT setseed(0.71);
CREATE TABLE tf_brackets_test AS
SELECT g AS id, s AS text, CASE WHEN pg_temp.balanced(s) THEN 'balanced' ELSE 'unbalanced' END AS label
  FROM (SELECT g, pg_temp.example() AS s FROM generate_series(1, 500) g) x;
SQL
[ "$(q "SELECT count(*) = 500 AND count(*) FILTER (WHERE label = 'balanced') BETWEEN 150 AND 350 FROM tf_brackets_test")" = t ] ||
	fail "test strings: $(q "SELECT label, count(*) FROM tf_brackets_test GROUP BY 1")"
pass "6000 training and 500 test strings generated in SQL with two seeds ($(q "SELECT count(*) FROM tf_brackets_test WHERE text NOT IN (SELECT text FROM tf_brackets_train)") of them not in the training set)"

sql "SELECT mf_create_model('transformer_encoder_classifier',
       '{\"name\": \"tf_brackets\", \"d_model\": 32, \"num_layers\": 2, \"num_heads\": 4, \"d_ff\": 2, \"dropout\": 0.0,
         \"vocab_size\": 16, \"max_length\": 40, \"num_classes\": 2}')"
t0="$(date +%s)"
[ "$(q "SELECT mf_train('tf_brackets', 'tf_brackets_train', 'label',
          '{\"text_column\": \"text\", \"tokenizer\": \"char\", \"epochs\": 12, \"test_size\": 0.05, \"early_stopping\": false, \"learning_rate\": 0.003,
            \"optimizer\": \"adamw\", \"lr_schedule\": \"cosine\", \"weight_decay\": 0.01}')")" = tf_brackets:1.0.0 ] ||
	fail "mf_train did not return tf_brackets:1.0.0"
echo "# trained in $(($(date +%s) - t0)) s: $(q "SELECT metrics - 'history' FROM mf.catalog WHERE ref = 'tf_brackets:1.0.0'")"
acc="$(q "SELECT round(avg((mf_predict_label('tf_brackets', text) = label)::int), 4) FROM tf_brackets_test")"
echo "# accuracy on the 500 test strings: $acc, on those not in the training set: $(q "SELECT round(avg((mf_predict_label('tf_brackets', text) = label)::int), 4) FROM tf_brackets_test WHERE text NOT IN (SELECT text FROM tf_brackets_train)")"
[ "$(q "SELECT $acc >= 0.97")" = t ] || fail "accuracy $acc < 0.97"
pass "balanced brackets: $acc >= 0.97 on fresh strings through mf_predict_label(ref, text)"
[ "$(q "SELECT bool_and(mf_predict_label('tf_brackets', t) = mf_predict_label('tf_brackets', t.text)
                  AND mf_predict('tf_brackets', t) = mf_predict('tf_brackets', t.text)
                  AND abs((SELECT sum(p) FROM unnest(mf_predict_proba('tf_brackets', t)) p) - 1) < 1e-9
                  AND mf_predict_label('tf_brackets', t) =
                      (mf_get_model('tf_brackets') #>> ARRAY['feature_schema', 'labels', mf_predict('tf_brackets', t.text)::int::text]))
          FROM tf_brackets_test t WHERE id <= 100")" = t ] || fail "record form and text form disagree"
pass "record form = text form; mf_predict is the label's index; probabilities sum to 1"
[ "$(q "SELECT array_length(mf_embed('tf_brackets', '(()())'), 1) = 32
          AND mf_embed('tf_brackets', '(()())') = mf_embed('tf_brackets', '(()())')
          AND mf_embed('tf_brackets', '(()())') <> mf_embed('tf_brackets', '))((')")" = t ] || fail "mf_embed shape"
pass "mf_embed returns d_model (32) floats, the same for the same text"

err="$("$PG_BIN/psql" -X -q -tA -c "SELECT mf_generate('tf_brackets', '(')" 2>&1 || true)"
grep -q 'mf_generate() cannot use model "tf_brackets:1.0.0"' <<<"$err" || fail "mf_generate on a classifier: $err"
err="$("$PG_BIN/psql" -X -q -tA -c "SELECT mf_predict('tf_brackets', ARRAY[1.0, 2.0])" 2>&1 || true)"
grep -q 'cannot use model "tf_brackets:1.0.0"' <<<"$err" || fail "mf_predict(float8[]) on a text model: $err"
pass "wrong kinds refused with a message naming the model"
sql "SELECT mf_drop_model('tf_brackets')"
sql "DROP TABLE tf_brackets_train, tf_brackets_test"
