-- alerts.sql - alert rules, their evaluation, firings, NOTIFY and webhooks.
-- Owns (PL/pgSQL): what a rule may say (targets, metrics, conditions,
-- thresholds, options window/for/webhook) and who may set or drop it; what
-- each metric means over the metric tables (mf._alert_value, the one
-- reader); when an alert fires and resolves (mf._evaluate_alerts_at); the
-- NOTIFY payload; the Alertmanager webhook payload and the retry schedule
-- of deliveries; the Prometheus rule file of the same rules.  Thin callers
-- of C: the webhook POST (src/alert_webhook.c, libcurl, outside any
-- transaction) and the worker that drives evaluation and delivery until
-- the monitor worker does (src/alert_webhook.c, src/monitor_worker.c).
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._alert_options: every option, with every problem's path
--   mf._set_alert: a rule (target, metric, condition, threshold, privilege)
--   mf._alert_value: each metric's value over its table and window
--   mf._evaluate_rule: one rule: pending, firing after "for", resolving
--   mf._alertmanager_payload: the webhook body (Alertmanager version 4)
--   mf._prom_expr: a rule's PromQL over the servers' series (which label
--     selects a model, a pinned version, a deployment's served name)
--   mf._render_prometheus_rules: the rules as a Prometheus rule file
--
-- Metrics (all over the rule's window, ending at the evaluation):
--   latency_p99_ms  highest per-minute p99 of mf.serving_metrics
--   latency_p50_ms  request-weighted mean of the per-minute medians
--   error_rate      errors / requests (NULL without requests)
--   throughput      requests per second (0 without rows)
--   health          share of mf.health_checks that passed, 0..1
--   accuracy        n-weighted live accuracy of mf.model_performance, days
--                   the window touches (use a window of days)
--   drift_psi       highest feature PSI of mf.drift_checks (mf_drift's results,
--                   drift branch) in the window
-- A deployment id watches that deployment's rows; a model name all its
-- versions; name:version that version; name@stage or name@alias the version
-- it points at when evaluated.  No data (NULL) never holds a condition.

-- ---------------------------------------------------------------------------
-- Rules
-- ---------------------------------------------------------------------------

-- The metrics a rule may watch.
CREATE FUNCTION mf._alert_metrics() RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp
RETURN ARRAY['latency_p99_ms', 'latency_p50_ms', 'error_rate', 'throughput', 'accuracy', 'drift_psi', 'health'];

-- The table a metric is read from.
CREATE FUNCTION mf._alert_metric_table(metric text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN metric IN ('latency_p99_ms', 'latency_p50_ms', 'error_rate', 'throughput') THEN 'mf.serving_metrics'
				WHEN metric = 'health' THEN 'mf.health_checks'
				WHEN metric = 'accuracy' THEN 'mf.model_performance'
				WHEN metric = 'drift_psi' THEN 'mf.drift_checks' END;
$$;

-- The range a threshold of a metric must lie in: {low, high}.
CREATE FUNCTION mf._alert_metric_range(metric text) RETURNS float8[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT CASE WHEN metric IN ('error_rate', 'accuracy', 'health') THEN ARRAY[0, 1]::float8[]
				ELSE ARRAY[0, 'Infinity']::float8[] END;
$$;

-- An interval option: the problem of a JSON value that must be an interval
-- text of at least min, or NULL (the value in *out).
CREATE FUNCTION mf._alert_interval(path text, value jsonb, min interval, OUT val interval, OUT problem text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF jsonb_typeof(value) = 'string' THEN
		BEGIN
			val := (value #>> '{}')::interval;
		EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
			val := NULL;
		END;
	END IF;
	IF val IS NULL THEN
		problem := format('%s: must be an interval such as "2 min" or "30 s", got %s', path, left(value::text, 100));
	ELSIF val < min OR val > interval '366 days' THEN
		problem := format('%s: must be between %s s and 366 days, got %s', path, trim_scale(extract(epoch FROM min)), left(value::text, 100));
		val := NULL;
	END IF;
END;
$$;

-- Validate mf_set_alert options: every problem as 'path: problem' and the
-- stored form (window and for as intervals, webhook as given).
CREATE FUNCTION mf._alert_options(options jsonb, OUT stored jsonb, OUT win interval, OUT hold interval,
								  OUT problems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	known	CONSTANT text[] := ARRAY['window', 'for', 'webhook'];
	k		text;
	v		jsonb;
	iv		record;
BEGIN
	problems := '{}';
	stored := '{}';
	win := interval '5 min';
	hold := interval '0';
	IF jsonb_typeof(options) IS DISTINCT FROM 'object' THEN
		problems := ARRAY[format('options: must be a JSON object, got %s', coalesce(jsonb_typeof(options), 'NULL'))];
		RETURN;
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(options) ORDER BY 1 LOOP
		CASE k
			WHEN 'window' THEN
				SELECT * INTO iv FROM mf._alert_interval('options.window', v, interval '1 second');
				problems := problems || iv.problem;
				win := coalesce(iv.val, win);
			WHEN 'for' THEN
				SELECT * INTO iv FROM mf._alert_interval('options.for', v, interval '0');
				problems := problems || iv.problem;
				hold := coalesce(iv.val, hold);
			WHEN 'webhook' THEN
				IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^https?://[^[:space:]"<>\\]+$' OR length(v #>> '{}') > 2048 THEN
					problems := problems || format('options.webhook: must be an http:// or https:// URL without spaces '
												   '(at most 2048 characters), got %s', left(v::text, 100));
				ELSE
					stored := stored || jsonb_build_object('webhook', v);
				END IF;
			ELSE
				problems := problems || mf._unknown_key('options', k, known);
		END CASE;
	END LOOP;
	problems := array_remove(problems, NULL);
	stored := stored || jsonb_build_object('window', win::text, 'for', hold::text);
END;
$$;

-- What a target watches: a deployment (by id), or a model's versions (a
-- bare name: all; name:version: one; name@label: the version it points at).
CREATE FUNCTION mf._alert_scope(target text, OUT deployment_id bigint, OUT model_name text, OUT version text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	r		record;
BEGIN
	IF target ~ '^[0-9]{1,18}$' THEN
		SELECT d.deployment_id, d.model_name, d.version INTO deployment_id, model_name, version
		  FROM mf.deployments d WHERE d.deployment_id = target::bigint;
		RETURN;
	END IF;
	model_name := substring(target FROM '^[a-z][a-z0-9_]{0,62}');
	IF target LIKE '%:%' OR target LIKE '%@%' THEN
		SELECT * INTO r FROM mf._resolve(target);
		model_name := r.model_name;
		version := r.version;
	END IF;
END;
$$;

-- The model a rule's target belongs to (NULL once dropped): who may change the rule.
CREATE FUNCTION mf._alert_target_model(target text) RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT m.model_id FROM mf.models m
	 WHERE m.name = CASE WHEN target ~ '^[0-9]{1,18}$'
						 THEN (SELECT d.model_name FROM mf.deployments d WHERE d.deployment_id::text = target)
						 ELSE substring(target FROM '^[a-z][a-z0-9_]{0,62}') END;
$$;

-- 42501 unless the acting role owns the target's model (or holds mf_admin;
-- only mf_admin once the model was dropped).
CREATE FUNCTION mf._require_alert_owner(target text, what text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	mid		bigint := mf._alert_target_model(target);
BEGIN
	IF mid IS NULL THEN
		PERFORM mf._require_role('mf_admin', format('%s "%s" of a dropped model', what, target));
	ELSE
		PERFORM mf._require_owner(mid, what);
	END IF;
END;
$$;

-- 42704 for a deployment id that names no deployment.
CREATE FUNCTION mf._no_deployment(id text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	RAISE EXCEPTION 'deployment % does not exist', left(id, 30)
		USING ERRCODE = 'undefined_object',
			  HINT = 'SELECT deployment_id, name, ref, status FROM mf.deployments lists the deployments.';
END;
$$;

-- The target normalised: a deployment id that exists (42704 otherwise), or a
-- ref that resolves (the resolver's 22023/42704 otherwise).
CREATE FUNCTION mf._alert_target(target text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	t		text := btrim(target);
BEGIN
	IF t IS NULL OR t = '' THEN
		RAISE EXCEPTION 'alert target must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name a model ref (churn, churn:1.2.0, churn@production) or a deployment id (''3'').';
	ELSIF t ~ '^[0-9]+$' THEN
		IF length(t) > 18 OR NOT EXISTS (SELECT 1 FROM mf.deployments d WHERE d.deployment_id = t::bigint) THEN
			PERFORM mf._no_deployment(t);
		END IF;
		RETURN t::bigint::text;
	END IF;
	PERFORM mf._resolve(t);
	RETURN t;
END;
$$;

-- 0A000 unless the table a metric is read from exists in this database.
CREATE FUNCTION mf._require_metric_table(metric text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	tbl		text := mf._alert_metric_table(metric);
BEGIN
	IF to_regclass(tbl) IS NULL THEN
		RAISE EXCEPTION 'alert metric "%" is not available in this database', metric
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = format('Metric %s is read from %s, which does not exist.', metric, tbl),
				  HINT = 'Install the mf_ext version that records it (README, "Alerts").';
	END IF;
END;
$$;

CREATE FUNCTION mf._set_alert(target text, metric text, condition text, threshold float8, options jsonb DEFAULT '{}')
	RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	t		text := mf._alert_target(target);
	m		text := lower(btrim(metric));
	c		text := btrim(condition);
	o		record;
	range	float8[];
	id		bigint;
BEGIN
	IF m IS NULL OR NOT m = ANY (mf._alert_metrics()) THEN
		RAISE EXCEPTION 'unknown alert metric %', coalesce(to_jsonb(left(metric, 100))::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('Known metrics: %s.', array_to_string(mf._alert_metrics(), ', ')),
				  HINT = coalesce('Did you mean "' || mf._nearest_word(m, mf._alert_metrics()) || '"?',
								  'README, "Alerts", says what each metric measures.');
	END IF;
	IF c IS NULL OR c NOT IN ('>', '>=', '<', '<=') THEN
		RAISE EXCEPTION 'unknown alert condition "%"', left(condition, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Conditions: >, >=, <, <=.',
				  HINT = 'mf_set_alert(''churn'', ''error_rate'', ''>'', 0.05) fires when more than 5 % of requests fail.';
	END IF;
	range := mf._alert_metric_range(m);
	IF threshold IS NULL OR threshold IN ('NaN', 'Infinity', '-Infinity') OR threshold < range[1] OR threshold > range[2] THEN
		RAISE EXCEPTION 'alert threshold % is out of range for metric %', coalesce(threshold::text, 'NULL'), m
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('A threshold of %s must be between %s and %s.', m, range[1],
								  CASE WHEN range[2] = 'Infinity' THEN 'any finite number' ELSE range[2]::text END),
				  HINT = CASE WHEN m IN ('error_rate', 'accuracy', 'health') THEN 'Give it as a fraction: 0.05 for 5 %.'
							  ELSE 'Latencies are in milliseconds, throughput in requests per second.' END;
	END IF;
	SELECT * INTO o FROM mf._alert_options(coalesce(options, '{}'));
	IF cardinality(o.problems) > 0 THEN
		RAISE EXCEPTION 'invalid alert options'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = array_to_string(o.problems, E'\n'),
				  HINT = 'Options: window (an interval, default "5 min"), for (an interval, default "0"), '
						 'webhook (an http:// or https:// URL) (README, "Alerts").';
	END IF;
	PERFORM mf._require_alert_owner(t, 'set an alert on');
	PERFORM mf._require_metric_table(m);
	INSERT INTO mf.alert_rules (target, metric, condition, threshold, "window", "for", options, created_by)
	VALUES (t, m, c, threshold, o.win, o.hold, o.stored, mf._actor())
	RETURNING rule_id INTO id;
	RETURN id;
END;
$$;
CREATE FUNCTION mf_set_alert(target text, metric text, condition text, threshold float8, options jsonb DEFAULT '{}')
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_set_alert(text, text, text, float8, jsonb) IS
	'alert when metric (latency_p99_ms, latency_p50_ms, error_rate, throughput, accuracy, drift_psi, health) of target (a model ref or a deployment id as text) compares to threshold by condition (>, >=, <, <=) for options.for over options.window; options.webhook gets Alertmanager payloads; returns the rule id';

CREATE FUNCTION mf._drop_alert(rule_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		mf.alert_rules;
BEGIN
	SELECT * INTO r FROM mf.alert_rules x WHERE x.rule_id = _drop_alert.rule_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'alert rule % does not exist', rule_id
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT rule_id, target, metric, condition, threshold FROM mf.alert_rules lists the rules.';
	END IF;
	PERFORM mf._require_alert_owner(r.target, 'drop an alert on');
	PERFORM mf._resolve_alert(r, a, NULL, now()) FROM mf.alerts a WHERE a.rule_id = r.rule_id AND a.resolved_at IS NULL;
	DELETE FROM mf.alert_rules x WHERE x.rule_id = r.rule_id;
END;
$$;
CREATE FUNCTION mf_drop_alert(rule_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_drop_alert(bigint) IS
	'drop an alert rule; its open alert is resolved (row, NOTIFY, webhook) and its past firings stay in mf.alerts';

-- ---------------------------------------------------------------------------
-- Evaluation
-- ---------------------------------------------------------------------------

-- A metric's value for a target over (at - win, at]; NULL without data.
-- Statements run only for the metric asked (PL/pgSQL prepares them on first
-- use), so a metric whose table is missing fails only if asked for, and
-- mf_set_alert refuses such metrics first (mf._require_metric_table).
CREATE FUNCTION mf._alert_value(metric text, target text, win interval, at timestamptz) RETURNS float8
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	s		record;
	v		float8;
	since	timestamptz := at - win;
BEGIN
	SELECT * INTO s FROM mf._alert_scope(target);
	IF metric IN ('latency_p99_ms', 'latency_p50_ms', 'error_rate', 'throughput') THEN
		SELECT CASE metric
				   WHEN 'latency_p99_ms' THEN max(m.latency_p99_ms) FILTER (WHERE m.requests > 0)
				   WHEN 'latency_p50_ms' THEN sum(m.latency_p50_ms * m.requests) FILTER (WHERE m.requests > 0)
											  / nullif(sum(m.requests) FILTER (WHERE m.latency_p50_ms IS NOT NULL), 0)
				   WHEN 'error_rate' THEN sum(m.errors)::float8 / nullif(sum(m.requests), 0)
				   ELSE coalesce(sum(m.requests), 0)::float8 / extract(epoch FROM win)::float8 END
		  INTO v
		  FROM mf.serving_metrics m
		 WHERE m.minute > since - interval '1 minute' AND m.minute <= at
		   AND CASE WHEN s.deployment_id IS NOT NULL THEN m.deployment_id = s.deployment_id
					ELSE m.model_name = s.model_name AND (s.version IS NULL OR m.version = s.version) END;
	ELSIF metric = 'health' THEN
		SELECT avg(h.ok::int)::float8 INTO v
		  FROM mf.health_checks h
		 WHERE h.checked_at > since AND h.checked_at <= at
		   AND h.deployment_id IN (SELECT d.deployment_id FROM mf.deployments d
									WHERE CASE WHEN s.deployment_id IS NOT NULL THEN d.deployment_id = s.deployment_id
											   ELSE d.model_name = s.model_name AND d.status <> 'undeployed'
													AND (s.version IS NULL OR d.version IS NULL OR d.version = s.version) END);
	ELSIF metric = 'accuracy' THEN
		SELECT sum(p.accuracy * p.n) / nullif(sum(p.n) FILTER (WHERE p.accuracy IS NOT NULL), 0) INTO v
		  FROM mf.model_performance p
		 WHERE p.day BETWEEN (since AT TIME ZONE 'UTC')::date AND (at AT TIME ZONE 'UTC')::date
		   AND p.model_name = s.model_name AND (s.version IS NULL OR p.version = s.version);
	ELSIF metric = 'drift_psi' THEN
		SELECT max(c.psi) INTO v
		  FROM mf.drift_checks c JOIN mf.model_versions mv USING (version_id) JOIN mf.models mo USING (model_id)
		 WHERE c.checked_at > since AND c.checked_at <= at
		   AND mo.name = s.model_name AND (s.version IS NULL OR mv.version = s.version);
	END IF;
	RETURN v;
END;
$$;

-- Does value compare to threshold by condition?  NULL (no data) never does.
CREATE FUNCTION mf._alert_holds(value float8, condition text, threshold float8) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT coalesce(CASE condition WHEN '>' THEN value > threshold WHEN '>=' THEN value >= threshold
								   WHEN '<' THEN value < threshold WHEN '<=' THEN value <= threshold END, false);
$$;

-- A timestamp in RFC 3339 UTC (what Alertmanager writes).
CREATE FUNCTION mf._rfc3339(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT coalesce(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '0001-01-01T00:00:00Z');
$$;

-- The alert name of a rule, in Prometheus rules and webhook labels alike.
CREATE FUNCTION mf._alert_name(r mf.alert_rules) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT format('mf_rule_%s_%s', r.rule_id, r.metric);
$$;

-- The labels of a rule's alerts (webhooks and Prometheus rules).
CREATE FUNCTION mf._alert_labels(r mf.alert_rules) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT jsonb_build_object('alertname', mf._alert_name(r), 'rule_id', r.rule_id::text, 'target', r.target,
							  'metric', r.metric, 'source', 'mf_ext');
$$;

-- The body of a webhook: Alertmanager's webhook payload, version 4, one alert.
CREATE FUNCTION mf._alertmanager_payload(r mf.alert_rules, a mf.alerts, status text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	labels	jsonb := mf._alert_labels(r);
	notes	jsonb := jsonb_build_object('summary', a.message, 'value', a.value::text,
										'condition', format('%s %s %s', r.metric, r.condition, r.threshold),
										'window', r."window"::text, 'for', r."for"::text);
BEGIN
	RETURN jsonb_build_object(
		'version', '4',
		'groupKey', format('{}:{alertname=%s}', to_jsonb(mf._alert_name(r))::text),
		'truncatedAlerts', 0,
		'status', status,
		'receiver', 'mf_ext',
		'groupLabels', jsonb_build_object('alertname', mf._alert_name(r)),
		'commonLabels', labels,
		'commonAnnotations', notes,
		'externalURL', '',
		'alerts', jsonb_build_array(jsonb_build_object(
			'status', status,
			'labels', labels,
			'annotations', notes,
			'startsAt', mf._rfc3339(a.started_at),
			'endsAt', mf._rfc3339(a.resolved_at),
			'generatorURL', '',
			'fingerprint', left(md5(format('%s/%s', r.rule_id, a.alert_id)), 16))));
END;
$$;

-- Announce a firing or resolution: NOTIFY mf_alerts, and a webhook delivery
-- queued when the rule has one.
CREATE FUNCTION mf._announce_alert(r mf.alert_rules, a mf.alerts, status text, value float8) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	PERFORM pg_notify('mf_alerts', jsonb_build_object(
		'status', status, 'alert_id', a.alert_id, 'rule_id', r.rule_id, 'target', r.target, 'metric', r.metric,
		'condition', r.condition, 'threshold', r.threshold, 'value', value, 'started_at', a.started_at,
		'resolved_at', a.resolved_at, 'message', a.message)::text);
	IF r.options ? 'webhook' THEN
		INSERT INTO mf.alert_webhooks (alert_id, url, payload)
		VALUES (a.alert_id, r.options ->> 'webhook', mf._alertmanager_payload(r, a, status));
	END IF;
END;
$$;

-- Resolve an open alert at a time (value: the metric then, NULL when dropped).
CREATE FUNCTION mf._resolve_alert(r mf.alert_rules, a mf.alerts, value float8, at timestamptz) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	done	mf.alerts;
BEGIN
	UPDATE mf.alerts x SET resolved_at = greatest(at, x.started_at) WHERE x.alert_id = a.alert_id RETURNING * INTO done;
	PERFORM mf._announce_alert(r, done, 'resolved', value);
END;
$$;

-- A firing's message: metric, target, value, condition, threshold, duration.
CREATE FUNCTION mf._alert_message(r mf.alert_rules, value float8) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT format('%s of %s is %s (%s %s over %s%s)', r.metric,
				  CASE WHEN r.target ~ '^[0-9]+$' THEN 'deployment ' || r.target ELSE 'model ' || r.target END,
				  trim_scale(round(value::numeric, 6)), r.condition, r.threshold, r."window",
				  CASE WHEN r."for" > interval '0' THEN format(', for %s', r."for") ELSE '' END);
$$;

-- Evaluate one rule at a time: the condition starts pending, fires once it
-- held for "for", resolves when it stops holding.  Returns 1 when an alert
-- fired or resolved, else 0.
CREATE FUNCTION mf._evaluate_rule(r mf.alert_rules, at timestamptz) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	v		float8 := mf._alert_value(r.metric, r.target, r."window", at);
	holds	boolean := mf._alert_holds(v, r.condition, r.threshold);
	st		mf.alert_state;
	open	mf.alerts;
BEGIN
	INSERT INTO mf.alert_state AS x (rule_id, pending_since, last_value, evaluated_at)
	VALUES (r.rule_id, CASE WHEN holds THEN at END, v, at)
	ON CONFLICT (rule_id) DO UPDATE
	   SET pending_since = CASE WHEN holds THEN coalesce(x.pending_since, at) END,
		   last_value = v, evaluated_at = at, error = NULL
	RETURNING * INTO st;
	SELECT * INTO open FROM mf.alerts a WHERE a.rule_id = r.rule_id AND a.resolved_at IS NULL;
	IF holds AND open.alert_id IS NULL AND at - st.pending_since >= r."for" THEN
		INSERT INTO mf.alerts (rule_id, started_at, value, message)
		VALUES (r.rule_id, at, v, mf._alert_message(r, v))
		RETURNING * INTO open;
		PERFORM mf._announce_alert(r, open, 'firing', v);
		RETURN 1;
	ELSIF NOT holds AND open.alert_id IS NOT NULL THEN
		PERFORM mf._resolve_alert(r, open, v, at);
		RETURN 1;
	END IF;
	RETURN 0;
END;
$$;

-- Evaluate every rule at a time; a rule that fails records its error in
-- mf.alert_state and the others go on.  Returns how many alerts fired or
-- resolved.  Tests call it with chosen times.
CREATE FUNCTION mf._evaluate_alerts_at(at timestamptz) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		mf.alert_rules;
	changes integer := 0;
BEGIN
	FOR r IN SELECT * FROM mf.alert_rules ORDER BY rule_id LOOP
		BEGIN
			changes := changes + mf._evaluate_rule(r, at);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO mf.alert_state AS x (rule_id, evaluated_at, error) VALUES (r.rule_id, at, SQLERRM)
			ON CONFLICT (rule_id) DO UPDATE SET evaluated_at = at, error = SQLERRM;
		END;
	END LOOP;
	RETURN changes;
END;
$$;

-- Evaluate every rule now: what the monitor worker calls once per cycle.
CREATE FUNCTION mf._evaluate_alerts() RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp
RETURN mf._evaluate_alerts_at(now());
COMMENT ON FUNCTION mf._evaluate_alerts() IS
	'evaluate every alert rule now: open alerts whose condition held for "for", resolve those that stopped (rows, NOTIFY mf_alerts, webhook deliveries queued); returns the number of changes';

-- ---------------------------------------------------------------------------
-- Webhook deliveries (sent by src/alert_webhook.c outside any transaction)
-- ---------------------------------------------------------------------------

-- Attempts before a delivery is given up.
CREATE FUNCTION mf._webhook_max_attempts() RETURNS integer
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp
RETURN 8;

-- Claim up to n due deliveries (attempts counted now; leased for 60 s, so a
-- sender that dies leaves them due again).
CREATE FUNCTION mf._webhook_claim(n integer) RETURNS TABLE(delivery_id bigint, url text, payload text)
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.alert_webhooks w
	   SET attempts = w.attempts + 1, next_attempt_at = clock_timestamp() + interval '60 s'
	 WHERE w.delivery_id IN (SELECT x.delivery_id FROM mf.alert_webhooks x
							  WHERE x.status = 'pending' AND x.next_attempt_at <= clock_timestamp()
							  ORDER BY x.delivery_id LIMIT n FOR UPDATE SKIP LOCKED)
	RETURNING w.delivery_id, w.url, w.payload::text;
$$;

-- Record an attempt: delivered on a 2xx status, else retried after 1 s, 2 s,
-- 4 s, ... (at most 5 min) until mf._webhook_max_attempts(), then failed.
CREATE FUNCTION mf._webhook_result(delivery_id bigint, http_status integer, error text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.alert_webhooks w
	   SET status = CASE WHEN http_status BETWEEN 200 AND 299 THEN 'delivered'
						 WHEN w.attempts >= mf._webhook_max_attempts() THEN 'failed' ELSE 'pending' END,
		   delivered_at = CASE WHEN http_status BETWEEN 200 AND 299 THEN clock_timestamp() END,
		   last_error = CASE WHEN http_status BETWEEN 200 AND 299 THEN NULL
							 ELSE coalesce(error, format('HTTP status %s', http_status)) END,
		   next_attempt_at = clock_timestamp() + least(interval '1 s' * power(2, greatest(w.attempts - 1, 0)),
													   interval '5 min')
	 WHERE w.delivery_id = _webhook_result.delivery_id AND w.status = 'pending';
$$;

-- ---------------------------------------------------------------------------
-- Prometheus
-- ---------------------------------------------------------------------------

-- A duration in Prometheus' syntax (whole seconds, at least 1 s for windows).
CREATE FUNCTION mf._prom_duration(d interval) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT greatest(round(extract(epoch FROM d)), 0)::bigint || 's';
$$;

-- The PromQL expression of a rule over the servers' /metrics, or NULL for
-- metrics the servers do not expose (health, accuracy, drift_psi).
CREATE FUNCTION mf._prom_expr(r mf.alert_rules) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	s		record;
	sel		text;
	w		text := mf._prom_duration(r."window");
	q		text;
BEGIN
	SELECT * INTO s FROM mf._alert_scope(r.target);
	IF r.target ~ '^[0-9]+$' THEN
		-- a deployment is counted under its served name
		SELECT d.name, d.version INTO s.model_name, s.version FROM mf.deployments d WHERE d.deployment_id = r.target::bigint;
	END IF;
	IF s.model_name IS NULL THEN
		RETURN NULL;
	END IF;
	sel := format('model=%s', to_jsonb(s.model_name)::text)
		   || CASE WHEN s.version IS NOT NULL THEN format(',version=%s', to_jsonb(s.version)::text) ELSE '' END;
	q := CASE r.metric
		WHEN 'error_rate' THEN format('sum(rate(mf_serve_errors_total{%s}[%s])) / sum(rate(mf_serve_requests_total{%s}[%s]))',
									  sel, w, sel, w)
		WHEN 'throughput' THEN format('sum(rate(mf_serve_requests_total{%s}[%s]))', sel, w)
		WHEN 'latency_p99_ms' THEN format('histogram_quantile(0.99, sum by (le) (rate(mf_serve_request_duration_seconds_bucket{%s}[%s]))) * 1000',
										  sel, w)
		WHEN 'latency_p50_ms' THEN format('histogram_quantile(0.5, sum by (le) (rate(mf_serve_request_duration_seconds_bucket{%s}[%s]))) * 1000',
										  sel, w)
		END;
	RETURN CASE WHEN q IS NOT NULL THEN format('(%s) %s %s', q, r.condition, r.threshold) END;
END;
$$;

-- Every rule as a Prometheus rule file (YAML; strings written as JSON
-- strings, which YAML reads alike).  Rules on metrics the servers do not
-- expose stay comments naming them.
CREATE FUNCTION mf._render_prometheus_rules() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	r		mf.alert_rules;
	e		text;
	lines	text[] := ARRAY['# mf_ext alert rules (mf_render_prometheus_rules), over the servers'' /metrics',
							'groups:', '  - name: mf_ext', '    rules:'];
	n		integer := 0;
BEGIN
	PERFORM mf._require_role('mf_reader', 'read alert rules');
	FOR r IN SELECT * FROM mf.alert_rules ORDER BY rule_id LOOP
		e := mf._prom_expr(r);
		IF e IS NULL THEN
			lines := lines || format('      # rule %s (%s of %s) is evaluated in the database only: /metrics has no %s',
									 r.rule_id, r.metric, r.target, r.metric);
			CONTINUE;
		END IF;
		n := n + 1;
		lines := lines || ARRAY[
			format('      - alert: %s', mf._alert_name(r)),
			format('        expr: %s', to_jsonb(e)::text),
			format('        for: %s', mf._prom_duration(r."for")),
			'        labels:']
			|| ARRAY(SELECT format('          %s: %s', k, to_jsonb(v)::text)
					   FROM jsonb_each_text(mf._alert_labels(r) - 'alertname') x(k, v) ORDER BY k)
			|| ARRAY['        annotations:',
					 format('          summary: %s', to_jsonb(format('%s of %s %s %s (mf_ext rule %s)', r.metric, r.target,
																	  r.condition, r.threshold, r.rule_id))::text)];
	END LOOP;
	IF n = 0 THEN
		lines := lines[1:3] || '    rules: []'::text || lines[5:];
	END IF;
	RETURN array_to_string(lines, E'\n') || E'\n';
END;
$$;
CREATE FUNCTION mf_render_prometheus_rules() RETURNS text
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION mf_render_prometheus_rules() IS
	'the alert rules as a Prometheus rule file over mf_serve_requests_total, mf_serve_errors_total and mf_serve_request_duration_seconds (promtool check rules clean); health, accuracy and drift_psi rules stay comments';
