-- ---------------------------------------------------------------------------
-- The catalog view (install and upgrades: CREATE OR REPLACE keeps the
-- objects of users that read it; new columns go at the end)
-- ---------------------------------------------------------------------------
-- Owns: what mf.catalog shows of a version (a view; no function).

CREATE OR REPLACE VIEW mf.catalog AS
SELECT m.name AS model,
	   v.version,
	   m.name || ':' || v.version AS ref,
	   m.family,
	   v.stage,
	   v.status,
	   m.tags,
	   coalesce((v.metrics ->> 'accuracy')::float8,
				CASE WHEN jsonb_typeof(v.metadata -> 'accuracy') = 'number' THEN (v.metadata ->> 'accuracy')::float8 END) AS accuracy,
	   v.metrics,
	   v.n_parameters,
	   m.description,
	   v.created_at,
	   m.model_id,
	   v.version_id,
	   CASE WHEN v.metrics ? 'accuracy' THEN 'metrics'
			WHEN jsonb_typeof(v.metadata -> 'accuracy') = 'number' THEN 'metadata' END AS accuracy_source
  FROM mf.model_versions v
  JOIN mf.models m USING (model_id);
COMMENT ON VIEW mf.catalog IS 'one row per model version, for search and BI tools';
COMMENT ON COLUMN mf.catalog.model IS 'model name';
COMMENT ON COLUMN mf.catalog.version IS 'semantic version';
COMMENT ON COLUMN mf.catalog.ref IS 'reference usable with every mf_* function: name:version';
COMMENT ON COLUMN mf.catalog.family IS 'model family';
COMMENT ON COLUMN mf.catalog.stage IS 'lifecycle stage';
COMMENT ON COLUMN mf.catalog.status IS 'training status';
COMMENT ON COLUMN mf.catalog.tags IS 'model tags';
COMMENT ON COLUMN mf.catalog.accuracy IS 'metrics.accuracy when measured, else a numeric metadata.accuracy (as the seeds register it); accuracy_source says which';
COMMENT ON COLUMN mf.catalog.metrics IS 'all metrics';
COMMENT ON COLUMN mf.catalog.n_parameters IS 'trainable parameters';
COMMENT ON COLUMN mf.catalog.description IS 'model description';
COMMENT ON COLUMN mf.catalog.created_at IS 'when the version was created';
COMMENT ON COLUMN mf.catalog.model_id IS 'model key';
COMMENT ON COLUMN mf.catalog.version_id IS 'version key';
COMMENT ON COLUMN mf.catalog.accuracy_source IS 'where accuracy comes from: metrics (measured or registered as a metric), metadata, or NULL';
