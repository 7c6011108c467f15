-- Malformed configs, JSON and YAML: every problem with its path, SQLSTATE 22023 (YAML syntax: 22P02).
\set SHOW_CONTEXT never

-- Not a model config at all.
SELECT mf_create_model('{}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_model('[]');
SELECT mf_create_model('"mlp"');
SELECT mf_create_model('{"name": "x"}');
SELECT mf_create_model('{"name": "x", "family": "mpl"}');
SELECT mf_create_model('{"name": "Bad-Name", "family": "mlp"}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "version": "1.0"}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "tags": "a"}');
SELECT mf_create_model('{"name": 42, "family": "mlp"}');

-- Tabular families.
SELECT mf_create_model('{"name": "x", "family": "mlp", "dropuot": 0.2}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "dropout": 1.5}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "dropout": "high"}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "num_classes": 1}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "hidden_layers": [64, 0]}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "hidden_layers": "64"}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "activation": "swish"}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "task": "regression", "num_classes": 3}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "task": "ranking"}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "n_features": 0}');
SELECT mf_create_model('{"name": "x", "family": "kmeans", "k": 0}');
SELECT mf_create_model('{"name": "x", "family": "kmeans", "k": 2.5}');
SELECT mf_create_model('{"name": "x", "family": "logistic_regression", "C": -1}');
SELECT mf_create_model('{"name": "x", "family": "logistic_regression", "solver": "sag"}');
SELECT mf_create_model('{"name": "x", "family": "logistic_regression", "num_classes": 1}');
SELECT mf_create_model('{"name": "x", "family": "linear_regression", "alpha": -0.1, "fit_intercept": "yes"}');

-- Training section.
SELECT mf_create_model('{"name": "x", "family": "mlp", "training": {"optimizer": "rmsprop"}}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "training": {"learning_rate": 0, "epochs": -1, "batch_size": 0}}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "training": {"learnig_rate": 0.1}}');
SELECT mf_create_model('{"name": "x", "family": "mlp", "training": "fast"}');

-- Transformers.
SELECT mf_create_model('{"name": "t", "family": "transformer", "model_type": "encoder",
  "encoder": {"d_model": 512, "num_layers": 6, "num_heads": 7, "d_ff": 4, "dropout": 0.1, "batch_size": 32, "device": "cpu"}}');
SELECT mf_create_model('{"name": "t", "family": "transformer", "model_type": "encoder",
  "encoder": {"d_model": 512, "num_layers": 6, "num_heads": 8, "d_ff": 4, "dropout": 0.1, "batch_size": 32, "device": "cuda"}}');
SELECT mf_create_model('{"name": "t", "family": "transformer", "model_type": "encoder", "encoder": {"num_heads": 8}}');
SELECT mf_create_model('{"name": "t", "family": "transformer", "model_type": "encoder",
  "encoder": {"d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 4, "dropout": 0.1, "batch_size": 8, "device": "cpu",
              "nb_features": 128}}');
SELECT mf_create_model('{"name": "t", "family": "transformer", "model_type": "encoder",
  "encoder": {"d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 4, "dropout": 0.1, "batch_size": 8, "device": "cpu",
              "use_rezero": true, "use_scalenorm": true}}');
SELECT mf_create_model('{"name": "t", "family": "transformer", "model_type": "encoder",
  "encoder": {"d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 4, "dropout": 0.1, "batch_size": 8, "device": "cpu",
              "activation": "GLU", "attention_type": "sparse"}}');
SELECT mf_create_model('{"name": "t", "family": "transformer", "model_type": "encoder",
  "encoder": {"d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 4, "dropout": 0.1, "batch_size": 8, "device": "cpu",
              "use_cross_attention": true}}');
SELECT mf_create_model('{"name": "t", "family": "transformer", "model_type": "encdec"}');
SELECT mf_create_model('{"name": "t", "family": "transformer", "model_type": "encoder_decoder",
  "global_config": {"dropout": -0.1, "batch_size": 8, "d_ff": 4, "device": "cpu"},
  "encoder": {"d_model": 64, "num_layers": 2, "num_heads": 0}}');
SELECT mf_create_model('{"model": {"architecture": "bert", "pretrained": "bert-base-uncased", "num_classes": 3, "dropout": 0.1},
  "training": {"batch_size": 32, "learning_rate": 2e-5, "epochs": 10, "optimizer": "adamw"},
  "data": {"max_length": 512, "tokenizer": "bert-base-uncased", "preprocessing": "standard"}}');
SELECT mf_create_model('{"name": "r", "architecture": "transformer",
  "layers": {"embedding": {"vocab_size": 0, "embed_dim": 768}, "transformer": {"num_layers": 12, "num_heads": 12},
             "classifier": {"num_classes": 5}},
  "config": {"activation": "gelu", "normalization": "batch_norm"}}');
SELECT mf_create_model('{"name": "r", "architecture": "cnn"}');
SELECT mf_create_model('{"name": "r", "template": "bert_clasifier"}');
SELECT mf_create_model('bert_classifier', '{"name": "b", "pretrained": "bert-base-uncased"}');
\echo :LAST_ERROR_SQLSTATE

-- YAML.
SELECT mf_create_model_from_yaml(E'model:\n  model_type: encoder\n   name: x\n');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_model_from_yaml(E'model:\n\tmodel_type: encoder\n');
SELECT mf_create_model_from_yaml(E'model:\n  name: a\n  name: b\n');
SELECT mf_create_model_from_yaml(E'model:\n  name: a\n---\nmodel:\n  name: b\n');
SELECT mf_create_model_from_yaml('');
SELECT mf_create_model_from_yaml('hello');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_model_from_yaml(E'base: &b {d_model: 64}\nmodel:\n  encoder: *b\n');
SELECT mf_create_model_from_yaml(E'model:\n  model_type: encoder\n  name: y\n  encoder:\n    d_model: abc\n    num_layers: 2\n    num_heads: 2\n    d_ff: 2\n    dropout: 0.1\n    batch_size: 8\n    device: cpu\n');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_model_from_yaml(E'model:\n  model_type: decoder\n  name: lm\n  decoder:\n    d_model: 512\n    device: cpu\n    batch_size: 32\n    num_layers: 12\n    num_heads: 8\n    d_ff: 4\n    dropout: 1.0\n    attention_type: causal_linear\n    activation: SWIGLU\n    nb_features: 256\n');

-- mf_validate_config lists every problem as rows, and nothing for a valid config.
SELECT * FROM mf_validate_config('{"name": "x", "family": "mlp", "dropuot": 0.2, "num_classes": 1, "training": {"epochs": 0}}');
SELECT count(*) AS problems FROM mf_validate_config('{"name": "x", "family": "mlp"}');

-- Nothing was created by any of the above.
SELECT count(*) AS models FROM mf.models;
