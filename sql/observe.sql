-- observe.sql - for people who look: mf_debug(ref) and mf_deployment_log(id).
-- Owns (PL/pgSQL): what the debug report of a version holds (config,
-- artifact checks, feature schema, this backend's cache, deployments, last
-- errors) and what a deployment's log merges (audit events, job lines,
-- health changes, alert firings and resolutions).  Thin callers of C: the
-- artifact check (mf._artifact_loads, src/debug.c: the model module opens it, a
-- transformer's loader builds it) and
-- the cache state (mf._cache_state, src/model_cache.c).  The views over the
-- monitoring tables are sql/observe_views.sql.
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._debug: the debug report
--   mf_deployment_log: the merged log of one deployment (caller's rights)

CREATE FUNCTION mf._artifact_loads(artifact bytea) RETURNS boolean
	AS 'MODULE_PATHNAME', 'mf_artifact_loads'
	LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION mf._artifact_loads(bytea) IS
	'true when the model module opens the artifact (its checks, metadata and layout) and, for a transformer, its loader builds the model and tokenizer; the error (XX001, 0A000) otherwise (src/debug.c)';

CREATE FUNCTION mf._cache_state(version_id bigint) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_cache_state'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mf._cache_state(bigint) IS
	'this backend''s model cache: whether the version is loaded (its bytes, sha256), the cache''s size, models and limit (mf.model_cache_mb)';

-- The checks of a version's stored artifact: present, sha256 as stored,
-- and whether the model module accepts it (its error otherwise).
CREATE FUNCTION mf._artifact_checks(version_id bigint) RETURNS jsonb
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

CREATE FUNCTION mf._debug(ref text) RETURNS jsonb
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
CREATE FUNCTION mf_debug(ref text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_debug(text) IS
	'what to look at when a version misbehaves: config, artifact checks (present, sha256, loads), feature schema (redacted for non-owners), this backend''s cache, deployments with health and open alerts, last errors (jobs, deployments, health checks, alerts)';

-- Read with the caller's rights (as mf_job_log): the tables it merges are
-- mf_reader's to read.
CREATE FUNCTION mf_deployment_log(deployment_id bigint)
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
