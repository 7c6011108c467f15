-- Training arguments have one owner (src/train_args.c, sql/training.sql
-- mf._training_call): the same call fails with the same SQLSTATE, message,
-- detail and hint from mf_train, mf_train_async, mf_retrain and, for the
-- target, mf_evaluate.  This database is not mf.database, so a job that
-- passes every check fails at the launcher check instead (shown as such).
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE TABLE ta_src AS
SELECT i, (i % 7)::float8 AS a, (i % 5)::float8 AS b, (ARRAY['red', 'blue'])[1 + i % 2] AS colour,
       (i % 3 = 0) AS y, (i % 11)::float8 AS v
  FROM generate_series(1, 60) i;
SELECT mf_create_model('{"name": "ta_log", "family": "logistic_regression"}');
SELECT mf_create_model('{"name": "ta_lin", "family": "linear_regression"}');
SELECT mf_create_model('{"name": "ta_km", "family": "kmeans", "k": 2}');
SELECT mf_create_model(config || '{"name": "ta_tr"}') FROM mf_list_templates() WHERE name = 'transformer_encoder_classifier';
SELECT mf_train('ta_log', 'ta_src', 'y', '{"features": ["a", "b", "colour"]}');
SELECT mf_train('ta_lin', 'ta_src', 'v', '{"features": ["a", "b"]}');
SELECT mf_train('ta_km', 'ta_src', NULL, '{"features": ["a", "b"]}');

-- The error of a statement: SQLSTATE, message, detail, hint.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	st		text;
	msg		text;
	det		text;
	hint	text;
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
							hint = PG_EXCEPTION_HINT;
	RETURN st || ' ' || msg || coalesce(' DETAIL: ' || nullif(det, ''), '') || coalesce(' HINT: ' || nullif(hint, ''), '');
END;
$$;

-- Options: mf_train's error, and whether mf_train_async and mf_retrain raise exactly it.
SELECT o AS options, e AS mf_train_error,
	   pg_temp.err(format('SELECT mf_train_async(%L, %L, %L, %L)', 'ta_log', 'ta_src', 'y', o)) = e AS async_same,
	   pg_temp.err(format('SELECT mf_retrain(%L, %L)', 'ta_log', o)) = e AS retrain_same
  FROM unnest(ARRAY['{"features": "a"}', '{"features": ["a", 1]}', '{"features": ["a", "zz"]}',
					'{"features": ["a", "y"]}', '{"test_size": 1.5}', '{"test_size": "0.3"}', '{"max_rows": 0}',
					'{"seed": -1}', '{"seed": 1.5}', '{"stratify": "yes"}', '{"impute": "median"}',
					'{"max_categories": 0}', '{"standardize": 1}', '{"epochz": 3}', '{"C": -1}']) o,
	   LATERAL pg_temp.err(format('SELECT mf_train(%L, %L, %L, %L)', 'ta_log', 'ta_src', 'y', o)) e;

-- Families and targets: mf_train's error, and whether mf_train_async and mf_evaluate raise exactly it.
SELECT m AS model, t AS target, e AS mf_train_error,
	   pg_temp.err(format('SELECT mf_train_async(%L, %L, %L)', m, 'ta_src', t)) = e AS async_same,
	   CASE WHEN m <> 'ta_tr' THEN pg_temp.err(format('SELECT mf_evaluate(%L, %L, %L)', m, 'ta_src', t)) = e END AS evaluate_same
  FROM (VALUES ('ta_log', NULL), ('ta_km', 'y'), ('ta_log', 'nope'), ('ta_lin', 'colour'), ('ta_tr', NULL)) c(m, t),
	   LATERAL pg_temp.err(format('SELECT mf_train(%L, %L, %L)', m, 'ta_src', t)) e;

-- Valid arguments pass every check of mf_train_async and mf_retrain (then the launcher check fails here).
SELECT pg_temp.err($$SELECT mf_train_async('ta_log', 'ta_src', 'y', '{"features": ["a", "b"], "seed": 3, "stratify": false}')$$);
SELECT pg_temp.err($$SELECT mf_retrain('ta_log', '{"test_size": 0.3}')$$);

-- Evaluation on the split of training reads the run options with training's defaults:
-- the stored metrics come back (test_size 0.2, seed 42, stratified: the defaults).
SELECT (mf._evaluate_on_split(a.bytes, 'ta_src', 'y', '{"features": ["a", "b", "colour"]}', current_user::regrole::oid, 'public')
		- 'rows') = (v.metrics - 'train_rows' - 'test_rows' - 'evaluated_rows' - 'training_seconds'
					 - 'metrics_on_training_data' - 'history') AS split_metrics_reproduced
  FROM mf.catalog c JOIN mf.model_versions v USING (version_id) JOIN mf.artifacts a USING (version_id)
 WHERE c.ref = 'ta_log:1.0.0';

-- A failed call left no version behind (a trained version is derived only within the call).
SELECT string_agg(ref, ', ' ORDER BY ref) FROM mf.catalog WHERE model LIKE 'ta\_%';
SELECT mf_drop_model(m) FROM unnest(ARRAY['ta_log', 'ta_lin', 'ta_km', 'ta_tr']) m;
DROP TABLE ta_src;
