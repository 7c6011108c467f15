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
CREATE FUNCTION mf._deploy_oci_options(version text, options jsonb, OUT stored jsonb, OUT problems text[])
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
CREATE FUNCTION mf._queue_deploy(ref text, version_id bigint, model_id bigint, model_name text, version text,
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
CREATE FUNCTION mf._deploy_job_begin(job_id bigint, pid integer,
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
CREATE FUNCTION mf._deploy_job_phase(job_id bigint, phase text, progress float8, message text, details jsonb)
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
CREATE FUNCTION mf._deploy_copy(job_id bigint) RETURNS text
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
CREATE FUNCTION mf._deploy_job_finished(job_id bigint, ok boolean, message text, image text, layers text[],
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
CREATE FUNCTION mf._deploy_job_lost(job_id bigint) RETURNS void
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
