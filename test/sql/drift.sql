-- Drift and live accuracy: the reference distributions training stores,
-- mf_drift (PSI, KS, status, mf.drift_checks), mf_record_outcomes
-- (mf.outcomes, mf.model_performance) and their errors.
\set SHOW_CONTEXT never
SET extra_float_digits = 0;

-- x: 0..9, 40 rows each; c: three categories and 8 NULLs; b: half true.
CREATE TABLE drift_train AS
SELECT i AS id, (i % 10)::float8 AS x, CASE WHEN i % 50 = 0 THEN NULL ELSE (i % 3)::text END AS c,
       (i % 2 = 0) AS b, ((i % 10) > 4)::int AS y
  FROM generate_series(1, 400) i;
SELECT mf_create_model('{"name": "drift_m", "family": "logistic_regression"}');
SELECT mf_train('drift_m', 'SELECT x, c, b, y FROM drift_train', 'y');

-- One reference row per feature, in the schema's order, from every row read.
SELECT d.position, d.feature, d.kind, d.n_rows, d.n_nulls
  FROM mf.reference_distributions d JOIN mf.catalog c USING (version_id)
 WHERE c.ref = 'drift_m:1.0.0' ORDER BY d.position;
-- Deciles of 0..9 (40 each) are 0.9, 1.8, ..., 8.1: one value per bin, 40 rows each;
-- 400 values (at most 1000): the sample is all of them, sorted.
SELECT (SELECT array_agg(round(e::numeric, 9)) FROM jsonb_array_elements_text(data -> 'edges') e) AS edges,
       data -> 'counts' AS counts, jsonb_array_length(data -> 'sample') AS sample_size,
       (SELECT array_agg(s::float8 ORDER BY s::float8) = array_agg(s::float8) FROM jsonb_array_elements_text(data -> 'sample') s) AS sorted
  FROM mf.reference_distributions WHERE feature = 'x';
SELECT data FROM mf.reference_distributions WHERE feature IN ('c', 'b') ORDER BY position;

-- The training rows themselves: no drift.
SELECT * FROM mf_drift('drift_m', 'SELECT x, c, b FROM drift_train');
-- Every x = 0, every c = '0', b all true.  By hand: x has share 1 in bin 0
-- (reference 0.1) and 0 (floored at 1e-4) in nine bins of 0.1:
-- 0.9 ln 10 + 9 * 0.0999 ln 1000; KS: at 0 the CDFs are 0.1 and 1.
SELECT feature, round(psi::numeric, 6) AS psi, ks, status
  FROM mf_drift('drift_m', 'SELECT 0.0::float8 AS x, ''0'' AS c, true AS b FROM generate_series(1, 100)');
SELECT abs(psi - (0.9 * ln(10) + 9 * 0.0999 * ln(1000))) < 1e-12 AS psi_by_hand, ks = 0.9 AS ks_by_hand
  FROM mf_drift('drift_m', 'SELECT 0.0::float8 AS x, ''0'' AS c, true AS b FROM generate_series(1, 100)')
 WHERE feature = 'x';
-- A category the reference never saw counts as "other"; NULLs are a bin; a
-- column of another numeric type is read as a number.
SELECT feature, round(psi::numeric, 6) AS psi, ks, status
  FROM mf_drift('drift_m', 'SELECT (id % 10)::int AS x, CASE WHEN id % 5 = 0 THEN ''new'' WHEN id % 7 = 0 THEN NULL ELSE (id % 3)::text END AS c, b FROM drift_train');
-- Every call is stored: three features per call, with its status.
SELECT feature, count(*) AS checks, count(*) FILTER (WHERE status = 'drift') AS drifted, min(n_rows) AS n_rows
  FROM mf.drift_checks GROUP BY feature ORDER BY feature;

