-- mf_evaluate() on transformer text models (issue 17): an encoder
-- classifier reports the metrics of tabular classifiers, each checked
-- against what mf_predict_label / mf_predict_proba answer on the same rows;
-- a decoder language model reports loss per token and perplexity, checked
-- against the token-weighted mean of its texts evaluated alone; an
-- encoder-decoder the same of its targets given their sources, with
-- token_accuracy, on its trained target column or another one; and the
-- errors (message, detail, hint, SQLSTATE) of the calls it refuses.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE TABLE tfe_src AS
SELECT i, (ARRAY['red apple', 'green pear', 'blue plum', 'ripe red cherry'])[1 + i % 4] AS body,
       (ARRAY['fruit a', 'fruit b'])[1 + (i % 4) / 2] AS label
  FROM generate_series(1, 40) i;
CREATE TABLE tfe_pairs AS SELECT i, 'ab' || i AS src, i || 'ba' AS tgt FROM generate_series(1, 30) i;

SELECT mf_create_model('transformer_encoder_classifier',
       '{"name": "tfe_cls", "d_model": 8, "num_layers": 1, "num_heads": 2, "d_ff": 2, "dropout": 0.0,
         "vocab_size": 40, "max_length": 8, "num_classes": 2}');
SELECT mf_create_model('transformer_decoder_lm',
       '{"name": "tfe_lm", "d_model": 8, "num_layers": 1, "num_heads": 2, "d_ff": 2, "vocab_size": 40, "max_length": 8}');
SELECT mf_create_model('transformer_seq2seq',
       '{"name": "tfe_s2s", "d_model": 8, "num_layers": 1, "num_heads": 2, "d_ff": 2, "vocab_size": 40, "max_length": 8}');
SELECT mf_train('tfe_cls', 'tfe_src', 'label', '{"text_column": "body", "epochs": 3}') IS NOT NULL AS trained;
SELECT mf_train('tfe_lm', 'tfe_src', NULL, '{"text_column": "body", "epochs": 2, "tokenizer": "bpe"}') IS NOT NULL AS trained;
SELECT mf_train('tfe_s2s', 'tfe_pairs', NULL, '{"source_column": "src", "target_column": "tgt", "epochs": 1, "tokenizer": "char"}') IS NOT NULL AS trained;

-- The classifier: the keys of a tabular classifier's metrics, every row counted.
CREATE TEMP TABLE tfe_m AS SELECT mf_evaluate('tfe_cls', 'tfe_src', 'label') AS m;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(m) k) AS keys, m ->> 'task' AS task,
       (m ->> 'rows')::int AS rows, m -> 'labels' AS labels,
       (SELECT sum(v::int) FROM jsonb_array_elements(m -> 'confusion_matrix') r, jsonb_array_elements_text(r) v) AS cm_total
  FROM tfe_m;
-- ... equal to what the prediction functions answer on the same rows.
SELECT abs((m ->> 'accuracy')::float8 -
           (SELECT avg((mf_predict_label('tfe_cls', body) = label)::int) FROM tfe_src)) < 1e-12 AS accuracy_same,
       abs((m ->> 'log_loss')::float8 -
           (SELECT avg(-ln(greatest((mf_predict_proba('tfe_cls', body))[CASE label WHEN 'fruit a' THEN 1 ELSE 2 END], 1e-15)))
              FROM tfe_src)) < 1e-9 AS log_loss_same,
       (SELECT count(*) FROM tfe_src WHERE mf_predict_label('tfe_cls', body) = 'fruit b' AND label = 'fruit a') =
       (m #>> '{confusion_matrix,0,1}')::int AS confusion_same
  FROM tfe_m;
-- A query source, the text column read by name, NULL read as the empty text (as training reads it).
SELECT (mf_evaluate('tfe_cls', $$SELECT NULL::text AS body, 'fruit a' AS label$$, 'label') ->> 'accuracy')::float8 =
       (mf_predict_label('tfe_cls', '') = 'fruit a')::int AS null_as_empty;

-- The language model: loss per predicted token and its exponential ...
CREATE TEMP TABLE tfe_l AS SELECT mf_evaluate('tfe_lm', 'tfe_src') AS m;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(m) k) AS keys, m ->> 'task' AS task,
       (m ->> 'rows')::int AS rows, (m ->> 'loss')::float8 > 0 AS loss_positive,
       abs((m ->> 'perplexity')::float8 - exp((m ->> 'loss')::float8)) < 1e-9 AS perplexity_is_exp_loss
  FROM tfe_l;
