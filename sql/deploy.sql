-- deploy.sql - deployments and exports: mf_deploy, mf_undeploy, mf_export_model.
-- Owns (PL/pgSQL): the deployment options (every problem listed with its path,
-- normalisation, the bearer token kept apart as a salted hash), the targets,
-- the served-name rule (one live http deployment per name), the status
-- transitions of a deployment, the endpoint of an http deployment, what renaming
-- or dropping a model does to its deployments, and which version an export
-- takes with which labels.  Thin callers of C (src/deploy.c over image/): salt
-- bytes, and the tar of a served model directory.
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._deploy_auth: the auth option (a bearer token of RFC 6750 syntax, kept
--     only as its salted hash)
--   mf._deploy_traffic: the traffic split (refs of the same model, weights)
--   mf._deploy_options: every deployment option, with every problem's path
--   mf._deploy: recording a deployment (privilege, served name, endpoint, event)
--   mf._undeploy: the end of a deployment (status, secret removed, event)
--   mf._lock_deployment: who may change a deployment (its model's owner, mf_admin)
--
-- Statuses: mf_deploy records an http deployment as 'active' (the in-database
-- HTTP server serves every live http row from its next request on);
-- mf_undeploy, or dropping the model, makes any status but 'undeployed'
-- 'undeployed'.  'queued', 'running', 'verified', 'unhealthy' and 'failed' are
-- for the targets deployed by jobs (images) and for health checks.

-- ---------------------------------------------------------------------------
-- C helpers (src/deploy.c)
-- ---------------------------------------------------------------------------

CREATE FUNCTION mf._random_bytes(n integer) RETURNS bytea
	AS 'MODULE_PATHNAME', 'mf_random_bytes'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mf._random_bytes(integer) IS 'n bytes (1 to 1024) from the server''s strong random source: salts of bearer-token hashes';

CREATE FUNCTION mf._model_dir_tar(name text, version_number bigint, version text, family text, labels text[],
								  trained_at timestamptz, artifact_sha256 text, artifact bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'mf_export_tar'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf._model_dir_tar(text, bigint, text, text, text[], timestamptz, text, bytea) IS
	'deterministic ustar tar of <name>/<version_number>/ holding model.mfa (the artifact) and serving.json (image/model_dir.h)';

-- ---------------------------------------------------------------------------
-- Rules
-- ---------------------------------------------------------------------------

-- Most rows one request of a deployment may score (options.max_batch).
CREATE FUNCTION mf._max_batch_limit() RETURNS integer
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp
RETURN 100000;

-- A deployment target, lowercased: http or oci; anything else is unknown
-- (22023, with a suggestion).
CREATE FUNCTION mf._deploy_target(target text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	t		text := lower(btrim(target));
	near	text := mf._nearest_word(t, ARRAY['http', 'oci']);
BEGIN
	IF t IN ('http', 'oci') THEN
		RETURN t;
	END IF;
	RAISE EXCEPTION 'unknown deployment target "%"', target
		USING ERRCODE = 'invalid_parameter_value',
			  DETAIL = 'Known targets: http (the in-database HTTP server), oci (an image pushed to a registry).',
			  HINT = CASE WHEN near IS NOT NULL THEN format('Did you mean "%s"?', near)
						  ELSE 'mf_deploy(ref) deploys to the in-database HTTP server (target http).' END;
END;
$$;

-- 55000 unless the version is trained and has its artifact ('what': deployed, exported).
CREATE FUNCTION mf._require_trained(version_id bigint, what text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	st		text;
BEGIN
	SELECT v.status || CASE WHEN v.status = 'trained' AND a.version_id IS NULL THEN ' (no artifact)' ELSE '' END
	  INTO st
	  FROM mf.model_versions v LEFT JOIN mf.artifacts a USING (version_id)
	 WHERE v.version_id = _require_trained.version_id;
	IF st IS DISTINCT FROM 'trained' THEN
		RAISE EXCEPTION 'model version "%" is not trained', mf._ref(version_id)
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('Its status is %s; only a trained version can be %s.', st, what),
				  HINT = 'Train it with mf_train(), or name a trained version.';
	END IF;
END;
$$;

-- A JSON path below parent: parent.key for plain keys, parent["key"] otherwise.
CREATE FUNCTION mf._option_path(parent text, key text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN key ~ '^[a-z_][a-z0-9_]{0,62}$' THEN parent || '.' || key
				ELSE parent || '[' || to_jsonb(left(key, 100))::text || ']' END;
$$;

-- 'path: unknown key "k"' with a did-you-mean, or the known keys.
CREATE FUNCTION mf._unknown_key(parent text, key text, known text[]) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT format('%s: unknown key %s', mf._option_path(parent, key), to_jsonb(left(key, 100))::text)
		   || coalesce('; did you mean "' || mf._nearest_word(key, known) || '"?',
					   format(' (known: %s)', array_to_string(known, ', ')));
$$;

-- The problem of a JSON value that must be an integer in [1, max], or NULL.
CREATE FUNCTION mf._positive_integer_problem(path text, value jsonb, max integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF jsonb_typeof(value) = 'number' THEN
		IF value::text::numeric = trunc(value::text::numeric) AND value::text::numeric BETWEEN 1 AND max THEN
			RETURN NULL;
		END IF;
	END IF;
	RETURN format('%s: must be a positive integer (at most %s), got %s', path, max, left(value::text, 100));
END;
$$;

-- The problems of options.auth (never quoting the token) and the token when valid.
CREATE FUNCTION mf._deploy_auth(auth jsonb, OUT token text, OUT problems text[])
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	t		jsonb := auth -> 'bearer_token';
BEGIN
	problems := '{}';
	IF jsonb_typeof(auth) IS DISTINCT FROM 'object' THEN
		problems := ARRAY[format('options.auth: must be an object {"bearer_token": "<at least 16 characters>"}, got %s',
								 jsonb_typeof(auth))];
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM jsonb_object_keys(auth) k WHERE k <> 'bearer_token') THEN
		problems := problems || 'options.auth: only the key bearer_token is allowed'::text;
	END IF;
	IF t IS NULL THEN
		problems := problems || 'options.auth.bearer_token: required'::text;
	ELSIF jsonb_typeof(t) <> 'string' THEN
		problems := problems || format('options.auth.bearer_token: must be a string, got %s', jsonb_typeof(t));
	ELSIF length(t #>> '{}') NOT BETWEEN 16 AND 4096 THEN
		problems := problems || 'options.auth.bearer_token: must have 16 to 4096 characters'::text;
	ELSIF (t #>> '{}') !~ '^[A-Za-z0-9._~+/-]+=*$' THEN
		problems := problems || ('options.auth.bearer_token: may hold only letters, digits and - . _ ~ + /, '
								 'then = padding (an RFC 6750 bearer token)')::text;
	ELSIF cardinality(problems) = 0 THEN
		token := t #>> '{}';
	END IF;
END;
$$;

-- The problems of options.traffic and its stored form: [{ref, version, weight}]
-- ordered by ref, version set for a pinned ref (name:version), NULL for one
-- that follows promotions.  Every ref must name a trained version of the model.
CREATE FUNCTION mf._deploy_traffic(model_name text, traffic jsonb, OUT stored jsonb, OUT problems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	k		text;
	w		jsonb;
	p		text;
	r		record;
	bad		boolean;
	entries jsonb := '[]';
BEGIN
	problems := '{}';
	IF jsonb_typeof(traffic) IS DISTINCT FROM 'object' OR traffic = '{}' THEN
		problems := ARRAY[format('options.traffic: must be a non-empty object {"<ref>": weight, ...}, got %s',
								 CASE WHEN traffic = '{}' THEN 'an empty object' ELSE jsonb_typeof(traffic) END)];
		RETURN;
	END IF;
	IF (SELECT count(*) FROM jsonb_object_keys(traffic)) > 100 THEN
		problems := ARRAY['options.traffic: at most 100 refs'];
		RETURN;
	END IF;
	FOR k, w IN SELECT * FROM jsonb_each(traffic) ORDER BY 1 LOOP
		p := mf._option_path('options.traffic', k);
		IF jsonb_typeof(w) = 'number' THEN
			bad := (w #>> '{}')::numeric <= 0;
		ELSE
			bad := true;
		END IF;
		IF bad THEN
			problems := problems || format('%s: weight must be a positive number, got %s', p, left(w::text, 100));
		END IF;
		IF (regexp_match(k, '^([a-z][a-z0-9_]{0,62})(?:[:@]|$)'))[1] IS DISTINCT FROM model_name THEN
			problems := problems || format('%s: must be a ref of model "%s" (%s, %s:1.0.0, %s@production, %s@<alias>)',
										   p, model_name, model_name, model_name, model_name, model_name);
			CONTINUE;
		END IF;
		BEGIN
			SELECT * INTO r FROM mf._resolve(k);
			PERFORM mf._require_trained(r.version_id, 'deployed');
		EXCEPTION WHEN invalid_parameter_value OR undefined_object OR object_not_in_prerequisite_state THEN
			problems := problems || format('%s: %s', p, SQLERRM);
			CONTINUE;
		END;
		entries := entries || jsonb_build_object('ref', k, 'version', CASE WHEN k LIKE '%:%' THEN r.version END,
												 'weight', w);
	END LOOP;
	stored := entries;
END;
$$;

-- Validate and normalise mf_deploy options for a model: every problem as
-- 'path: problem' (none when valid), the options to store (no secrets; name
-- defaults to the model name) and the bearer token apart.
CREATE FUNCTION mf._deploy_options(model_name text, options jsonb,
								   OUT stored jsonb, OUT bearer_token text, OUT problems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	known	CONSTANT text[] := ARRAY['name', 'auth', 'rate_limit', 'traffic', 'max_batch', 'log_predictions', 'health'];
	k		text;
	v		jsonb;
	sub		record;
	p		text;
BEGIN
	problems := '{}';
	stored := jsonb_build_object('name', model_name);
	IF jsonb_typeof(options) IS DISTINCT FROM 'object' THEN
		problems := ARRAY[format('options: must be a JSON object, got %s', coalesce(jsonb_typeof(options), 'NULL'))];
		RETURN;
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(options) ORDER BY 1 LOOP
		CASE k
			WHEN 'name' THEN
				IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^[a-z][a-z0-9_]{0,62}$' THEN
					problems := problems || format('options.name: must match ^[a-z][a-z0-9_]{0,62}$ (a lowercase letter, then '
												   'lowercase letters, digits or _; at most 63 characters), got %s', left(v::text, 100));
				ELSE
					stored := stored || jsonb_build_object('name', v);
				END IF;
			WHEN 'auth' THEN
				SELECT * INTO sub FROM mf._deploy_auth(v);
				problems := problems || sub.problems;
				bearer_token := sub.token;
			WHEN 'rate_limit' THEN
				IF jsonb_typeof(v) <> 'object' THEN
					problems := problems || format('options.rate_limit: must be an object {"requests_per_minute": N}, got %s',
												   jsonb_typeof(v));
				ELSE
					problems := problems || ARRAY(SELECT mf._unknown_key('options.rate_limit', x, ARRAY['requests_per_minute'])
													FROM jsonb_object_keys(v) x WHERE x <> 'requests_per_minute' ORDER BY 1);
					p := CASE WHEN NOT v ? 'requests_per_minute' THEN 'options.rate_limit.requests_per_minute: required'
							  ELSE mf._positive_integer_problem('options.rate_limit.requests_per_minute',
																v -> 'requests_per_minute', 2147483647) END;
					IF p IS NOT NULL THEN
						problems := problems || p;
					ELSE
						stored := stored || jsonb_build_object('rate_limit', jsonb_build_object('requests_per_minute',
																								  v -> 'requests_per_minute'));
					END IF;
				END IF;
			WHEN 'traffic' THEN
				SELECT * INTO sub FROM mf._deploy_traffic(model_name, v);
				problems := problems || sub.problems;
				stored := stored || jsonb_build_object('traffic', sub.stored);
			WHEN 'health' THEN
				SELECT * INTO sub FROM mf._health_options(v, 'options.health');
				problems := problems || sub.problems;
				stored := stored || jsonb_build_object('health', sub.stored);
			WHEN 'max_batch' THEN
				p := mf._positive_integer_problem('options.max_batch', v, mf._max_batch_limit());
				IF p IS NOT NULL THEN
					problems := problems || p;
				ELSE
					stored := stored || jsonb_build_object('max_batch', v);
				END IF;
			WHEN 'log_predictions' THEN
				SELECT * INTO sub FROM mf._deploy_log_option(v);
				problems := problems || sub.problems;
				stored := stored || coalesce(sub.stored, '{}');
			ELSE
				problems := problems || mf._unknown_key('options', k, known);
		END CASE;
	END LOOP;
END;
$$;

-- The URL of a served model from mf.http_listen_addresses (its first address;
-- localhost for a wildcard or when unset) and mf.http_port; NULL while the
-- port is unset, 0 or not a port.
CREATE FUNCTION mf._http_endpoint(listen_addresses text, port text, name text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN p BETWEEN 1 AND 65535 THEN format('http://%s:%s/v1/models/%s', h, p, name) END
	  FROM (SELECT CASE WHEN btrim(port) ~ '^[0-9]{1,5}$' THEN btrim(port)::integer END AS p,
				   CASE WHEN a IN ('', '*', '0.0.0.0', '::') THEN 'localhost'
						WHEN a LIKE '%:%' THEN '[' || a || ']' ELSE a END AS h
			  FROM (SELECT btrim(split_part(coalesce(listen_addresses, 'localhost'), ',', 1)) AS a) x) y;
$$;
COMMENT ON FUNCTION mf._http_endpoint(text, text, text) IS
	'URL of a served model: http://<first of mf.http_listen_addresses>:<mf.http_port>/v1/models/<name>; NULL when the port is unset or 0';

-- The stored form of a bearer token: sha256$<salt hex>$<hex of sha256(salt || token)>.
CREATE FUNCTION mf._bearer_hash(token text) RETURNS text
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT 'sha256$' || encode(s, 'hex') || '$' || encode(pg_catalog.sha256(s || convert_to(token, 'UTF8')), 'hex')
	  FROM (SELECT mf._random_bytes(16) AS s) x;
$$;

-- A deployment as an event records it (options hold no secret).
CREATE FUNCTION mf._deployment_state(d mf.deployments) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT jsonb_build_object('deployment_id', d.deployment_id, 'target', d.target, 'name', d.name, 'ref', d.ref,
							  'version', d.version, 'endpoint', d.endpoint, 'status', d.status, 'options', d.options);
$$;

-- Mark a live deployment undeployed, forget its secret, record the event.
CREATE FUNCTION mf._set_undeployed(d mf.deployments, model_id bigint) RETURNS mf.deployments
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	after	mf.deployments;
BEGIN
	UPDATE mf.deployments x SET status = 'undeployed', updated_at = now()
	 WHERE x.deployment_id = d.deployment_id
	RETURNING * INTO after;
	DELETE FROM mf.deployment_secrets s WHERE s.deployment_id = d.deployment_id;
	PERFORM mf._event('undeploy', model_id, d.model_name, NULL, d.version,
					  jsonb_build_object('deployment_id', d.deployment_id, 'status', d.status),
					  jsonb_build_object('deployment_id', d.deployment_id, 'status', after.status));
	RETURN after;
END;
$$;

-- Dropping a model undeploys its live deployments (registry.sql, mf._drop_model).
CREATE FUNCTION mf._undeploy_model(model_id bigint, model_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments;
BEGIN
	FOR d IN SELECT * FROM mf.deployments x WHERE x.model_name = _undeploy_model.model_name
											AND x.status <> 'undeployed' ORDER BY x.deployment_id FOR UPDATE LOOP
		PERFORM mf._set_undeployed(d, model_id);
	END LOOP;
END;
$$;

-- A ref after its model or version was renamed.
CREATE FUNCTION mf._renamed_ref(ref text, old_name text, new_name text, old_version text, new_version text)
	RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN m[1] IS DISTINCT FROM old_name THEN ref
				ELSE new_name || CASE WHEN m[2] = ':' || old_version THEN ':' || new_version ELSE coalesce(m[2], '') END END
	  FROM regexp_match(ref, '^([a-z][a-z0-9_]{0,62})([:@].*)?$') m;
$$;

-- Renaming a model or a version (registry.sql, mf._register_model) renames
-- what its deployments name: model_name, ref, a pinned version, traffic refs.
CREATE FUNCTION mf._deployments_renamed(old_name text, new_name text, old_version text, new_version text)
	RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.deployments d
	   SET model_name = new_name,
		   ref = mf._renamed_ref(d.ref, old_name, new_name, old_version, new_version),
		   version = CASE WHEN d.version = old_version THEN new_version ELSE d.version END,
		   options = CASE WHEN NOT d.options ? 'traffic' THEN d.options
						  ELSE d.options || jsonb_build_object('traffic', (
							  SELECT jsonb_agg(e || jsonb_build_object(
										 'ref', mf._renamed_ref(e ->> 'ref', old_name, new_name, old_version, new_version),
										 'version', CASE WHEN e ->> 'version' = old_version THEN to_jsonb(new_version)
														 ELSE e -> 'version' END) ORDER BY n)
								FROM jsonb_array_elements(d.options -> 'traffic') WITH ORDINALITY t(e, n))) END
	 WHERE d.model_name = old_name AND (old_name <> new_name OR old_version <> new_version);
$$;

-- ---------------------------------------------------------------------------
-- Deployment API
-- ---------------------------------------------------------------------------

CREATE FUNCTION mf._deploy(ref text, target text DEFAULT 'http', options jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	tgt		text := mf._deploy_target(target);
	r		record;
	o		record;
	pinned	boolean;
	busy	mf.deployments;
	d		mf.deployments;
BEGIN
	SELECT * INTO r FROM mf._resolve(ref);
	PERFORM mf._require_owner(r.model_id, 'deploy');
	IF tgt = 'oci' THEN
		RETURN mf._queue_deploy(ref, r.version_id, r.model_id, r.model_name, r.version, options);
	END IF;
	SELECT * INTO o FROM mf._deploy_options(r.model_name, coalesce(options, '{}'));
	IF cardinality(o.problems) > 0 THEN
		RAISE EXCEPTION 'invalid deployment options'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = array_to_string(o.problems, E'\n'),
				  HINT = 'Options: name, auth {"bearer_token": ...}, rate_limit {"requests_per_minute": N}, '
						 'traffic {"<ref>": weight, ...}, max_batch, log_predictions, health {"interval": "30 s", ...} (README, "Deployments").';
	END IF;
	PERFORM mf._require_trained(r.version_id, 'deployed');
	PERFORM mf._lock_model(r.model_id);
	pinned := ref LIKE '%:%';

	SELECT * INTO busy FROM mf.deployments x
	 WHERE x.target = 'http' AND x.name = o.stored ->> 'name' AND x.status NOT IN ('undeployed', 'failed');
	IF FOUND THEN
		RAISE EXCEPTION 'served name "%" is already deployed', busy.name
			USING ERRCODE = 'duplicate_object',
				  DETAIL = format('Deployment %s serves %s under it.', busy.deployment_id, busy.ref),
				  HINT = format('Undeploy it first (SELECT mf_undeploy(%s);), or choose another options.name.', busy.deployment_id);
	END IF;
	INSERT INTO mf.deployments (model_name, version, ref, target, name, endpoint, options, status, created_by)
	VALUES (r.model_name, CASE WHEN pinned THEN r.version END, CASE WHEN pinned THEN mf._ref(r.version_id) ELSE ref END,
			tgt, o.stored ->> 'name',
			mf._http_endpoint(current_setting('mf.http_listen_addresses', true), current_setting('mf.http_port', true),
							  o.stored ->> 'name'),
			o.stored, 'active', mf._actor())
	RETURNING * INTO d;
	IF o.bearer_token IS NOT NULL THEN
		INSERT INTO mf.deployment_secrets (deployment_id, bearer_hash) VALUES (d.deployment_id, mf._bearer_hash(o.bearer_token));
	END IF;
	PERFORM mf._event('deploy', r.model_id, r.model_name, r.version_id, r.version, NULL,
					  mf._deployment_state(d) || jsonb_build_object('pinned', pinned,
																	'auth', CASE WHEN o.bearer_token IS NULL THEN 'none' ELSE 'bearer' END));
	IF d.endpoint IS NULL THEN
		RAISE NOTICE 'deployment % of % is recorded; the in-database HTTP server is off', d.deployment_id, d.ref
			USING DETAIL = 'mf.http_port is unset or 0: nothing serves it until the server starts.',
				  HINT = 'Set mf.http_port (e.g. ALTER SYSTEM SET mf.http_port = 8501; SELECT pg_reload_conf();), '
						 'or serve mf_export_model() with mf-serve.';
	END IF;
	RETURN d.deployment_id;
EXCEPTION WHEN unique_violation THEN
	-- another transaction deployed the same served name meanwhile
	RAISE EXCEPTION 'served name "%" is already deployed', o.stored ->> 'name'
		USING ERRCODE = 'duplicate_object',
			  DETAIL = 'Another transaction deployed it at the same time.',
			  HINT = 'Undeploy it first, or choose another options.name.';
END;
$$;
CREATE FUNCTION mf_deploy(ref text, target text DEFAULT 'http', options jsonb DEFAULT '{}') RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate_secret'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_deploy(text, text, jsonb) IS
	'deploy a trained version (name:version: pinned; name, name@stage, name@alias: follows promotions) to target http under options.name; options name, auth {"bearer_token"}, rate_limit {"requests_per_minute"}, traffic {"<ref>": weight}, max_batch, log_predictions (true or {"id_field": member}: served predictions go to mf.prediction_log); returns the deployment id';

-- Lock a deployment for a change that its model's owner or mf_admin may make
-- ('what': undeploy, set the endpoint of); 42704 when it does not exist.
CREATE FUNCTION mf._lock_deployment(deployment_id bigint, what text) RETURNS mf.deployments
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments;
	mid		bigint;
BEGIN
	IF deployment_id IS NULL THEN
		RAISE EXCEPTION 'deployment_id must not be NULL'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'SELECT deployment_id, name, ref, status FROM mf.deployments lists the deployments.';
	END IF;
	SELECT * INTO d FROM mf.deployments x WHERE x.deployment_id = _lock_deployment.deployment_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'deployment % does not exist', deployment_id
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT deployment_id, name, ref, status FROM mf.deployments lists the deployments.';
	END IF;
	SELECT m.model_id INTO mid FROM mf.models m WHERE m.name = d.model_name;
	IF mid IS NULL THEN
		PERFORM mf._require_role('mf_admin', format('%s deployment %s of a dropped model', what, deployment_id));
	ELSE
		PERFORM mf._require_owner(mid, what);
	END IF;
	RETURN d;
END;
$$;

CREATE FUNCTION mf._undeploy(deployment_id bigint) RETURNS mf.deployments
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	d		mf.deployments := mf._lock_deployment(deployment_id, 'undeploy');
	mid		bigint := (SELECT m.model_id FROM mf.models m WHERE m.name = d.model_name);
BEGIN
	IF d.status = 'undeployed' THEN
		RAISE EXCEPTION 'deployment % is already undeployed', deployment_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('Its row stays in mf.deployments as history (%s, served as %s).', d.ref, d.name),
				  HINT = 'mf_deploy() deploys the model again.';
	END IF;
	RETURN mf._set_undeployed(d, mid);
END;
$$;
CREATE FUNCTION mf_undeploy(deployment_id bigint) RETURNS mf.deployments
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_undeploy(bigint) IS
	'stop a deployment: status undeployed (from the next request on, its served name answers 404), its bearer-token hash removed; returns the row';

-- ---------------------------------------------------------------------------
-- Export
-- ---------------------------------------------------------------------------

-- The labels of a served version (serving.json): its stage unless development, then its aliases.
CREATE FUNCTION mf._served_labels(v mf.model_versions) RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT ARRAY(SELECT l FROM (SELECT v.stage AS l, 0 AS o WHERE v.stage <> 'development'
								UNION ALL
								SELECT al.alias, 1 FROM mf.aliases al WHERE al.version_id = v.version_id) x
				  ORDER BY o, l);
$$;

CREATE FUNCTION mf._export_model(ref text) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		record;
BEGIN
	PERFORM mf._require_role('mf_reader', 'export models');
	SELECT * INTO r FROM mf._resolve(ref);
	-- The artifact holds the training categories: only who may see them (README, "Privileges").
	PERFORM mf._require_owner(r.model_id, 'export');
	PERFORM mf._require_trained(r.version_id, 'exported');
	RETURN (
		SELECT mf._model_dir_tar(m.name, v.version_id, v.version, m.family, mf._served_labels(v),
								 coalesce(v.trained_at, a.created_at), a.sha256, a.bytes)
		  FROM mf.model_versions v JOIN mf.models m USING (model_id) JOIN mf.artifacts a USING (version_id)
		 WHERE v.version_id = r.version_id);
END;
$$;
CREATE FUNCTION mf_export_model(ref text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_export_model(text) IS
	'one trained version as a served model directory (TensorFlow Serving layout): a deterministic ustar tar of <name>/<n>/model.mfa and <name>/<n>/serving.json, <n> = version_id; for mf-serve --model-base-path';
