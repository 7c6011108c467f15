-- Upgrade 0.4.0 -> 0.5.0: this version's own catalog changes (new tables,
-- columns, dropped signatures). The Makefile appends the view, every function
-- of 0.5.0 as CREATE OR REPLACE and the privileges.

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
-- ---------------------------------------------------------------------------
-- Views for BI tools and Grafana (install and upgrades: CREATE OR REPLACE
-- keeps the objects of users that read them; new columns go at the end)
-- ---------------------------------------------------------------------------
-- Owns: what mf.deployment_status and mf.model_performance_daily show (views;
-- no function).  The windows are fixed at the last 5 minutes, as a
-- dashboard's "now" panel reads them; alert rules choose their own.

CREATE OR REPLACE VIEW mf.deployment_status AS
SELECT d.deployment_id,
	   d.model_name,
	   d.version,
	   d.ref,
	   d.name,
	   d.target,
	   d.status,
	   d.endpoint,
	   h.ok AS healthy,
	   h.checked_at AS health_checked_at,
	   h.error AS health_error,
	   m.errors::float8 / nullif(m.requests, 0) AS error_rate,
	   m.p99 AS latency_p99_ms,
	   coalesce(m.requests, 0)::float8 / 300 AS throughput,
	   coalesce(m.requests, 0) AS requests_5m,
	   (SELECT count(*) FROM mf.alerts a JOIN mf.alert_rules r USING (rule_id)
		 WHERE a.resolved_at IS NULL
		   AND (r.target = d.deployment_id::text
				OR (r.target !~ '^[0-9]+$' AND substring(r.target FROM '^[a-z][a-z0-9_]{0,62}') = d.model_name))) AS open_alerts,
	   d.updated_at
  FROM mf.deployments d
  LEFT JOIN LATERAL (SELECT c.ok, c.checked_at, c.error FROM mf.health_checks c
					  WHERE c.deployment_id = d.deployment_id ORDER BY c.checked_at DESC LIMIT 1) h ON true
  LEFT JOIN LATERAL (SELECT sum(s.requests) AS requests, sum(s.errors) AS errors,
							max(s.latency_p99_ms) FILTER (WHERE s.requests > 0) AS p99
					   FROM mf.serving_metrics s
					  WHERE s.deployment_id = d.deployment_id AND s.minute > now() - interval '6 minutes') m ON true;
COMMENT ON VIEW mf.deployment_status IS
	'one row per deployment: its status, latest health check, and the last 5 minutes of serving (error rate, p99, throughput) with its open alerts';
COMMENT ON COLUMN mf.deployment_status.deployment_id IS 'deployment number (mf.deployments)';
COMMENT ON COLUMN mf.deployment_status.model_name IS 'the deployed model';
COMMENT ON COLUMN mf.deployment_status.version IS 'the pinned version, or NULL when the deployment follows ref';
COMMENT ON COLUMN mf.deployment_status.ref IS 'what the deployment serves (name:version, name, name@stage, name@alias)';
COMMENT ON COLUMN mf.deployment_status.name IS 'served name';
COMMENT ON COLUMN mf.deployment_status.target IS 'where it is deployed (http, oci, ...)';
COMMENT ON COLUMN mf.deployment_status.status IS 'queued, running, active, verified, unhealthy, failed or undeployed';
COMMENT ON COLUMN mf.deployment_status.endpoint IS 'URL of the served model';
COMMENT ON COLUMN mf.deployment_status.healthy IS 'whether the latest health check passed (NULL before the first check)';
COMMENT ON COLUMN mf.deployment_status.health_checked_at IS 'when the latest health check ran';
COMMENT ON COLUMN mf.deployment_status.health_error IS 'what the latest health check found wrong, if it failed';
COMMENT ON COLUMN mf.deployment_status.error_rate IS 'errors / requests over the last 5 minutes of mf.serving_metrics (NULL without requests)';
COMMENT ON COLUMN mf.deployment_status.latency_p99_ms IS 'highest per-minute p99 latency of the last 5 minutes, in milliseconds';
COMMENT ON COLUMN mf.deployment_status.throughput IS 'requests per second over the last 5 minutes';
COMMENT ON COLUMN mf.deployment_status.requests_5m IS 'requests of the last 5 minutes';
COMMENT ON COLUMN mf.deployment_status.open_alerts IS 'alerts firing now on the deployment or on its model';
COMMENT ON COLUMN mf.deployment_status.updated_at IS 'when the deployment''s status last changed';

CREATE OR REPLACE VIEW mf.model_performance_daily AS
SELECT p.model_name,
	   p.version,
	   p.day,
	   sum(p.n)::bigint AS n,
	   sum(p.accuracy * p.n) / nullif(sum(p.n) FILTER (WHERE p.accuracy IS NOT NULL), 0) AS accuracy,
	   (SELECT (v.metrics ->> 'accuracy')::float8 FROM mf.model_versions v JOIN mf.models m USING (model_id)
		 WHERE m.name = p.model_name AND v.version = p.version) AS training_accuracy,
	   sum(sum(p.accuracy * p.n)) OVER w7 / nullif(sum(sum(p.n) FILTER (WHERE p.accuracy IS NOT NULL)) OVER w7, 0)
		   AS accuracy_7d
  FROM mf.model_performance p
 GROUP BY p.model_name, p.version, p.day
WINDOW w7 AS (PARTITION BY p.model_name, p.version ORDER BY p.day RANGE BETWEEN interval '6 days' PRECEDING AND CURRENT ROW);
COMMENT ON VIEW mf.model_performance_daily IS
	'live accuracy per model, version and day (mf.model_performance, written by mf_record_outcomes), beside the accuracy measured at training';
COMMENT ON COLUMN mf.model_performance_daily.model_name IS 'the model';
COMMENT ON COLUMN mf.model_performance_daily.version IS 'the version that made the predictions';
COMMENT ON COLUMN mf.model_performance_daily.day IS 'the day the outcomes belong to';
COMMENT ON COLUMN mf.model_performance_daily.n IS 'predictions with a known outcome that day';
COMMENT ON COLUMN mf.model_performance_daily.accuracy IS 'share of those predictions that were right';
COMMENT ON COLUMN mf.model_performance_daily.training_accuracy IS 'metrics.accuracy of the version, measured at training (NULL when not measured)';
COMMENT ON COLUMN mf.model_performance_daily.accuracy_7d IS 'n-weighted accuracy of the 7 days ending that day';
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
							  OUT metrics jsonb, OUT config_updates jsonb, OUT test_rows jsonb, OUT reference jsonb)
	RETURNS record
	AS 'MODULE_PATHNAME', 'mf_train_run'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._train_run(text, jsonb, text, text, jsonb, oid, text) IS
	'read a source (run with the rights of role author, names resolved on search_path), encode its features, fit one family on a normalised config; returns the artifact, feature schema, metrics, learned config keys the raw features of the first test rows and the reference distributions of the raw rows (no catalog writes)';

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

CREATE OR REPLACE FUNCTION mf._text_option_keys() RETURNS text[]
	AS 'MODULE_PATHNAME', 'mf_text_option_keys'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mf._text_option_keys() IS
	'the run options only transformer (text) models take: their columns and tokenizer (src/train_args.c)';

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
	DELETE FROM mf.test_rows t WHERE t.version_id = c.version_id;
	IF res.test_rows IS NOT NULL THEN
		INSERT INTO mf.test_rows (version_id, rows) VALUES (c.version_id, res.test_rows);
	END IF;
	PERFORM mf._store_reference(c.version_id, res.reference);
	PERFORM mf._event('train', c.model_id, c.model_name, c.version_id, c.version,
					  jsonb_build_object('status', c.status),
					  jsonb_build_object('status', 'trained', 'n_parameters', fin.n_parameters,
										 'metrics', res.metrics - 'history' - 'confusion_matrix' - 'labels' - 'warnings'));
	RETURN mf._ref(c.version_id);
END;
$$;
COMMENT ON FUNCTION mf._train_version(text, text, text, jsonb, oid, text) IS
	'train a version (a trained one is first derived into a new one), its source run as run_as on search_path; no privilege check';

