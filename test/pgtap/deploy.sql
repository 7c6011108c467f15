-- Deployments: pinned and following refs, events, the bearer token kept only as a salted hash
-- and readable by nobody but the extension's owner, one live http deployment per served name,
-- who may deploy, undeploy and export (test/integration/deploy_roles.sh replays these from
-- real LOGIN roles and checks the server log).
BEGIN;
SELECT plan(37);

CREATE TABLE tap_dep_data AS
SELECT i::float8 / 10 AS x, ((i * 7) % 13)::float8 AS z, (i % 3 = 0)::int::text AS y FROM generate_series(1, 300) i;
SELECT mf_create_model('{"name": "tap_dep", "family": "logistic_regression"}');
SELECT mf_train('tap_dep', 'tap_dep_data', 'y');
SELECT mf_train(mf_create_version('tap_dep', '{}', '{"C": 0.5}'), 'tap_dep_data', 'y');
SELECT mf_set_stage('tap_dep:1.0.0', 'production');
SET LOCAL client_min_messages = warning;

-- Pinned and following.
SELECT lives_ok($$SELECT mf_deploy('tap_dep:1.0.0', 'http', '{"name": "tap_pinned"}')$$, 'a version ref deploys');
SELECT lives_ok($$SELECT mf_deploy('tap_dep@production', 'http', '{"name": "tap_follow"}')$$, 'a stage ref deploys');
SELECT is((SELECT version || ' ' || ref FROM mf.deployments WHERE name = 'tap_pinned'), '1.0.0 tap_dep:1.0.0',
		  'name:version is pinned: version set');
SELECT is((SELECT coalesce(version, 'NULL') || ' ' || ref FROM mf.deployments WHERE name = 'tap_follow'),
		  'NULL tap_dep@production', 'name@stage follows: version NULL, ref kept');
SELECT mf_set_stage('tap_dep:1.1.0', 'production');
SELECT is((SELECT r.version FROM mf.deployments d, mf._resolve(d.ref) r WHERE d.name = 'tap_follow'), '1.1.0',
		  'after a promotion the followed ref resolves to the new production version');
SELECT is((SELECT r.version FROM mf.deployments d, mf._resolve(d.ref) r WHERE d.name = 'tap_pinned'), '1.0.0',
		  'the pinned one still serves its version');
SELECT is((SELECT status FROM mf.deployments WHERE name = 'tap_follow'), 'active', 'an http deployment is active');

-- Events.
SELECT is((SELECT count(*) FROM mf.events WHERE model_name = 'tap_dep' AND action = 'deploy' AND actor = current_user),
		  2::bigint, 'each deploy is an event naming the actor');
SELECT is((SELECT (after ->> 'deployment_id')::bigint FROM mf.events WHERE action = 'deploy' AND after ->> 'name' = 'tap_pinned'),
		  (SELECT deployment_id FROM mf.deployments WHERE name = 'tap_pinned'), 'the event names the deployment');
SELECT is((mf_undeploy((SELECT deployment_id FROM mf.deployments WHERE name = 'tap_pinned'))).status, 'undeployed',
		  'mf_undeploy returns the row, undeployed');
SELECT is((SELECT before ->> 'status' || '>' || (after ->> 'status') FROM mf.events WHERE action = 'undeploy'
			AND model_name = 'tap_dep'), 'active>undeployed', 'undeploying is an event with before and after');

-- One live http deployment per served name.
SELECT throws_ok($$SELECT mf_deploy('tap_dep:1.1.0', 'http', '{"name": "tap_follow"}')$$, '42710', NULL,
				 'a served name already live is refused');
SELECT throws_ok($$INSERT INTO mf.deployments (model_name, ref, target, name, status, created_by)
				   VALUES ('tap_dep', 'tap_dep', 'http', 'tap_follow', 'active', current_user)$$, '23505', NULL,
				 'the unique index holds even for a direct insert by the owner');
SELECT lives_ok($$INSERT INTO mf.deployments (model_name, ref, target, name, status, created_by)
				  VALUES ('tap_dep', 'tap_dep', 'http', 'tap_follow', 'failed', current_user)$$,
				'a failed deployment does not hold its name');
SELECT lives_ok($$SELECT mf_deploy('tap_dep:1.0.0', 'http', '{"name": "tap_pinned"}')$$,
				'an undeployed name is free again');

-- The bearer token: only a salted hash, in a table of its own.
SELECT lives_ok($$SELECT mf_deploy('tap_dep', 'http', '{"name": "tap_auth", "auth": {"bearer_token": "tap-secret-token-0123456789abcdef"}}')$$,
				'a deployment with a bearer token');
SELECT lives_ok($$SELECT mf_deploy('tap_dep', 'http', '{"name": "tap_auth2", "auth": {"bearer_token": "tap-secret-token-0123456789abcdef"}}')$$,
				'a second one with the same token');
SELECT ok((SELECT bearer_hash ~ '^sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$' FROM mf.deployment_secrets s
			JOIN mf.deployments d USING (deployment_id) WHERE d.name = 'tap_auth'), 'stored as sha256$<salt>$<hash>');
SELECT is((SELECT encode(sha256(decode(split_part(bearer_hash, '$', 2), 'hex') || 'tap-secret-token-0123456789abcdef'::bytea), 'hex')
			 FROM mf.deployment_secrets s JOIN mf.deployments d USING (deployment_id) WHERE d.name = 'tap_auth'),
		  (SELECT split_part(bearer_hash, '$', 3) FROM mf.deployment_secrets s JOIN mf.deployments d USING (deployment_id)
			WHERE d.name = 'tap_auth'), 'the hash is sha256(salt bytes || token bytes)');
