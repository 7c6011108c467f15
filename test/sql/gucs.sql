-- The mf.* settings. With mf_ext preloaded (as in the private cluster) all of them exist from server
-- start, also those that mf_core reads, so they can be SET before a session's first mf_* call;
-- any other name under the reserved prefix is refused.
SELECT name, boot_val, unit, context, vartype FROM pg_settings WHERE name LIKE 'mf.%' ORDER BY name;
SET mf.model_cache_mb = 8;
SHOW mf.model_cache_mb;
SET mf.predict_simplify = off;
SHOW mf.predict_simplify;
SET mf.no_such_setting = 1;
SET mf.model_cache_mb = 0;
-- Loading mf_core keeps the values set before it.
SELECT count(*) >= 0 AS loaded FROM mf_list_model_types();
SHOW mf.model_cache_mb;
SHOW mf.predict_simplify;
RESET mf.model_cache_mb;
RESET mf.predict_simplify;
SHOW mf.model_cache_mb;
