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
CREATE FUNCTION mf._health_defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp
RETURN '{"interval": 30, "timeout": 5, "unhealthy_after": 3, "response_time_ms": 1000}'::jsonb;

-- Seconds of a duration option (a number of seconds, or an interval text such
-- as "30 s" or "1 min") within [lo, hi]; NULL with a problem otherwise.
CREATE FUNCTION mf._health_seconds(path text, value jsonb, lo float8, hi float8,
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
CREATE FUNCTION mf._positive_number_problem(path text, value jsonb, max float8) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN jsonb_typeof(value) = 'number' AND (value #>> '{}')::float8 > 0
					 AND (value #>> '{}')::float8 <= max THEN NULL
				ELSE format('%s: must be a positive number (at most %s), got %s', path, max, left(value::text, 100)) END;
$$;

-- Validate and normalise options.health: every problem as 'path: problem'
-- and the options to store (durations in seconds; defaults not stored).
CREATE FUNCTION mf._health_options(health jsonb, path text, OUT stored jsonb, OUT problems text[])
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
CREATE FUNCTION mf._endpoint_base(endpoint text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT rtrim(regexp_replace(endpoint, '/v[12]/models/[^/]*$', ''), '/');
$$;

-- The problem of an endpoint URL, or NULL.
CREATE FUNCTION mf._endpoint_problem(url text) RETURNS text
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
CREATE FUNCTION mf._set_endpoint(deployment_id bigint, url text, health jsonb DEFAULT NULL) RETURNS mf.deployments
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
CREATE FUNCTION mf_set_endpoint(deployment_id bigint, url text, health jsonb DEFAULT NULL) RETURNS mf.deployments
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_set_endpoint(bigint, text, jsonb) IS
	'record the URL a deployment is served at (http://host:port of an mf-serve or a container; NULL: back to the in-database server for http), polled and scraped by the monitor worker; health replaces options.health; by the model''s owner or mf_admin; returns the row';

-- ---------------------------------------------------------------------------
-- The monitor worker's calls (src/monitor_worker.c, src/monitor_health.c)
-- ---------------------------------------------------------------------------

-- One canary row for a version: mf._test_rows' first row when that function
-- exists (rows the version was tested on), else NULL.
CREATE FUNCTION mf._monitor_canary(ref text) RETURNS jsonb
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
CREATE FUNCTION mf._monitor_targets()
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
CREATE FUNCTION mf._status_before_unhealthy(d mf.deployments) RETURNS text
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
CREATE FUNCTION mf._record_health(deployment_id bigint, checked_at timestamptz, checks text[], oks boolean[],
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
CREATE FUNCTION mf._record_serving_metrics(deployment_id bigint, served_name text, model_name text, version text,
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
CREATE FUNCTION mf._purge_monitoring(keep interval, batch integer) RETURNS bigint
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
