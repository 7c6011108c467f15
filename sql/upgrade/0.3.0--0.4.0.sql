-- Upgrade 0.3.0 -> 0.4.0: this version's own catalog changes (new tables,
-- columns, dropped signatures). The Makefile appends the view, every function
-- of 0.4.0 as CREATE OR REPLACE and the privileges.

-- mf._train_run returns the test rows too (a new OUT column).
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
