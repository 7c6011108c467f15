-- Monitoring: health options (every problem with its path), mf_set_endpoint and its errors,
-- which deployments the monitor worker polls and at which URL, the unhealthy/healthy rule of
-- mf._record_health (rounds given explicitly), mf.serving_metrics rows per minute, retention.
-- (The worker itself runs in the tests' cluster database only: test/integration/monitor_*.sh.)
\set SHOW_CONTEXT never
-- deployment ids in messages do not depend on the tests run before
SELECT setval('mf.deployments_deployment_id_seq', 100) > 0 AS numbered;

CREATE TABLE mo_data AS
SELECT i::float8 / 10 AS x, ((i * 7) % 13)::float8 AS z, (i % 3 = 0)::int::text AS y FROM generate_series(1, 300) i;
SELECT mf_create_model('{"name": "mo_churn", "family": "logistic_regression"}');
SELECT mf_train('mo_churn', 'mo_data', 'y');

-- Health options of mf_deploy: normalised (durations in seconds), every problem at once.
SET client_min_messages = warning;
SELECT mf_deploy('mo_churn', 'http', '{"name": "mo_a", "health": {"interval": "2 min", "timeout": 0.5,
                 "unhealthy_after": 5, "response_time_ms": 250, "memory_mb": 512, "canary": {"x": 1, "z": 2}}}') AS mo_a \gset
