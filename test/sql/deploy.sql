-- Deployments and exports: mf_deploy, mf_undeploy, mf_export_model; the rows they write
-- and every error with its SQLSTATE (option problems listed all at once, with their paths).
\set SHOW_CONTEXT never

CREATE TABLE dp_data AS
SELECT i::float8 / 10 AS x, ((i * 7) % 13)::float8 AS z, (i % 3 = 0)::int::text AS y FROM generate_series(1, 300) i;
SELECT mf_create_model('{"name": "dp_churn", "family": "logistic_regression"}');
SELECT mf_train('dp_churn', 'dp_data', 'y');
SELECT mf_create_version('dp_churn', '{}', '{"C": 0.5}');
SELECT mf_set_stage('dp_churn:1.0.0', 'production');
SELECT mf_set_alias('dp_churn:1.0.0', 'champion');

-- A pinned deployment (name:version) and one that follows promotions (name@stage).
SELECT mf_deploy('dp_churn:1.0.0', 'http', '{"name": "dp_pinned", "rate_limit": {"requests_per_minute": 600}, "max_batch": 500}') > 0 AS deployed;
SELECT mf_deploy('dp_churn@production') > 0 AS deployed;
SELECT model_name, version, ref, target, name, endpoint, options, status, image, job_id, error, created_by = current_user AS by_me
  FROM mf.deployments WHERE model_name = 'dp_churn' ORDER BY deployment_id;
-- A traffic split is stored resolved: pinned refs with their version, followed ones without.
SELECT mf_deploy('dp_churn', 'HTTP', '{"name": "dp_ab", "traffic": {"dp_churn:1.0.0": 90, "dp_churn@champion": 10}}') > 0 AS deployed;
SELECT jsonb_pretty(options) FROM mf.deployments WHERE name = 'dp_ab';

