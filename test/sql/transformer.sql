-- Transformer text models in SQL (issue 17): the errors of training and
-- prediction calls (SQLSTATE, message, detail, hint naming the option or
-- config key), and what a tiny trained classifier and language model
-- return (shapes and kinds, not values).
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE TABLE tf_src AS
SELECT i, (ARRAY['red apple', 'green pear', 'blue plum', 'ripe red cherry'])[1 + i % 4] AS body,
       (ARRAY['fruit a', 'fruit b'])[1 + (i % 4) / 2] AS label, 'note ' || i AS note, (i % 3)::float8 AS x
  FROM generate_series(1, 40) i;
CREATE TABLE tf_pairs AS SELECT i, 'ab' || i AS src, i || 'ba' AS tgt FROM generate_series(1, 30) i;

-- The error of a statement: SQLSTATE, message, detail, hint.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	st		text;
	msg		text;
	det		text;
	hint	text;
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
							hint = PG_EXCEPTION_HINT;
	RETURN concat_ws(' ', st, msg, 'DETAIL: ' || nullif(det, ''), 'HINT: ' || nullif(hint, ''));
END;
$$;

SELECT mf_create_model('transformer_encoder_classifier',
       '{"name": "tf_cls", "d_model": 8, "num_layers": 1, "num_heads": 2, "d_ff": 2, "dropout": 0.0,
         "vocab_size": 40, "max_length": 8, "num_classes": 2}');
SELECT mf_create_model('transformer_decoder_lm',
       '{"name": "tf_lm", "d_model": 8, "num_layers": 1, "num_heads": 2, "d_ff": 2, "vocab_size": 40, "max_length": 8}');
SELECT mf_create_model('transformer_seq2seq',
       '{"name": "tf_s2s", "d_model": 8, "num_layers": 1, "num_heads": 2, "d_ff": 2, "vocab_size": 40, "max_length": 8}');
SELECT mf_create_model('transformer_encoder_classifier',
       '{"name": "tf_emb", "d_model": 8, "num_layers": 1, "num_heads": 2, "d_ff": 2, "vocab_size": 40, "num_classes": null}');
SELECT mf_create_model('transformer_encoder_classifier',
       '{"name": "tf_novocab", "d_model": 8, "num_layers": 1, "num_heads": 2, "d_ff": 2, "vocab_size": null}');
SELECT mf_create_model('{"name": "tf_tab", "family": "logistic_regression"}');

-- Training calls refused before any work.
SELECT c AS call, pg_temp.err('SELECT mf_train(' || c || ')') AS error
  FROM (VALUES ($$'tf_cls', 'tf_src', NULL, '{"text_column": "body"}'$$),
               ($$'tf_cls', 'tf_src', 'label'$$),
               ($$'tf_cls', 'tf_src', 'label', '{"text_column": "nope"}'$$),
               ($$'tf_cls', 'tf_src', 'label', '{"text_column": "x"}'$$),
               ($$'tf_cls', 'tf_src', 'label', '{"text_column": "body", "tokenizer": "words"}'$$),
               ($$'tf_cls', 'tf_src', 'label', '{"text_column": "body", "source_column": "body"}'$$),
               ($$'tf_cls', 'tf_src', 'label', '{"text_column": ""}'$$),
               ($$'tf_lm', 'tf_src', 'label', '{"text_column": "body"}'$$),
               ($$'tf_s2s', 'tf_pairs', NULL, '{"source_column": "src"}'$$),
               ($$'tf_emb', 'tf_src', 'label', '{"text_column": "body"}'$$),
               ($$'tf_novocab', 'tf_src', 'label', '{"text_column": "body"}'$$),
               ($$'tf_tab', 'tf_src', 'label', '{"text_column": "body"}'$$),
               ($$'tf_cls', 'tf_src', 'label', '{"text_column": "body", "vocab_size": 4}'$$)) v(c);

-- The same checks when a job is queued (this database is not mf.database: valid calls fail at the launcher check).
SELECT pg_temp.err($$SELECT mf_train_async('tf_lm', 'tf_src', 'label', '{"text_column": "body"}')$$) =
       pg_temp.err($$SELECT mf_train('tf_lm', 'tf_src', 'label', '{"text_column": "body"}')$$) AS async_same;

-- A tiny classifier, language model and encoder-decoder (one epoch: shapes, not quality).
SELECT mf_train('tf_cls', 'tf_src', 'label', '{"text_column": "body", "epochs": 2}');
SELECT mf_train('tf_lm', 'tf_src', NULL, '{"text_column": "body", "epochs": 2, "tokenizer": "bpe"}');
SELECT mf_train('tf_s2s', 'tf_pairs', NULL, '{"source_column": "src", "target_column": "tgt", "epochs": 2, "tokenizer": "char"}');
SELECT c.ref, v.metrics ->> 'task' AS task, v.metrics ? 'accuracy' AS has_accuracy,
       v.metrics ? 'perplexity' AS has_perplexity, jsonb_array_length(v.metrics -> 'history') AS epochs,
       v.feature_schema -> 'columns' AS columns, v.feature_schema -> 'labels' AS labels
  FROM mf.catalog c JOIN mf.model_versions v USING (version_id) WHERE c.model IN ('tf_cls', 'tf_lm', 'tf_s2s') ORDER BY ref;
