/*
 * mf_ext - the model catalog (schema mf): tables and the config C helpers.
 * The Makefile concatenates sql/catalog.sql, catalog_view.sql,
 * registry.sql, config_yaml.sql, training.sql, prediction.sql, jobs.sql,
 * deploy.sql and privileges.sql into the install script
 * mf_ext--<version>.sql; each file's header says which rules it owns.
 *
 * Design: catalog tables hold the truth and only the extension's owner
 * writes them (privileges.sql); the writing mf_* functions are C gates over
 * SECURITY DEFINER PL/pgSQL bodies (mf._<name>) that check who calls them
 * (src/privileges.c).  Config parsing, validation, normalisation and
 * parameter counting are C (mf_core, over the pure C library in kernels/).
 * Functions users call live in the extension's schema (mf_*); helpers live
 * in schema mf and start with an underscore.
 *
 * Owns: the tables in their final form and their constraints (the CHECK
 * lists of job statuses and phases are compared with src/job_state.h
 * through mf._job_states() by the tests), and the append-only rule of
 * mf.events (a trigger).  Thin callers of C: the config helpers declared
 * here (config/config*.c owns every config rule).  No PL/pgSQL function
 * of 25 lines or more.
 */
\echo Use "CREATE EXTENSION mf_ext" to load this file. \quit

CREATE SCHEMA mf;
COMMENT ON SCHEMA mf IS 'mf_ext model factory: catalog of models, versions, artifacts, templates and lifecycle events';

-- ---------------------------------------------------------------------------
-- C helpers (mf_core)
-- ---------------------------------------------------------------------------

CREATE FUNCTION mf._normalize_config(config jsonb, OUT config jsonb, OUT family text,
									 OUT n_parameters bigint, OUT config_hash text)
	RETURNS record
	AS 'MODULE_PATHNAME', 'mf_normalize_config'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf._normalize_config(jsonb) IS 'validate a model config and fill every default; raises 22023 listing all problems';

