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

-- 14. Ship it as an image: mf_deploy(ref, 'oci', ...) builds an OCI image in C, with no Docker engine (mf-serve and
--     exactly the libraries it loads, then a small layer with the model), starts the image's own mf-serve to check that
--     it answers the version's test rows as the database does, bit for bit, and only then pushes it. `make demo` runs a
--     local registry (Debian's docker-registry on 127.0.0.1, images kept under .mf/) and passes its URL as registry_url.
\if :{?registry_url}
\else
\set registry_url http://127.0.0.1:10499
\endif
-- The registry is called local, unless a registry of that name already points elsewhere (a cluster moved, or one of
-- yours): then local_<port>. Nothing existing is changed.
SELECT CASE WHEN coalesce((SELECT url FROM mf.registries WHERE name = 'local'), :'registry_url') = :'registry_url'
            THEN 'local' ELSE 'local_' || coalesce(substring(:'registry_url' FROM ':([0-9]+)/?$'), 'demo') END
       AS registry_name \gset
SELECT mf_create_registry(:'registry_name', :'registry_url', '{"insecure": true}')
 WHERE NOT EXISTS (SELECT FROM mf.registries WHERE name = :'registry_name');
SELECT name, url, auth, insecure FROM mf.registries WHERE name = :'registry_name';
SELECT mf_deploy('iris_species', 'oci', jsonb_build_object('registry', :'registry_name',
                 'repository', 'quickstart/iris_species')) AS image_deployment \gset
SELECT job_id AS image_job FROM mf.deployments WHERE deployment_id = :image_deployment \gset
SELECT job_id, status, phase, error FROM mf_wait(:image_job, '3 min');
SELECT message FROM mf_job_log(:image_job) WHERE message ~ '^(built|verified|succeeded)' ORDER BY event_id;
SELECT deployment_id, ref, version, target, status, image, layers FROM mf.deployments
 WHERE deployment_id = :image_deployment \gx
-- Its Kubernetes manifests: a Deployment of the image by digest (probes on /v2/health/ready and /v2/health/live), a
-- Service and a HorizontalPodAutoscaler (options: replicas, resources, service, scaling, namespace, kserve).
SELECT mf_render_k8s(:image_deployment, '{"namespace": "models"}') \g (format=unaligned tuples_only=on)

-- 15. Watch it: the monitor worker checks every live deployment with an endpoint (every 30 s by default: ready, model
--     loaded, memory, response time, a canary prediction), writes serving metrics per model, version and minute, and
--     evaluates alert rules every second. With mf.track_predictions (a superuser setting) in-database predictions are
--     counted too.
SET mf.track_predictions = on;
SELECT count(mf_predict_label('iris_species', i)) AS scored FROM quickstart.iris i;
-- An alert on drift: training stored every feature's distribution; mf_drift compares new rows with it (PSI, KS) and
-- records the check; the rule fires when a feature's PSI in the last 5 s is above 0.25. A batch without setosa has
-- drifted; the next batch looks like the training data, and once the drifted check has left the window the alert
-- resolves by itself.
SELECT mf_set_alert('iris_species', 'drift_psi', '>', 0.25, '{"window": "5 s"}') AS rule_id \gset
SELECT set_config('quickstart.rule_id', :'rule_id', false) IS NOT NULL AS rule_set;
SELECT feature, round(psi::numeric, 3) AS psi, round(ks::numeric, 3) AS ks, status
  FROM mf_drift('iris_species', 'SELECT * FROM quickstart.iris WHERE species <> ''setosa''');
DO $$
BEGIN  -- wait (at most 30 s) for the monitor worker to fire it
	FOR i IN 1 .. 150 LOOP
		EXIT WHEN EXISTS (SELECT FROM mf.alerts WHERE rule_id = current_setting('quickstart.rule_id')::bigint);
		PERFORM pg_sleep(0.2);
	END LOOP;
END;
$$;
SELECT alert_id, started_at, resolved_at IS NULL AS firing, message FROM mf.alerts WHERE rule_id = :rule_id;
SELECT feature, round(psi::numeric, 3) AS psi, round(ks::numeric, 3) AS ks, status
  FROM mf_drift('iris_species', 'quickstart.iris');
DO $$
BEGIN  -- wait (at most 30 s) for it to resolve
	FOR i IN 1 .. 150 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM mf.alerts WHERE rule_id = current_setting('quickstart.rule_id')::bigint
									 AND resolved_at IS NULL);
		PERFORM pg_sleep(0.2);
	END LOOP;
END;
$$;
SELECT alert_id, started_at, resolved_at, round(extract(epoch FROM resolved_at - started_at)::numeric, 1) AS lasted_s,
       round(value::numeric, 3) AS psi FROM mf.alerts WHERE rule_id = :rule_id;
-- Health and metrics in SQL, in the tables and views BI tools read: the classifier's last health round, the counted
-- predictions, and one row per deployment (the image has no endpoint until one is set: mf_set_endpoint).
SELECT DISTINCT ON (h."check") h."check", h.ok, round(h.latency_ms::numeric, 2) AS latency_ms, h.http_status
  FROM mf.health_checks h JOIN mf.deployments d USING (deployment_id)
 WHERE d.model_name = 'iris_species' AND d.target = 'http' AND d.status <> 'undeployed'
 ORDER BY h."check", h.checked_at DESC;
SELECT sum(requests) AS predictions_counted FROM mf.serving_metrics
 WHERE model_name = 'iris_species' AND deployment_id IS NULL AND minute > now() - interval '5 minutes';
SELECT deployment_id, target, status, healthy, health_checked_at IS NOT NULL AS checked, requests_5m, open_alerts
  FROM mf.deployment_status WHERE model_name = 'iris_species' AND status <> 'undeployed' ORDER BY deployment_id;
SELECT mf_drop_alert(:rule_id);
RESET mf.track_predictions;
