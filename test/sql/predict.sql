-- Predictions inside SELECT: mf_predict (array, record, jsonb), mf_predict_label, mf_predict_proba,
-- mf_predict_batch, mf_prewarm, the model cache and every error with its SQLSTATE.
\set SHOW_CONTEXT never
SET extra_float_digits = 0;

-- 3000 rows: two numbers, a category with NULLs, an integer with NULLs; text, integer and numeric targets.
CREATE TABLE pr_data AS
SELECT s.*,
       CASE WHEN x1 + 0.5 * x2 + CASE WHEN color = 'red' THEN 1.5 ELSE 0 END + sin(i) > 0 THEN 'yes' ELSE 'no' END AS label,
       CASE WHEN x1 + sin(i) < -1.5 THEN 10 WHEN x1 + sin(i) < 1.5 THEN 20 ELSE 30 END AS cls,
       1 + 2 * x1 - 3 * x2 + 0.1 * sin(i * 7) AS y
  FROM (SELECT i, ((i * 37) % 101)::float8 / 10 - 5 AS x1, ((i * 53) % 97)::float8 / 10 - 4.8 AS x2,
               CASE WHEN i % 17 = 0 THEN NULL ELSE (ARRAY['red', 'green', 'blue'])[1 + i % 3] END AS color,
               CASE WHEN i % 11 = 0 THEN NULL ELSE i % 7 END AS n
          FROM generate_series(1, 3000) i) s;
ANALYZE pr_data;

SELECT mf_create_model('{"name": "pr_logit", "family": "logistic_regression"}');
SELECT mf_train('pr_logit', 'pr_data', 'label', '{"features": ["x1", "x2", "color", "n"], "C": 10}');
SELECT mf_create_model('{"name": "pr_bin", "family": "logistic_regression"}');
SELECT mf_train('pr_bin', 'pr_data', 'label', '{"features": ["x1", "x2"]}');
SELECT mf_create_model('{"name": "pr_multi", "family": "logistic_regression"}');
SELECT mf_train('pr_multi', 'pr_data', 'cls', '{"features": ["x1", "x2"], "C": 10}');
SELECT mf_create_model('{"name": "pr_lin", "family": "linear_regression"}');
SELECT mf_train('pr_lin', 'pr_data', 'y', '{"features": ["x1", "x2"], "standardize": true}');
SELECT mf_create_model('{"name": "pr_mlp", "family": "mlp", "hidden_layers": [8]}');
SELECT mf_train('pr_mlp', 'pr_data', 'label',
                '{"features": ["x1", "x2"], "epochs": 20, "learning_rate": 0.05, "early_stopping": false}');
-- Three classes through two tanh layers, and a regressor: the MLP row path computes the layers itself (no BLAS).
SELECT mf_create_model('{"name": "pr_tanh", "family": "mlp", "hidden_layers": [6, 5], "activation": "tanh"}');
SELECT mf_train('pr_tanh', 'pr_data', 'cls',
                '{"features": ["x1", "x2"], "epochs": 10, "learning_rate": 0.05, "early_stopping": false}');
SELECT mf_create_model('{"name": "pr_mlpreg", "family": "mlp", "task": "regression", "hidden_layers": [5, 4]}');
SELECT mf_train('pr_mlpreg', 'pr_data', 'y', '{"features": ["x1", "x2"], "epochs": 5, "early_stopping": false}');
SELECT mf_create_model('{"name": "pr_km", "family": "kmeans", "k": 3}');
SELECT mf_train('pr_km', 'pr_data', NULL, '{"features": ["x1", "x2"], "test_size": 0}');

-- One row, every function.
SELECT mf_predict('pr_bin', ARRAY[2.0, 1.0]) AS class_index, mf_predict_label('pr_bin', ARRAY[2.0, 1.0]) AS label,
       array_length(mf_predict_proba('pr_bin', ARRAY[2.0, 1.0]), 1) AS n_proba,
       round((SELECT sum(p) FROM unnest(mf_predict_proba('pr_bin', ARRAY[2.0, 1.0])) p)::numeric, 12) AS proba_sum;
SELECT mf_predict('pr_multi', ARRAY[-4.0, 0.0]) AS low, mf_predict('pr_multi', ARRAY[0.0, 0.0]) AS mid,
       mf_predict('pr_multi', ARRAY[4.0, 0.0]) AS high, mf_predict_label('pr_multi', ARRAY[4.0, 0.0]) AS label;
