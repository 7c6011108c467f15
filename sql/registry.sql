-- ---------------------------------------------------------------------------
-- Internal helpers
-- ---------------------------------------------------------------------------

-- Sort key of a semantic version.
CREATE FUNCTION mf._semver_key(version text) RETURNS integer[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN string_to_array(version, '.')::integer[];

-- Check a semantic version string, raising 22023 naming 'what'.
CREATE FUNCTION mf._check_semver(version text, what text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
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

-- Check a model name, raising 22023 naming 'what'.
CREATE FUNCTION mf._check_name(name text, what text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
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

-- Resolve a ref ('name', 'name:1.2.0', 'name@stage', 'name@alias') to a version.
CREATE FUNCTION mf._resolve(ref text, OUT version_id bigint, OUT model_id bigint,
							OUT model_name text, OUT version text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	m		text[];
	label	text;
BEGIN
	m := regexp_match(ref, '^([a-z][a-z0-9_]{0,62})(?:(:)([^:@]+)|(@)([a-z][a-z0-9_]{0,62}))?$');
	IF m IS NULL THEN
		RAISE EXCEPTION 'invalid model reference "%"', ref
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A reference is ''name'', ''name:1.2.0'', ''name@staging'' or ''name@alias''.';
	END IF;
	SELECT mo.model_id, mo.name INTO model_id, model_name FROM mf.models mo WHERE mo.name = m[1];
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', m[1]
			USING ERRCODE = 'undefined_object',
				  HINT = 'mf_search_models() lists the registered models.';
	END IF;

	IF m[2] = ':' THEN
		SELECT v.version_id, v.version INTO version_id, version
		  FROM mf.model_versions v WHERE v.model_id = _resolve.model_id AND v.version = m[3];
		IF NOT FOUND THEN
			RAISE EXCEPTION 'version "%" of model "%" does not exist', m[3], m[1]
				USING ERRCODE = 'undefined_object',
					  HINT = format('SELECT version FROM mf.catalog WHERE model = %L lists its versions.', m[1]);
		END IF;
	ELSIF m[4] = '@' THEN
		label := m[5];
		IF label IN ('development', 'staging', 'production', 'archived') THEN
			SELECT v.version_id, v.version INTO version_id, version
			  FROM mf.model_versions v WHERE v.model_id = _resolve.model_id AND v.stage = label
			 ORDER BY v.version_id DESC LIMIT 1;
			IF NOT FOUND THEN
				RAISE EXCEPTION 'model "%" has no version in stage "%"', m[1], label
					USING ERRCODE = 'undefined_object',
						  HINT = 'mf_set_stage() moves a version to a stage.';
			END IF;
		ELSE
			SELECT v.version_id, v.version INTO version_id, version
			  FROM mf.aliases a JOIN mf.model_versions v USING (version_id)
			 WHERE a.model_id = _resolve.model_id AND a.alias = label;
			IF NOT FOUND THEN
				RAISE EXCEPTION 'model "%" has no alias "%"', m[1], label
					USING ERRCODE = 'undefined_object',
						  HINT = 'mf_set_alias() creates an alias; stages are development, staging, production and archived.';
			END IF;
		END IF;
	ELSE
		SELECT v.version_id, v.version INTO version_id, version
		  FROM mf.model_versions v WHERE v.model_id = _resolve.model_id
		 ORDER BY (v.stage = 'production') DESC, v.version_id DESC LIMIT 1;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'model "%" has no versions', m[1] USING ERRCODE = 'undefined_object';
		END IF;
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._resolve(text) IS 'resolve a model reference to its version; 42704 when unknown';

-- Append one audit event.
CREATE FUNCTION mf._event(action text, model_id bigint, model_name text, version_id bigint,
						  version text, before jsonb, after jsonb) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO mf.events (action, model_id, model_name, version_id, version, before, after)
	VALUES (action, model_id, model_name, version_id, version, before, after);
$$;

-- Lock a model row for the rest of the transaction (serialises version creation).
CREATE FUNCTION mf._lock_model(model_id bigint) RETURNS mf.models
LANGUAGE sql AS $$
	SELECT * FROM mf.models m WHERE m.model_id = _lock_model.model_id FOR UPDATE;
$$;

-- Expand a top-level "template" key from mf.templates (RFC 7386 merge of the rest over it).
CREATE FUNCTION mf._expand_template(config jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
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
LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT format('%s.%s.0', k[1], k[2] + 1)
					   FROM (SELECT mf._semver_key(v.version) AS k FROM mf.model_versions v
							  WHERE v.model_id = _next_version.model_id
							  ORDER BY 1 DESC LIMIT 1) s),
					'1.0.0');
$$;

-- Insert a version from a config (already template-expanded); returns 'name:version'.
CREATE FUNCTION mf._add_version(config jsonb, parent_version_id bigint, improvements text[],
								expect_model_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
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
		INSERT INTO mf.models (name, family, description, tags)
		VALUES (n.config ->> 'name', n.family, n.config ->> 'description',
				coalesce(ARRAY(SELECT jsonb_array_elements_text(n.config -> 'tags')), '{}'))
		ON CONFLICT (name) DO NOTHING
		RETURNING * INTO mdl;
		created := FOUND;
		IF NOT created THEN
			SELECT * INTO mdl FROM mf.models m WHERE m.name = n.config ->> 'name';
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
								   improvements, n_parameters, dependencies)
	VALUES (mdl.model_id, vname, stored, n.config_hash, parent_version_id, coalesce(improvements, '{}'),
			n.n_parameters,
			mf._build_info() || jsonb_build_object('mf_ext',
				(SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'mf_ext')))
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
LANGUAGE sql STABLE AS $$
	SELECT m.name || ':' || v.version FROM mf.model_versions v JOIN mf.models m USING (model_id)
	 WHERE v.version_id = _ref.version_id;
$$;

-- ---------------------------------------------------------------------------
-- Registry API
-- ---------------------------------------------------------------------------

CREATE FUNCTION mf_create_model(config jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN mf._add_version(mf._expand_template(config), NULL, '{}', NULL);
END;
$$;
COMMENT ON FUNCTION mf_create_model(jsonb) IS 'validate a config, create the model if new and a version; returns name:version';

CREATE FUNCTION mf_create_model(template text, config jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM mf.templates t WHERE t.name = template) THEN
		RAISE EXCEPTION 'template "%" does not exist', template
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'Known templates: ' || (SELECT string_agg(t.name, ', ' ORDER BY t.name) FROM mf.templates t) || '.',
				  HINT = 'mf_list_templates() lists the templates.';
	END IF;
	RETURN mf_create_model(jsonb_build_object('template', template) || coalesce(config, '{}'));
END;
$$;
COMMENT ON FUNCTION mf_create_model(text, jsonb) IS 'create a model from a named template deep-merged with overrides';

CREATE FUNCTION mf_create_model_from_yaml(config text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN mf_create_model(mf._yaml_to_jsonb(config));
END;
$$;
COMMENT ON FUNCTION mf_create_model_from_yaml(text) IS 'create a model from a YAML config';

CREATE FUNCTION mf_register_model(ref text, name text DEFAULT NULL, version text DEFAULT NULL,
								  description text DEFAULT NULL, tags text[] DEFAULT NULL,
								  metadata jsonb DEFAULT NULL, metrics jsonb DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r		record;
	before	jsonb;
	bad		text;
BEGIN
	SELECT * INTO r FROM mf._resolve(ref);
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
	END IF;
	IF tags IS NOT NULL AND array_position(tags, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'tags must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;

	IF name IS NOT NULL AND name <> r.model_name THEN
		PERFORM mf._check_name(name, 'name');
		IF EXISTS (SELECT 1 FROM mf.models m WHERE m.name = mf_register_model.name) THEN
			RAISE EXCEPTION 'model "%" already exists', name USING ERRCODE = 'duplicate_object';
		END IF;
		UPDATE mf.models m SET name = mf_register_model.name, updated_at = now() WHERE m.model_id = r.model_id;
		UPDATE mf.model_versions v SET config = jsonb_set(v.config, '{name}', to_jsonb(mf_register_model.name))
		 WHERE v.model_id = r.model_id;
	END IF;
	IF version IS NOT NULL AND version <> r.version THEN
		PERFORM mf._check_semver(version, 'version');
		IF EXISTS (SELECT 1 FROM mf.model_versions v WHERE v.model_id = r.model_id AND v.version = mf_register_model.version) THEN
			RAISE EXCEPTION 'version "%" of model "%" already exists', version, coalesce(name, r.model_name)
				USING ERRCODE = 'duplicate_object';
		END IF;
		UPDATE mf.model_versions v SET version = mf_register_model.version WHERE v.version_id = r.version_id;
	END IF;
	UPDATE mf.models m
	   SET description = coalesce(mf_register_model.description, m.description),
		   tags = CASE WHEN mf_register_model.tags IS NULL THEN m.tags
					   ELSE m.tags || ARRAY(SELECT DISTINCT t FROM unnest(mf_register_model.tags) t
											 WHERE t <> ALL (m.tags) ORDER BY t) END,
		   updated_at = now()
	 WHERE m.model_id = r.model_id;
	UPDATE mf.model_versions v
	   SET metadata = v.metadata || coalesce(mf_register_model.metadata, '{}'),
		   metrics = v.metrics || coalesce(mf_register_model.metrics, '{}')
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
COMMENT ON FUNCTION mf_register_model(text, text, text, text, text[], jsonb, jsonb) IS
	'name or rename a model, set a version string, merge tags, metadata and measured metrics';

CREATE FUNCTION mf_get_model(ref text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
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
			'feature_schema', v.feature_schema,
			'training_spec', v.training_spec,
			'dependencies', v.dependencies,
			'artifact', (SELECT jsonb_build_object('format_version', a.format_version, 'size_bytes', a.size_bytes,
												   'sha256', a.sha256, 'created_at', a.created_at)
						   FROM mf.artifacts a WHERE a.version_id = v.version_id),
			'created_at', v.created_at,
			'trained_at', v.trained_at,
			'created_by', v.created_by)
	  FROM r JOIN mf.model_versions v USING (version_id) JOIN mf.models m ON m.model_id = v.model_id;
$$;
COMMENT ON FUNCTION mf_get_model(text) IS 'everything about one version (config, lineage, metrics, stage, tags, sizes), weights excepted';

CREATE FUNCTION mf_search_models(tags text[] DEFAULT NULL, min_accuracy float8 DEFAULT NULL,
								 family text DEFAULT NULL, stage text DEFAULT NULL)
	RETURNS SETOF mf.catalog
LANGUAGE sql STABLE AS $$
	SELECT * FROM mf.catalog c
	 WHERE (mf_search_models.tags IS NULL OR c.tags @> mf_search_models.tags)
	   AND (mf_search_models.min_accuracy IS NULL OR c.accuracy >= mf_search_models.min_accuracy)
	   AND (mf_search_models.family IS NULL OR c.family = mf_search_models.family)
	   AND (mf_search_models.stage IS NULL OR c.stage = mf_search_models.stage)
	 ORDER BY c.model, mf._semver_key(c.version);
$$;
COMMENT ON FUNCTION mf_search_models(text[], float8, text, text) IS
	'versions having all the given tags, at least the given accuracy, the family and the stage (NULL: any)';

CREATE FUNCTION mf_create_version(base_model text, improvements text[] DEFAULT '{}',
								  config_updates jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r		record;
	base	jsonb;
BEGIN
	SELECT * INTO r FROM mf._resolve(base_model);
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
	RETURN mf._add_version(mf._merge_patch(base, config_updates), r.version_id, improvements, r.model_id);
END;
$$;
COMMENT ON FUNCTION mf_create_version(text, text[], jsonb) IS
	'new version from a base: JSON merge patch over its config, lineage kept, minor version bump';

CREATE FUNCTION mf_set_stage(ref text, stage text) RETURNS text
LANGUAGE plpgsql AS $$
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
	UPDATE mf.model_versions v SET stage = mf_set_stage.stage WHERE v.version_id = r.version_id;
	PERFORM mf._event('set_stage', r.model_id, r.model_name, r.version_id, r.version,
					  jsonb_build_object('stage', cur.stage), jsonb_build_object('stage', stage));
	RETURN mf._ref(r.version_id);
END;
$$;
COMMENT ON FUNCTION mf_set_stage(text, text) IS
	'move a version to a lifecycle stage; production needs a trained version and archives the previous one';

CREATE FUNCTION mf_set_alias(ref text, alias text) RETURNS text
LANGUAGE plpgsql AS $$
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
	PERFORM mf._lock_model(r.model_id);
	SELECT a.version_id INTO old FROM mf.aliases a WHERE a.model_id = r.model_id AND a.alias = mf_set_alias.alias;
	INSERT INTO mf.aliases (model_id, alias, version_id) VALUES (r.model_id, alias, r.version_id)
	ON CONFLICT ON CONSTRAINT aliases_pkey DO UPDATE SET version_id = EXCLUDED.version_id, updated_at = now();
	PERFORM mf._event('set_alias', r.model_id, r.model_name, r.version_id, r.version,
					  CASE WHEN old IS NULL THEN NULL ELSE jsonb_build_object('alias', alias, 'ref', mf._ref(old)) END,
					  jsonb_build_object('alias', alias, 'ref', mf._ref(r.version_id)));
	RETURN mf._ref(r.version_id);
END;
$$;
COMMENT ON FUNCTION mf_set_alias(text, text) IS 'point a named alias (champion, challenger, ...) at a version';

CREATE FUNCTION mf_drop_alias(model text, alias text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	mid		bigint;
	old		bigint;
BEGIN
	SELECT m.model_id INTO mid FROM mf.models m WHERE m.name = model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', model USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM mf._lock_model(mid);
	DELETE FROM mf.aliases a WHERE a.model_id = mid AND a.alias = mf_drop_alias.alias RETURNING a.version_id INTO old;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" has no alias "%"', model, alias USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM mf._event('drop_alias', mid, model, old, (SELECT v.version FROM mf.model_versions v WHERE v.version_id = old),
					  jsonb_build_object('alias', alias, 'ref', mf._ref(old)), NULL);
END;
$$;
COMMENT ON FUNCTION mf_drop_alias(text, text) IS 'remove an alias from a model';

CREATE FUNCTION mf_list_templates() RETURNS TABLE(name text, family text, description text, config jsonb)
LANGUAGE sql STABLE AS $$
	SELECT t.name, t.family, t.description, t.config FROM mf.templates t ORDER BY t.name;
$$;
COMMENT ON FUNCTION mf_list_templates() IS 'templates usable with mf_create_model(template, config)';

CREATE FUNCTION mf_drop_model(name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	mdl		mf.models;
BEGIN
	DELETE FROM mf.models m WHERE m.name = mf_drop_model.name RETURNING * INTO mdl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM mf._event('drop_model', mdl.model_id, mdl.name, NULL, NULL,
					  jsonb_build_object('family', mdl.family, 'tags', mdl.tags), NULL);
END;
$$;
COMMENT ON FUNCTION mf_drop_model(text) IS 'drop a model with all its versions, artifacts and aliases (its events stay)';
