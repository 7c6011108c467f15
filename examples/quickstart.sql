-- mf_ext quickstart: the model registry in plain SQL.
-- `make demo` runs this file in database mf. What it creates is its own: models tagged 'quickstart' and
-- tables in schema quickstart. A re-run replaces them and nothing else (`make demo` stops first when a
-- model of yours has one of its model names).

-- 0. Start over: drop the models an earlier run created.
SELECT mf_drop_model(name) FROM mf.models WHERE 'quickstart' = ANY (tags);

-- 1. What can the factory build?
SELECT family, description FROM mf_list_model_types();
SELECT name, family, description FROM mf_list_templates();

-- 2. Create models: from a template with overrides, from jsonb, from YAML.
SELECT mf_create_model('mlp_classifier', '{"name": "churn", "num_classes": 2, "dropout": 0.1, "n_features": 20,
                                           "tags": ["quickstart"]}');

SELECT mf_create_model('{"name": "house_prices", "family": "linear_regression", "alpha": 0.5,
                         "description": "ridge regression on the housing table", "tags": ["quickstart"]}');

SELECT mf_create_model_from_yaml($yaml$
model:
  model_type: encoder_decoder
  name: translator
  tags: [quickstart]
  global_config:
    dropout: 0.1
    batch_size: 32
    d_ff: 4
    device: cpu
  encoder: {d_model: 512, num_layers: 6, num_heads: 8, attention_type: linear, activation: GEGLU}
  decoder: {d_model: 512, num_layers: 6, num_heads: 8, attention_type: causal_linear, activation: SWIGLU,
            nb_features: 256, use_cross_attention: true}
$yaml$);

-- 3. Bad configs are refused with every problem listed.
SELECT * FROM mf_validate_config('{"name": "bad", "family": "mlp", "dropuot": 0.2, "num_classes": 1}');

-- 4. Register measured metrics and tags, then find models with plain SQL.
SELECT mf_register_model('churn', tags => ARRAY['tabular', 'classification'],
                         metrics => '{"accuracy": 0.91}');
SELECT mf_register_model('house_prices', tags => ARRAY['tabular', 'regression'],
                         metrics => '{"r2": 0.84}');
SELECT ref, family, stage, accuracy, tags FROM mf_search_models(tags => ARRAY['tabular']);
SELECT ref, accuracy FROM mf_search_models(min_accuracy => 0.9);

-- 5. A new version with a JSON merge patch; lineage is kept.
SELECT mf_create_version('churn', ARRAY['less dropout'], '{"dropout": 0.05}');
SELECT mf_get_model('churn:1.1.0') -> 'lineage' AS lineage,
       mf_get_model('churn:1.1.0') #> '{config,dropout}' AS dropout;

-- 6. Lifecycle: stages and aliases.
SELECT mf_set_stage('churn:1.1.0', 'staging');
SELECT mf_set_alias('churn:1.0.0', 'champion');
SELECT mf_get_model('churn@staging') ->> 'ref' AS staging, mf_get_model('churn@champion') ->> 'ref' AS champion;

-- 7. Parameter counts come from the config.
SELECT ref, family, n_parameters FROM mf.catalog WHERE 'quickstart' = ANY (tags) ORDER BY ref;

