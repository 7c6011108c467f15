-- In-database training: mf_train, mf_evaluate, feature encoding, artifacts, errors.
\set SHOW_CONTEXT never
SET extra_float_digits = 0;

-- Linear regression, noise-free y = 3 + 2 x1 - 1.5 x2: coefficients recovered to 1e-6.
CREATE TABLE lin_data AS
SELECT i, (i % 7)::float8 AS x1, ((i * 13) % 11)::float8 / 3 AS x2,
       3 + 2 * (i % 7) - 1.5 * ((i * 13) % 11)::float8 / 3 AS y
  FROM generate_series(1, 200) i;
CREATE TEMP VIEW tv AS SELECT c.ref, v.* FROM mf.catalog c JOIN mf.model_versions v USING (version_id);
SELECT mf_create_model('{"name": "lin", "family": "linear_regression"}');
SELECT mf_train('lin', 'lin_data', 'y', '{"features": ["x1", "x2"]}');
SELECT abs((w -> 'coef' ->> 0)::float8 - 2) < 1e-6 AS coef1_ok,
       abs((w -> 'coef' ->> 1)::float8 + 1.5) < 1e-6 AS coef2_ok,
       abs((w -> 'intercept' ->> 0)::float8 - 3) < 1e-6 AS intercept_ok
  FROM mf._model_weights('lin:1.0.0') w;
SELECT status, n_parameters, config -> 'n_features' AS n_features, trained_at IS NOT NULL AS trained_at_set,
       round((metrics ->> 'r2')::numeric, 6) AS r2, metrics -> 'train_rows' AS train_rows,
       metrics -> 'test_rows' AS test_rows, training_spec -> 'features' AS features,
       feature_schema -> 'features' AS expanded
  FROM tv WHERE ref = 'lin:1.0.0';
SELECT round((mf_evaluate('lin', 'lin_data', 'y') ->> 'r2')::numeric, 6) AS eval_r2;
SELECT a.format_version, a.size_bytes > 0 AS has_bytes FROM mf.artifacts a
  JOIN mf.catalog c USING (version_id) WHERE c.ref = 'lin:1.0.0';
SELECT action, version, after -> 'status' AS status FROM mf.events WHERE model_name = 'lin' AND action = 'train';

-- Retraining a trained version derives a new version with lineage.
SELECT mf_train('lin:1.0.0', 'SELECT x1, x2, y FROM lin_data WHERE i <= 100', 'y', '{"test_size": 0}');
SELECT mf_get_model('lin:1.1.0') ->> 'parent' AS parent, mf_get_model('lin:1.1.0') -> 'improvements' AS improvements,
       mf_get_model('lin:1.1.0') ->> 'status' AS status,
       mf_get_model('lin:1.1.0') -> 'metrics' -> 'metrics_on_training_data' AS on_training_data;

-- Logistic regression on separable data (text labels), stratified split.
CREATE TABLE logit_data AS
SELECT i, (i % 20)::float8 - 9.5 + (i % 3) * 0.1 AS a, ((i * 7) % 13)::float8 AS b,
       CASE WHEN (i % 20) >= 10 THEN 'yes' ELSE 'no' END AS label
  FROM generate_series(1, 300) i;
SELECT mf_create_model('{"name": "logit", "family": "logistic_regression"}');
SELECT mf_train('logit', 'logit_data', 'label', '{"features": ["a", "b"], "C": 10}');
SELECT (metrics ->> 'accuracy')::float8 >= 0.95 AS accurate, metrics -> 'labels' AS labels,
       metrics -> 'test_rows' AS test_rows, jsonb_typeof(metrics -> 'confusion_matrix') AS cm,
       jsonb_typeof(metrics -> 'roc_auc') AS auc, jsonb_typeof(metrics -> 'history' -> 'loss') AS history,
       config -> 'C' AS c, config -> 'num_classes' AS num_classes
  FROM tv WHERE ref = 'logit:1.0.0';

-- Evaluating on exactly the training rows (test_size 0) reproduces the stored metrics.
SELECT mf_create_model('{"name": "logit_all", "family": "logistic_regression"}');
SELECT mf_train('logit_all', 'logit_data', 'label', '{"features": ["a", "b"], "test_size": 0}');
SELECT (SELECT metrics - 'train_rows' - 'test_rows' - 'evaluated_rows' - 'training_seconds'
               - 'history' - 'metrics_on_training_data'
          FROM tv WHERE ref = 'logit_all:1.0.0')
       = mf_evaluate('logit_all', 'logit_data', 'label') - 'rows' AS same_metrics;
