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
-- ---------------------------------------------------------------------------
-- The catalog view (install and upgrades: CREATE OR REPLACE keeps the
-- objects of users that read it; new columns go at the end)
-- ---------------------------------------------------------------------------
-- Owns: what mf.catalog shows of a version (a view; no function).

CREATE OR REPLACE VIEW mf.catalog AS
SELECT m.name AS model,
	   v.version,
	   m.name || ':' || v.version AS ref,
	   m.family,
	   v.stage,
	   v.status,
	   m.tags,
	   coalesce((v.metrics ->> 'accuracy')::float8,
				CASE WHEN jsonb_typeof(v.metadata -> 'accuracy') = 'number' THEN (v.metadata ->> 'accuracy')::float8 END) AS accuracy,
	   v.metrics,
	   v.n_parameters,
	   m.description,
	   v.created_at,
	   m.model_id,
	   v.version_id,
	   CASE WHEN v.metrics ? 'accuracy' THEN 'metrics'
			WHEN jsonb_typeof(v.metadata -> 'accuracy') = 'number' THEN 'metadata' END AS accuracy_source
  FROM mf.model_versions v
  JOIN mf.models m USING (model_id);
COMMENT ON VIEW mf.catalog IS 'one row per model version, for search and BI tools';
COMMENT ON COLUMN mf.catalog.model IS 'model name';
COMMENT ON COLUMN mf.catalog.version IS 'semantic version';
COMMENT ON COLUMN mf.catalog.ref IS 'reference usable with every mf_* function: name:version';
COMMENT ON COLUMN mf.catalog.family IS 'model family';
COMMENT ON COLUMN mf.catalog.stage IS 'lifecycle stage';
COMMENT ON COLUMN mf.catalog.status IS 'training status';
COMMENT ON COLUMN mf.catalog.tags IS 'model tags';
COMMENT ON COLUMN mf.catalog.accuracy IS 'metrics.accuracy when measured, else a numeric metadata.accuracy (as the seeds register it); accuracy_source says which';
COMMENT ON COLUMN mf.catalog.metrics IS 'all metrics';
COMMENT ON COLUMN mf.catalog.n_parameters IS 'trainable parameters';
COMMENT ON COLUMN mf.catalog.description IS 'model description';
COMMENT ON COLUMN mf.catalog.created_at IS 'when the version was created';
COMMENT ON COLUMN mf.catalog.model_id IS 'model key';
COMMENT ON COLUMN mf.catalog.version_id IS 'version key';
COMMENT ON COLUMN mf.catalog.accuracy_source IS 'where accuracy comes from: metrics (measured or registered as a metric), metadata, or NULL';
-- registry.sql - the registry API and who may use it.
-- Owns (PL/pgSQL): privilege checks (caller, membership, ownership), version
-- numbering, lifecycle (stages, aliases), registration and search rules, metric
-- ranges, audit events.  Thin callers of C: config validation and normalisation
-- (config/config*.c), reference resolution (mf._resolve: src/resolve.c over
-- model/model_ref.c, which owns the reference grammar, its errors and the
-- version a bare name or a stage picks; prediction resolves through it too).
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule
-- (catalog rows, written under the model's lock, in the caller's transaction):
--   mf._add_version: a new version row: the model made on first use, one
--     family per model, the next version number (mf._next_version), events
--   mf._create_version: a version derived by a merge patch (the family stays;
--     a patch that changes nothing is refused); merging and normalising are C
--   mf._register_model: what registration may change and how it is checked
--   mf._check_metric_ranges: the range of each metric kind (mf._metric_kind)
--   mf._get_model: what a caller sees of a version (training data: owners
--     and mf_admin only)
--   mf._set_stage: the stages; one production version, the previous archived
--   mf._set_alias: alias names and where an alias points

-- ---------------------------------------------------------------------------
-- Who acts, and what they may do (src/privileges.c has the design note)
-- ---------------------------------------------------------------------------
-- Every writing mf_* function is a C gate that records current_user and its
-- search_path, then runs its SECURITY DEFINER body mf._<name>; the body
-- asks mf._caller() who acts and checks the privilege it needs here.

CREATE OR REPLACE FUNCTION mf._caller() RETURNS oid
	AS 'MODULE_PATHNAME', 'mf_caller'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._caller() IS 'the acting role: current_user when the innermost mf_* function was called (from the session, never from data)';

CREATE OR REPLACE FUNCTION mf._caller_search_path() RETURNS text
	AS 'MODULE_PATHNAME', 'mf_caller_search_path'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._caller_search_path() IS 'the acting role''s search_path when it called: what the names of its training source mean';

-- The acting role's name.
CREATE OR REPLACE FUNCTION mf._actor() RETURNS name
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT pg_catalog.pg_get_userbyid(mf._caller());
$$;

-- Does the acting role belong to role r (directly or not; false when r does not exist)?
CREATE OR REPLACE FUNCTION mf._acts_as(r name) RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles ro WHERE ro.rolname = r)
				THEN pg_catalog.pg_has_role(mf._caller(), r, 'MEMBER') ELSE false END;
$$;

