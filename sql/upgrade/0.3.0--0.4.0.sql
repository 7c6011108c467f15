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
