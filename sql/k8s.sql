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

CREATE FUNCTION mf._k8s_manifest(deployment_id bigint, model_name text, served_name text, version text,
								 version_number bigint, image text, options jsonb) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_k8s_manifest'
	LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION mf._k8s_manifest(bigint, text, text, text, bigint, text, jsonb) IS
	'the Kubernetes manifests of an image deployment (multi-document YAML); every option checked (22023 naming its path)';

CREATE FUNCTION mf._iot_edge_manifest(deployment_id bigint, model_name text, served_name text, version text,
									  version_number bigint, image text, options jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_iot_edge_manifest'
	LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION mf._iot_edge_manifest(bigint, text, text, text, bigint, text, jsonb) IS
	'the Azure IoT Edge deployment manifest of an image deployment; every option checked (22023 naming its path)';

-- A deployment that has an image, with its version; 42704 or 55000 otherwise.
CREATE FUNCTION mf._image_deployment(deployment_id bigint, what text, OUT d mf.deployments, OUT version_id bigint,
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

CREATE FUNCTION mf._render_k8s(deployment_id bigint, options jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT mf._k8s_manifest((x.d).deployment_id, (x.d).model_name, (x.d).name, x.version, x.version_id, (x.d).image,
							 coalesce(options, '{}'))
	  FROM mf._image_deployment(deployment_id, 'render Kubernetes manifests for') x;
$$;
CREATE FUNCTION mf_render_k8s(deployment_id bigint, options jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_render_k8s(bigint, jsonb) IS
	'Kubernetes manifests of an image deployment as multi-document YAML: Deployment (image by digest, probes on /v2/health/ready and /v2/health/live), Service, HorizontalPodAutoscaler autoscaling/v2, and with kserve: true a KServe InferenceService; options name, namespace, replicas, port, resources, service, scaling, image_pull_secret, kserve';

CREATE FUNCTION mf._render_iot_edge(deployment_id bigint, options jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT mf._iot_edge_manifest((x.d).deployment_id, (x.d).model_name, (x.d).name, x.version, x.version_id,
								 (x.d).image, coalesce(options, '{}'))
	  FROM mf._image_deployment(deployment_id, 'render an IoT Edge manifest for') x;
$$;
CREATE FUNCTION mf_render_iot_edge(deployment_id bigint, options jsonb DEFAULT '{}') RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_render_iot_edge(bigint, jsonb) IS
	'Azure IoT Edge deployment manifest of an image deployment (modulesContent: $edgeAgent with runtime, registry credentials as placeholders only, system modules and the model module; $edgeHub routes); options module_name, port, host_port, runtime_version, restart_policy, registry, routes';

-- ---------------------------------------------------------------------------
-- Smoke tests
-- ---------------------------------------------------------------------------

-- Every smoke-test option, normalised: {rows, timeout_ms}; 22023 naming the path.
CREATE FUNCTION mf._smoke_options(options jsonb) RETURNS jsonb
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

CREATE FUNCTION mf._smoke_test(deployment_id bigint, endpoint text, options jsonb DEFAULT '{}') RETURNS bigint
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
CREATE FUNCTION mf_smoke_test(deployment_id bigint, endpoint text, options jsonb DEFAULT '{}') RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_smoke_test(bigint, text, jsonb) IS
	'queue a smoke test of an image deployment: the version''s test rows (options.rows, default 100) sent to the server at endpoint over OIP v2, each answer compared with the database''s; records mf.smoke_tests and makes the deployment verified (its endpoint then the tested one, watched by the monitor worker, unless mf_set_endpoint set one) or failed; returns the job id (mf_wait)';

-- Worker: take a smoke_test job; what to send and the artifact to compare with (no row: nothing to do).
CREATE FUNCTION mf._smoke_begin(job_id bigint, pid integer, OUT deployment_id bigint, OUT endpoint text,
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
CREATE FUNCTION mf._smoke_finish(job_id bigint, rows integer, mismatches integer, latency_p50_ms float8,
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
