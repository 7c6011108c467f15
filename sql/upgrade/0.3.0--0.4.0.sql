-- Upgrade 0.3.0 -> 0.4.0: this version's own catalog changes (new tables,
-- columns, dropped signatures). The Makefile appends the view, every function
-- of 0.4.0 as CREATE OR REPLACE and the privileges.

-- issue 16 (drift): mf._train_run returns the reference distributions too (a new OUT column)
DROP FUNCTION mf._train_run(text, jsonb, text, text, jsonb, oid, text);
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
