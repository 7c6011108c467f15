-- monitoring_standins.sql - stand-ins for the tables of issue 16 that other
-- branches own, so the alerts branch installs and its views and tests run
-- before those branches land: mf.health_checks and mf.serving_metrics
-- (monitor), mf.model_performance (drift), each in exactly the form of the
-- helpers' brief.  Every table is created only when it does not exist yet:
-- sql/catalog.sql (and the upgrade's own part) run before this file, so once
-- the owning branch has merged, its table is there and this file does
-- nothing (delete it then, with its lines in the Makefile).
-- Owns: nothing (no function).

DO $$
BEGIN
	IF pg_catalog.to_regclass('mf.health_checks') IS NULL THEN
		CREATE TABLE mf.health_checks (deployment_id bigint, checked_at timestamptz, "check" text, ok bool,
									   latency_ms float8, http_status int, error text);
		COMMENT ON TABLE mf.health_checks IS 'stand-in (alerts branch) for the monitor branch''s health checks';
		COMMENT ON COLUMN mf.health_checks.deployment_id IS 'the deployment checked';
		COMMENT ON COLUMN mf.health_checks.checked_at IS 'when';
		COMMENT ON COLUMN mf.health_checks."check" IS 'which check';
		COMMENT ON COLUMN mf.health_checks.ok IS 'whether it passed';
		COMMENT ON COLUMN mf.health_checks.latency_ms IS 'how long it took';
		COMMENT ON COLUMN mf.health_checks.http_status IS 'the HTTP status answered';
		COMMENT ON COLUMN mf.health_checks.error IS 'what was wrong';
	END IF;
	IF pg_catalog.to_regclass('mf.serving_metrics') IS NULL THEN
		CREATE TABLE mf.serving_metrics (model_name text, version text, deployment_id bigint, minute timestamptz,
										 requests bigint, errors bigint, latency_p50_ms float8, latency_p95_ms float8,
										 latency_p99_ms float8, bytes_in bigint, bytes_out bigint);
		COMMENT ON TABLE mf.serving_metrics IS 'stand-in (alerts branch) for the monitor branch''s serving metrics';
		COMMENT ON COLUMN mf.serving_metrics.model_name IS 'the model';
		COMMENT ON COLUMN mf.serving_metrics.version IS 'the version';
		COMMENT ON COLUMN mf.serving_metrics.deployment_id IS 'the deployment';
		COMMENT ON COLUMN mf.serving_metrics.minute IS 'the minute counted';
		COMMENT ON COLUMN mf.serving_metrics.requests IS 'requests';
		COMMENT ON COLUMN mf.serving_metrics.errors IS 'answers of status 400 or more';
		COMMENT ON COLUMN mf.serving_metrics.latency_p50_ms IS 'median latency';
		COMMENT ON COLUMN mf.serving_metrics.latency_p95_ms IS '95th percentile latency';
		COMMENT ON COLUMN mf.serving_metrics.latency_p99_ms IS '99th percentile latency';
		COMMENT ON COLUMN mf.serving_metrics.bytes_in IS 'request bytes';
		COMMENT ON COLUMN mf.serving_metrics.bytes_out IS 'answer bytes';
	END IF;
	IF pg_catalog.to_regclass('mf.model_performance') IS NULL THEN
		CREATE TABLE mf.model_performance (model_name text, version text, day date, n bigint, accuracy float8);
		COMMENT ON TABLE mf.model_performance IS 'stand-in (alerts branch) for the drift branch''s live accuracy per day';
		COMMENT ON COLUMN mf.model_performance.model_name IS 'the model';
		COMMENT ON COLUMN mf.model_performance.version IS 'the version';
		COMMENT ON COLUMN mf.model_performance.day IS 'the day';
		COMMENT ON COLUMN mf.model_performance.n IS 'predictions with a known label';
		COMMENT ON COLUMN mf.model_performance.accuracy IS 'the share right';
	END IF;
END;
$$;
