-- Training fixes: rank-deficient linear regression (one-hot beside the
-- intercept), duplicate column names in a source, too many classes to split.
\set SHOW_CONTEXT never
SET extra_float_digits = 0;

-- One-hot keeps every category plus an intercept: X is rank-deficient, yet
-- plain least squares trains (minimum-norm solve), by either solver.
CREATE TABLE cat_data AS
SELECT i, ((i * 37) % 101)::float8 / 10 AS x, (ARRAY['red', 'green', 'blue'])[1 + i % 3] AS color,
       2 * ((i * 37) % 101)::float8 / 10 + CASE i % 3 WHEN 0 THEN 1 WHEN 1 THEN -2 ELSE 0.5 END
         + 0.1 * sin(i) AS y
  FROM generate_series(1, 300) i;
SELECT mf_create_model('{"name": "cat_lin", "family": "linear_regression"}');
SELECT mf_train('cat_lin', 'SELECT x, color, y FROM cat_data', 'y', '{"test_size": 0}');
SELECT mf_create_model('{"name": "cat_qr", "family": "linear_regression", "solver": "qr"}');
SELECT mf_train('cat_qr', 'SELECT x, color, y FROM cat_data', 'y', '{"test_size": 0}');
-- The same data in reference coding (red is the base level) is full rank.
CREATE TABLE ref_data AS
SELECT i, x, (color = 'green')::int::float8 AS is_green, (color = 'blue')::int::float8 AS is_blue, y
  FROM cat_data;
SELECT mf_create_model('{"name": "ref_lin", "family": "linear_regression"}');
SELECT mf_train('ref_lin', 'SELECT x, is_green, is_blue, y FROM ref_data', 'y', '{"test_size": 0}');
-- The same predictions for every encoding, and the fit is the true one.
SELECT max(abs(mf_predict('cat_lin', c) - mf_predict('ref_lin', r))) < 1e-9 AS same_predictions,
       max(abs(mf_predict('cat_qr', c) - mf_predict('ref_lin', r))) < 1e-9 AS same_predictions_qr,
       max(abs(mf_predict('cat_lin', c) - (c.y - 0.1 * sin(c.i)))) < 0.05 AS fits
  FROM (SELECT i, x, color, y FROM cat_data) c JOIN (SELECT i, x, is_green, is_blue FROM ref_data) r USING (i);
-- Ridge still trains as before.
SELECT mf_create_model('{"name": "cat_ridge", "family": "linear_regression", "alpha": 0.5}');
SELECT mf_train('cat_ridge', 'SELECT x, color, y FROM cat_data', 'y', '{"test_size": 0}');

-- Two columns with the same name: refused, never trained with the target as a feature.
SELECT mf_create_model('{"name": "dup", "family": "linear_regression"}');
SELECT mf_train('dup', 'SELECT x, y, x AS y FROM cat_data', 'y');
SELECT mf_train('dup', 'SELECT x, x, y FROM cat_data', 'y', '{"features": ["x"]}');
SELECT mf_evaluate('cat_lin', 'SELECT x, color, y, color FROM cat_data', 'y');

-- A target with as many classes as rows: the split says what is wrong and the limit.
CREATE TABLE many_classes AS
SELECT i, (i % 97)::float8 AS x, 'c' || (i % 10000) AS label FROM generate_series(1, 12000) i;
SELECT mf_create_model('{"name": "many", "family": "logistic_regression"}');
SELECT mf_train('many', 'many_classes', 'label', '{"features": ["x"]}');
-- Too few rows for any split is still said so.
SELECT mf_train('many', 'SELECT x, label FROM many_classes WHERE i <= 2', 'label', '{"test_size": 0.1}');

-- Clean up: later tests list every model of the registry.
SELECT count(mf_drop_model(name)) AS dropped FROM mf.models
 WHERE name IN ('cat_lin', 'cat_qr', 'ref_lin', 'cat_ridge', 'dup', 'many');
DROP TABLE cat_data, ref_data, many_classes;