-- Errors.
SELECT * FROM mf_drift(NULL, 'drift_train');
SELECT * FROM mf_drift('drift_nope', 'drift_train');
SELECT * FROM mf_drift('drift_m', 'drift_nope');
SELECT * FROM mf_drift('drift_m', 'SELECT x, b FROM drift_train');
SELECT * FROM mf_drift('drift_m', 'SELECT x::text AS x, c, b FROM drift_train');
SELECT * FROM mf_drift('drift_m', 'SELECT x, c, b FROM drift_train WHERE false');
SELECT mf_create_model('{"name": "drift_untrained", "family": "logistic_regression"}');
SELECT * FROM mf_drift('drift_untrained', 'drift_train');
-- A damaged reference is refused.
UPDATE mf.reference_distributions SET data = '{"counts": [1]}' WHERE feature = 'b';
SELECT * FROM mf_drift('drift_m', 'SELECT x, c, b FROM drift_train');
UPDATE mf.reference_distributions SET data = jsonb_set(data, '{counts}', '["many"]') WHERE feature = 'c';
SELECT * FROM mf_drift('drift_m', 'SELECT x, c, b FROM drift_train');
UPDATE mf.reference_distributions SET data = jsonb_set(data, '{edges}', '[3, 2]') WHERE feature = 'x';
SELECT * FROM mf_drift('drift_m', 'SELECT x, c, b FROM drift_train');
-- A version trained before 0.4.0 has none: retrain.
DELETE FROM mf.reference_distributions d USING mf.catalog c WHERE c.version_id = d.version_id AND c.ref = 'drift_m:1.0.0';
SELECT * FROM mf_drift('drift_m', 'drift_train');
SELECT mf_train('drift_m', 'SELECT x, c, b, y FROM drift_train', 'y');
SELECT count(*) AS features FROM mf_drift('drift_m', 'SELECT x, c, b FROM drift_train') WHERE status = 'ok';

-- Live accuracy.  Predictions as the servers log them (two days, two
-- versions); labels known later, in two batches.
INSERT INTO mf.prediction_log (deployment_id, model_name, version, request_id, row_id, prediction, logged_at) VALUES
	(1, 'drift_m', '1.0.0', 'r1', 'a', '"1"', '2026-12-01 10:00+00'),
	(1, 'drift_m', '1.0.0', 'r1', 'b', '"0"', '2026-12-01 10:00+00'),
	(1, 'drift_m', '1.0.0', 'r2', 'c', '1', '2026-12-01 23:59+00'),
	(1, 'drift_m', '1.0.0', 'r3', 'd', '{"label": "1", "probability": 0.9}', '2026-12-02 00:01+00'),
	(1, 'drift_m', '1.1.0', 'r4', 'e', 'true', '2026-12-02 08:00+00'),
	(1, 'drift_m', '1.1.0', 'r4', 'f', '"0"', '2026-12-02 08:00+00'),
	(1, 'other_model', '1.0.0', 'r5', 'a', '"1"', '2026-12-01 10:00+00');
CREATE TABLE drift_labels (order_id text, truth text);
INSERT INTO drift_labels VALUES ('a', '1'), ('b', '1'), ('c', '1.0');
SELECT mf_record_outcomes('drift_m', 'drift_labels', 'order_id', 'truth') AS matched;
SELECT * FROM mf.model_performance ORDER BY model_name, version, day;
-- The second batch: day 2 gets its rows; day 1 is unchanged; again is the same.
INSERT INTO drift_labels VALUES ('d', '0'), ('e', 'true'), ('f', '0'), ('zzz', '1');
SELECT mf_record_outcomes('drift_m', 'SELECT order_id, truth FROM drift_labels WHERE order_id >= ''d''', 'order_id', 'truth') AS matched;
SELECT mf_record_outcomes('drift_m', 'drift_labels', 'order_id', 'truth') AS matched;
SELECT * FROM mf.model_performance ORDER BY model_name, version, day;
-- A ref naming a version counts that version's predictions only.
SELECT mf_record_outcomes('drift_m:1.1.0', 'drift_labels', 'order_id', 'truth') AS matched;
SELECT count(*) AS outcomes FROM mf.outcomes WHERE model_name = 'drift_m';
-- Errors.
SELECT mf_record_outcomes('drift_m', 'drift_labels', NULL, 'truth');
SELECT mf_record_outcomes('drift_m', 'drift_labels', 'nope', 'truth');
SELECT mf_record_outcomes('drift_m', 'SELECT ''a'' AS order_id, x AS truth FROM unnest(ARRAY[''1'', ''0'']) x', 'order_id', 'truth');
SELECT mf_record_outcomes('drift_nope', 'drift_labels', 'order_id', 'truth');

-- Deployment option log_predictions: checked and normalised.
SELECT v, (mf._deploy_log_option(v::jsonb)).*
  FROM unnest(ARRAY['true', 'false', '{"id_field": "order_id"}', '{"id_field": "1x"}', '{"id_field": "a", "b": 1}', '3']) v;

-- Leave the database as found (later tests list every model).
SELECT count(mf_drop_model(name)) AS dropped FROM mf.models WHERE name LIKE 'drift\_%';
SELECT count(*) AS references_left FROM mf.reference_distributions;
DELETE FROM mf.prediction_log WHERE model_name IN ('drift_m', 'other_model');
DELETE FROM mf.outcomes WHERE model_name = 'drift_m';
DELETE FROM mf.model_performance WHERE model_name = 'drift_m';
DROP TABLE drift_train, drift_labels;
