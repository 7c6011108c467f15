-- ---------------------------------------------------------------------------
-- Views for BI tools and Grafana (install and upgrades: CREATE OR REPLACE
-- keeps the objects of users that read them; new columns go at the end)
-- ---------------------------------------------------------------------------
-- Owns: what mf.deployment_status and mf.model_performance_daily show (views;
-- no function).  The windows are fixed at the last 5 minutes, as a
-- dashboard's "now" panel reads them; alert rules choose their own.

CREATE OR REPLACE VIEW mf.deployment_status AS
SELECT d.deployment_id,
	   d.model_name,
	   d.version,
	   d.ref,
	   d.name,
	   d.target,
	   d.status,
	   d.endpoint,
	   h.ok AS healthy,
	   h.checked_at AS health_checked_at,
	   h.error AS health_error,
	   m.errors::float8 / nullif(m.requests, 0) AS error_rate,
	   m.p99 AS latency_p99_ms,
	   coalesce(m.requests, 0)::float8 / 300 AS throughput,
	   coalesce(m.requests, 0) AS requests_5m,
	   (SELECT count(*) FROM mf.alerts a JOIN mf.alert_rules r USING (rule_id)
		 WHERE a.resolved_at IS NULL
		   AND (r.target = d.deployment_id::text
				OR (r.target !~ '^[0-9]+$' AND substring(r.target FROM '^[a-z][a-z0-9_]{0,62}') = d.model_name))) AS open_alerts,
	   d.updated_at
  FROM mf.deployments d
  LEFT JOIN LATERAL (SELECT c.ok, c.checked_at, c.error FROM mf.health_checks c
					  WHERE c.deployment_id = d.deployment_id ORDER BY c.checked_at DESC LIMIT 1) h ON true
  LEFT JOIN LATERAL (SELECT sum(s.requests) AS requests, sum(s.errors) AS errors,
							max(s.latency_p99_ms) FILTER (WHERE s.requests > 0) AS p99
					   FROM mf.serving_metrics s
					  WHERE s.deployment_id = d.deployment_id AND s.minute > now() - interval '6 minutes') m ON true;
COMMENT ON VIEW mf.deployment_status IS
	'one row per deployment: its status, latest health check, and the last 5 minutes of serving (error rate, p99, throughput) with its open alerts';
COMMENT ON COLUMN mf.deployment_status.deployment_id IS 'deployment number (mf.deployments)';
COMMENT ON COLUMN mf.deployment_status.model_name IS 'the deployed model';
COMMENT ON COLUMN mf.deployment_status.version IS 'the pinned version, or NULL when the deployment follows ref';
COMMENT ON COLUMN mf.deployment_status.ref IS 'what the deployment serves (name:version, name, name@stage, name@alias)';
COMMENT ON COLUMN mf.deployment_status.name IS 'served name';
COMMENT ON COLUMN mf.deployment_status.target IS 'where it is deployed (http, oci, ...)';
COMMENT ON COLUMN mf.deployment_status.status IS 'queued, running, active, verified, unhealthy, failed or undeployed';
COMMENT ON COLUMN mf.deployment_status.endpoint IS 'URL of the served model';
COMMENT ON COLUMN mf.deployment_status.healthy IS 'whether the latest health check passed (NULL before the first check)';
COMMENT ON COLUMN mf.deployment_status.health_checked_at IS 'when the latest health check ran';
COMMENT ON COLUMN mf.deployment_status.health_error IS 'what the latest health check found wrong, if it failed';
COMMENT ON COLUMN mf.deployment_status.error_rate IS 'errors / requests over the last 5 minutes of mf.serving_metrics (NULL without requests)';
COMMENT ON COLUMN mf.deployment_status.latency_p99_ms IS 'highest per-minute p99 latency of the last 5 minutes, in milliseconds';
COMMENT ON COLUMN mf.deployment_status.throughput IS 'requests per second over the last 5 minutes';
COMMENT ON COLUMN mf.deployment_status.requests_5m IS 'requests of the last 5 minutes';
COMMENT ON COLUMN mf.deployment_status.open_alerts IS 'alerts firing now on the deployment or on its model';
COMMENT ON COLUMN mf.deployment_status.updated_at IS 'when the deployment''s status last changed';

CREATE OR REPLACE VIEW mf.model_performance_daily AS
SELECT p.model_name,
	   p.version,
	   p.day,
	   sum(p.n)::bigint AS n,
	   sum(p.accuracy * p.n) / nullif(sum(p.n) FILTER (WHERE p.accuracy IS NOT NULL), 0) AS accuracy,
	   (SELECT (v.metrics ->> 'accuracy')::float8 FROM mf.model_versions v JOIN mf.models m USING (model_id)
		 WHERE m.name = p.model_name AND v.version = p.version) AS training_accuracy,
	   sum(sum(p.accuracy * p.n)) OVER w7 / nullif(sum(sum(p.n) FILTER (WHERE p.accuracy IS NOT NULL)) OVER w7, 0)
		   AS accuracy_7d
  FROM mf.model_performance p
 GROUP BY p.model_name, p.version, p.day
WINDOW w7 AS (PARTITION BY p.model_name, p.version ORDER BY p.day RANGE BETWEEN interval '6 days' PRECEDING AND CURRENT ROW);
COMMENT ON VIEW mf.model_performance_daily IS
	'live accuracy per model, version and day (mf.model_performance, written by mf_record_outcomes), beside the accuracy measured at training';
COMMENT ON COLUMN mf.model_performance_daily.model_name IS 'the model';
COMMENT ON COLUMN mf.model_performance_daily.version IS 'the version that made the predictions';
COMMENT ON COLUMN mf.model_performance_daily.day IS 'the day the outcomes belong to';
COMMENT ON COLUMN mf.model_performance_daily.n IS 'predictions with a known outcome that day';
COMMENT ON COLUMN mf.model_performance_daily.accuracy IS 'share of those predictions that were right';
COMMENT ON COLUMN mf.model_performance_daily.training_accuracy IS 'metrics.accuracy of the version, measured at training (NULL when not measured)';
COMMENT ON COLUMN mf.model_performance_daily.accuracy_7d IS 'n-weighted accuracy of the 7 days ending that day';
