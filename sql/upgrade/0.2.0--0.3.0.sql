-- mf_ext 0.2.0 -> 0.3.0, part 1 (the Makefile appends sql/catalog_view.sql, the functions of
-- registry.sql, config_yaml.sql, training.sql, prediction.sql, jobs.sql and deploy.sql as
-- CREATE OR REPLACE, then privileges.sql): the catalog changes of 0.3.0.
\echo Use "ALTER EXTENSION mf_ext UPDATE TO '0.3.0'" to load this file. \quit

-- The config library moved to config/.
COMMENT ON FUNCTION mf._merge_patch(jsonb, jsonb) IS 'RFC 7386 JSON merge patch of configs; a transformer shorthand key the patch gives (dropout, d_model, global_config.*, ...) is cleared from the stacks, so normalisation applies it where creation put it (config/config_update.c)';

-- Training arguments are checked by one C owner (src/train_args.c): the queue-time check takes
-- the run's normalised config instead of a classify flag computed in PL/pgSQL, and the
-- promotion's split is read from the run options with training's defaults.
DROP FUNCTION mf._check_source(text, text, jsonb, boolean, oid, text);
DROP FUNCTION mf._evaluate_on_split(bytea, text, text, float8, bigint, boolean, oid, text);

-- Deployments are audited.
ALTER TABLE mf.events DROP CONSTRAINT events_action_known;
ALTER TABLE mf.events ADD CONSTRAINT events_action_known
	CHECK (action IN ('create_model', 'create_version', 'register', 'set_stage', 'set_alias', 'drop_alias', 'drop_model',
					  'train', 'queue_job', 'promotion', 'retrain_skipped', 'deploy', 'undeploy'));
COMMENT ON COLUMN mf.events.action IS
	'create_model, create_version, register, set_stage, set_alias, drop_alias, drop_model, train, queue_job, promotion, retrain_skipped, deploy or undeploy';

-- Deployments (sql/deploy.sql has their functions).
CREATE TABLE mf.deployments (
	deployment_id bigserial PRIMARY KEY,
	model_name	text NOT NULL,
	version		text CONSTRAINT deployments_version_semver
				CHECK (version ~ '^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$'),
	ref			text NOT NULL,
	target		text NOT NULL CONSTRAINT deployments_target_known CHECK (target IN ('http', 'oci')),
	name		text NOT NULL CONSTRAINT deployments_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	endpoint	text,
	options		jsonb NOT NULL DEFAULT '{}'
				CONSTRAINT deployments_options_object CHECK (jsonb_typeof(options) = 'object' AND NOT options ? 'auth'),
	status		text NOT NULL DEFAULT 'queued'
				CONSTRAINT deployments_status_known CHECK (status IN ('queued', 'running', 'active', 'verified', 'unhealthy',
																	  'failed', 'undeployed')),
	image		text,
	job_id		bigint REFERENCES mf.jobs ON DELETE SET NULL,
	error		text,
	created_by	name NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.deployments IS
	'one row per deployment of a model (mf_deploy, mf_undeploy): the in-database HTTP server serves the live http rows; images and other targets later';
COMMENT ON COLUMN mf.deployments.deployment_id IS 'deployment number, returned by mf_deploy()';
COMMENT ON COLUMN mf.deployments.model_name IS 'the deployed model (follows a rename of the model)';
COMMENT ON COLUMN mf.deployments.version IS 'the pinned version (the ref named one), or NULL when the deployment follows ref';
COMMENT ON COLUMN mf.deployments.ref IS 'what the deployment serves: name:version (pinned), or name, name@stage, name@alias, resolved again for every request as mf._resolve does';
COMMENT ON COLUMN mf.deployments.target IS 'where it is deployed: http (the in-database HTTP server); oci (images) is reserved';
COMMENT ON COLUMN mf.deployments.name IS 'served name (options.name, default the model name): /v1/models/<name> and /v2/models/<name>; one live http deployment per name';
COMMENT ON COLUMN mf.deployments.endpoint IS 'URL of the served model (http://<mf.http_listen_addresses>:<mf.http_port>/v1/models/<name>); NULL while mf.http_port is unset or 0';
COMMENT ON COLUMN mf.deployments.options IS 'validated options without secrets: name, rate_limit, traffic (resolved: [{ref, version, weight}]), max_batch';
COMMENT ON COLUMN mf.deployments.status IS 'queued, running, active, verified, unhealthy, failed or undeployed; an http deployment is active from mf_deploy() until mf_undeploy()';
COMMENT ON COLUMN mf.deployments.image IS 'for image targets: the image reference by digest';
COMMENT ON COLUMN mf.deployments.job_id IS 'for targets deployed by a background job: the job';
COMMENT ON COLUMN mf.deployments.error IS 'why the deployment failed or is unhealthy';
COMMENT ON COLUMN mf.deployments.created_by IS 'role that deployed (from the session)';
COMMENT ON COLUMN mf.deployments.created_at IS 'when it was deployed';
COMMENT ON COLUMN mf.deployments.updated_at IS 'when its status last changed';
-- One live http deployment per served name: what the HTTP server looks up per request.
CREATE UNIQUE INDEX deployments_one_live_http_name ON mf.deployments (name)
	WHERE target = 'http' AND status NOT IN ('undeployed', 'failed');
CREATE INDEX deployments_model ON mf.deployments (model_name, deployment_id);
CREATE INDEX deployments_live ON mf.deployments (target, deployment_id) WHERE status NOT IN ('undeployed', 'failed');
CREATE INDEX deployments_job ON mf.deployments (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE mf.deployment_secrets (
	deployment_id bigint PRIMARY KEY REFERENCES mf.deployments ON DELETE CASCADE,
	bearer_hash	text NOT NULL
				CONSTRAINT deployment_secrets_bearer_hash_format CHECK (bearer_hash ~ '^sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$')
);
COMMENT ON TABLE mf.deployment_secrets IS
	'bearer tokens of deployments, as salted hashes only; readable by the extension''s owner alone (how the HTTP worker reads them is decided with the worker); a row goes at mf_undeploy()';
COMMENT ON COLUMN mf.deployment_secrets.deployment_id IS 'the deployment';
COMMENT ON COLUMN mf.deployment_secrets.bearer_hash IS
	'sha256$<salt, 16 random bytes as hex>$<hex of sha256(salt bytes || token bytes)>: a request must carry Authorization: Bearer <token>';

SELECT pg_catalog.pg_extension_config_dump('mf.deployments', '');
SELECT pg_catalog.pg_extension_config_dump('mf.deployments_deployment_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mf.deployment_secrets', '');