SELECT round(mf_predict('pr_lin', ARRAY[1.0, 1.0])::numeric, 1) AS value,
       mf_predict_label('pr_lin', ARRAY[0.0, 0.0]) ~ '^[0-9.e+-]+$' AS label_is_number;
SELECT mf_predict('pr_km', ARRAY[0.0, 0.0]) BETWEEN 0 AND 2 AS cluster_ok;
SELECT jsonb_object_keys(mf_predict('pr_bin', '{"x1": 2, "x2": 1}'::jsonb)) AS keys ORDER BY 1;
SELECT mf_predict('pr_bin', '{"x1": 2, "x2": 1}'::jsonb) ->> 'label' AS label,
       jsonb_array_length(mf_predict('pr_bin', '[{"x1": 2, "x2": 1}, {"x1": -2, "x2": null}]'::jsonb)) AS n;
SELECT mf_predict('pr_km', '{"x1": 0, "x2": 0}'::jsonb) ? 'cluster' AS has_cluster;
SELECT mf_predict_batch('pr_multi', ARRAY[[-4.0, 0.0], [0.0, 0.0], [4.0, 0.0]]) AS batch,
       mf_predict_batch('pr_multi', '{}'::float8[]) AS empty;
SELECT mf_prewarm('pr_lin') AS prewarmed;

-- Predictions equal training's: accuracy over the rows in SQL = mf_evaluate's on the same rows.
SELECT round(avg((mf_predict_label('pr_logit', d) = label)::int), 10)
         = round((mf_evaluate('pr_logit', 'pr_data', 'label') ->> 'accuracy')::numeric, 10) AS logit_same,
       round(avg((mf_predict_label('pr_multi', d) = cls::text)::int), 10)
         = round((mf_evaluate('pr_multi', 'pr_data', 'cls') ->> 'accuracy')::numeric, 10) AS multi_same,
       round(avg((mf_predict_label('pr_mlp', d) = label)::int), 10)
         = round((mf_evaluate('pr_mlp', 'pr_data', 'label') ->> 'accuracy')::numeric, 10) AS mlp_same,
       round(avg((mf_predict('pr_lin', d) - y) ^ 2)::numeric, 8)
         = round((mf_evaluate('pr_lin', 'pr_data', 'y') ->> 'mse')::numeric, 8) AS lin_same
  FROM pr_data d;
SELECT round(avg((mf_predict_label('pr_logit', d) = label)::int), 2) >= 0.9 AS logit_accurate FROM pr_data d;