SELECT options -> 'health' AS health FROM mf.deployments WHERE deployment_id = :mo_a;
SELECT mf_deploy('mo_churn', 'http', '{"name": "mo_b", "health": {"interval": "0 s", "timeout": "soon", "unhealthy_after": 0,
                                      "response_time_ms": -1, "memory_mb": "1 GB", "canary": [], "intreval": 3}}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('mo_churn', 'http', '{"name": "mo_b", "health": {"interval": 86401, "timeout": 301, "unhealthy_after": 1.5, "canary": {}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('mo_churn', 'http', '{"name": "mo_b", "health": 30}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM mf._health_defaults();

-- mf_set_endpoint: the URL, health options, an event; NULL goes back to the in-database server.
SELECT endpoint, options FROM mf_set_endpoint(:mo_a,
                                              'http://127.0.0.1:8501', '{"interval": 1, "unhealthy_after": 2}');
SELECT action, before - 'deployment_id' AS before, after - 'deployment_id' AS after FROM mf.events
 WHERE action = 'set_endpoint' AND model_name = 'mo_churn';
SELECT endpoint, options FROM mf_set_endpoint(:mo_a, NULL);
SELECT endpoint, options ? 'endpoint_set' AS endpoint_set FROM mf_set_endpoint(:mo_a,
                                              'https://models.example.com:8443/serving/v1/models/mo_a');
-- Errors.
SELECT mf_set_endpoint(-1, 'http://localhost:1');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_endpoint(NULL, 'http://localhost:1');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_endpoint(:mo_a, 'ftp://host/x');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_endpoint(:mo_a, 'http://user:pw@host:80');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_endpoint(:mo_a, 'http://host:99999/?q=1');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_endpoint(:mo_a, 'http://host:99999');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_endpoint(:mo_a, 'http://h:1', '{"interval": [], "every": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_endpoint(:mo_a, 'http://h:1', '"30 s"');
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM mf_undeploy(:mo_a);
SELECT mf_set_endpoint(:mo_a, 'http://h:1');
\echo :LAST_ERROR_SQLSTATE
SELECT u, mf._endpoint_base(u) AS base
  FROM (VALUES ('http://h:1'), ('http://h:1/'), ('http://h:1/v1/models/churn'), ('http://h:1/p/v2/models/churn'),
               ('https://[::1]:8443/x/')) v(u);

-- The targets: remote ones at their endpoint; in-database ones only while mf.http_port is set.
SELECT mf_deploy('mo_churn', 'http', '{"name": "mo_c"}') > 0 AS deployed;
SELECT mf_deploy('mo_churn', 'http', '{"name": "mo_d"}') > 0 AS deployed;
SELECT (mf_set_endpoint(deployment_id, 'http://10.1.2.3:9000/', '{"interval": "5 s", "unhealthy_after": 2,
                        "canary": {"x": 0.5, "z": 1}}')).endpoint FROM mf.deployments WHERE name = 'mo_d';
-- (mo_c is polled at the in-database server's address only while mf.http_port is set: not listed here)
SELECT name, base_url, remote, health, canary FROM mf._monitor_targets() t JOIN mf.deployments d USING (deployment_id, name)
 WHERE d.model_name = 'mo_churn' AND t.remote ORDER BY name;

-- The rule: unhealthy_after failed rounds in a row (2 for mo_d) -> unhealthy; one passing round -> back.
CREATE FUNCTION pg_temp.round(name text, seconds_ago integer, ok boolean) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(mf._record_health(d.deployment_id, now() - make_interval(secs => seconds_ago), ARRAY['ready', 'model_loaded'],
									  ARRAY[ok, ok], ARRAY[1.5, NULL]::float8[], ARRAY[CASE WHEN ok THEN 200 END, NULL]::int[],
									  ARRAY[CASE WHEN NOT ok THEN 'connection refused' END, NULL]), '-')
	  FROM mf.deployments d WHERE d.name = $1 AND d.status <> 'undeployed';
$$;
SELECT pg_temp.round('mo_d', 60, true) AS r1, pg_temp.round('mo_d', 55, false) AS r2, pg_temp.round('mo_d', 50, true) AS r3,
       pg_temp.round('mo_d', 45, false) AS r4;
SELECT status, error FROM mf.deployments WHERE name = 'mo_d';
SELECT pg_temp.round('mo_d', 40, false) AS r5, pg_temp.round('mo_d', 35, false) AS r6;
SELECT status, error FROM mf.deployments WHERE name = 'mo_d';
SELECT pg_temp.round('mo_d', 30, true) AS r7;
SELECT status, error FROM mf.deployments WHERE name = 'mo_d';
SELECT "check", count(*), count(*) FILTER (WHERE ok) AS ok, min(http_status) AS status, min(h.error) AS error
  FROM mf.health_checks h JOIN mf.deployments d USING (deployment_id) WHERE d.name = 'mo_d' GROUP BY 1 ORDER BY 1;
SELECT before ->> 'status' AS before, after ->> 'status' AS after, after ->> 'error' AS error
  FROM mf.events WHERE action = 'health' AND model_name = 'mo_churn' ORDER BY event_id;
-- A check name the table does not know is refused.
SELECT mf._record_health(deployment_id, '2026-01-01 11:00', ARRAY['guess'], ARRAY[true], ARRAY[1.0], ARRAY[200], ARRAY[NULL])
  FROM mf.deployments WHERE name = 'mo_d';
\echo :LAST_ERROR_SQLSTATE

-- Serving metrics: one row per model, version, deployment and minute; counts add up, the
-- percentiles are the minute's latest; a served name finds its deployment; predictions have none.
SELECT mf._record_serving_metrics(NULL, 'mo_c', NULL, '1.0.0', '2026-01-01 10:00:10', 10, 1, 1, 2, 3, 100, 200, NULL);
SELECT mf._record_serving_metrics(NULL, 'mo_c', NULL, '1.0.0', '2026-01-01 10:00:50', 5, 0, 1.5, 2.5, 3.5, 50, 100, NULL);
SELECT mf._record_serving_metrics(NULL, 'mo_c', NULL, '1.0.0', '2026-01-01 10:01:00', 1, 1, NULL, NULL, NULL, 0, 0, NULL);
SELECT mf._record_serving_metrics((SELECT deployment_id FROM mf.deployments WHERE name = 'mo_d'), NULL, NULL, '1.0.0',
                                  '2026-01-01 10:00:30', 7, 7, 4, 5, 6, 70, 70, NULL);
SELECT mf._record_serving_metrics(NULL, 'mo_gone', NULL, '2.0.0', '2026-01-01 10:00:30', 3, 0, NULL, NULL, NULL, 0, 0, NULL);
SELECT mf._record_serving_metrics(NULL, NULL, 'mo_churn', '1.0.0', '2026-01-01 10:00:30', 2, 0, NULL, NULL, NULL, NULL, NULL, 2000);
SELECT mf._record_serving_metrics(NULL, NULL, 'mo_churn', '1.0.0', '2026-01-01 10:00:40', 1, 0, NULL, NULL, NULL, NULL, NULL, 1);
SELECT s.model_name, s.version, d.name AS deployment, s.minute, s.requests, s.errors, s.latency_p50_ms, s.latency_p95_ms,
       s.latency_p99_ms, s.bytes_in, s.bytes_out, s.rows
  FROM mf.serving_metrics s LEFT JOIN mf.deployments d USING (deployment_id) ORDER BY 1, 3, 4;

-- Retention: at most batch rows of each table a call, the oldest only.
INSERT INTO mf.serving_metrics (model_name, version, minute, requests)
SELECT 'mo_old', '1.0.0', '2026-01-01 09:00'::timestamptz - g * interval '1 minute', 1 FROM generate_series(1, 5) g;
-- keep: what is younger than 2026-01-01 09:30 (the rows above are older; the health checks younger)
SELECT now() - '2026-01-01 09:30'::timestamptz AS keep \gset
SELECT mf._purge_monitoring(:'keep', 3) AS removed, mf._purge_monitoring(:'keep', 3) AS removed_then,
       mf._purge_monitoring(:'keep', 3) AS nothing_left;
SELECT count(*) AS kept, count(*) FILTER (WHERE model_name = 'mo_old') AS old FROM mf.serving_metrics;

-- Settings.
SHOW mf.track_predictions;
SHOW mf.metrics_retention;
SET mf.metrics_retention = '7d';
\echo :LAST_ERROR_SQLSTATE

SELECT mf_drop_model('mo_churn');
DELETE FROM mf.serving_metrics;
DROP TABLE mo_data;
