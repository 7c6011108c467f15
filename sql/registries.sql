-- registries.sql - OCI registries: mf_create_registry, mf_drop_registry, and
-- the gate of a gated registry.
-- Owns (PL/pgSQL): the registry options (every problem listed with its path,
-- never quoting a secret; the auth kind they mean), who may create and drop
-- registries (mf_admin), and when a gated registry accepts an image (its
-- digest's latest smoke test passed).  C (src/registry_pg.c over the pure-C
-- client image/registry*.c): the URL rule, pushing a layout and copying an
-- image with the stored credentials, and the refusal event that outlives the
-- refusing transaction.
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._registry_options: every option, with every problem's path
--   mf._create_registry: recording a registry and its secrets
--   mf._gate_source: the image a gated registry may receive
--
-- Secrets: username, password and refresh_token go to mf.registry_secrets,
-- which no role but the extension's owner reads.  mf_create_registry is a
-- "secret gate" (src/privileges.c, mf_gate_secret): its errors never log the
-- statement.  The statement text itself is the caller's: pg_stat_activity
-- shows it (to the same role and to pg_read_all_stats) until the session's
-- next statement, and log_statement = 'all' logs it.  README ("Registries")
-- shows how to pass the options without putting the secret in any statement
-- text (\copy into a temporary table, or a driver's bind parameter).

-- ---------------------------------------------------------------------------
-- C helpers (src/registry_pg.c)
-- ---------------------------------------------------------------------------

CREATE FUNCTION mf._registry_url_problem(url text, insecure boolean) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_registry_url_problem_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf._registry_url_problem(text, boolean) IS
	'why a registry base URL is refused (https://host[:port], http:// only when insecure, no credentials, path or query), NULL when valid';

CREATE FUNCTION mf._registry_push(registry text, layout_dir text, repository text, tag text,
								  mount_from text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_registry_push_sql'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._registry_push(text, text, text, text, text) IS
	'push the OCI image layout directory layout_dir (a server path) to <registry>/<repository>:<tag> with the registry''s stored credentials; returns host/repository@sha256:<digest> (the deploy job calls the same C entry, MfRegistryPush)';

CREATE FUNCTION mf._registry_copy(src_registry text, src_repository text, digest text,
								  dst_registry text, dst_repository text, dst_tag text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_registry_copy_sql'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._registry_copy(text, text, text, text, text, text) IS
	'copy the image <src_registry>/<src_repository>@<digest> to <dst_registry>/<dst_repository> (tagged dst_tag), blobs mounted within one registry; returns the destination reference by digest';

CREATE FUNCTION mf._record_refusal_autonomously(registry text, from_deployment bigint, reason text) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_record_refusal_autonomously'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mf._record_refusal_autonomously(text, bigint, text) IS
	'record a gate refusal as an event in a transaction of its own (a short background worker), so the event stays when the refusal''s error rolls the caller back';

-- ---------------------------------------------------------------------------
-- Rules
-- ---------------------------------------------------------------------------

-- The problem of a JSON value that must be a string of 1..max characters
-- without control characters nor any character of forbidden (a bracket
-- expression body, named by forbidden_name), or NULL.  Never quotes the value.
CREATE FUNCTION mf._secret_string_problem(path text, value jsonb, max integer, forbidden text, forbidden_name text)
	RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN jsonb_typeof(value) IS DISTINCT FROM 'string'
				THEN format('%s: must be a string, got %s', path, coalesce(jsonb_typeof(value), 'nothing'))
				WHEN length(value #>> '{}') NOT BETWEEN 1 AND max
				THEN format('%s: must have 1 to %s characters', path, max)
				WHEN (value #>> '{}') ~ ('[[:cntrl:]' || forbidden || ']')
				THEN format('%s: must not contain control characters%s', path,
							CASE WHEN forbidden <> '' THEN ' or ' || forbidden_name ELSE '' END) END;
$$;

-- Validate mf_create_registry options: every problem as 'path: problem'
-- (never quoting a secret), the auth kind, the flags and the secrets apart.
CREATE FUNCTION mf._registry_options(url text, options jsonb,
									 OUT auth text, OUT gated boolean, OUT insecure boolean,
									 OUT username text, OUT password text, OUT refresh_token text,
									 OUT problems text[])
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	known	CONSTANT text[] := ARRAY['username', 'password', 'refresh_token', 'insecure', 'gated', 'auth'];
	acr_user CONSTANT text := '00000000-0000-0000-0000-000000000000';
	k		text;
	v		jsonb;
	p		text;
BEGIN
	problems := '{}';
	gated := false;
	insecure := false;
	IF jsonb_typeof(options) IS DISTINCT FROM 'object' THEN
		problems := ARRAY[format('options: must be a JSON object, got %s', coalesce(jsonb_typeof(options), 'NULL'))];
		RETURN;
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(options) ORDER BY 1 LOOP
		p := NULL;
		CASE k
			WHEN 'username' THEN
				p := mf._secret_string_problem('options.username', v, 256, ':', 'colons');
				username := CASE WHEN p IS NULL THEN v #>> '{}' END;
			WHEN 'password' THEN
				p := mf._secret_string_problem('options.password', v, 4096, '', '');
				password := CASE WHEN p IS NULL THEN v #>> '{}' END;
			WHEN 'refresh_token' THEN
				p := mf._secret_string_problem('options.refresh_token', v, 16384, ' ', 'spaces');
				refresh_token := CASE WHEN p IS NULL THEN v #>> '{}' END;
			WHEN 'insecure', 'gated' THEN
				IF jsonb_typeof(v) <> 'boolean' THEN
					p := format('options.%s: must be true or false, got %s', k, jsonb_typeof(v));
				ELSIF k = 'insecure' THEN
					insecure := v::text::boolean;
				ELSE
					gated := v::text::boolean;
				END IF;
			WHEN 'auth' THEN
				IF v NOT IN ('"basic"', '"bearer"') THEN
					p := format('options.auth: must be "basic" or "bearer", got %s', left(v::text, 100));
				ELSE
					auth := v #>> '{}';
				END IF;
			ELSE
				p := mf._unknown_key('options', k, known);
		END CASE;
		IF p IS NOT NULL THEN
			problems := problems || p;
		END IF;
	END LOOP;
	IF (options ? 'username') <> (options ? 'password') AND NOT options ? 'refresh_token' THEN
		problems := problems || 'options.username, options.password: give both or neither'::text;
	END IF;
	IF options ? 'refresh_token' AND options ? 'password' THEN
		problems := problems || ('options.refresh_token: cannot be combined with options.password '
								 '(an ACR refresh token replaces the password)')::text;
	ELSIF options ? 'refresh_token' AND options ? 'username' AND username IS DISTINCT FROM acr_user THEN
		problems := problems || format('options.username: with options.refresh_token it must be %s (or absent)', acr_user);
	END IF;
	IF options ? 'auth' AND NOT (options ? 'username' AND options ? 'password') THEN
		problems := problems || 'options.auth: applies to username and password only'::text;
	END IF;
	p := mf._registry_url_problem(coalesce(url, ''), insecure);
	IF p IS NOT NULL THEN
		problems := problems || format('url: %s', p);
	END IF;
	IF username = acr_user AND password IS NOT NULL THEN
		-- ACR's null user: the password is a refresh token
		refresh_token := password;
		password := NULL;
	END IF;
	auth := CASE WHEN refresh_token IS NOT NULL THEN 'acr'
				 WHEN password IS NOT NULL THEN coalesce(auth, 'basic')
				 ELSE 'anonymous' END;
	IF refresh_token IS NOT NULL THEN
		username := NULL;
	END IF;
END;
$$;

-- 42704 unless the registry exists; its row.
CREATE FUNCTION mf._registry(name text) RETURNS mf.registries
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		mf.registries;
BEGIN
	SELECT * INTO r FROM mf.registries x WHERE x.name = _registry.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'registry "%" does not exist', left(name, 100)
			USING ERRCODE = 'undefined_object',
				  HINT = coalesce(format('Did you mean "%s"? ', mf._nearest_word(name, ARRAY(SELECT x.name FROM mf.registries x))), '')
						 || 'SELECT name, url FROM mf.registries lists the registries; mf_create_registry() adds one.';
	END IF;
	RETURN r;
END;
$$;

-- ---------------------------------------------------------------------------
-- Registry API
-- ---------------------------------------------------------------------------

CREATE FUNCTION mf._create_registry(name text, url text, options jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	o		record;
	created mf.registries;
BEGIN
	PERFORM mf._require_role('mf_admin', 'create registries');
	IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid registry name "%"', left(coalesce(name, 'NULL'), 100)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A registry name matches ^[a-z][a-z0-9_]{0,62}$ (a lowercase letter, then lowercase letters, digits or _).',
				  HINT = 'For example mf_create_registry(''acr'', ''https://myregistry.azurecr.io'', ...).';
	END IF;
	SELECT * INTO o FROM mf._registry_options(url, coalesce(options, '{}'));
	IF cardinality(o.problems) > 0 THEN
		RAISE EXCEPTION 'invalid registry "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = array_to_string(o.problems, E'\n'),
				  HINT = 'url: https://host[:port]; options: username and password, or refresh_token (ACR), insecure, gated, '
						 'auth ("basic" or "bearer") (README, "Registries").';
	END IF;
	IF EXISTS (SELECT 1 FROM mf.registries r WHERE r.name = _create_registry.name) THEN
		RAISE EXCEPTION 'registry "%" already exists', name
			USING ERRCODE = 'duplicate_object',
				  HINT = format('mf_drop_registry(%L) first to change it.', name);
	END IF;
	INSERT INTO mf.registries (name, url, auth, gated, insecure, created_by)
	VALUES (name, rtrim(url, '/'), o.auth, o.gated, o.insecure, mf._actor())
	RETURNING * INTO created;
	IF o.auth <> 'anonymous' THEN
		INSERT INTO mf.registry_secrets (registry, username, password, refresh_token)
		VALUES (name, o.username, o.password, o.refresh_token);
	END IF;
	PERFORM mf._event('create_registry', NULL, NULL, NULL, NULL, NULL, to_jsonb(created));
	RETURN name;
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'registry "%" already exists', name
		USING ERRCODE = 'duplicate_object',
			  DETAIL = 'Another transaction created it at the same time.';
END;
$$;
CREATE FUNCTION mf_create_registry(name text, url text, options jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate_secret'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_create_registry(text, text, jsonb) IS
	'add an OCI registry images are pushed to (mf_admin): url https://host[:port]; options username+password (auth "basic" or "bearer"), refresh_token (ACR), insecure, gated; secrets are kept where only the extension owner reads them; an mf.events row (create_registry, the row without secrets); returns the name';

CREATE FUNCTION mf._drop_registry(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	gone	mf.registries;
BEGIN
	PERFORM mf._require_role('mf_admin', 'drop registries');
	PERFORM mf._registry(name);
	DELETE FROM mf.registries r WHERE r.name = _drop_registry.name RETURNING * INTO gone;
	PERFORM mf._event('drop_registry', NULL, NULL, NULL, NULL, to_jsonb(gone), NULL);
END;
$$;
CREATE FUNCTION mf_drop_registry(name text) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_drop_registry(text) IS
	'remove a registry and its credentials (mf_admin); images already pushed stay in it, deployments keep their image references; an mf.events row (drop_registry, the row without secrets)';

-- ---------------------------------------------------------------------------
-- The gate
-- ---------------------------------------------------------------------------

-- Record a refusal (the caller's transaction is about to fail: this runs in
-- the short background worker of mf._record_refusal_autonomously).
CREATE FUNCTION mf._record_refusal(registry text, from_deployment bigint, actor name, reason text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	INSERT INTO mf.events (actor, action, model_id, model_name, version_id, version, before, after)
	SELECT actor, 'gate_refused', m.model_id, d.model_name, v.version_id, d.version,
		   jsonb_build_object('deployment_id', from_deployment, 'image', d.image),
		   jsonb_build_object('registry', registry, 'refused', reason)
	  FROM mf.deployments d
	  LEFT JOIN mf.models m ON m.name = d.model_name
	  LEFT JOIN mf.model_versions v ON v.model_id = m.model_id AND v.version = d.version
	 WHERE d.deployment_id = from_deployment;
$$;

-- The digest of an image reference host/repository@sha256:..., or NULL.
CREATE FUNCTION mf._image_digest(image text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT (regexp_match(image, '@(sha256:[0-9a-f]{64})$'))[1];
$$;

-- The source deployment of a copy (mf_deploy option "from"): it must exist
-- (42704) and have an image by digest (55000); for a gated registry, that
-- digest's latest smoke test (of any deployment of the digest) must have
-- passed, else 55000 and the refusal is recorded as an event that stays.
CREATE FUNCTION mf._gate_source(registry text, from_deployment bigint) RETURNS mf.deployments
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	reg		mf.registries := mf._registry(registry);
	d		mf.deployments;
	digest	text;
	last	record;
	why		text;
BEGIN
	SELECT * INTO d FROM mf.deployments x WHERE x.deployment_id = from_deployment;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'deployment % does not exist', from_deployment
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT deployment_id, ref, image FROM mf.deployments WHERE target = ''oci'' lists the images.';
	END IF;
	digest := mf._image_digest(d.image);
	IF digest IS NULL THEN
		RAISE EXCEPTION 'deployment % has no image to copy', from_deployment
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('Its target is %s and its status %s; only an image pushed by digest can be copied.',
								  d.target, d.status),
				  HINT = 'Name an oci deployment whose push succeeded (its image column holds host/repository@sha256:...).';
	END IF;
	IF NOT reg.gated THEN
		RETURN d;
	END IF;
	SELECT s.passed, s.smoke_test_id, s.mismatches, s.rows INTO last
	  FROM mf.smoke_tests s JOIN mf.deployments x USING (deployment_id)
	 WHERE mf._image_digest(x.image) = digest
	 ORDER BY s.tested_at DESC, s.smoke_test_id DESC LIMIT 1;
	IF NOT FOUND THEN
		why := format('image %s has not been smoke-tested', digest);
	ELSIF last.passed IS NOT TRUE THEN
		why := format('the latest smoke test of image %s (smoke test %s) failed: %s of %s rows mismatched',
					  digest, last.smoke_test_id, coalesce(last.mismatches::text, '?'), coalesce(last.rows::text, '?'));
	ELSE
		RETURN d;
	END IF;
	PERFORM mf._record_refusal_autonomously(registry, from_deployment, why);
	RAISE EXCEPTION 'registry "%" accepts only smoke-tested images', registry
		USING ERRCODE = 'object_not_in_prerequisite_state',
			  DETAIL = why || '.',
			  HINT = format('Run mf_smoke_test(%s, ''<endpoint>'') against a running copy of the image first; '
							'the refusal is recorded in mf.events (action gate_refused).', from_deployment);
END;
$$;
