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

CREATE FUNCTION mf._store_reference(version_id bigint, reference jsonb) RETURNS void
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

CREATE FUNCTION mf._drift_run(reference jsonb, source text, author oid, search_path text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_drift_run'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf._drift_run(jsonb, text, oid, text) IS
	'read a source (as role author, names resolved on search_path) and compare every feature with its stored reference: [{feature, psi, ks, status, n_rows}]';

CREATE FUNCTION mf._drift(ref text, source text)
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
CREATE FUNCTION mf_drift(ref text, source text)
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
CREATE FUNCTION mf._deploy_log_option(v jsonb, OUT stored jsonb, OUT problems text[])
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

CREATE FUNCTION mf._outcomes_run(source text, id_column text, target text, author oid, search_path text)
	RETURNS TABLE(row_id text, label text)
	AS 'MODULE_PATHNAME', 'mf_outcomes_run'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf._outcomes_run(text, text, text, oid, text) IS
	'every row of a table, view or query as (id_column::text, target::text), read as role author on search_path';

-- Whether a logged prediction equals a label: the label text of a JSON
-- string or boolean, of an object's "label" member, or a number equal to a
-- numeric label.
CREATE FUNCTION mf._outcome_correct(prediction jsonb, label text) RETURNS float8
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

CREATE FUNCTION mf._record_outcomes(ref text, source text, id_column text, target text) RETURNS bigint
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
CREATE FUNCTION mf_record_outcomes(ref text, source text, id_column text, target text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_record_outcomes(text, text, text, text) IS
	'record labels that became known later (id_column and target of a table, view or query, run with the caller''s rights) for a model''s logged predictions (mf.prediction_log, row_id = id_column as text), and write live accuracy per version and UTC day into mf.model_performance; a ref naming a version (name:1.2.0) limits it to that version; returns the predictions matched; the model''s owner and mf_admin only';

-- The problem of one prediction-log line (mf-serve --prediction-log, the
-- in-database server's format) for a deployment of model_name, or NULL.
CREATE FUNCTION mf._prediction_line_problem(line jsonb, model_name text) RETURNS text
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
CREATE FUNCTION mf._import_predictions(deployment_id bigint, lines jsonb) RETURNS bigint
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
	 WHERE NOT EXISTS (SELECT 1 FROM mf.prediction_log p  -- index prediction_log_row
						WHERE p.model_name = d.model_name AND p.row_id = l ->> 'row_id'
						  AND p.deployment_id = d.deployment_id
						  AND p.request_id IS NOT DISTINCT FROM l ->> 'request_id'
						  AND p.logged_at = to_timestamp((l ->> 'at')::float8));
	GET DIAGNOSTICS added = ROW_COUNT;
	RETURN added;
END;
$$;
CREATE FUNCTION mf_import_predictions(deployment_id bigint, lines jsonb) RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_import_predictions(bigint, jsonb) IS
	'load the lines of an mf-serve --prediction-log file (a JSON array of them, e.g. jsonb_agg of a table COPY filled) into mf.prediction_log as the predictions of a deployment, so mf_record_outcomes joins them; every line checked (22023 naming the first bad one, nothing imported), lines already loaded skipped; the model''s owner and mf_admin only; returns the rows added';
