-- mf_ext 0.1.0 -> 0.2.0, part 1 (the Makefile appends sql/catalog_view.sql, the functions of
-- registry.sql, training.sql, prediction.sql and jobs.sql as CREATE OR
-- REPLACE, then privileges.sql): the catalog's privilege model.
\echo Use "ALTER EXTENSION mf_ext UPDATE TO '0.2.0'" to load this file. \quit

-- Identity is set by the extension's functions, never by a column default.
ALTER TABLE mf.models ALTER COLUMN owner DROP DEFAULT;
ALTER TABLE mf.model_versions ALTER COLUMN created_by DROP DEFAULT;
ALTER TABLE mf.events ALTER COLUMN actor DROP DEFAULT;
ALTER TABLE mf.jobs ALTER COLUMN queued_by DROP DEFAULT;

-- A job's source runs as its author, with the search_path it was given on.
ALTER TABLE mf.jobs ADD COLUMN run_as name, ADD COLUMN search_path text;
UPDATE mf.jobs SET run_as = queued_by, search_path = '"$user", public';
ALTER TABLE mf.jobs ALTER COLUMN run_as SET NOT NULL, ALTER COLUMN search_path SET NOT NULL;
-- Queue events no longer carry the source (readers see events, not sources).
ALTER TABLE mf.events DISABLE TRIGGER events_no_update_delete;
UPDATE mf.events SET after = after - 'source' WHERE action = 'queue_job' AND after ? 'source';
ALTER TABLE mf.events ENABLE TRIGGER events_no_update_delete;
UPDATE mf.job_events SET message = regexp_replace(message, ' on .*$', '')
 WHERE level = 'info' AND message LIKE 'queued by %';
UPDATE mf.job_events SET message = regexp_replace(message, ': loading .*$', ': loading the source')
 WHERE level = 'info' AND message LIKE 'started in worker %';

-- The one PL/pgSQL function of catalog.sql (not re-created below) gets its fixed search_path.
ALTER FUNCTION mf._events_append_only() SET search_path = pg_catalog, mf, pg_temp;

-- The config merge now knows transformer shorthand keys (kernels/config_update.c).
COMMENT ON FUNCTION mf._merge_patch(jsonb, jsonb) IS 'RFC 7386 JSON merge patch of configs; a transformer shorthand key the patch gives (dropout, d_model, global_config.*, ...) is cleared from the stacks, so normalisation applies it where creation put it (kernels/config_update.c)';

-- Functions whose arguments or results changed (none is used by user objects).
DROP FUNCTION mf._train_run(text, jsonb, text, text, jsonb);
DROP FUNCTION mf._evaluate_run(bytea, text, text);
DROP FUNCTION mf._check_source(text, text, jsonb, boolean);
DROP FUNCTION mf._evaluate_on_split(bytea, text, text, float8, bigint, boolean);
DROP FUNCTION mf._count_source(text);
DROP FUNCTION mf._source_from_item(text);
DROP FUNCTION mf._queue_train(text, text, text, jsonb, jsonb);
DROP FUNCTION mf._job_begin(bigint, integer, integer);