SELECT isnt((SELECT split_part(bearer_hash, '$', 2) FROM mf.deployment_secrets s JOIN mf.deployments d USING (deployment_id) WHERE d.name = 'tap_auth'),
			(SELECT split_part(bearer_hash, '$', 2) FROM mf.deployment_secrets s JOIN mf.deployments d USING (deployment_id) WHERE d.name = 'tap_auth2'),
			'every hash has its own salt');
SELECT is((SELECT count(*) FROM mf.deployments d WHERE d::text LIKE '%tap-secret-token%')
		  + (SELECT count(*) FROM mf.events e WHERE e::text LIKE '%tap-secret-token%')
		  + (SELECT count(*) FROM mf.deployment_secrets s WHERE s::text LIKE '%tap-secret-token%'), 0::bigint,
		  'the token is in no row of mf.deployments, mf.events or mf.deployment_secrets');
SELECT is((SELECT options ? 'auth' FROM mf.deployments WHERE name = 'tap_auth'), false, 'options keep no auth');
SELECT is((SELECT after ->> 'auth' FROM mf.events WHERE action = 'deploy' AND after ->> 'name' = 'tap_auth'), 'bearer',
		  'the event says a token is required, not which');
CREATE FUNCTION pg_temp.refusal_text(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m text; d text; h text; c text;
BEGIN
	EXECUTE stmt;
	RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT, c = PG_EXCEPTION_CONTEXT;
	RETURN concat_ws(' | ', m, d, h, c);
END;
$$;
SELECT unalike(pg_temp.refusal_text($$SELECT mf_deploy('tap_dep', 'http', '{"auth": {"bearer_token": "tap-refused-token-0123456789", "x": 1}, "max_batch": 0}')$$),
			  '%tap-refused-token%', 'a refused deploy does not echo the token in its error');
SELECT unalike(pg_temp.refusal_text($$SELECT mf_deploy('tap_dep', 'http', '{"auth": {"bearer_token": "tap refused token with spaces"}}')$$),
			  '%tap refused token%', 'nor does an invalid token');

-- Who may read, deploy, undeploy and export.
CREATE ROLE tap_dep_reader NOLOGIN IN ROLE mf_reader;
CREATE ROLE tap_dep_trainer NOLOGIN IN ROLE mf_trainer;
CREATE ROLE tap_dep_nobody NOLOGIN;
GRANT SELECT ON tap_dep_data TO tap_dep_trainer;
SET LOCAL ROLE tap_dep_reader;
SELECT is((SELECT count(*) FROM mf.deployments WHERE model_name = 'tap_dep' AND status = 'active'), 4::bigint,
		  'a reader reads mf.deployments');
SELECT throws_ok($$SELECT * FROM mf.deployment_secrets$$, '42501', NULL, 'a reader cannot read mf.deployment_secrets');
SELECT throws_ok($$SELECT mf_deploy('tap_dep', 'http', '{"name": "tap_reader"}')$$, '42501', NULL, 'a reader cannot deploy');
SELECT throws_ok($$SELECT mf_export_model('tap_dep')$$, '42501', 'permission denied to export model "tap_dep"',
				 'a reader may predict but not export the artifact (it holds the training categories)');
SET LOCAL ROLE tap_dep_trainer;
SELECT throws_ok($$SELECT * FROM mf.deployment_secrets$$, '42501', NULL, 'a trainer cannot read mf.deployment_secrets');
SELECT throws_ok($$SELECT mf_deploy('tap_dep', 'http', '{"name": "tap_theirs"}')$$, '42501',
				 'permission denied to deploy model "tap_dep"', 'a trainer cannot deploy another''s model (42501 naming it)');
SELECT throws_ok(format('SELECT mf_undeploy(%s)', (SELECT deployment_id FROM mf.deployments WHERE name = 'tap_follow' AND status = 'active')),
				 '42501', 'permission denied to undeploy model "tap_dep"', 'nor undeploy it');
SELECT mf_create_model('{"name": "tap_dep_own", "family": "linear_regression"}');
SELECT mf_train('tap_dep_own', 'tap_dep_data', 'z', '{"features": ["x"]}');
SELECT lives_ok($$SELECT mf_undeploy(mf_deploy('tap_dep_own'))$$, 'a trainer deploys and undeploys its own model');
SELECT ok(length(mf_export_model('tap_dep_own')) > 0, 'a trainer exports its own model');
SET LOCAL ROLE tap_dep_nobody;
SELECT throws_ok($$SELECT mf_export_model('tap_dep')$$, '42501', NULL, 'a role without mf_reader cannot export');
SELECT throws_ok($$SELECT mf_deploy('tap_dep')$$, '42501', NULL, 'nor deploy');
RESET ROLE;

-- Dropping a model undeploys its live deployments and forgets their secrets; the rows stay.
SELECT mf_drop_model('tap_dep');
SELECT is((SELECT count(*) FILTER (WHERE status = 'undeployed') || '/' || count(*) FROM mf.deployments WHERE model_name = 'tap_dep'),
		  '6/6', 'every deployment of a dropped model is undeployed and kept');

SELECT * FROM finish();
ROLLBACK;
