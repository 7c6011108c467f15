-- Training quality thresholds, differential checks against SQL, determinism.
-- (Cancellation is in test/sql/train.sql: PL/pgSQL handlers, hence throws_ok, cannot catch 57014.)
BEGIN;
SELECT plan(26);

CREATE TEMP TABLE reg AS
SELECT i, (i % 17)::float8 AS x, 5 - 0.75 * (i % 17) + sin(i * 1.3) AS y FROM generate_series(1, 500) i;
SELECT mf_create_model('{"name": "tap_lin", "family": "linear_regression"}');
SELECT is(mf_train('tap_lin', 'reg', 'y', '{"test_size": 0, "features": ["x"]}'), 'tap_lin:1.0.0', 'linear trains');
SELECT ok(abs((mf._model_weights('tap_lin') -> 'coef' ->> 0)::float8 - (SELECT regr_slope(y, x) FROM reg)) < 1e-9,
          'slope equals regr_slope() of SQL');
SELECT ok(abs((mf._model_weights('tap_lin') -> 'intercept' ->> 0)::float8 - (SELECT regr_intercept(y, x) FROM reg)) < 1e-9,
          'intercept equals regr_intercept() of SQL');
SELECT ok(abs((mf_evaluate('tap_lin', 'reg', 'y') ->> 'r2')::float8 - (SELECT regr_r2(y, x) FROM reg)) < 1e-9,
          'r2 equals regr_r2() of SQL');
SELECT ok(abs((mf_evaluate('tap_lin', 'reg', 'y') ->> 'mse')::float8
              - (WITH f AS (SELECT regr_intercept(y, x) AS b, regr_slope(y, x) AS w FROM reg)
                 SELECT avg(power(y - (f.b + f.w * x), 2)) FROM reg, f)) < 1e-9,
          'mse equals the SQL computation');
SELECT is(mf_evaluate('tap_lin', 'reg', 'y') - 'rows',
          (SELECT v.metrics - 'train_rows' - 'test_rows' - 'evaluated_rows' - 'training_seconds' - 'metrics_on_training_data'
             FROM mf.model_versions v JOIN mf.catalog c USING (version_id) WHERE c.ref = 'tap_lin:1.0.0'),
          'evaluate reproduces the training metrics');

-- three classes, separable
CREATE TEMP TABLE three AS
SELECT i, (i % 3) * 4 + sin(i) AS a, (i % 3) * -3 + cos(i) AS b, (ARRAY['cat', 'dog', 'eel'])[i % 3 + 1] AS kind
  FROM generate_series(1, 600) i;
SELECT mf_create_model('{"name": "tap_multi", "family": "logistic_regression"}');
SELECT lives_ok($$SELECT mf_train('tap_multi', 'three', 'kind')$$, 'multinomial logistic trains');
SELECT ok((SELECT (v.metrics ->> 'accuracy')::float8 FROM mf.model_versions v JOIN mf.catalog c USING (version_id)
            WHERE c.ref = 'tap_multi:1.0.0') >= 0.95, 'multinomial accuracy >= 0.95 on held-out rows');
SELECT is((SELECT v.config -> 'num_classes' FROM mf.model_versions v JOIN mf.catalog c USING (version_id)
            WHERE c.ref = 'tap_multi:1.0.0'), '3'::jsonb, 'num_classes set from the data');
-- the rows it was tested on are kept (at most 100) for images and smoke tests
SELECT is((SELECT jsonb_array_length(mf._test_rows(c.version_id)) FROM mf.catalog c WHERE c.ref = 'tap_multi:1.0.0'), 100,
          '100 of the 120 test rows are kept');
SELECT is((SELECT count(*) FROM mf.catalog c, jsonb_array_elements(mf._test_rows(c.version_id, 50)) r
            WHERE c.ref = 'tap_multi:1.0.0'
              AND EXISTS (SELECT 1 FROM three t WHERE t.i = (r ->> 'i')::int AND t.a = (r ->> 'a')::float8 AND t.b = (r ->> 'b')::float8)
              AND (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(r) k) = ARRAY['a', 'b', 'i']),
          50::bigint, 'kept rows are source rows, named by feature, without the target');
