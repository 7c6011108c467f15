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
	r		record;
	v		mf.model_versions;
	fam		text;
	k		text;
	opts	record;
	cfg		record;
	res		record;
	fin		record;
BEGIN
	IF ref IS NULL OR source IS NULL THEN
		RAISE EXCEPTION 'ref and source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	options := mf._options_object(options);
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
	SELECT * INTO opts FROM mf._train_options(v.config, options);
	SELECT * INTO cfg FROM mf._normalize_config(mf._merge_patch(v.config, opts.patch));

	SELECT * INTO res FROM mf._train_run(fam, cfg.config, source, target, opts.runopts);

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


-- Options of a training call: '{}' for NULL, 22023 unless a JSON object.
CREATE FUNCTION mf._options_object(options jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
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
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	run_keys constant text[] := ARRAY['features', 'test_size', 'seed', 'stratify', 'max_rows',
									  'max_categories', 'impute', 'standardize'];
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