-- Raise 42501 unless the acting role belongs to role r (mf_reader, mf_trainer, ...).
CREATE OR REPLACE FUNCTION mf._require_role(r name, what text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF NOT mf._acts_as(r) THEN
		RAISE EXCEPTION 'permission denied to %', what
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = format('Role "%s" does not hold %s.', mf._actor(), r),
				  HINT = format('A DBA runs GRANT %s TO %I; (README, "Privileges").', r, mf._actor());
	END IF;
END;
$$;

-- May the acting role change the model (its owner, a member of it, or mf_admin)?
CREATE OR REPLACE FUNCTION mf._owns(model_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT mf._acts_as('mf_admin') OR mf._acts_as((SELECT m.owner FROM mf.models m WHERE m.model_id = _owns.model_id));
$$;

-- Raise 42501 unless the acting role owns the model (membership counts) or holds mf_admin.
CREATE OR REPLACE FUNCTION mf._require_owner(model_id bigint, what text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	m		mf.models;
BEGIN
	IF NOT mf._owns(model_id) THEN
		SELECT * INTO m FROM mf.models mo WHERE mo.model_id = _require_owner.model_id;
		RAISE EXCEPTION 'permission denied to % model "%"', what, m.name
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = format('Model "%s" belongs to role "%s"; role "%s" is neither a member of it nor of mf_admin.',
								  m.name, m.owner, mf._actor()),
				  HINT = format('The owner shares a model with GRANT %I TO <role>;', m.owner);
	END IF;
END;
$$;

-- A feature schema without raw training values: categories become their count.
CREATE OR REPLACE FUNCTION mf._redact_schema(fs jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN fs IS NULL OR NOT fs ? 'columns' THEN fs ELSE
		fs || jsonb_build_object(
			'columns', (SELECT coalesce(jsonb_agg(CASE WHEN c ? 'categories'
													THEN c - 'categories' - 'impute'
														 || jsonb_build_object('n_categories', jsonb_array_length(c -> 'categories'))
													ELSE c END ORDER BY n), '[]')
						  FROM jsonb_array_elements(fs -> 'columns') WITH ORDINALITY AS x(c, n)),
			'features', (SELECT coalesce(jsonb_agg(to_jsonb(coalesce(cat.name || '=#' || n, f)) ORDER BY n), '[]')
						   FROM jsonb_array_elements_text(fs -> 'features') WITH ORDINALITY AS y(f, n)
						   LEFT JOIN LATERAL (SELECT c ->> 'name' AS name FROM jsonb_array_elements(fs -> 'columns') c
											   WHERE c ? 'categories' AND starts_with(f, (c ->> 'name') || '=')
											   LIMIT 1) cat ON true),
			'redacted', true) END;
$$;
COMMENT ON FUNCTION mf._redact_schema(jsonb) IS
	'a feature schema for readers who may not see the training data: category values and their expanded feature names replaced';

-- ---------------------------------------------------------------------------
-- Internal helpers
-- ---------------------------------------------------------------------------

-- Sort key of a semantic version.
CREATE OR REPLACE FUNCTION mf._semver_key(version text) RETURNS integer[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, mf, pg_temp
RETURN string_to_array(version, '.')::integer[];

-- Check a semantic version string, raising 22023 naming 'what'.
CREATE OR REPLACE FUNCTION mf._check_semver(version text, what text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF version !~ '^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$' THEN
		RAISE EXCEPTION 'invalid version "%"', version
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('%s must be a semantic version MAJOR.MINOR.PATCH.', what),
				  HINT = 'For example 1.0.0 or 2.3.1.';
	END IF;
	RETURN version;
END;
$$;

-- The kind of a known metric: score (in [0, 1], higher is better), r2 (at
-- most 1, higher is better) or error (at least 0, lower is better); NULL
-- for any other name.  The one list of metrics range checks and retrain
-- policies use.
CREATE OR REPLACE FUNCTION mf._metric_kind(metric text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN metric IN ('accuracy', 'precision', 'recall', 'f1', 'roc_auc') THEN 'score'
				WHEN metric = 'r2' THEN 'r2'
				WHEN metric IN ('mse', 'rmse', 'mae', 'log_loss', 'inertia') THEN 'error' END;
$$;

-- 22023 for a metric outside its range: scores in [0, 1], r2 at most 1, errors at least 0.
CREATE OR REPLACE FUNCTION mf._check_metric_ranges(metrics jsonb, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	bad		record;
BEGIN
	SELECT key, value::text AS v,
		   CASE mf._metric_kind(key) WHEN 'score' THEN 'between 0 and 1' WHEN 'r2' THEN 'at most 1'
				ELSE 'at least 0' END AS range
	  INTO bad
	  FROM jsonb_each(metrics)
	 WHERE jsonb_typeof(value) = 'number'
	   AND CASE mf._metric_kind(key) WHEN 'score' THEN value::text::float8 NOT BETWEEN 0 AND 1
									 WHEN 'r2' THEN value::text::float8 > 1
									 WHEN 'error' THEN value::text::float8 < 0 ELSE false END
	 ORDER BY key LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'metric "%" must be %', bad.key, bad.range
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('%s.%s is %s.', what, bad.key, bad.v),
				  HINT = CASE bad.range WHEN 'between 0 and 1' THEN 'Scores are fractions, e.g. 0.92 for 92 %.'
							  WHEN 'at most 1' THEN 'r2 is 1 for a perfect fit and has no lower bound.'
							  ELSE 'Errors and losses are never negative.' END;
	END IF;
END;
$$;

-- Check a model name, raising 22023 naming 'what'.
CREATE OR REPLACE FUNCTION mf._check_name(name text, what text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid model name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('%s must match ^[a-z][a-z0-9_]{0,62}$.', what),
				  HINT = 'Use a lowercase letter followed by lowercase letters, digits or underscores.';
	END IF;
	RETURN name;
END;
$$;

-- Resolve a ref ('name', 'name:1.2.0', 'name@stage', 'name@alias') to a version:
-- 22023 for a string that is not a reference, 42704 (with a did-you-mean hint)
-- for a model, version, stage or alias that does not exist.  The one
-- implementation, prediction's too: src/resolve.c over model/model_ref.c.
CREATE OR REPLACE FUNCTION mf._resolve(ref text, OUT version_id bigint, OUT model_id bigint,
							OUT model_name text, OUT version text)
	AS 'MODULE_PATHNAME', 'mf_resolve'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf._resolve(text) IS 'resolve a model reference to its version; 42704 when unknown';

-- Append one audit event.
CREATE OR REPLACE FUNCTION mf._event(action text, model_id bigint, model_name text, version_id bigint,
						  version text, before jsonb, after jsonb) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	INSERT INTO mf.events (actor, action, model_id, model_name, version_id, version, before, after)
	VALUES (mf._actor(), action, model_id, model_name, version_id, version, before, after);
$$;

-- Lock a model row for the rest of the transaction (serialises version creation).
-- 42704 when it was dropped meanwhile (after the caller resolved it).
CREATE OR REPLACE FUNCTION mf._lock_model(model_id bigint) RETURNS mf.models
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	m		mf.models;
BEGIN
	SELECT * INTO m FROM mf.models mo WHERE mo.model_id = _lock_model.model_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model % does not exist any more', model_id
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'It was dropped by another transaction while this one was using it.';
	END IF;
	RETURN m;
END;
$$;

-- Expand a top-level "template" key from mf.templates (RFC 7386 merge of the rest over it).
CREATE OR REPLACE FUNCTION mf._expand_template(config jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	tconfig jsonb;
BEGIN
	IF jsonb_typeof(config) <> 'object' OR jsonb_typeof(config -> 'template') IS DISTINCT FROM 'string' THEN
		RETURN config;
	END IF;
	SELECT jsonb_build_object('family', t.family) || t.config INTO tconfig
	  FROM mf.templates t WHERE t.name = _expand_template.config ->> 'template';
	IF NOT FOUND THEN
		RETURN config;		-- the validator reports the unknown template with suggestions
	END IF;
	RETURN mf._merge_patch(tconfig, config - 'template');
END;
$$;

-- Next version of a model: one minor step above its highest version.
CREATE OR REPLACE FUNCTION mf._next_version(model_id bigint) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	k		integer[] := (SELECT mf._semver_key(v.version) FROM mf.model_versions v
						   WHERE v.model_id = _next_version.model_id ORDER BY 1 DESC LIMIT 1);
BEGIN
	IF k IS NULL THEN
		RETURN '1.0.0';
	END IF;
	IF k[2] >= 999999999 THEN
		RAISE EXCEPTION 'version out of range: no minor version follows %', array_to_string(k, '.')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A version part is at most 999999999.',
				  HINT = 'Give the new version explicitly, e.g. config_updates {"version": "2.0.0"}.';
	END IF;
	RETURN format('%s.%s.0', k[1], k[2] + 1);
END;
$$;

-- Insert a version from a config (already template-expanded); returns 'name:version'.
CREATE OR REPLACE FUNCTION mf._add_version(config jsonb, parent_version_id bigint, improvements text[],
								expect_model_id bigint) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	n		record;
	mdl		mf.models;
	vname	text;
	vid		bigint;
	created boolean := false;
	stored	jsonb;
BEGIN
	SELECT * INTO n FROM mf._normalize_config(config);
	stored := n.config - 'version' - 'description' - 'tags';

	IF expect_model_id IS NULL THEN
		INSERT INTO mf.models (name, family, description, tags, owner)
		VALUES (n.config ->> 'name', n.family, n.config ->> 'description',
				coalesce(ARRAY(SELECT jsonb_array_elements_text(n.config -> 'tags')), '{}'), mf._actor())
		ON CONFLICT (name) DO NOTHING
		RETURNING * INTO mdl;
		created := FOUND;
		IF NOT created THEN
			SELECT * INTO mdl FROM mf.models m WHERE m.name = n.config ->> 'name';
			IF NOT FOUND THEN
				RAISE EXCEPTION 'model "%" does not exist any more', n.config ->> 'name'
					USING ERRCODE = 'undefined_object',
						  DETAIL = 'It was dropped by another transaction while this one created a version.';
			END IF;
			PERFORM mf._require_owner(mdl.model_id, 'add a version to');
		END IF;
	ELSE
		SELECT * INTO mdl FROM mf.models m WHERE m.model_id = expect_model_id;
		IF mdl.name <> n.config ->> 'name' THEN
			RAISE EXCEPTION 'a new version cannot rename model "%"', mdl.name
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = format('config name is "%s".', n.config ->> 'name'),
					  HINT = 'Rename a model with mf_register_model(ref, name => ...).';
		END IF;
	END IF;
	PERFORM mf._lock_model(mdl.model_id);

	IF mdl.family <> n.family THEN
		RAISE EXCEPTION 'model "%" is a % model, not %', mdl.name, mdl.family, n.family
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Every version of a model has the same family.',
				  HINT = 'Create a model with another name for another family.';
	END IF;

	vname := coalesce(n.config ->> 'version', mf._next_version(mdl.model_id));
	IF EXISTS (SELECT 1 FROM mf.model_versions v WHERE v.model_id = mdl.model_id AND v.version = vname) THEN
		RAISE EXCEPTION 'version "%" of model "%" already exists', vname, mdl.name
			USING ERRCODE = 'duplicate_object',
				  HINT = 'Leave "version" out to get the next minor version.';
	END IF;

	INSERT INTO mf.model_versions (model_id, version, config, config_hash, parent_version_id,
								   improvements, n_parameters, dependencies, created_by)
	VALUES (mdl.model_id, vname, stored, n.config_hash, parent_version_id, coalesce(improvements, '{}'),
			n.n_parameters,
			mf._build_info() || jsonb_build_object('mf_ext',
				(SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'mf_ext')), mf._actor())
	RETURNING version_id INTO vid;

	IF created THEN
		PERFORM mf._event('create_model', mdl.model_id, mdl.name, NULL, NULL, NULL,
						  jsonb_build_object('family', mdl.family, 'tags', mdl.tags));
	END IF;
	PERFORM mf._event('create_version', mdl.model_id, mdl.name, vid, vname, NULL,
					  jsonb_build_object('config_hash', n.config_hash, 'parent_version_id', parent_version_id,
										 'improvements', coalesce(improvements, '{}')));
	RETURN mdl.name || ':' || vname;
END;
$$;

-- The catalog row of a resolved version as a ref string.
CREATE OR REPLACE FUNCTION mf._ref(version_id bigint) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT m.name || ':' || v.version FROM mf.model_versions v JOIN mf.models m USING (model_id)
	 WHERE v.version_id = _ref.version_id;
$$;

-- ---------------------------------------------------------------------------
-- Registry API
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mf._create_model(config jsonb) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	PERFORM mf._require_role('mf_trainer', 'create models');
	RETURN mf._add_version(mf._expand_template(config), NULL, '{}', NULL);
END;
$$;
CREATE OR REPLACE FUNCTION mf_create_model(config jsonb) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_create_model(jsonb) IS 'validate a config, create the model if new and a version; returns name:version';

CREATE OR REPLACE FUNCTION mf._create_model(template text, config jsonb) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM mf.templates t WHERE t.name = template) THEN
		RAISE EXCEPTION 'template "%" does not exist', template
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Known templates: ' || (SELECT string_agg(t.name, ', ' ORDER BY t.name) FROM mf.templates t) || '.',
				  HINT = 'mf_list_templates() lists the templates.';
	END IF;
	RETURN mf._create_model(jsonb_build_object('template', template) || coalesce(config, '{}'));
END;
$$;
CREATE OR REPLACE FUNCTION mf_create_model(template text, config jsonb) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_create_model(text, jsonb) IS 'create a model from a named template deep-merged with overrides';

CREATE OR REPLACE FUNCTION mf._create_model_from_yaml(config text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	RETURN mf._create_model(mf._yaml_to_jsonb(config));
END;
$$;
CREATE OR REPLACE FUNCTION mf_create_model_from_yaml(config text) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_create_model_from_yaml(text) IS 'create a model from a YAML config';

CREATE OR REPLACE FUNCTION mf._register_model(ref text, name text DEFAULT NULL, version text DEFAULT NULL,
								  description text DEFAULT NULL, tags text[] DEFAULT NULL,
								  metadata jsonb DEFAULT NULL, metrics jsonb DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
	before	jsonb;
	bad		text;
BEGIN
	SELECT * INTO r FROM mf._resolve(ref);
	PERFORM mf._require_owner(r.model_id, 'register');
	PERFORM mf._lock_model(r.model_id);
	SELECT jsonb_build_object('name', m.name, 'version', v.version, 'description', m.description,
							  'tags', m.tags, 'metadata', v.metadata, 'metrics', v.metrics)
	  INTO before
	  FROM mf.model_versions v JOIN mf.models m USING (model_id) WHERE v.version_id = r.version_id;

	IF metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object' THEN
		RAISE EXCEPTION 'metadata must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got a JSON %s.', jsonb_typeof(metadata));
	END IF;
	IF metrics IS NOT NULL THEN
		IF jsonb_typeof(metrics) <> 'object' THEN
			RAISE EXCEPTION 'metrics must be a JSON object'
				USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got a JSON %s.', jsonb_typeof(metrics));
		END IF;
		SELECT key INTO bad FROM jsonb_each(metrics) WHERE jsonb_typeof(value) <> 'number' ORDER BY key LIMIT 1;
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION 'metric "%" must be a number', bad
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = format('metrics.%s is %s.', bad, metrics -> bad),
					  HINT = 'Register measured values such as {"accuracy": 0.92}.';
		END IF;
		PERFORM mf._check_metric_ranges(metrics, 'metrics');
	END IF;
	IF jsonb_typeof(metadata -> 'accuracy') = 'number' THEN
		PERFORM mf._check_metric_ranges(jsonb_build_object('accuracy', metadata -> 'accuracy'), 'metadata');
	END IF;
	IF tags IS NOT NULL AND array_position(tags, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'tags must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;

	IF name IS NOT NULL AND name <> r.model_name THEN
		PERFORM mf._check_name(name, 'name');
		IF EXISTS (SELECT 1 FROM mf.models m WHERE m.name = _register_model.name) THEN
			RAISE EXCEPTION 'model "%" already exists', name USING ERRCODE = 'duplicate_object';
		END IF;
		UPDATE mf.models m SET name = _register_model.name, updated_at = now() WHERE m.model_id = r.model_id;
		UPDATE mf.model_versions v SET config = jsonb_set(v.config, '{name}', to_jsonb(_register_model.name))
		 WHERE v.model_id = r.model_id;
	END IF;
	IF version IS NOT NULL AND version <> r.version THEN
		PERFORM mf._check_semver(version, 'version');
		IF EXISTS (SELECT 1 FROM mf.model_versions v WHERE v.model_id = r.model_id AND v.version = _register_model.version) THEN
			RAISE EXCEPTION 'version "%" of model "%" already exists', version, coalesce(name, r.model_name)
				USING ERRCODE = 'duplicate_object';
		END IF;
		UPDATE mf.model_versions v SET version = _register_model.version WHERE v.version_id = r.version_id;
	END IF;
	PERFORM mf._deployments_renamed(r.model_name, coalesce(name, r.model_name), r.version, coalesce(version, r.version));
	UPDATE mf.models m
	   SET description = coalesce(_register_model.description, m.description),
		   tags = CASE WHEN _register_model.tags IS NULL THEN m.tags
					   ELSE m.tags || ARRAY(SELECT DISTINCT t FROM unnest(_register_model.tags) t
											 WHERE t <> ALL (m.tags) ORDER BY t) END,
		   updated_at = now()
	 WHERE m.model_id = r.model_id;
	UPDATE mf.model_versions v
	   SET metadata = v.metadata || coalesce(_register_model.metadata, '{}'),
		   metrics = v.metrics || coalesce(_register_model.metrics, '{}')
	 WHERE v.version_id = r.version_id;

	PERFORM mf._event('register', r.model_id, coalesce(name, r.model_name), r.version_id,
					  coalesce(version, r.version), before,
					  (SELECT jsonb_build_object('name', m.name, 'version', v.version, 'description', m.description,
												 'tags', m.tags, 'metadata', v.metadata, 'metrics', v.metrics)
						 FROM mf.model_versions v JOIN mf.models m USING (model_id)
						WHERE v.version_id = r.version_id));
	RETURN mf._ref(r.version_id);
END;
$$;
CREATE OR REPLACE FUNCTION mf_register_model(ref text, name text DEFAULT NULL, version text DEFAULT NULL,
								  description text DEFAULT NULL, tags text[] DEFAULT NULL,
								  metadata jsonb DEFAULT NULL, metrics jsonb DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_register_model(text, text, text, text, text[], jsonb, jsonb) IS
	'name or rename a model, set a version string, merge tags, metadata and measured metrics';

CREATE OR REPLACE FUNCTION mf._get_model(ref text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	PERFORM mf._require_role('mf_reader', 'read the model catalog');
	RETURN (
	WITH RECURSIVE r AS (SELECT * FROM mf._resolve(ref)),
	lineage(version_id, parent_version_id, depth) AS (
		SELECT v.version_id, v.parent_version_id, 0 FROM mf.model_versions v JOIN r USING (version_id)
		UNION ALL
		SELECT p.version_id, p.parent_version_id, l.depth + 1
		  FROM lineage l JOIN mf.model_versions p ON p.version_id = l.parent_version_id
		 WHERE l.depth < 1000)
	SELECT jsonb_build_object(
			'ref', m.name || ':' || v.version,
			'model', m.name,
			'version', v.version,
			'family', m.family,
			'description', m.description,
			'tags', to_jsonb(m.tags),
			'owner', m.owner,
			'stage', v.stage,
			'status', v.status,
			'aliases', (SELECT coalesce(jsonb_agg(a.alias ORDER BY a.alias), '[]') FROM mf.aliases a
						 WHERE a.version_id = v.version_id),
			'config', v.config,
			'config_hash', v.config_hash,
			'parent', mf._ref(v.parent_version_id),
			'lineage', (SELECT coalesce(jsonb_agg(mf._ref(l.version_id) ORDER BY l.depth), '[]') FROM lineage l
						 WHERE l.depth > 0),
			'improvements', to_jsonb(v.improvements),
			'metadata', v.metadata,
			'metrics', v.metrics,
			'n_parameters', v.n_parameters,
			'feature_schema', CASE WHEN mf._owns(m.model_id) THEN v.feature_schema
								   ELSE mf._redact_schema(v.feature_schema) END,
			'training_spec', CASE WHEN mf._owns(m.model_id) THEN v.training_spec
								  ELSE v.training_spec - 'source' - 'search_path' END,
			'dependencies', v.dependencies,
			'artifact', (SELECT jsonb_build_object('format_version', a.format_version, 'size_bytes', a.size_bytes,
												   'sha256', a.sha256, 'created_at', a.created_at)
						   FROM mf.artifacts a WHERE a.version_id = v.version_id),
			'created_at', v.created_at,
			'trained_at', v.trained_at,
			'created_by', v.created_by)
	  FROM r JOIN mf.model_versions v USING (version_id) JOIN mf.models m ON m.model_id = v.model_id);
END;
$$;
CREATE OR REPLACE FUNCTION mf_get_model(ref text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_get_model(text) IS
	'everything about one version (config, lineage, metrics, stage, tags, sizes), weights excepted; the training data (category values, source) only for the model''s owner and mf_admin';

-- The known word a mistyped one most likely means, or NULL: one the word
-- starts, ends or is part of, or sharing its first three letters, else one
-- differing in at most two letter positions (a swap of neighbours, a typo).
CREATE OR REPLACE FUNCTION mf._nearest_word(word text, known text[]) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT coalesce(
		(SELECT k FROM unnest(known) k
		  WHERE k LIKE w || '%' OR w LIKE k || '%' OR k LIKE '%' || w || '%' OR left(k, 3) = left(w, 3)
		  ORDER BY (k LIKE w || '%') DESC, length(k) LIMIT 1),
		(SELECT k FROM unnest(known) k
		  WHERE abs(length(k) - length(w)) <= 2
			AND (SELECT count(*) FROM generate_series(1, greatest(length(k), length(w))) i
				  WHERE substr(k, i, 1) IS DISTINCT FROM substr(w, i, 1)) <= 2
		  ORDER BY length(k) LIMIT 1))
	  FROM (SELECT lower(btrim(word)) AS w) x;
$$;
COMMENT ON FUNCTION mf._nearest_word(text, text[]) IS 'the known word a mistyped one most likely means (for did-you-mean hints), or NULL';

-- A family or stage name, matched case-insensitively; 42704 with a suggestion when unknown.
CREATE OR REPLACE FUNCTION mf._known_word(what text, word text, known text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	w		text := lower(btrim(word));
	near	text;
BEGIN
	IF word IS NULL OR w = ANY (known) THEN
		RETURN w;
	END IF;
	near := mf._nearest_word(w, known);
	IF near IS NULL AND what = 'family' AND w ~ '(bert|gpt|encoder|decoder|seq2seq|transformer)' THEN
		near := 'transformer';
	END IF;
	RAISE EXCEPTION 'unknown %: "%"', what, word
		USING ERRCODE = 'undefined_object',
			  DETAIL = format('Known %s values: %s.', what, array_to_string(known, ', ')),
			  HINT = CASE WHEN near IS NOT NULL THEN format('Did you mean "%s"?', near)
						  ELSE 'Names are matched case-insensitively.' END;
END;
$$;

CREATE OR REPLACE FUNCTION mf_search_models(tags text[] DEFAULT NULL, min_accuracy float8 DEFAULT NULL,
								 family text DEFAULT NULL, stage text DEFAULT NULL)
	RETURNS SETOF mf.catalog
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	fam		text := mf._known_word('family', family, ARRAY['linear_regression', 'logistic_regression', 'mlp',
																  'kmeans', 'transformer']);
	stg		text := mf._known_word('stage', stage, ARRAY['development', 'staging', 'production', 'archived']);
BEGIN
	RETURN QUERY
	SELECT * FROM mf.catalog c
	 WHERE (mf_search_models.tags IS NULL OR c.tags @> mf_search_models.tags)
	   AND (mf_search_models.min_accuracy IS NULL OR c.accuracy >= mf_search_models.min_accuracy)
	   AND (fam IS NULL OR c.family = fam)
	   AND (stg IS NULL OR c.stage = stg)
	 ORDER BY c.model, mf._semver_key(c.version);
END;
$$;
COMMENT ON FUNCTION mf_search_models(text[], float8, text, text) IS
	'versions having all the given tags (NULL or {}: any), at least the given accuracy (measured, else a numeric metadata.accuracy), the family and the stage (case-insensitive; unknown ones raise 42704 with a suggestion)';
COMMENT ON FUNCTION mf._known_word(text, text, text[]) IS
	'a family or stage name matched case-insensitively; 42704 with a did-you-mean hint when unknown';

CREATE OR REPLACE FUNCTION mf._create_version(base_model text, improvements text[] DEFAULT '{}',
								  config_updates jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
	base	jsonb;
	merged	jsonb;
BEGIN
	SELECT * INTO r FROM mf._resolve(base_model);
	PERFORM mf._require_owner(r.model_id, 'create a version of');
	IF jsonb_typeof(config_updates) <> 'object' THEN
		RAISE EXCEPTION 'config_updates must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('Got a JSON %s.', jsonb_typeof(config_updates)),
				  HINT = 'It is a JSON merge patch (RFC 7386) over the base config, e.g. {"dropout": 0.05}.';
	END IF;
	PERFORM mf._lock_model(r.model_id);
	SELECT v.config INTO base FROM mf.model_versions v WHERE v.version_id = r.version_id;
	IF config_updates ? 'family' AND config_updates ->> 'family' IS DISTINCT FROM base ->> 'family' THEN
		RAISE EXCEPTION 'a new version cannot change the family of model "%"', r.model_name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The model is %s; config_updates asks for %s.', base ->> 'family', config_updates -> 'family'),
				  HINT = 'Create a model with another name for another family.';
	END IF;
	merged := mf._merge_patch(base, config_updates);
	IF config_updates - 'version' - 'description' - 'tags' <> '{}'
	   AND (SELECT n.config - 'version' - 'description' - 'tags' FROM mf._normalize_config(merged) n) = base THEN
		RAISE EXCEPTION 'config_updates change nothing in the config of %', mf._ref(r.version_id)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('After merging %s and normalising, the config equals the base version''s.', config_updates),
				  HINT = 'Set a key to a new value, or pass no config_updates to make a version with the same config.';
	END IF;
	RETURN mf._add_version(merged, r.version_id, improvements, r.model_id);
END;
$$;
CREATE OR REPLACE FUNCTION mf_create_version(base_model text, improvements text[] DEFAULT '{}',
								  config_updates jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_create_version(text, text[], jsonb) IS
	'new version from a base: JSON merge patch over its config, lineage kept, minor version bump';

CREATE OR REPLACE FUNCTION mf._set_stage(ref text, stage text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
	cur		mf.model_versions;
	prev	mf.model_versions;
BEGIN
	IF stage IS NULL OR stage NOT IN ('development', 'staging', 'production', 'archived') THEN
		RAISE EXCEPTION 'invalid stage "%"', stage
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Stages are development, staging, production and archived.';
	END IF;
	SELECT * INTO r FROM mf._resolve(ref);
	PERFORM mf._require_owner(r.model_id, 'change the stage of');
	PERFORM mf._lock_model(r.model_id);
	SELECT * INTO cur FROM mf.model_versions v WHERE v.version_id = r.version_id;
	IF cur.stage = stage THEN
		RETURN mf._ref(r.version_id);
	END IF;
	IF stage = 'production' THEN
		IF cur.status <> 'trained' THEN
			RAISE EXCEPTION 'version "%" of model "%" is not trained', r.version, r.model_name
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = format('Its status is %s; only a trained version can serve production.', cur.status),
					  HINT = 'Train it first, or promote a trained version.';
		END IF;
		UPDATE mf.model_versions v SET stage = 'archived'
		 WHERE v.model_id = r.model_id AND v.stage = 'production'
		RETURNING * INTO prev;
		IF prev.version_id IS NOT NULL THEN
			PERFORM mf._event('set_stage', r.model_id, r.model_name, prev.version_id, prev.version,
							  jsonb_build_object('stage', 'production'),
							  jsonb_build_object('stage', 'archived', 'replaced_by', r.version));
		END IF;
	END IF;
	UPDATE mf.model_versions v SET stage = _set_stage.stage WHERE v.version_id = r.version_id;
	PERFORM mf._event('set_stage', r.model_id, r.model_name, r.version_id, r.version,
					  jsonb_build_object('stage', cur.stage), jsonb_build_object('stage', stage));
	RETURN mf._ref(r.version_id);
END;
$$;
CREATE OR REPLACE FUNCTION mf_set_stage(ref text, stage text) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_set_stage(text, text) IS
	'move a version to a lifecycle stage; production needs a trained version and archives the previous one';

CREATE OR REPLACE FUNCTION mf._set_alias(ref text, alias text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
	old		bigint;
BEGIN
	IF alias IS NULL OR alias !~ '^[a-z][a-z0-9_]{0,62}$' OR alias IN ('development', 'staging', 'production', 'archived') THEN
		RAISE EXCEPTION 'invalid alias "%"', alias
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An alias matches ^[a-z][a-z0-9_]{0,62}$ and is not a stage name.',
				  HINT = 'For example champion or challenger.';
	END IF;
	SELECT * INTO r FROM mf._resolve(ref);
	PERFORM mf._require_owner(r.model_id, 'set an alias of');
	PERFORM mf._lock_model(r.model_id);
	SELECT a.version_id INTO old FROM mf.aliases a WHERE a.model_id = r.model_id AND a.alias = _set_alias.alias;
	INSERT INTO mf.aliases (model_id, alias, version_id) VALUES (r.model_id, alias, r.version_id)
	ON CONFLICT ON CONSTRAINT aliases_pkey DO UPDATE SET version_id = EXCLUDED.version_id, updated_at = now();
	PERFORM mf._event('set_alias', r.model_id, r.model_name, r.version_id, r.version,
					  CASE WHEN old IS NULL THEN NULL ELSE jsonb_build_object('alias', alias, 'ref', mf._ref(old)) END,
					  jsonb_build_object('alias', alias, 'ref', mf._ref(r.version_id)));
	RETURN mf._ref(r.version_id);
END;
$$;
CREATE OR REPLACE FUNCTION mf_set_alias(ref text, alias text) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_set_alias(text, text) IS 'point a named alias (champion, challenger, ...) at a version';

CREATE OR REPLACE FUNCTION mf._drop_alias(model text, alias text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	mid		bigint;
	old		bigint;
BEGIN
	SELECT m.model_id INTO mid FROM mf.models m WHERE m.name = model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', model USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM mf._require_owner(mid, 'drop an alias of');
	PERFORM mf._lock_model(mid);
	DELETE FROM mf.aliases a WHERE a.model_id = mid AND a.alias = _drop_alias.alias RETURNING a.version_id INTO old;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" has no alias "%"', model, alias USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM mf._event('drop_alias', mid, model, old, (SELECT v.version FROM mf.model_versions v WHERE v.version_id = old),
					  jsonb_build_object('alias', alias, 'ref', mf._ref(old)), NULL);
END;
$$;
CREATE OR REPLACE FUNCTION mf_drop_alias(model text, alias text) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_drop_alias(text, text) IS 'remove an alias from a model';

CREATE OR REPLACE FUNCTION mf_list_templates() RETURNS TABLE(name text, family text, description text, config jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT t.name, t.family, t.description, t.config FROM mf.templates t ORDER BY t.name;
$$;
COMMENT ON FUNCTION mf_list_templates() IS 'templates usable with mf_create_model(template, config)';

CREATE OR REPLACE FUNCTION mf._drop_model(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	mdl		mf.models;
BEGIN
	SELECT * INTO mdl FROM mf.models m WHERE m.name = _drop_model.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM mf._require_owner(mdl.model_id, 'drop');
	PERFORM mf._undeploy_model(mdl.model_id, mdl.name);
	DELETE FROM mf.models m WHERE m.model_id = mdl.model_id;
	PERFORM mf._event('drop_model', mdl.model_id, mdl.name, NULL, NULL,
					  jsonb_build_object('family', mdl.family, 'tags', mdl.tags), NULL);
END;
$$;
CREATE OR REPLACE FUNCTION mf_drop_model(name text) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_drop_model(text) IS 'drop a model with all its versions, artifacts and aliases (its events stay; its live deployments are undeployed)';
-- Validating a YAML model config: the rows of mf_validate_config(jsonb).
-- Owns: no rule (a declaration of C: config/yaml.c, config/config*.c).

CREATE OR REPLACE FUNCTION mf_validate_config_yaml(config text)
	RETURNS TABLE(path text, problem text)
	AS 'MODULE_PATHNAME', 'mf_validate_config_yaml'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf_validate_config_yaml(text) IS 'every problem of a YAML model config as (JSON path, problem); a YAML syntax error is one row at $ with its line and column; no rows when valid';
-- training.sql - in-database training.
-- Owns (PL/pgSQL): what a training call trains (the version, deriving a new one
-- from a trained one; the data-section defaults; which option keys are
-- hyperparameters), what a trained version stores (training spec, events).
-- Thin callers of C: checking the training arguments (family, target, run
-- options and their defaults, typed hyperparameters: src/train_args.c, which
-- also lists the run option keys), reading the source as its author,
-- encoding, fitting, evaluating (src/source.c, features.c, train_fit.c,
-- kernels/).
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._training_call: what a training call trains, for mf_train,
--     mf_train_async and mf_retrain alike (catalog reads and the derived
--     version; the arguments go to C)
--   mf._train_version: what a trained version stores (config with learned
--     keys, training spec, metrics, artifact, event); the run is C
--   mf._data_defaults: the config's data section as defaults, and which data
--     keys tabular training honours
--   mf._train_options: which option keys are run options (from C), which are
--     hyperparameters or training keys of the config, and unknown keys

-- ---------------------------------------------------------------------------
-- In-database training (src/train.c, src/train_fit.c, src/source.c, src/features.c)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mf._train_run(family text, config jsonb, source text, target text, options jsonb,
							  author oid, search_path text,
							  OUT artifact bytea, OUT format_version integer, OUT feature_schema jsonb,
							  OUT metrics jsonb, OUT config_updates jsonb)
	RETURNS record
	AS 'MODULE_PATHNAME', 'mf_train_run'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._train_run(text, jsonb, text, text, jsonb, oid, text) IS
	'read a source (run with the rights of role author, names resolved on search_path), encode its features, fit one family on a normalised config; returns the artifact, feature schema, metrics and learned config keys (no catalog writes)';

CREATE OR REPLACE FUNCTION mf._evaluate_run(artifact bytea, source text, target text, author oid, search_path text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_evaluate_run'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf._evaluate_run(bytea, text, text, oid, text) IS
	'validate an artifact (XX001 when damaged), apply its feature schema to a source and compute the metrics of training';

CREATE OR REPLACE FUNCTION mf._artifact_tensors(artifact bytea) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_artifact_tensors'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf._artifact_tensors(bytea) IS 'every tensor of a validated artifact as {name: [values, row-major]}';

CREATE OR REPLACE FUNCTION mf._model_weights(ref text) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
	bytes	bytea;
BEGIN
	SELECT * INTO r FROM mf._resolve(ref);
	SELECT a.bytes INTO bytes FROM mf.artifacts a WHERE a.version_id = r.version_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version "%" of model "%" has no artifact', r.version, r.model_name
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Train it with mf_train().';
	END IF;
	RETURN mf._artifact_tensors(bytes);
END;
$$;
COMMENT ON FUNCTION mf._model_weights(text) IS 'the trained weights of a version as {tensor: [values]} (coef, intercept, params, centers)';

CREATE OR REPLACE FUNCTION mf._check_training(config jsonb, source text, target text, options jsonb,
									author oid, search_path text) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_check_training'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._check_training(jsonb, text, text, jsonb, oid, text) IS
	'check the arguments of a training call as mf._train_run does (family, target, run options, hyperparameters) and read one row of the source (as role author, on search_path): the errors of mf_train(); 0A000 for a temporary table';

CREATE OR REPLACE FUNCTION mf._run_option_keys() RETURNS text[]
	AS 'MODULE_PATHNAME', 'mf_run_option_keys'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mf._run_option_keys() IS
	'the keys of a training call''s options that are run options, not hyperparameters (src/train_args.c reads them)';

-- What a training call trains, for mf_train, mf_train_async and mf_retrain alike:
-- the version (a trained one is first derived into a new version, tagged
-- retrained), source, target and options defaulted from the config's data
-- section, the run options and the normalised config of the run.  Locks the
-- model; no privilege check (callers check); the arguments are checked in C.
CREATE OR REPLACE FUNCTION mf._training_call(ref text, src text, tgt text, opts jsonb,
								  OUT model_id bigint, OUT model_name text, OUT version_id bigint,
								  OUT version text, OUT status text, OUT source text, OUT target text,
								  OUT options jsonb, OUT runopts jsonb, OUT config jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
	v		mf.model_versions;
	d		record;
	o		record;
BEGIN
	IF ref IS NULL THEN
		RAISE EXCEPTION 'ref must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO r FROM mf._resolve(ref);
	PERFORM mf._lock_model(r.model_id);
	SELECT * INTO v FROM mf.model_versions mv WHERE mv.version_id = r.version_id;
	SELECT * INTO d FROM mf._data_defaults(v.config, src, tgt, mf._options_object(opts));
	IF v.status = 'trained' THEN
		-- two statements: the resolving query needs a snapshot that sees the new version
		ref := mf._create_version(mf._ref(r.version_id), ARRAY['retrained'], '{}');
		SELECT * INTO r FROM mf._resolve(ref);
		SELECT * INTO v FROM mf.model_versions mv WHERE mv.version_id = r.version_id;
	END IF;
	SELECT * INTO o FROM mf._train_options(v.config, d.options);
	model_id := r.model_id;
	model_name := r.model_name;
	version_id := r.version_id;
	version := r.version;
	status := v.status;
	source := d.source;
	target := d.target;
	options := d.options;
	runopts := o.runopts;
	config := (SELECT n.config FROM mf._normalize_config(mf._merge_patch(v.config, o.patch)) n);
END;
$$;
COMMENT ON FUNCTION mf._training_call(text, text, text, jsonb) IS
	'what a training call trains: the version (a trained one derived into a new one), source, target, options from the data section, run options and the run''s normalised config; locks the model, no privilege check';

-- Train a version; its source runs with the rights of role run_as and means
-- what it means on search_path (no privilege check: callers check).
CREATE OR REPLACE FUNCTION mf._train_version(ref text, source text, target text, options jsonb,
								  run_as oid, search_path text) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	c		record;
	res		record;
	fin		record;
BEGIN
	SELECT * INTO c FROM mf._training_call(ref, source, target, options);
	SELECT * INTO res FROM mf._train_run(c.config ->> 'family', c.config, c.source, c.target, c.runopts,
										 run_as, search_path);
	SELECT * INTO fin FROM mf._normalize_config(c.config || res.config_updates);
	UPDATE mf.model_versions mv
	   SET config = fin.config - 'version' - 'description' - 'tags',
		   config_hash = fin.config_hash,
		   n_parameters = fin.n_parameters,
		   feature_schema = res.feature_schema,
		   training_spec = jsonb_build_object(
				'source', c.source, 'target', c.target,
				'features', (SELECT jsonb_agg(f -> 'name') FROM jsonb_array_elements(res.feature_schema -> 'columns') f),
				'options', c.options, 'run_as', pg_catalog.pg_get_userbyid(run_as), 'search_path', search_path,
				'warnings', coalesce(res.metrics -> 'warnings', '[]')),
		   metrics = res.metrics - 'warnings',
		   status = 'trained',
		   trained_at = now()
	 WHERE mv.version_id = c.version_id;
	INSERT INTO mf.artifacts (version_id, format_version, bytes)
	VALUES (c.version_id, res.format_version, res.artifact)
	ON CONFLICT (version_id) DO UPDATE
		SET format_version = EXCLUDED.format_version, bytes = EXCLUDED.bytes, created_at = now();
	PERFORM mf._event('train', c.model_id, c.model_name, c.version_id, c.version,
					  jsonb_build_object('status', c.status),
					  jsonb_build_object('status', 'trained', 'n_parameters', fin.n_parameters,
										 'metrics', res.metrics - 'history' - 'confusion_matrix' - 'labels' - 'warnings'));
	RETURN mf._ref(c.version_id);
END;
$$;
COMMENT ON FUNCTION mf._train_version(text, text, text, jsonb, oid, text) IS
	'train a version (a trained one is first derived into a new one), its source run as run_as on search_path; no privilege check';

CREATE OR REPLACE FUNCTION mf._train(ref text, source text DEFAULT NULL, target text DEFAULT NULL, options jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	PERFORM mf._require_owner((SELECT r.model_id FROM mf._resolve(ref) r), 'train');
	RETURN mf._train_version(ref, source, target, options, mf._caller(), mf._caller_search_path());
END;
$$;
CREATE OR REPLACE FUNCTION mf_train(ref text, source text DEFAULT NULL, target text DEFAULT NULL, options jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_train(text, text, text, jsonb) IS
	'train a version in this session on a table, view or query (default: the config''s data section); a trained version is first derived into a new one; returns name:version';

CREATE OR REPLACE FUNCTION mf._evaluate(ref text, source text, target text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
	bytes	bytea;
BEGIN
	PERFORM mf._require_role('mf_reader', 'evaluate models');
	SELECT * INTO r FROM mf._resolve(ref);
	SELECT a.bytes INTO bytes FROM mf.artifacts a WHERE a.version_id = r.version_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version "%" of model "%" has no artifact', r.version, r.model_name
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Train it with mf_train().';
	END IF;
	RETURN mf._evaluate_run(bytes, source, target, mf._caller(), mf._caller_search_path());
END;
$$;
CREATE OR REPLACE FUNCTION mf_evaluate(ref text, source text, target text DEFAULT NULL) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_evaluate(text, text, text) IS
	'metrics of a trained version on a table, view or SELECT (same encoding and metrics as training; XX001 for a damaged artifact)';


-- Source, target and run options of a training call, defaulted from the
-- config's data section (source, target, features, test_size, max_rows);
-- 22023 without a source, or for data keys tabular training cannot honour.
CREATE OR REPLACE FUNCTION mf._data_defaults(config jsonb, src text, tgt text, opts jsonb,
								  OUT source text, OUT target text, OUT options jsonb)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	data	jsonb := coalesce(config -> 'data', '{}');
	unused	text;
BEGIN
	source := coalesce(src, data ->> 'source');
	target := coalesce(tgt, data ->> 'target');
	options := jsonb_strip_nulls(jsonb_build_object('features', data -> 'features', 'test_size', data -> 'test_size',
													'max_rows', data -> 'max_rows')) || opts;
	IF source IS NULL THEN
		RAISE EXCEPTION 'no training source'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'source is NULL and the config has no data.source.',
				  HINT = 'Pass a table, view or query, or create the model with {"data": {"source": ..., "target": ...}}.';
	END IF;
	IF config ->> 'family' <> 'transformer' THEN
		SELECT string_agg('data.' || k, ', ' ORDER BY k) INTO unused
		  FROM jsonb_object_keys(data) k WHERE k NOT IN ('source', 'target', 'features', 'test_size', 'max_rows');
		IF unused IS NOT NULL THEN
			RAISE EXCEPTION 'the config sets % which % model training does not use', unused, config ->> 'family'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'Tabular training reads data.source, data.target, data.features, data.test_size and data.max_rows.',
					  HINT = 'Remove the other keys with mf_create_version(ref, ''{}'', ''{"data": {"key": null}}'').';
		END IF;
	END IF;
END;
$$;

-- Options of a training call: '{}' for NULL, 22023 unless a JSON object.
CREATE OR REPLACE FUNCTION mf._options_object(options jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF options IS NOT NULL AND jsonb_typeof(options) <> 'object' THEN
		RAISE EXCEPTION 'options must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got a JSON %s.', jsonb_typeof(options));
	END IF;
	RETURN coalesce(options, '{}');
END;
$$;
COMMENT ON FUNCTION mf._options_object(jsonb) IS 'options of a training call: ''{}'' for NULL; 22023 unless a JSON object';

-- Split mf_train options into run options and a config patch (22023 for unknown keys).
CREATE OR REPLACE FUNCTION mf._train_options(config jsonb, options jsonb, OUT runopts jsonb, OUT patch jsonb)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	run_keys constant text[] := mf._run_option_keys();
	fixed_keys constant text[] := ARRAY['name', 'family', 'data', 'n_features', 'training', 'num_classes',
										'n_outputs', 'task', 'version', 'description', 'tags'];
	fam		text := config ->> 'family';
	hyper_keys text[];
	train_keys text[] := '{}';
	k		text;
	tpatch	jsonb := '{}';
BEGIN
	runopts := '{}';
	patch := '{}';
	hyper_keys := ARRAY(SELECT jsonb_object_keys(config) EXCEPT SELECT unnest(fixed_keys));
	IF fam = 'mlp' THEN
		train_keys := ARRAY(SELECT jsonb_object_keys(config -> 'training'));
	END IF;
	FOR k IN SELECT jsonb_object_keys(options) LOOP
		IF k = ANY (run_keys) THEN
			runopts := runopts || jsonb_build_object(k, options -> k);
		ELSIF k = ANY (hyper_keys) THEN
			patch := patch || jsonb_build_object(k, options -> k);
		ELSIF k = ANY (train_keys) THEN
			tpatch := tpatch || jsonb_build_object(k, options -> k);
		ELSE
			RAISE EXCEPTION 'unknown option "%"', k
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = format('Options of a %s model: %s.', fam,
									  (SELECT string_agg(x, ', ' ORDER BY x)
										 FROM unnest(run_keys || hyper_keys || train_keys) x)),
					  HINT = 'Hyperparameters override the version''s config for this run.';
		END IF;
	END LOOP;
	IF fam = 'mlp' AND options ? 'seed' AND NOT options ? 'training' THEN
		tpatch := tpatch || jsonb_build_object('seed', options -> 'seed');
	END IF;
	IF tpatch <> '{}' THEN
		patch := patch || jsonb_build_object('training', tpatch);
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._train_options(jsonb, jsonb) IS
	'split training options into run options and a config patch (hyperparameters, mlp training keys); 22023 for an unknown option';
-- prediction.sql - declarations of the C prediction functions (src/predict.c,
-- model_cache.c); no rule is written in SQL here.
-- Owns: no rule (every function is C: scoring in model/model.c, references
-- resolved by the registry's owner).  No PL/pgSQL function.

-- ---------------------------------------------------------------------------
-- Predictions inside SELECT (src/predict.c, src/model_cache.c)
-- ---------------------------------------------------------------------------
-- A reference is resolved once per query per call site, with the query's
-- snapshot: a new production version is used from the next query on, never
-- in the middle of one. Models are cached per backend (mf.model_cache_mb).

-- The planner support function rewrites mf_predict*(ref, ARRAY[...]) and
-- mf_predict*(ref, table_row) into the internal argument forms below, which
-- take the values as plain arguments (no array or row built per row) and
-- give the same results and errors (mf.predict_simplify = off disables it).
CREATE OR REPLACE FUNCTION mf._predict_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'mf_predict_support'
	LANGUAGE C STRICT;
COMMENT ON FUNCTION mf._predict_support(internal) IS
	'planner support of mf_predict, mf_predict_label, mf_predict_proba: passes ARRAY[...] elements and table columns as plain arguments';

CREATE OR REPLACE FUNCTION mf._predict_args(ref text, VARIADIC features "any") RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_args'
	LANGUAGE C STABLE PARALLEL SAFE COST 10;
CREATE OR REPLACE FUNCTION mf._predict_label_args(ref text, VARIADIC features "any") RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_args'
	LANGUAGE C STABLE PARALLEL SAFE COST 10;
CREATE OR REPLACE FUNCTION mf._predict_proba_args(ref text, VARIADIC features "any") RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_args'
	LANGUAGE C STABLE PARALLEL SAFE COST 10;
CREATE OR REPLACE FUNCTION mf._predict_cols(ref text, names text[], VARIADIC "columns" "any") RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_cols'
	LANGUAGE C STABLE PARALLEL SAFE COST 20;
CREATE OR REPLACE FUNCTION mf._predict_label_cols(ref text, names text[], VARIADIC "columns" "any") RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_cols'
	LANGUAGE C STABLE PARALLEL SAFE COST 20;
CREATE OR REPLACE FUNCTION mf._predict_proba_cols(ref text, names text[], VARIADIC "columns" "any") RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_cols'
	LANGUAGE C STABLE PARALLEL SAFE COST 20;
COMMENT ON FUNCTION mf._predict_args(text, "any") IS 'internal: mf_predict(ref, ARRAY[x1, ...]) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_label_args(text, "any") IS 'internal: mf_predict_label(ref, ARRAY[x1, ...]) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_proba_args(text, "any") IS 'internal: mf_predict_proba(ref, ARRAY[x1, ...]) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_cols(text, text[], "any") IS 'internal: mf_predict(ref, row) as the planner rewrites it (names, then the columns)';
COMMENT ON FUNCTION mf._predict_label_cols(text, text[], "any") IS 'internal: mf_predict_label(ref, row) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_proba_cols(text, text[], "any") IS 'internal: mf_predict_proba(ref, row) as the planner rewrites it';

CREATE OR REPLACE FUNCTION mf_predict(ref text, features float8[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict(text, float8[]) IS
	'prediction for one row of RAW (unscaled) expanded features, in the order of feature_schema -> ''features''; the stored standardisation is applied inside. Regression: the value; classifier: the label when labels are numeric, else the class index; kmeans: the cluster index';

CREATE OR REPLACE FUNCTION mf_predict(ref text, "row" record) RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_record'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 20
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict(text, record) IS
	'prediction for a row whose columns are named as in the feature schema (encoding, imputation and scaling as in training): SELECT mf_predict(''churn'', c) FROM customers c';

CREATE OR REPLACE FUNCTION mf_predict(ref text, input jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_predict_jsonb'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION mf_predict(text, jsonb) IS
	'predictions for one JSON object of named features (null imputes) or an array of them: {"prediction", "label", "probabilities"} ({"prediction", "cluster"} for kmeans)';

CREATE OR REPLACE FUNCTION mf_predict_label(ref text, features float8[]) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_label(text, float8[]) IS
	'the predicted label text for one row of RAW expanded features (the value or cluster number as text for other models)';

CREATE OR REPLACE FUNCTION mf_predict_label(ref text, "row" record) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_record'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 20
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_label(text, record) IS
	'the predicted label text for a row whose columns are named as in the feature schema';

CREATE OR REPLACE FUNCTION mf_predict_proba(ref text, features float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_proba(text, float8[]) IS
	'class probabilities (in the order of feature_schema -> ''labels'') for one row of RAW expanded features; classifiers only';

CREATE OR REPLACE FUNCTION mf_predict_proba(ref text, "row" record) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_record'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 20
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_proba(text, record) IS
	'class probabilities for a row whose columns are named as in the feature schema; classifiers only';

CREATE OR REPLACE FUNCTION mf_predict_batch(ref text, features float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_batch'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_predict_batch(text, float8[]) IS
	'mf_predict for every row of a 2-D array (n rows x RAW expanded features) in one matrix product';

CREATE OR REPLACE FUNCTION mf_prewarm(ref text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'mf_prewarm'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_prewarm(text) IS
	'load a trained version into this backend''s model cache (mf.model_cache_mb); true when loaded';
-- jobs.sql - background jobs.
-- Owns (PL/pgSQL): queueing jobs, their state changes (claim, begin, success,
-- failure, recovery), retrain policies and the promotion decision.  Thin
-- callers of C: the launcher and worker (bgworker/, src/job_worker.c), the
-- training arguments (mf._check_training, src/train_args.c, via
-- sql/training.sql's mf._training_call), counts and scores of a source run as
-- its author.  Statuses and phases are those of src/job_state.h; each state
-- change is one PL/pgSQL function, run by the launcher or worker through SPI
-- (C never writes mf.jobs itself).
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._queue_train: what may be queued (max_attempts, a launcher serving this
--     database, one active job per version); the arguments are checked by C
--   mf._retrain: the retrain policy options and their defaults, which version
--     a bare name retrains, skipping on too few new rows (counted by C)
--   mf._decide_promotion: the promotion decision (the version compared with is
--     scored by C on the candidate's test split) and the candidate's stage
--   mf._claim_job: queued -> running (oldest first; dropped roles fail)
--   mf._recover_jobs: running without a worker -> queued again or failed
--   mf._job_begin: a worker takes its job; the version -> training
--   mf._job_succeeded: running -> succeeded, the epoch log, the promotion
--   mf._job_failed: running -> failed or cancelled (re-queued on shutdown)
--   mf._wait: waiting for a job (progress lines, snapshot rule)
--   mf._cancel_job: who may cancel, queued -> cancelled or a running stop

-- ===========================================================================
-- Background training jobs (bgworker/, src/job_worker.c)
-- ===========================================================================
-- mf_train_async() and mf_retrain() queue a row in mf.jobs in the caller's
-- transaction; at commit the launcher (preloaded mf_ext.so, database
-- mf.database) is woken, claims the row and starts one worker per job, which
-- runs mf_train() and records the outcome. Progress reaches mf.jobs through
-- the launcher at most once a second; mf.job_events is the job's log.

CREATE OR REPLACE FUNCTION mf._jobs_state(OUT preloaded boolean, OUT served_database text, OUT launcher_pid integer)
	RETURNS record
	AS 'MODULE_PATHNAME', 'mf_jobs_state'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._jobs_state() IS
	'whether mf_ext is preloaded, the database its launcher serves (mf.database) and the launcher pid (0 when not running)';

CREATE OR REPLACE FUNCTION mf._job_states() RETURNS TABLE(kind text, name text)
	AS 'MODULE_PATHNAME', 'mf_job_states'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mf._job_states() IS
	'every job status and phase the C code knows (src/job_state.h), as (kind, name); the CHECKs of mf.jobs must list the same';

CREATE OR REPLACE FUNCTION mf._wake_launcher_at_commit() RETURNS void
	AS 'MODULE_PATHNAME', 'mf_wake_launcher_at_commit'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._wake_launcher_at_commit() IS 'set the launcher''s latch when the current transaction commits';

CREATE OR REPLACE FUNCTION mf._signal_job(job_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'mf_signal_job'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mf._signal_job(bigint) IS
	'ask the worker of a running job whose row has cancel_requested to stop (SIGINT while it trains); true when a worker was found';

CREATE OR REPLACE FUNCTION mf._evaluate_on_split(artifact bytea, source text, target text, options jsonb,
									  author oid, search_path text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_evaluate_split_options'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._evaluate_on_split(bytea, text, text, jsonb, oid, text) IS
	'metrics of an artifact on the test rows of the split training makes with these run options (test_size, seed, stratify; training''s defaults); the source runs as role author on search_path';

CREATE OR REPLACE FUNCTION mf._count_source(source text, author oid, search_path text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_count_source'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._count_source(text, oid, text) IS 'number of rows of a training source now, read as role author on search_path';

-- OID of a role that wrote a source (42704 when it was dropped).
CREATE OR REPLACE FUNCTION mf._author_oid(author name) RETURNS oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	o		oid := (SELECT ro.oid FROM pg_catalog.pg_roles ro WHERE ro.rolname = author);
BEGIN
	IF o IS NULL THEN
		RAISE EXCEPTION 'role "%" that wrote the training source no longer exists', author
			USING ERRCODE = 'undefined_object',
				  HINT = 'A source runs with the rights of its author only; train the model again with mf_train() to give it a new author.';
	END IF;
	RETURN o;
END;
$$;

-- Append one line to a job's log.
CREATE OR REPLACE FUNCTION mf._job_event(job_id bigint, level text, message text, details jsonb DEFAULT NULL) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	INSERT INTO mf.job_events (job_id, level, message, details) VALUES (job_id, level, message, details);
$$;
COMMENT ON FUNCTION mf._job_event(bigint, text, text, jsonb) IS 'append a line to a job''s log';

-- Mark a version failed, with the reason in its metadata and an audit event.
CREATE OR REPLACE FUNCTION mf._fail_version(version_id bigint, reason text, message text, job_id bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	v		record;
BEGIN
	UPDATE mf.model_versions mv
	   SET status = 'failed',
		   metadata = mv.metadata || jsonb_build_object('failure', jsonb_build_object(
				'reason', reason, 'error', message, 'job_id', job_id, 'at', clock_timestamp()))
	 WHERE mv.version_id = _fail_version.version_id AND mv.status IN ('created', 'training')
	RETURNING mv.model_id, mv.version INTO v;
	IF FOUND THEN
		PERFORM mf._event('train', v.model_id, (SELECT name FROM mf.models m WHERE m.model_id = v.model_id),
						  _fail_version.version_id, v.version, NULL,
						  jsonb_build_object('status', 'failed', 'reason', reason, 'error', message, 'job_id', job_id));
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._fail_version(bigint, text, text, bigint) IS
	'mark an untrained version failed: metadata.failure holds the reason (cancelled, timeout, error, worker died), the error and the job';

-- Queue a training job for a ref after validating everything that can be checked now.
CREATE OR REPLACE FUNCTION mf._queue_train(ref text, source text, target text, options jsonb, policy jsonb,
								run_as oid, search_path text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	c		record;
	st		record;
	max_att integer := 1;
	active	bigint;
	id		bigint;
BEGIN
	IF ref IS NULL THEN
		RAISE EXCEPTION 'ref must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	options := mf._options_object(options);
	IF options ? 'max_attempts' THEN
		IF jsonb_typeof(options -> 'max_attempts') <> 'number' OR (options ->> 'max_attempts') !~ '^[0-9]+$'
		   OR (options ->> 'max_attempts')::numeric NOT BETWEEN 1 AND 100 THEN
			RAISE EXCEPTION 'option "max_attempts" must be an integer between 1 and 100'
				USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', options -> 'max_attempts');
		END IF;
		max_att := (options ->> 'max_attempts')::integer;
	END IF;

	PERFORM mf._require_owner((SELECT r.model_id FROM mf._resolve(ref) r), 'train');
	SELECT * INTO c FROM mf._training_call(ref, source, target, options - 'max_attempts');
	PERFORM mf._check_training(c.config, c.source, c.target, c.runopts, run_as, search_path);

	SELECT * INTO st FROM mf._jobs_state();
	IF NOT st.preloaded THEN
		RAISE EXCEPTION 'background jobs need mf_ext in shared_preload_libraries'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('shared_preload_libraries is ''%s''.', current_setting('shared_preload_libraries')),
				  HINT = 'Add mf_ext to shared_preload_libraries in postgresql.conf and restart the server; mf_train() trains in this session meanwhile.';
	END IF;
	IF st.served_database IS DISTINCT FROM current_database() THEN
		RAISE EXCEPTION 'the mf_ext launcher runs jobs of database "%", not of "%"', st.served_database, current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = format('Queue jobs in database "%s", or set mf.database = ''%s'' in postgresql.conf and restart the server.',
								st.served_database, current_database());
	END IF;
	SELECT j.job_id INTO active FROM mf.jobs j
	 WHERE j.version_id = c.version_id AND j.status IN ('queued', 'running');
	IF FOUND THEN
		RAISE EXCEPTION 'version "%" of model "%" already has job %', c.version, c.model_name, active
			USING ERRCODE = 'object_in_use',
				  HINT = format('mf_wait(%s) waits for it; mf_cancel_job(%s) cancels it.', active, active);
	END IF;

	INSERT INTO mf.jobs (kind, version_id, source, target, options, policy, max_attempts, queued_by, run_as, search_path)
	VALUES ('train', c.version_id, c.source, c.target, c.options, policy, max_att, mf._actor(),
			pg_catalog.pg_get_userbyid(run_as), search_path)
	RETURNING job_id INTO id;
	PERFORM mf._job_event(id, 'info', format('queued by %s: train %s:%s', mf._actor(), c.model_name, c.version),
						  jsonb_build_object('options', c.options, 'policy', policy));
	PERFORM mf._event('queue_job', c.model_id, c.model_name, c.version_id, c.version, NULL,
					  jsonb_build_object('job_id', id, 'target', c.target, 'options', c.options, 'policy', policy));
	IF st.launcher_pid = 0 THEN
		RAISE WARNING 'job % is queued but the mf_ext launcher is not running', id
			USING HINT = 'The launcher restarts within seconds after an error; if it does not, read the server log. The job runs once it is back.';
	END IF;
	PERFORM mf._wake_launcher_at_commit();
	RETURN id;
END;
$$;
COMMENT ON FUNCTION mf._queue_train(text, text, text, jsonb, jsonb, oid, text) IS
	'validate and queue a training job whose source runs as run_as on search_path (a trained ref gets a derived version first); returns the job id';

CREATE OR REPLACE FUNCTION mf._train_async(ref text, source text DEFAULT NULL, target text DEFAULT NULL, options jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT mf._queue_train(ref, source, target, options, NULL, mf._caller(), mf._caller_search_path());
$$;
CREATE OR REPLACE FUNCTION mf_train_async(ref text, source text DEFAULT NULL, target text DEFAULT NULL, options jsonb DEFAULT '{}') RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_train_async(text, text, text, jsonb) IS
	'queue mf_train(ref, source, target, options) as a background job in this transaction (nothing runs if it rolls back); options may add max_attempts; returns the job id';

CREATE OR REPLACE FUNCTION mf._retrain(ref text, options jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	policy_keys constant text[] := ARRAY['promote', 'metric', 'min_delta', 'min_new_rows', 'kept_stage'];
	r		record;
	v		mf.model_versions;
	policy	jsonb;
	spec	jsonb;
	seen	bigint;
	now_rows bigint;
	author	oid;
BEGIN
	IF ref IS NULL THEN
		RAISE EXCEPTION 'ref must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	options := mf._options_object(options);
	policy := jsonb_build_object('promote', coalesce(options ->> 'promote', 'if_better'),
								 'min_delta', coalesce(options -> 'min_delta', '0'),
								 'min_new_rows', coalesce(options -> 'min_new_rows', '0'),
								 'kept_stage', coalesce(options ->> 'kept_stage', 'archived'))
			  || jsonb_strip_nulls(jsonb_build_object('metric', options -> 'metric'));
	IF policy ->> 'kept_stage' NOT IN ('archived', 'development') THEN
		RAISE EXCEPTION 'option "kept_stage" must be "archived" or "development"'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', options -> 'kept_stage'),
				  HINT = 'A retrained version that is not promoted is archived unless kept_stage is "development".';
	END IF;
	IF policy ->> 'promote' NOT IN ('never', 'always', 'if_better') THEN
		RAISE EXCEPTION 'option "promote" must be "never", "always" or "if_better"'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', options -> 'promote');
	END IF;
	IF policy ? 'metric' AND mf._metric_kind(policy ->> 'metric') IS NULL THEN
		RAISE EXCEPTION 'option "metric" must be one of %', 'accuracy, precision, recall, f1, roc_auc, log_loss, r2, mse, rmse, mae, inertia'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', policy -> 'metric');
	END IF;
	IF jsonb_typeof(policy -> 'min_delta') <> 'number' OR (policy ->> 'min_delta')::float8 < 0 THEN
		RAISE EXCEPTION 'option "min_delta" must be a number >= 0'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', policy -> 'min_delta');
	END IF;
	IF jsonb_typeof(policy -> 'min_new_rows') <> 'number' OR (policy ->> 'min_new_rows') !~ '^[0-9]+$' THEN
		RAISE EXCEPTION 'option "min_new_rows" must be an integer >= 0'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', policy -> 'min_new_rows');
	END IF;

	SELECT * INTO r FROM mf._resolve(ref);
	SELECT * INTO v FROM mf.model_versions mv WHERE mv.version_id = r.version_id;
	IF v.training_spec IS NULL AND ref !~ '[:@]' THEN
		-- a bare name without production version: the newest trained version (not a failed retrain)
		SELECT * INTO v FROM mf.model_versions mv
		 WHERE mv.model_id = r.model_id AND mv.status = 'trained' AND mv.training_spec IS NOT NULL
		 ORDER BY mv.version_id DESC LIMIT 1;
		IF FOUND THEN
			SELECT * INTO r FROM mf._resolve(mf._ref(v.version_id));
		END IF;
	END IF;
	PERFORM mf._require_owner(r.model_id, 'retrain');
	spec := v.training_spec;
	IF spec IS NULL THEN
		RAISE EXCEPTION 'version "%" of model "%" has no training_spec', r.version, r.model_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Train it once with mf_train() or mf_train_async(); mf_retrain() repeats that training on the current data.';
	END IF;

	-- the stored source runs as the role that stored it (0.1.0 stored none: the version's creator)
	author := mf._author_oid(coalesce(spec ->> 'run_as', v.created_by));
	IF (policy ->> 'min_new_rows')::bigint > 0 THEN
		seen := coalesce((v.metrics ->> 'train_rows')::bigint, 0) + coalesce((v.metrics ->> 'test_rows')::bigint, 0);
		now_rows := mf._count_source(spec ->> 'source', author, coalesce(spec ->> 'search_path', '"$user", public'));
		IF now_rows - seen < (policy ->> 'min_new_rows')::bigint THEN
			PERFORM mf._event('retrain_skipped', r.model_id, r.model_name, r.version_id, r.version, NULL,
							  jsonb_build_object('rows_seen', seen, 'rows_now', now_rows,
												 'min_new_rows', policy -> 'min_new_rows'));
			RAISE NOTICE 'retraining of "%:%" skipped: % new rows since its training, min_new_rows is %',
				r.model_name, r.version, now_rows - seen, policy ->> 'min_new_rows';
			RETURN NULL;
		END IF;
	END IF;
	RETURN mf._queue_train(mf._ref(r.version_id), spec ->> 'source', spec ->> 'target',
						   coalesce(spec -> 'options', '{}') || (options - policy_keys), policy,
						   author, coalesce(spec ->> 'search_path', '"$user", public'));
END;
$$;
CREATE OR REPLACE FUNCTION mf_retrain(ref text, options jsonb DEFAULT '{}') RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_retrain(text, jsonb) IS
	'queue training of a new version from the stored training_spec on the current data (a bare name: the production version, else the newest trained one); policy options promote (never, always, if_better), metric, min_delta, min_new_rows; NULL when skipped for too few new rows';

-- The promotion decision of a retrain job, taken in the worker's training transaction.
CREATE OR REPLACE FUNCTION mf._decide_promotion(job mf.jobs, v mf.model_versions) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	promote text := coalesce(job.policy ->> 'promote', 'if_better');
	task	text := v.feature_schema ->> 'task';
	metric	text := coalesce(job.policy ->> 'metric',
							 CASE task WHEN 'classification' THEN 'accuracy' WHEN 'regression' THEN 'r2' ELSE 'inertia' END);
	lower_better boolean;
	min_delta float8 := coalesce((job.policy ->> 'min_delta')::float8, 0);
	new_score float8 := (v.metrics ->> metric)::float8;
	base	mf.model_versions;	-- the production version, else the version retrained
	against text := 'production';
	base_score float8;
	decision text;
	reason	text;
	out		jsonb;
BEGIN
	lower_better := mf._metric_kind(metric) = 'error';
	SELECT * INTO base FROM mf.model_versions mv WHERE mv.model_id = v.model_id AND mv.stage = 'production';
	IF NOT FOUND THEN
		against := 'retrained version';
		SELECT * INTO base FROM mf.model_versions mv WHERE mv.version_id = v.parent_version_id AND mv.status = 'trained';
	END IF;
	IF base.version_id IS NOT NULL THEN
		BEGIN
			base_score := (mf._evaluate_on_split((SELECT a.bytes FROM mf.artifacts a WHERE a.version_id = base.version_id),
												 job.source, job.target, job.options,
												 mf._author_oid(job.run_as), job.search_path) ->> metric)::float8;
		EXCEPTION WHEN OTHERS THEN
			reason := format('the %s could not be evaluated: %s', against, SQLERRM);
		END;
	END IF;
	IF promote = 'never' THEN
		decision := 'kept';
		reason := 'policy never promotes';
	ELSIF promote = 'always' THEN
		decision := 'promoted';
		reason := 'policy always promotes';
	ELSIF base.version_id IS NULL THEN
		decision := 'promoted';
		reason := 'no production version and no trained version to compare with';
	ELSIF new_score IS NULL OR base_score IS NULL THEN
		decision := 'kept';
		reason := coalesce(reason, format('metric "%s" is missing', metric));
	ELSIF (lower_better AND new_score < base_score - min_delta)
		  OR (NOT lower_better AND new_score > base_score + min_delta) THEN
		decision := 'promoted';
		reason := format('%s %s beats %s of the %s by more than min_delta %s', metric, new_score, base_score, against, min_delta);
	ELSE
		decision := 'kept';
		reason := format('%s %s does not beat %s of the %s by more than min_delta %s', metric, new_score, base_score,
						 against, min_delta);
	END IF;
	IF decision = 'promoted' THEN
		PERFORM mf._set_stage(mf._ref(v.version_id), 'production');
	ELSIF coalesce(job.policy ->> 'kept_stage', 'archived') = 'archived' THEN
		PERFORM mf._set_stage(mf._ref(v.version_id), 'archived');
	END IF;
	out := jsonb_build_object('decision', decision, 'policy', promote, 'metric', metric, 'min_delta', min_delta,
							  'new_version', mf._ref(v.version_id), 'new_score', new_score,
							  'compared_with', CASE WHEN base.version_id IS NOT NULL THEN against END,
							  'compared_version', mf._ref(base.version_id), 'compared_score', base_score,
							  'production_version', CASE WHEN against = 'production' THEN mf._ref(base.version_id) END,
							  'production_score', CASE WHEN against = 'production' THEN base_score END,
							  'kept_stage', CASE WHEN decision = 'kept' THEN coalesce(job.policy ->> 'kept_stage', 'archived') END,
							  'same_test_split', base_score IS NOT NULL, 'reason', reason, 'job_id', job.job_id);
	PERFORM mf._event('promotion', v.model_id, (SELECT name FROM mf.models m WHERE m.model_id = v.model_id),
					  v.version_id, v.version,
					  jsonb_build_object('compared_version', mf._ref(base.version_id), 'compared_score', base_score),
					  out);
	RETURN out;
END;
$$;
COMMENT ON FUNCTION mf._decide_promotion(mf.jobs, mf.model_versions) IS
	'apply a retrain policy: the new version and the production version (else the version retrained) scored on the same test split; promotes when the policy says so, else archives the candidate (kept_stage); records the decision in mf.events';

-- Launcher: claim the oldest queued job (a job whose role was dropped fails here).
CREATE OR REPLACE FUNCTION mf._claim_job(launcher_pid integer, OUT job_id bigint, OUT role_oid oid) RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
BEGIN
	LOOP
		UPDATE mf.jobs u
		   SET status = 'running', attempts = u.attempts + 1, started_at = clock_timestamp(),
			   heartbeat_at = clock_timestamp(), worker_pid = NULL, phase = 'loading', progress = 0,
			   epoch = NULL, total_epochs = NULL, loss = NULL
		 WHERE u.job_id = (SELECT q.job_id FROM mf.jobs q WHERE q.status = 'queued'
							ORDER BY q.job_id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING u.* INTO j;
		IF NOT FOUND THEN
			RETURN;
		END IF;
		role_oid := (SELECT ro.oid FROM pg_catalog.pg_roles ro WHERE ro.rolname = j.queued_by);
		IF role_oid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles ro WHERE ro.rolname = j.run_as) THEN
			UPDATE mf.jobs u SET status = 'failed', finished_at = clock_timestamp(),
				   error = format('role "%s" that queued the job or role "%s" that wrote its source no longer exists',
								  j.queued_by, j.run_as)
			 WHERE u.job_id = j.job_id;
			PERFORM mf._fail_version(j.version_id, 'error', 'the role that queued the job or wrote its source no longer exists', j.job_id);
			CONTINUE;
		END IF;
		PERFORM mf._job_event(j.job_id, 'info', format('claimed by the launcher (pid %s), attempt %s of %s',
													   launcher_pid, j.attempts, j.max_attempts));
		job_id := j.job_id;
		RETURN NEXT;
		RETURN;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION mf._claim_job(integer) IS 'launcher: claim the oldest queued job (FOR UPDATE SKIP LOCKED) and return it with the role that queued it';

-- Launcher: put back a claimed job whose worker could not be started.
CREATE OR REPLACE FUNCTION mf._unclaim_job(job_id bigint) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.jobs u SET status = 'queued', attempts = u.attempts - 1, started_at = NULL, heartbeat_at = NULL,
		   phase = NULL, progress = 0
	 WHERE u.job_id = _unclaim_job.job_id AND u.status = 'running';
$$;
COMMENT ON FUNCTION mf._unclaim_job(bigint) IS 'launcher: re-queue a claimed job whose worker could not be started (no free worker process)';

-- Launcher: running jobs whose worker is gone are re-queued or failed.
CREATE OR REPLACE FUNCTION mf._recover_jobs(live bigint[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
	n		integer := 0;
	why		text;
BEGIN
	FOR j IN SELECT * FROM mf.jobs u WHERE u.status = 'running' AND NOT (u.job_id = ANY (live))
			 ORDER BY u.job_id FOR UPDATE SKIP LOCKED LOOP
		n := n + 1;
		why := format('the worker%s ended without finishing the job (server crash, restart or fatal error)',
					  coalesce(' (pid ' || j.worker_pid || ')', ''));
		IF j.cancel_requested THEN
			UPDATE mf.jobs u SET status = 'cancelled', finished_at = clock_timestamp(), error = 'cancelled by mf_cancel_job()',
				   result = jsonb_build_object('reason', 'cancelled')
			 WHERE u.job_id = j.job_id;
			PERFORM mf._fail_version(j.version_id, 'cancelled', 'cancelled by mf_cancel_job()', j.job_id);
			PERFORM mf._job_event(j.job_id, 'error', why || '; it had been cancelled');
		ELSIF j.attempts < j.max_attempts THEN
			UPDATE mf.jobs u SET status = 'queued', worker_pid = NULL, phase = NULL, progress = 0, started_at = NULL
			 WHERE u.job_id = j.job_id;
			UPDATE mf.model_versions mv SET status = 'created' WHERE mv.version_id = j.version_id AND mv.status = 'training';
			PERFORM mf._job_event(j.job_id, 'warning', format('%s; re-queued (attempt %s of %s done)', why, j.attempts, j.max_attempts));
		ELSE
			UPDATE mf.jobs u SET status = 'failed', finished_at = clock_timestamp(),
				   error = format('%s; %s of %s attempts used', why, j.attempts, j.max_attempts),
				   result = jsonb_build_object('reason', 'worker died')
			 WHERE u.job_id = j.job_id;
			PERFORM mf._fail_version(j.version_id, 'worker died', why, j.job_id);
			PERFORM mf._job_event(j.job_id, 'error', format('%s; %s of %s attempts used: failed', why, j.attempts, j.max_attempts));
		END IF;
	END LOOP;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION mf._recover_jobs(bigint[]) IS
	'launcher: running jobs not in the live list lost their worker: re-queued while attempts < max_attempts, else failed with their version';

-- Launcher: copy a worker's progress (at most once a second per job).
CREATE OR REPLACE FUNCTION mf._job_progress(job_id bigint, phase text, progress float8, epoch bigint, total_epochs bigint,
								 loss float8, seen_at timestamptz, log_epoch boolean) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	UPDATE mf.jobs u
	   SET phase = _job_progress.phase, progress = greatest(u.progress, least(_job_progress.progress, 1)),
		   epoch = coalesce(_job_progress.epoch, u.epoch), total_epochs = coalesce(_job_progress.total_epochs, u.total_epochs),
		   loss = coalesce(_job_progress.loss, u.loss), heartbeat_at = seen_at
	 WHERE u.job_id = _job_progress.job_id AND u.status = 'running';
	IF FOUND AND log_epoch THEN
		PERFORM mf._job_event(job_id, 'progress',
							  format('%s: epoch %s of %s, loss %s, %s%% done', phase, _job_progress.epoch,
									 _job_progress.total_epochs, round(_job_progress.loss::numeric, 6),
									 round((_job_progress.progress * 100)::numeric)),
							  jsonb_build_object('epoch', _job_progress.epoch, 'loss', _job_progress.loss,
												 'progress', _job_progress.progress));
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._job_progress(bigint, text, float8, bigint, bigint, float8, timestamptz, boolean) IS
	'launcher: write a running job''s progress, phase, epoch, loss and heartbeat; log a progress line for a new epoch';

-- Worker: take the job (pid, phase, version status); no row when it is not running any more.
CREATE OR REPLACE FUNCTION mf._job_begin(job_id bigint, pid integer, blas_threads integer, OUT ref text, OUT source text, OUT target text,
							  OUT options jsonb, OUT cancel_requested boolean, OUT run_as oid,
							  OUT search_path text) RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
BEGIN
	UPDATE mf.jobs u SET worker_pid = pid, phase = 'loading', progress = 0.05, heartbeat_at = clock_timestamp()
	 WHERE u.job_id = _job_begin.job_id AND u.status = 'running'
	RETURNING u.* INTO j;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	UPDATE mf.model_versions mv SET status = 'training' WHERE mv.version_id = j.version_id AND mv.status <> 'trained';
	IF NOT FOUND THEN
		UPDATE mf.jobs u SET status = 'failed', finished_at = clock_timestamp(),
			   error = 'the version to train was dropped or is already trained'
		 WHERE u.job_id = j.job_id;
		PERFORM mf._job_event(j.job_id, 'error', 'the version to train was dropped or is already trained');
		RETURN;
	END IF;
	PERFORM mf._job_event(j.job_id, 'info', format('started in worker %s with %s BLAS thread(s): loading the source as role %s',
												   pid, blas_threads, j.run_as),
						  jsonb_build_object('worker_pid', pid, 'blas_threads', blas_threads));
	ref := mf._ref(j.version_id);
	source := j.source;
	target := j.target;
	options := j.options;
	cancel_requested := j.cancel_requested;
	run_as := (SELECT ro.oid FROM pg_catalog.pg_roles ro WHERE ro.rolname = j.run_as);
	search_path := j.search_path;
	RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION mf._job_begin(bigint, integer, integer) IS
	'job worker: record its pid, phase loading and the version as training; returns what to train (no row: nothing to do)';

-- Worker: the job succeeded (same transaction as the training).
CREATE OR REPLACE FUNCTION mf._job_succeeded(job_id bigint, trained_ref text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
	v		mf.model_versions;
	decision jsonb;
	h		jsonb;
BEGIN
	SELECT * INTO j FROM mf.jobs u WHERE u.job_id = _job_succeeded.job_id;
	SELECT mv.* INTO v FROM mf.model_versions mv WHERE mv.version_id = (SELECT r.version_id FROM mf._resolve(trained_ref) r);
	h := v.metrics -> 'history';
	INSERT INTO mf.job_events (job_id, level, message, details)
	SELECT j.job_id, 'epoch', format('epoch %s: loss %s%s', e.n, round(e.loss::numeric, 6),
									 coalesce(', val_loss ' || round(vl.value::text::numeric, 6), '')),
		   jsonb_build_object('epoch', e.n, 'loss', e.loss, 'val_loss', vl.value)
	  FROM jsonb_array_elements_text(coalesce(h -> 'loss', '[]')) WITH ORDINALITY AS e(loss, n)
	  LEFT JOIN LATERAL (SELECT nullif(h -> 'val_loss' -> (e.n::int - 1), 'null') AS value) vl ON true
	 WHERE e.loss IS NOT NULL
	 ORDER BY e.n LIMIT 10000;
	IF j.policy IS NOT NULL THEN
		decision := mf._decide_promotion(j, v);
	END IF;
	UPDATE mf.jobs u
	   SET status = 'succeeded', progress = 1, phase = 'registering', finished_at = clock_timestamp(),
		   heartbeat_at = clock_timestamp(),
		   epoch = coalesce(jsonb_array_length(h -> 'loss'), u.epoch),
		   loss = coalesce((h -> 'loss' ->> (jsonb_array_length(h -> 'loss') - 1))::float8, u.loss),
		   result = jsonb_strip_nulls(jsonb_build_object('ref', trained_ref,
				'metrics', v.metrics - 'history' - 'confusion_matrix', 'promotion', decision))
	 WHERE u.job_id = j.job_id;
	PERFORM mf._job_event(j.job_id, 'info', format('succeeded: trained %s in %s s%s', trained_ref,
				round(coalesce((v.metrics ->> 'training_seconds')::numeric, 0), 3),
				coalesce('; promotion: ' || (decision ->> 'decision') || ' (' || (decision ->> 'reason') || ')', '')),
						  jsonb_build_object('ref', trained_ref, 'promotion', decision));
END;
$$;
COMMENT ON FUNCTION mf._job_succeeded(bigint, text) IS
	'job worker: record success in the training transaction: result, per-epoch log, the retrain promotion decision';

-- Worker: the job failed or was cancelled (after the training transaction rolled back);
-- interrupted by a shutdown, it goes back to the queue without using up an attempt.
CREATE OR REPLACE FUNCTION mf._job_failed(job_id bigint, reason text, message text, sqlstate text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
BEGIN
	IF reason = 'shutdown' THEN
		UPDATE mf.jobs u SET status = 'queued', attempts = u.attempts - 1, worker_pid = NULL, phase = NULL,
			   progress = 0, started_at = NULL
		 WHERE u.job_id = _job_failed.job_id AND u.status = 'running'
		RETURNING u.* INTO j;
		IF FOUND THEN
			UPDATE mf.model_versions mv SET status = 'created' WHERE mv.version_id = j.version_id AND mv.status = 'training';
			PERFORM mf._job_event(j.job_id, 'warning', 'interrupted by a server shutdown; re-queued');
		END IF;
		RETURN;
	END IF;
	UPDATE mf.jobs u
	   SET status = CASE WHEN reason = 'cancelled' THEN 'cancelled' ELSE 'failed' END,
		   finished_at = clock_timestamp(), error = message,
		   result = jsonb_build_object('reason', reason, 'sqlstate', sqlstate)
	 WHERE u.job_id = _job_failed.job_id AND u.status = 'running'
	RETURNING u.* INTO j;
	IF FOUND THEN
		PERFORM mf._fail_version(j.version_id, reason, message, j.job_id);
		PERFORM mf._job_event(j.job_id, 'error', format('%s: %s', reason, message),
							  jsonb_build_object('reason', reason, 'sqlstate', sqlstate));
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._job_failed(bigint, text, text, text) IS
	'job worker: mark the job failed (or cancelled) and its version failed with the reason (cancelled, timeout, error); re-queue it after a shutdown';

REVOKE EXECUTE ON FUNCTION mf._claim_job(integer), mf._unclaim_job(bigint), mf._recover_jobs(bigint[]),
	mf._job_progress(bigint, text, float8, bigint, bigint, float8, timestamptz, boolean),
	mf._job_begin(bigint, integer, integer), mf._job_succeeded(bigint, text), mf._job_failed(bigint, text, text, text)
	FROM PUBLIC;

-- A job row or 42704.
CREATE OR REPLACE FUNCTION mf._job(job_id bigint) RETURNS mf.jobs
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
BEGIN
	SELECT * INTO j FROM mf.jobs u WHERE u.job_id = _job.job_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'job % does not exist', job_id
			USING ERRCODE = 'undefined_object', HINT = 'SELECT job_id, status FROM mf.jobs lists the jobs.';
	END IF;
	RETURN j;
END;
$$;
COMMENT ON FUNCTION mf._job(bigint) IS 'a job row; 42704 when unknown';

-- May the acting role act on a job (it queued it, owns its model, or holds mf_admin)?
CREATE OR REPLACE FUNCTION mf._owns_job(j mf.jobs) RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT mf._acts_as('mf_admin') OR mf._acts_as(j.queued_by)
		   OR coalesce(mf._owns((SELECT v.model_id FROM mf.model_versions v WHERE v.version_id = j.version_id)), false);
$$;
COMMENT ON FUNCTION mf._owns_job(mf.jobs) IS 'may the acting role act on a job: it queued it (membership counts), owns its model, or holds mf_admin';

CREATE OR REPLACE FUNCTION mf._wait(job_id bigint, timeout interval DEFAULT '1 hour') RETURNS mf.jobs
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
	deadline timestamptz := clock_timestamp() + coalesce(timeout, '1 hour');
	shown	text := '';
	line	text;
BEGIN
	IF job_id IS NULL THEN
		RAISE EXCEPTION 'job_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'mf_wait() needs the READ COMMITTED isolation level'
			USING ERRCODE = 'invalid_transaction_state',
				  DETAIL = format('This transaction is %s: its snapshot never sees the job end.', upper(current_setting('transaction_isolation'))),
				  HINT = 'Call mf_wait() in its own transaction.';
	END IF;
	PERFORM mf._require_role('mf_reader', 'wait for jobs');
	j := mf._job(job_id);
	IF j.status = 'queued' AND EXISTS (SELECT 1 FROM mf.jobs u WHERE u.job_id = _wait.job_id
										  AND u.xmin::text::bigint = pg_current_xact_id_if_assigned()::text::bigint % 4294967296) THEN
		RAISE EXCEPTION 'job % was queued in this transaction', job_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Commit first: a job starts only once the transaction that queued it has committed.';
	END IF;
	LOOP
		j := mf._job(job_id);
		line := CASE WHEN j.status = 'running'
					 THEN format('job %s running: %s, %s%% done%s', j.job_id, j.phase, round((j.progress * 100)::numeric),
								 CASE WHEN j.epoch IS NOT NULL
									  THEN format(' (epoch %s of %s, loss %s)', j.epoch, j.total_epochs, round(j.loss::numeric, 4))
									  ELSE '' END)
					 ELSE format('job %s %s%s', j.job_id, j.status, coalesce(': ' || coalesce(j.result ->> 'ref', j.error), '')) END;
		IF line <> shown THEN
			RAISE NOTICE '%', line;
			shown := line;
		END IF;
		EXIT WHEN j.status IN ('succeeded', 'failed', 'cancelled') OR clock_timestamp() >= deadline;
		PERFORM pg_sleep(least(0.1, extract(epoch FROM deadline - clock_timestamp())));
	END LOOP;
	IF NOT mf._owns_job(j) THEN
		j.source := NULL;
		j.search_path := NULL;
	END IF;
	RETURN j;
END;
$$;
CREATE OR REPLACE FUNCTION mf_wait(job_id bigint, timeout interval DEFAULT '1 hour') RETURNS mf.jobs
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_wait(bigint, interval) IS
	'wait (interruptibly) until a job ends or the timeout passes, with a NOTICE per progress step; returns the job row';

CREATE OR REPLACE FUNCTION mf._cancel_job(job_id bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
BEGIN
	j := mf._job(job_id);
	IF NOT mf._owns_job(j) THEN
		RAISE EXCEPTION 'permission denied to cancel job %', job_id
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = format('Job %s was queued by role "%s"; role "%s" is neither a member of it, nor an owner of the model, nor of mf_admin.',
								  job_id, j.queued_by, mf._actor());
	END IF;
	UPDATE mf.jobs u SET status = 'cancelled', finished_at = clock_timestamp(), error = 'cancelled by mf_cancel_job()'
	 WHERE u.job_id = _cancel_job.job_id AND u.status = 'queued'
	RETURNING u.* INTO j;
	IF FOUND THEN
		PERFORM mf._fail_version(j.version_id, 'cancelled', 'cancelled by mf_cancel_job() before it started', j.job_id);
		PERFORM mf._job_event(j.job_id, 'error', format('cancelled by %s before it started', mf._actor()));
		RETURN true;
	END IF;
	UPDATE mf.jobs u SET cancel_requested = true
	 WHERE u.job_id = _cancel_job.job_id AND u.status = 'running'
	RETURNING u.* INTO j;
	IF FOUND THEN
		PERFORM mf._job_event(j.job_id, 'warning', format('cancel requested by %s', mf._actor()));
		PERFORM mf._signal_job(j.job_id);
		RETURN true;
	END IF;
	RETURN false;
END;
$$;
CREATE OR REPLACE FUNCTION mf_cancel_job(job_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_cancel_job(bigint) IS
	'cancel a queued job, or stop a running one (within a second or two; its version is marked failed with reason cancelled); false when it had already ended';

CREATE OR REPLACE FUNCTION mf_job_log(job_id bigint) RETURNS SETOF mf.job_events
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM mf.jobs u WHERE u.job_id = mf_job_log.job_id) THEN
		RAISE EXCEPTION 'job % does not exist', job_id
			USING ERRCODE = 'undefined_object', HINT = 'SELECT job_id, status FROM mf.jobs lists the jobs.';
	END IF;
	RETURN QUERY SELECT * FROM mf.job_events e WHERE e.job_id = mf_job_log.job_id ORDER BY e.event_id;
END;
$$;
COMMENT ON FUNCTION mf_job_log(bigint) IS 'the log lines of a job, oldest first';
-- deploy.sql - deployments and exports: mf_deploy, mf_undeploy, mf_export_model.
-- Owns (PL/pgSQL): the deployment options (every problem listed with its path,
-- normalisation, the bearer token kept apart as a salted hash), the targets,
-- the served-name rule (one live http deployment per name), the status
-- transitions of a deployment, the endpoint of an http deployment, what renaming
-- or dropping a model does to its deployments, and which version an export
-- takes with which labels.  Thin callers of C (src/deploy.c over image/): salt
-- bytes, and the tar of a served model directory.
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._deploy_auth: the auth option (a bearer token of RFC 6750 syntax, kept
--     only as its salted hash)
--   mf._deploy_traffic: the traffic split (refs of the same model, weights)
--   mf._deploy_options: every deployment option, with every problem's path
--   mf._deploy: recording a deployment (privilege, served name, endpoint, event)
--   mf._undeploy: the end of a deployment (status, secret removed, event)
--
-- Statuses: mf_deploy records an http deployment as 'active' (the in-database
-- HTTP server serves every live http row from its next request on);
-- mf_undeploy, or dropping the model, makes any status but 'undeployed'
-- 'undeployed'.  'queued', 'running', 'verified', 'unhealthy' and 'failed' are
-- for the targets deployed by jobs (images) and for health checks.

-- ---------------------------------------------------------------------------
-- C helpers (src/deploy.c)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mf._random_bytes(n integer) RETURNS bytea
	AS 'MODULE_PATHNAME', 'mf_random_bytes'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mf._random_bytes(integer) IS 'n bytes (1 to 1024) from the server''s strong random source: salts of bearer-token hashes';

CREATE OR REPLACE FUNCTION mf._model_dir_tar(name text, version_number bigint, version text, family text, labels text[],
								  trained_at timestamptz, artifact_sha256 text, artifact bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'mf_export_tar'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf._model_dir_tar(text, bigint, text, text, text[], timestamptz, text, bytea) IS
	'deterministic ustar tar of <name>/<version_number>/ holding model.mfa (the artifact) and serving.json (image/model_dir.h)';

-- ---------------------------------------------------------------------------
-- Rules
-- ---------------------------------------------------------------------------

-- Most rows one request of a deployment may score (options.max_batch).
CREATE OR REPLACE FUNCTION mf._max_batch_limit() RETURNS integer
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp
RETURN 100000;

-- A deployment target, lowercased: http; oci is refused as not yet
-- supported (0A000), anything else as unknown (22023, with a suggestion).
CREATE OR REPLACE FUNCTION mf._deploy_target(target text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	t		text := lower(btrim(target));
	near	text := mf._nearest_word(t, ARRAY['http', 'oci']);
BEGIN
	IF t = 'http' THEN
		RETURN t;
	ELSIF t = 'oci' THEN
		RAISE EXCEPTION 'deployment target "oci" is not supported yet'
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'This version deploys to target http (the in-database HTTP server) only.',
				  HINT = 'Export the model with mf_export_model() and serve the directory with mf-serve; images come with a later version.';
	END IF;
	RAISE EXCEPTION 'unknown deployment target "%"', target
		USING ERRCODE = 'invalid_parameter_value',
			  DETAIL = 'Known targets: http, oci (not supported yet).',
			  HINT = CASE WHEN near IS NOT NULL THEN format('Did you mean "%s"?', near)
						  ELSE 'mf_deploy(ref) deploys to the in-database HTTP server (target http).' END;
END;
$$;

-- 55000 unless the version is trained and has its artifact ('what': deployed, exported).
CREATE OR REPLACE FUNCTION mf._require_trained(version_id bigint, what text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	st		text;
BEGIN
	SELECT v.status || CASE WHEN v.status = 'trained' AND a.version_id IS NULL THEN ' (no artifact)' ELSE '' END
	  INTO st
	  FROM mf.model_versions v LEFT JOIN mf.artifacts a USING (version_id)
	 WHERE v.version_id = _require_trained.version_id;
	IF st IS DISTINCT FROM 'trained' THEN
		RAISE EXCEPTION 'model version "%" is not trained', mf._ref(version_id)
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('Its status is %s; only a trained version can be %s.', st, what),
				  HINT = 'Train it with mf_train(), or name a trained version.';
	END IF;
END;
$$;

-- A JSON path below parent: parent.key for plain keys, parent["key"] otherwise.
CREATE OR REPLACE FUNCTION mf._option_path(parent text, key text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN key ~ '^[a-z_][a-z0-9_]{0,62}$' THEN parent || '.' || key
				ELSE parent || '[' || to_jsonb(left(key, 100))::text || ']' END;
$$;

-- 'path: unknown key "k"' with a did-you-mean, or the known keys.
CREATE OR REPLACE FUNCTION mf._unknown_key(parent text, key text, known text[]) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT format('%s: unknown key %s', mf._option_path(parent, key), to_jsonb(left(key, 100))::text)
		   || coalesce('; did you mean "' || mf._nearest_word(key, known) || '"?',
					   format(' (known: %s)', array_to_string(known, ', ')));
$$;

-- The problem of a JSON value that must be an integer in [1, max], or NULL.
CREATE OR REPLACE FUNCTION mf._positive_integer_problem(path text, value jsonb, max integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF jsonb_typeof(value) = 'number' THEN
		IF value::text::numeric = trunc(value::text::numeric) AND value::text::numeric BETWEEN 1 AND max THEN
			RETURN NULL;
		END IF;
	END IF;
	RETURN format('%s: must be a positive integer (at most %s), got %s', path, max, left(value::text, 100));
END;
$$;

-- The problems of options.auth (never quoting the token) and the token when valid.
CREATE OR REPLACE FUNCTION mf._deploy_auth(auth jsonb, OUT token text, OUT problems text[])
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	t		jsonb := auth -> 'bearer_token';
BEGIN
	problems := '{}';
	IF jsonb_typeof(auth) IS DISTINCT FROM 'object' THEN
		problems := ARRAY[format('options.auth: must be an object {"bearer_token": "<at least 16 characters>"}, got %s',
								 jsonb_typeof(auth))];
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM jsonb_object_keys(auth) k WHERE k <> 'bearer_token') THEN
		problems := problems || 'options.auth: only the key bearer_token is allowed'::text;
	END IF;
	IF t IS NULL THEN
		problems := problems || 'options.auth.bearer_token: required'::text;
	ELSIF jsonb_typeof(t) <> 'string' THEN
		problems := problems || format('options.auth.bearer_token: must be a string, got %s', jsonb_typeof(t));
	ELSIF length(t #>> '{}') NOT BETWEEN 16 AND 4096 THEN
		problems := problems || 'options.auth.bearer_token: must have 16 to 4096 characters'::text;
	ELSIF (t #>> '{}') !~ '^[A-Za-z0-9._~+/-]+=*$' THEN
		problems := problems || ('options.auth.bearer_token: may hold only letters, digits and - . _ ~ + /, '
								 'then = padding (an RFC 6750 bearer token)')::text;
	ELSIF cardinality(problems) = 0 THEN
		token := t #>> '{}';
	END IF;
END;
$$;

-- The problems of options.traffic and its stored form: [{ref, version, weight}]
-- ordered by ref, version set for a pinned ref (name:version), NULL for one
-- that follows promotions.  Every ref must name a trained version of the model.
CREATE OR REPLACE FUNCTION mf._deploy_traffic(model_name text, traffic jsonb, OUT stored jsonb, OUT problems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	k		text;
	w		jsonb;
	p		text;
	r		record;
	bad		boolean;
	entries jsonb := '[]';
BEGIN
	problems := '{}';
	IF jsonb_typeof(traffic) IS DISTINCT FROM 'object' OR traffic = '{}' THEN
		problems := ARRAY[format('options.traffic: must be a non-empty object {"<ref>": weight, ...}, got %s',
								 CASE WHEN traffic = '{}' THEN 'an empty object' ELSE jsonb_typeof(traffic) END)];
		RETURN;
	END IF;
	IF (SELECT count(*) FROM jsonb_object_keys(traffic)) > 100 THEN
		problems := ARRAY['options.traffic: at most 100 refs'];
		RETURN;
	END IF;
	FOR k, w IN SELECT * FROM jsonb_each(traffic) ORDER BY 1 LOOP
		p := mf._option_path('options.traffic', k);
		IF jsonb_typeof(w) = 'number' THEN
			bad := (w #>> '{}')::numeric <= 0;
		ELSE
			bad := true;
		END IF;
		IF bad THEN
			problems := problems || format('%s: weight must be a positive number, got %s', p, left(w::text, 100));
		END IF;
		IF (regexp_match(k, '^([a-z][a-z0-9_]{0,62})(?:[:@]|$)'))[1] IS DISTINCT FROM model_name THEN
			problems := problems || format('%s: must be a ref of model "%s" (%s, %s:1.0.0, %s@production, %s@<alias>)',
										   p, model_name, model_name, model_name, model_name, model_name);
			CONTINUE;
		END IF;
		BEGIN
			SELECT * INTO r FROM mf._resolve(k);
			PERFORM mf._require_trained(r.version_id, 'deployed');
		EXCEPTION WHEN invalid_parameter_value OR undefined_object OR object_not_in_prerequisite_state THEN
			problems := problems || format('%s: %s', p, SQLERRM);
			CONTINUE;
		END;
		entries := entries || jsonb_build_object('ref', k, 'version', CASE WHEN k LIKE '%:%' THEN r.version END,
												 'weight', w);
	END LOOP;
	stored := entries;
END;
$$;

-- Validate and normalise mf_deploy options for a model: every problem as
-- 'path: problem' (none when valid), the options to store (no secrets; name
-- defaults to the model name) and the bearer token apart.
CREATE OR REPLACE FUNCTION mf._deploy_options(model_name text, options jsonb,
								   OUT stored jsonb, OUT bearer_token text, OUT problems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	known	CONSTANT text[] := ARRAY['name', 'auth', 'rate_limit', 'traffic', 'max_batch'];
	k		text;
	v		jsonb;
	sub		record;
	p		text;
BEGIN
	problems := '{}';
	stored := jsonb_build_object('name', model_name);
	IF jsonb_typeof(options) IS DISTINCT FROM 'object' THEN
		problems := ARRAY[format('options: must be a JSON object, got %s', coalesce(jsonb_typeof(options), 'NULL'))];
		RETURN;
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(options) ORDER BY 1 LOOP
		CASE k
			WHEN 'name' THEN
				IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^[a-z][a-z0-9_]{0,62}$' THEN
					problems := problems || format('options.name: must match ^[a-z][a-z0-9_]{0,62}$ (a lowercase letter, then '
												   'lowercase letters, digits or _; at most 63 characters), got %s', left(v::text, 100));
				ELSE
					stored := stored || jsonb_build_object('name', v);
				END IF;
			WHEN 'auth' THEN
				SELECT * INTO sub FROM mf._deploy_auth(v);
				problems := problems || sub.problems;
				bearer_token := sub.token;
			WHEN 'rate_limit' THEN
				IF jsonb_typeof(v) <> 'object' THEN
					problems := problems || format('options.rate_limit: must be an object {"requests_per_minute": N}, got %s',
												   jsonb_typeof(v));
				ELSE
					problems := problems || ARRAY(SELECT mf._unknown_key('options.rate_limit', x, ARRAY['requests_per_minute'])
													FROM jsonb_object_keys(v) x WHERE x <> 'requests_per_minute' ORDER BY 1);
					p := CASE WHEN NOT v ? 'requests_per_minute' THEN 'options.rate_limit.requests_per_minute: required'
							  ELSE mf._positive_integer_problem('options.rate_limit.requests_per_minute',
																v -> 'requests_per_minute', 2147483647) END;
					IF p IS NOT NULL THEN
						problems := problems || p;
					ELSE
						stored := stored || jsonb_build_object('rate_limit', jsonb_build_object('requests_per_minute',
																								  v -> 'requests_per_minute'));
					END IF;
				END IF;
			WHEN 'traffic' THEN
				SELECT * INTO sub FROM mf._deploy_traffic(model_name, v);
				problems := problems || sub.problems;
				stored := stored || jsonb_build_object('traffic', sub.stored);
			WHEN 'max_batch' THEN
				p := mf._positive_integer_problem('options.max_batch', v, mf._max_batch_limit());
				IF p IS NOT NULL THEN
					problems := problems || p;
				ELSE
					stored := stored || jsonb_build_object('max_batch', v);
				END IF;
			ELSE
				problems := problems || mf._unknown_key('options', k, known);
		END CASE;
	END LOOP;
END;
$$;

-- The URL of a served model from mf.http_listen_addresses (its first address;
-- localhost for a wildcard or when unset) and mf.http_port; NULL while the
-- port is unset, 0 or not a port.
CREATE OR REPLACE FUNCTION mf._http_endpoint(listen_addresses text, port text, name text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN p BETWEEN 1 AND 65535 THEN format('http://%s:%s/v1/models/%s', h, p, name) END
	  FROM (SELECT CASE WHEN btrim(port) ~ '^[0-9]{1,5}$' THEN btrim(port)::integer END AS p,
				   CASE WHEN a IN ('', '*', '0.0.0.0', '::') THEN 'localhost'
						WHEN a LIKE '%:%' THEN '[' || a || ']' ELSE a END AS h
			  FROM (SELECT btrim(split_part(coalesce(listen_addresses, 'localhost'), ',', 1)) AS a) x) y;
$$;
COMMENT ON FUNCTION mf._http_endpoint(text, text, text) IS
	'URL of a served model: http://<first of mf.http_listen_addresses>:<mf.http_port>/v1/models/<name>; NULL when the port is unset or 0';

-- The stored form of a bearer token: sha256$<salt hex>$<hex of sha256(salt || token)>.
CREATE OR REPLACE FUNCTION mf._bearer_hash(token text) RETURNS text
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT 'sha256$' || encode(s, 'hex') || '$' || encode(pg_catalog.sha256(s || convert_to(token, 'UTF8')), 'hex')
	  FROM (SELECT mf._random_bytes(16) AS s) x;
$$;

-- A deployment as an event records it (options hold no secret).
CREATE OR REPLACE FUNCTION mf._deployment_state(d mf.deployments) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT jsonb_build_object('deployment_id', d.deployment_id, 'target', d.target, 'name', d.name, 'ref', d.ref,
							  'version', d.version, 'endpoint', d.endpoint, 'status', d.status, 'options', d.options);
$$;

-- Mark a live deployment undeployed, forget its secret, record the event.
CREATE OR REPLACE FUNCTION mf._set_undeployed(d mf.deployments, model_id bigint) RETURNS mf.deployments
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	after	mf.deployments;
BEGIN
	UPDATE mf.deployments x SET status = 'undeployed', updated_at = now()
	 WHERE x.deployment_id = d.deployment_id
	RETURNING * INTO after;
	DELETE FROM mf.deployment_secrets s WHERE s.deployment_id = d.deployment_id;
	PERFORM mf._event('undeploy', model_id, d.model_name, NULL, d.version,
					  jsonb_build_object('deployment_id', d.deployment_id, 'status', d.status),
					  jsonb_build_object('deployment_id', d.deployment_id, 'status', after.status));
	RETURN after;
END;
$$;

-- Dropping a model undeploys its live deployments (registry.sql, mf._drop_model).
CREATE OR REPLACE FUNCTION mf._undeploy_model(model_id bigint, model_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments;
BEGIN
	FOR d IN SELECT * FROM mf.deployments x WHERE x.model_name = _undeploy_model.model_name
											AND x.status <> 'undeployed' ORDER BY x.deployment_id FOR UPDATE LOOP
		PERFORM mf._set_undeployed(d, model_id);
	END LOOP;
END;
$$;

-- A ref after its model or version was renamed.
CREATE OR REPLACE FUNCTION mf._renamed_ref(ref text, old_name text, new_name text, old_version text, new_version text)
	RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN m[1] IS DISTINCT FROM old_name THEN ref
				ELSE new_name || CASE WHEN m[2] = ':' || old_version THEN ':' || new_version ELSE coalesce(m[2], '') END END
	  FROM regexp_match(ref, '^([a-z][a-z0-9_]{0,62})([:@].*)?$') m;
$$;

-- Renaming a model or a version (registry.sql, mf._register_model) renames
-- what its deployments name: model_name, ref, a pinned version, traffic refs.
CREATE OR REPLACE FUNCTION mf._deployments_renamed(old_name text, new_name text, old_version text, new_version text)
	RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.deployments d
	   SET model_name = new_name,
		   ref = mf._renamed_ref(d.ref, old_name, new_name, old_version, new_version),
		   version = CASE WHEN d.version = old_version THEN new_version ELSE d.version END,
		   options = CASE WHEN NOT d.options ? 'traffic' THEN d.options
						  ELSE d.options || jsonb_build_object('traffic', (
							  SELECT jsonb_agg(e || jsonb_build_object(
										 'ref', mf._renamed_ref(e ->> 'ref', old_name, new_name, old_version, new_version),
										 'version', CASE WHEN e ->> 'version' = old_version THEN to_jsonb(new_version)
														 ELSE e -> 'version' END) ORDER BY n)
								FROM jsonb_array_elements(d.options -> 'traffic') WITH ORDINALITY t(e, n))) END
	 WHERE d.model_name = old_name AND (old_name <> new_name OR old_version <> new_version);
$$;

-- ---------------------------------------------------------------------------
-- Deployment API
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mf._deploy(ref text, target text DEFAULT 'http', options jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	tgt		text := mf._deploy_target(target);
	r		record;
	o		record;
	pinned	boolean;
	busy	mf.deployments;
	d		mf.deployments;
BEGIN
	SELECT * INTO r FROM mf._resolve(ref);
	PERFORM mf._require_owner(r.model_id, 'deploy');
	SELECT * INTO o FROM mf._deploy_options(r.model_name, coalesce(options, '{}'));
	IF cardinality(o.problems) > 0 THEN
		RAISE EXCEPTION 'invalid deployment options'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = array_to_string(o.problems, E'\n'),
				  HINT = 'Options: name, auth {"bearer_token": ...}, rate_limit {"requests_per_minute": N}, '
						 'traffic {"<ref>": weight, ...}, max_batch (README, "Deployments").';
	END IF;
	PERFORM mf._require_trained(r.version_id, 'deployed');
	PERFORM mf._lock_model(r.model_id);
	pinned := ref LIKE '%:%';

	SELECT * INTO busy FROM mf.deployments x
	 WHERE x.target = 'http' AND x.name = o.stored ->> 'name' AND x.status NOT IN ('undeployed', 'failed');
	IF FOUND THEN
		RAISE EXCEPTION 'served name "%" is already deployed', busy.name
			USING ERRCODE = 'duplicate_object',
				  DETAIL = format('Deployment %s serves %s under it.', busy.deployment_id, busy.ref),
				  HINT = format('Undeploy it first (SELECT mf_undeploy(%s);), or choose another options.name.', busy.deployment_id);
	END IF;
	INSERT INTO mf.deployments (model_name, version, ref, target, name, endpoint, options, status, created_by)
	VALUES (r.model_name, CASE WHEN pinned THEN r.version END, CASE WHEN pinned THEN mf._ref(r.version_id) ELSE ref END,
			tgt, o.stored ->> 'name',
			mf._http_endpoint(current_setting('mf.http_listen_addresses', true), current_setting('mf.http_port', true),
							  o.stored ->> 'name'),
			o.stored, 'active', mf._actor())
	RETURNING * INTO d;
	IF o.bearer_token IS NOT NULL THEN
		INSERT INTO mf.deployment_secrets (deployment_id, bearer_hash) VALUES (d.deployment_id, mf._bearer_hash(o.bearer_token));
	END IF;
	PERFORM mf._event('deploy', r.model_id, r.model_name, r.version_id, r.version, NULL,
					  mf._deployment_state(d) || jsonb_build_object('pinned', pinned,
																	'auth', CASE WHEN o.bearer_token IS NULL THEN 'none' ELSE 'bearer' END));
	IF d.endpoint IS NULL THEN
		RAISE NOTICE 'deployment % of % is recorded; the in-database HTTP server is off', d.deployment_id, d.ref
			USING DETAIL = 'mf.http_port is unset or 0: nothing serves it until the server starts.',
				  HINT = 'Set mf.http_port (e.g. ALTER SYSTEM SET mf.http_port = 8501; SELECT pg_reload_conf();), '
						 'or serve mf_export_model() with mf-serve.';
	END IF;
	RETURN d.deployment_id;
EXCEPTION WHEN unique_violation THEN
	-- another transaction deployed the same served name meanwhile
	RAISE EXCEPTION 'served name "%" is already deployed', o.stored ->> 'name'
		USING ERRCODE = 'duplicate_object',
			  DETAIL = 'Another transaction deployed it at the same time.',
			  HINT = 'Undeploy it first, or choose another options.name.';
END;
$$;
CREATE OR REPLACE FUNCTION mf_deploy(ref text, target text DEFAULT 'http', options jsonb DEFAULT '{}') RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate_secret'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_deploy(text, text, jsonb) IS
	'deploy a trained version (name:version: pinned; name, name@stage, name@alias: follows promotions) to target http under options.name; options name, auth {"bearer_token"}, rate_limit {"requests_per_minute"}, traffic {"<ref>": weight}, max_batch; returns the deployment id';

CREATE OR REPLACE FUNCTION mf._undeploy(deployment_id bigint) RETURNS mf.deployments
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments;
	mid		bigint;
BEGIN
	SELECT * INTO d FROM mf.deployments x WHERE x.deployment_id = _undeploy.deployment_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'deployment % does not exist', deployment_id
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT deployment_id, name, ref, status FROM mf.deployments lists the deployments.';
	END IF;
	SELECT m.model_id INTO mid FROM mf.models m WHERE m.name = d.model_name;
	IF mid IS NULL THEN
		PERFORM mf._require_role('mf_admin', format('undeploy deployment %s of a dropped model', deployment_id));
	ELSE
		PERFORM mf._require_owner(mid, 'undeploy');
	END IF;
	IF d.status = 'undeployed' THEN
		RAISE EXCEPTION 'deployment % is already undeployed', deployment_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('Its row stays in mf.deployments as history (%s, served as %s).', d.ref, d.name),
				  HINT = 'mf_deploy() deploys the model again.';
	END IF;
	RETURN mf._set_undeployed(d, mid);
END;
$$;
CREATE OR REPLACE FUNCTION mf_undeploy(deployment_id bigint) RETURNS mf.deployments
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_undeploy(bigint) IS
	'stop a deployment: status undeployed (from the next request on, its served name answers 404), its bearer-token hash removed; returns the row';

-- ---------------------------------------------------------------------------
-- Export
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mf._export_model(ref text) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
BEGIN
	PERFORM mf._require_role('mf_reader', 'export models');
	SELECT * INTO r FROM mf._resolve(ref);
	PERFORM mf._require_trained(r.version_id, 'exported');
	RETURN (
		SELECT mf._model_dir_tar(m.name, v.version_id, v.version, m.family,
								 ARRAY(SELECT l FROM (SELECT v.stage AS l, 0 AS o WHERE v.stage <> 'development'
													  UNION ALL
													  SELECT al.alias, 1 FROM mf.aliases al WHERE al.version_id = v.version_id) x
										ORDER BY o, l),
								 coalesce(v.trained_at, a.created_at), a.sha256, a.bytes)
		  FROM mf.model_versions v JOIN mf.models m USING (model_id) JOIN mf.artifacts a USING (version_id)
		 WHERE v.version_id = r.version_id);
END;
$$;
CREATE OR REPLACE FUNCTION mf_export_model(ref text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_export_model(text) IS
	'one trained version as a served model directory (TensorFlow Serving layout): a deterministic ustar tar of <name>/<n>/model.mfa and <name>/<n>/serving.json, <n> = version_id; for mf-serve --model-base-path';
-- http.sql - the in-database HTTP server (src/http_worker.c, bgworker/http.c).
-- Owns: the wake-up of the HTTP worker when a table that served models
-- depend on changes (statement triggers calling mf._http_wake(), which sets
-- the worker's latch at commit; it also re-reads the catalog every second),
-- and mf._http_state(), what the server does now. What is served, and the
-- role it is read as, is the worker's (src/http_catalog.c).

CREATE OR REPLACE FUNCTION mf._http_wake() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mf_http_wake'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._http_wake() IS
	'statement trigger: when the transaction commits, the HTTP worker re-reads what it serves';

CREATE OR REPLACE FUNCTION mf._http_state(OUT port integer, OUT listen_addresses text, OUT state text, OUT message text,
							   OUT role text, OUT worker_pid integer, OUT server_pids integer[],
							   OUT server_restarts bigint, OUT snapshots bigint, OUT models integer,
							   OUT versions integer, OUT snapshot_at timestamptz, OUT preloaded boolean)
	RETURNS record
	AS 'MODULE_PATHNAME', 'mf_http_state'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._http_state() IS
	'the HTTP server now: port (0 when off), addresses, state (stopped, starting, serving, refused) and why, the role it reads as, its worker and serving processes, serving processes restarted, snapshots built, served names and versions';

-- What a served model depends on: its deployment, its versions (stage,
-- status, artifact), its aliases, its name.
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.models
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.model_versions
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.aliases
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.artifacts
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.deployments
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.deployment_secrets
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
-- ---------------------------------------------------------------------------
-- Privileges (README, "Privileges"; src/privileges.c has the design note)
-- ---------------------------------------------------------------------------
-- Only the extension's owner writes the catalog: users change it through the
-- mf_* functions, which check who they are (from the session) and what they
-- may do.  Three roles, created when missing, are what a DBA grants:
--   mf_reader   search the catalog, read jobs and events, predict, evaluate
--   mf_trainer  also create models, and change, train, version, promote and
--               drop the models it owns (membership in the owner role counts)
--   mf_admin    everything, on every model
-- PUBLIC keeps only what is safe for everyone: the config tools (families,
-- templates, validation).  Training data (raw category values, sources) is
-- readable only by a model's owner and mf_admin, through mf_get_model.
-- Owns: the roles, the grants and the revokes (who may call what; the checks
-- at call time are registry.sql's and src/privileges.c's).  No function.

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mf_reader') THEN
		CREATE ROLE mf_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mf_trainer') THEN
		CREATE ROLE mf_trainer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mf_admin') THEN
		CREATE ROLE mf_admin NOLOGIN;
	END IF;
	IF NOT pg_catalog.pg_has_role('mf_trainer', 'mf_reader', 'MEMBER') THEN
		GRANT mf_reader TO mf_trainer;
	END IF;
	IF NOT pg_catalog.pg_has_role('mf_admin', 'mf_trainer', 'MEMBER') THEN
		GRANT mf_trainer TO mf_admin;
	END IF;
END;
$$;
COMMENT ON ROLE mf_reader IS 'mf_ext: search the model catalog, read jobs and events, predict and evaluate';
COMMENT ON ROLE mf_trainer IS 'mf_ext: mf_reader, plus create models and change, train and promote its own';
COMMENT ON ROLE mf_admin IS 'mf_ext: every mf_ext operation on every model';

GRANT USAGE ON SCHEMA mf TO PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA mf FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA mf FROM PUBLIC;
GRANT SELECT ON mf.templates TO PUBLIC;
GRANT SELECT ON mf.models, mf.aliases, mf.events, mf.catalog, mf.job_events, mf.deployments TO mf_reader;
-- mf.deployment_secrets (bearer-token hashes) stays the extension owner's alone.
GRANT SELECT (version_id, model_id, version, config, config_hash, parent_version_id, improvements, metadata,
			  metrics, stage, status, n_parameters, dependencies, created_at, trained_at, created_by)
	ON mf.model_versions TO mf_reader;
GRANT SELECT (version_id, format_version, size_bytes, sha256, created_at) ON mf.artifacts TO mf_reader;
GRANT SELECT (job_id, kind, version_id, status, progress, phase, epoch, total_epochs, loss, attempts,
			  max_attempts, error, queued_by, queued_at, started_at, heartbeat_at, finished_at, worker_pid,
			  result, target, options, policy, cancel_requested, run_as)
	ON mf.jobs TO mf_reader;

-- Every function: the body of each gate documented (every SQL and PL/pgSQL
-- function declares SET search_path = pg_catalog, mf, pg_temp itself; C
-- functions qualify every name they use); internal functions are not PUBLIC, except the argument forms of prediction that
-- the planner substitutes into users' queries and the pure helpers of the
-- invoker's functions mf_search_models (version order, known names, nearest name).
DO $$
DECLARE
	f		record;
BEGIN
	FOR f IN SELECT p.oid::regprocedure AS sig, n.nspname, p.proname, p.prosrc,
					to_regprocedure(format('mf._%s(%s)', substr(p.proname, 4),
										   pg_catalog.oidvectortypes(p.proargtypes))) AS body
			   FROM pg_catalog.pg_depend d
			   JOIN pg_catalog.pg_proc p ON p.oid = d.objid AND d.classid = 'pg_catalog.pg_proc'::regclass
			   JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
			  WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
				AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'mf_ext') LOOP
		IF f.prosrc IN ('mf_gate', 'mf_gate_secret') THEN
			EXECUTE format('COMMENT ON FUNCTION %s IS %L', f.body,
						   format('body of %s (SECURITY DEFINER, run only through it: see that function''s comment)', f.proname));
		END IF;
		IF f.nspname = 'mf' AND f.proname NOT IN ('_predict_args', '_predict_label_args', '_predict_proba_args',
												  '_predict_cols', '_predict_label_cols', '_predict_proba_cols',
												  '_semver_key', '_known_word', '_nearest_word') THEN
			EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f.sig);
		END IF;
	END LOOP;
END;
$$;
