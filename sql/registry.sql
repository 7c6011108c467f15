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

CREATE FUNCTION mf._caller() RETURNS oid
	AS 'MODULE_PATHNAME', 'mf_caller'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._caller() IS 'the acting role: current_user when the innermost mf_* function was called (from the session, never from data)';

CREATE FUNCTION mf._caller_search_path() RETURNS text
	AS 'MODULE_PATHNAME', 'mf_caller_search_path'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._caller_search_path() IS 'the acting role''s search_path when it called: what the names of its training source mean';

-- The acting role's name.
CREATE FUNCTION mf._actor() RETURNS name
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT pg_catalog.pg_get_userbyid(mf._caller());
$$;

-- Does the acting role belong to role r (directly or not; false when r does not exist)?
CREATE FUNCTION mf._acts_as(r name) RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles ro WHERE ro.rolname = r)
				THEN pg_catalog.pg_has_role(mf._caller(), r, 'MEMBER') ELSE false END;
$$;

-- Raise 42501 unless the acting role belongs to role r (mf_reader, mf_trainer, ...).
CREATE FUNCTION mf._require_role(r name, what text) RETURNS void
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
CREATE FUNCTION mf._owns(model_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT mf._acts_as('mf_admin') OR mf._acts_as((SELECT m.owner FROM mf.models m WHERE m.model_id = _owns.model_id));
$$;

-- Raise 42501 unless the acting role owns the model (membership counts) or holds mf_admin.
CREATE FUNCTION mf._require_owner(model_id bigint, what text) RETURNS void
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
CREATE FUNCTION mf._redact_schema(fs jsonb) RETURNS jsonb
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
CREATE FUNCTION mf._semver_key(version text) RETURNS integer[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, mf, pg_temp
RETURN string_to_array(version, '.')::integer[];

-- Check a semantic version string, raising 22023 naming 'what'.
CREATE FUNCTION mf._check_semver(version text, what text) RETURNS text
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
CREATE FUNCTION mf._metric_kind(metric text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN metric IN ('accuracy', 'precision', 'recall', 'f1', 'roc_auc') THEN 'score'
				WHEN metric = 'r2' THEN 'r2'
				WHEN metric IN ('mse', 'rmse', 'mae', 'log_loss', 'inertia') THEN 'error' END;
$$;

-- 22023 for a metric outside its range: scores in [0, 1], r2 at most 1, errors at least 0.
CREATE FUNCTION mf._check_metric_ranges(metrics jsonb, what text) RETURNS void
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
CREATE FUNCTION mf._check_name(name text, what text) RETURNS text
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
CREATE FUNCTION mf._resolve(ref text, OUT version_id bigint, OUT model_id bigint,
							OUT model_name text, OUT version text)
	AS 'MODULE_PATHNAME', 'mf_resolve'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf._resolve(text) IS 'resolve a model reference to its version; 42704 when unknown';

-- Append one audit event.
CREATE FUNCTION mf._event(action text, model_id bigint, model_name text, version_id bigint,
						  version text, before jsonb, after jsonb) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	INSERT INTO mf.events (actor, action, model_id, model_name, version_id, version, before, after)
	VALUES (mf._actor(), action, model_id, model_name, version_id, version, before, after);
$$;

-- Lock a model row for the rest of the transaction (serialises version creation).
-- 42704 when it was dropped meanwhile (after the caller resolved it).
CREATE FUNCTION mf._lock_model(model_id bigint) RETURNS mf.models
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
CREATE FUNCTION mf._expand_template(config jsonb) RETURNS jsonb
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
CREATE FUNCTION mf._next_version(model_id bigint) RETURNS text
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
CREATE FUNCTION mf._add_version(config jsonb, parent_version_id bigint, improvements text[],
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
CREATE FUNCTION mf._ref(version_id bigint) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT m.name || ':' || v.version FROM mf.model_versions v JOIN mf.models m USING (model_id)
	 WHERE v.version_id = _ref.version_id;
$$;

-- ---------------------------------------------------------------------------
-- Registry API
-- ---------------------------------------------------------------------------

CREATE FUNCTION mf._create_model(config jsonb) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	PERFORM mf._require_role('mf_trainer', 'create models');
	RETURN mf._add_version(mf._expand_template(config), NULL, '{}', NULL);
END;
$$;
CREATE FUNCTION mf_create_model(config jsonb) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_create_model(jsonb) IS 'validate a config, create the model if new and a version; returns name:version';

CREATE FUNCTION mf._create_model(template text, config jsonb) RETURNS text
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
CREATE FUNCTION mf_create_model(template text, config jsonb) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_create_model(text, jsonb) IS 'create a model from a named template deep-merged with overrides';

CREATE FUNCTION mf._create_model_from_yaml(config text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	RETURN mf._create_model(mf._yaml_to_jsonb(config));
END;
$$;
CREATE FUNCTION mf_create_model_from_yaml(config text) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_create_model_from_yaml(text) IS 'create a model from a YAML config';

CREATE FUNCTION mf._register_model(ref text, name text DEFAULT NULL, version text DEFAULT NULL,
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
CREATE FUNCTION mf_register_model(ref text, name text DEFAULT NULL, version text DEFAULT NULL,
								  description text DEFAULT NULL, tags text[] DEFAULT NULL,
								  metadata jsonb DEFAULT NULL, metrics jsonb DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_register_model(text, text, text, text, text[], jsonb, jsonb) IS
	'name or rename a model, set a version string, merge tags, metadata and measured metrics';

CREATE FUNCTION mf._get_model(ref text) RETURNS jsonb
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
CREATE FUNCTION mf_get_model(ref text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_get_model(text) IS
	'everything about one version (config, lineage, metrics, stage, tags, sizes), weights excepted; the training data (category values, source) only for the model''s owner and mf_admin';

-- The known word a mistyped one most likely means, or NULL: one the word
-- starts, ends or is part of, or sharing its first three letters, else one
-- differing in at most two letter positions (a swap of neighbours, a typo).
CREATE FUNCTION mf._nearest_word(word text, known text[]) RETURNS text
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
CREATE FUNCTION mf._known_word(what text, word text, known text[]) RETURNS text
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

CREATE FUNCTION mf_search_models(tags text[] DEFAULT NULL, min_accuracy float8 DEFAULT NULL,
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

CREATE FUNCTION mf._create_version(base_model text, improvements text[] DEFAULT '{}',
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
CREATE FUNCTION mf_create_version(base_model text, improvements text[] DEFAULT '{}',
								  config_updates jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_create_version(text, text[], jsonb) IS
	'new version from a base: JSON merge patch over its config, lineage kept, minor version bump';

CREATE FUNCTION mf._set_stage(ref text, stage text) RETURNS text
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
CREATE FUNCTION mf_set_stage(ref text, stage text) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_set_stage(text, text) IS
	'move a version to a lifecycle stage; production needs a trained version and archives the previous one';

CREATE FUNCTION mf._set_alias(ref text, alias text) RETURNS text
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
CREATE FUNCTION mf_set_alias(ref text, alias text) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_set_alias(text, text) IS 'point a named alias (champion, challenger, ...) at a version';

CREATE FUNCTION mf._drop_alias(model text, alias text) RETURNS void
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
CREATE FUNCTION mf_drop_alias(model text, alias text) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_drop_alias(text, text) IS 'remove an alias from a model';

CREATE FUNCTION mf_list_templates() RETURNS TABLE(name text, family text, description text, config jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT t.name, t.family, t.description, t.config FROM mf.templates t ORDER BY t.name;
$$;
COMMENT ON FUNCTION mf_list_templates() IS 'templates usable with mf_create_model(template, config)';

CREATE FUNCTION mf._drop_model(name text) RETURNS void
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
CREATE FUNCTION mf_drop_model(name text) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_drop_model(text) IS 'drop a model with all its versions, artifacts and aliases (its events stay; its live deployments are undeployed)';
