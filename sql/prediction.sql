-- prediction.sql - declarations of the C prediction functions (src/predict.c,
-- model_cache.c); no rule is written in SQL here.
-- Owns: no rule (every function is C: scoring in model/model.c, references
-- resolved by the registry's owner).  No PL/pgSQL function.

-- ---------------------------------------------------------------------------
-- Predictions inside SELECT (src/predict.c, src/model_cache.c)
-- ---------------------------------------------------------------------------
-- A reference is resolved once per query per call site, with the query's
-- snapshot: a new production version is used from the next query on, never
-- in the middle of one. Models are cached per backend (mf.model_cache_mb).

-- The planner support function rewrites mf_predict*(ref, ARRAY[...]) and
-- mf_predict*(ref, table_row) into the internal argument forms below, which
-- take the values as plain arguments (no array or row built per row) and
-- give the same results and errors (mf.predict_simplify = off disables it).
CREATE FUNCTION mf._predict_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'mf_predict_support'
	LANGUAGE C STRICT;
COMMENT ON FUNCTION mf._predict_support(internal) IS
	'planner support of mf_predict, mf_predict_label, mf_predict_proba: passes ARRAY[...] elements and table columns as plain arguments';

CREATE FUNCTION mf._predict_args(ref text, VARIADIC features "any") RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_args'
	LANGUAGE C STABLE PARALLEL SAFE COST 10;
CREATE FUNCTION mf._predict_label_args(ref text, VARIADIC features "any") RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_args'
	LANGUAGE C STABLE PARALLEL SAFE COST 10;
CREATE FUNCTION mf._predict_proba_args(ref text, VARIADIC features "any") RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_args'
	LANGUAGE C STABLE PARALLEL SAFE COST 10;
CREATE FUNCTION mf._predict_cols(ref text, names text[], VARIADIC "columns" "any") RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_cols'
	LANGUAGE C STABLE PARALLEL SAFE COST 20;
CREATE FUNCTION mf._predict_label_cols(ref text, names text[], VARIADIC "columns" "any") RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_cols'
	LANGUAGE C STABLE PARALLEL SAFE COST 20;
CREATE FUNCTION mf._predict_proba_cols(ref text, names text[], VARIADIC "columns" "any") RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_cols'
	LANGUAGE C STABLE PARALLEL SAFE COST 20;
COMMENT ON FUNCTION mf._predict_args(text, "any") IS 'internal: mf_predict(ref, ARRAY[x1, ...]) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_label_args(text, "any") IS 'internal: mf_predict_label(ref, ARRAY[x1, ...]) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_proba_args(text, "any") IS 'internal: mf_predict_proba(ref, ARRAY[x1, ...]) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_cols(text, text[], "any") IS 'internal: mf_predict(ref, row) as the planner rewrites it (names, then the columns)';
COMMENT ON FUNCTION mf._predict_label_cols(text, text[], "any") IS 'internal: mf_predict_label(ref, row) as the planner rewrites it';
COMMENT ON FUNCTION mf._predict_proba_cols(text, text[], "any") IS 'internal: mf_predict_proba(ref, row) as the planner rewrites it';

CREATE FUNCTION mf_predict(ref text, features float8[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict(text, float8[]) IS
	'prediction for one row of RAW (unscaled) expanded features, in the order of feature_schema -> ''features''; the stored standardisation is applied inside. Regression: the value; classifier: the label when labels are numeric, else the class index; kmeans: the cluster index';

CREATE FUNCTION mf_predict(ref text, "row" record) RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_record'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 20
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict(text, record) IS
	'prediction for a row whose columns are named as in the feature schema (encoding, imputation and scaling as in training): SELECT mf_predict(''churn'', c) FROM customers c';

CREATE FUNCTION mf_predict(ref text, input jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_predict_jsonb'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION mf_predict(text, jsonb) IS
	'predictions for one JSON object of named features (null imputes) or an array of them: {"prediction", "label", "probabilities"} ({"prediction", "cluster"} for kmeans)';

CREATE FUNCTION mf_predict_label(ref text, features float8[]) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_label(text, float8[]) IS
	'the predicted label text for one row of RAW expanded features (the value or cluster number as text for other models)';

CREATE FUNCTION mf_predict_label(ref text, "row" record) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_record'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 20
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_label(text, record) IS
	'the predicted label text for a row whose columns are named as in the feature schema';

CREATE FUNCTION mf_predict_proba(ref text, features float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_proba(text, float8[]) IS
	'class probabilities (in the order of feature_schema -> ''labels'') for one row of RAW expanded features; classifiers only';

CREATE FUNCTION mf_predict_proba(ref text, "row" record) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_record'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 20
	SUPPORT mf._predict_support;
COMMENT ON FUNCTION mf_predict_proba(text, record) IS
	'class probabilities for a row whose columns are named as in the feature schema; classifiers only';

CREATE FUNCTION mf_predict_batch(ref text, features float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_batch'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_predict_batch(text, float8[]) IS
	'mf_predict for every row of a 2-D array (n rows x RAW expanded features) in one matrix product';

CREATE FUNCTION mf_prewarm(ref text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'mf_prewarm'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_prewarm(text) IS
	'load a trained version into this backend''s model cache (mf.model_cache_mb); true when loaded';

-- ---------------------------------------------------------------------------
-- Transformer text models (src/predict_text.c, src/text_model.c)
-- ---------------------------------------------------------------------------
-- Classifiers read one text (or, in the record forms above, the column named
-- as the text column training read); decoders and encoder-decoders generate;
-- encoders embed.  A model of the wrong kind is refused with 42809.

CREATE FUNCTION mf_predict(ref text, input text) RETURNS float8
	AS 'MODULE_PATHNAME', 'mf_predict_text'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_predict(text, text) IS
	'transformer classifier on one text: the class (its label as a number when every label is one, else its index)';

CREATE FUNCTION mf_predict_label(ref text, input text) RETURNS text
	AS 'MODULE_PATHNAME', 'mf_predict_label_text'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_predict_label(text, text) IS 'transformer classifier on one text: the predicted label';

CREATE FUNCTION mf_predict_proba(ref text, input text) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mf_predict_proba_text'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_predict_proba(text, text) IS
	'transformer classifier on one text: class probabilities in the order of feature_schema -> ''labels''';

CREATE FUNCTION mf_generate(ref text, prompt text, options jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME', 'mf_generate'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
COMMENT ON FUNCTION mf_generate(text, text, jsonb) IS
	'text a decoder continues from prompt, or an encoder-decoder writes for it; options greedy, temperature, top_k, max_tokens, seed (same seed, same text)';

CREATE FUNCTION mf_embed(ref text, input text) RETURNS float4[]
	AS 'MODULE_PATHNAME', 'mf_embed'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION mf_embed(text, text) IS 'the pooled encoder output of a transformer encoder for one text (d_model values)';
