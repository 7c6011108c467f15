-- Upgrade 0.3.0 -> 0.4.0: this version's own catalog changes (new tables,
-- columns, dropped signatures). The Makefile appends the view, every function
-- of 0.4.0 as CREATE OR REPLACE and the privileges.

-- mf._train_run returns the test rows and the reference distributions too (new OUT columns).
DROP FUNCTION mf._train_run(text, jsonb, text, text, jsonb, oid, text);

-- #15/#16: rows a version was tested on (images and smoke tests send them).
CREATE TABLE mf.test_rows (
	version_id	bigint PRIMARY KEY REFERENCES mf.model_versions ON DELETE CASCADE,
	rows		jsonb NOT NULL CONSTRAINT test_rows_array CHECK (jsonb_typeof(rows) = 'array'),
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.test_rows IS
	'raw features of the first (at most 100) rows each version was tested on, written by training: image verification and smoke tests send them; training data, so readable by the extension''s owner alone';
COMMENT ON COLUMN mf.test_rows.version_id IS 'the version';
COMMENT ON COLUMN mf.test_rows.rows IS 'a JSON array of objects of named raw features, in test-split order (what mf_predict(ref, jsonb) takes)';
COMMENT ON COLUMN mf.test_rows.created_at IS 'when training wrote them';
SELECT pg_catalog.pg_extension_config_dump('mf.test_rows', '');

-- #15 image: deploy jobs (phases building, verifying, pushing: the CHECK below, with smoke tests'),
-- layer digests of an image deployment.
COMMENT ON COLUMN mf.jobs.kind IS 'what the job does: train, deploy (an image: build, verify, push; src/deploy_job.c), smoke_test (src/smoke_job.c); export is reserved';
COMMENT ON COLUMN mf.jobs.phase IS 'train: loading, training, evaluating, registering; deploy: building, verifying, pushing; smoke_test: smoke_testing (last phase reached once the job ended)';
ALTER TABLE mf.deployments ADD COLUMN layers text[];
COMMENT ON COLUMN mf.deployments.target IS 'where it is deployed: http (the in-database HTTP server); oci (an image built, verified and pushed by a deploy job)';
COMMENT ON COLUMN mf.deployments.layers IS 'target oci: the digests (sha256:...) of the image''s layers, base first, as built and verified';
-- #16 alerts: alert rules, their firings, their evaluation state and the webhook queue
-- (sql/alerts.sql has their functions).
CREATE TABLE mf.alert_rules (
	rule_id		bigserial PRIMARY KEY,
	target		text NOT NULL,
	metric		text NOT NULL
				CONSTRAINT alert_rules_metric_known CHECK (metric IN ('latency_p99_ms', 'latency_p50_ms', 'error_rate', 'throughput',
																	 'accuracy', 'drift_psi', 'health')),
	condition	text NOT NULL CONSTRAINT alert_rules_condition_known CHECK (condition IN ('>', '>=', '<', '<=')),
	threshold	float8 NOT NULL CONSTRAINT alert_rules_threshold_finite CHECK (threshold > '-Infinity' AND threshold < 'Infinity'),
	"window"	interval NOT NULL DEFAULT '5 min' CONSTRAINT alert_rules_window_positive CHECK ("window" >= '1 second'),
	"for"		interval NOT NULL DEFAULT '0' CONSTRAINT alert_rules_for_nonneg CHECK ("for" >= '0'),
	options		jsonb NOT NULL DEFAULT '{}' CONSTRAINT alert_rules_options_object CHECK (jsonb_typeof(options) = 'object'),
	created_by	name NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.alert_rules IS 'alert rules (mf_set_alert, mf_drop_alert), evaluated by mf._evaluate_alerts() once per monitor cycle';
COMMENT ON COLUMN mf.alert_rules.rule_id IS 'rule number, returned by mf_set_alert()';
COMMENT ON COLUMN mf.alert_rules.target IS 'what is watched: a model ref (name, name:version, name@stage, name@alias) or a deployment id as text';
COMMENT ON COLUMN mf.alert_rules.metric IS 'latency_p99_ms, latency_p50_ms, error_rate, throughput, accuracy, drift_psi or health (README, "Alerts")';
COMMENT ON COLUMN mf.alert_rules.condition IS 'comparison of the metric with the threshold: >, >=, < or <=';
COMMENT ON COLUMN mf.alert_rules.threshold IS 'the value the metric is compared with';
COMMENT ON COLUMN mf.alert_rules."window" IS 'how far back the metric is aggregated (options.window, default 5 min)';
COMMENT ON COLUMN mf.alert_rules."for" IS 'how long the condition must hold before the alert fires (options.for, default 0)';
COMMENT ON COLUMN mf.alert_rules.options IS 'validated options: window, for, webhook (may hold a secret URL: not readable by mf_reader)';
COMMENT ON COLUMN mf.alert_rules.created_by IS 'role that set the rule (from the session)';
COMMENT ON COLUMN mf.alert_rules.created_at IS 'when the rule was set';

CREATE TABLE mf.alerts (
	alert_id	bigserial PRIMARY KEY,
	rule_id		bigint NOT NULL,
	started_at	timestamptz NOT NULL,
	resolved_at timestamptz CONSTRAINT alerts_resolved_after_start CHECK (resolved_at >= started_at),
	value		float8,
	message		text NOT NULL
);
COMMENT ON TABLE mf.alerts IS 'alert firings: opened when a rule''s condition held for its "for", resolved when it stops holding (kept after the rule is dropped)';
COMMENT ON COLUMN mf.alerts.alert_id IS 'firing number';
COMMENT ON COLUMN mf.alerts.rule_id IS 'the rule (mf.alert_rules; the row stays when the rule is dropped)';
COMMENT ON COLUMN mf.alerts.started_at IS 'when the alert fired (the condition had then held for the rule''s "for")';
COMMENT ON COLUMN mf.alerts.resolved_at IS 'when the condition stopped holding, or the rule was dropped; NULL while the alert is open';
COMMENT ON COLUMN mf.alerts.value IS 'the metric''s value when the alert fired';
COMMENT ON COLUMN mf.alerts.message IS 'what fired, in words: metric, target, value, condition and threshold';
CREATE UNIQUE INDEX alerts_one_open_per_rule ON mf.alerts (rule_id) WHERE resolved_at IS NULL;
CREATE INDEX alerts_rule ON mf.alerts (rule_id, alert_id);

CREATE TABLE mf.alert_state (
	rule_id		bigint PRIMARY KEY REFERENCES mf.alert_rules ON DELETE CASCADE,
	pending_since timestamptz,
	last_value	float8,
	evaluated_at timestamptz NOT NULL,
	error		text
);
COMMENT ON TABLE mf.alert_state IS 'the evaluation state of each rule (mf._evaluate_alerts): since when its condition holds';
COMMENT ON COLUMN mf.alert_state.rule_id IS 'the rule';
COMMENT ON COLUMN mf.alert_state.pending_since IS 'first evaluation at which the condition held without a break since; NULL when it does not hold';
COMMENT ON COLUMN mf.alert_state.last_value IS 'the metric''s value at the last evaluation (NULL: no data in the window)';
COMMENT ON COLUMN mf.alert_state.evaluated_at IS 'when the rule was last evaluated';
COMMENT ON COLUMN mf.alert_state.error IS 'why the last evaluation of the rule failed (the other rules were evaluated), or NULL';

CREATE TABLE mf.alert_webhooks (
	delivery_id bigserial PRIMARY KEY,
	alert_id	bigint NOT NULL,
	status		text NOT NULL DEFAULT 'pending'
				CONSTRAINT alert_webhooks_status_known CHECK (status IN ('pending', 'delivered', 'failed')),
	url			text NOT NULL,
	payload		jsonb NOT NULL,
	attempts	integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	delivered_at timestamptz
);
COMMENT ON TABLE mf.alert_webhooks IS
	'webhook deliveries of alert firings and resolutions (Alertmanager webhook payload), sent by C outside any transaction with retries and backoff; readable by the extension''s owner alone (URLs may hold secrets)';
COMMENT ON COLUMN mf.alert_webhooks.delivery_id IS 'delivery number';
COMMENT ON COLUMN mf.alert_webhooks.alert_id IS 'the firing (mf.alerts) announced';
COMMENT ON COLUMN mf.alert_webhooks.status IS 'pending, delivered (a 2xx answer) or failed (attempts exhausted)';
COMMENT ON COLUMN mf.alert_webhooks.url IS 'the rule''s options.webhook';
COMMENT ON COLUMN mf.alert_webhooks.payload IS 'the JSON body: Alertmanager webhook version 4 (status, alerts[] with labels, annotations, startsAt, endsAt)';
COMMENT ON COLUMN mf.alert_webhooks.attempts IS 'POSTs tried so far';
COMMENT ON COLUMN mf.alert_webhooks.next_attempt_at IS 'when the next attempt is due (backoff doubles from 1 s, at most 5 min)';
COMMENT ON COLUMN mf.alert_webhooks.last_error IS 'why the last attempt failed (HTTP status or transport error)';
COMMENT ON COLUMN mf.alert_webhooks.created_at IS 'when the delivery was queued';
COMMENT ON COLUMN mf.alert_webhooks.delivered_at IS 'when a 2xx answer came';
CREATE INDEX alert_webhooks_due ON mf.alert_webhooks (next_attempt_at) WHERE status = 'pending';

SELECT pg_catalog.pg_extension_config_dump('mf.alert_rules', '');
SELECT pg_catalog.pg_extension_config_dump('mf.alert_rules_rule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mf.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('mf.alerts_alert_id_seq', '');
-- #15 k8s: job kind smoke_test and the job phases of images and smoke tests.
ALTER TABLE mf.jobs DROP CONSTRAINT jobs_kind_known,
	ADD CONSTRAINT jobs_kind_known CHECK (kind IN ('train', 'export', 'deploy', 'smoke_test'));
ALTER TABLE mf.jobs DROP CONSTRAINT jobs_phase_known,
	ADD CONSTRAINT jobs_phase_known CHECK (phase IN ('loading', 'training', 'evaluating', 'registering',
													 'building', 'verifying', 'pushing', 'smoke_testing'));

-- #15 k8s: smoke tests of image deployments (sql/k8s.sql has their functions).
CREATE TABLE mf.smoke_tests (
	smoke_test_id bigserial PRIMARY KEY,
	deployment_id bigint NOT NULL REFERENCES mf.deployments ON DELETE CASCADE,
	job_id		bigint REFERENCES mf.jobs ON DELETE SET NULL,
	endpoint	text NOT NULL,
	rows		integer NOT NULL CONSTRAINT smoke_tests_rows_range CHECK (rows >= 0),
	mismatches	integer NOT NULL CONSTRAINT smoke_tests_mismatches_range CHECK (mismatches BETWEEN 0 AND rows),
	latency_p50_ms float8,
	latency_p99_ms float8,
	passed		boolean NOT NULL,
	details		jsonb NOT NULL DEFAULT '{}',
	tested_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.smoke_tests IS
	'smoke tests of image deployments (mf_smoke_test): the version''s test rows sent to a running server over the Open Inference Protocol v2, every answer compared with the database''s';
COMMENT ON COLUMN mf.smoke_tests.smoke_test_id IS 'smoke test number';
COMMENT ON COLUMN mf.smoke_tests.deployment_id IS 'the deployment tested';
COMMENT ON COLUMN mf.smoke_tests.job_id IS 'the smoke_test job that ran it';
COMMENT ON COLUMN mf.smoke_tests.endpoint IS 'base URL of the server tested (http://host:port)';
COMMENT ON COLUMN mf.smoke_tests.rows IS 'test rows of the run (one request each; rows not sent after the endpoint stopped answering count as mismatches)';
COMMENT ON COLUMN mf.smoke_tests.mismatches IS 'rows whose answer (status or outputs) differed from the database''s, or that got no answer';
COMMENT ON COLUMN mf.smoke_tests.latency_p50_ms IS 'median request latency seen by the tester (ms), over the answered rows';
COMMENT ON COLUMN mf.smoke_tests.latency_p99_ms IS '99th percentile request latency (ms, nearest rank)';
COMMENT ON COLUMN mf.smoke_tests.passed IS 'every row sent was answered exactly as the database answers it';
COMMENT ON COLUMN mf.smoke_tests.details IS 'path requested, expected_version and answered_version, status_counts, mismatch_rows (first 10: row, expected and got status and body), transport_error, error';
COMMENT ON COLUMN mf.smoke_tests.tested_at IS 'when the test finished';
CREATE INDEX smoke_tests_deployment ON mf.smoke_tests (deployment_id, smoke_test_id);
SELECT pg_catalog.pg_extension_config_dump('mf.smoke_tests', '');
SELECT pg_catalog.pg_extension_config_dump('mf.smoke_tests_smoke_test_id_seq', '');
-- issue 16 (drift): reference distributions, drift checks, prediction log, live accuracy (sql/drift.sql)
CREATE TABLE mf.reference_distributions (
	version_id	bigint NOT NULL REFERENCES mf.model_versions ON DELETE CASCADE,
	position	integer NOT NULL,
	feature		text NOT NULL,
	kind		text NOT NULL CONSTRAINT reference_distributions_kind_known CHECK (kind IN ('numeric', 'boolean', 'categorical')),
	n_rows		bigint NOT NULL,
	n_nulls		bigint NOT NULL,
	data		jsonb NOT NULL CONSTRAINT reference_distributions_data_object CHECK (jsonb_typeof(data) = 'object'),
	PRIMARY KEY (version_id, feature)
);
COMMENT ON TABLE mf.reference_distributions IS
	'per feature of a trained version, the distribution of the rows training read (written by mf_train from mf_ext 0.4.0 on; mf_drift compares current rows with it)';
COMMENT ON COLUMN mf.reference_distributions.version_id IS 'the version';
COMMENT ON COLUMN mf.reference_distributions.position IS 'the feature''s place in the feature schema (1-based)';
COMMENT ON COLUMN mf.reference_distributions.feature IS 'the feature column';
COMMENT ON COLUMN mf.reference_distributions.kind IS 'numeric, boolean or categorical (as the feature schema)';
COMMENT ON COLUMN mf.reference_distributions.n_rows IS 'rows training read (before the train/test split)';
COMMENT ON COLUMN mf.reference_distributions.n_nulls IS 'of them NULL in this feature';
COMMENT ON COLUMN mf.reference_distributions.data IS
	'numeric: {edges (decile bin edges), counts (per bin), sample (sorted: every value when at most 1000, else a seeded random sample of 1000)}; boolean: {counts [false, true]}; categorical: {values (100 most frequent), counts, other}; raw training values: readable by the extension''s owner only (mf_drift reads it for the model''s owner and mf_admin)';

CREATE TABLE mf.drift_checks (
	version_id	bigint NOT NULL REFERENCES mf.model_versions ON DELETE CASCADE,
	checked_at	timestamptz NOT NULL DEFAULT now(),
	feature		text NOT NULL,
	psi			float8,
	ks			float8,
	status		text CONSTRAINT drift_checks_status_known CHECK (status IN ('ok', 'warning', 'drift')),
	n_rows		bigint
);
COMMENT ON TABLE mf.drift_checks IS 'one row per feature of every mf_drift call: what the drift_psi alerts read';
COMMENT ON COLUMN mf.drift_checks.version_id IS 'the version whose reference the rows were compared with';
COMMENT ON COLUMN mf.drift_checks.checked_at IS 'when mf_drift ran (its transaction''s start)';
COMMENT ON COLUMN mf.drift_checks.feature IS 'the feature column';
COMMENT ON COLUMN mf.drift_checks.psi IS 'population stability index over the reference''s bins (NULLs a bin of their own; shares floored at 1e-4)';
COMMENT ON COLUMN mf.drift_checks.ks IS 'two-sample Kolmogorov-Smirnov statistic against the reference sample (numeric features; NULL otherwise)';
COMMENT ON COLUMN mf.drift_checks.status IS 'ok (psi < 0.1), warning (psi < 0.25) or drift';
COMMENT ON COLUMN mf.drift_checks.n_rows IS 'current rows compared';
CREATE INDEX drift_checks_version ON mf.drift_checks (version_id, checked_at);

CREATE TABLE mf.prediction_log (
	deployment_id bigint,
	model_name	text NOT NULL,
	version		text NOT NULL,
	request_id	text,
	row_id		text NOT NULL,
	prediction	jsonb NOT NULL,
	logged_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.prediction_log IS
	'predictions served by deployments with option log_predictions, with the id of their row: mf_record_outcomes joins labels on row_id; readable by the extension''s owner only';
COMMENT ON COLUMN mf.prediction_log.deployment_id IS 'the deployment that served it';
COMMENT ON COLUMN mf.prediction_log.model_name IS 'the model';
COMMENT ON COLUMN mf.prediction_log.version IS 'the version that answered (semver)';
COMMENT ON COLUMN mf.prediction_log.request_id IS 'the request (X-Request-Id, or one the server made)';
COMMENT ON COLUMN mf.prediction_log.row_id IS 'the row''s id, matched with id_column::text of mf_record_outcomes';
COMMENT ON COLUMN mf.prediction_log.prediction IS 'the answer for the row: a label (string, boolean or number), a number, or an object with member label';
COMMENT ON COLUMN mf.prediction_log.logged_at IS 'when it was served';
CREATE INDEX prediction_log_row ON mf.prediction_log (model_name, row_id);

CREATE TABLE mf.outcomes (
	model_name	text NOT NULL,
	row_id		text NOT NULL,
	label		text NOT NULL,
	recorded_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (model_name, row_id)
);
COMMENT ON TABLE mf.outcomes IS 'labels known later, per model and row id (mf_record_outcomes); readable by the extension''s owner only';
COMMENT ON COLUMN mf.outcomes.model_name IS 'the model';
COMMENT ON COLUMN mf.outcomes.row_id IS 'the row''s id (as text)';
COMMENT ON COLUMN mf.outcomes.label IS 'the true label (as text)';
COMMENT ON COLUMN mf.outcomes.recorded_at IS 'when mf_record_outcomes recorded it';

CREATE TABLE mf.model_performance (
	model_name	text NOT NULL,
	version		text NOT NULL,
	day			date NOT NULL,
	n			bigint NOT NULL,
	accuracy	float8,
	PRIMARY KEY (model_name, version, day)
);
COMMENT ON TABLE mf.model_performance IS 'live accuracy per model, version and day: logged predictions whose label became known (mf_record_outcomes)';
COMMENT ON COLUMN mf.model_performance.model_name IS 'the model';
COMMENT ON COLUMN mf.model_performance.version IS 'the version that answered';
COMMENT ON COLUMN mf.model_performance.day IS 'the day (UTC) the predictions were served';
COMMENT ON COLUMN mf.model_performance.n IS 'predictions of that day with a known label';
COMMENT ON COLUMN mf.model_performance.accuracy IS 'the share of them equal to their label';

SELECT pg_catalog.pg_extension_config_dump('mf.reference_distributions', '');
SELECT pg_catalog.pg_extension_config_dump('mf.drift_checks', '');
SELECT pg_catalog.pg_extension_config_dump('mf.prediction_log', '');
SELECT pg_catalog.pg_extension_config_dump('mf.outcomes', '');
SELECT pg_catalog.pg_extension_config_dump('mf.model_performance', '');
-- issue 16 (monitor): health checks and serving metrics (sql/monitor.sql has their functions);
-- mf.events gains the actions health and set_endpoint.
ALTER TABLE mf.events DROP CONSTRAINT events_action_known;
ALTER TABLE mf.events ADD CONSTRAINT events_action_known
	CHECK (action IN ('create_model', 'create_version', 'register', 'set_stage', 'set_alias', 'drop_alias', 'drop_model',
					  'train', 'queue_job', 'promotion', 'retrain_skipped', 'deploy', 'undeploy', 'health', 'set_endpoint',
					  'gate_refused'));
COMMENT ON COLUMN mf.events.action IS
	'create_model, create_version, register, set_stage, set_alias, drop_alias, drop_model, train, queue_job, promotion, retrain_skipped, deploy, undeploy, health (the monitor worker changed a deployment''s status to or from unhealthy), set_endpoint or gate_refused (a gated registry refused an untested image)';

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
-- issue 15: OCI registries (mf_create_registry, sql/registries.sql); their secrets apart;
-- the refusal of a gated registry is an event
-- (mf.events' action gate_refused: in the CHECK above)
CREATE TABLE mf.registries (
	name		text PRIMARY KEY
				CONSTRAINT registries_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	url			text NOT NULL,
	auth		text NOT NULL
				CONSTRAINT registries_auth_known CHECK (auth IN ('anonymous', 'basic', 'bearer', 'acr')),
	gated		boolean NOT NULL DEFAULT false,
	insecure	boolean NOT NULL DEFAULT false,
	created_by	name NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.registries IS
	'OCI registries images are pushed to (mf_create_registry, mf_drop_registry); never a secret: credentials are in mf.registry_secrets';
COMMENT ON COLUMN mf.registries.name IS 'the name mf_deploy options use ({"registry": "<name>"})';
COMMENT ON COLUMN mf.registries.url IS 'base URL, https://host[:port] (http:// only when insecure)';
COMMENT ON COLUMN mf.registries.auth IS
	'anonymous (no credentials); basic (username/password: Basic or a bearer token, as the registry''s challenge asks); bearer (username/password for the token server only, never sent as Basic to the registry); acr (a refresh token exchanged at /oauth2/token)';
COMMENT ON COLUMN mf.registries.gated IS 'accepts only images whose digest passed a smoke test, copied from another deployment (mf_deploy option from)';
COMMENT ON COLUMN mf.registries.insecure IS 'plain http allowed and TLS certificates not verified (a registry on loopback)';
COMMENT ON COLUMN mf.registries.created_by IS 'role that created it (from the session)';
COMMENT ON COLUMN mf.registries.created_at IS 'when it was created';

CREATE TABLE mf.registry_secrets (
	registry	text PRIMARY KEY REFERENCES mf.registries ON DELETE CASCADE,
	username	text,
	password	text,
	refresh_token text
);
COMMENT ON TABLE mf.registry_secrets IS
	'credentials of registries, readable by the extension''s owner alone (no grant); the deploy job reads them to push; never copied into errors, events or job logs';
COMMENT ON COLUMN mf.registry_secrets.registry IS 'the registry (mf.registries.name)';
COMMENT ON COLUMN mf.registry_secrets.username IS 'username for Basic auth or the token server (NULL for ACR refresh tokens)';
COMMENT ON COLUMN mf.registry_secrets.password IS 'password for Basic auth or the token server';
COMMENT ON COLUMN mf.registry_secrets.refresh_token IS 'ACR refresh token, exchanged at the registry''s /oauth2/token';

SELECT pg_catalog.pg_extension_config_dump('mf.registries', '');
SELECT pg_catalog.pg_extension_config_dump('mf.registry_secrets', '');
