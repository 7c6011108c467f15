-- Filters and values that used to fail silently; races and limits with clear errors;
-- training defaults from the config's data section.
\set SHOW_CONTEXT never

SELECT mf_create_model('{"name": "rc_mlp", "family": "mlp", "hidden_layers": [8]}');
SELECT mf_create_model('{"name": "rc_lin", "family": "linear_regression"}');

-- Families and stages match case-insensitively; unknown ones raise 42704 with a suggestion.
SELECT ref FROM mf_search_models(family => 'MLP') WHERE ref LIKE 'rc_%';
SELECT ref FROM mf_search_models(family => ' Linear_Regression ', stage => 'DEVELOPMENT') WHERE ref LIKE 'rc_%';
SELECT ref FROM mf_search_models(family => 'bert');
\echo :LAST_ERROR_SQLSTATE
SELECT ref FROM mf_search_models(stage => 'prod');
\echo :LAST_ERROR_SQLSTATE
SELECT ref FROM mf_search_models(family => 'svm');
\echo :LAST_ERROR_SQLSTATE
-- No tags means any.
SELECT count(*) FROM mf_search_models(tags => '{}') WHERE ref LIKE 'rc_%';

-- Metrics with a known range are checked.
SELECT mf_register_model('rc_mlp', metrics => '{"accuracy": 1.7}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_register_model('rc_lin', metrics => '{"r2": 1.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_register_model('rc_lin', metrics => '{"rmse": -0.1}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_register_model('rc_lin', metrics => '{"r2": -3.0, "rmse": 0.5}');
SELECT mf_register_model('rc_mlp', metadata => '{"accuracy": 92}');
\echo :LAST_ERROR_SQLSTATE

-- An accuracy registered in metadata (as the seeds do) counts when none was measured.
SELECT mf_register_model('rc_mlp', metadata => '{"dataset": "imdb", "accuracy": 0.92}');
SELECT ref, accuracy, accuracy_source FROM mf.catalog WHERE model LIKE 'rc_%' ORDER BY ref;
SELECT ref FROM mf_search_models(min_accuracy => 0.9) WHERE ref LIKE 'rc_%';
SELECT mf_register_model('rc_mlp', metrics => '{"accuracy": 0.5}');
SELECT ref, accuracy, accuracy_source FROM mf.catalog WHERE model = 'rc_mlp';

-- Versions past the last minor number: 22023, not a constraint violation.
SELECT mf_create_version('rc_lin', '{}', '{"version": "1.999999999.0"}');
SELECT mf_create_version('rc_lin', '{}', '{"alpha": 0.5}');
\echo :LAST_ERROR_SQLSTATE

-- Training takes source, target, features and test_size from the config's data section.
CREATE TABLE rc_data AS SELECT i::float8 AS x1, (i % 5)::float8 AS x2, (i % 3)::float8 AS noise,
                               2 * i + (i % 5) AS y FROM generate_series(1, 100) i;
SELECT mf_create_model('{"model": {"name": "rc_data_model", "family": "linear_regression"},
                         "data": {"source": "rc_data", "target": "y", "features": ["x1", "x2"], "test_size": 0.5}}');
SELECT mf_train('rc_data_model');
SELECT training_spec -> 'source' AS source, training_spec -> 'target' AS target, training_spec -> 'features' AS features,
       (metrics ->> 'test_rows')::int AS test_rows
  FROM mf.model_versions v JOIN mf.models m USING (model_id) WHERE m.name = 'rc_data_model';
-- Arguments win over the data section.
SELECT mf_train('rc_data_model', 'SELECT x1, y FROM rc_data', 'y', '{"features": ["x1"], "test_size": 0.2}');
SELECT v.training_spec -> 'features' AS features, (v.metrics ->> 'test_rows')::int AS test_rows
  FROM mf.catalog c JOIN mf.model_versions v USING (version_id) WHERE c.ref = 'rc_data_model:1.1.0';
-- Without a source anywhere, or with data keys tabular training cannot honour: 22023.
SELECT mf_train('rc_lin');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_model('{"model": {"name": "rc_prep", "family": "logistic_regression"},
                         "data": {"source": "rc_data", "target": "y", "preprocessing": {"lowercase": true}}}');
SELECT mf_train('rc_prep');
\echo :LAST_ERROR_SQLSTATE

-- An identifier-like column is a feature by default: named in a NOTICE and in the training spec.
CREATE TABLE rc_customers AS SELECT i AS customer_id, (i % 7)::float8 AS x, (i % 7) * 2.0 + (i % 3) AS y
  FROM generate_series(1, 200) i;
SELECT mf_create_model('{"name": "rc_ids", "family": "linear_regression"}');
SELECT mf_train('rc_ids', 'rc_customers', 'y');
SELECT mf_train('rc_ids', 'rc_customers', 'y', '{"features": ["x"]}');
SELECT version, training_spec -> 'warnings' AS warnings FROM mf.model_versions v JOIN mf.models m USING (model_id)
 WHERE m.name = 'rc_ids' ORDER BY version;

-- The README's custom-architecture example (the seeds' own) is accepted; embed_dim is d_model,
-- d_ff a multiplier (default 4), and dropout, batch_size and device get their defaults.
SELECT mf_create_model('{"name": "rc_tickets", "architecture": "transformer",
  "layers": {"embedding": {"vocab_size": 30000, "embed_dim": 768},
             "transformer": {"num_layers": 12, "num_heads": 12},
             "classifier": {"num_classes": 5}},
  "config": {"activation": "gelu", "normalization": "layer_norm"}}');
SELECT config #> '{encoder,d_model}' AS d_model, config #> '{encoder,d_ff}' AS d_ff,
       config #> '{encoder,dropout}' AS dropout, config #> '{encoder,device}' AS device, v.n_parameters
  FROM mf.catalog c JOIN mf.model_versions v USING (version_id) WHERE c.ref = 'rc_tickets:1.0.0';

SELECT mf_drop_model(name) FROM mf.models WHERE name LIKE 'rc_%' ORDER BY name;
DROP TABLE rc_data, rc_customers;