SELECT mf_predict_label('tf_cls', 'red apple') IN ('fruit a', 'fruit b') AS label_ok,
       mf_predict('tf_cls', 'red apple') IN (0, 1) AS index_ok,
       array_length(mf_predict_proba('tf_cls', 'red apple'), 1) AS n_proba,
       array_length(mf_embed('tf_cls', 'red apple'), 1) AS embed_dim,
       mf_predict_label('tf_cls', s) = mf_predict_label('tf_cls', s.body) AS record_same,
       mf_predict_label('tf_cls', '') IS NOT NULL AS empty_text_ok
  FROM tf_src s WHERE i = 1;
SELECT mf_generate('tf_lm', 'red', '{"max_tokens": 4}') = mf_generate('tf_lm', 'red', '{"max_tokens": 4, "greedy": true}') AS greedy_same,
       mf_generate('tf_lm', 'red', '{"temperature": 1, "seed": 3}') = mf_generate('tf_lm', 'red', '{"temperature": 1, "seed": 3}') AS seed_same,
       mf_generate('tf_s2s', 'ab7') IS NOT NULL AS s2s_ok;
-- The char tokenizer of tf_s2s has fewer pieces than vocab_size 40 (only the characters seen; the
-- bpe one of tf_lm has all 40): generation, sampled with any seed, never picks an id it lacks.
SELECT c.model, (v.metrics ->> 'vocab_size')::int < 40 AS tokenizer_smaller,
       (SELECT count(mf_generate(c.model, 'ab' || s, jsonb_build_object('temperature', 2, 'seed', s)))
          FROM generate_series(1, 30) s) AS generated
  FROM mf.catalog c JOIN mf.model_versions v USING (version_id) WHERE c.model IN ('tf_lm', 'tf_s2s') ORDER BY 1;

-- Prediction calls refused.
SELECT c AS call, pg_temp.err('SELECT ' || c) AS error
  FROM (VALUES ($$mf_generate('tf_cls', 'red')$$),
               ($$mf_embed('tf_lm', 'red')$$),
               ($$mf_predict_label('tf_lm', 'red')$$),
               ($$mf_predict_proba('tf_s2s', 'ab')$$),
               ($$mf_predict('tf_cls', ARRAY[1.0])$$),
               ($$mf_predict('tf_cls', '{"body": "red"}'::jsonb)$$),
               ($$mf_predict_batch('tf_cls', ARRAY[[1.0]])$$),
               ($$mf_predict_label('tf_cls', t) FROM (SELECT 'red' AS title) t$$),
               ($$mf_generate('tf_lm', 'red', '{"seed": -1}')$$),
               ($$mf_generate('tf_lm', 'red', '{"top_k": 1.5}')$$),
               ($$mf_generate('tf_lm', 'red', '{"greedy": 1}')$$),
               ($$mf_generate('tf_lm', 'red', '[]')$$),
               ($$mf_generate('tf_lm', 'red', '{"max_tokens": 5000}')$$)) v(c);

-- transformer versions are served over HTTP (#17): mf_deploy accepts them,
-- and a classifier's training kept text test rows for images and smoke tests
SELECT mf_deploy('tf_cls') AS tf_deployment \gset
SELECT status, target, name, ref FROM mf.deployments WHERE deployment_id = :tf_deployment;
SELECT (mf_undeploy(:tf_deployment)).status AS undeployed;
SELECT status FROM mf.deployments WHERE deployment_id = :tf_deployment;
SELECT count(*) > 0 AS has_rows, bool_and(jsonb_typeof(r -> 'body') = 'string') AS text_rows
  FROM mf.catalog c, jsonb_array_elements(mf._test_rows(c.version_id, 5)) r WHERE c.ref = 'tf_cls:1.0.0';

-- Every transformer template trains: bert_classifier (BERT-base shaped as shipped) shrunk like tf_cls.
SELECT mf_create_model('bert_classifier',
       '{"name": "tf_bert", "d_model": 8, "num_layers": 1, "num_heads": 2, "d_ff": 2, "dropout": 0.0,
         "vocab_size": 40, "max_length": 8, "num_classes": 2}');
SELECT mf_train('tf_bert', 'tf_src', 'label', '{"text_column": "body", "epochs": 1}');
SELECT mf_predict_label('tf_bert', 'red apple') IN ('fruit a', 'fruit b') AS bert_label_ok,
       array_length(mf_predict_proba('tf_bert', 'red apple'), 1) AS bert_n_proba;

SELECT mf_drop_model(m) FROM unnest(ARRAY['tf_cls', 'tf_lm', 'tf_s2s', 'tf_emb', 'tf_novocab', 'tf_tab', 'tf_bert']) m;
DROP TABLE tf_src, tf_pairs;
