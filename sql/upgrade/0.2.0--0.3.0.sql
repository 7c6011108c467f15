-- mf_ext 0.2.0 -> 0.3.0, part 1 (the Makefile appends sql/catalog_view.sql, the functions of
-- registry.sql, config_yaml.sql, training.sql, prediction.sql and jobs.sql as CREATE OR
-- REPLACE, then privileges.sql): the catalog changes of 0.3.0.
\echo Use "ALTER EXTENSION mf_ext UPDATE TO '0.3.0'" to load this file. \quit