-- The first n rows a version was tested on, as objects of named raw features
-- (what images and smoke tests send).  No privilege check: revoked from PUBLIC.
CREATE OR REPLACE FUNCTION mf._test_rows(version_id bigint, n integer DEFAULT 100) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	rows	jsonb;
BEGIN
	IF n IS NULL OR n < 1 THEN
		RAISE EXCEPTION 'number of test rows must be at least 1, not %', coalesce(n::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Ask for 1 to 100 rows.';
	END IF;
	SELECT t.rows INTO rows FROM mf.test_rows t WHERE t.version_id = _test_rows.version_id;
	IF rows IS NULL THEN
		RAISE EXCEPTION 'version % has no stored test rows', mf._ref(_test_rows.version_id)
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Versions trained before mf_ext 0.4.0, and families trained without a held-out split, keep none.',
				  HINT = 'Retrain the version with mf_train().';
	END IF;
	RETURN (SELECT coalesce(jsonb_agg(r ORDER BY i), '[]') FROM jsonb_array_elements(rows) WITH ORDINALITY AS e(r, i) WHERE i <= n);
END;
$$;
COMMENT ON FUNCTION mf._test_rows(bigint, integer) IS
	'the first n (at most 100) rows a version was tested on, as a JSON array of objects of named raw features (what mf_predict(ref, jsonb) takes); 55000 when the version keeps none';

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
	run_keys text[] := mf._run_option_keys();
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
	IF fam <> 'transformer' THEN
		run_keys := ARRAY(SELECT rk FROM unnest(run_keys) rk WHERE rk <> ALL (mf._text_option_keys()));
	END IF;
	hyper_keys := ARRAY(SELECT jsonb_object_keys(config) EXCEPT SELECT unnest(fixed_keys));
	IF fam IN ('mlp', 'transformer') THEN
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
	IF fam IN ('mlp', 'transformer') AND options ? 'seed' AND NOT options ? 'training' THEN
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

-- ---------------------------------------------------------------------------
-- Transformer text models (src/predict_text.c, src/text_model.c)
-- ---------------------------------------------------------------------------
-- Classifiers read one text (or, in the record forms above, the column named
-- as the text column training read); decoders and encoder-decoders generate;
-- encoders embed.  A model of the wrong kind is refused with 42809.

CREATE OR REPLACE FUNCTION mf_predict(ref text, input text) RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_text'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_predict(text, text) IS
	'transformer classifier on one text: the class (its label as a number when every label is one, else its index)';

CREATE OR REPLACE FUNCTION mf_predict_label(ref text, input text) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_text'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_predict_label(text, text) IS 'transformer classifier on one text: the predicted label';

CREATE OR REPLACE FUNCTION mf_predict_proba(ref text, input text) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_text'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_predict_proba(text, text) IS
	'transformer classifier on one text: class probabilities in the order of feature_schema -> ''labels''';

CREATE OR REPLACE FUNCTION mf_generate(ref text, prompt text, options jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME', 'mf_generate'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
COMMENT ON FUNCTION mf_generate(text, text, jsonb) IS
	'text a decoder continues from prompt, or an encoder-decoder writes for it; options greedy, temperature, top_k, max_tokens, seed (same seed, same text)';

CREATE OR REPLACE FUNCTION mf_embed(ref text, input text) RETURNS float4[]
	AS 'MODULE_PATHNAME', 'mf_embed'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_embed(text, text) IS 'the pooled encoder output of a transformer encoder for one text (d_model values)';
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

-- 55000 unless this database's launcher can run jobs (mf_ext preloaded, mf.database is this one); its state.
CREATE OR REPLACE FUNCTION mf._require_job_launcher(OUT preloaded boolean, OUT served_database text, OUT launcher_pid integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	SELECT * INTO preloaded, served_database, launcher_pid FROM mf._jobs_state();
	IF NOT preloaded THEN
		RAISE EXCEPTION 'background jobs need mf_ext in shared_preload_libraries'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('shared_preload_libraries is ''%s''.', current_setting('shared_preload_libraries')),
				  HINT = 'Add mf_ext to shared_preload_libraries in postgresql.conf and restart the server; mf_train() trains in this session meanwhile.';
	END IF;
	IF served_database IS DISTINCT FROM current_database() THEN
		RAISE EXCEPTION 'the mf_ext launcher runs jobs of database "%", not of "%"', served_database, current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = format('Queue jobs in database "%s", or set mf.database = ''%s'' in postgresql.conf and restart the server.',
								served_database, current_database());
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._require_job_launcher() IS
	'55000 unless background jobs can run for this database (mf_ext preloaded, mf.database names it); returns the launcher state';

-- After inserting a job: warn when no launcher runs, wake it at commit.
CREATE OR REPLACE FUNCTION mf._job_queued(job_id bigint, launcher_pid integer) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF launcher_pid = 0 THEN
		RAISE WARNING 'job % is queued but the mf_ext launcher is not running', job_id
			USING HINT = 'The launcher restarts within seconds after an error; if it does not, read the server log. The job runs once it is back.';
	END IF;
	PERFORM mf._wake_launcher_at_commit();
END;
$$;
COMMENT ON FUNCTION mf._job_queued(bigint, integer) IS 'after queuing a job: warn when no launcher runs, wake it at commit';

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

	SELECT * INTO st FROM mf._require_job_launcher();
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
	PERFORM mf._job_queued(id, st.launcher_pid);
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
			PERFORM mf._deploy_job_lost(j.job_id);
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
			PERFORM mf._deploy_job_lost(j.job_id);
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
			PERFORM mf._deploy_job_lost(j.job_id);
			PERFORM mf._job_event(j.job_id, 'error', format('%s; %s of %s attempts used: failed', why, j.attempts, j.max_attempts));
		END IF;
	END LOOP;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION mf._recover_jobs(bigint[]) IS
	'launcher: running jobs not in the live list lost their worker: re-queued while attempts < max_attempts, else failed with their version';

-- Launcher: copy a worker's progress (at most once a second per job).
-- A job worker of a kind other than train takes its running job: its pid, its
-- first phase; the job row, or NULL when the job is not this kind's or not running.
CREATE OR REPLACE FUNCTION mf._take_job(job_id bigint, pid integer, kind text, phase text, progress float8) RETURNS mf.jobs
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.jobs u SET worker_pid = _take_job.pid, phase = _take_job.phase, progress = _take_job.progress,
		   heartbeat_at = clock_timestamp()
	 WHERE u.job_id = _take_job.job_id AND u.status = 'running' AND u.kind = _take_job.kind
	RETURNING u.*;
$$;
COMMENT ON FUNCTION mf._take_job(bigint, integer, text, text, float8) IS
	'deploy and smoke-test workers: take the running job of that kind (pid, first phase, progress); NULL when it is not theirs';

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
		PERFORM mf._deploy_job_lost(j.job_id);
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
--   mf._lock_deployment: who may change a deployment (its model's owner, mf_admin)
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

-- A deployment target, lowercased: http or oci; anything else is unknown
-- (22023, with a suggestion).
CREATE OR REPLACE FUNCTION mf._deploy_target(target text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	t		text := lower(btrim(target));
	near	text := mf._nearest_word(t, ARRAY['http', 'oci']);
BEGIN
	IF t IN ('http', 'oci') THEN
		RETURN t;
	END IF;
	RAISE EXCEPTION 'unknown deployment target "%"', target
		USING ERRCODE = 'invalid_parameter_value',
			  DETAIL = 'Known targets: http (the in-database HTTP server), oci (an image pushed to a registry).',
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
	known	CONSTANT text[] := ARRAY['name', 'auth', 'rate_limit', 'traffic', 'max_batch', 'log_predictions', 'health'];
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
			WHEN 'health' THEN
				SELECT * INTO sub FROM mf._health_options(v, 'options.health');
				problems := problems || sub.problems;
				stored := stored || jsonb_build_object('health', sub.stored);
			WHEN 'max_batch' THEN
				p := mf._positive_integer_problem('options.max_batch', v, mf._max_batch_limit());
				IF p IS NOT NULL THEN
					problems := problems || p;
				ELSE
					stored := stored || jsonb_build_object('max_batch', v);
				END IF;
			WHEN 'log_predictions' THEN
				SELECT * INTO sub FROM mf._deploy_log_option(v);
				problems := problems || sub.problems;
				stored := stored || coalesce(sub.stored, '{}');
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
	IF tgt = 'oci' THEN
		RETURN mf._queue_deploy(ref, r.version_id, r.model_id, r.model_name, r.version, options);
	END IF;
	SELECT * INTO o FROM mf._deploy_options(r.model_name, coalesce(options, '{}'));
	IF cardinality(o.problems) > 0 THEN
		RAISE EXCEPTION 'invalid deployment options'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = array_to_string(o.problems, E'\n'),
				  HINT = 'Options: name, auth {"bearer_token": ...}, rate_limit {"requests_per_minute": N}, '
						 'traffic {"<ref>": weight, ...}, max_batch, log_predictions, health {"interval": "30 s", ...} (README, "Deployments").';
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
	'deploy a trained version (name:version: pinned; name, name@stage, name@alias: follows promotions) to target http under options.name; options name, auth {"bearer_token"}, rate_limit {"requests_per_minute"}, traffic {"<ref>": weight}, max_batch, log_predictions (true or {"id_field": member}: served predictions go to mf.prediction_log); returns the deployment id';

-- Lock a deployment for a change that its model's owner or mf_admin may make
-- ('what': undeploy, set the endpoint of); 42704 when it does not exist.
CREATE OR REPLACE FUNCTION mf._lock_deployment(deployment_id bigint, what text) RETURNS mf.deployments
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments;
	mid		bigint;
BEGIN
	IF deployment_id IS NULL THEN
		RAISE EXCEPTION 'deployment_id must not be NULL'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'SELECT deployment_id, name, ref, status FROM mf.deployments lists the deployments.';
	END IF;
	SELECT * INTO d FROM mf.deployments x WHERE x.deployment_id = _lock_deployment.deployment_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'deployment % does not exist', deployment_id
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT deployment_id, name, ref, status FROM mf.deployments lists the deployments.';
	END IF;
	SELECT m.model_id INTO mid FROM mf.models m WHERE m.name = d.model_name;
	IF mid IS NULL THEN
		PERFORM mf._require_role('mf_admin', format('%s deployment %s of a dropped model', what, deployment_id));
	ELSE
		PERFORM mf._require_owner(mid, what);
	END IF;
	RETURN d;
END;
$$;

CREATE OR REPLACE FUNCTION mf._undeploy(deployment_id bigint) RETURNS mf.deployments
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments := mf._lock_deployment(deployment_id, 'undeploy');
	mid		bigint := (SELECT m.model_id FROM mf.models m WHERE m.name = d.model_name);
BEGIN
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

-- The labels of a served version (serving.json): its stage unless development, then its aliases.
CREATE OR REPLACE FUNCTION mf._served_labels(v mf.model_versions) RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT ARRAY(SELECT l FROM (SELECT v.stage AS l, 0 AS o WHERE v.stage <> 'development'
								UNION ALL
								SELECT al.alias, 1 FROM mf.aliases al WHERE al.version_id = v.version_id) x
				  ORDER BY o, l);
$$;

CREATE OR REPLACE FUNCTION mf._export_model(ref text) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
BEGIN
	PERFORM mf._require_role('mf_reader', 'export models');
	SELECT * INTO r FROM mf._resolve(ref);
	-- The artifact holds the training categories: only who may see them (README, "Privileges").
	PERFORM mf._require_owner(r.model_id, 'export');
	PERFORM mf._require_trained(r.version_id, 'exported');
	RETURN (
		SELECT mf._model_dir_tar(m.name, v.version_id, v.version, m.family, mf._served_labels(v),
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
-- image.sql - deployments of target oci: an image of one version built,
-- verified and pushed by a background job of kind deploy (src/deploy_job.c over
-- image/oci*.c).
-- Owns (PL/pgSQL): the options of an oci deployment (registry, repository,
-- tag), queuing the job, what the job reads (the version's served directory
-- fields, artifact, config hash, metrics and test rows) and the status
-- transitions of the deployment and its job:
--   deployment queued -> running (building, verifying, pushing) -> active | failed
--   job        queued -> running                                -> succeeded | failed
-- The C worker only builds, verifies and pushes, and reports through
-- mf._deploy_job_phase and mf._deploy_job_finished.
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._deploy_oci_options: the options of an oci deployment, with every problem's path
--   mf._queue_deploy: recording an oci deployment and queuing its job
--   mf._deploy_job_begin: what a deploy job builds, the deployment running
--   mf._deploy_job_finished: the outcome of a deploy job (job and deployment statuses)

-- The problems of the options of an oci deployment and their stored form
-- {registry, repository, tag} (tag defaults to the version).
CREATE OR REPLACE FUNCTION mf._deploy_oci_options(version text, options jsonb, OUT stored jsonb, OUT problems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	known	CONSTANT text[] := ARRAY['registry', 'repository', 'tag', 'from'];
	src		jsonb := options -> 'from';
	reg		jsonb := options -> 'registry';
	repo	jsonb := options -> 'repository';
	tag		jsonb := coalesce(options -> 'tag', to_jsonb(version));
	found	boolean;
BEGIN
	problems := '{}';
	IF jsonb_typeof(options) IS DISTINCT FROM 'object' THEN
		problems := ARRAY[format('options: must be a JSON object {"registry": ..., "repository": ..., "tag": ...}, got %s',
								 coalesce(jsonb_typeof(options), 'NULL'))];
		RETURN;
	END IF;
	problems := problems || ARRAY(SELECT mf._unknown_key('options', k, known)
									FROM jsonb_object_keys(options) k WHERE k <> ALL (known) ORDER BY 1);
	IF src IS NOT NULL AND (jsonb_typeof(src) <> 'number' OR (src #>> '{}') !~ '^[1-9][0-9]{0,17}$') THEN
		problems := problems || format('options.from: must be a deployment id (a positive integer), got %s', left(src::text, 100));
	END IF;
	IF reg IS NULL THEN
		problems := problems || 'options.registry: required (a registry name of mf.registries)'::text;
	ELSIF jsonb_typeof(reg) <> 'string' OR (reg #>> '{}') !~ '^[a-z][a-z0-9_]{0,62}$' THEN
		problems := problems || format('options.registry: must be a registry name (^[a-z][a-z0-9_]{0,62}$), got %s',
									   left(reg::text, 100));
	ELSIF to_regclass('mf.registries') IS NOT NULL THEN
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM mf.registries WHERE name = $1)' INTO found USING reg #>> '{}';
		IF NOT found THEN
			problems := problems || format('options.registry: no registry %s (mf_create_registry() creates one)', reg::text);
		END IF;
	END IF;
	IF repo IS NULL AND src IS NULL THEN
		problems := problems || 'options.repository: required (e.g. "models/churn")'::text;
	ELSIF repo IS NULL THEN
		NULL;	-- a copy keeps the source's repository (mf._queue_deploy)
	ELSIF jsonb_typeof(repo) <> 'string' OR length(repo #>> '{}') > 255
		  OR (repo #>> '{}') !~ '^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$' THEN
		problems := problems || format('options.repository: must be a repository name of the OCI distribution spec '
									   '(lowercase path components such as "models/churn"), got %s', left(repo::text, 100));
	END IF;
	IF jsonb_typeof(tag) <> 'string' OR (tag #>> '{}') !~ '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$' THEN
		problems := problems || format('options.tag: must be a tag of the OCI distribution spec '
									   '(^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$), got %s', left(tag::text, 100));
	END IF;
	stored := jsonb_strip_nulls(jsonb_build_object('registry', reg, 'repository', repo, 'tag', tag, 'from', src));
END;
$$;
COMMENT ON FUNCTION mf._deploy_oci_options(text, jsonb) IS
	'the problems (path: problem) of the options of an oci deployment and their stored form {registry, repository, tag[, from]}';

-- mf_deploy(ref, 'oci', options) after mf._deploy resolved the ref and checked
-- ownership: record the deployment (queued, pinned to the resolved version) and
-- queue its deploy job; returns the deployment id.
CREATE OR REPLACE FUNCTION mf._queue_deploy(ref text, version_id bigint, model_id bigint, model_name text, version text,
								 options jsonb) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	o		record;
	st		record;
	d		mf.deployments;
	src		mf.deployments;
	id		bigint;
BEGIN
	SELECT * INTO o FROM mf._deploy_oci_options(version, coalesce(options, '{}'));
	IF cardinality(o.problems) > 0 THEN
		RAISE EXCEPTION 'invalid deployment options'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = array_to_string(o.problems, E'\n'),
				  HINT = 'Options of target oci: registry (a name of mf.registries), repository, tag (default: the version), '
						 'from (a deployment id: copy its smoke-tested image instead of building one).';
	END IF;
	PERFORM mf._require_trained(version_id, 'deployed');
	IF o.stored ? 'from' THEN
		-- the gate (55000 and a lasting gate_refused event when the image was not smoke-tested)
		src := mf._gate_source(o.stored ->> 'registry', (o.stored ->> 'from')::bigint);
		IF src.model_name IS DISTINCT FROM model_name OR src.version IS DISTINCT FROM version THEN
			RAISE EXCEPTION 'invalid deployment options'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = format('options.from: deployment %s serves %s:%s, not %s:%s', src.deployment_id,
									  src.model_name, src.version, model_name, version);
		END IF;
		o.stored := o.stored || jsonb_build_object('repository', coalesce(o.stored ->> 'repository', src.options ->> 'repository'));
	ELSIF (SELECT r.gated FROM mf.registries r WHERE r.name = o.stored ->> 'registry') THEN
		RAISE EXCEPTION 'registry "%" accepts only smoke-tested images', o.stored ->> 'registry'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A gated registry never receives a new build: only the exact image of a deployment that passed mf_smoke_test().',
				  HINT = 'Push to an ungated registry, smoke-test that deployment, then mf_deploy(ref, ''oci'', ''{"registry": "...", "from": <its id>}'').';
	END IF;
	SELECT * INTO st FROM mf._require_job_launcher();
	INSERT INTO mf.deployments (model_name, version, ref, target, name, options, status, created_by)
	VALUES (model_name, version, ref, 'oci', model_name, o.stored, 'queued', mf._actor())
	RETURNING * INTO d;
	INSERT INTO mf.jobs (kind, version_id, source, options, queued_by, run_as, search_path)
	VALUES ('deploy', version_id, '', jsonb_build_object('deployment_id', d.deployment_id), mf._actor(), mf._actor(),
			'pg_catalog')
	RETURNING job_id INTO id;
	UPDATE mf.deployments x SET job_id = id WHERE x.deployment_id = d.deployment_id RETURNING * INTO d;
	PERFORM mf._job_event(id, 'info', format('queued by %s: deploy %s:%s as an image to registry %s, %s:%s%s', mf._actor(),
											 model_name, version, o.stored ->> 'registry', o.stored ->> 'repository',
											 o.stored ->> 'tag', CASE WHEN o.stored ? 'from'
																 THEN format(' (a copy of deployment %s''s image)', o.stored ->> 'from') ELSE '' END),
						  jsonb_build_object('deployment_id', d.deployment_id, 'options', o.stored));
	PERFORM mf._event('deploy', model_id, model_name, version_id, version, NULL,
					  mf._deployment_state(d) || jsonb_build_object('job_id', id));
	PERFORM mf._job_queued(id, st.launcher_pid);
	RETURN d.deployment_id;
END;
$$;
COMMENT ON FUNCTION mf._queue_deploy(text, bigint, bigint, text, text, jsonb) IS
	'mf_deploy(ref, ''oci'', options): record the deployment (queued) and queue its deploy job; returns the deployment id';

-- Deploy job worker: take the job (pid, phase building, the deployment
-- running) and return what to build; no row when there is nothing to do.
CREATE OR REPLACE FUNCTION mf._deploy_job_begin(job_id bigint, pid integer,
									 OUT deployment_id bigint, OUT name text, OUT version text, OUT version_number bigint,
									 OUT family text, OUT labels text[], OUT trained_at timestamptz,
									 OUT artifact_sha256 text, OUT artifact bytea, OUT config_hash text, OUT metrics text,
									 OUT test_rows text, OUT options jsonb) RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
	d		mf.deployments;
	v		mf.model_versions;
BEGIN
	j := mf._take_job(job_id, pid, 'deploy', 'building', 0.05);
	IF j.job_id IS NULL THEN
		RETURN;
	END IF;
	UPDATE mf.deployments x SET status = 'running', updated_at = now(), error = NULL
	 WHERE x.deployment_id = (j.options ->> 'deployment_id')::bigint AND x.status IN ('queued', 'running')
	RETURNING x.* INTO d;
	SELECT mv.* INTO v FROM mf.model_versions mv WHERE mv.version_id = j.version_id;
	IF d.deployment_id IS NULL OR v.version_id IS NULL OR v.status <> 'trained' THEN
		PERFORM mf._deploy_job_finished(j.job_id, false, 'the deployment was undeployed or its version dropped before the job ran',
										NULL, NULL, NULL);
		RETURN;
	END IF;
	PERFORM mf._job_event(j.job_id, 'info', format('started in worker %s: building the image of %s', pid, mf._ref(v.version_id)));
	SELECT d.deployment_id, m.name, v.version, v.version_id, m.family, mf._served_labels(v),
		   coalesce(v.trained_at, a.created_at), a.sha256, a.bytes, v.config_hash,
		   (v.metrics - 'history' - 'confusion_matrix')::text, mf._test_rows(v.version_id, 100)::text, d.options
	  INTO deployment_id, name, version, version_number, family, labels, trained_at, artifact_sha256, artifact,
		   config_hash, metrics, test_rows, options
	  FROM mf.models m JOIN mf.artifacts a ON a.version_id = v.version_id
	 WHERE m.model_id = v.model_id;
	RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION mf._deploy_job_begin(bigint, integer) IS
	'deploy job worker: phase building, the deployment running; returns the version, artifact, config hash, metrics and test rows to build from (no row: nothing to do)';

-- Deploy job worker: a new phase (building, verifying, pushing) with a log line.
CREATE OR REPLACE FUNCTION mf._deploy_job_phase(job_id bigint, phase text, progress float8, message text, details jsonb)
	RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	UPDATE mf.jobs u SET phase = _deploy_job_phase.phase, progress = greatest(u.progress, _deploy_job_phase.progress),
		   heartbeat_at = clock_timestamp()
	 WHERE u.job_id = _deploy_job_phase.job_id AND u.status = 'running';
	PERFORM mf._job_event(job_id, 'info', message, details);
END;
$$;
COMMENT ON FUNCTION mf._deploy_job_phase(bigint, text, float8, text, jsonb) IS
	'deploy job worker: a new phase (building, verifying, pushing) with a log line';

-- Deploy job worker, for a deployment with options.from: the gate checked
-- again, the source's image copied by digest (blobs then manifest) to the
-- deployment's registry; its layers recorded; returns the image by digest.
CREATE OR REPLACE FUNCTION mf._deploy_copy(job_id bigint) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments;
	src		mf.deployments;
	image	text;
BEGIN
	SELECT x.* INTO d FROM mf.deployments x JOIN mf.jobs j ON x.deployment_id = (j.options ->> 'deployment_id')::bigint
	 WHERE j.job_id = _deploy_copy.job_id;
	src := mf._gate_source(d.options ->> 'registry', (d.options ->> 'from')::bigint);
	image := mf._registry_copy(src.options ->> 'registry', src.options ->> 'repository', mf._image_digest(src.image),
							   d.options ->> 'registry', d.options ->> 'repository', d.options ->> 'tag');
	UPDATE mf.deployments x SET layers = src.layers WHERE x.deployment_id = d.deployment_id;
	RETURN image;
END;
$$;
COMMENT ON FUNCTION mf._deploy_copy(bigint) IS
	'deploy job worker, options.from: check the gate again and copy the source deployment''s smoke-tested image to the registry by digest; returns the image reference';

-- Deploy job worker: the end of the job: the deployment active (pushed) with
-- its image and layers, or failed with the error; the job succeeded or failed.
CREATE OR REPLACE FUNCTION mf._deploy_job_finished(job_id bigint, ok boolean, message text, image text, layers text[],
										details jsonb) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
	d		mf.deployments;
BEGIN
	UPDATE mf.jobs u
	   SET status = CASE WHEN ok THEN 'succeeded' WHEN u.cancel_requested THEN 'cancelled' ELSE 'failed' END,
		   finished_at = clock_timestamp(),
		   progress = CASE WHEN ok THEN 1 ELSE u.progress END, error = CASE WHEN ok THEN NULL ELSE message END,
		   result = jsonb_strip_nulls(coalesce(details, '{}') || jsonb_build_object('image', image, 'layers', layers))
	 WHERE u.job_id = _deploy_job_finished.job_id AND u.status = 'running'
	RETURNING u.* INTO j;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	UPDATE mf.deployments x
	   SET status = CASE WHEN ok THEN 'active' ELSE 'failed' END, error = CASE WHEN ok THEN NULL ELSE message END,
		   image = coalesce(_deploy_job_finished.image, x.image), layers = coalesce(_deploy_job_finished.layers, x.layers),
		   updated_at = now()
	 WHERE x.deployment_id = (j.options ->> 'deployment_id')::bigint AND x.status IN ('queued', 'running')
	RETURNING x.* INTO d;
	PERFORM mf._job_event(j.job_id, CASE WHEN ok THEN 'info' ELSE 'error' END,
						  CASE WHEN ok THEN format('succeeded: pushed %s', image) ELSE format('failed: %s', message) END,
						  details);
	IF d.deployment_id IS NOT NULL THEN
		PERFORM mf._event('deploy', (SELECT m.model_id FROM mf.models m WHERE m.name = d.model_name), d.model_name,
						  j.version_id, d.version, NULL,
						  mf._deployment_state(d) || jsonb_build_object('job_id', j.job_id, 'image', d.image,
																		'layers', d.layers, 'error', d.error));
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._deploy_job_finished(bigint, boolean, text, text, text[], jsonb) IS
	'deploy job worker: the job succeeded (deployment active with image and layers) or failed (deployment failed with the error)';

-- Launcher: a deploy job ended without its worker (mf._recover_jobs, mf._claim_job):
-- its deployment failed with the job's error.
CREATE OR REPLACE FUNCTION mf._deploy_job_lost(job_id bigint) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.deployments x SET status = 'failed', error = j.error, updated_at = now()
	  FROM mf.jobs j
	 WHERE j.job_id = _deploy_job_lost.job_id AND j.kind = 'deploy' AND j.status IN ('failed', 'cancelled')
	   AND x.deployment_id = (j.options ->> 'deployment_id')::bigint AND x.status IN ('queued', 'running');
$$;
COMMENT ON FUNCTION mf._deploy_job_lost(bigint) IS
	'launcher and cancel: a deploy job that ended without its worker fails its deployment with the job''s error';

REVOKE EXECUTE ON FUNCTION mf._deploy_job_begin(bigint, integer), mf._deploy_job_phase(bigint, text, float8, text, jsonb),
	mf._deploy_job_finished(bigint, boolean, text, text, text[], jsonb) FROM PUBLIC;
-- registries.sql - OCI registries: mf_create_registry, mf_drop_registry, and
-- the gate of a gated registry.
-- Owns (PL/pgSQL): the registry options (every problem listed with its path,
-- never quoting a secret; the auth kind they mean), who may create and drop
-- registries (mf_admin), and when a gated registry accepts an image (its
-- digest's latest smoke test passed).  C (src/registry_pg.c over the pure-C
-- client image/registry*.c): the URL rule, pushing a layout and copying an
-- image with the stored credentials, and the refusal event that outlives the
-- refusing transaction.
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._registry_options: every option, with every problem's path
--   mf._create_registry: recording a registry and its secrets
--   mf._gate_source: the image a gated registry may receive
--
-- Secrets: username, password and refresh_token go to mf.registry_secrets,
-- which no role but the extension's owner reads.  mf_create_registry is a
-- "secret gate" (src/privileges.c, mf_gate_secret): its errors never log the
-- statement.  The statement text itself is the caller's: pg_stat_activity
-- shows it (to the same role and to pg_read_all_stats) until the session's
-- next statement, and log_statement = 'all' logs it.  README ("Registries")
-- shows how to pass the options without putting the secret in any statement
-- text (\copy into a temporary table, or a driver's bind parameter).

-- ---------------------------------------------------------------------------
-- C helpers (src/registry_pg.c)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mf._registry_url_problem(url text, insecure boolean) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_registry_url_problem_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf._registry_url_problem(text, boolean) IS
	'why a registry base URL is refused (https://host[:port], http:// only when insecure, no credentials, path or query), NULL when valid';

CREATE OR REPLACE FUNCTION mf._registry_push(registry text, layout_dir text, repository text, tag text,
								  mount_from text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_registry_push_sql'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._registry_push(text, text, text, text, text) IS
	'push the OCI image layout directory layout_dir (a server path) to <registry>/<repository>:<tag> with the registry''s stored credentials; returns host/repository@sha256:<digest> (the deploy job calls the same C entry, MfRegistryPush)';

CREATE OR REPLACE FUNCTION mf._registry_copy(src_registry text, src_repository text, digest text,
								  dst_registry text, dst_repository text, dst_tag text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_registry_copy_sql'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._registry_copy(text, text, text, text, text, text) IS
	'copy the image <src_registry>/<src_repository>@<digest> to <dst_registry>/<dst_repository> (tagged dst_tag), blobs mounted within one registry; returns the destination reference by digest';

CREATE OR REPLACE FUNCTION mf._record_refusal_autonomously(registry text, from_deployment bigint, reason text) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_record_refusal_autonomously'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mf._record_refusal_autonomously(text, bigint, text) IS
	'record a gate refusal as an event in a transaction of its own (a short background worker), so the event stays when the refusal''s error rolls the caller back';

-- ---------------------------------------------------------------------------
-- Rules
-- ---------------------------------------------------------------------------

-- The problem of a JSON value that must be a string of 1..max characters
-- without control characters nor any character of forbidden (a bracket
-- expression body, named by forbidden_name), or NULL.  Never quotes the value.
CREATE OR REPLACE FUNCTION mf._secret_string_problem(path text, value jsonb, max integer, forbidden text, forbidden_name text)
	RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN jsonb_typeof(value) IS DISTINCT FROM 'string'
				THEN format('%s: must be a string, got %s', path, coalesce(jsonb_typeof(value), 'nothing'))
				WHEN length(value #>> '{}') NOT BETWEEN 1 AND max
				THEN format('%s: must have 1 to %s characters', path, max)
				WHEN (value #>> '{}') ~ ('[[:cntrl:]' || forbidden || ']')
				THEN format('%s: must not contain control characters%s', path,
							CASE WHEN forbidden <> '' THEN ' or ' || forbidden_name ELSE '' END) END;
$$;

-- Validate mf_create_registry options: every problem as 'path: problem'
-- (never quoting a secret), the auth kind, the flags and the secrets apart.
CREATE OR REPLACE FUNCTION mf._registry_options(url text, options jsonb,
									 OUT auth text, OUT gated boolean, OUT insecure boolean,
									 OUT username text, OUT password text, OUT refresh_token text,
									 OUT problems text[])
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	known	CONSTANT text[] := ARRAY['username', 'password', 'refresh_token', 'insecure', 'gated', 'auth'];
	acr_user CONSTANT text := '00000000-0000-0000-0000-000000000000';
	k		text;
	v		jsonb;
	p		text;
BEGIN
	problems := '{}';
	gated := false;
	insecure := false;
	IF jsonb_typeof(options) IS DISTINCT FROM 'object' THEN
		problems := ARRAY[format('options: must be a JSON object, got %s', coalesce(jsonb_typeof(options), 'NULL'))];
		RETURN;
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(options) ORDER BY 1 LOOP
		p := NULL;
		CASE k
			WHEN 'username' THEN
				p := mf._secret_string_problem('options.username', v, 256, ':', 'colons');
				username := CASE WHEN p IS NULL THEN v #>> '{}' END;
			WHEN 'password' THEN
				p := mf._secret_string_problem('options.password', v, 4096, '', '');
				password := CASE WHEN p IS NULL THEN v #>> '{}' END;
			WHEN 'refresh_token' THEN
				p := mf._secret_string_problem('options.refresh_token', v, 16384, ' ', 'spaces');
				refresh_token := CASE WHEN p IS NULL THEN v #>> '{}' END;
			WHEN 'insecure', 'gated' THEN
				IF jsonb_typeof(v) <> 'boolean' THEN
					p := format('options.%s: must be true or false, got %s', k, jsonb_typeof(v));
				ELSIF k = 'insecure' THEN
					insecure := v::text::boolean;
				ELSE
					gated := v::text::boolean;
				END IF;
			WHEN 'auth' THEN
				IF v NOT IN ('"basic"', '"bearer"') THEN
					p := format('options.auth: must be "basic" or "bearer", got %s', left(v::text, 100));
				ELSE
					auth := v #>> '{}';
				END IF;
			ELSE
				p := mf._unknown_key('options', k, known);
		END CASE;
		IF p IS NOT NULL THEN
			problems := problems || p;
		END IF;
	END LOOP;
	IF (options ? 'username') <> (options ? 'password') AND NOT options ? 'refresh_token' THEN
		problems := problems || 'options.username, options.password: give both or neither'::text;
	END IF;
	IF options ? 'refresh_token' AND options ? 'password' THEN
		problems := problems || ('options.refresh_token: cannot be combined with options.password '
								 '(an ACR refresh token replaces the password)')::text;
	ELSIF options ? 'refresh_token' AND options ? 'username' AND username IS DISTINCT FROM acr_user THEN
		problems := problems || format('options.username: with options.refresh_token it must be %s (or absent)', acr_user);
	END IF;
	IF options ? 'auth' AND NOT (options ? 'username' AND options ? 'password') THEN
		problems := problems || 'options.auth: applies to username and password only'::text;
	END IF;
	p := mf._registry_url_problem(coalesce(url, ''), insecure);
	IF p IS NOT NULL THEN
		problems := problems || format('url: %s', p);
	END IF;
	IF username = acr_user AND password IS NOT NULL THEN
		-- ACR's null user: the password is a refresh token
		refresh_token := password;
		password := NULL;
	END IF;
	auth := CASE WHEN refresh_token IS NOT NULL THEN 'acr'
				 WHEN password IS NOT NULL THEN coalesce(auth, 'basic')
				 ELSE 'anonymous' END;
	IF refresh_token IS NOT NULL THEN
		username := NULL;
	END IF;
END;
$$;

-- 42704 unless the registry exists; its row.
CREATE OR REPLACE FUNCTION mf._registry(name text) RETURNS mf.registries
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		mf.registries;
BEGIN
	SELECT * INTO r FROM mf.registries x WHERE x.name = _registry.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'registry "%" does not exist', left(name, 100)
			USING ERRCODE = 'undefined_object',
				  HINT = coalesce(format('Did you mean "%s"? ', mf._nearest_word(name, ARRAY(SELECT x.name FROM mf.registries x))), '')
						 || 'SELECT name, url FROM mf.registries lists the registries; mf_create_registry() adds one.';
	END IF;
	RETURN r;
END;
$$;

-- ---------------------------------------------------------------------------
-- Registry API
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mf._create_registry(name text, url text, options jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	o		record;
	created mf.registries;
BEGIN
	PERFORM mf._require_role('mf_admin', 'create registries');
	IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid registry name "%"', left(coalesce(name, 'NULL'), 100)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A registry name matches ^[a-z][a-z0-9_]{0,62}$ (a lowercase letter, then lowercase letters, digits or _).',
				  HINT = 'For example mf_create_registry(''acr'', ''https://myregistry.azurecr.io'', ...).';
	END IF;
	SELECT * INTO o FROM mf._registry_options(url, coalesce(options, '{}'));
	IF cardinality(o.problems) > 0 THEN
		RAISE EXCEPTION 'invalid registry "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = array_to_string(o.problems, E'\n'),
				  HINT = 'url: https://host[:port]; options: username and password, or refresh_token (ACR), insecure, gated, '
						 'auth ("basic" or "bearer") (README, "Registries").';
	END IF;
	IF EXISTS (SELECT 1 FROM mf.registries r WHERE r.name = _create_registry.name) THEN
		RAISE EXCEPTION 'registry "%" already exists', name
			USING ERRCODE = 'duplicate_object',
				  HINT = format('mf_drop_registry(%L) first to change it.', name);
	END IF;
	INSERT INTO mf.registries (name, url, auth, gated, insecure, created_by)
	VALUES (name, rtrim(url, '/'), o.auth, o.gated, o.insecure, mf._actor())
	RETURNING * INTO created;
	IF o.auth <> 'anonymous' THEN
		INSERT INTO mf.registry_secrets (registry, username, password, refresh_token)
		VALUES (name, o.username, o.password, o.refresh_token);
	END IF;
	PERFORM mf._event('create_registry', NULL, NULL, NULL, NULL, NULL, to_jsonb(created));
	RETURN name;
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'registry "%" already exists', name
		USING ERRCODE = 'duplicate_object',
			  DETAIL = 'Another transaction created it at the same time.';
END;
$$;
CREATE OR REPLACE FUNCTION mf_create_registry(name text, url text, options jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate_secret'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_create_registry(text, text, jsonb) IS
	'add an OCI registry images are pushed to (mf_admin): url https://host[:port]; options username+password (auth "basic" or "bearer"), refresh_token (ACR), insecure, gated; secrets are kept where only the extension owner reads them; an mf.events row (create_registry, the row without secrets); returns the name';

CREATE OR REPLACE FUNCTION mf._drop_registry(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	gone	mf.registries;
BEGIN
	PERFORM mf._require_role('mf_admin', 'drop registries');
	PERFORM mf._registry(name);
	DELETE FROM mf.registries r WHERE r.name = _drop_registry.name RETURNING * INTO gone;
	PERFORM mf._event('drop_registry', NULL, NULL, NULL, NULL, to_jsonb(gone), NULL);
END;
$$;
CREATE OR REPLACE FUNCTION mf_drop_registry(name text) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_drop_registry(text) IS
	'remove a registry and its credentials (mf_admin); images already pushed stay in it, deployments keep their image references; an mf.events row (drop_registry, the row without secrets)';

-- ---------------------------------------------------------------------------
-- The gate
-- ---------------------------------------------------------------------------

-- Record a refusal (the caller's transaction is about to fail: this runs in
-- the short background worker of mf._record_refusal_autonomously).
CREATE OR REPLACE FUNCTION mf._record_refusal(registry text, from_deployment bigint, actor name, reason text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	INSERT INTO mf.events (actor, action, model_id, model_name, version_id, version, before, after)
	SELECT actor, 'gate_refused', m.model_id, d.model_name, v.version_id, d.version,
		   jsonb_build_object('deployment_id', from_deployment, 'image', d.image),
		   jsonb_build_object('registry', registry, 'refused', reason)
	  FROM mf.deployments d
	  LEFT JOIN mf.models m ON m.name = d.model_name
	  LEFT JOIN mf.model_versions v ON v.model_id = m.model_id AND v.version = d.version
	 WHERE d.deployment_id = from_deployment;
$$;

-- The digest of an image reference host/repository@sha256:..., or NULL.
CREATE OR REPLACE FUNCTION mf._image_digest(image text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT (regexp_match(image, '@(sha256:[0-9a-f]{64})$'))[1];
$$;

-- The source deployment of a copy (mf_deploy option "from"): it must exist
-- (42704) and have an image by digest (55000); for a gated registry, that
-- digest's latest smoke test (of any deployment of the digest) must have
-- passed, else 55000 and the refusal is recorded as an event that stays.
CREATE OR REPLACE FUNCTION mf._gate_source(registry text, from_deployment bigint) RETURNS mf.deployments
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	reg		mf.registries := mf._registry(registry);
	d		mf.deployments;
	digest	text;
	last	record;
	why		text;
BEGIN
	SELECT * INTO d FROM mf.deployments x WHERE x.deployment_id = from_deployment;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'deployment % does not exist', from_deployment
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT deployment_id, ref, image FROM mf.deployments WHERE target = ''oci'' lists the images.';
	END IF;
	digest := mf._image_digest(d.image);
	IF digest IS NULL THEN
		RAISE EXCEPTION 'deployment % has no image to copy', from_deployment
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('Its target is %s and its status %s; only an image pushed by digest can be copied.',
								  d.target, d.status),
				  HINT = 'Name an oci deployment whose push succeeded (its image column holds host/repository@sha256:...).';
	END IF;
	IF NOT reg.gated THEN
		RETURN d;
	END IF;
	SELECT s.passed, s.smoke_test_id, s.mismatches, s.rows INTO last
	  FROM mf.smoke_tests s JOIN mf.deployments x USING (deployment_id)
	 WHERE mf._image_digest(x.image) = digest
	 ORDER BY s.tested_at DESC, s.smoke_test_id DESC LIMIT 1;
	IF NOT FOUND THEN
		why := format('image %s has not been smoke-tested', digest);
	ELSIF last.passed IS NOT TRUE THEN
		why := format('the latest smoke test of image %s (smoke test %s) failed: %s of %s rows mismatched',
					  digest, last.smoke_test_id, coalesce(last.mismatches::text, '?'), coalesce(last.rows::text, '?'));
	ELSE
		RETURN d;
	END IF;
	PERFORM mf._record_refusal_autonomously(registry, from_deployment, why);
	RAISE EXCEPTION 'registry "%" accepts only smoke-tested images', registry
		USING ERRCODE = 'object_not_in_prerequisite_state',
			  DETAIL = why || '.',
			  HINT = format('Run mf_smoke_test(%s, ''<endpoint>'') against a running copy of the image first; '
							'the refusal is recorded in mf.events (action gate_refused).', from_deployment);
END;
$$;
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
-- k8s.sql - what runs an image deployment elsewhere: its Kubernetes and Azure
-- IoT Edge manifests (mf_render_k8s, mf_render_iot_edge) and its smoke test
-- against a running server (mf_smoke_test, a background job of kind
-- smoke_test).
-- Owns (PL/pgSQL): which deployments have manifests (an image by digest),
-- the smoke test's options and endpoint rule, and what a smoke test's outcome
-- does (mf.smoke_tests row, deployment verified or failed, events).  Thin
-- callers of C: the renderers (src/manifests.c over deploy/k8s.c and
-- deploy/iot_edge.c, which check every option) and the tester (the job worker,
-- src/smoke_job.c over deploy/smoke.c).
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._image_deployment: a deployment that has an image, and its version
--   mf._smoke_options: every smoke-test option, with its path
--   mf._smoke_test: queueing a smoke test (privilege, endpoint, job row)
--   mf._smoke_begin: the worker takes the job (what to send, the artifact)
--   mf._smoke_finish: the outcome (row, deployment status, events, job)

-- ---------------------------------------------------------------------------
-- Manifests
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mf._k8s_manifest(deployment_id bigint, model_name text, served_name text, version text,
								 version_number bigint, image text, options jsonb) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_k8s_manifest'
	LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION mf._k8s_manifest(bigint, text, text, text, bigint, text, jsonb) IS
	'the Kubernetes manifests of an image deployment (multi-document YAML); every option checked (22023 naming its path)';

CREATE OR REPLACE FUNCTION mf._iot_edge_manifest(deployment_id bigint, model_name text, served_name text, version text,
									  version_number bigint, image text, options jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_iot_edge_manifest'
	LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION mf._iot_edge_manifest(bigint, text, text, text, bigint, text, jsonb) IS
	'the Azure IoT Edge deployment manifest of an image deployment; every option checked (22023 naming its path)';

-- A deployment that has an image, with its version; 42704 or 55000 otherwise.
CREATE OR REPLACE FUNCTION mf._image_deployment(deployment_id bigint, what text, OUT d mf.deployments, OUT version_id bigint,
									 OUT model_id bigint, OUT version text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
BEGIN
	PERFORM mf._require_role('mf_reader', what || ' deployments');
	SELECT * INTO d FROM mf.deployments x WHERE x.deployment_id = _image_deployment.deployment_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'deployment % does not exist', deployment_id
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT deployment_id, name, ref, target, status FROM mf.deployments lists the deployments.';
	END IF;
	IF d.image IS NULL OR d.target <> 'oci' THEN
		RAISE EXCEPTION 'deployment % has no image to %', deployment_id, what
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('Its target is %s and its status %s; only an oci deployment whose image was pushed '
								  '(mf.deployments.image, by digest) has one.', d.target, d.status),
				  HINT = 'Deploy the version as an image: mf_deploy(ref, ''oci'', ''{"registry": ...}''), then mf_wait(job_id).';
	END IF;
	IF d.status = 'undeployed' THEN
		RAISE EXCEPTION 'deployment % is undeployed', deployment_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('Its row stays in mf.deployments as history (%s).', d.image),
				  HINT = 'Deploy the version again.';
	END IF;
	SELECT * INTO r FROM mf._resolve(CASE WHEN d.version IS NOT NULL THEN d.model_name || ':' || d.version ELSE d.ref END);
	version_id := r.version_id;
	model_id := r.model_id;
	version := r.version;
END;
$$;
COMMENT ON FUNCTION mf._image_deployment(bigint, text) IS
	'an oci deployment with an image (42501 without mf_reader, 42704 unknown, 55000 without image or undeployed) and the version it serves';

CREATE OR REPLACE FUNCTION mf._render_k8s(deployment_id bigint, options jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT mf._k8s_manifest((x.d).deployment_id, (x.d).model_name, (x.d).name, x.version, x.version_id, (x.d).image,
							 coalesce(options, '{}'))
	  FROM mf._image_deployment(deployment_id, 'render Kubernetes manifests for') x;
$$;
CREATE OR REPLACE FUNCTION mf_render_k8s(deployment_id bigint, options jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_render_k8s(bigint, jsonb) IS
	'Kubernetes manifests of an image deployment as multi-document YAML: Deployment (image by digest, probes on /v2/health/ready and /v2/health/live), Service, HorizontalPodAutoscaler autoscaling/v2, and with kserve: true a KServe InferenceService; options name, namespace, replicas, port, resources, service, scaling, image_pull_secret, kserve';

CREATE OR REPLACE FUNCTION mf._render_iot_edge(deployment_id bigint, options jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT mf._iot_edge_manifest((x.d).deployment_id, (x.d).model_name, (x.d).name, x.version, x.version_id,
								 (x.d).image, coalesce(options, '{}'))
	  FROM mf._image_deployment(deployment_id, 'render an IoT Edge manifest for') x;
$$;
CREATE OR REPLACE FUNCTION mf_render_iot_edge(deployment_id bigint, options jsonb DEFAULT '{}') RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_render_iot_edge(bigint, jsonb) IS
	'Azure IoT Edge deployment manifest of an image deployment (modulesContent: $edgeAgent with runtime, registry credentials as placeholders only, system modules and the model module; $edgeHub routes); options module_name, port, host_port, runtime_version, restart_policy, registry, routes';

-- ---------------------------------------------------------------------------
-- Smoke tests
-- ---------------------------------------------------------------------------

-- Every smoke-test option, normalised: {rows, timeout_ms}; 22023 naming the path.
CREATE OR REPLACE FUNCTION mf._smoke_options(options jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	k		text;
	problem text;
	o		jsonb := coalesce(options, '{}');
BEGIN
	IF jsonb_typeof(o) <> 'object' THEN
		problem := 'options must be a JSON object';
	END IF;
	FOR k IN SELECT jsonb_object_keys(CASE WHEN jsonb_typeof(o) = 'object' THEN o ELSE '{}' END) LOOP
		IF k <> ALL (ARRAY['rows', 'timeout_ms']) THEN
			problem := coalesce(problem, mf._unknown_key('options', k, ARRAY['rows', 'timeout_ms']));
		END IF;
	END LOOP;
	IF problem IS NULL AND o ? 'rows' THEN
		problem := mf._positive_integer_problem('options.rows', o -> 'rows', 100);
	END IF;
	IF problem IS NULL AND o ? 'timeout_ms' THEN
		problem := mf._positive_integer_problem('options.timeout_ms', o -> 'timeout_ms', 600000);
	END IF;
	IF problem IS NOT NULL THEN
		RAISE EXCEPTION 'invalid smoke test options'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = problem,
				  HINT = 'Options: rows (1 to 100 test rows, default 100), timeout_ms (per request, default 10000).';
	END IF;
	RETURN jsonb_build_object('rows', coalesce((o ->> 'rows')::int, 100),
							  'timeout_ms', coalesce((o ->> 'timeout_ms')::int, 10000));
END;
$$;
COMMENT ON FUNCTION mf._smoke_options(jsonb) IS 'the options of mf_smoke_test checked and completed: rows (default 100), timeout_ms (default 10000)';

CREATE OR REPLACE FUNCTION mf._smoke_test(deployment_id bigint, endpoint text, options jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	x		record;
	o		jsonb := mf._smoke_options(options);
	url		text := rtrim(endpoint, '/');
	job		bigint;
BEGIN
	SELECT * INTO x FROM mf._image_deployment(deployment_id, 'smoke-test');
	PERFORM mf._require_owner(x.model_id, 'smoke-test deployments of');
	IF url IS NULL OR length(url) > 2048 OR url !~ '^https?://[A-Za-z0-9.:\[\]-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$' THEN
		RAISE EXCEPTION 'invalid smoke test endpoint'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('endpoint %s is not an http(s) URL of a host and port without credentials or query.',
								  coalesce(quote_literal(left(endpoint, 200)), 'NULL')),
				  HINT = 'Give the base URL of the running mf-serve, e.g. ''http://10.0.0.2:8501''.';
	END IF;
	PERFORM mf._test_rows(x.version_id, 1);		-- 55000 now, not in the job, when it keeps none
	INSERT INTO mf.jobs (kind, version_id, source, options, max_attempts, queued_by, run_as, search_path)
	VALUES ('smoke_test', x.version_id, url, o || jsonb_build_object('deployment_id', deployment_id, 'endpoint', url),
			1, mf._actor(), mf._actor(), 'pg_catalog')
	RETURNING job_id INTO job;
	PERFORM mf._job_event(job, 'info', format('queued: smoke test of deployment %s (%s) at %s with %s test rows',
											  deployment_id, (x.d).image, url, o ->> 'rows'),
						  jsonb_build_object('deployment_id', deployment_id, 'endpoint', url));
	PERFORM mf._wake_launcher_at_commit();
	RETURN job;
END;
$$;
CREATE OR REPLACE FUNCTION mf_smoke_test(deployment_id bigint, endpoint text, options jsonb DEFAULT '{}') RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_smoke_test(bigint, text, jsonb) IS
	'queue a smoke test of an image deployment: the version''s test rows (options.rows, default 100) sent to the server at endpoint over OIP v2, each answer compared with the database''s; records mf.smoke_tests and makes the deployment verified (its endpoint then the tested one, watched by the monitor worker, unless mf_set_endpoint set one) or failed; returns the job id (mf_wait)';

-- Worker: take a smoke_test job; what to send and the artifact to compare with (no row: nothing to do).
CREATE OR REPLACE FUNCTION mf._smoke_begin(job_id bigint, pid integer, OUT deployment_id bigint, OUT endpoint text,
								OUT served_name text, OUT version text, OUT version_number bigint,
								OUT artifact bytea, OUT test_rows text, OUT timeout_ms integer) RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
	d		mf.deployments;
	v		mf.model_versions;
BEGIN
	j := mf._take_job(job_id, pid, 'smoke_test', 'smoke_testing', 0.1);
	IF j.job_id IS NULL THEN
		RETURN;
	END IF;
	SELECT * INTO d FROM mf.deployments x WHERE x.deployment_id = (j.options ->> 'deployment_id')::bigint;
	SELECT * INTO v FROM mf.model_versions mv WHERE mv.version_id = j.version_id;
	IF d.deployment_id IS NULL OR v.version_id IS NULL THEN
		UPDATE mf.jobs u SET status = 'failed', finished_at = clock_timestamp(),
			   error = 'the deployment or its version was dropped before the smoke test ran'
		 WHERE u.job_id = j.job_id;
		PERFORM mf._job_event(j.job_id, 'error', 'the deployment or its version was dropped before the smoke test ran');
		RETURN;
	END IF;
	PERFORM mf._job_event(j.job_id, 'info', format('started in worker %s: sending test rows of %s to %s',
												   pid, mf._ref(v.version_id), j.source));
	deployment_id := d.deployment_id;
	endpoint := j.source;
	served_name := d.model_name;
	version := v.version;
	version_number := v.version_id;
	artifact := (SELECT a.bytes FROM mf.artifacts a WHERE a.version_id = v.version_id);
	test_rows := mf._test_rows(v.version_id, (j.options ->> 'rows')::int)::text;
	timeout_ms := (j.options ->> 'timeout_ms')::int;
	RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION mf._smoke_begin(bigint, integer) IS
	'smoke-test worker: record its pid and phase smoke_testing; returns the endpoint, the served name and version, the artifact and the test rows (no row: nothing to do)';

-- Worker: the outcome of a smoke test (also after an error: passed false, error set).
CREATE OR REPLACE FUNCTION mf._smoke_finish(job_id bigint, rows integer, mismatches integer, latency_p50_ms float8,
								 latency_p99_ms float8, passed boolean, details jsonb, error text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
	d		mf.deployments;
	st		bigint;
	why		text;
BEGIN
	SELECT * INTO j FROM mf.jobs u WHERE u.job_id = _smoke_finish.job_id AND u.status = 'running' FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	why := CASE WHEN passed THEN NULL
				WHEN j.cancel_requested THEN 'cancelled by mf_cancel_job()'
				ELSE coalesce(error, format('smoke test at %s: %s of %s rows answered differently from the database',
											j.source, mismatches, rows)) END;
	-- a cancelled test says nothing about the deployment: its status stays; a passing one gives
	-- it the tested endpoint (polled by the monitor worker) unless mf_set_endpoint set one
	UPDATE mf.deployments x
	   SET status = CASE WHEN passed THEN 'verified' ELSE 'failed' END, error = why, updated_at = now(),
		   endpoint = CASE WHEN passed AND NOT coalesce((x.options ->> 'endpoint_set')::boolean, false)
						   THEN j.source ELSE x.endpoint END
	 WHERE x.deployment_id = (j.options ->> 'deployment_id')::bigint AND x.status <> 'undeployed'
	   AND (passed OR NOT j.cancel_requested)
	RETURNING x.* INTO d;
	INSERT INTO mf.smoke_tests (deployment_id, job_id, endpoint, rows, mismatches, latency_p50_ms, latency_p99_ms,
								passed, details)
	SELECT (j.options ->> 'deployment_id')::bigint, j.job_id, j.source, rows, mismatches, latency_p50_ms,
		   latency_p99_ms, passed, coalesce(details, '{}') || jsonb_strip_nulls(jsonb_build_object('error', error))
	 WHERE EXISTS (SELECT 1 FROM mf.deployments x WHERE x.deployment_id = (j.options ->> 'deployment_id')::bigint)
	RETURNING smoke_test_id INTO st;
	UPDATE mf.jobs u
	   SET status = CASE WHEN passed THEN 'succeeded' WHEN j.cancel_requested THEN 'cancelled' ELSE 'failed' END,
		   progress = 1, finished_at = clock_timestamp(),
		   heartbeat_at = clock_timestamp(), error = why,
		   result = jsonb_build_object('smoke_test_id', st, 'passed', passed, 'rows', rows, 'mismatches', mismatches,
									   'latency_p50_ms', latency_p50_ms, 'latency_p99_ms', latency_p99_ms)
	 WHERE u.job_id = j.job_id;
	PERFORM mf._job_event(j.job_id, CASE WHEN passed THEN 'info' ELSE 'error' END,
						  CASE WHEN passed THEN format('passed: %s rows answered as the database answers them (p50 %s ms, p99 %s ms)',
													   rows, round(latency_p50_ms::numeric, 3), round(latency_p99_ms::numeric, 3))
							   ELSE 'failed: ' || why END,
						  jsonb_build_object('smoke_test_id', st, 'passed', passed, 'mismatches', mismatches));
	IF d.deployment_id IS NOT NULL THEN
		PERFORM mf._event('deploy', (SELECT m.model_id FROM mf.models m WHERE m.name = d.model_name), d.model_name,
						  j.version_id, d.version, NULL,
						  mf._deployment_state(d) || jsonb_build_object('smoke_test_id', st, 'passed', passed,
																		'endpoint', j.source, 'mismatches', mismatches));
	END IF;
	RETURN st;
END;
$$;
COMMENT ON FUNCTION mf._smoke_finish(bigint, integer, integer, float8, float8, boolean, jsonb, text) IS
	'smoke-test worker: record the outcome: mf.smoke_tests row, deployment verified (with the tested endpoint, unless mf_set_endpoint set one) or failed (with error), job succeeded or failed, job and audit events';

REVOKE EXECUTE ON FUNCTION mf._smoke_begin(bigint, integer),
	mf._smoke_finish(bigint, integer, integer, float8, float8, boolean, jsonb, text) FROM PUBLIC;
-- alerts.sql - alert rules, their evaluation, firings, NOTIFY and webhooks.
-- Owns (PL/pgSQL): what a rule may say (targets, metrics, conditions,
-- thresholds, options window/for/webhook) and who may set or drop it; what
-- each metric means over the metric tables (mf._alert_value, the one
-- reader); when an alert fires and resolves (mf._evaluate_alerts_at); the
-- NOTIFY payload; the Alertmanager webhook payload and the retry schedule
-- of deliveries; the Prometheus rule file of the same rules.  Thin callers
-- of C: the webhook POST (src/alert_webhook.c, libcurl, outside any
-- transaction) and the worker that drives evaluation and delivery until
-- the monitor worker does (src/alert_webhook.c, src/monitor_worker.c).
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._alert_options: every option, with every problem's path
--   mf._set_alert: a rule (target, metric, condition, threshold, privilege)
--   mf._alert_value: each metric's value over its table and window
--   mf._evaluate_rule: one rule: pending, firing after "for", resolving
--   mf._alertmanager_payload: the webhook body (Alertmanager version 4)
--   mf._prom_expr: a rule's PromQL over the servers' series (which label
--     selects a model, a pinned version, a deployment's served name)
--   mf._render_prometheus_rules: the rules as a Prometheus rule file
--
-- Metrics (all over the rule's window, ending at the evaluation):
--   latency_p99_ms  highest per-minute p99 of mf.serving_metrics
--   latency_p50_ms  request-weighted mean of the per-minute medians
--   error_rate      errors / requests (NULL without requests)
--   throughput      requests per second (0 without rows)
--   health          share of mf.health_checks that passed, 0..1
--   accuracy        n-weighted live accuracy of mf.model_performance, days
--                   the window touches (use a window of days)
--   drift_psi       highest feature PSI of mf.drift_checks (mf_drift's results,
--                   drift branch) in the window
-- A deployment id watches that deployment's rows; a model name all its
-- versions; name:version that version; name@stage or name@alias the version
-- it points at when evaluated.  No data (NULL) never holds a condition.

-- ---------------------------------------------------------------------------
-- Rules
-- ---------------------------------------------------------------------------

-- The metrics a rule may watch.
CREATE OR REPLACE FUNCTION mf._alert_metrics() RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp
RETURN ARRAY['latency_p99_ms', 'latency_p50_ms', 'error_rate', 'throughput', 'accuracy', 'drift_psi', 'health'];

-- The table a metric is read from.
CREATE OR REPLACE FUNCTION mf._alert_metric_table(metric text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN metric IN ('latency_p99_ms', 'latency_p50_ms', 'error_rate', 'throughput') THEN 'mf.serving_metrics'
				WHEN metric = 'health' THEN 'mf.health_checks'
				WHEN metric = 'accuracy' THEN 'mf.model_performance'
				WHEN metric = 'drift_psi' THEN 'mf.drift_checks' END;
$$;

-- The range a threshold of a metric must lie in: {low, high}.
CREATE OR REPLACE FUNCTION mf._alert_metric_range(metric text) RETURNS float8[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN metric IN ('error_rate', 'accuracy', 'health') THEN ARRAY[0, 1]::float8[]
				ELSE ARRAY[0, 'Infinity']::float8[] END;
$$;

-- An interval option: the problem of a JSON value that must be an interval
-- text of at least min, or NULL (the value in *out).
CREATE OR REPLACE FUNCTION mf._alert_interval(path text, value jsonb, min interval, OUT val interval, OUT problem text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF jsonb_typeof(value) = 'string' THEN
		BEGIN
			val := (value #>> '{}')::interval;
		EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
			val := NULL;
		END;
	END IF;
	IF val IS NULL THEN
		problem := format('%s: must be an interval such as "2 min" or "30 s", got %s', path, left(value::text, 100));
	ELSIF val < min OR val > interval '366 days' THEN
		problem := format('%s: must be between %s s and 366 days, got %s', path, trim_scale(extract(epoch FROM min)), left(value::text, 100));
		val := NULL;
	END IF;
END;
$$;

-- Validate mf_set_alert options: every problem as 'path: problem' and the
-- stored form (window and for as intervals, webhook as given).
CREATE OR REPLACE FUNCTION mf._alert_options(options jsonb, OUT stored jsonb, OUT win interval, OUT hold interval,
								  OUT problems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	known	CONSTANT text[] := ARRAY['window', 'for', 'webhook'];
	k		text;
	v		jsonb;
	iv		record;
BEGIN
	problems := '{}';
	stored := '{}';
	win := interval '5 min';
	hold := interval '0';
	IF jsonb_typeof(options) IS DISTINCT FROM 'object' THEN
		problems := ARRAY[format('options: must be a JSON object, got %s', coalesce(jsonb_typeof(options), 'NULL'))];
		RETURN;
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(options) ORDER BY 1 LOOP
		CASE k
			WHEN 'window' THEN
				SELECT * INTO iv FROM mf._alert_interval('options.window', v, interval '1 second');
				problems := problems || iv.problem;
				win := coalesce(iv.val, win);
			WHEN 'for' THEN
				SELECT * INTO iv FROM mf._alert_interval('options.for', v, interval '0');
				problems := problems || iv.problem;
				hold := coalesce(iv.val, hold);
			WHEN 'webhook' THEN
				IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^https?://[^[:space:]"<>\\]+$' OR length(v #>> '{}') > 2048 THEN
					problems := problems || format('options.webhook: must be an http:// or https:// URL without spaces '
												   '(at most 2048 characters), got %s', left(v::text, 100));
				ELSE
					stored := stored || jsonb_build_object('webhook', v);
				END IF;
			ELSE
				problems := problems || mf._unknown_key('options', k, known);
		END CASE;
	END LOOP;
	problems := array_remove(problems, NULL);
	stored := stored || jsonb_build_object('window', win::text, 'for', hold::text);
END;
$$;

-- What a target watches: a deployment (by id), or a model's versions (a
-- bare name: all; name:version: one; name@label: the version it points at).
CREATE OR REPLACE FUNCTION mf._alert_scope(target text, OUT deployment_id bigint, OUT model_name text, OUT version text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	r		record;
BEGIN
	IF target ~ '^[0-9]{1,18}$' THEN
		SELECT d.deployment_id, d.model_name, d.version INTO deployment_id, model_name, version
		  FROM mf.deployments d WHERE d.deployment_id = target::bigint;
		RETURN;
	END IF;
	model_name := substring(target FROM '^[a-z][a-z0-9_]{0,62}');
	IF target LIKE '%:%' OR target LIKE '%@%' THEN
		SELECT * INTO r FROM mf._resolve(target);
		model_name := r.model_name;
		version := r.version;
	END IF;
END;
$$;

-- The model a rule's target belongs to (NULL once dropped): who may change the rule.
CREATE OR REPLACE FUNCTION mf._alert_target_model(target text) RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT m.model_id FROM mf.models m
	 WHERE m.name = CASE WHEN target ~ '^[0-9]{1,18}$'
						 THEN (SELECT d.model_name FROM mf.deployments d WHERE d.deployment_id::text = target)
						 ELSE substring(target FROM '^[a-z][a-z0-9_]{0,62}') END;
$$;

-- 42501 unless the acting role owns the target's model (or holds mf_admin;
-- only mf_admin once the model was dropped).
CREATE OR REPLACE FUNCTION mf._require_alert_owner(target text, what text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	mid		bigint := mf._alert_target_model(target);
BEGIN
	IF mid IS NULL THEN
		PERFORM mf._require_role('mf_admin', format('%s "%s" of a dropped model', what, target));
	ELSE
		PERFORM mf._require_owner(mid, what);
	END IF;
END;
$$;

-- 42704 for a deployment id that names no deployment.
CREATE OR REPLACE FUNCTION mf._no_deployment(id text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	RAISE EXCEPTION 'deployment % does not exist', left(id, 30)
		USING ERRCODE = 'undefined_object',
			  HINT = 'SELECT deployment_id, name, ref, status FROM mf.deployments lists the deployments.';
END;
$$;

-- The target normalised: a deployment id that exists (42704 otherwise), or a
-- ref that resolves (the resolver's 22023/42704 otherwise).
CREATE OR REPLACE FUNCTION mf._alert_target(target text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	t		text := btrim(target);
BEGIN
	IF t IS NULL OR t = '' THEN
		RAISE EXCEPTION 'alert target must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name a model ref (churn, churn:1.2.0, churn@production) or a deployment id (''3'').';
	ELSIF t ~ '^[0-9]+$' THEN
		IF length(t) > 18 OR NOT EXISTS (SELECT 1 FROM mf.deployments d WHERE d.deployment_id = t::bigint) THEN
			PERFORM mf._no_deployment(t);
		END IF;
		RETURN t::bigint::text;
	END IF;
	PERFORM mf._resolve(t);
	RETURN t;
END;
$$;

-- 0A000 unless the table a metric is read from exists in this database.
CREATE OR REPLACE FUNCTION mf._require_metric_table(metric text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	tbl		text := mf._alert_metric_table(metric);
BEGIN
	IF to_regclass(tbl) IS NULL THEN
		RAISE EXCEPTION 'alert metric "%" is not available in this database', metric
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = format('Metric %s is read from %s, which does not exist.', metric, tbl),
				  HINT = 'Install the mf_ext version that records it (README, "Alerts").';
	END IF;
END;
$$;

CREATE OR REPLACE FUNCTION mf._set_alert(target text, metric text, condition text, threshold float8, options jsonb DEFAULT '{}')
	RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	t		text := mf._alert_target(target);
	m		text := lower(btrim(metric));
	c		text := btrim(condition);
	o		record;
	range	float8[];
	id		bigint;
BEGIN
	IF m IS NULL OR NOT m = ANY (mf._alert_metrics()) THEN
		RAISE EXCEPTION 'unknown alert metric %', coalesce(to_jsonb(left(metric, 100))::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('Known metrics: %s.', array_to_string(mf._alert_metrics(), ', ')),
				  HINT = coalesce('Did you mean "' || mf._nearest_word(m, mf._alert_metrics()) || '"?',
								  'README, "Alerts", says what each metric measures.');
	END IF;
	IF c IS NULL OR c NOT IN ('>', '>=', '<', '<=') THEN
		RAISE EXCEPTION 'unknown alert condition "%"', left(condition, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Conditions: >, >=, <, <=.',
				  HINT = 'mf_set_alert(''churn'', ''error_rate'', ''>'', 0.05) fires when more than 5 % of requests fail.';
	END IF;
	range := mf._alert_metric_range(m);
	IF threshold IS NULL OR threshold IN ('NaN', 'Infinity', '-Infinity') OR threshold < range[1] OR threshold > range[2] THEN
		RAISE EXCEPTION 'alert threshold % is out of range for metric %', coalesce(threshold::text, 'NULL'), m
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('A threshold of %s must be between %s and %s.', m, range[1],
								  CASE WHEN range[2] = 'Infinity' THEN 'any finite number' ELSE range[2]::text END),
				  HINT = CASE WHEN m IN ('error_rate', 'accuracy', 'health') THEN 'Give it as a fraction: 0.05 for 5 %.'
							  ELSE 'Latencies are in milliseconds, throughput in requests per second.' END;
	END IF;
	SELECT * INTO o FROM mf._alert_options(coalesce(options, '{}'));
	IF cardinality(o.problems) > 0 THEN
		RAISE EXCEPTION 'invalid alert options'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = array_to_string(o.problems, E'\n'),
				  HINT = 'Options: window (an interval, default "5 min"), for (an interval, default "0"), '
						 'webhook (an http:// or https:// URL) (README, "Alerts").';
	END IF;
	PERFORM mf._require_alert_owner(t, 'set an alert on');
	PERFORM mf._require_metric_table(m);
	INSERT INTO mf.alert_rules (target, metric, condition, threshold, "window", "for", options, created_by)
	VALUES (t, m, c, threshold, o.win, o.hold, o.stored, mf._actor())
	RETURNING rule_id INTO id;
	RETURN id;
END;
$$;
CREATE OR REPLACE FUNCTION mf_set_alert(target text, metric text, condition text, threshold float8, options jsonb DEFAULT '{}')
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_set_alert(text, text, text, float8, jsonb) IS
	'alert when metric (latency_p99_ms, latency_p50_ms, error_rate, throughput, accuracy, drift_psi, health) of target (a model ref or a deployment id as text) compares to threshold by condition (>, >=, <, <=) for options.for over options.window; options.webhook gets Alertmanager payloads; returns the rule id';

CREATE OR REPLACE FUNCTION mf._drop_alert(rule_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		mf.alert_rules;
BEGIN
	SELECT * INTO r FROM mf.alert_rules x WHERE x.rule_id = _drop_alert.rule_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'alert rule % does not exist', rule_id
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT rule_id, target, metric, condition, threshold FROM mf.alert_rules lists the rules.';
	END IF;
	PERFORM mf._require_alert_owner(r.target, 'drop an alert on');
	PERFORM mf._resolve_alert(r, a, NULL, now()) FROM mf.alerts a WHERE a.rule_id = r.rule_id AND a.resolved_at IS NULL;
	DELETE FROM mf.alert_rules x WHERE x.rule_id = r.rule_id;
END;
$$;
CREATE OR REPLACE FUNCTION mf_drop_alert(rule_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_drop_alert(bigint) IS
	'drop an alert rule; its open alert is resolved (row, NOTIFY, webhook) and its past firings stay in mf.alerts';

-- ---------------------------------------------------------------------------
-- Evaluation
-- ---------------------------------------------------------------------------

-- A metric's value for a target over (at - win, at]; NULL without data.
-- Statements run only for the metric asked (PL/pgSQL prepares them on first
-- use), so a metric whose table is missing fails only if asked for, and
-- mf_set_alert refuses such metrics first (mf._require_metric_table).
CREATE OR REPLACE FUNCTION mf._alert_value(metric text, target text, win interval, at timestamptz) RETURNS float8
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	s		record;
	v		float8;
	since	timestamptz := at - win;
BEGIN
	SELECT * INTO s FROM mf._alert_scope(target);
	IF metric IN ('latency_p99_ms', 'latency_p50_ms', 'error_rate', 'throughput') THEN
		SELECT CASE metric
				   WHEN 'latency_p99_ms' THEN max(m.latency_p99_ms) FILTER (WHERE m.requests > 0)
				   WHEN 'latency_p50_ms' THEN sum(m.latency_p50_ms * m.requests) FILTER (WHERE m.requests > 0)
											  / nullif(sum(m.requests) FILTER (WHERE m.latency_p50_ms IS NOT NULL), 0)
				   WHEN 'error_rate' THEN sum(m.errors)::float8 / nullif(sum(m.requests), 0)
				   ELSE coalesce(sum(m.requests), 0)::float8 / extract(epoch FROM win)::float8 END
		  INTO v
		  FROM mf.serving_metrics m
		 WHERE m.minute > since - interval '1 minute' AND m.minute <= at
		   AND CASE WHEN s.deployment_id IS NOT NULL THEN m.deployment_id = s.deployment_id
					ELSE m.model_name = s.model_name AND (s.version IS NULL OR m.version = s.version) END;
	ELSIF metric = 'health' THEN
		SELECT avg(h.ok::int)::float8 INTO v
		  FROM mf.health_checks h
		 WHERE h.checked_at > since AND h.checked_at <= at
		   AND h.deployment_id IN (SELECT d.deployment_id FROM mf.deployments d
									WHERE CASE WHEN s.deployment_id IS NOT NULL THEN d.deployment_id = s.deployment_id
											   ELSE d.model_name = s.model_name AND d.status <> 'undeployed'
													AND (s.version IS NULL OR d.version IS NULL OR d.version = s.version) END);
	ELSIF metric = 'accuracy' THEN
		SELECT sum(p.accuracy * p.n) / nullif(sum(p.n) FILTER (WHERE p.accuracy IS NOT NULL), 0) INTO v
		  FROM mf.model_performance p
		 WHERE p.day BETWEEN (since AT TIME ZONE 'UTC')::date AND (at AT TIME ZONE 'UTC')::date
		   AND p.model_name = s.model_name AND (s.version IS NULL OR p.version = s.version);
	ELSIF metric = 'drift_psi' THEN
		SELECT max(c.psi) INTO v
		  FROM mf.drift_checks c JOIN mf.model_versions mv USING (version_id) JOIN mf.models mo USING (model_id)
		 WHERE c.checked_at > since AND c.checked_at <= at
		   AND mo.name = s.model_name AND (s.version IS NULL OR mv.version = s.version);
	END IF;
	RETURN v;
END;
$$;

-- Does value compare to threshold by condition?  NULL (no data) never does.
CREATE OR REPLACE FUNCTION mf._alert_holds(value float8, condition text, threshold float8) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT coalesce(CASE condition WHEN '>' THEN value > threshold WHEN '>=' THEN value >= threshold
								   WHEN '<' THEN value < threshold WHEN '<=' THEN value <= threshold END, false);
$$;

-- A timestamp in RFC 3339 UTC (what Alertmanager writes).
CREATE OR REPLACE FUNCTION mf._rfc3339(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT coalesce(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '0001-01-01T00:00:00Z');
$$;

-- The alert name of a rule, in Prometheus rules and webhook labels alike.
CREATE OR REPLACE FUNCTION mf._alert_name(r mf.alert_rules) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT format('mf_rule_%s_%s', r.rule_id, r.metric);
$$;

-- The labels of a rule's alerts (webhooks and Prometheus rules).
CREATE OR REPLACE FUNCTION mf._alert_labels(r mf.alert_rules) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT jsonb_build_object('alertname', mf._alert_name(r), 'rule_id', r.rule_id::text, 'target', r.target,
							  'metric', r.metric, 'source', 'mf_ext');
$$;

-- The body of a webhook: Alertmanager's webhook payload, version 4, one alert.
CREATE OR REPLACE FUNCTION mf._alertmanager_payload(r mf.alert_rules, a mf.alerts, status text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	labels	jsonb := mf._alert_labels(r);
	notes	jsonb := jsonb_build_object('summary', a.message, 'value', a.value::text,
										'condition', format('%s %s %s', r.metric, r.condition, r.threshold),
										'window', r."window"::text, 'for', r."for"::text);
BEGIN
	RETURN jsonb_build_object(
		'version', '4',
		'groupKey', format('{}:{alertname=%s}', to_jsonb(mf._alert_name(r))::text),
		'truncatedAlerts', 0,
		'status', status,
		'receiver', 'mf_ext',
		'groupLabels', jsonb_build_object('alertname', mf._alert_name(r)),
		'commonLabels', labels,
		'commonAnnotations', notes,
		'externalURL', '',
		'alerts', jsonb_build_array(jsonb_build_object(
			'status', status,
			'labels', labels,
			'annotations', notes,
			'startsAt', mf._rfc3339(a.started_at),
			'endsAt', mf._rfc3339(a.resolved_at),
			'generatorURL', '',
			'fingerprint', left(md5(format('%s/%s', r.rule_id, a.alert_id)), 16))));
END;
$$;

-- Announce a firing or resolution: NOTIFY mf_alerts, and a webhook delivery
-- queued when the rule has one.
CREATE OR REPLACE FUNCTION mf._announce_alert(r mf.alert_rules, a mf.alerts, status text, value float8) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	PERFORM pg_notify('mf_alerts', jsonb_build_object(
		'status', status, 'alert_id', a.alert_id, 'rule_id', r.rule_id, 'target', r.target, 'metric', r.metric,
		'condition', r.condition, 'threshold', r.threshold, 'value', value, 'started_at', a.started_at,
		'resolved_at', a.resolved_at, 'message', a.message)::text);
	IF r.options ? 'webhook' THEN
		INSERT INTO mf.alert_webhooks (alert_id, url, payload)
		VALUES (a.alert_id, r.options ->> 'webhook', mf._alertmanager_payload(r, a, status));
	END IF;
END;
$$;

-- Resolve an open alert at a time (value: the metric then, NULL when dropped).
CREATE OR REPLACE FUNCTION mf._resolve_alert(r mf.alert_rules, a mf.alerts, value float8, at timestamptz) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	done	mf.alerts;
BEGIN
	UPDATE mf.alerts x SET resolved_at = greatest(at, x.started_at) WHERE x.alert_id = a.alert_id RETURNING * INTO done;
	PERFORM mf._announce_alert(r, done, 'resolved', value);
END;
$$;

-- A firing's message: metric, target, value, condition, threshold, duration.
CREATE OR REPLACE FUNCTION mf._alert_message(r mf.alert_rules, value float8) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT format('%s of %s is %s (%s %s over %s%s)', r.metric,
				  CASE WHEN r.target ~ '^[0-9]+$' THEN 'deployment ' || r.target ELSE 'model ' || r.target END,
				  trim_scale(round(value::numeric, 6)), r.condition, r.threshold, r."window",
				  CASE WHEN r."for" > interval '0' THEN format(', for %s', r."for") ELSE '' END);
$$;

-- Evaluate one rule at a time: the condition starts pending, fires once it
-- held for "for", resolves when it stops holding.  Returns 1 when an alert
-- fired or resolved, else 0.
CREATE OR REPLACE FUNCTION mf._evaluate_rule(r mf.alert_rules, at timestamptz) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	v		float8 := mf._alert_value(r.metric, r.target, r."window", at);
	holds	boolean := mf._alert_holds(v, r.condition, r.threshold);
	st		mf.alert_state;
	open	mf.alerts;
BEGIN
	INSERT INTO mf.alert_state AS x (rule_id, pending_since, last_value, evaluated_at)
	VALUES (r.rule_id, CASE WHEN holds THEN at END, v, at)
	ON CONFLICT (rule_id) DO UPDATE
	   SET pending_since = CASE WHEN holds THEN coalesce(x.pending_since, at) END,
		   last_value = v, evaluated_at = at, error = NULL
	RETURNING * INTO st;
	SELECT * INTO open FROM mf.alerts a WHERE a.rule_id = r.rule_id AND a.resolved_at IS NULL;
	IF holds AND open.alert_id IS NULL AND at - st.pending_since >= r."for" THEN
		INSERT INTO mf.alerts (rule_id, started_at, value, message)
		VALUES (r.rule_id, at, v, mf._alert_message(r, v))
		RETURNING * INTO open;
		PERFORM mf._announce_alert(r, open, 'firing', v);
		RETURN 1;
	ELSIF NOT holds AND open.alert_id IS NOT NULL THEN
		PERFORM mf._resolve_alert(r, open, v, at);
		RETURN 1;
	END IF;
	RETURN 0;
END;
$$;

-- Evaluate every rule at a time; a rule that fails records its error in
-- mf.alert_state and the others go on.  Returns how many alerts fired or
-- resolved.  Tests call it with chosen times.
CREATE OR REPLACE FUNCTION mf._evaluate_alerts_at(at timestamptz) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		mf.alert_rules;
	changes integer := 0;
BEGIN
	FOR r IN SELECT * FROM mf.alert_rules ORDER BY rule_id LOOP
		BEGIN
			changes := changes + mf._evaluate_rule(r, at);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO mf.alert_state AS x (rule_id, evaluated_at, error) VALUES (r.rule_id, at, SQLERRM)
			ON CONFLICT (rule_id) DO UPDATE SET evaluated_at = at, error = SQLERRM;
		END;
	END LOOP;
	RETURN changes;
END;
$$;

-- Evaluate every rule now: what the monitor worker calls once per cycle.
CREATE OR REPLACE FUNCTION mf._evaluate_alerts() RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp
RETURN mf._evaluate_alerts_at(now());
COMMENT ON FUNCTION mf._evaluate_alerts() IS
	'evaluate every alert rule now: open alerts whose condition held for "for", resolve those that stopped (rows, NOTIFY mf_alerts, webhook deliveries queued); returns the number of changes';

-- ---------------------------------------------------------------------------
-- Webhook deliveries (sent by src/alert_webhook.c outside any transaction)
-- ---------------------------------------------------------------------------

-- Attempts before a delivery is given up.
CREATE OR REPLACE FUNCTION mf._webhook_max_attempts() RETURNS integer
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp
RETURN 8;

-- Claim up to n due deliveries (attempts counted now; leased for 60 s, so a
-- sender that dies leaves them due again).
CREATE OR REPLACE FUNCTION mf._webhook_claim(n integer) RETURNS TABLE(delivery_id bigint, url text, payload text)
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.alert_webhooks w
	   SET attempts = w.attempts + 1, next_attempt_at = clock_timestamp() + interval '60 s'
	 WHERE w.delivery_id IN (SELECT x.delivery_id FROM mf.alert_webhooks x
							  WHERE x.status = 'pending' AND x.next_attempt_at <= clock_timestamp()
							  ORDER BY x.delivery_id LIMIT n FOR UPDATE SKIP LOCKED)
	RETURNING w.delivery_id, w.url, w.payload::text;
$$;

-- Record an attempt: delivered on a 2xx status, else retried after 1 s, 2 s,
-- 4 s, ... (at most 5 min) until mf._webhook_max_attempts(), then failed.
CREATE OR REPLACE FUNCTION mf._webhook_result(delivery_id bigint, http_status integer, error text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.alert_webhooks w
	   SET status = CASE WHEN http_status BETWEEN 200 AND 299 THEN 'delivered'
						 WHEN w.attempts >= mf._webhook_max_attempts() THEN 'failed' ELSE 'pending' END,
		   delivered_at = CASE WHEN http_status BETWEEN 200 AND 299 THEN clock_timestamp() END,
		   last_error = CASE WHEN http_status BETWEEN 200 AND 299 THEN NULL
							 ELSE coalesce(error, format('HTTP status %s', http_status)) END,
		   next_attempt_at = clock_timestamp() + least(interval '1 s' * power(2, greatest(w.attempts - 1, 0)),
													   interval '5 min')
	 WHERE w.delivery_id = _webhook_result.delivery_id AND w.status = 'pending';
$$;

-- ---------------------------------------------------------------------------
-- Prometheus
-- ---------------------------------------------------------------------------

-- A duration in Prometheus' syntax (whole seconds, at least 1 s for windows).
CREATE OR REPLACE FUNCTION mf._prom_duration(d interval) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT greatest(round(extract(epoch FROM d)), 0)::bigint || 's';
$$;

-- The PromQL expression of a rule over the servers' /metrics, or NULL for
-- metrics the servers do not expose (health, accuracy, drift_psi).
CREATE OR REPLACE FUNCTION mf._prom_expr(r mf.alert_rules) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	s		record;
	sel		text;
	w		text := mf._prom_duration(r."window");
	q		text;
BEGIN
	SELECT * INTO s FROM mf._alert_scope(r.target);
	IF r.target ~ '^[0-9]+$' THEN
		-- a deployment is counted under its served name
		SELECT d.name, d.version INTO s.model_name, s.version FROM mf.deployments d WHERE d.deployment_id = r.target::bigint;
	END IF;
	IF s.model_name IS NULL THEN
		RETURN NULL;
	END IF;
	sel := format('model=%s', to_jsonb(s.model_name)::text)
		   || CASE WHEN s.version IS NOT NULL THEN format(',version=%s', to_jsonb(s.version)::text) ELSE '' END;
	q := CASE r.metric
		WHEN 'error_rate' THEN format('sum(rate(mf_serve_errors_total{%s}[%s])) / sum(rate(mf_serve_requests_total{%s}[%s]))',
									  sel, w, sel, w)
		WHEN 'throughput' THEN format('sum(rate(mf_serve_requests_total{%s}[%s]))', sel, w)
		WHEN 'latency_p99_ms' THEN format('histogram_quantile(0.99, sum by (le) (rate(mf_serve_request_duration_seconds_bucket{%s}[%s]))) * 1000',
										  sel, w)
		WHEN 'latency_p50_ms' THEN format('histogram_quantile(0.5, sum by (le) (rate(mf_serve_request_duration_seconds_bucket{%s}[%s]))) * 1000',
										  sel, w)
		END;
	RETURN CASE WHEN q IS NOT NULL THEN format('(%s) %s %s', q, r.condition, r.threshold) END;
END;
$$;

-- Every rule as a Prometheus rule file (YAML; strings written as JSON
-- strings, which YAML reads alike).  Rules on metrics the servers do not
-- expose stay comments naming them.
CREATE OR REPLACE FUNCTION mf._render_prometheus_rules() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		mf.alert_rules;
	e		text;
	lines	text[] := ARRAY['# mf_ext alert rules (mf_render_prometheus_rules), over the servers'' /metrics',
							'groups:', '  - name: mf_ext', '    rules:'];
	n		integer := 0;
BEGIN
	PERFORM mf._require_role('mf_reader', 'read alert rules');
	FOR r IN SELECT * FROM mf.alert_rules ORDER BY rule_id LOOP
		e := mf._prom_expr(r);
		IF e IS NULL THEN
			lines := lines || format('      # rule %s (%s of %s) is evaluated in the database only: /metrics has no %s',
									 r.rule_id, r.metric, r.target, r.metric);
			CONTINUE;
		END IF;
		n := n + 1;
		lines := lines || ARRAY[
			format('      - alert: %s', mf._alert_name(r)),
			format('        expr: %s', to_jsonb(e)::text),
			format('        for: %s', mf._prom_duration(r."for")),
			'        labels:']
			|| ARRAY(SELECT format('          %s: %s', k, to_jsonb(v)::text)
					   FROM jsonb_each_text(mf._alert_labels(r) - 'alertname') x(k, v) ORDER BY k)
			|| ARRAY['        annotations:',
					 format('          summary: %s', to_jsonb(format('%s of %s %s %s (mf_ext rule %s)', r.metric, r.target,
																	  r.condition, r.threshold, r.rule_id))::text)];
	END LOOP;
	IF n = 0 THEN
		lines := lines[1:3] || '    rules: []'::text || lines[5:];
	END IF;
	RETURN array_to_string(lines, E'\n') || E'\n';
END;
$$;
CREATE OR REPLACE FUNCTION mf_render_prometheus_rules() RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_render_prometheus_rules() IS
	'the alert rules as a Prometheus rule file over mf_serve_requests_total, mf_serve_errors_total and mf_serve_request_duration_seconds (promtool check rules clean); health, accuracy and drift_psi rules stay comments';
-- observe.sql - for people who look: mf_debug(ref) and mf_deployment_log(id).
-- Owns (PL/pgSQL): what the debug report of a version holds (config,
-- artifact checks, feature schema, this backend's cache, deployments, last
-- errors) and what a deployment's log merges (audit events, job lines,
-- health changes, alert firings and resolutions).  Thin callers of C: the
-- artifact check (mf._artifact_loads, src/debug.c: the model module opens it) and
-- the cache state (mf._cache_state, src/model_cache.c).  The views over the
-- monitoring tables are sql/observe_views.sql.
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._debug: the debug report
--   mf_deployment_log: the merged log of one deployment (caller's rights)

CREATE OR REPLACE FUNCTION mf._artifact_loads(artifact bytea) RETURNS boolean
	AS 'MODULE_PATHNAME', 'mf_artifact_loads'
	LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION mf._artifact_loads(bytea) IS
	'true when the model module opens the artifact (its checks, metadata and layout); the module''s error (XX001, 0A000) otherwise (src/debug.c)';

CREATE OR REPLACE FUNCTION mf._cache_state(version_id bigint) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_cache_state'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mf._cache_state(bigint) IS
	'this backend''s model cache: whether the version is loaded (its bytes, sha256), the cache''s size, models and limit (mf.model_cache_mb)';

-- The checks of a version's stored artifact: present, sha256 as stored,
-- and whether the model module accepts it (its error otherwise).
CREATE OR REPLACE FUNCTION mf._artifact_checks(version_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	a		record;
	opens	text := 'ok';
BEGIN
	SELECT x.format_version, x.size_bytes, x.sha256, encode(sha256(x.bytes), 'hex') = x.sha256 AS sha256_ok, x.bytes
	  INTO a FROM mf.artifacts x WHERE x.version_id = _artifact_checks.version_id;
	IF NOT FOUND THEN
		RETURN jsonb_build_object('present', false);
	END IF;
	BEGIN
		PERFORM mf._artifact_loads(a.bytes);
	EXCEPTION WHEN OTHERS THEN
		opens := format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE);
	END;
	RETURN jsonb_build_object('present', true, 'format_version', a.format_version, 'size_bytes', a.size_bytes,
							  'sha256', a.sha256, 'sha256_matches', a.sha256_ok, 'loads', opens = 'ok',
							  'load_error', CASE WHEN opens <> 'ok' THEN opens END);
END;
$$;

CREATE OR REPLACE FUNCTION mf._debug(ref text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
	v		mf.model_versions;
	owns	boolean;
BEGIN
	PERFORM mf._require_role('mf_reader', 'read the model catalog');
	SELECT * INTO r FROM mf._resolve(ref);
	SELECT * INTO v FROM mf.model_versions x WHERE x.version_id = r.version_id;
	owns := mf._owns(r.model_id);
	RETURN jsonb_build_object(
		'ref', r.model_name || ':' || r.version,
		'version_id', v.version_id,
		'stage', v.stage,
		'status', v.status,
		'config', v.config,
		'config_hash', v.config_hash,
		'artifact', mf._artifact_checks(v.version_id),
		'feature_schema', CASE WHEN owns THEN v.feature_schema ELSE mf._redact_schema(v.feature_schema) END,
		'cache', mf._cache_state(v.version_id),
		'dependencies', v.dependencies,
		'deployments', (SELECT coalesce(jsonb_agg(jsonb_build_object(
								'deployment_id', d.deployment_id, 'name', d.name, 'ref', d.ref, 'target', d.target,
								'status', d.status, 'endpoint', d.endpoint, 'error', d.error,
								'healthy', s.healthy, 'health_checked_at', s.health_checked_at,
								'open_alerts', s.open_alerts) ORDER BY d.deployment_id), '[]')
						  FROM mf.deployments d JOIN mf.deployment_status s USING (deployment_id)
						 WHERE d.model_name = r.model_name),
		'last_errors', (SELECT coalesce(jsonb_agg(e ORDER BY e ->> 'at' DESC), '[]') FROM (
							(SELECT jsonb_build_object('at', j.finished_at, 'source', 'job', 'job_id', j.job_id,
													   'version', mf._ref(j.version_id), 'error', j.error) AS e
							   FROM mf.jobs j JOIN mf.model_versions x USING (version_id)
							  WHERE x.model_id = r.model_id AND j.status = 'failed'
							  ORDER BY j.finished_at DESC NULLS LAST LIMIT 5)
							UNION ALL
							(SELECT jsonb_build_object('at', d.updated_at, 'source', 'deployment',
													   'deployment_id', d.deployment_id, 'error', d.error)
							   FROM mf.deployments d
							  WHERE d.model_name = r.model_name AND d.error IS NOT NULL
							  ORDER BY d.updated_at DESC LIMIT 5)
							UNION ALL
							(SELECT jsonb_build_object('at', h.checked_at, 'source', 'health_check',
													   'deployment_id', h.deployment_id, 'check', h."check",
													   'http_status', h.http_status, 'error', h.error)
							   FROM mf.health_checks h JOIN mf.deployments d USING (deployment_id)
							  WHERE d.model_name = r.model_name AND NOT h.ok
							  ORDER BY h.checked_at DESC LIMIT 5)
							UNION ALL
							(SELECT jsonb_build_object('at', a.started_at, 'source', 'alert', 'alert_id', a.alert_id,
													   'rule_id', a.rule_id, 'error', a.message)
							   FROM mf.alerts a JOIN mf.alert_rules ar USING (rule_id)
							  WHERE a.resolved_at IS NULL AND mf._alert_target_model(ar.target) = r.model_id
							  ORDER BY a.started_at DESC LIMIT 5)) x));
END;
$$;
CREATE OR REPLACE FUNCTION mf_debug(ref text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_debug(text) IS
	'what to look at when a version misbehaves: config, artifact checks (present, sha256, loads), feature schema (redacted for non-owners), this backend''s cache, deployments with health and open alerts, last errors (jobs, deployments, health checks, alerts)';

-- Read with the caller's rights (as mf_job_log): the tables it merges are
-- mf_reader's to read.
CREATE OR REPLACE FUNCTION mf_deployment_log(deployment_id bigint)
	RETURNS TABLE(at timestamptz, source text, message text, details jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments;
	id		text := deployment_id::text;
BEGIN
	SELECT * INTO d FROM mf.deployments x WHERE x.deployment_id = mf_deployment_log.deployment_id;
	IF NOT FOUND THEN
		-- (mf._no_deployment is not the caller's to run)
		RAISE EXCEPTION 'deployment % does not exist', deployment_id
			USING ERRCODE = 'undefined_object', HINT = 'SELECT deployment_id, name, ref, status FROM mf.deployments lists them.';
	END IF;
	RETURN QUERY
	SELECT y.at, y.source, y.message, y.details FROM (
		SELECT e.occurred_at AS at, 'event'::text AS source, format('%s by %s', e.action, e.actor) AS message,
			   jsonb_build_object('event_id', e.event_id, 'before', e.before, 'after', e.after) AS details, e.event_id AS o
		  FROM mf.events e
		 WHERE e.model_name = d.model_name AND (e.after ->> 'deployment_id' = id OR e.before ->> 'deployment_id' = id)
		UNION ALL
		SELECT j.logged_at, 'job', format('job %s %s: %s', j.job_id, j.level, j.message), j.details, j.event_id
		  FROM mf.job_events j WHERE j.job_id = d.job_id
		UNION ALL
		SELECT h.checked_at, 'health', format('%s %s%s', h."check", CASE WHEN h.ok THEN 'ok' ELSE 'failing' END,
											  coalesce(': ' || h.error, '')),
			   jsonb_build_object('check', h."check", 'ok', h.ok, 'latency_ms', h.latency_ms, 'http_status', h.http_status),
			   0
		  FROM (SELECT c.*, lag(c.ok) OVER (PARTITION BY c."check" ORDER BY c.checked_at) AS was
				  FROM mf.health_checks c WHERE c.deployment_id = d.deployment_id) h
		 WHERE h.was IS DISTINCT FROM h.ok
		UNION ALL
		SELECT t.at, 'alert', format('alert %s %s: %s', a.alert_id, t.status, a.message),
			   jsonb_build_object('alert_id', a.alert_id, 'rule_id', a.rule_id, 'value', a.value), a.alert_id
		  FROM mf.alerts a JOIN mf.alert_rules r USING (rule_id)
		 CROSS JOIN LATERAL (VALUES (a.started_at, 'firing'), (a.resolved_at, 'resolved')) t(at, status)
		 WHERE t.at IS NOT NULL
		   AND (r.target = id OR (r.target !~ '^[0-9]+$' AND substring(r.target FROM '^[a-z][a-z0-9_]{0,62}') = d.model_name))
	) y ORDER BY y.at, y.source, y.o;
END;
$$;
COMMENT ON FUNCTION mf_deployment_log(bigint) IS
	'one deployment''s history in time order: audit events (deploy, undeploy, status changes), its job''s lines, health check changes, alerts firing and resolving on it or its model';
-- drift.sql - drift and live accuracy (issue #16, section 4).
-- Owns (PL/pgSQL): what a version's reference stores (mf._store_reference,
-- called by mf._train_version), who may compare data with it and where the
-- results go (mf_drift -> mf.drift_checks), how labels known later meet the
-- predictions the servers logged and what live accuracy is
-- (mf_record_outcomes -> mf.outcomes, mf.model_performance).
-- Thin callers of C: the reference's statistics (src/drift.c over
-- kernels/drift.c: decile bins, PSI, two-sample KS) and reading the
-- caller's sources with the caller's rights (src/drift.c, src/outcomes.c).
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._drift: the privilege, the missing reference, the stored check
--   mf._record_outcomes: labels in, accuracy per model, version and day out
--   mf._import_predictions: an mf-serve prediction log into mf.prediction_log

-- ---------------------------------------------------------------------------
-- Reference distributions (written by training) and mf_drift
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mf._store_reference(version_id bigint, reference jsonb) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	DELETE FROM mf.reference_distributions d WHERE d.version_id = _store_reference.version_id;
	INSERT INTO mf.reference_distributions (version_id, position, feature, kind, n_rows, n_nulls, data)
	SELECT _store_reference.version_id, f.ord, f.e ->> 'feature', f.e ->> 'kind', (f.e ->> 'n_rows')::bigint,
		   (f.e ->> 'n_nulls')::bigint, f.e -> 'data'
	  FROM jsonb_array_elements(reference) WITH ORDINALITY f(e, ord);
$$;
COMMENT ON FUNCTION mf._store_reference(bigint, jsonb) IS
	'store the reference distributions training computed for a version (one row per feature; replaces earlier ones)';

CREATE OR REPLACE FUNCTION mf._drift_run(reference jsonb, source text, author oid, search_path text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_drift_run'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf._drift_run(jsonb, text, oid, text) IS
	'read a source (as role author, names resolved on search_path) and compare every feature with its stored reference: [{feature, psi, ks, status, n_rows}]';

CREATE OR REPLACE FUNCTION mf._drift(ref text, source text)
	RETURNS TABLE(feature text, psi float8, ks float8, status text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
	v		mf.model_versions;
	refs	jsonb;
	res		jsonb;
BEGIN
	IF ref IS NULL OR source IS NULL THEN
		RAISE EXCEPTION 'ref and source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO r FROM mf._resolve(ref);
	-- the statistics against a source of the caller's choosing disclose the
	-- reference (training data): those who may read it only
	PERFORM mf._require_owner(r.model_id, 'check the drift of');
	SELECT * INTO v FROM mf.model_versions mv WHERE mv.version_id = r.version_id;
	SELECT jsonb_agg(jsonb_build_object('feature', d.feature, 'kind', d.kind, 'n_rows', d.n_rows,
										'n_nulls', d.n_nulls, 'data', d.data) ORDER BY d.position)
	  INTO refs FROM mf.reference_distributions d WHERE d.version_id = r.version_id;
	IF refs IS NULL THEN
		RAISE EXCEPTION 'version "%" of model "%" has no reference distributions', r.version, r.model_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = CASE WHEN v.status <> 'trained' THEN format('The version is %s, not trained.', v.status)
							ELSE 'Training stores them from mf_ext 0.4.0 on; this version was trained earlier or registered.' END,
				  HINT = format('Train it again: SELECT mf_train(%L, source, target);', mf._ref(r.version_id));
	END IF;
	res := mf._drift_run(refs, source, mf._caller(), mf._caller_search_path());
	INSERT INTO mf.drift_checks (version_id, checked_at, feature, psi, ks, status, n_rows)
	SELECT r.version_id, now(), e ->> 'feature', (e ->> 'psi')::float8, (e ->> 'ks')::float8, e ->> 'status',
		   (e ->> 'n_rows')::bigint
	  FROM jsonb_array_elements(res) e;
	RETURN QUERY SELECT e ->> 'feature', (e ->> 'psi')::float8, (e ->> 'ks')::float8, e ->> 'status'
				   FROM jsonb_array_elements(res) WITH ORDINALITY a(e, i) ORDER BY i;
END;
$$;
CREATE OR REPLACE FUNCTION mf_drift(ref text, source text)
	RETURNS TABLE(feature text, psi float8, ks float8, status text)
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_drift(text, text) IS
	'compare the rows of a table, view or query (run with the caller''s rights) with the reference distributions training stored for a version: per feature the PSI (10 decile bins, or categories; NULLs a bin; shares floored at 1e-4), the two-sample KS statistic for numbers, and status ok (PSI < 0.1), warning (< 0.25) or drift; each result is also a row of mf.drift_checks; the model''s owner and mf_admin only';

-- ---------------------------------------------------------------------------
-- Live accuracy: labels known later meet the logged predictions
-- ---------------------------------------------------------------------------

-- Deployment option log_predictions: true (row ids from member "id") or
-- {"id_field": "<member>"}; false logs nothing.  Stored as {"log_predictions":
-- {"id_field": ...}} (sql/deploy.sql stores it; the HTTP worker reads it).
CREATE OR REPLACE FUNCTION mf._deploy_log_option(v jsonb, OUT stored jsonb, OUT problems text[])
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN f IS NOT NULL THEN jsonb_build_object('log_predictions', jsonb_build_object('id_field', f)) END,
		   CASE WHEN f IS NOT NULL OR v = 'false' THEN '{}'::text[]
				ELSE ARRAY[format('options.log_predictions: must be true, false or {"id_field": "<the row member holding its id>"} '
								  '(a letter or _, then letters, digits or _), got %s', left(v::text, 100))] END
	  FROM (SELECT CASE WHEN v = 'true' THEN 'id'
						WHEN jsonb_typeof(v) = 'object' AND (SELECT array_agg(k) FROM jsonb_object_keys(v) k) = ARRAY['id_field']
							 AND jsonb_typeof(v -> 'id_field') = 'string' AND (v ->> 'id_field') ~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$'
						THEN v ->> 'id_field' END AS f) x;
$$;
COMMENT ON FUNCTION mf._deploy_log_option(jsonb) IS
	'check and normalise deployment option log_predictions: true = {"id_field": "id"}, or {"id_field": member}; false = not logged';

CREATE OR REPLACE FUNCTION mf._outcomes_run(source text, id_column text, target text, author oid, search_path text)
	RETURNS TABLE(row_id text, label text)
	AS 'MODULE_PATHNAME', 'mf_outcomes_run'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf._outcomes_run(text, text, text, oid, text) IS
	'every row of a table, view or query as (id_column::text, target::text), read as role author on search_path';

-- Whether a logged prediction equals a label: the label text of a JSON
-- string or boolean, of an object's "label" member, or a number equal to a
-- numeric label.
CREATE OR REPLACE FUNCTION mf._outcome_correct(prediction jsonb, label text) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE
		WHEN jsonb_typeof(p) = 'number' THEN
			CASE WHEN label ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$'
				 THEN (p::text::numeric = label::numeric)::int ELSE 0 END
		WHEN jsonb_typeof(p) IN ('string', 'boolean') THEN ((p #>> '{}') = label)::int
		ELSE 0 END::float8
	  FROM (SELECT CASE WHEN jsonb_typeof(prediction) = 'object' AND prediction ? 'label'
						THEN prediction -> 'label' ELSE prediction END AS p) x;
$$;
COMMENT ON FUNCTION mf._outcome_correct(jsonb, text) IS
	'1 when a logged prediction (a label as JSON string, boolean or number, or an object with member label) equals a label text, else 0';

CREATE OR REPLACE FUNCTION mf._record_outcomes(ref text, source text, id_column text, target text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
	pinned	boolean;
	dup		text;
	matched bigint;
BEGIN
	IF ref IS NULL OR source IS NULL OR id_column IS NULL OR target IS NULL THEN
		RAISE EXCEPTION 'ref, source, id_column and target must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO r FROM mf._resolve(ref);
	PERFORM mf._require_owner(r.model_id, 'record outcomes of');
	pinned := position(':' IN ref) > 0;
	-- the labels, read once with the caller's rights; one label per row id
	WITH src AS MATERIALIZED (
		SELECT o.row_id, o.label FROM mf._outcomes_run(source, id_column, target, mf._caller(),
														 mf._caller_search_path()) o
		 WHERE o.row_id IS NOT NULL AND o.label IS NOT NULL),
	d AS (SELECT s.row_id FROM src s GROUP BY s.row_id HAVING count(*) > 1 LIMIT 1),
	ins AS (INSERT INTO mf.outcomes AS t (model_name, row_id, label, recorded_at)
			SELECT r.model_name, s.row_id, s.label, now() FROM src s WHERE NOT EXISTS (SELECT 1 FROM d)
			ON CONFLICT (model_name, row_id) DO UPDATE SET label = EXCLUDED.label, recorded_at = EXCLUDED.recorded_at
			RETURNING 1)
	SELECT (SELECT d.row_id FROM d), (SELECT count(*) FROM ins) INTO dup, matched;
	IF dup IS NOT NULL THEN
		RAISE EXCEPTION 'the outcomes source has more than one row for id "%"', dup
			USING ERRCODE = 'cardinality_violation',
				  DETAIL = format('Column %I must identify one row of %s.', id_column, source),
				  HINT = 'Give one label per prediction id.';
	END IF;
	-- accuracy per version and day (UTC) of every prediction a label of this call met
	INSERT INTO mf.model_performance AS mp (model_name, version, day, n, accuracy)
	SELECT p.model_name, p.version, (p.logged_at AT TIME ZONE 'UTC')::date, count(*),
		   avg(mf._outcome_correct(p.prediction, o.label))
	  FROM mf.prediction_log p
	  JOIN mf.outcomes o ON o.model_name = p.model_name AND o.row_id = p.row_id
	 WHERE p.model_name = r.model_name AND (NOT pinned OR p.version = r.version)
	   AND (p.version, (p.logged_at AT TIME ZONE 'UTC')::date) IN (
			SELECT p2.version, (p2.logged_at AT TIME ZONE 'UTC')::date
			  FROM mf.prediction_log p2
			  JOIN mf.outcomes o2 ON o2.model_name = p2.model_name AND o2.row_id = p2.row_id
			 WHERE p2.model_name = r.model_name AND o2.recorded_at = now())
	 GROUP BY 1, 2, 3
	ON CONFLICT (model_name, version, day) DO UPDATE SET n = EXCLUDED.n, accuracy = EXCLUDED.accuracy;
	SELECT count(*) INTO matched
	  FROM mf.prediction_log p JOIN mf.outcomes o ON o.model_name = p.model_name AND o.row_id = p.row_id
	 WHERE p.model_name = r.model_name AND (NOT pinned OR p.version = r.version) AND o.recorded_at = now();
	RETURN matched;
END;
$$;
CREATE OR REPLACE FUNCTION mf_record_outcomes(ref text, source text, id_column text, target text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_record_outcomes(text, text, text, text) IS
	'record labels that became known later (id_column and target of a table, view or query, run with the caller''s rights) for a model''s logged predictions (mf.prediction_log, row_id = id_column as text), and write live accuracy per version and UTC day into mf.model_performance; a ref naming a version (name:1.2.0) limits it to that version; returns the predictions matched; the model''s owner and mf_admin only';

-- The problem of one prediction-log line (mf-serve --prediction-log, the
-- in-database server's format) for a deployment of model_name, or NULL.
CREATE OR REPLACE FUNCTION mf._prediction_line_problem(line jsonb, model_name text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE
		WHEN jsonb_typeof(line) IS DISTINCT FROM 'object' THEN 'a line must be a JSON object'
		WHEN jsonb_typeof(line -> 'row_id') IS DISTINCT FROM 'string' OR length(line ->> 'row_id') NOT BETWEEN 1 AND 256
		THEN 'row_id: must be a string of 1 to 256 characters'
		WHEN line ? 'request_id' AND jsonb_typeof(line -> 'request_id') NOT IN ('string', 'null') THEN 'request_id: must be a string'
		WHEN NOT line ? 'prediction' OR jsonb_typeof(line -> 'prediction') = 'null' THEN 'prediction: missing'
		WHEN jsonb_typeof(line -> 'at') IS DISTINCT FROM 'number' OR (line ->> 'at')::numeric NOT BETWEEN 0 AND 32503680000
		THEN 'at: must be seconds since 1970 (a number)'
		WHEN line ? 'name' AND line ->> 'name' IS DISTINCT FROM model_name
		THEN format('name: %s is not the deployment''s model %s', left(line ->> 'name', 100), model_name)
		WHEN jsonb_typeof(line -> 'version') IS DISTINCT FROM 'string'
			 OR NOT EXISTS (SELECT 1 FROM mf.model_versions v JOIN mf.models m ON m.model_id = v.model_id
							 WHERE m.name = model_name AND v.version = line ->> 'version')
		THEN format('version: %s is not a version of %s', coalesce(left(line ->> 'version', 100), 'missing'), model_name) END;
$$;

-- Load prediction-log lines written elsewhere (mf-serve --prediction-log)
-- into mf.prediction_log as a deployment's: every line checked first (22023
-- naming the first bad one), lines already there (same request, row and
-- time) skipped; returns the rows added.
CREATE OR REPLACE FUNCTION mf._import_predictions(deployment_id bigint, lines jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments := mf._lock_deployment(deployment_id, 'import predictions of');
	bad		record;
	added	bigint;
BEGIN
	IF jsonb_typeof(lines) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'invalid prediction log lines'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = 'lines must be a JSON array of the log''s lines, got ' || coalesce('a ' || jsonb_typeof(lines), 'NULL') || '.',
				  HINT = 'SELECT mf_import_predictions(7, jsonb_agg(line)) FROM served.';
	END IF;
	SELECT e.i, mf._prediction_line_problem(e.l, d.model_name) AS problem INTO bad
	  FROM jsonb_array_elements(lines) WITH ORDINALITY e(l, i)
	 WHERE mf._prediction_line_problem(e.l, d.model_name) IS NOT NULL
	 ORDER BY e.i LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'invalid prediction log line % of %', bad.i, jsonb_array_length(lines)
			USING ERRCODE = 'invalid_parameter_value', DETAIL = bad.problem || '.',
				  HINT = 'Lines are those of mf-serve --prediction-log (README, "The standalone server"); nothing was imported.';
	END IF;
	INSERT INTO mf.prediction_log (deployment_id, model_name, version, request_id, row_id, prediction, logged_at)
	SELECT DISTINCT ON (l ->> 'request_id', l ->> 'row_id', to_timestamp((l ->> 'at')::float8))
		   d.deployment_id, d.model_name, l ->> 'version', l ->> 'request_id', l ->> 'row_id', l -> 'prediction',
		   to_timestamp((l ->> 'at')::float8)
	  FROM jsonb_array_elements(lines) l
	 WHERE NOT EXISTS (SELECT 1 FROM mf.prediction_log p
						WHERE p.deployment_id = d.deployment_id AND p.row_id = l ->> 'row_id'
						  AND p.request_id IS NOT DISTINCT FROM l ->> 'request_id'
						  AND p.logged_at = to_timestamp((l ->> 'at')::float8));
	GET DIAGNOSTICS added = ROW_COUNT;
	RETURN added;
END;
$$;
CREATE OR REPLACE FUNCTION mf_import_predictions(deployment_id bigint, lines jsonb) RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_import_predictions(bigint, jsonb) IS
	'load the lines of an mf-serve --prediction-log file (a JSON array of them, e.g. jsonb_agg of a table COPY filled) into mf.prediction_log as the predictions of a deployment, so mf_record_outcomes joins them; every line checked (22023 naming the first bad one, nothing imported), lines already loaded skipped; the model''s owner and mf_admin only; returns the rows added';
-- monitor.sql - watching deployments: health options, mf_set_endpoint, and the
-- SQL the monitor worker calls (src/monitor_worker.c): what to check, the
-- checks' rows and the status changes they cause, serving metrics per minute,
-- retention.
-- Owns (PL/pgSQL): the health options (defaults, every problem with its path),
-- which deployments are polled and at which URL, the unhealthy/healthy rule
-- (options.health.unhealthy_after failed rounds in a row -> unhealthy; one
-- passing round -> the live status it had), and where counted requests land
-- in mf.serving_metrics (one row per model, version, deployment and minute).
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._health_options: every health option, with every problem's path
--   mf._set_endpoint: recording an endpoint (privilege, URL, event)
--   mf._monitor_targets: the deployments due for a round of checks
--   mf._record_health: a round's rows and the status change it causes
--   mf._record_serving_metrics: one series' counts added to its minute
--
-- The alerts of issue 16 are evaluated by the monitor worker after these, once
-- per cycle (see src/monitor_worker.c, MfMonitorCycle).

-- ---------------------------------------------------------------------------
-- Health options (options.health of mf_deploy, argument health of mf_set_endpoint)
-- ---------------------------------------------------------------------------

-- The defaults of options.health: the one place they are written.
CREATE OR REPLACE FUNCTION mf._health_defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp
RETURN '{"interval": 30, "timeout": 5, "unhealthy_after": 3, "response_time_ms": 1000}'::jsonb;

-- Seconds of a duration option (a number of seconds, or an interval text such
-- as "30 s" or "1 min") within [lo, hi]; NULL with a problem otherwise.
CREATE OR REPLACE FUNCTION mf._health_seconds(path text, value jsonb, lo float8, hi float8,
								   OUT seconds float8, OUT problem text)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF jsonb_typeof(value) = 'number' THEN
		seconds := (value #>> '{}')::float8;
	ELSIF jsonb_typeof(value) = 'string' THEN
		BEGIN
			seconds := extract(epoch FROM (value #>> '{}')::interval)::float8;
		EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow
					  OR invalid_parameter_value OR syntax_error THEN
			seconds := NULL;
		END;
	END IF;
	IF seconds IS NULL OR seconds < lo OR seconds > hi THEN
		problem := format('%s: must be a duration from %s to %s seconds (a number of seconds or an interval such as "30 s"), got %s',
						  path, lo, hi, left(value::text, 100));
		seconds := NULL;
	END IF;
END;
$$;

-- The problem of a JSON value that must be a number in (0, max], or NULL.
CREATE OR REPLACE FUNCTION mf._positive_number_problem(path text, value jsonb, max float8) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN jsonb_typeof(value) = 'number' AND (value #>> '{}')::float8 > 0
					 AND (value #>> '{}')::float8 <= max THEN NULL
				ELSE format('%s: must be a positive number (at most %s), got %s', path, max, left(value::text, 100)) END;
$$;

-- Validate and normalise options.health: every problem as 'path: problem'
-- and the options to store (durations in seconds; defaults not stored).
CREATE OR REPLACE FUNCTION mf._health_options(health jsonb, path text, OUT stored jsonb, OUT problems text[])
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	known	CONSTANT text[] := ARRAY['interval', 'timeout', 'unhealthy_after', 'response_time_ms', 'memory_mb', 'canary'];
	k		text;
	v		jsonb;
	p		text;
	secs	float8;
	prob	text;
BEGIN
	problems := '{}';
	stored := '{}';
	IF jsonb_typeof(health) IS DISTINCT FROM 'object' THEN
		problems := ARRAY[format('%s: must be an object {"interval": "30 s", "timeout": "5 s", "unhealthy_after": 3, ...}, got %s',
								 path, coalesce(jsonb_typeof(health), 'NULL'))];
		RETURN;
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(health) ORDER BY 1 LOOP
		p := mf._option_path(path, k);
		secs := NULL;
		CASE k
			WHEN 'interval' THEN
				SELECT * INTO secs, prob FROM mf._health_seconds(p, v, 1, 86400);
			WHEN 'timeout' THEN
				SELECT * INTO secs, prob FROM mf._health_seconds(p, v, 0.1, 300);
			WHEN 'unhealthy_after' THEN
				prob := mf._positive_integer_problem(p, v, 1000);
			WHEN 'response_time_ms', 'memory_mb' THEN
				prob := mf._positive_number_problem(p, v, 1e9);
			WHEN 'canary' THEN
				prob := CASE WHEN jsonb_typeof(v) <> 'object' OR v = '{}'
							 THEN format('%s: must be a non-empty object of named raw features (what mf_predict(ref, jsonb) takes), got %s',
										 p, left(v::text, 100)) END;
			ELSE
				prob := mf._unknown_key(path, k, known);
		END CASE;
		IF prob IS NOT NULL THEN
			problems := problems || prob;
		ELSE
			stored := stored || jsonb_build_object(k, coalesce(to_jsonb(secs), v));
		END IF;
	END LOOP;
END;
$$;

-- ---------------------------------------------------------------------------
-- Endpoints
-- ---------------------------------------------------------------------------

-- The base URL of a server from an endpoint: scheme://host[:port][/prefix]
-- without a trailing /v1/models/<name> or /.
CREATE OR REPLACE FUNCTION mf._endpoint_base(endpoint text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT rtrim(regexp_replace(endpoint, '/v[12]/models/[^/]*$', ''), '/');
$$;

-- The problem of an endpoint URL, or NULL.
CREATE OR REPLACE FUNCTION mf._endpoint_problem(url text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN url IS NULL THEN NULL
				WHEN length(url) > 2048 THEN 'url: at most 2048 characters'
				WHEN url !~ '^https?://[A-Za-z0-9._~-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/%-]*)?$'
					 AND url !~ '^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?(/[A-Za-z0-9._~/%-]*)?$'
				THEN format('url: must be http://host[:port][/path] or https://... (no query, fragment or user), got %s',
							to_jsonb(left(url, 100))::text)
				WHEN (regexp_match(url, '^https?://(?:[^/:]+|\[[^]]+\]):([0-9]+)'))[1]::integer NOT BETWEEN 1 AND 65535
				THEN 'url: the port must be from 1 to 65535' END;
$$;

-- Record where a deployment is served: its endpoint (polled and scraped by
-- the monitor worker) and optionally its health options.  NULL url: an http
-- deployment goes back to the in-database server's URL; another loses its
-- endpoint (not polled).
CREATE OR REPLACE FUNCTION mf._set_endpoint(deployment_id bigint, url text, health jsonb DEFAULT NULL) RETURNS mf.deployments
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments := mf._lock_deployment(deployment_id, 'set the endpoint of');
	mid		bigint := (SELECT m.model_id FROM mf.models m WHERE m.name = d.model_name);
	after	mf.deployments;
	hstored jsonb;
	probs	text[] := '{}';
	p		text := mf._endpoint_problem(url);
BEGIN
	IF d.status IN ('undeployed', 'failed') THEN
		RAISE EXCEPTION 'deployment % is %', deployment_id, d.status
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Only a live deployment has an endpoint that is watched.',
				  HINT = 'mf_deploy() deploys the model again.';
	END IF;
	IF p IS NOT NULL THEN
		probs := ARRAY[p];
	END IF;
	IF health IS NOT NULL THEN
		SELECT o.stored, probs || o.problems INTO hstored, probs FROM mf._health_options(health, 'health') o;
	END IF;
	IF cardinality(probs) > 0 THEN
		RAISE EXCEPTION 'invalid endpoint of deployment %', deployment_id
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = array_to_string(probs, E'\n'),
				  HINT = 'mf_set_endpoint(deployment_id, ''http://host:port'', ''{"interval": "30 s", "timeout": "5 s", '
						 '"unhealthy_after": 3, "response_time_ms": 1000, "memory_mb": 512, "canary": {...}}'') (README, "Monitoring").';
	END IF;
	UPDATE mf.deployments x
	   SET endpoint = CASE WHEN url IS NOT NULL THEN url
						   WHEN x.target = 'http' THEN mf._http_endpoint(current_setting('mf.http_listen_addresses', true),
																		 current_setting('mf.http_port', true), x.name) END,
		   options = CASE WHEN url IS NOT NULL THEN x.options || '{"endpoint_set": true}' ELSE x.options - 'endpoint_set' END
					 || CASE WHEN hstored IS NOT NULL THEN jsonb_build_object('health', hstored) ELSE '{}' END,
		   updated_at = now()
	 WHERE x.deployment_id = d.deployment_id
	RETURNING * INTO after;
	PERFORM mf._event('set_endpoint', mid, d.model_name, NULL, d.version,
					  jsonb_build_object('deployment_id', d.deployment_id, 'endpoint', d.endpoint, 'health', d.options -> 'health'),
					  jsonb_build_object('deployment_id', d.deployment_id, 'endpoint', after.endpoint,
										 'health', after.options -> 'health'));
	RETURN after;
END;
$$;
CREATE OR REPLACE FUNCTION mf_set_endpoint(deployment_id bigint, url text, health jsonb DEFAULT NULL) RETURNS mf.deployments
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_set_endpoint(bigint, text, jsonb) IS
	'record the URL a deployment is served at (http://host:port of an mf-serve or a container; NULL: back to the in-database server for http), polled and scraped by the monitor worker; health replaces options.health; by the model''s owner or mf_admin; returns the row';

-- ---------------------------------------------------------------------------
-- The monitor worker's calls (src/monitor_worker.c, src/monitor_health.c)
-- ---------------------------------------------------------------------------

-- One canary row for a version: mf._test_rows' first row when that function
-- exists (rows the version was tested on), else NULL.
CREATE OR REPLACE FUNCTION mf._monitor_canary(ref text) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	rows	jsonb;
BEGIN
	IF to_regprocedure('mf._test_rows(bigint, integer)') IS NULL THEN
		RETURN NULL;
	END IF;
	EXECUTE 'SELECT mf._test_rows($1, 1)' INTO rows USING (SELECT r.version_id FROM mf._resolve(ref) r);
	RETURN CASE WHEN jsonb_typeof(rows) = 'array' THEN rows -> 0 END;
EXCEPTION WHEN undefined_object OR invalid_parameter_value THEN
	RETURN NULL;
END;
$$;

-- The live deployments with an endpoint that are due for a round of checks:
-- the in-database server's http deployments (at its current address, while
-- mf.http_port is set) and every deployment given an endpoint by
-- mf_set_endpoint or by a passing mf_smoke_test (remote: their
-- /metrics are scraped too), with their health options merged over the
-- defaults and the canary row: options.health.canary, else the first row the
-- version was tested on unless the deployment has a rate limit (or a
-- prediction log, when remote); none with a bearer token.
CREATE OR REPLACE FUNCTION mf._monitor_targets()
	RETURNS TABLE (deployment_id bigint, name text, base_url text, remote boolean, health jsonb, canary jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments;
	local	text;
BEGIN
	FOR d IN SELECT * FROM mf.deployments x WHERE x.status IN ('active', 'verified', 'unhealthy')
			  ORDER BY x.deployment_id LOOP
		health := mf._health_defaults() || coalesce(d.options -> 'health', '{}');
		IF EXISTS (SELECT 1 FROM mf.health_checks h
					WHERE h.deployment_id = d.deployment_id
					  AND h.checked_at > now() - make_interval(secs => (health ->> 'interval')::float8 - 0.2)) THEN
			CONTINUE;
		END IF;
		remote := d.target <> 'http' OR coalesce((d.options ->> 'endpoint_set')::boolean, false);
		IF remote THEN
			base_url := mf._endpoint_base(d.endpoint);
		ELSE
			local := mf._http_endpoint(current_setting('mf.http_listen_addresses', true),
									   current_setting('mf.http_port', true), d.name);
			base_url := mf._endpoint_base(local);
		END IF;
		CONTINUE WHEN base_url IS NULL;
		deployment_id := d.deployment_id;
		name := d.name;
		-- no canary for a deployment with a bearer token (the monitor has none); the rows the
		-- version was tested on only where no rate limit is spent by them and no prediction log
		-- records them (log_predictions: the log is the users' predictions; the in-database
		-- server knows the monitor's canary by its probe token and does not log it, a remote
		-- server does not)
		canary := CASE WHEN EXISTS (SELECT 1 FROM mf.deployment_secrets s WHERE s.deployment_id = d.deployment_id) THEN NULL
					   WHEN health ? 'canary' THEN health -> 'canary'
					   WHEN NOT d.options ? 'rate_limit' AND (NOT remote OR NOT d.options ? 'log_predictions')
					   THEN mf._monitor_canary(d.ref) END;
		RETURN NEXT;
	END LOOP;
END;
$$;

-- The live status a deployment goes back to when it is healthy again: the one
-- it had when it became unhealthy.
CREATE OR REPLACE FUNCTION mf._status_before_unhealthy(d mf.deployments) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT coalesce((SELECT e.before ->> 'status' FROM mf.events e
					  WHERE e.action = 'health' AND e.after ->> 'status' = 'unhealthy'
						AND (e.after ->> 'deployment_id')::bigint = d.deployment_id
					  ORDER BY e.event_id DESC LIMIT 1),
					CASE WHEN d.target = 'http' THEN 'active' ELSE 'verified' END);
$$;

-- Store a round of checks of a deployment and change its status: after
-- options.health.unhealthy_after failed rounds in a row a live deployment is
-- unhealthy (error: the first failed check); one passing round makes an
-- unhealthy one live again.  Each change is a 'health' event.  Returns the
-- new status when it changed, else NULL.
CREATE OR REPLACE FUNCTION mf._record_health(deployment_id bigint, checked_at timestamptz, checks text[], oks boolean[],
								  latencies float8[], statuses integer[], errors text[]) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments;
	after	mf.deployments;
	n		integer;
	failed	integer;
	want	text;
	why		text;
BEGIN
	SELECT * INTO d FROM mf.deployments x WHERE x.deployment_id = _record_health.deployment_id FOR UPDATE;
	IF NOT FOUND OR d.status NOT IN ('active', 'verified', 'unhealthy') THEN
		RETURN NULL;			-- undeployed meanwhile
	END IF;
	INSERT INTO mf.health_checks (deployment_id, checked_at, "check", ok, latency_ms, http_status, error)
	SELECT d.deployment_id, _record_health.checked_at, c, o, l, s, e
	  FROM unnest(checks, oks, latencies, statuses, errors) u(c, o, l, s, e);
	n := coalesce((d.options #>> '{health,unhealthy_after}')::integer, (mf._health_defaults() ->> 'unhealthy_after')::integer);
	IF NOT (false = ANY (oks)) THEN
		IF d.status <> 'unhealthy' THEN
			RETURN NULL;
		END IF;
		want := mf._status_before_unhealthy(d);
	ELSE
		IF d.status = 'unhealthy' THEN
			RETURN NULL;
		END IF;
		SELECT count(*) FILTER (WHERE NOT r.ok) INTO failed
		  FROM (SELECT bool_and(h.ok) AS ok FROM mf.health_checks h WHERE h.deployment_id = d.deployment_id
				 GROUP BY h.checked_at ORDER BY h.checked_at DESC LIMIT n) r;
		IF failed < n THEN
			RETURN NULL;
		END IF;
		want := 'unhealthy';
		why := (SELECT format('%s failed rounds of health checks in a row; %s: %s', n, u.c, coalesce(u.e, 'failed'))
				  FROM unnest(checks, oks, errors) u(c, o, e) WHERE NOT u.o LIMIT 1);
	END IF;
	UPDATE mf.deployments x SET status = want, error = why, updated_at = now()
	 WHERE x.deployment_id = d.deployment_id
	RETURNING * INTO after;
	PERFORM mf._event('health', (SELECT m.model_id FROM mf.models m WHERE m.name = d.model_name), d.model_name, NULL,
					  d.version, jsonb_build_object('deployment_id', d.deployment_id, 'status', d.status, 'error', d.error),
					  jsonb_build_object('deployment_id', d.deployment_id, 'status', after.status, 'error', after.error,
										 'checked_at', checked_at));
	RETURN want;
END;
$$;

-- Add one series' counts of a minute to mf.serving_metrics.  A series of the
-- in-database server names its served name (its live http deployment, else
-- the latest with that name, gives deployment_id and model_name); a remote
-- one its deployment; an mf_predict* one neither (deployment_id NULL).  The
-- percentiles are the whole minute's, computed by the worker.
CREATE OR REPLACE FUNCTION mf._record_serving_metrics(deployment_id bigint, served_name text, model_name text, version text,
										   minute timestamptz, requests bigint, errors bigint, p50 float8, p95 float8,
										   p99 float8, bytes_in bigint, bytes_out bigint, rows bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
#variable_conflict use_column
DECLARE
	did		bigint := _record_serving_metrics.deployment_id;
	mname	text := _record_serving_metrics.model_name;
BEGIN
	IF served_name IS NOT NULL THEN
		SELECT x.deployment_id, x.model_name INTO did, mname FROM mf.deployments x
		 WHERE x.target = 'http' AND x.name = served_name
		 ORDER BY x.status NOT IN ('undeployed', 'failed') DESC, x.deployment_id DESC LIMIT 1;
		mname := coalesce(mname, served_name);
	ELSIF did IS NOT NULL AND mname IS NULL THEN
		SELECT x.model_name INTO mname FROM mf.deployments x WHERE x.deployment_id = did;
	END IF;
	INSERT INTO mf.serving_metrics AS s (model_name, version, deployment_id, minute, requests, errors, latency_p50_ms,
										 latency_p95_ms, latency_p99_ms, bytes_in, bytes_out, rows)
	VALUES (coalesce(mname, ''), coalesce(_record_serving_metrics.version, ''), did,
			date_trunc('minute', _record_serving_metrics.minute), _record_serving_metrics.requests,
			_record_serving_metrics.errors, p50, p95, p99, _record_serving_metrics.bytes_in,
			_record_serving_metrics.bytes_out, _record_serving_metrics.rows)
	ON CONFLICT (model_name, version, deployment_id, minute) DO UPDATE
	   SET requests = s.requests + excluded.requests,
		   errors = s.errors + excluded.errors,
		   latency_p50_ms = coalesce(excluded.latency_p50_ms, s.latency_p50_ms),
		   latency_p95_ms = coalesce(excluded.latency_p95_ms, s.latency_p95_ms),
		   latency_p99_ms = coalesce(excluded.latency_p99_ms, s.latency_p99_ms),
		   bytes_in = CASE WHEN excluded.bytes_in IS NULL THEN s.bytes_in ELSE coalesce(s.bytes_in, 0) + excluded.bytes_in END,
		   bytes_out = CASE WHEN excluded.bytes_out IS NULL THEN s.bytes_out ELSE coalesce(s.bytes_out, 0) + excluded.bytes_out END,
		   rows = CASE WHEN excluded.rows IS NULL THEN s.rows ELSE coalesce(s.rows, 0) + excluded.rows END;
END;
$$;

-- Remove at most batch rows of each monitoring table older than keep; the
-- number removed (the worker calls it again, in a new transaction, while it
-- removes a full batch).
CREATE OR REPLACE FUNCTION mf._purge_monitoring(keep interval, batch integer) RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	WITH m AS (DELETE FROM mf.serving_metrics s
				WHERE s.ctid = ANY (ARRAY(SELECT x.ctid FROM mf.serving_metrics x WHERE x.minute < now() - keep LIMIT batch))
			   RETURNING 1),
		 h AS (DELETE FROM mf.health_checks c
				WHERE c.ctid = ANY (ARRAY(SELECT x.ctid FROM mf.health_checks x WHERE x.checked_at < now() - keep LIMIT batch))
			   RETURNING 1)
	SELECT (SELECT count(*) FROM m) + (SELECT count(*) FROM h);
$$;
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
-- #15 k8s: smoke tests of deployments.
GRANT SELECT ON mf.smoke_tests TO mf_reader;
-- #16 monitor: health checks and serving metrics.
GRANT SELECT ON mf.health_checks, mf.serving_metrics TO mf_reader;
-- mf.deployment_secrets (bearer-token hashes) stays the extension owner's alone.
-- Registries: readable by every mf_ext role (no secret in mf.registries); created and
-- dropped by mf_admin; mf.registry_secrets stays the extension owner's alone.
GRANT SELECT ON mf.registries TO mf_reader;
GRANT SELECT (version_id, model_id, version, config, config_hash, parent_version_id, improvements, metadata,
			  metrics, stage, status, n_parameters, dependencies, created_at, trained_at, created_by)
	ON mf.model_versions TO mf_reader;
GRANT SELECT (version_id, format_version, size_bytes, sha256, created_at) ON mf.artifacts TO mf_reader;
-- #16 alerts: rules (without options: a webhook URL may hold a secret), firings, their
-- state, the views for BI tools and the metric tables they read; mf.alert_webhooks
-- stays the extension owner's alone.
GRANT SELECT (rule_id, target, metric, condition, threshold, "window", "for", created_by, created_at)
	ON mf.alert_rules TO mf_reader;
GRANT SELECT ON mf.alerts, mf.alert_state, mf.deployment_status, mf.model_performance_daily,
	mf.model_performance TO mf_reader;
-- Drift and live accuracy: statistics for readers; raw training values (the
-- reference's data), logged predictions and labels stay the extension owner's
-- (mf_drift and mf_record_outcomes use them for the model's owner and mf_admin).
GRANT SELECT ON mf.drift_checks TO mf_reader;
GRANT SELECT (version_id, position, feature, kind, n_rows, n_nulls) ON mf.reference_distributions TO mf_reader;
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
