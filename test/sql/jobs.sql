-- Background jobs: queue-time validation (every error raised by mf_train_async
-- and mf_retrain before anything is queued), the launcher check, unknown jobs.
-- This database is not mf.database, so no job can be queued here: the last
-- check of mf_train_async says so.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE TABLE job_src AS SELECT i, (i % 7)::float8 AS x1, (i % 5)::float8 AS x2, (i % 2 = 0) AS label
  FROM generate_series(1, 50) i;
SELECT mf_create_model('{"name": "job_model", "family": "logistic_regression"}');
SELECT mf_create_model('{"name": "job_km", "family": "kmeans", "k": 2}');

-- Arguments.
SELECT mf_train_async(NULL, 'job_src', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_model', 'job_src', 'label', '[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('no_model', 'job_src', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_model:9.9.9', 'job_src', 'label');
\echo :LAST_ERROR_SQLSTATE

-- Options: unknown keys, bad values, bad hyperparameters.
SELECT mf_train_async('job_model', 'job_src', 'label', '{"epochz": 3}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_model', 'job_src', 'label', '{"test_size": 1.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_model', 'job_src', 'label', '{"features": "x1"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_model', 'job_src', 'label', '{"max_attempts": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_model', 'job_src', 'label', '{"C": -1}');
\echo :LAST_ERROR_SQLSTATE

-- Sources, targets and features.
SELECT mf_train_async('job_model', 'no_such_table', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_model', 'job_src', 'no_such_column');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_model', 'job_src', 'label', '{"features": ["x1", "nope"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_model', 'SELECT x1 FROM job_srcc', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_model', 'job_src');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train_async('job_km', 'job_src', 'label');
\echo :LAST_ERROR_SQLSTATE

-- Everything valid: refused because no launcher serves this database.
SELECT mf_train_async('job_model', 'job_src', 'label', '{"features": ["x1", "x2"], "max_attempts": 3}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS jobs FROM mf.jobs;

-- mf_retrain: policy options and the training_spec it needs.
SELECT mf_retrain('job_model', '{"promote": "sometimes"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_retrain('job_model', '{"metric": "speed"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_retrain('job_model', '{"min_delta": -0.1}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_retrain('job_model', '{"min_new_rows": 1.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_retrain('job_model');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_train('job_model', 'job_src', 'label');
-- An untrained newer version: a bare name falls back to the newest trained version, a version ref does not.
SELECT mf_create_version('job_model:1.0.0', ARRAY['untrained'], '{}');
SELECT mf_retrain('job_model:1.1.0');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_retrain('job_model', '{"min_new_rows": 1}') IS NULL AS skipped;
SELECT action, version, after ->> 'rows_seen' AS rows_seen, after ->> 'rows_now' AS rows_now
  FROM mf.events WHERE model_name = 'job_model' AND action = 'retrain_skipped';
SELECT mf_retrain('job_model');
\echo :LAST_ERROR_SQLSTATE

-- Unknown jobs.
SELECT mf_wait(424242);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_cancel_job(424242);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM mf_job_log(424242);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_wait(NULL);
\echo :LAST_ERROR_SQLSTATE
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT mf_wait(424242);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- The catalog is documented and dumped.
SELECT c.relname, obj_description(c.oid) IS NOT NULL AS commented,
       (SELECT bool_and(col_description(c.oid, a.attnum) IS NOT NULL) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns_commented,
       c.oid = ANY ((SELECT extconfig FROM pg_extension WHERE extname = 'mf_ext')::oid[]) AS dumped
  FROM pg_class c WHERE c.oid IN ('mf.jobs'::regclass, 'mf.job_events'::regclass) ORDER BY 1;
SELECT p.proname FROM pg_proc p WHERE p.pronamespace IN ('mf'::regnamespace, 'public'::regnamespace)
   AND (p.proname LIKE '%job%' OR p.proname IN ('mf_wait', 'mf_retrain', 'mf_train_async'))
   AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT has_function_privilege('public', 'mf._claim_job(integer)', 'EXECUTE') AS public_can_claim;
-- The statuses and phases of the CHECK constraints are exactly those of src/job_state.h (expect no rows).
WITH c AS (SELECT CASE conname WHEN 'jobs_status_known' THEN 'status' ELSE 'phase' END AS kind,
                  (regexp_matches(pg_get_constraintdef(oid), '''([a-z_]+)''', 'g'))[1] AS name
             FROM pg_constraint WHERE conrelid = 'mf.jobs'::regclass AND conname IN ('jobs_status_known', 'jobs_phase_known'))
(SELECT 'only in SQL' AS side, * FROM c EXCEPT SELECT 'only in SQL', * FROM mf._job_states())
UNION ALL
(SELECT 'only in C', * FROM mf._job_states() EXCEPT SELECT 'only in C', * FROM c);

-- Leave the shared regression database as we found it (other tests list every model).
SELECT mf_drop_model('job_model');
SELECT mf_drop_model('job_km');
DROP TABLE job_src;