SELECT is((SELECT count(*) FROM mf.catalog c, jsonb_array_elements(mf._test_rows(c.version_id)) r
            WHERE c.ref = 'tap_multi:1.0.0' AND mf_predict('tap_multi', r) ->> 'label' IS NOT NULL),
          100::bigint, 'every kept row is an input mf_predict(ref, jsonb) scores');

-- XOR needs a hidden layer
CREATE TEMP TABLE xor AS
SELECT i, (i % 2)::float8 + 0.1 * sin(i) AS p, ((i / 2) % 2)::float8 + 0.1 * cos(i) AS q,
       ((i % 2) <> ((i / 2) % 2)) AS label
  FROM generate_series(1, 400) i;
SELECT mf_create_model('{"name": "tap_xor", "family": "mlp", "hidden_layers": [16], "activation": "tanh"}');
SELECT lives_ok($$SELECT mf_train('tap_xor', 'xor', 'label',
                  '{"epochs": 300, "learning_rate": 0.05, "early_stopping": false, "test_size": 0.25}')$$, 'mlp trains');
SELECT ok((SELECT (v.metrics ->> 'accuracy')::float8 FROM mf.model_versions v JOIN mf.catalog c USING (version_id)
            WHERE c.ref = 'tap_xor:1.0.0') >= 0.95, 'mlp learns XOR (accuracy >= 0.95)');
SELECT is((SELECT jsonb_array_length(v.metrics -> 'history' -> 'loss') FROM mf.model_versions v
             JOIN mf.catalog c USING (version_id) WHERE c.ref = 'tap_xor:1.0.0'), 300, 'one loss per epoch');

-- k-means finds the blob centres
CREATE TEMP TABLE blobs AS
SELECT i, (i % 3) * 10 + 0.5 * sin(i) AS x, (i % 3) * 10 + 0.5 * cos(i * 7) AS y FROM generate_series(1, 300) i;
SELECT mf_create_model('{"name": "tap_km", "family": "kmeans", "k": 3}');
SELECT lives_ok($$SELECT mf_train('tap_km', 'blobs', NULL, '{"standardize": false, "test_size": 0, "features": ["x", "y"]}')$$, 'kmeans trains');
SELECT is((SELECT count(*) FROM (SELECT round(((mf._model_weights('tap_km') -> 'centers') ->> (2 * j))::numeric) AS cx
                                   FROM generate_series(0, 2) j) s WHERE cx IN (0, 10, 20)), 3::bigint,
          'three centres near x = 0, 10, 20');
SELECT is(mf_evaluate('tap_km', 'blobs') -> 'inertia',
          (SELECT v.metrics -> 'inertia' FROM mf.model_versions v JOIN mf.catalog c USING (version_id)
            WHERE c.ref = 'tap_km:1.0.0'), 'evaluate reproduces the inertia');

-- numbers only: the rows read are moved into the training matrix in place; a
-- text column makes every column go through the general encoder: the same
-- statistics, bit for bit (the extra one-hot column is constant)
CREATE TEMP VIEW xor_tagged AS SELECT p, q, 'k'::text AS tag, label FROM xor;
SELECT mf_create_model('{"name": "tap_enc_a", "family": "logistic_regression"}');
SELECT mf_create_model('{"name": "tap_enc_b", "family": "logistic_regression"}');
SELECT mf_train('tap_enc_a', 'xor', 'label', '{"features": ["p", "q"]}');
SELECT mf_train('tap_enc_b', 'xor_tagged', 'label');
SELECT is((SELECT jsonb_build_array(s -> 'means' -> 0, s -> 'means' -> 1, s -> 'stds' -> 0, s -> 'stds' -> 1,
                                    s -> 'columns' -> 0 -> 'impute', s -> 'columns' -> 1 -> 'impute')
             FROM (SELECT v.feature_schema AS s FROM mf.model_versions v JOIN mf.catalog c USING (version_id)
                    WHERE c.ref = 'tap_enc_b:1.0.0') b),
          (SELECT jsonb_build_array(s -> 'means' -> 0, s -> 'means' -> 1, s -> 'stds' -> 0, s -> 'stds' -> 1,
                                    s -> 'columns' -> 0 -> 'impute', s -> 'columns' -> 1 -> 'impute')
             FROM (SELECT v.feature_schema AS s FROM mf.model_versions v JOIN mf.catalog c USING (version_id)
                    WHERE c.ref = 'tap_enc_a:1.0.0') a),
          'in-place and general encoding: same means, stds and imputation values');
