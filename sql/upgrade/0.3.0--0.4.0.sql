-- Upgrade 0.3.0 -> 0.4.0: this version's own catalog changes (new tables,
-- columns, dropped signatures). The Makefile appends the view, every function
-- of 0.4.0 as CREATE OR REPLACE and the privileges.

-- issue 16 (monitor): health checks and serving metrics (sql/monitor.sql has their functions);
-- mf.events gains the actions health and set_endpoint.
ALTER TABLE mf.events DROP CONSTRAINT events_action_known;
ALTER TABLE mf.events ADD CONSTRAINT events_action_known
	CHECK (action IN ('create_model', 'create_version', 'register', 'set_stage', 'set_alias', 'drop_alias', 'drop_model',
					  'train', 'queue_job', 'promotion', 'retrain_skipped', 'deploy', 'undeploy', 'health', 'set_endpoint'));
COMMENT ON COLUMN mf.events.action IS
	'create_model, create_version, register, set_stage, set_alias, drop_alias, drop_model, train, queue_job, promotion, retrain_skipped, deploy, undeploy, health (the monitor worker changed a deployment''s status to or from unhealthy) or set_endpoint';

CREATE TABLE mf.health_checks (
	deployment_id bigint NOT NULL REFERENCES mf.deployments ON DELETE CASCADE,
	checked_at	timestamptz NOT NULL,
	"check"		text NOT NULL
				CONSTRAINT health_checks_check_known CHECK ("check" IN ('ready', 'model_loaded', 'canary',
																		'response_time', 'memory_usage')),
	ok			boolean NOT NULL,
	latency_ms	float8,
	http_status integer,
	error		text
);
COMMENT ON TABLE mf.health_checks IS
	'one row per check of a deployment by the monitor worker (every options.health.interval); the checks of one round share checked_at';
COMMENT ON COLUMN mf.health_checks.deployment_id IS 'the deployment checked';
COMMENT ON COLUMN mf.health_checks.checked_at IS 'when the round of checks started (the same for every check of a round)';
COMMENT ON COLUMN mf.health_checks."check" IS
	'ready (GET /v2/health/ready), model_loaded (GET /v2/models/<name>/ready), canary (a prediction), response_time (the canary''s latency against options.health.response_time_ms), memory_usage (the server''s process_resident_memory_bytes against options.health.memory_mb)';
COMMENT ON COLUMN mf.health_checks.ok IS 'whether the check passed';
COMMENT ON COLUMN mf.health_checks.latency_ms IS 'time to the answer in milliseconds (response_time: the timed answer''s; memory_usage: the /metrics request''s); NULL when none came';
COMMENT ON COLUMN mf.health_checks.http_status IS 'the HTTP status of the answer; NULL when none came';
COMMENT ON COLUMN mf.health_checks.error IS 'why the check failed (NULL when it passed; a failed memory_usage gives the resident memory measured)';
COMMENT ON COLUMN mf.deployments.options IS
	'validated options without secrets: name, rate_limit, traffic (resolved: [{ref, version, weight}]), max_batch, health (the monitor''s checks; durations in seconds), endpoint_set (true when mf_set_endpoint gave it an endpoint of its own)';
CREATE INDEX health_checks_deployment ON mf.health_checks (deployment_id, checked_at);
CREATE INDEX health_checks_checked_at ON mf.health_checks (checked_at);

CREATE TABLE mf.serving_metrics (
	model_name	text NOT NULL,
	version		text NOT NULL,
	deployment_id bigint,
	minute		timestamptz NOT NULL,
	requests	bigint NOT NULL DEFAULT 0,
	errors		bigint NOT NULL DEFAULT 0,
	latency_p50_ms float8,
	latency_p95_ms float8,
	latency_p99_ms float8,
	bytes_in	bigint,
	bytes_out	bigint,
	rows		bigint
);
COMMENT ON TABLE mf.serving_metrics IS
	'requests per model, version, deployment and minute, written by the monitor worker from the in-database server''s shared-memory counters, from remote deployments'' /metrics, and (deployment_id NULL) from mf_predict* calls when mf.track_predictions is on; rows older than mf.metrics_retention are removed';
COMMENT ON COLUMN mf.serving_metrics.model_name IS 'the model (for a served name of the in-database server: its deployment''s model)';
COMMENT ON COLUMN mf.serving_metrics.version IS 'the version that answered (semver)';
COMMENT ON COLUMN mf.serving_metrics.deployment_id IS 'the deployment that served; NULL for in-database mf_predict* calls (mf.track_predictions)';
COMMENT ON COLUMN mf.serving_metrics.minute IS 'the minute counted (date_trunc(''minute'', ...))';
COMMENT ON COLUMN mf.serving_metrics.requests IS 'requests answered in the minute; for mf_predict* rows, the calls';
COMMENT ON COLUMN mf.serving_metrics.errors IS 'answers with status 4xx or 5xx';
COMMENT ON COLUMN mf.serving_metrics.latency_p50_ms IS 'median latency in ms, interpolated in the servers'' fixed histogram buckets (50 us .. 10 s); NULL for mf_predict* rows';
COMMENT ON COLUMN mf.serving_metrics.latency_p95_ms IS '95th percentile latency in ms (as latency_p50_ms)';
COMMENT ON COLUMN mf.serving_metrics.latency_p99_ms IS '99th percentile latency in ms (as latency_p50_ms)';
COMMENT ON COLUMN mf.serving_metrics.bytes_in IS 'bytes of request bodies received';
COMMENT ON COLUMN mf.serving_metrics.bytes_out IS 'bytes of response bodies sent';
COMMENT ON COLUMN mf.serving_metrics.rows IS 'rows scored by mf_predict* calls (mf.track_predictions); NULL for served requests';
CREATE UNIQUE INDEX serving_metrics_key ON mf.serving_metrics (model_name, version, deployment_id, minute) NULLS NOT DISTINCT;
CREATE INDEX serving_metrics_minute ON mf.serving_metrics (minute);
CREATE INDEX serving_metrics_deployment ON mf.serving_metrics (deployment_id, minute);

SELECT pg_catalog.pg_extension_config_dump('mf.health_checks', '');
SELECT pg_catalog.pg_extension_config_dump('mf.serving_metrics', '');
