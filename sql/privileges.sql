-- Everyone may read the catalog; writing goes through grants the DBA gives.
GRANT USAGE ON SCHEMA mf TO PUBLIC;
GRANT SELECT ON mf.models, mf.model_versions, mf.aliases, mf.templates, mf.events, mf.catalog TO PUBLIC;
GRANT SELECT (version_id, format_version, size_bytes, sha256, created_at) ON mf.artifacts TO PUBLIC;
GRANT SELECT ON mf.jobs, mf.job_events TO PUBLIC;
