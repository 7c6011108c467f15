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

CREATE FUNCTION mf._train_run(family text, config jsonb, source text, target text, options jsonb,
							  author oid, search_path text,
							  OUT artifact bytea, OUT format_version integer, OUT feature_schema jsonb,
							  OUT metrics jsonb, OUT config_updates jsonb, OUT test_rows jsonb, OUT reference jsonb)
	RETURNS record
	AS 'MODULE_PATHNAME', 'mf_train_run'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._train_run(text, jsonb, text, text, jsonb, oid, text) IS
	'read a source (run with the rights of role author, names resolved on search_path), encode its features, fit one family on a normalised config; returns the artifact, feature schema, metrics, learned config keys the raw features of the first test rows and the reference distributions of the raw rows (no catalog writes)';

CREATE FUNCTION mf._evaluate_run(artifact bytea, source text, target text, author oid, search_path text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_evaluate_run'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf._evaluate_run(bytea, text, text, oid, text) IS
	'validate an artifact (XX001 when damaged), apply its feature schema to a source and compute the metrics of training';

CREATE FUNCTION mf._artifact_tensors(artifact bytea) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_artifact_tensors'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf._artifact_tensors(bytea) IS 'every tensor of a validated artifact as {name: [values, row-major]}';

CREATE FUNCTION mf._model_weights(ref text) RETURNS jsonb
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

CREATE FUNCTION mf._check_training(config jsonb, source text, target text, options jsonb,
									author oid, search_path text) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_check_training'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._check_training(jsonb, text, text, jsonb, oid, text) IS
	'check the arguments of a training call as mf._train_run does (family, target, run options, hyperparameters) and read one row of the source (as role author, on search_path): the errors of mf_train(); 0A000 for a temporary table';

CREATE FUNCTION mf._text_option_keys() RETURNS text[]
	AS 'MODULE_PATHNAME', 'mf_text_option_keys'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mf._text_option_keys() IS
	'the run options only transformer (text) models take: their columns and tokenizer (src/train_args.c)';

CREATE FUNCTION mf._run_option_keys() RETURNS text[]
	AS 'MODULE_PATHNAME', 'mf_run_option_keys'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mf._run_option_keys() IS
	'the keys of a training call''s options that are run options, not hyperparameters (src/train_args.c reads them)';

-- What a training call trains, for mf_train, mf_train_async and mf_retrain alike:
-- the version (a trained one is first derived into a new version, tagged
-- retrained), source, target and options defaulted from the config's data
-- section, the run options and the normalised config of the run.  Locks the
-- model; no privilege check (callers check); the arguments are checked in C.
CREATE FUNCTION mf._training_call(ref text, src text, tgt text, opts jsonb,
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
CREATE FUNCTION mf._train_version(ref text, source text, target text, options jsonb,
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
CREATE FUNCTION mf._test_rows(version_id bigint, n integer DEFAULT 100) RETURNS jsonb
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

CREATE FUNCTION mf._train(ref text, source text DEFAULT NULL, target text DEFAULT NULL, options jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	PERFORM mf._require_owner((SELECT r.model_id FROM mf._resolve(ref) r), 'train');
	RETURN mf._train_version(ref, source, target, options, mf._caller(), mf._caller_search_path());
END;
$$;
CREATE FUNCTION mf_train(ref text, source text DEFAULT NULL, target text DEFAULT NULL, options jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_train(text, text, text, jsonb) IS
	'train a version in this session on a table, view or query (default: the config''s data section); a trained version is first derived into a new one; returns name:version';

CREATE FUNCTION mf._evaluate(ref text, source text, target text DEFAULT NULL) RETURNS jsonb
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
CREATE FUNCTION mf_evaluate(ref text, source text, target text DEFAULT NULL) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_evaluate(text, text, text) IS
	'metrics of a trained version on a table, view or SELECT (same encoding and metrics as training; XX001 for a damaged artifact)';


-- Source, target and run options of a training call, defaulted from the
-- config's data section (source, target, features, test_size, max_rows);
-- 22023 without a source, or for data keys tabular training cannot honour.
CREATE FUNCTION mf._data_defaults(config jsonb, src text, tgt text, opts jsonb,
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
CREATE FUNCTION mf._options_object(options jsonb) RETURNS jsonb
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
CREATE FUNCTION mf._train_options(config jsonb, options jsonb, OUT runopts jsonb, OUT patch jsonb)
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