-- Record form = jsonb form, with a category and NULLs imputed.
SELECT count(*) FILTER (WHERE mf_predict('pr_logit', to_jsonb(d)) ->> 'label' <> mf_predict_label('pr_logit', d)) AS label_diff,
       count(*) FILTER (WHERE abs((mf_predict('pr_logit', to_jsonb(d)) #>> '{probabilities,yes}')::float8
                               - (mf_predict_proba('pr_logit', d))[2]) > 1e-12) AS proba_diff,
       count(*) FILTER (WHERE d.color IS NULL OR d.n IS NULL) > 0 AS had_nulls
  FROM pr_data d;
-- Columns are found by name, whatever their order; unknown categories encode as zeros.
SELECT count(*) FILTER (WHERE mf_predict('pr_logit', s) <> mf_predict('pr_logit', d)) AS reordered_diff
  FROM pr_data d JOIN (SELECT i, n, color, x2, x1 FROM pr_data) s USING (i);
SELECT mf_predict_label('pr_logit', s) IN ('yes', 'no') AS unseen_ok
  FROM (SELECT 1.0 AS x1, 1.0 AS x2, 'purple'::text AS color, 3 AS n) s;

-- Record form = array form = jsonb form = batch form, for every family.
CREATE FUNCTION pr_forms(ref_name text) RETURNS TABLE(model text, n bigint, record_diff bigint, jsonb_diff bigint,
                                                   batch_diff bigint, label_diff bigint)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format($q$
		WITH a AS (SELECT i, mf_predict(%1$L, ARRAY[x1, x2]) AS v_array, mf_predict(%1$L, d) AS v_record,
						  (mf_predict(%1$L, jsonb_build_object('x1', x1, 'x2', x2)) ->> 'prediction')::float8 AS v_jsonb,
						  mf_predict_label(%1$L, ARRAY[x1, x2]) AS l_array, mf_predict_label(%1$L, d) AS l_record
					 FROM pr_data d),
			 b AS (SELECT t.v AS v_batch, t.o AS i
					 FROM unnest(mf_predict_batch(%1$L, (SELECT array_agg(ARRAY[x1, x2] ORDER BY i) FROM pr_data)))
						  WITH ORDINALITY t(v, o))
		SELECT %1$L, count(*),
			   count(*) FILTER (WHERE v_record <> v_array),
			   count(*) FILTER (WHERE abs(v_jsonb - v_array) > 1e-9 * (1 + abs(v_array))),
			   count(*) FILTER (WHERE b.v_batch IS NULL OR abs(b.v_batch - v_array) > 1e-9 * (1 + abs(v_array))),
			   count(*) FILTER (WHERE l_array <> l_record)
		  FROM a LEFT JOIN b USING (i)$q$, ref_name);
END;
$$;
SELECT f.* FROM unnest(ARRAY['pr_bin', 'pr_multi', 'pr_lin', 'pr_mlp', 'pr_tanh', 'pr_mlpreg', 'pr_km']) m, pr_forms(m) f;
-- The MLP row path (plain loops) agrees with the batch path (dgemm) and with training's metrics.
SELECT round(avg((mf_predict_label('pr_tanh', d) = cls::text)::int), 10)
         = round((mf_evaluate('pr_tanh', 'pr_data', 'cls') ->> 'accuracy')::numeric, 10) AS tanh_same,
       round(avg((mf_predict('pr_mlpreg', d) - y) ^ 2)::numeric, 8)
         = round((mf_evaluate('pr_mlpreg', 'pr_data', 'y') ->> 'mse')::numeric, 8) AS mlpreg_same
  FROM pr_data d;
SELECT count(DISTINCT mf_predict('pr_km', ARRAY[x1, x2])) AS clusters_used FROM pr_data;

-- The planner passes ARRAY[...] elements and table columns as plain arguments (mf.predict_simplify);
-- results are bit for bit those of the calls as written, for every function and family.
EXPLAIN (VERBOSE, COSTS OFF) SELECT mf_predict('pr_lin', ARRAY[x1, x2]), mf_predict_label('pr_bin', ARRAY[x1, x2]),
                                   mf_predict_proba('pr_bin', ARRAY[x1, x2]) FROM pr_data;
EXPLAIN (VERBOSE, COSTS OFF) SELECT mf_predict('pr_logit', d), mf_predict_label('pr_logit', d),
                                   mf_predict_proba('pr_logit', d) FROM pr_data d;
EXPLAIN (VERBOSE, COSTS OFF) SELECT mf_predict('pr_bin', s) FROM (SELECT x1, x2 FROM pr_data) s;
-- A row that an outer join can make NULL is left as it is (NULL in, NULL out), and so is a constant array.
EXPLAIN (VERBOSE, COSTS OFF) SELECT mf_predict('pr_bin', d) FROM (SELECT 1 AS k) k LEFT JOIN pr_data d ON d.i = k.k;
EXPLAIN (VERBOSE, COSTS OFF) SELECT mf_predict('pr_bin', ARRAY[1.0, 2.0]);
SELECT mf_predict('pr_bin', d) IS NULL AS null_row FROM (SELECT 0 AS k) k LEFT JOIN pr_data d ON d.i = k.k;
CREATE FUNCTION pr_all(ref_name text) RETURNS TABLE(i int, v_array float8, v_record float8, l_array text,
                                                 l_record text, p_array float8[], p_record float8[])
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format($q$
		SELECT i, mf_predict(%1$L, ARRAY[x1, x2]), mf_predict(%1$L, d), mf_predict_label(%1$L, ARRAY[x1, x2]),
			   mf_predict_label(%1$L, d),
			   CASE WHEN %1$L IN ('pr_bin', 'pr_multi', 'pr_mlp') THEN mf_predict_proba(%1$L, ARRAY[x1, x2]) END,
			   CASE WHEN %1$L IN ('pr_bin', 'pr_multi', 'pr_mlp') THEN mf_predict_proba(%1$L, d) END
		  FROM pr_data d$q$, ref_name);
END;
$$;
CREATE TEMP TABLE pr_simplified AS
SELECT m, f.* FROM unnest(ARRAY['pr_bin', 'pr_multi', 'pr_lin', 'pr_mlp', 'pr_km']) m, pr_all(m) f;
SET mf.predict_simplify = off;
EXPLAIN (VERBOSE, COSTS OFF) SELECT mf_predict('pr_lin', ARRAY[x1, x2]), mf_predict('pr_lin', d) FROM pr_data d;
CREATE TEMP TABLE pr_as_written AS
SELECT m, f.* FROM unnest(ARRAY['pr_bin', 'pr_multi', 'pr_lin', 'pr_mlp', 'pr_km']) m, pr_all(m) f;
RESET mf.predict_simplify;
SELECT s.m AS model, count(*) AS n,
       count(*) FILTER (WHERE (s.v_array, s.v_record, s.l_array, s.l_record, s.p_array, s.p_record)
                              IS DISTINCT FROM (w.v_array, w.v_record, w.l_array, w.l_record, w.p_array, w.p_record)) AS diff,
       count(*) FILTER (WHERE s.v_array IS DISTINCT FROM s.v_record) AS array_record_diff
  FROM pr_simplified s JOIN pr_as_written w USING (m, i) GROUP BY 1 ORDER BY 1;
-- Errors raised through the rewritten calls are those of the calls as written.
\set VERBOSITY terse
SELECT mf_predict('pr_bin', ARRAY[x1, x2, x1]) FROM pr_data;
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', ARRAY[x1, CASE WHEN i = 7 THEN NULL ELSE x2 END]) FROM pr_data;
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', ARRAY[x1, CASE WHEN i = 7 THEN 'NaN' ELSE x2 END]) FROM pr_data;
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', s) FROM (SELECT x1 FROM pr_data) s;
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict_proba('pr_lin', d) FROM pr_data d;
\echo :LAST_ERROR_SQLSTATE
SELECT mf._predict_args('pr_bin', 1, 2);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- A parallel plan gives the same results as a serial one.
CREATE TEMP TABLE pr_serial AS
SELECT sum(mf_predict('pr_lin', ARRAY[x1, x2])) AS lin, sum(mf_predict('pr_multi', d)) AS multi,
       count(*) FILTER (WHERE mf_predict_label('pr_logit', d) = 'yes') AS yes, sum(mf_predict('pr_km', d)) AS km
  FROM pr_data d;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT sum(mf_predict('pr_lin', ARRAY[x1, x2])) FROM pr_data;
SELECT round(p.lin::numeric, 6) = round(s.lin::numeric, 6) AS lin_same, p.multi = s.multi AS multi_same,
       p.yes = s.yes AS yes_same, p.km = s.km AS km_same
  FROM (SELECT sum(mf_predict('pr_lin', ARRAY[x1, x2])) AS lin, sum(mf_predict('pr_multi', d)) AS multi,
               count(*) FILTER (WHERE mf_predict_label('pr_logit', d) = 'yes') AS yes, sum(mf_predict('pr_km', d)) AS km
          FROM pr_data d) p, pr_serial s;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- A tiny cache evicts models (least recently used first) and results stay the same.
SHOW mf.model_cache_mb;
SET mf.model_cache_mb = 1;
SELECT sum(mf_predict('pr_lin', ARRAY[x1, x2]) + mf_predict('pr_multi', ARRAY[x1, x2]) + mf_predict('pr_km', ARRAY[x1, x2]))
       = (SELECT sum(lin + multi + km) FROM (SELECT mf_predict('pr_lin', ARRAY[x1, x2]) AS lin,
                                                    mf_predict('pr_multi', ARRAY[x1, x2]) AS multi,
                                                    mf_predict('pr_km', ARRAY[x1, x2]) AS km FROM pr_data) q) AS same
  FROM pr_data;
RESET mf.model_cache_mb;

-- A new version picked up by the next statement; a version is named exactly. A prepared statement
-- with a generic (cached) plan, rewritten by the planner, uses the new production version too.
SET plan_cache_mode = force_generic_plan;
SET extra_float_digits = 3;
PREPARE pr_prep(int) AS
SELECT (mf_predict_proba('pr_bin', ARRAY[x1, x2]))[2] AS array_p, (mf_predict_proba('pr_bin', d))[2] AS record_p
  FROM pr_data d WHERE i = $1;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE pr_prep(1);
EXECUTE pr_prep(1) \gset before_
SELECT mf_train('pr_bin', 'pr_data', 'label', '{"features": ["x1", "x2"], "C": 0.001}');
SELECT mf_set_stage('pr_bin:1.1.0', 'production');
EXECUTE pr_prep(1) \gset after_
SELECT :before_array_p = (mf_predict_proba('pr_bin:1.0.0', ARRAY[x1, x2]))[2] AS before_was_old,
       :after_array_p = (mf_predict_proba('pr_bin:1.1.0', ARRAY[x1, x2]))[2] AS array_now_new,
       :after_record_p = (mf_predict_proba('pr_bin:1.1.0', ARRAY[x1, x2]))[2] AS record_now_new,
       :before_array_p <> :after_array_p AS changed
  FROM pr_data WHERE i = 1;
DEALLOCATE pr_prep;
RESET plan_cache_mode;
SET extra_float_digits = 0;
SELECT round((mf_predict_proba('pr_bin', ARRAY[2.0, 1.0]))[2]::numeric, 6)
         = round((mf_predict_proba('pr_bin:1.1.0', ARRAY[2.0, 1.0]))[2]::numeric, 6) AS production_used,
       round((mf_predict_proba('pr_bin', ARRAY[2.0, 1.0]))[2]::numeric, 6)
         <> round((mf_predict_proba('pr_bin:1.0.0', ARRAY[2.0, 1.0]))[2]::numeric, 6) AS differs_from_old,
       mf_predict('pr_bin@production', ARRAY[2.0, 1.0]) = mf_predict('pr_bin:1.1.0', ARRAY[2.0, 1.0]) AS by_stage;
SELECT mf_set_alias('pr_bin:1.0.0', 'champion');
SELECT mf_predict_proba('pr_bin@champion', ARRAY[2.0, 1.0]) = mf_predict_proba('pr_bin:1.0.0', ARRAY[2.0, 1.0]) AS by_alias,
       mf_predict_proba('pr_bin@production', ARRAY[2.0, 1.0]) = mf_predict_proba('pr_bin:1.1.0', ARRAY[2.0, 1.0]) AS by_stage,
       mf_predict_proba('pr_bin@development', ARRAY[2.0, 1.0]) = mf_predict_proba('pr_bin:1.0.0', ARRAY[2.0, 1.0]) AS by_development;

-- Errors, each with its SQLSTATE.
\set VERBOSITY terse
SELECT mf_predict('pr_bin', ARRAY[1.0, 2.0, 3.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', ARRAY[[1.0, 2.0]]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', ARRAY[1.0, NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', ARRAY[1.0, 'NaN']);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_nope', ARRAY[1.0, 2.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin:9.9.9', ARRAY[1.0, 2.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin@staging', ARRAY[1.0, 2.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin@nobody', ARRAY[1.0, 2.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin:', ARRAY[1.0, 2.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin@Staging', ARRAY[1.0, 2.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('Bad Ref', ARRAY[1.0, 2.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_model('{"name": "pr_untrained", "family": "linear_regression"}');
SELECT mf_predict('pr_untrained', ARRAY[1.0, 2.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_prewarm('pr_untrained');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', s) FROM (SELECT 1.0::float8 AS x1) s;
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', s) FROM (SELECT 'a'::text AS x1, 2.0 AS x2) s;
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict_proba('pr_lin', ARRAY[1.0, 2.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict_proba('pr_km', s) FROM (SELECT 1.0 AS x1, 2.0 AS x2) s;
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', '{"x1": 1}'::jsonb);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', '{"x1": 1, "x2": "abc"}'::jsonb);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict('pr_bin', '[1, 2]'::jsonb);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict_batch('pr_bin', ARRAY[[1.0, 2.0, 3.0]]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict_batch('pr_bin', ARRAY[1.0, 2.0]);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_predict_batch('pr_bin', ARRAY[[1.0, NULL]]);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- Declared as the issue asks.
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args, p.provolatile, p.proisstrict,
       p.proparallel, p.procost
  FROM pg_proc p WHERE p.proname IN ('mf_predict', 'mf_predict_label', 'mf_predict_proba', 'mf_predict_batch', 'mf_prewarm')
 ORDER BY 1, 2;

-- Clean up: later tests list every model of the registry.
SELECT count(mf_drop_model(name)) AS dropped FROM mf.models WHERE name LIKE 'pr\_%';