-- Options: every problem at once, each with its path.
SELECT mf_deploy('dp_churn', 'http', '{"nmae": "x", "name": "Bad-Name", "auth": {"bearer_token": "short"},
                                      "rate_limit": {"requests_per_minute": 0, "burst": 3},
                                      "traffic": {"dp_churn:9.0.0": -1, "other:1.0.0": 1, "dp_churn@nope": "x", "dp_churn:1.1.0": 1},
                                      "max_batch": 1000000, "rate_limt": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn', 'http', '{"auth": "0123456789abcdef0123", "rate_limit": 60, "traffic": {}, "max_batch": 2.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn', 'http', '{"auth": {"bearer_token": "has spaces in it, so no header can carry it", "user": "x"}}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn', 'http', '[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn', 'http', '{"auth": {}, "rate_limit": {}, "traffic": [], "max_batch": "10"}');
\echo :LAST_ERROR_SQLSTATE

-- Targets: http and oci (an image; its options: registry, repository, tag); a typo gets a suggestion.
SELECT mf_deploy('dp_churn', 'htp');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn', 'oci');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn', 'oci', '{"registry": "Bad-Name", "repository": "Models/Churn", "tag": ".x", "from": 1, "tga": "1"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn', 'oci', '{"registry": 7, "repository": "models//churn", "tag": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn', 'oci', '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn', NULL);
\echo :LAST_ERROR_SQLSTATE

-- Refs: unknown, malformed, not trained.
SELECT mf_deploy('dp_nope');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn:3.0.0');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('Bad Ref');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_deploy('dp_churn:1.1.0', 'http', '{"name": "dp_untrained"}');
\echo :LAST_ERROR_SQLSTATE

-- One live http deployment per served name.
SELECT mf_deploy('dp_churn:1.0.0');
\echo :LAST_ERROR_SQLSTATE

-- Undeploy: the row is kept, its status and updated_at change; twice or unknown is an error.
SELECT status, updated_at >= created_at AS later FROM mf_undeploy((SELECT deployment_id FROM mf.deployments WHERE name = 'dp_pinned'));
SELECT mf_undeploy((SELECT deployment_id FROM mf.deployments WHERE name = 'dp_pinned'));
\echo :LAST_ERROR_SQLSTATE
SELECT mf_undeploy(-1);
\echo :LAST_ERROR_SQLSTATE
-- Its served name is free again.
SELECT mf_deploy('dp_churn:1.0.0', 'http', '{"name": "dp_pinned"}') > 0 AS deployed;
SELECT name, status FROM mf.deployments WHERE model_name = 'dp_churn' ORDER BY deployment_id;

-- Every change is an event.
SELECT action, version, after ->> 'name' AS name, after ->> 'status' AS status, after ->> 'pinned' AS pinned,
       after ->> 'auth' AS auth, before ->> 'status' AS before
  FROM mf.events WHERE model_name = 'dp_churn' AND action IN ('deploy', 'undeploy') ORDER BY event_id;

-- Renaming the model or a version renames what its deployments name.
SELECT mf_register_model('dp_churn', name => 'dp_renamed');
SELECT mf_register_model('dp_renamed:1.0.0', version => '1.0.1');
SELECT model_name, version, ref, name, options -> 'traffic' AS traffic FROM mf.deployments
 WHERE model_name = 'dp_renamed' AND status = 'active' ORDER BY deployment_id;
SELECT mf_register_model('dp_renamed:1.0.1', name => 'dp_churn', version => '1.0.0');

-- The endpoint: from mf.http_listen_addresses (first address) and mf.http_port; NULL while the port is off.
SELECT a, p, mf._http_endpoint(a, p, 'churn') AS endpoint
  FROM (VALUES (NULL, NULL), ('localhost', '0'), (NULL, '8501'), ('localhost', '8501'), ('*', '8080'),
               ('10.0.0.5, localhost', '80'), ('::1', '8501'), ('localhost', 'x'), ('localhost', '70000')) v(a, p);

-- Export: a ustar archive of <name>/<n>/ (n = version_id) with model.mfa and serving.json, the same bytes every time.
SELECT length(t) % 10240 = 0 AS whole_records, t = mf_export_model('dp_churn@champion') AS deterministic,
       split_part(encode(substr(t, 1, 100), 'escape'), '\000', 1) AS first_member,
       split_part(encode(substr(t, 513, 100), 'escape'), '\000', 1)
         = 'dp_churn/' || (SELECT version_id FROM mf.catalog WHERE ref = 'dp_churn:1.0.0') || '/' AS version_dir,
       encode(substr(t, 258, 5), 'escape') AS magic
  FROM (SELECT mf_export_model('dp_churn') AS t) x;
SELECT mf_export_model('dp_churn:1.1.0');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_export_model('dp_nope');
\echo :LAST_ERROR_SQLSTATE

-- Dropping a model undeploys its live deployments (their rows and events stay).
SELECT mf_create_model('{"name": "dp_tmp", "family": "linear_regression"}');
SELECT mf_train('dp_tmp', 'dp_data', 'z', '{"features": ["x"]}');
SELECT mf_deploy('dp_tmp', 'http', '{"auth": {"bearer_token": "dp-tmp-token-0123456789"}}') > 0 AS deployed;
SELECT count(*) AS secrets FROM mf.deployment_secrets s JOIN mf.deployments d USING (deployment_id) WHERE d.model_name = 'dp_tmp';
SELECT mf_drop_model('dp_tmp');
SELECT name, status FROM mf.deployments WHERE model_name = 'dp_tmp';
SELECT count(*) AS secrets FROM mf.deployment_secrets s JOIN mf.deployments d USING (deployment_id) WHERE d.model_name = 'dp_tmp';
SELECT action, after ->> 'status' AS status FROM mf.events WHERE model_name = 'dp_tmp' AND action LIKE '%deploy' ORDER BY event_id;

-- Leave the database as found (later tests list every model): dropping undeploys the rest.
SELECT mf_drop_model('dp_churn');
SELECT count(*) FILTER (WHERE status <> 'undeployed') AS live, count(*) AS kept FROM mf.deployments;
DROP TABLE dp_data;