SELECT is((SELECT v.metrics -> 'confusion_matrix' FROM mf.model_versions v JOIN mf.catalog c USING (version_id)
            WHERE c.ref = 'tap_enc_b:1.0.0'),
          (SELECT v.metrics -> 'confusion_matrix' FROM mf.model_versions v JOIN mf.catalog c USING (version_id)
            WHERE c.ref = 'tap_enc_a:1.0.0'),
          'in-place and general encoding: same test predictions');

-- a synchronized scan starts wherever an unfinished scan of a large table
-- stopped: training must read the rows in table order anyway
CREATE TABLE tap_big AS
SELECT i, sin(i) AS x1, cos(i * 3) AS x2, sin(i) + cos(i * 3) > 0.3 AS label, repeat('p', 500) AS pad
  FROM generate_series(1, (SELECT setting::int * 14 * 5 / 16 FROM pg_settings WHERE name = 'shared_buffers')) i;
SELECT ok(pg_relation_size('tap_big') > (SELECT setting::bigint * 8192 / 4 FROM pg_settings WHERE name = 'shared_buffers'),
          'tap_big is larger than a quarter of shared_buffers (scans of it are synchronized)');
SELECT mf_create_model('{"name": "tap_sync", "family": "logistic_regression"}');
SELECT mf_train('tap_sync', 'tap_big', 'label', '{"features": ["x1", "x2"]}');
SELECT count(*) FROM (SELECT * FROM tap_big LIMIT 30000) s;
SELECT mf_train('tap_sync', 'tap_big', 'label', '{"features": ["x1", "x2"]}');
SELECT is((SELECT count(DISTINCT a.sha256) FROM mf.artifacts a JOIN mf.catalog c USING (version_id)
            WHERE c.model = 'tap_sync'), 1::bigint, 'a scan stopped mid-table does not change the artifact');

-- a query the planner would run in parallel: workers hand rows over in any
-- order, so training plans it serially
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT mf_create_model('{"name": "tap_par", "family": "logistic_regression"}');
SELECT mf_train('tap_par', 'SELECT x1, x2, label FROM tap_big WHERE x1 > 0.5', 'label') FROM generate_series(1, 3);
SELECT is((SELECT array[count(*), count(DISTINCT a.sha256)] FROM mf.artifacts a JOIN mf.catalog c USING (version_id)
            WHERE c.model = 'tap_par'), array[3, 1]::bigint[], 'a source with a parallel plan: three runs, one artifact');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- determinism: same seed same bytes, other seed other bytes
SELECT mf_create_model('{"name": "tap_det", "family": "mlp", "hidden_layers": [8]}');
SELECT mf_train('tap_det', 'xor', 'label', '{"epochs": 3, "seed": 1}');
SELECT mf_train('tap_det', 'xor', 'label', '{"epochs": 3, "seed": 1}');
SELECT mf_train('tap_det', 'xor', 'label', '{"epochs": 3, "seed": 2}');
SELECT is((SELECT count(DISTINCT a.sha256) FROM mf.artifacts a JOIN mf.catalog c USING (version_id)
            WHERE c.model = 'tap_det' AND c.version IN ('1.0.0', '1.1.0')), 1::bigint, 'same seed: same artifact');
SELECT is((SELECT count(DISTINCT a.sha256) FROM mf.artifacts a JOIN mf.catalog c USING (version_id)
            WHERE c.model = 'tap_det'), 2::bigint, 'another seed: another artifact');
SELECT is((SELECT count(*) FROM mf.events WHERE model_name = 'tap_det' AND action = 'train'), 3::bigint,
          'one train event per run');

SELECT * FROM finish();
ROLLBACK;
