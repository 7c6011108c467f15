-- mf_predict resolves a reference once per statement: a production version promoted (and committed)
-- by another session is used from this session's next statement, even inside an open transaction,
-- and never in the middle of a statement; a prepared statement with a cached generic plan (which the
-- planner rewrote into mf._predict_args / mf._predict_cols) also uses it at its next EXECUTE. The other session is a dblink connection; everything is
-- cleaned up at the end.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(10);

CREATE TABLE promo_data AS
SELECT i, (i % 20)::float8 - 9.5 AS a, ((i * 7) % 13)::float8 AS b,
       CASE WHEN (i % 20) + ((i * 7) % 13) % 3 >= 10 THEN 'yes' ELSE 'no' END AS label
  FROM generate_series(1, 400) i;
SELECT mf_create_model('{"name": "promo", "family": "logistic_regression"}');
SELECT mf_train('promo', 'promo_data', 'label', '{"features": ["a", "b"], "C": 100}');
SELECT mf_train('promo:1.0.0', 'promo_data', 'label', '{"features": ["a", "b"], "C": 0.0001}');
SELECT mf_set_stage('promo:1.0.0', 'production');
CREATE TEMP TABLE promo_expected AS
SELECT (mf_predict_proba('promo:1.0.0', ARRAY[3.0, 1.0]))[2] AS p_old,
       (mf_predict_proba('promo:1.1.0', ARRAY[3.0, 1.0]))[2] AS p_new;

-- EXECUTE cannot be a subquery: run the prepared statement through a function.
CREATE FUNCTION pg_temp.promo_prep_run(OUT p_array float8, OUT p_record float8)
	LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'EXECUTE promo_prep' INTO p_array, p_record; END $$;

SELECT dblink_connect('c1', format('host=127.0.0.1 port=%s dbname=%s user=%s',
                                   current_setting('port'), current_database(), current_user));

BEGIN;
SELECT is((mf_predict_proba('promo', ARRAY[3.0, 1.0]))[2], (SELECT p_old FROM promo_expected),
          'the production version 1.0.0 is used');
SELECT isnt((SELECT p_old FROM promo_expected), (SELECT p_new FROM promo_expected), 'the two versions differ');
SELECT is((SELECT v FROM dblink('c1', $$SELECT mf_set_stage('promo:1.1.0', 'production')$$) AS t(v text)),
          'promo:1.1.0', 'another session promotes 1.1.0 and commits');
SELECT is((mf_predict_proba('promo', ARRAY[3.0, 1.0]))[2], (SELECT p_new FROM promo_expected),
          'the next statement of this open transaction uses 1.1.0');
-- Promote 1.0.0 back while a statement runs: the statement keeps the version it resolved.
SELECT is((SELECT count(DISTINCT (mf_predict_proba('promo', ARRAY[3.0, 1.0]))[2])
             FROM (SELECT g, CASE WHEN g = 2 THEN dblink_exec('c1', 'DO $x$ BEGIN PERFORM mf_set_stage(''promo:1.0.0'', ''production''); END $x$') END AS x
                     FROM generate_series(1, 4) g OFFSET 0) s),
          1::bigint, 'a promotion in the middle of a statement is not seen by it');
SELECT is((mf_predict_proba('promo', ARRAY[3.0, 1.0]))[2], (SELECT p_old FROM promo_expected),
          'the statement after it uses 1.0.0 again');
COMMIT;

SET plan_cache_mode = force_generic_plan;
PREPARE promo_prep AS
SELECT (mf_predict_proba('promo', ARRAY[a, b]))[2] AS p_array, (mf_predict_proba('promo', d))[2] AS p_record
  FROM promo_data d WHERE i = 3;
SELECT is((SELECT p_array FROM pg_temp.promo_prep_run()), (SELECT (mf_predict_proba('promo:1.0.0', ARRAY[a, b]))[2] FROM promo_data WHERE i = 3),
          'a prepared statement uses the production version 1.0.0');
SELECT is((SELECT v FROM dblink('c1', $$SELECT mf_set_stage('promo:1.1.0', 'production')$$) AS t(v text)),
          'promo:1.1.0', 'another session promotes 1.1.0 again');
SELECT is((SELECT p_array FROM pg_temp.promo_prep_run()), (SELECT (mf_predict_proba('promo:1.1.0', ARRAY[a, b]))[2] FROM promo_data WHERE i = 3),
          'its next EXECUTE (array form, cached plan) uses 1.1.0');
SELECT is((SELECT p_record FROM pg_temp.promo_prep_run()), (SELECT (mf_predict_proba('promo:1.1.0', ARRAY[a, b]))[2] FROM promo_data WHERE i = 3),
          'and so does the record form');
DEALLOCATE promo_prep;
RESET plan_cache_mode;

SELECT dblink_disconnect('c1');
SELECT mf_drop_model('promo');
DROP TABLE promo_data;
SELECT * FROM finish();
