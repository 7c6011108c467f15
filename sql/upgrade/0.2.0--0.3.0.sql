-- mf_ext 0.2.0 -> 0.3.0, part 1 (the Makefile appends sql/catalog_view.sql, the functions of
-- registry.sql, config_yaml.sql, training.sql, prediction.sql and jobs.sql as CREATE OR
-- REPLACE, then privileges.sql): the catalog changes of 0.3.0.
\echo Use "ALTER EXTENSION mf_ext UPDATE TO '0.3.0'" to load this file. \quit

-- The config library moved to config/.
COMMENT ON FUNCTION mf._merge_patch(jsonb, jsonb) IS 'RFC 7386 JSON merge patch of configs; a transformer shorthand key the patch gives (dropout, d_model, global_config.*, ...) is cleared from the stacks, so normalisation applies it where creation put it (config/config_update.c)';