-- ... the token-weighted mean of each text's loss evaluated alone.
SELECT abs((l.m ->> 'loss')::float8 - sum((e ->> 'loss')::float8 * (e ->> 'tokens')::int * n) /
                                      sum((e ->> 'tokens')::int * n)) < 1e-9 AS loss_is_token_mean,
       (l.m ->> 'tokens')::int = sum((e ->> 'tokens')::int * n) AS tokens_add_up
  FROM tfe_l l,
       (SELECT mf_evaluate('tfe_lm', format('SELECT %L AS body', body)) AS e, count(*) AS n
          FROM tfe_src GROUP BY body) per_text
 GROUP BY l.m;

-- The encoder-decoder: loss per target token given its source, its exponential, token accuracy ...
CREATE TEMP TABLE tfe_p AS SELECT mf_evaluate('tfe_s2s', 'tfe_pairs') AS m;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(m) k) AS keys, m ->> 'task' AS task,
       (m ->> 'rows')::int AS rows, (m ->> 'loss')::float8 > 0 AS loss_positive,
       abs((m ->> 'perplexity')::float8 - exp((m ->> 'loss')::float8)) < 1e-9 AS perplexity_is_exp_loss,
       (m ->> 'token_accuracy')::float8 BETWEEN 0 AND 1 AS accuracy_in_range,
       (m ->> 'tokens')::int > (SELECT count(*) FROM tfe_pairs) AS tokens_beyond_eos
  FROM tfe_p;
-- ... the token-weighted mean of each pair evaluated alone (loss and accuracy) ...
SELECT abs((p.m ->> 'loss')::float8 - sum((e ->> 'loss')::float8 * (e ->> 'tokens')::int) /
                                      sum((e ->> 'tokens')::int)) < 1e-9 AS loss_is_token_mean,
       abs((p.m ->> 'token_accuracy')::float8 - sum((e ->> 'token_accuracy')::float8 * (e ->> 'tokens')::int) /
                                                sum((e ->> 'tokens')::int)) < 1e-12 AS accuracy_is_token_mean,
       (p.m ->> 'tokens')::int = sum((e ->> 'tokens')::int) AS tokens_add_up
  FROM tfe_p p,
       (SELECT mf_evaluate('tfe_s2s', format('SELECT %L AS src, %L AS tgt', src, tgt)) AS e FROM tfe_pairs) per_pair
 GROUP BY p.m;
-- ... the trained target column named is the default; another column is another target.
SELECT mf_evaluate('tfe_s2s', 'tfe_pairs', 'tgt') = m AS named_target_same,
       mf_evaluate('tfe_s2s', 'SELECT src, src AS copy FROM tfe_pairs', 'copy') ->> 'loss' <> m ->> 'loss' AS other_target_differs
  FROM tfe_p;

-- Calls refused: message, detail, hint, then the SQLSTATE.
SELECT mf_evaluate('tfe_lm', 'tfe_src', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_evaluate('tfe_s2s', 'tfe_pairs', 'nope');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_evaluate('tfe_cls', 'tfe_src');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_evaluate('tfe_cls', 'SELECT body AS title, label FROM tfe_src', 'label');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_evaluate('tfe_cls', 'SELECT body, label FROM tfe_src', 'nope');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_evaluate('tfe_cls', $$SELECT body, 'fruit c' AS label FROM tfe_src$$, 'label');
\echo :LAST_ERROR_SQLSTATE

SELECT mf_drop_model(m) FROM unnest(ARRAY['tfe_cls', 'tfe_lm', 'tfe_s2s']) m;
DROP TABLE tfe_src, tfe_pairs;