-- A held-out split (30 %, seeded): sizes and fit.
SELECT mf_create_model('{"name": "lin_split", "family": "linear_regression"}');
CREATE TABLE noisy AS SELECT i, (i % 9)::float8 AS x, (i % 9) * 2.0 + sin(i) AS y FROM generate_series(1, 100) i;
SELECT mf_train('lin_split', 'noisy', 'y', '{"features": ["x"], "test_size": 0.3, "seed": 7}');
SELECT metrics -> 'train_rows' AS train_rows, metrics -> 'test_rows' AS test_rows,
       round((metrics ->> 'r2')::numeric, 2) > 0.5 AS fits FROM tv WHERE ref = 'lin_split:1.0.0';

-- Multiclass with categorical, boolean and NULL features; numeric labels sorted numerically.
CREATE TABLE mixed AS
SELECT i, CASE i % 3 WHEN 0 THEN 'red' WHEN 1 THEN 'green' ELSE NULL END AS colour,
       (i % 2 = 0) AS flag, CASE WHEN i % 10 = 0 THEN NULL ELSE (i % 5)::int END AS n,
       (CASE i % 3 WHEN 0 THEN 10 WHEN 1 THEN 2 ELSE 1 END)::int AS cls
  FROM generate_series(1, 120) i;
SELECT mf_create_model('{"name": "mixed", "family": "logistic_regression"}');
SELECT mf_train('mixed', 'mixed', 'cls', '{"features": ["colour", "flag", "n"], "test_size": 0}');
SELECT feature_schema -> 'features' AS features, feature_schema -> 'labels' AS labels,
       feature_schema -> 'columns' -> 0 -> 'categories' AS categories,
       feature_schema -> 'columns' -> 0 -> 'impute' AS colour_impute,
       feature_schema -> 'columns' -> 1 ->> 'kind' AS flag_kind,
       round((feature_schema -> 'columns' -> 2 ->> 'impute')::numeric, 4) AS n_impute,
       config -> 'num_classes' AS num_classes, n_parameters
  FROM tv WHERE ref = 'mixed:1.0.0';

SELECT (SELECT metrics - 'train_rows' - 'test_rows' - 'evaluated_rows' - 'training_seconds'
               - 'history' - 'metrics_on_training_data' FROM tv WHERE ref = 'mixed:1.0.0')
       = mf_evaluate('mixed', 'mixed', 'cls') - 'rows' AS same_metrics;
-- Unseen categories encode as zeros; evaluation works on any query with the named columns.
SELECT mf_evaluate('mixed', 'SELECT ''blue'' AS colour, true AS flag, NULL::int AS n, 10 AS cls', 'cls') -> 'rows' AS rows;
-- An unknown label in evaluation data is an error.
SELECT mf_evaluate('mixed', 'SELECT ''red'' AS colour, true AS flag, 1 AS n, 99 AS cls', 'cls');

-- k-means on three blobs.
CREATE TABLE blobs AS
SELECT i, (i % 3) * 10 + sin(i) AS x, (i % 3) * -7 + cos(i * 3) AS y FROM generate_series(1, 150) i;
SELECT mf_create_model('{"name": "clusters", "family": "kmeans", "k": 3}');
SELECT mf_train('clusters', 'blobs', NULL, '{"features": ["x", "y"], "test_size": 0}');
SELECT (metrics ->> 'inertia')::float8 < 150 AS tight, n_parameters,
       jsonb_array_length(mf._model_weights('clusters') -> 'centers') AS center_values
  FROM tv WHERE ref = 'clusters:1.0.0';
SELECT (mf_evaluate('clusters', 'blobs') ->> 'inertia')::float8 < 150 AS eval_tight;

-- A small MLP classifier.
SELECT mf_create_model('{"name": "net", "family": "mlp", "hidden_layers": [8]}');
SELECT mf_train('net', 'logit_data', 'label',
                '{"features": ["a", "b"], "epochs": 60, "learning_rate": 0.05, "early_stopping": false}');
