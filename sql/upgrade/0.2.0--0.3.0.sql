-- mf_ext 0.2.0 -> 0.3.0, part 1 (the Makefile appends sql/catalog_view.sql, the functions of
-- registry.sql, config_yaml.sql, training.sql, prediction.sql and jobs.sql as CREATE OR
-- REPLACE, then privileges.sql): the catalog changes of 0.3.0.
\echo Use "ALTER EXTENSION mf_ext UPDATE TO '0.3.0'" to load this file. \quit

-- The config library moved to config/.
COMMENT ON FUNCTION mf._merge_patch(jsonb, jsonb) IS 'RFC 7386 JSON merge patch of configs; a transformer shorthand key the patch gives (dropout, d_model, global_config.*, ...) is cleared from the stacks, so normalisation applies it where creation put it (config/config_update.c)';

-- Training arguments are checked by one C owner (src/train_args.c): the queue-time check takes
-- the run's normalised config instead of a classify flag computed in PL/pgSQL, and the
-- promotion's split is read from the run options with training's defaults.
DROP FUNCTION mf._check_source(text, text, jsonb, boolean, oid, text);
DROP FUNCTION mf._evaluate_on_split(bytea, text, text, float8, bigint, boolean, oid, text);
