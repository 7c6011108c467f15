-- ---------------------------------------------------------------------------
-- Privileges (README, "Privileges"; src/privileges.c has the design note)
-- ---------------------------------------------------------------------------
-- Only the extension's owner writes the catalog: users change it through the
-- mf_* functions, which check who they are (from the session) and what they
-- may do.  Three roles, created when missing, are what a DBA grants:
--   mf_reader   search the catalog, read jobs and events, predict, evaluate
--   mf_trainer  also create models, and change, train, version, promote and
--               drop the models it owns (membership in the owner role counts)
--   mf_admin    everything, on every model
-- PUBLIC keeps only what is safe for everyone: the config tools (families,
-- templates, validation).  Training data (raw category values, sources) is
-- readable only by a model's owner and mf_admin, through mf_get_model.
-- Owns: the roles, the grants and the revokes (who may call what; the checks
-- at call time are registry.sql's and src/privileges.c's).  No function.

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mf_reader') THEN
		CREATE ROLE mf_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mf_trainer') THEN
		CREATE ROLE mf_trainer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mf_admin') THEN
		CREATE ROLE mf_admin NOLOGIN;
	END IF;
	IF NOT pg_catalog.pg_has_role('mf_trainer', 'mf_reader', 'MEMBER') THEN
		GRANT mf_reader TO mf_trainer;
	END IF;
	IF NOT pg_catalog.pg_has_role('mf_admin', 'mf_trainer', 'MEMBER') THEN
		GRANT mf_trainer TO mf_admin;
	END IF;
END;
$$;
COMMENT ON ROLE mf_reader IS 'mf_ext: search the model catalog, read jobs and events, predict and evaluate';
COMMENT ON ROLE mf_trainer IS 'mf_ext: mf_reader, plus create models and change, train and promote its own';
COMMENT ON ROLE mf_admin IS 'mf_ext: every mf_ext operation on every model';

GRANT USAGE ON SCHEMA mf TO PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA mf FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA mf FROM PUBLIC;
GRANT SELECT ON mf.templates TO PUBLIC;
GRANT SELECT ON mf.models, mf.aliases, mf.events, mf.catalog, mf.job_events, mf.deployments TO mf_reader;
-- #15 k8s: smoke tests of deployments.
GRANT SELECT ON mf.smoke_tests TO mf_reader;
-- #16 monitor: health checks and serving metrics.
GRANT SELECT ON mf.health_checks, mf.serving_metrics TO mf_reader;
-- mf.deployment_secrets (bearer-token hashes) stays the extension owner's alone.
-- Registries: readable by every mf_ext role (no secret in mf.registries); created and
-- dropped by mf_admin; mf.registry_secrets stays the extension owner's alone.
GRANT SELECT ON mf.registries TO mf_reader;
GRANT SELECT (version_id, model_id, version, config, config_hash, parent_version_id, improvements, metadata,
			  metrics, stage, status, n_parameters, dependencies, created_at, trained_at, created_by)
	ON mf.model_versions TO mf_reader;
GRANT SELECT (version_id, format_version, size_bytes, sha256, created_at) ON mf.artifacts TO mf_reader;
-- #16 alerts: rules (without options: a webhook URL may hold a secret), firings, their
-- state, the views for BI tools and the metric tables they read; mf.alert_webhooks
-- stays the extension owner's alone.
GRANT SELECT (rule_id, target, metric, condition, threshold, "window", "for", created_by, created_at)
	ON mf.alert_rules TO mf_reader;
GRANT SELECT ON mf.alerts, mf.alert_state, mf.deployment_status, mf.model_performance_daily,
	mf.model_performance TO mf_reader;
-- Drift and live accuracy: statistics for readers; raw training values (the
-- reference's data), logged predictions and labels stay the extension owner's
-- (mf_drift and mf_record_outcomes use them for the model's owner and mf_admin).
GRANT SELECT ON mf.drift_checks TO mf_reader;
GRANT SELECT (version_id, position, feature, kind, n_rows, n_nulls) ON mf.reference_distributions TO mf_reader;
GRANT SELECT (job_id, kind, version_id, status, progress, phase, epoch, total_epochs, loss, attempts,
			  max_attempts, error, queued_by, queued_at, started_at, heartbeat_at, finished_at, worker_pid,
			  result, target, options, policy, cancel_requested, run_as)
	ON mf.jobs TO mf_reader;

-- Every function: the body of each gate documented (every SQL and PL/pgSQL
-- function declares SET search_path = pg_catalog, mf, pg_temp itself; C
-- functions qualify every name they use); internal functions are not PUBLIC, except the argument forms of prediction that
-- the planner substitutes into users' queries and the pure helpers of the
-- invoker's functions mf_search_models (version order, known names, nearest name).
DO $$
DECLARE
	f		record;
BEGIN
	FOR f IN SELECT p.oid::regprocedure AS sig, n.nspname, p.proname, p.prosrc,
					to_regprocedure(format('mf._%s(%s)', substr(p.proname, 4),
										   pg_catalog.oidvectortypes(p.proargtypes))) AS body
			   FROM pg_catalog.pg_depend d
			   JOIN pg_catalog.pg_proc p ON p.oid = d.objid AND d.classid = 'pg_catalog.pg_proc'::regclass
			   JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
			  WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
				AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'mf_ext') LOOP
		IF f.prosrc IN ('mf_gate', 'mf_gate_secret') THEN
			EXECUTE format('COMMENT ON FUNCTION %s IS %L', f.body,
						   format('body of %s (SECURITY DEFINER, run only through it: see that function''s comment)', f.proname));
		END IF;
		IF f.nspname = 'mf' AND f.proname NOT IN ('_predict_args', '_predict_label_args', '_predict_proba_args',
												  '_predict_cols', '_predict_label_cols', '_predict_proba_cols',
												  '_semver_key', '_known_word', '_nearest_word') THEN
			EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f.sig);
		END IF;
	END LOOP;
END;
$$;
