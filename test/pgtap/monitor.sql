-- Monitoring: who may set an endpoint (the model's owner or mf_admin, through the C gate over
-- a SECURITY DEFINER body nobody calls directly), who reads the monitoring tables, and the
-- tables' shape (mf.health_checks, mf.serving_metrics as the issue names them).
BEGIN;
SELECT plan(22);

CREATE TABLE tap_mon_data AS
SELECT i::float8 / 10 AS x, (i % 3 = 0)::int::text AS y FROM generate_series(1, 200) i;
SELECT mf_create_model('{"name": "tap_mon", "family": "logistic_regression"}');
SELECT mf_train('tap_mon', 'tap_mon_data', 'y');
SET LOCAL client_min_messages = warning;
SELECT mf_deploy('tap_mon', 'http', '{"name": "tap_mon_a"}');
SELECT deployment_id AS dep FROM mf.deployments WHERE name = 'tap_mon_a' AND status <> 'undeployed' \gset

-- The tables, as the issue names them.
SELECT columns_are('mf', 'health_checks',
				   ARRAY['deployment_id', 'checked_at', 'check', 'ok', 'latency_ms', 'http_status', 'error'],
				   'mf.health_checks has the columns of the issue');
SELECT columns_are('mf', 'serving_metrics',
				   ARRAY['model_name', 'version', 'deployment_id', 'minute', 'requests', 'errors', 'latency_p50_ms',
						 'latency_p95_ms', 'latency_p99_ms', 'bytes_in', 'bytes_out', 'rows'],
				   'mf.serving_metrics has the columns of the issue (and rows, for mf.track_predictions)');
SELECT col_type_is('mf', 'serving_metrics', 'minute', 'timestamp with time zone', 'minute is a timestamptz');
SELECT col_type_is('mf', 'health_checks', 'latency_ms', 'double precision', 'latency_ms is a float8');
SELECT function_returns('public', 'mf_set_endpoint', ARRAY['bigint', 'text', 'jsonb'], 'mf.deployments',
						'mf_set_endpoint(deployment_id bigint, url text, health jsonb) returns the deployment');
SELECT is((SELECT prosrc FROM pg_proc WHERE oid = 'mf_set_endpoint(bigint, text, jsonb)'::regprocedure), 'mf_gate',
		  'mf_set_endpoint is the C gate');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'mf._set_endpoint(bigint, text, jsonb)'::regprocedure), true,
		  'its body is SECURITY DEFINER');

CREATE ROLE tap_mon_reader NOLOGIN IN ROLE mf_reader;
CREATE ROLE tap_mon_trainer NOLOGIN IN ROLE mf_trainer;
CREATE ROLE tap_mon_admin NOLOGIN IN ROLE mf_admin;
CREATE ROLE tap_mon_nobody NOLOGIN;
GRANT SELECT ON tap_mon_data TO tap_mon_trainer;

SET LOCAL ROLE tap_mon_reader;
SELECT lives_ok($$SELECT count(*) FROM mf.health_checks$$, 'a reader reads mf.health_checks');
SELECT lives_ok($$SELECT count(*) FROM mf.serving_metrics$$, 'a reader reads mf.serving_metrics');
SELECT throws_ok($$INSERT INTO mf.serving_metrics (model_name, version, minute) VALUES ('x', '1.0.0', now())$$, '42501', NULL,
				 'a reader cannot write mf.serving_metrics');
SELECT throws_ok(format('SELECT mf_set_endpoint(%s, %L)', :dep, 'http://127.0.0.1:9'), '42501', NULL,
				 'a reader cannot set an endpoint');
SELECT throws_ok(format('SELECT mf._set_endpoint(%s, %L)', :dep, 'http://127.0.0.1:9'), '42501', NULL,
				 'nobody calls the body directly');
SELECT throws_ok($$SELECT mf._record_health(1, now(), '{}', '{}', '{}', '{}', '{}')$$, '42501', NULL,
				 'nor the worker''s functions');

SET LOCAL ROLE tap_mon_trainer;
SELECT throws_ok(format('SELECT mf_set_endpoint(%s, %L)', :dep, 'http://127.0.0.1:9'), '42501',
				 'permission denied to set the endpoint of model "tap_mon"', 'a trainer cannot set the endpoint of another''s model');
SELECT mf_create_model('{"name": "tap_mon_own", "family": "logistic_regression"}');
SELECT mf_train('tap_mon_own', 'tap_mon_data', 'y');
SELECT is((mf_set_endpoint(mf_deploy('tap_mon_own'), 'http://127.0.0.1:9')).endpoint, 'http://127.0.0.1:9',
		  'a trainer sets the endpoint of its own deployment');
SELECT is((SELECT actor::text FROM mf.events WHERE action = 'set_endpoint' AND model_name = 'tap_mon_own'), 'tap_mon_trainer',
		  'the event names the session''s role, not the definer');

SET LOCAL ROLE tap_mon_admin;
SELECT is((mf_set_endpoint(:dep, 'http://127.0.0.1:10', '{"interval": 5}')).options -> 'health', '{"interval": 5}'::jsonb,
		  'mf_admin sets the endpoint of any deployment');

SET LOCAL ROLE tap_mon_nobody;
SELECT throws_ok($$SELECT count(*) FROM mf.health_checks$$, '42501', NULL, 'a role without mf_reader cannot read the checks');
SELECT throws_ok(format('SELECT mf_set_endpoint(%s, %L)', :dep, 'http://127.0.0.1:9'), '42501', NULL,
				 'nor set an endpoint');
RESET ROLE;

-- Health rows go with their deployment only if it is deleted (never by the extension); events stay.
SELECT lives_ok(format($$SELECT mf._record_health(%s, now(), ARRAY['ready'], ARRAY[true], ARRAY[1.0], ARRAY[200], ARRAY[NULL])$$,
					   :dep), 'the owner records a round');
SELECT is((SELECT count(*) FROM mf.health_checks WHERE deployment_id = :dep), 1::bigint, 'one row per check');
SELECT throws_ok($$INSERT INTO mf.health_checks (deployment_id, checked_at, "check", ok) VALUES (-1, now(), 'ready', true)$$,
				 '23503', NULL, 'a check names an existing deployment');

SELECT * FROM finish();
ROLLBACK;