SELECT (metrics ->> 'accuracy')::float8 >= 0.9 AS accurate, jsonb_array_length(metrics -> 'history' -> 'loss') AS epochs,
       n_parameters, config #> '{training,epochs}' AS cfg_epochs
  FROM tv WHERE ref = 'net:1.0.0';

-- An MLP regressor (standardised inputs by default).
SELECT mf_create_model('{"name": "netreg", "family": "mlp", "task": "regression", "hidden_layers": [16]}');
SELECT mf_train('netreg', 'lin_data', 'y', '{"features": ["x1", "x2"], "epochs": 200, "learning_rate": 0.01, "batch_size": 16}');
SELECT (metrics ->> 'r2')::float8 > 0.9 AS fits, feature_schema -> 'standardize' AS standardized
  FROM tv WHERE ref = 'netreg:1.0.0';

-- Same seed, same data: identical artifacts.
SELECT mf_create_model('{"name": "twin_a", "family": "mlp", "hidden_layers": [4]}');
SELECT mf_create_model('{"name": "twin_b", "family": "mlp", "hidden_layers": [4]}');
SELECT mf_train('twin_a', 'logit_data', 'label', '{"features": ["a", "b"], "epochs": 5, "seed": 3}');
SELECT mf_train('twin_b', 'logit_data', 'label', '{"features": ["a", "b"], "epochs": 5, "seed": 3}');
SELECT count(DISTINCT a.sha256) AS distinct_hashes FROM mf.artifacts a JOIN mf.catalog c USING (version_id)
 WHERE c.model IN ('twin_a', 'twin_b');

-- Errors.
SELECT mf_create_model('{"name": "err", "family": "logistic_regression"}');
SELECT mf_train('err', 'no_such_table', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'logit_data', 'no_such_column');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'logit_data', 'label', '{"features": ["a", "zz"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'SELECT a, ''same'' AS label FROM logit_data', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'SELECT a, label FROM logit_data WHERE false', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'SELECT ''NaN''::float8 AS a, label FROM logit_data', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'logit_data', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'logit_data', 'label', '{"learning_rat": 0.1}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'logit_data', 'label', '{"C": -1}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'logit_data', 'label', '{"test_size": 1.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('lin', 'logit_data', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('clusters', 'blobs', 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'logit_data', 'label', '{"features": "a"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('err', 'logit_data', 'label', '[1]');
\echo :LAST_ERROR_SQLSTATE
-- Relation names are parsed as (qualified) identifiers, never spliced as SQL.
CREATE TABLE "Odd Name" AS SELECT x1, x2, y FROM lin_data;
SELECT mf_train('lin', 'public."Odd Name"', 'y', '{"test_size": 0}');
SELECT mf_train('err', 'logit_data; DROP TABLE logit_data', 'label');
\echo :LAST_ERROR_SQLSTATE
-- A failed training leaves the version untrained, without an artifact.
SELECT status, (SELECT count(*) FROM mf.artifacts a WHERE a.version_id = c.version_id) AS artifacts
  FROM mf.catalog c WHERE c.ref = 'err:1.0.0';
SELECT mf_evaluate('err', 'logit_data', 'label');
\echo :LAST_ERROR_SQLSTATE

-- A long training honours statement_timeout (CHECK_FOR_INTERRUPTS in the kernels) and leaves nothing.
CREATE TABLE big AS SELECT i, sin(i)::float8 AS a, cos(i)::float8 AS b, (i % 2 = 0) AS label FROM generate_series(1, 5000) i;
SELECT mf_create_model('{"name": "slow", "family": "mlp", "hidden_layers": [64, 64]}');
SET statement_timeout = '300ms';
SELECT mf_train('slow', 'big', 'label', '{"epochs": 100000, "early_stopping": false}');
RESET statement_timeout;
SELECT status FROM mf.catalog WHERE ref = 'slow:1.0.0';

-- A damaged artifact is reported as data corruption, never a crash.
\set VERBOSITY terse
UPDATE mf.artifacts a SET bytes = overlay(a.bytes placing '\xff'::bytea from 100)
  FROM mf.catalog c WHERE c.version_id = a.version_id AND c.ref = 'logit_all:1.0.0';
SELECT mf_evaluate('logit_all', 'logit_data', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf._model_weights('logit_all');
\echo :LAST_ERROR_SQLSTATE
