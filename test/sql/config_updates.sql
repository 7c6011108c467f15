-- Config updates never vanish: a shorthand key in mf_create_version's
-- config_updates reaches the stacks where creation put it, or fails naming
-- its path.
\set SHOW_CONTEXT never
SET extra_float_digits = 0;
CREATE TEMP VIEW cv AS SELECT c.ref, v.config, v.config_hash FROM mf.catalog c JOIN mf.model_versions v USING (version_id);

-- The issue: a bert_classifier created with dropout 0.1, updated to 0.05.
SELECT mf_create_model('bert_classifier', '{"name": "s", "num_classes": 3, "dropout": 0.1}');
SELECT mf_create_version('s:1.0.0', '{}', '{"dropout": 0.05}');
SELECT ref, config -> 'encoder' -> 'dropout' AS dropout FROM cv WHERE ref LIKE 's:%' ORDER BY ref;
SELECT (SELECT config_hash FROM cv WHERE ref = 's:1.0.0') <> (SELECT config_hash FROM cv WHERE ref = 's:1.1.0')
       AS hash_changed;
-- Several stack keys at once, and a key set in the stack itself.
SELECT mf_create_version('s:1.0.0', '{}', '{"num_layers": 4, "activation": "RELU", "use_rezero": true}');
SELECT config -> 'encoder' -> 'num_layers' AS num_layers, config -> 'encoder' -> 'activation' AS activation,
       config -> 'encoder' -> 'use_rezero' AS use_rezero FROM cv WHERE ref = 's:1.2.0';
-- A bad value is reported at the path the update wrote.
SELECT mf_create_version('s:1.0.0', '{}', '{"dropout": 2}');
SELECT mf_create_version('s:1.0.0', '{}', '{"num_heads": 5}');

-- The YAML encoder-decoder: global_config keys are inherited by both stacks.
SELECT mf_create_model_from_yaml($$
model:
  model_type: encoder_decoder
  name: cu_translator
  global_config: {dropout: 0.1, batch_size: 32, d_ff: 4, device: cpu}
  encoder: {d_model: 512, num_layers: 6, num_heads: 8, attention_type: linear, activation: GEGLU}
  decoder:
    d_model: 512
    num_layers: 6
    num_heads: 8
    attention_type: causal_linear
    activation: SWIGLU
    nb_features: 256
    use_cross_attention: true
$$);
SELECT mf_create_version('cu_translator', '{}', '{"global_config": {"dropout": 0.2, "batch_size": 16}}');
SELECT mf_create_version('cu_translator:1.0.0', '{}', '{"model": {"global_config": {"d_ff": 2}}}');
SELECT mf_create_version('cu_translator:1.0.0', '{}', '{"dropout": 0.3, "decoder": {"dropout": 0.0}}');
SELECT ref, config -> 'encoder' -> 'dropout' AS enc_dropout, config -> 'decoder' -> 'dropout' AS dec_dropout,
       config -> 'encoder' -> 'batch_size' AS enc_batch, config -> 'decoder' -> 'batch_size' AS dec_batch,
       config -> 'encoder' -> 'd_ff' AS enc_d_ff, config -> 'decoder' -> 'd_ff' AS dec_d_ff
  FROM cv WHERE ref LIKE 'cu_translator:%' ORDER BY ref;
SELECT mf_create_version('cu_translator', '{}', '{"global_config": {"device": "cuda"}}');

-- mf_validate_config_yaml: the same rows as mf_validate_config on the parsed YAML.
SELECT * FROM mf_validate_config_yaml($$
model:
  model_type: encoder_decoder
  name: ok
  global_config: {d_ff: 4}
  encoder: {d_model: 64, num_layers: 2, num_heads: 4}
  decoder: {d_model: 64, num_layers: 2, num_heads: 4, use_cross_attention: true}
$$);
SELECT * FROM mf_validate_config_yaml($$
model:
  model_type: encoder
  name: Bad Name
  global_config: {dropout: 1.5, device: cuda}
  encoder: {d_model: 64, num_layers: 2, num_heads: 5, d_ff: 4}
training: {optimizer: adagrad}
$$);
SELECT (SELECT array_agg(v ORDER BY v) FROM mf_validate_config_yaml(y) v)
     = (SELECT array_agg(v ORDER BY v) FROM mf_validate_config(mf._yaml_to_jsonb(y)) v) AS same_rows
  FROM (VALUES (E'name: x\nfamily: mlp\nhidden_layers: [0]\ndropout: -1\n'),
               (E'template: bert_classifier\nname: y\nactivation: swiglue\n')) t(y);
-- A YAML syntax error is a row too, with its line and column.
SELECT * FROM mf_validate_config_yaml(E'model:\n  name: x\n  encoder: {d_model: 64\n');
SELECT * FROM mf_validate_config_yaml(E'name: x\n\tfamily: mlp\n');
SELECT * FROM mf_validate_config_yaml('[1, 2]');

-- A transformer stack without device, batch_size or dropout gets cpu, 32 and 0.1.
SELECT mf_create_model('{"name": "cu_small", "family": "transformer", "model_type": "encoder",
  "encoder": {"d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 2}}');
SELECT config -> 'encoder' -> 'device' AS device, config -> 'encoder' -> 'batch_size' AS batch_size,
       config -> 'encoder' -> 'dropout' AS dropout FROM cv WHERE ref = 'cu_small:1.0.0';
-- ... and an update that removes the key goes back to the default.
SELECT mf_create_version('cu_small', '{}', '{"dropout": 0.3}');
SELECT mf_create_version('cu_small:1.1.0', '{}', '{"dropout": null}');
SELECT ref, config -> 'encoder' -> 'dropout' AS dropout FROM cv WHERE ref LIKE 'cu_small:%' ORDER BY ref;

-- Clean up: later tests list every model of the registry.
SELECT count(mf_drop_model(name)) AS dropped FROM mf.models WHERE name IN ('s', 'cu_translator', 'cu_small');
