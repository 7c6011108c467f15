/*
 * mf_ext 0.1.0 - the model catalog (schema mf) and the registry API.
 *
 * Design: catalog tables hold the truth; the registry functions are short
 * PL/pgSQL over them, running with the caller's privileges.  Config parsing,
 * validation, normalisation and parameter counting are C (mf_core, over the
 * pure C library in kernels/).  Functions users call live in the extension's
 * schema (mf_*); helpers live in schema mf and start with an underscore.
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
COMMENT ON FUNCTION mf._merge_patch(jsonb, jsonb) IS 'RFC 7386 JSON merge patch';

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
	owner		name NOT NULL DEFAULT current_user,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.models IS 'one row per model: a named family of versions';
COMMENT ON COLUMN mf.models.model_id IS 'surrogate key';
COMMENT ON COLUMN mf.models.name IS 'unique model name: lowercase letter, then up to 62 lowercase letters, digits or underscores';
COMMENT ON COLUMN mf.models.family IS 'model family: linear_regression, logistic_regression, mlp, kmeans or transformer';
COMMENT ON COLUMN mf.models.description IS 'free-text description';
COMMENT ON COLUMN mf.models.tags IS 'labels for search (GIN-indexed; mf_search_models matches all given tags)';
COMMENT ON COLUMN mf.models.owner IS 'role that created the model';
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
	created_by	name NOT NULL DEFAULT current_user,
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
COMMENT ON COLUMN mf.model_versions.feature_schema IS 'input features: names, types, encodings, scaling, labels (set by training)';
COMMENT ON COLUMN mf.model_versions.training_spec IS 'source, target, features and options of the training run, for retraining';
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
	actor		name NOT NULL DEFAULT current_user,
	action		text NOT NULL
				CONSTRAINT events_action_known CHECK (action IN ('create_model', 'create_version', 'register', 'set_stage',
																  'set_alias', 'drop_alias', 'drop_model', 'train')),
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
COMMENT ON COLUMN mf.events.actor IS 'role that did it';
COMMENT ON COLUMN mf.events.action IS 'create_model, create_version, register, set_stage, set_alias, drop_alias, drop_model or train';
COMMENT ON COLUMN mf.events.model_id IS 'the model (kept after the model is dropped)';
COMMENT ON COLUMN mf.events.model_name IS 'the model name at the time';
COMMENT ON COLUMN mf.events.version_id IS 'the version concerned, if any';
COMMENT ON COLUMN mf.events.version IS 'the version string at the time';
COMMENT ON COLUMN mf.events.before IS 'state before the change';
COMMENT ON COLUMN mf.events.after IS 'state after the change';
CREATE INDEX events_model ON mf.events (model_id, event_id);

-- mf.events rejects UPDATE, DELETE and TRUNCATE, whoever asks.
CREATE FUNCTION mf._events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
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

CREATE VIEW mf.catalog AS
SELECT m.name AS model,
	   v.version,
	   m.name || ':' || v.version AS ref,
	   m.family,
	   v.stage,
	   v.status,
	   m.tags,
	   (v.metrics ->> 'accuracy')::float8 AS accuracy,
	   v.metrics,
	   v.n_parameters,
	   m.description,
	   v.created_at,
	   m.model_id,
	   v.version_id
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
COMMENT ON COLUMN mf.catalog.accuracy IS 'metrics.accuracy, when measured';
COMMENT ON COLUMN mf.catalog.metrics IS 'all metrics';
COMMENT ON COLUMN mf.catalog.n_parameters IS 'trainable parameters';
COMMENT ON COLUMN mf.catalog.description IS 'model description';
COMMENT ON COLUMN mf.catalog.created_at IS 'when the version was created';
COMMENT ON COLUMN mf.catalog.model_id IS 'model key';
COMMENT ON COLUMN mf.catalog.version_id IS 'version key';

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

-- Everyone may read the catalog; writing goes through grants the DBA gives.
GRANT USAGE ON SCHEMA mf TO PUBLIC;
GRANT SELECT ON mf.models, mf.model_versions, mf.aliases, mf.templates, mf.events, mf.catalog TO PUBLIC;
GRANT SELECT (version_id, format_version, size_bytes, sha256, created_at) ON mf.artifacts TO PUBLIC;

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

-- ---------------------------------------------------------------------------
-- In-database training (src/train.c, src/train_fit.c, src/features.c)
-- ---------------------------------------------------------------------------

CREATE FUNCTION mf._train_run(family text, config jsonb, source text, target text, options jsonb,
							  OUT artifact bytea, OUT format_version integer, OUT feature_schema jsonb,
							  OUT metrics jsonb, OUT config_updates jsonb)
	RETURNS record
	AS 'MODULE_PATHNAME', 'mf_train_run'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._train_run(text, jsonb, text, text, jsonb) IS
	'read a source, encode its features, fit one family on a normalised config; returns the artifact, feature schema, metrics and learned config keys (no catalog writes)';

CREATE FUNCTION mf._evaluate_run(artifact bytea, source text, target text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_evaluate_run'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf._evaluate_run(bytea, text, text) IS
	'validate an artifact (XX001 when damaged), apply its feature schema to a source and compute the metrics of training';

CREATE FUNCTION mf._artifact_tensors(artifact bytea) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_artifact_tensors'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf._artifact_tensors(bytea) IS 'every tensor of a validated artifact as {name: [values, row-major]}';

CREATE FUNCTION mf._model_weights(ref text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
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

CREATE FUNCTION mf_train(ref text, source text, target text DEFAULT NULL, options jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	run_keys constant text[] := ARRAY['features', 'test_size', 'seed', 'stratify', 'max_rows',
									  'max_categories', 'impute', 'standardize'];
	fixed_keys constant text[] := ARRAY['name', 'family', 'data', 'n_features', 'training', 'num_classes',
										'n_outputs', 'task', 'version', 'description', 'tags'];
	r		record;
	v		mf.model_versions;
	fam		text;
	hyper_keys text[];
	train_keys text[] := '{}';
	k		text;
	patch	jsonb := '{}';
	tpatch	jsonb := '{}';
	runopts jsonb := '{}';
	cfg		record;
	res		record;
	fin		record;
BEGIN
	IF ref IS NULL OR source IS NULL THEN
		RAISE EXCEPTION 'ref and source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	options := coalesce(options, '{}');
	IF jsonb_typeof(options) <> 'object' THEN
		RAISE EXCEPTION 'options must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got a JSON %s.', jsonb_typeof(options));
	END IF;
	SELECT * INTO r FROM mf._resolve(ref);
	PERFORM mf._lock_model(r.model_id);
	SELECT * INTO v FROM mf.model_versions mv WHERE mv.version_id = r.version_id;
	IF v.status = 'trained' THEN
		-- two statements: the resolving query needs a snapshot that sees the new version
		k := mf_create_version(mf._ref(r.version_id), ARRAY['retrained'], '{}');
		SELECT * INTO r FROM mf._resolve(k);
		SELECT * INTO v FROM mf.model_versions mv WHERE mv.version_id = r.version_id;
	END IF;
	fam := v.config ->> 'family';

	-- options: run options, family hyperparameters, mlp training keys
	hyper_keys := ARRAY(SELECT jsonb_object_keys(v.config) EXCEPT SELECT unnest(fixed_keys));
	IF fam = 'mlp' THEN
		train_keys := ARRAY(SELECT jsonb_object_keys(v.config -> 'training'));
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
	SELECT * INTO cfg FROM mf._normalize_config(mf._merge_patch(v.config, patch));

	SELECT * INTO res FROM mf._train_run(fam, cfg.config, source, target, runopts);

	SELECT * INTO fin FROM mf._normalize_config(cfg.config || res.config_updates);
	UPDATE mf.model_versions mv
	   SET config = fin.config - 'version' - 'description' - 'tags',
		   config_hash = fin.config_hash,
		   n_parameters = fin.n_parameters,
		   feature_schema = res.feature_schema,
		   training_spec = jsonb_build_object(
				'source', source, 'target', target,
				'features', (SELECT jsonb_agg(c -> 'name') FROM jsonb_array_elements(res.feature_schema -> 'columns') c),
				'options', options),
		   metrics = res.metrics,
		   status = 'trained',
		   trained_at = now()
	 WHERE mv.version_id = r.version_id;
	INSERT INTO mf.artifacts (version_id, format_version, bytes)
	VALUES (r.version_id, res.format_version, res.artifact)
	ON CONFLICT (version_id) DO UPDATE
		SET format_version = EXCLUDED.format_version, bytes = EXCLUDED.bytes, created_at = now();
	PERFORM mf._event('train', r.model_id, r.model_name, r.version_id, r.version,
					  jsonb_build_object('status', v.status),
					  jsonb_build_object('status', 'trained', 'n_parameters', fin.n_parameters,
										 'metrics', res.metrics - 'history' - 'confusion_matrix' - 'labels'));
	RETURN mf._ref(r.version_id);
END;
$$;
COMMENT ON FUNCTION mf_train(text, text, text, jsonb) IS
	'train a version in this session on a table, view or SELECT; a trained version is first derived into a new one; returns name:version';

CREATE FUNCTION mf_evaluate(ref text, source text, target text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
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
	RETURN mf._evaluate_run(bytes, source, target);
END;
$$;
COMMENT ON FUNCTION mf_evaluate(text, text, text) IS
	'metrics of a trained version on a table, view or SELECT (same encoding and metrics as training; XX001 for a damaged artifact)';

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
CREATE FUNCTION mf._predict_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'mf_predict_support'
	LANGUAGE C STRICT;
COMMENT ON FUNCTION mf._predict_support(internal) IS
	'planner support of mf_predict, mf_predict_label, mf_predict_proba: passes ARRAY[...] elements and table columns as plain arguments';

CREATE FUNCTION mf._predict_args(ref text, VARIADIC features "any") RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_args'
	LANGUAGE C STABLE PARALLEL SAFE COST 10;
CREATE FUNCTION mf._predict_label_args(ref text, VARIADIC features "any") RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_args'
	LANGUAGE C STABLE PARALLEL SAFE COST 10;
CREATE FUNCTION mf._predict_proba_args(ref text, VARIADIC features "any") RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_args'
	LANGUAGE C STABLE PARALLEL SAFE COST 10;
CREATE FUNCTION mf._predict_cols(ref text, names text[], VARIADIC "columns" "any") RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_cols'
	LANGUAGE C STABLE PARALLEL SAFE COST 20;
CREATE FUNCTION mf._predict_label_cols(ref text, names text[], VARIADIC "columns" "any") RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_cols'
	LANGUAGE C STABLE PARALLEL SAFE COST 20;
CREATE FUNCTION mf._predict_proba_cols(ref text, names text[], VARIADIC "columns" "any") RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_cols'
	LANGUAGE C STABLE PARALLEL SAFE COST 20;
COMMENT ON FUNCTION mf._predict_args(text, "any") IS 'internal: mf_predict(ref, ARRAY[x1, ...]) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_label_args(text, "any") IS 'internal: mf_predict_label(ref, ARRAY[x1, ...]) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_proba_args(text, "any") IS 'internal: mf_predict_proba(ref, ARRAY[x1, ...]) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_cols(text, text[], "any") IS 'internal: mf_predict(ref, row) as the planner rewrites it (names, then the columns)';
COMMENT ON FUNCTION mf._predict_label_cols(text, text[], "any") IS 'internal: mf_predict_label(ref, row) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_proba_cols(text, text[], "any") IS 'internal: mf_predict_proba(ref, row) as the planner rewrites it';

CREATE FUNCTION mf_predict(ref text, features float8[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict(text, float8[]) IS
	'prediction for one row of RAW (unscaled) expanded features, in the order of feature_schema -> ''features''; the stored standardisation is applied inside. Regression: the value; classifier: the label when labels are numeric, else the class index; kmeans: the cluster index';

CREATE FUNCTION mf_predict(ref text, "row" record) RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_record'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 20
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict(text, record) IS
	'prediction for a row whose columns are named as in the feature schema (encoding, imputation and scaling as in training): SELECT mf_predict(''churn'', c) FROM customers c';

CREATE FUNCTION mf_predict(ref text, input jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_predict_jsonb'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION mf_predict(text, jsonb) IS
	'predictions for one JSON object of named features (null imputes) or an array of them: {"prediction", "label", "probabilities"} ({"prediction", "cluster"} for kmeans)';

CREATE FUNCTION mf_predict_label(ref text, features float8[]) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_label(text, float8[]) IS
	'the predicted label text for one row of RAW expanded features (the value or cluster number as text for other models)';

CREATE FUNCTION mf_predict_label(ref text, "row" record) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_record'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 20
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_label(text, record) IS
	'the predicted label text for a row whose columns are named as in the feature schema';

CREATE FUNCTION mf_predict_proba(ref text, features float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_proba(text, float8[]) IS
	'class probabilities (in the order of feature_schema -> ''labels'') for one row of RAW expanded features; classifiers only';

CREATE FUNCTION mf_predict_proba(ref text, "row" record) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_record'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 20
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_proba(text, record) IS
	'class probabilities for a row whose columns are named as in the feature schema; classifiers only';

CREATE FUNCTION mf_predict_batch(ref text, features float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_batch'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_predict_batch(text, float8[]) IS
	'mf_predict for every row of a 2-D array (n rows x RAW expanded features) in one matrix product';

CREATE FUNCTION mf_prewarm(ref text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'mf_prewarm'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_prewarm(text) IS
	'load a trained version into this backend''s model cache (mf.model_cache_mb); true when loaded';