CREATE FUNCTION mf._yaml_to_jsonb(yaml text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_yaml_to_jsonb'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION mf._merge_patch(target jsonb, patch jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_merge_patch'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf._merge_patch(jsonb, jsonb) IS 'RFC 7386 JSON merge patch of configs; a transformer shorthand key the patch gives (dropout, d_model, global_config.*, ...) is cleared from the stacks, so normalisation applies it where creation put it (config/config_update.c)';

CREATE FUNCTION mf._canonical_json(value jsonb) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_canonical_json'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf._canonical_json(jsonb) IS 'canonical JSON text (sorted keys, no spaces, shortest reals): what config_hash hashes';

CREATE FUNCTION mf._builtin_templates()
	RETURNS TABLE(name text, family text, description text, config jsonb)
	AS 'MODULE_PATHNAME', 'mf_list_builtin_templates'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION mf._build_info() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_build_info'
	LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION mf_validate_config(config jsonb)
	RETURNS TABLE(path text, problem text)
	AS 'MODULE_PATHNAME', 'mf_validate_config'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf_validate_config(jsonb) IS 'every problem of a model config as (JSON path, problem); no rows when valid';

CREATE FUNCTION mf_list_model_types()
	RETURNS TABLE(family text, description text)
	AS 'MODULE_PATHNAME', 'mf_list_model_types'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mf_list_model_types() IS 'the model families mf_ext knows';

-- ---------------------------------------------------------------------------
-- Catalog
-- ---------------------------------------------------------------------------

CREATE TABLE mf.models (
	model_id	bigserial PRIMARY KEY,
	name		text NOT NULL UNIQUE
				CONSTRAINT models_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	family		text NOT NULL
				CONSTRAINT models_family_known CHECK (family IN ('linear_regression', 'logistic_regression', 'mlp', 'kmeans', 'transformer')),
	description text,
	tags		text[] NOT NULL DEFAULT '{}'
				CONSTRAINT models_tags_no_nulls CHECK (array_position(tags, NULL) IS NULL),
	owner		name NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.models IS 'one row per model: a named family of versions';
COMMENT ON COLUMN mf.models.model_id IS 'surrogate key';
COMMENT ON COLUMN mf.models.name IS 'unique model name: lowercase letter, then up to 62 lowercase letters, digits or underscores';
COMMENT ON COLUMN mf.models.family IS 'model family: linear_regression, logistic_regression, mlp, kmeans or transformer';
COMMENT ON COLUMN mf.models.description IS 'free-text description';
COMMENT ON COLUMN mf.models.tags IS 'labels for search (GIN-indexed; mf_search_models matches all given tags)';
COMMENT ON COLUMN mf.models.owner IS 'role that owns the model (its creator): changing, training, promoting or dropping it needs membership in this role or mf_admin';
COMMENT ON COLUMN mf.models.created_at IS 'when the model was created';
COMMENT ON COLUMN mf.models.updated_at IS 'when the model row last changed (rename, tags, description)';
CREATE INDEX models_tags_gin ON mf.models USING gin (tags);

CREATE TABLE mf.model_versions (
	version_id	bigserial PRIMARY KEY,
	model_id	bigint NOT NULL REFERENCES mf.models ON DELETE CASCADE,
	version		text NOT NULL
				CONSTRAINT model_versions_semver CHECK (version ~ '^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$'),
	config		jsonb NOT NULL CONSTRAINT model_versions_config_object CHECK (jsonb_typeof(config) = 'object'),
	config_hash text NOT NULL CONSTRAINT model_versions_config_hash_hex CHECK (config_hash ~ '^[0-9a-f]{64}$'),
	parent_version_id bigint REFERENCES mf.model_versions ON DELETE SET NULL,
	improvements text[] NOT NULL DEFAULT '{}',
	metadata	jsonb NOT NULL DEFAULT '{}' CONSTRAINT model_versions_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
	metrics		jsonb NOT NULL DEFAULT '{}'
				CONSTRAINT model_versions_metrics_object CHECK (jsonb_typeof(metrics) = 'object')
				CONSTRAINT model_versions_accuracy_number CHECK (NOT metrics ? 'accuracy' OR jsonb_typeof(metrics -> 'accuracy') = 'number'),
	stage		text NOT NULL DEFAULT 'development'
				CONSTRAINT model_versions_stage_known CHECK (stage IN ('development', 'staging', 'production', 'archived')),
	status		text NOT NULL DEFAULT 'created'
				CONSTRAINT model_versions_status_known CHECK (status IN ('created', 'training', 'trained', 'failed')),
	n_parameters bigint CONSTRAINT model_versions_n_parameters_nonneg CHECK (n_parameters >= 0),
	feature_schema jsonb,
	training_spec jsonb,
	dependencies jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT now(),
	trained_at	timestamptz,
	created_by	name NOT NULL,
	UNIQUE (model_id, version),
	CONSTRAINT model_versions_production_trained CHECK (stage <> 'production' OR status = 'trained')
);
COMMENT ON TABLE mf.model_versions IS 'one row per model version: normalised config, lineage, metrics and lifecycle stage';
COMMENT ON COLUMN mf.model_versions.version_id IS 'surrogate key';
COMMENT ON COLUMN mf.model_versions.model_id IS 'the model this version belongs to';
COMMENT ON COLUMN mf.model_versions.version IS 'semantic version MAJOR.MINOR.PATCH, unique per model';
COMMENT ON COLUMN mf.model_versions.config IS 'normalised config: every default filled in';
COMMENT ON COLUMN mf.model_versions.config_hash IS 'sha256 (hex) of the canonical JSON of config';
COMMENT ON COLUMN mf.model_versions.parent_version_id IS 'lineage: the version this one was derived from';
COMMENT ON COLUMN mf.model_versions.improvements IS 'what this version changed relative to its parent';
COMMENT ON COLUMN mf.model_versions.metadata IS 'free-form facts about the version (dataset, owner team, ...)';
COMMENT ON COLUMN mf.model_versions.metrics IS 'measured quality: accuracy, f1, r2, ... (from training or registered externally)';
COMMENT ON COLUMN mf.model_versions.stage IS 'lifecycle stage: development, staging, production (at most one per model) or archived';
COMMENT ON COLUMN mf.model_versions.status IS 'training status: created, training, trained or failed';
COMMENT ON COLUMN mf.model_versions.n_parameters IS 'number of trainable parameters (NULL until the input width is known)';
COMMENT ON COLUMN mf.model_versions.feature_schema IS 'input features: names, types, encodings, scaling, labels (set by training); raw category values are visible to the model''s owner and mf_admin (mf_get_model redacts them for other readers)';
COMMENT ON COLUMN mf.model_versions.training_spec IS 'source, target, features and options of the training run, the role whose rights the source runs with (run_as) and its search_path, for retraining; visible to the model''s owner and mf_admin';
COMMENT ON COLUMN mf.model_versions.dependencies IS 'versions of mf_ext, PostgreSQL, BLAS and libraries that made this version';
COMMENT ON COLUMN mf.model_versions.created_at IS 'when the version was created';
COMMENT ON COLUMN mf.model_versions.trained_at IS 'when training finished';
COMMENT ON COLUMN mf.model_versions.created_by IS 'role that created the version';
CREATE UNIQUE INDEX model_versions_one_production ON mf.model_versions (model_id) WHERE stage = 'production';
CREATE INDEX model_versions_accuracy ON mf.model_versions (((metrics ->> 'accuracy')::float8));
CREATE INDEX model_versions_parent ON mf.model_versions (parent_version_id);

CREATE TABLE mf.artifacts (
	version_id	bigint PRIMARY KEY REFERENCES mf.model_versions ON DELETE CASCADE,
	format_version integer NOT NULL CONSTRAINT artifacts_format_positive CHECK (format_version > 0),
	bytes		bytea NOT NULL,
	size_bytes	bigint GENERATED ALWAYS AS (octet_length(bytes)) STORED,
	sha256		text GENERATED ALWAYS AS (encode(sha256(bytes), 'hex')) STORED,
	created_at	timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE mf.artifacts ALTER COLUMN bytes SET STORAGE EXTERNAL;
COMMENT ON TABLE mf.artifacts IS 'trained weights, one artifact per version; kept apart so catalog queries never read weights';
COMMENT ON COLUMN mf.artifacts.version_id IS 'the version these weights belong to';
COMMENT ON COLUMN mf.artifacts.format_version IS 'version of the binary artifact format';
COMMENT ON COLUMN mf.artifacts.bytes IS 'the artifact (stored uncompressed: weights do not compress)';
COMMENT ON COLUMN mf.artifacts.size_bytes IS 'size of the artifact in bytes';
COMMENT ON COLUMN mf.artifacts.sha256 IS 'sha256 (hex) of the artifact';
COMMENT ON COLUMN mf.artifacts.created_at IS 'when the artifact was written';

CREATE TABLE mf.aliases (
	model_id	bigint NOT NULL REFERENCES mf.models ON DELETE CASCADE,
	alias		text NOT NULL
				CONSTRAINT aliases_format CHECK (alias ~ '^[a-z][a-z0-9_]{0,62}$'
												 AND alias NOT IN ('development', 'staging', 'production', 'archived')),
	version_id	bigint NOT NULL REFERENCES mf.model_versions ON DELETE CASCADE,
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (model_id, alias)
);
COMMENT ON TABLE mf.aliases IS 'movable named pointers to versions (champion, challenger, ...), unique per model';
COMMENT ON COLUMN mf.aliases.model_id IS 'the model';
COMMENT ON COLUMN mf.aliases.alias IS 'alias name, used in refs as name@alias';
COMMENT ON COLUMN mf.aliases.version_id IS 'the version the alias points at';
COMMENT ON COLUMN mf.aliases.updated_at IS 'when the alias last moved';

CREATE TABLE mf.templates (
	name		text PRIMARY KEY CONSTRAINT templates_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	family		text NOT NULL,
	description text NOT NULL DEFAULT '',
	config		jsonb NOT NULL CONSTRAINT templates_config_object CHECK (jsonb_typeof(config) = 'object'),
	builtin		boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE mf.templates IS 'named starting configs; mf_create_model(template, overrides) deep-merges overrides into them';
COMMENT ON COLUMN mf.templates.name IS 'template name';
COMMENT ON COLUMN mf.templates.family IS 'model family the template creates';
COMMENT ON COLUMN mf.templates.description IS 'what the template is for';
COMMENT ON COLUMN mf.templates.config IS 'the template config (without a model name)';
COMMENT ON COLUMN mf.templates.builtin IS 'true for templates shipped with mf_ext (not dumped by pg_dump)';
INSERT INTO mf.templates (name, family, description, config, builtin)
	SELECT name, family, description, config, true FROM mf._builtin_templates();

CREATE TABLE mf.events (
	event_id	bigserial PRIMARY KEY,
	occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor		name NOT NULL,
	action		text NOT NULL
				CONSTRAINT events_action_known CHECK (action IN ('create_model', 'create_version', 'register', 'set_stage',
																  'set_alias', 'drop_alias', 'drop_model', 'train',
																  'queue_job', 'promotion', 'retrain_skipped', 'deploy',
																  'undeploy', 'health', 'set_endpoint', 'gate_refused')),
	model_id	bigint,
	model_name	text NOT NULL,
	version_id	bigint,
	version		text,
	before		jsonb,
	after		jsonb
);
COMMENT ON TABLE mf.events IS 'append-only audit of lifecycle changes: who did what, when, before and after';
COMMENT ON COLUMN mf.events.event_id IS 'order of events';
COMMENT ON COLUMN mf.events.occurred_at IS 'when it happened';
COMMENT ON COLUMN mf.events.actor IS 'role that did it (current_user of the session when it called the mf_ext function; for a job, the role that queued it)';
COMMENT ON COLUMN mf.events.action IS
	'create_model, create_version, register, set_stage, set_alias, drop_alias, drop_model, train, queue_job, promotion, retrain_skipped, deploy, undeploy, health (the monitor worker changed a deployment''s status to or from unhealthy), set_endpoint or gate_refused (a gated registry refused an untested image)';
COMMENT ON COLUMN mf.events.model_id IS 'the model (kept after the model is dropped)';
COMMENT ON COLUMN mf.events.model_name IS 'the model name at the time';
COMMENT ON COLUMN mf.events.version_id IS 'the version concerned, if any';
COMMENT ON COLUMN mf.events.version IS 'the version string at the time';
COMMENT ON COLUMN mf.events.before IS 'state before the change';
COMMENT ON COLUMN mf.events.after IS 'state after the change';
CREATE INDEX events_model ON mf.events (model_id, event_id);

-- mf.events rejects UPDATE, DELETE and TRUNCATE, whoever asks.
CREATE FUNCTION mf._events_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	RAISE EXCEPTION 'mf.events is append-only'
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = format('%s on mf.events is not allowed.', TG_OP),
			  HINT = 'Lifecycle history cannot be rewritten; record a new event instead.';
END;
$$;
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON mf.events
	FOR EACH ROW EXECUTE FUNCTION mf._events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON mf.events
	FOR EACH STATEMENT EXECUTE FUNCTION mf._events_append_only();

-- The view mf.catalog is in sql/catalog_view.sql (also run by upgrades).


-- pg_dump keeps user data (built-in templates are recreated by CREATE EXTENSION).
SELECT pg_catalog.pg_extension_config_dump('mf.models', '');
SELECT pg_catalog.pg_extension_config_dump('mf.models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mf.model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('mf.model_versions_version_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mf.artifacts', '');
SELECT pg_catalog.pg_extension_config_dump('mf.aliases', '');
SELECT pg_catalog.pg_extension_config_dump('mf.templates', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('mf.events', '');
SELECT pg_catalog.pg_extension_config_dump('mf.events_event_id_seq', '');

-- Background jobs (sql/jobs.sql has their functions).
CREATE TABLE mf.jobs (
	job_id		bigserial PRIMARY KEY,
	kind		text NOT NULL DEFAULT 'train'
				CONSTRAINT jobs_kind_known CHECK (kind IN ('train', 'export', 'deploy', 'smoke_test')),
	version_id	bigint REFERENCES mf.model_versions ON DELETE SET NULL,
	status		text NOT NULL DEFAULT 'queued'
				CONSTRAINT jobs_status_known CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	progress	float8 NOT NULL DEFAULT 0 CONSTRAINT jobs_progress_range CHECK (progress BETWEEN 0 AND 1),
	phase		text CONSTRAINT jobs_phase_known CHECK (phase IN ('loading', 'training', 'evaluating', 'registering',
																  'building', 'verifying', 'pushing', 'smoke_testing')),
	epoch		bigint,
	total_epochs bigint,
	loss		float8,
	attempts	integer NOT NULL DEFAULT 0,
	max_attempts integer NOT NULL DEFAULT 1 CONSTRAINT jobs_max_attempts_range CHECK (max_attempts BETWEEN 1 AND 100),
	error		text,
	queued_by	name NOT NULL,
	queued_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	started_at	timestamptz,
	heartbeat_at timestamptz,
	finished_at timestamptz,
	worker_pid	integer,
	result		jsonb,
	source		text NOT NULL,
	run_as		name NOT NULL,
	search_path text NOT NULL,
	target		text,
	options		jsonb NOT NULL DEFAULT '{}',
	policy		jsonb,
	cancel_requested boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE mf.jobs IS 'background jobs (training now; export and deploy later), run by the mf_ext launcher of database mf.database';
COMMENT ON COLUMN mf.jobs.job_id IS 'job number, returned by mf_train_async() and mf_retrain()';
COMMENT ON COLUMN mf.jobs.kind IS 'what the job does: train, deploy (an image: build, verify, push; src/deploy_job.c), smoke_test (src/smoke_job.c); export is reserved';
COMMENT ON COLUMN mf.jobs.version_id IS 'the model version the job trains';
COMMENT ON COLUMN mf.jobs.status IS 'queued, running, succeeded, failed or cancelled';
COMMENT ON COLUMN mf.jobs.progress IS 'estimated fraction done, 0..1 (written at most once a second)';
COMMENT ON COLUMN mf.jobs.phase IS 'train: loading, training, evaluating, registering; deploy: building, verifying, pushing; smoke_test: smoke_testing (last phase reached once the job ended)';
COMMENT ON COLUMN mf.jobs.epoch IS 'last finished epoch (or solver iteration)';
COMMENT ON COLUMN mf.jobs.total_epochs IS 'most epochs (or iterations) the run may take';
COMMENT ON COLUMN mf.jobs.loss IS 'training loss after the last finished epoch';
COMMENT ON COLUMN mf.jobs.attempts IS 'how often a worker started the job';
COMMENT ON COLUMN mf.jobs.max_attempts IS 'attempts allowed: a job whose worker died is re-queued while attempts < max_attempts';
COMMENT ON COLUMN mf.jobs.error IS 'why the job failed or was cancelled';
COMMENT ON COLUMN mf.jobs.queued_by IS 'role that queued the job (from the session; the audit events of the job name it)';
COMMENT ON COLUMN mf.jobs.queued_at IS 'when the job was queued';
COMMENT ON COLUMN mf.jobs.started_at IS 'when the launcher claimed the job (last attempt)';
COMMENT ON COLUMN mf.jobs.heartbeat_at IS 'last time the launcher saw the worker alive (at most once a second)';
COMMENT ON COLUMN mf.jobs.finished_at IS 'when the job ended';
COMMENT ON COLUMN mf.jobs.worker_pid IS 'process id of the job worker (last attempt)';
COMMENT ON COLUMN mf.jobs.result IS 'outcome: trained ref and metrics, the promotion decision of a retrain, or the failure reason';
COMMENT ON COLUMN mf.jobs.source IS 'training source: table, view or query (visible to the model''s owner and mf_admin)';
COMMENT ON COLUMN mf.jobs.run_as IS 'role whose rights the source runs with: its author (the caller of mf_train_async, or the role that stored the source of a retrained version)';
COMMENT ON COLUMN mf.jobs.search_path IS 'search_path of the session that gave the source: its names mean the same in the job as when it was queued';
COMMENT ON COLUMN mf.jobs.target IS 'target column (NULL for kmeans)';
COMMENT ON COLUMN mf.jobs.options IS 'mf_train options of the run';
COMMENT ON COLUMN mf.jobs.policy IS 'retrain policy (promote, metric, min_delta, min_new_rows); NULL for mf_train_async jobs';
COMMENT ON COLUMN mf.jobs.cancel_requested IS 'mf_cancel_job() asked the running job to stop';
CREATE INDEX jobs_queued ON mf.jobs (job_id) WHERE status = 'queued';
CREATE INDEX jobs_running ON mf.jobs (job_id) WHERE status = 'running';
CREATE UNIQUE INDEX jobs_one_active_per_version ON mf.jobs (version_id) WHERE status IN ('queued', 'running');

CREATE TABLE mf.job_events (
	event_id	bigserial PRIMARY KEY,
	job_id		bigint NOT NULL REFERENCES mf.jobs ON DELETE CASCADE,
	logged_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	level		text NOT NULL CONSTRAINT job_events_level_known CHECK (level IN ('info', 'progress', 'epoch', 'warning', 'error')),
	message		text NOT NULL,
	details		jsonb
);
COMMENT ON TABLE mf.job_events IS 'log of background jobs: start, progress, per-epoch loss, warnings, errors (mf_job_log(job_id))';
COMMENT ON COLUMN mf.job_events.event_id IS 'order of the lines';
COMMENT ON COLUMN mf.job_events.job_id IS 'the job';
COMMENT ON COLUMN mf.job_events.logged_at IS 'when the line was written';
COMMENT ON COLUMN mf.job_events.level IS 'info, progress (live, at most once a second), epoch (full history, at the end), warning or error';
COMMENT ON COLUMN mf.job_events.message IS 'the log line';
COMMENT ON COLUMN mf.job_events.details IS 'the same facts as JSON (epoch, loss, sqlstate, ...)';
CREATE INDEX job_events_job ON mf.job_events (job_id, event_id);

SELECT pg_catalog.pg_extension_config_dump('mf.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('mf.jobs_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mf.job_events', '');
SELECT pg_catalog.pg_extension_config_dump('mf.job_events_event_id_seq', '');

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
	updated_at	timestamptz NOT NULL DEFAULT now(),
	layers		text[]
);
COMMENT ON TABLE mf.deployments IS
	'one row per deployment of a model (mf_deploy, mf_undeploy): the in-database HTTP server serves the live http rows; images and other targets later';
COMMENT ON COLUMN mf.deployments.deployment_id IS 'deployment number, returned by mf_deploy()';
COMMENT ON COLUMN mf.deployments.model_name IS 'the deployed model (follows a rename of the model)';
COMMENT ON COLUMN mf.deployments.version IS 'the pinned version (the ref named one), or NULL when the deployment follows ref';
COMMENT ON COLUMN mf.deployments.ref IS 'what the deployment serves: name:version (pinned), or name, name@stage, name@alias, resolved again for every request as mf._resolve does';
COMMENT ON COLUMN mf.deployments.target IS 'where it is deployed: http (the in-database HTTP server); oci (an image built, verified and pushed by a deploy job)';
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

-- #15/#16: rows a version was tested on (images and smoke tests send them).
CREATE TABLE mf.test_rows (
	version_id	bigint PRIMARY KEY REFERENCES mf.model_versions ON DELETE CASCADE,
	rows		jsonb NOT NULL CONSTRAINT test_rows_array CHECK (jsonb_typeof(rows) = 'array'),
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.test_rows IS
	'raw features of the first (at most 100) rows each version was tested on, written by training: image verification and smoke tests send them; training data, so readable by the extension''s owner alone';
COMMENT ON COLUMN mf.test_rows.version_id IS 'the version';
COMMENT ON COLUMN mf.test_rows.rows IS 'a JSON array of objects of named raw features, in test-split order (what mf_predict(ref, jsonb) takes)';
COMMENT ON COLUMN mf.test_rows.created_at IS 'when training wrote them';
SELECT pg_catalog.pg_extension_config_dump('mf.test_rows', '');

-- #15 image: layer digests of an image deployment.
COMMENT ON COLUMN mf.deployments.layers IS 'target oci: the digests (sha256:...) of the image''s layers, base first, as built and verified';
-- #16 alerts: alert rules, their firings, their evaluation state and the webhook queue
-- (sql/alerts.sql has their functions).
CREATE TABLE mf.alert_rules (
	rule_id		bigserial PRIMARY KEY,
	target		text NOT NULL,
	metric		text NOT NULL
				CONSTRAINT alert_rules_metric_known CHECK (metric IN ('latency_p99_ms', 'latency_p50_ms', 'error_rate', 'throughput',
																	 'accuracy', 'drift_psi', 'health')),
	condition	text NOT NULL CONSTRAINT alert_rules_condition_known CHECK (condition IN ('>', '>=', '<', '<=')),
	threshold	float8 NOT NULL CONSTRAINT alert_rules_threshold_finite CHECK (threshold > '-Infinity' AND threshold < 'Infinity'),
	"window"	interval NOT NULL DEFAULT '5 min' CONSTRAINT alert_rules_window_positive CHECK ("window" >= '1 second'),
	"for"		interval NOT NULL DEFAULT '0' CONSTRAINT alert_rules_for_nonneg CHECK ("for" >= '0'),
	options		jsonb NOT NULL DEFAULT '{}' CONSTRAINT alert_rules_options_object CHECK (jsonb_typeof(options) = 'object'),
	created_by	name NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.alert_rules IS 'alert rules (mf_set_alert, mf_drop_alert), evaluated by mf._evaluate_alerts() once per monitor cycle';
COMMENT ON COLUMN mf.alert_rules.rule_id IS 'rule number, returned by mf_set_alert()';
COMMENT ON COLUMN mf.alert_rules.target IS 'what is watched: a model ref (name, name:version, name@stage, name@alias) or a deployment id as text';
COMMENT ON COLUMN mf.alert_rules.metric IS 'latency_p99_ms, latency_p50_ms, error_rate, throughput, accuracy, drift_psi or health (README, "Alerts")';
COMMENT ON COLUMN mf.alert_rules.condition IS 'comparison of the metric with the threshold: >, >=, < or <=';
COMMENT ON COLUMN mf.alert_rules.threshold IS 'the value the metric is compared with';
COMMENT ON COLUMN mf.alert_rules."window" IS 'how far back the metric is aggregated (options.window, default 5 min)';
COMMENT ON COLUMN mf.alert_rules."for" IS 'how long the condition must hold before the alert fires (options.for, default 0)';
COMMENT ON COLUMN mf.alert_rules.options IS 'validated options: window, for, webhook (may hold a secret URL: not readable by mf_reader)';
COMMENT ON COLUMN mf.alert_rules.created_by IS 'role that set the rule (from the session)';
COMMENT ON COLUMN mf.alert_rules.created_at IS 'when the rule was set';

CREATE TABLE mf.alerts (
	alert_id	bigserial PRIMARY KEY,
	rule_id		bigint NOT NULL,
	started_at	timestamptz NOT NULL,
	resolved_at timestamptz CONSTRAINT alerts_resolved_after_start CHECK (resolved_at >= started_at),
	value		float8,
	message		text NOT NULL
);
COMMENT ON TABLE mf.alerts IS 'alert firings: opened when a rule''s condition held for its "for", resolved when it stops holding (kept after the rule is dropped)';
COMMENT ON COLUMN mf.alerts.alert_id IS 'firing number';
COMMENT ON COLUMN mf.alerts.rule_id IS 'the rule (mf.alert_rules; the row stays when the rule is dropped)';
COMMENT ON COLUMN mf.alerts.started_at IS 'when the alert fired (the condition had then held for the rule''s "for")';
COMMENT ON COLUMN mf.alerts.resolved_at IS 'when the condition stopped holding, or the rule was dropped; NULL while the alert is open';
COMMENT ON COLUMN mf.alerts.value IS 'the metric''s value when the alert fired';
COMMENT ON COLUMN mf.alerts.message IS 'what fired, in words: metric, target, value, condition and threshold';
CREATE UNIQUE INDEX alerts_one_open_per_rule ON mf.alerts (rule_id) WHERE resolved_at IS NULL;
CREATE INDEX alerts_rule ON mf.alerts (rule_id, alert_id);

CREATE TABLE mf.alert_state (
	rule_id		bigint PRIMARY KEY REFERENCES mf.alert_rules ON DELETE CASCADE,
	pending_since timestamptz,
	last_value	float8,
	evaluated_at timestamptz NOT NULL,
	error		text
);
COMMENT ON TABLE mf.alert_state IS 'the evaluation state of each rule (mf._evaluate_alerts): since when its condition holds';
COMMENT ON COLUMN mf.alert_state.rule_id IS 'the rule';
COMMENT ON COLUMN mf.alert_state.pending_since IS 'first evaluation at which the condition held without a break since; NULL when it does not hold';
COMMENT ON COLUMN mf.alert_state.last_value IS 'the metric''s value at the last evaluation (NULL: no data in the window)';
COMMENT ON COLUMN mf.alert_state.evaluated_at IS 'when the rule was last evaluated';
COMMENT ON COLUMN mf.alert_state.error IS 'why the last evaluation of the rule failed (the other rules were evaluated), or NULL';

CREATE TABLE mf.alert_webhooks (
	delivery_id bigserial PRIMARY KEY,
	alert_id	bigint NOT NULL,
	status		text NOT NULL DEFAULT 'pending'
				CONSTRAINT alert_webhooks_status_known CHECK (status IN ('pending', 'delivered', 'failed')),
	url			text NOT NULL,
	payload		jsonb NOT NULL,
	attempts	integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	delivered_at timestamptz
);
COMMENT ON TABLE mf.alert_webhooks IS
	'webhook deliveries of alert firings and resolutions (Alertmanager webhook payload), sent by C outside any transaction with retries and backoff; readable by the extension''s owner alone (URLs may hold secrets)';
COMMENT ON COLUMN mf.alert_webhooks.delivery_id IS 'delivery number';
COMMENT ON COLUMN mf.alert_webhooks.alert_id IS 'the firing (mf.alerts) announced';
COMMENT ON COLUMN mf.alert_webhooks.status IS 'pending, delivered (a 2xx answer) or failed (attempts exhausted)';
COMMENT ON COLUMN mf.alert_webhooks.url IS 'the rule''s options.webhook';
COMMENT ON COLUMN mf.alert_webhooks.payload IS 'the JSON body: Alertmanager webhook version 4 (status, alerts[] with labels, annotations, startsAt, endsAt)';
COMMENT ON COLUMN mf.alert_webhooks.attempts IS 'POSTs tried so far';
COMMENT ON COLUMN mf.alert_webhooks.next_attempt_at IS 'when the next attempt is due (backoff doubles from 1 s, at most 5 min)';
COMMENT ON COLUMN mf.alert_webhooks.last_error IS 'why the last attempt failed (HTTP status or transport error)';
COMMENT ON COLUMN mf.alert_webhooks.created_at IS 'when the delivery was queued';
COMMENT ON COLUMN mf.alert_webhooks.delivered_at IS 'when a 2xx answer came';
CREATE INDEX alert_webhooks_due ON mf.alert_webhooks (next_attempt_at) WHERE status = 'pending';

SELECT pg_catalog.pg_extension_config_dump('mf.alert_rules', '');
SELECT pg_catalog.pg_extension_config_dump('mf.alert_rules_rule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mf.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('mf.alerts_alert_id_seq', '');
-- #15 k8s: smoke tests of image deployments (sql/k8s.sql has their functions).
CREATE TABLE mf.smoke_tests (
	smoke_test_id bigserial PRIMARY KEY,
	deployment_id bigint NOT NULL REFERENCES mf.deployments ON DELETE CASCADE,
	job_id		bigint REFERENCES mf.jobs ON DELETE SET NULL,
	endpoint	text NOT NULL,
	rows		integer NOT NULL CONSTRAINT smoke_tests_rows_range CHECK (rows >= 0),
	mismatches	integer NOT NULL CONSTRAINT smoke_tests_mismatches_range CHECK (mismatches BETWEEN 0 AND rows),
	latency_p50_ms float8,
	latency_p99_ms float8,
	passed		boolean NOT NULL,
	details		jsonb NOT NULL DEFAULT '{}',
	tested_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.smoke_tests IS
	'smoke tests of image deployments (mf_smoke_test): the version''s test rows sent to a running server over the Open Inference Protocol v2, every answer compared with the database''s';
COMMENT ON COLUMN mf.smoke_tests.smoke_test_id IS 'smoke test number';
COMMENT ON COLUMN mf.smoke_tests.deployment_id IS 'the deployment tested';
COMMENT ON COLUMN mf.smoke_tests.job_id IS 'the smoke_test job that ran it';
COMMENT ON COLUMN mf.smoke_tests.endpoint IS 'base URL of the server tested (http://host:port)';
COMMENT ON COLUMN mf.smoke_tests.rows IS 'test rows of the run (one request each; rows not sent after the endpoint stopped answering count as mismatches)';
COMMENT ON COLUMN mf.smoke_tests.mismatches IS 'rows whose answer (status or outputs) differed from the database''s, or that got no answer';
COMMENT ON COLUMN mf.smoke_tests.latency_p50_ms IS 'median request latency seen by the tester (ms), over the answered rows';
COMMENT ON COLUMN mf.smoke_tests.latency_p99_ms IS '99th percentile request latency (ms, nearest rank)';
COMMENT ON COLUMN mf.smoke_tests.passed IS 'every row sent was answered exactly as the database answers it';
COMMENT ON COLUMN mf.smoke_tests.details IS 'path requested, expected_version and answered_version, status_counts, mismatch_rows (first 10: row, expected and got status and body), transport_error, error';
COMMENT ON COLUMN mf.smoke_tests.tested_at IS 'when the test finished';
CREATE INDEX smoke_tests_deployment ON mf.smoke_tests (deployment_id, smoke_test_id);
SELECT pg_catalog.pg_extension_config_dump('mf.smoke_tests', '');
SELECT pg_catalog.pg_extension_config_dump('mf.smoke_tests_smoke_test_id_seq', '');
-- issue 16 (drift): reference distributions, drift checks, prediction log, live accuracy (sql/drift.sql)
CREATE TABLE mf.reference_distributions (
	version_id	bigint NOT NULL REFERENCES mf.model_versions ON DELETE CASCADE,
	position	integer NOT NULL,
	feature		text NOT NULL,
	kind		text NOT NULL CONSTRAINT reference_distributions_kind_known CHECK (kind IN ('numeric', 'boolean', 'categorical')),
	n_rows		bigint NOT NULL,
	n_nulls		bigint NOT NULL,
	data		jsonb NOT NULL CONSTRAINT reference_distributions_data_object CHECK (jsonb_typeof(data) = 'object'),
	PRIMARY KEY (version_id, feature)
);
COMMENT ON TABLE mf.reference_distributions IS
	'per feature of a trained version, the distribution of the rows training read (written by mf_train from mf_ext 0.4.0 on; mf_drift compares current rows with it)';
COMMENT ON COLUMN mf.reference_distributions.version_id IS 'the version';
COMMENT ON COLUMN mf.reference_distributions.position IS 'the feature''s place in the feature schema (1-based)';
COMMENT ON COLUMN mf.reference_distributions.feature IS 'the feature column';
COMMENT ON COLUMN mf.reference_distributions.kind IS 'numeric, boolean or categorical (as the feature schema)';
COMMENT ON COLUMN mf.reference_distributions.n_rows IS 'rows training read (before the train/test split)';
COMMENT ON COLUMN mf.reference_distributions.n_nulls IS 'of them NULL in this feature';
COMMENT ON COLUMN mf.reference_distributions.data IS
	'numeric: {edges (decile bin edges), counts (per bin), sample (sorted: every value when at most 1000, else a seeded random sample of 1000)}; boolean: {counts [false, true]}; categorical: {values (100 most frequent), counts, other}; raw training values: readable by the extension''s owner only (mf_drift reads it for the model''s owner and mf_admin)';

CREATE TABLE mf.drift_checks (
	version_id	bigint NOT NULL REFERENCES mf.model_versions ON DELETE CASCADE,
	checked_at	timestamptz NOT NULL DEFAULT now(),
	feature		text NOT NULL,
	psi			float8,
	ks			float8,
	status		text CONSTRAINT drift_checks_status_known CHECK (status IN ('ok', 'warning', 'drift')),
	n_rows		bigint
);
COMMENT ON TABLE mf.drift_checks IS 'one row per feature of every mf_drift call: what the drift_psi alerts read';
COMMENT ON COLUMN mf.drift_checks.version_id IS 'the version whose reference the rows were compared with';
COMMENT ON COLUMN mf.drift_checks.checked_at IS 'when mf_drift ran (its transaction''s start)';
COMMENT ON COLUMN mf.drift_checks.feature IS 'the feature column';
COMMENT ON COLUMN mf.drift_checks.psi IS 'population stability index over the reference''s bins (NULLs a bin of their own; shares floored at 1e-4)';
COMMENT ON COLUMN mf.drift_checks.ks IS 'two-sample Kolmogorov-Smirnov statistic against the reference sample (numeric features; NULL otherwise)';
COMMENT ON COLUMN mf.drift_checks.status IS 'ok (psi < 0.1), warning (psi < 0.25) or drift';
COMMENT ON COLUMN mf.drift_checks.n_rows IS 'current rows compared';
CREATE INDEX drift_checks_version ON mf.drift_checks (version_id, checked_at);

CREATE TABLE mf.prediction_log (
	deployment_id bigint,
	model_name	text NOT NULL,
	version		text NOT NULL,
	request_id	text,
	row_id		text NOT NULL,
	prediction	jsonb NOT NULL,
	logged_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.prediction_log IS
	'predictions served by deployments with option log_predictions, with the id of their row: mf_record_outcomes joins labels on row_id; readable by the extension''s owner only';
COMMENT ON COLUMN mf.prediction_log.deployment_id IS 'the deployment that served it';
COMMENT ON COLUMN mf.prediction_log.model_name IS 'the model';
COMMENT ON COLUMN mf.prediction_log.version IS 'the version that answered (semver)';
COMMENT ON COLUMN mf.prediction_log.request_id IS 'the request (X-Request-Id, or one the server made)';
COMMENT ON COLUMN mf.prediction_log.row_id IS 'the row''s id, matched with id_column::text of mf_record_outcomes';
COMMENT ON COLUMN mf.prediction_log.prediction IS 'the answer for the row: a label (string, boolean or number), a number, or an object with member label';
COMMENT ON COLUMN mf.prediction_log.logged_at IS 'when it was served';
CREATE INDEX prediction_log_row ON mf.prediction_log (model_name, row_id);

CREATE TABLE mf.outcomes (
	model_name	text NOT NULL,
	row_id		text NOT NULL,
	label		text NOT NULL,
	recorded_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (model_name, row_id)
);
COMMENT ON TABLE mf.outcomes IS 'labels known later, per model and row id (mf_record_outcomes); readable by the extension''s owner only';
COMMENT ON COLUMN mf.outcomes.model_name IS 'the model';
COMMENT ON COLUMN mf.outcomes.row_id IS 'the row''s id (as text)';
COMMENT ON COLUMN mf.outcomes.label IS 'the true label (as text)';
COMMENT ON COLUMN mf.outcomes.recorded_at IS 'when mf_record_outcomes recorded it';

CREATE TABLE mf.model_performance (
	model_name	text NOT NULL,
	version		text NOT NULL,
	day			date NOT NULL,
	n			bigint NOT NULL,
	accuracy	float8,
	PRIMARY KEY (model_name, version, day)
);
COMMENT ON TABLE mf.model_performance IS 'live accuracy per model, version and day: logged predictions whose label became known (mf_record_outcomes)';
COMMENT ON COLUMN mf.model_performance.model_name IS 'the model';
COMMENT ON COLUMN mf.model_performance.version IS 'the version that answered';
COMMENT ON COLUMN mf.model_performance.day IS 'the day (UTC) the predictions were served';
COMMENT ON COLUMN mf.model_performance.n IS 'predictions of that day with a known label';
COMMENT ON COLUMN mf.model_performance.accuracy IS 'the share of them equal to their label';

SELECT pg_catalog.pg_extension_config_dump('mf.reference_distributions', '');
SELECT pg_catalog.pg_extension_config_dump('mf.drift_checks', '');
SELECT pg_catalog.pg_extension_config_dump('mf.prediction_log', '');
SELECT pg_catalog.pg_extension_config_dump('mf.outcomes', '');
SELECT pg_catalog.pg_extension_config_dump('mf.model_performance', '');
-- issue 16 (monitor): health checks and serving metrics (sql/monitor.sql has their functions)
CREATE TABLE mf.health_checks (
	deployment_id bigint NOT NULL REFERENCES mf.deployments ON DELETE CASCADE,
	checked_at	timestamptz NOT NULL,
	"check"		text NOT NULL
				CONSTRAINT health_checks_check_known CHECK ("check" IN ('ready', 'model_loaded', 'canary',
																		'response_time', 'memory_usage')),
	ok			boolean NOT NULL,
	latency_ms	float8,
	http_status integer,
	error		text
);
COMMENT ON TABLE mf.health_checks IS
	'one row per check of a deployment by the monitor worker (every options.health.interval); the checks of one round share checked_at';
COMMENT ON COLUMN mf.health_checks.deployment_id IS 'the deployment checked';
COMMENT ON COLUMN mf.health_checks.checked_at IS 'when the round of checks started (the same for every check of a round)';
COMMENT ON COLUMN mf.health_checks."check" IS
	'ready (GET /v2/health/ready), model_loaded (GET /v2/models/<name>/ready), canary (a prediction), response_time (the canary''s latency against options.health.response_time_ms), memory_usage (the server''s process_resident_memory_bytes against options.health.memory_mb)';
COMMENT ON COLUMN mf.health_checks.ok IS 'whether the check passed';
COMMENT ON COLUMN mf.health_checks.latency_ms IS 'time to the answer in milliseconds (response_time: the timed answer''s; memory_usage: the /metrics request''s); NULL when none came';
COMMENT ON COLUMN mf.health_checks.http_status IS 'the HTTP status of the answer; NULL when none came';
COMMENT ON COLUMN mf.health_checks.error IS 'why the check failed (NULL when it passed; a failed memory_usage gives the resident memory measured)';
COMMENT ON COLUMN mf.deployments.options IS
	'validated options without secrets: name, rate_limit, traffic (resolved: [{ref, version, weight}]), max_batch, health (the monitor''s checks; durations in seconds), endpoint_set (true when mf_set_endpoint gave it an endpoint of its own)';
CREATE INDEX health_checks_deployment ON mf.health_checks (deployment_id, checked_at);
CREATE INDEX health_checks_checked_at ON mf.health_checks (checked_at);

CREATE TABLE mf.serving_metrics (
	model_name	text NOT NULL,
	version		text NOT NULL,
	deployment_id bigint,
	minute		timestamptz NOT NULL,
	requests	bigint NOT NULL DEFAULT 0,
	errors		bigint NOT NULL DEFAULT 0,
	latency_p50_ms float8,
	latency_p95_ms float8,
	latency_p99_ms float8,
	bytes_in	bigint,
	bytes_out	bigint,
	rows		bigint
);
COMMENT ON TABLE mf.serving_metrics IS
	'requests per model, version, deployment and minute, written by the monitor worker from the in-database server''s shared-memory counters, from remote deployments'' /metrics, and (deployment_id NULL) from mf_predict* calls when mf.track_predictions is on; rows older than mf.metrics_retention are removed';
COMMENT ON COLUMN mf.serving_metrics.model_name IS 'the model (for a served name of the in-database server: its deployment''s model)';
COMMENT ON COLUMN mf.serving_metrics.version IS 'the version that answered (semver)';
COMMENT ON COLUMN mf.serving_metrics.deployment_id IS 'the deployment that served; NULL for in-database mf_predict* calls (mf.track_predictions)';
COMMENT ON COLUMN mf.serving_metrics.minute IS 'the minute counted (date_trunc(''minute'', ...))';
COMMENT ON COLUMN mf.serving_metrics.requests IS 'requests answered in the minute; for mf_predict* rows, the calls';
COMMENT ON COLUMN mf.serving_metrics.errors IS 'answers with status 4xx or 5xx';
COMMENT ON COLUMN mf.serving_metrics.latency_p50_ms IS 'median latency in ms, interpolated in the servers'' fixed histogram buckets (50 us .. 10 s); NULL for mf_predict* rows';
COMMENT ON COLUMN mf.serving_metrics.latency_p95_ms IS '95th percentile latency in ms (as latency_p50_ms)';
COMMENT ON COLUMN mf.serving_metrics.latency_p99_ms IS '99th percentile latency in ms (as latency_p50_ms)';
COMMENT ON COLUMN mf.serving_metrics.bytes_in IS 'bytes of request bodies received';
COMMENT ON COLUMN mf.serving_metrics.bytes_out IS 'bytes of response bodies sent';
COMMENT ON COLUMN mf.serving_metrics.rows IS 'rows scored by mf_predict* calls (mf.track_predictions); NULL for served requests';
CREATE UNIQUE INDEX serving_metrics_key ON mf.serving_metrics (model_name, version, deployment_id, minute) NULLS NOT DISTINCT;
CREATE INDEX serving_metrics_minute ON mf.serving_metrics (minute);
CREATE INDEX serving_metrics_deployment ON mf.serving_metrics (deployment_id, minute);

SELECT pg_catalog.pg_extension_config_dump('mf.health_checks', '');
SELECT pg_catalog.pg_extension_config_dump('mf.serving_metrics', '');
-- issue 15: OCI registries (mf_create_registry, sql/registries.sql); their secrets apart
CREATE TABLE mf.registries (
	name		text PRIMARY KEY
				CONSTRAINT registries_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	url			text NOT NULL,
	auth		text NOT NULL
				CONSTRAINT registries_auth_known CHECK (auth IN ('anonymous', 'basic', 'bearer', 'acr')),
	gated		boolean NOT NULL DEFAULT false,
	insecure	boolean NOT NULL DEFAULT false,
	created_by	name NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.registries IS
	'OCI registries images are pushed to (mf_create_registry, mf_drop_registry); never a secret: credentials are in mf.registry_secrets';
COMMENT ON COLUMN mf.registries.name IS 'the name mf_deploy options use ({"registry": "<name>"})';
COMMENT ON COLUMN mf.registries.url IS 'base URL, https://host[:port] (http:// only when insecure)';
COMMENT ON COLUMN mf.registries.auth IS
	'anonymous (no credentials); basic (username/password: Basic or a bearer token, as the registry''s challenge asks); bearer (username/password for the token server only, never sent as Basic to the registry); acr (a refresh token exchanged at /oauth2/token)';
COMMENT ON COLUMN mf.registries.gated IS 'accepts only images whose digest passed a smoke test, copied from another deployment (mf_deploy option from)';
COMMENT ON COLUMN mf.registries.insecure IS 'plain http allowed and TLS certificates not verified (a registry on loopback)';
COMMENT ON COLUMN mf.registries.created_by IS 'role that created it (from the session)';
COMMENT ON COLUMN mf.registries.created_at IS 'when it was created';

CREATE TABLE mf.registry_secrets (
	registry	text PRIMARY KEY REFERENCES mf.registries ON DELETE CASCADE,
	username	text,
	password	text,
	refresh_token text
);
COMMENT ON TABLE mf.registry_secrets IS
	'credentials of registries, readable by the extension''s owner alone (no grant); the deploy job reads them to push; never copied into errors, events or job logs';
COMMENT ON COLUMN mf.registry_secrets.registry IS 'the registry (mf.registries.name)';
COMMENT ON COLUMN mf.registry_secrets.username IS 'username for Basic auth or the token server (NULL for ACR refresh tokens)';
COMMENT ON COLUMN mf.registry_secrets.password IS 'password for Basic auth or the token server';
COMMENT ON COLUMN mf.registry_secrets.refresh_token IS 'ACR refresh token, exchanged at the registry''s /oauth2/token';

SELECT pg_catalog.pg_extension_config_dump('mf.registries', '');
SELECT pg_catalog.pg_extension_config_dump('mf.registry_secrets', '');

-- 16 (monitoring): registry events.  Creating and dropping a registry is an
-- mf.events row (actions create_registry, drop_registry) that concerns no
-- model: model_name is NULL for these actions only.
ALTER TABLE mf.events ALTER COLUMN model_name DROP NOT NULL;
ALTER TABLE mf.events DROP CONSTRAINT events_action_known;
ALTER TABLE mf.events ADD CONSTRAINT events_action_known
	CHECK (action IN ('create_model', 'create_version', 'register', 'set_stage', 'set_alias', 'drop_alias', 'drop_model',
					  'train', 'queue_job', 'promotion', 'retrain_skipped', 'deploy', 'undeploy', 'health', 'set_endpoint',
					  'gate_refused', 'create_registry', 'drop_registry'));
ALTER TABLE mf.events ADD CONSTRAINT events_model_named
	CHECK (model_name IS NOT NULL OR action IN ('create_registry', 'drop_registry'));
COMMENT ON COLUMN mf.events.action IS
	'create_model, create_version, register, set_stage, set_alias, drop_alias, drop_model, train, queue_job, promotion, retrain_skipped, deploy, undeploy, health (the monitor worker changed a deployment''s status to or from unhealthy), set_endpoint, gate_refused (a gated registry refused an untested image), create_registry or drop_registry (before/after: the mf.registries row, never a secret)';
COMMENT ON COLUMN mf.events.model_name IS 'the model name at the time; NULL only for events about no model (create_registry, drop_registry)';
