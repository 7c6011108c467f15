-- Validating a YAML model config: the rows of mf_validate_config(jsonb).
-- Owns: no rule (a declaration of C: config/yaml.c, config/config*.c).

CREATE FUNCTION mf_validate_config_yaml(config text)
	RETURNS TABLE(path text, problem text)
	AS 'MODULE_PATHNAME', 'mf_validate_config_yaml'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mf_validate_config_yaml(text) IS 'every problem of a YAML model config as (JSON path, problem); a YAML syntax error is one row at $ with its line and column; no rows when valid';