-- 8. Every change is in the audit log (this run's changes to churn, newest first).
SELECT event_id, actor, action, model_name, version FROM mf.events
 WHERE model_name = 'churn' ORDER BY event_id DESC LIMIT 6;

-- 9. Train where the data lives: Fisher's iris, shipped in test/data (run from the repository root).
CREATE SCHEMA IF NOT EXISTS quickstart;
DROP TABLE IF EXISTS quickstart.iris;
CREATE TABLE quickstart.iris (sepal_length float8, sepal_width float8, petal_length float8, petal_width float8,
                   species text, split text);
\copy quickstart.iris FROM 'test/data/iris.csv' WITH (FORMAT csv, HEADER true)

-- A classifier: logistic regression on every column but the target (split excluded), 20% held out.
SELECT mf_create_model('logistic_regression', '{"name": "iris_species", "description": "iris species from flower sizes",
                                                 "tags": ["quickstart"]}');
SELECT mf_train('iris_species', 'SELECT sepal_length, sepal_width, petal_length, petal_width, species FROM quickstart.iris',
                'species');
SELECT metrics -> 'accuracy' AS accuracy, metrics -> 'f1' AS macro_f1, metrics -> 'test_rows' AS test_rows,
       metrics -> 'confusion_matrix' AS confusion
  FROM mf.catalog WHERE ref = 'iris_species:1.0.0';

-- A regressor: petal width from the other sizes.
SELECT mf_create_model('{"name": "petal_width", "family": "linear_regression", "tags": ["quickstart"]}');
SELECT mf_train('petal_width', 'quickstart.iris', 'petal_width',
                '{"features": ["sepal_length", "sepal_width", "petal_length"]}');
SELECT round((metrics ->> 'r2')::numeric, 3) AS r2, round((metrics ->> 'rmse')::numeric, 3) AS rmse
  FROM mf.catalog WHERE ref = 'petal_width:1.0.0';

-- A trained version can serve production; the feature schema says how inputs are encoded.
SELECT mf_set_stage('iris_species:1.0.0', 'production');
SELECT jsonb_pretty(mf_get_model('iris_species') -> 'feature_schema' -> 'labels') AS labels;
SELECT round((mf_evaluate('iris_species', 'quickstart.iris', 'species') ->> 'accuracy')::numeric, 3) AS accuracy_on_all_rows;

-- 10. Score rows inside a SELECT. The record form finds the feature columns by name (text is one-hot
--     encoded and NULLs imputed as in training); the array form takes raw values in the order of
--     feature_schema -> 'features'. A new production version is used from the next statement on.
SELECT species, mf_predict_label('iris_species', i) AS predicted, count(*) AS n
  FROM quickstart.iris i GROUP BY 1, 2 ORDER BY 1, 2;
SELECT sepal_length, sepal_width, petal_length, petal_width,
       mf_predict_label('iris_species', ARRAY[sepal_length, sepal_width, petal_length, petal_width]) AS species,
       round((SELECT max(p) FROM unnest(mf_predict_proba('iris_species', i)) p)::numeric, 3) AS confidence,
       round(mf_predict('petal_width', ARRAY[sepal_length, sepal_width, petal_length])::numeric, 2) AS predicted_width
  FROM quickstart.iris i ORDER BY sepal_length DESC, sepal_width DESC LIMIT 5;
-- jsonb in, jsonb out (e.g. from an application): the label and the probabilities by name.
SELECT mf_predict('iris_species', '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'::jsonb);

-- 11. Background jobs: queue training in this transaction, wait with visible progress, read the log.
DROP TABLE IF EXISTS quickstart.churn_history;
CREATE TABLE quickstart.churn_history AS
SELECT i AS customer_id, (i % 97) / 97.0 AS tenure, (i % 89) / 89.0 AS monthly_spend,
       (i % 83) / 83.0 AS support_calls, ((i % 97) / 97.0 + (i % 89) / 89.0 < 0.8) AS churned
  FROM generate_series(1, 20000) i;
SELECT mf_create_model('{"name": "churn_bg", "family": "mlp", "hidden_layers": [64, 64], "tags": ["quickstart"]}');
SELECT mf_train_async('churn_bg', 'SELECT tenure, monthly_spend, support_calls, churned FROM quickstart.churn_history',
                      'churned', '{"epochs": 40, "early_stopping": false}') AS job_id \gset
SELECT job_id, status, progress, epoch, round(loss::numeric, 4) AS loss, result ->> 'ref' AS trained,
       round((result #>> '{metrics,accuracy}')::numeric, 3) AS accuracy
  FROM mf_wait(:job_id);
SELECT level, message FROM mf_job_log(:job_id) WHERE level <> 'epoch' ORDER BY event_id;

-- Retrain from the stored training spec on the current data; production changes only if it is better.
SELECT mf_retrain('iris_species') AS retrain_id \gset
SELECT status, result ->> 'ref' AS new_version, result #>> '{promotion,decision}' AS decision,
       result #>> '{promotion,reason}' AS reason
  FROM mf_wait(:retrain_id);

-- 12. Serve over HTTP: the in-database server (mf.http_port; `make demo` turns it on) answers TensorFlow Serving
--     REST and Open Inference Protocol v2 for deployed models; a bare name follows the production version.
SELECT mf_deploy('iris_species') AS deployment_id;
SELECT name, ref, status, endpoint FROM mf.deployments WHERE model_name = 'iris_species' AND status = 'active';

-- 13. Text where it lives: a small transformer classifier of product titles (480 titles in 4 categories, made by
--     test/data/make_product_titles.py), from the transformer_encoder_classifier template shrunk to train in
--     seconds. mf_train learns a SentencePiece tokenizer on the training titles, then the encoder with AdamW.
DROP TABLE IF EXISTS quickstart.product_titles;
CREATE TABLE quickstart.product_titles (title text, category text);
\copy quickstart.product_titles FROM 'test/data/product_titles.csv' WITH (FORMAT csv, HEADER true)
SELECT mf_create_model('transformer_encoder_classifier',
                       '{"name": "product_category", "d_model": 32, "num_layers": 1, "num_heads": 2, "d_ff": 2,
                         "dropout": 0.0, "vocab_size": 200, "max_length": 24, "num_classes": 4, "tags": ["quickstart"]}');
SELECT mf_train('product_category', 'quickstart.product_titles', 'category',
                '{"text_column": "title", "epochs": 30, "learning_rate": 0.005, "optimizer": "adamw", "batch_size": 16}');
SELECT round((metrics ->> 'accuracy')::numeric, 3) AS text_accuracy, metrics -> 'n_test' AS test_titles
  FROM mf.catalog WHERE ref = 'product_category:1.0.0';
SELECT title, mf_predict_label('product_category', title) AS category,
       round((SELECT max(p) FROM unnest(mf_predict_proba('product_category', title)) p)::numeric, 3) AS confidence
  FROM (VALUES ('Alto wireless earbuds with microphone'), ('Zephyr cast iron frying pan'),
               ('Lumen waterproof rain jacket'), ('Kestrel galvanised watering can')) AS t(title);

-- 14. Watch it: the monitor worker checks every live deployment (every 30 s by default), writes serving metrics
--     per model, version and minute, and evaluates alert rules every second. With mf.track_predictions (a
--     superuser setting) in-database predictions are counted too. A rule on the classifier's throughput fires
--     once its predictions are counted (metrics are per minute: it would resolve when a minute without them has
--     passed); dropping the rule resolves it at once, and the history stays in mf.alerts.
SET mf.track_predictions = on;
SELECT mf_set_alert('iris_species', 'throughput', '>', 0, '{"window": "3 s"}') AS rule_id \gset
SELECT set_config('quickstart.rule_id', :'rule_id', false) IS NOT NULL AS rule_set;
SELECT count(mf_predict_label('iris_species', i)) AS scored FROM quickstart.iris i;
DO $$
BEGIN  -- wait (at most 30 s) for the monitor worker to flush the counts and fire
	FOR i IN 1 .. 60 LOOP
		EXIT WHEN EXISTS (SELECT 1 FROM mf.alerts WHERE rule_id = current_setting('quickstart.rule_id')::bigint);
		PERFORM pg_sleep(0.5);
	END LOOP;
END;
$$;
SELECT metric, condition, threshold, resolved_at IS NULL AS firing, message
  FROM mf.alerts JOIN mf.alert_rules USING (rule_id) WHERE rule_id = :rule_id;
SELECT sum(requests) AS predictions_counted FROM mf.serving_metrics
 WHERE model_name = 'iris_species' AND deployment_id IS NULL AND minute > now() - interval '5 minutes';
SELECT deployment_id, status, healthy, health_checked_at IS NOT NULL AS checked, requests_5m, open_alerts
  FROM mf.deployment_status WHERE model_name = 'iris_species' AND target = 'http' AND status <> 'undeployed';
SELECT mf_drop_alert(:rule_id);
SELECT resolved_at > started_at AS resolved, value FROM mf.alerts WHERE rule_id = :rule_id;
RESET mf.track_predictions;
