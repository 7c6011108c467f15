-- n_parameters computed from configs, checked against hand-computed counts.
\set SHOW_CONTEXT never

-- linear regression, 10 features + intercept = 11
SELECT n_parameters FROM mf._normalize_config('{"name": "a", "family": "linear_regression", "n_features": 10}');
-- without an intercept = 10
SELECT n_parameters FROM mf._normalize_config('{"name": "a", "family": "linear_regression", "n_features": 10, "fit_intercept": false}');
-- binary logistic, 10 features = 11; 3 classes = 3 * 11 = 33
SELECT n_parameters FROM mf._normalize_config('{"name": "a", "family": "logistic_regression", "n_features": 10}');
SELECT n_parameters FROM mf._normalize_config('{"name": "a", "family": "logistic_regression", "n_features": 10, "num_classes": 3}');
-- mlp 20 -> 64 -> 64 -> 2: (20*64+64) + (64*64+64) + (64*2+2) = 1344 + 4160 + 130 = 5634
SELECT n_parameters FROM mf._normalize_config('{"name": "a", "family": "mlp", "n_features": 20, "hidden_layers": [64, 64], "num_classes": 2}');
-- mlp regressor 5 -> 8 -> 1: (5*8+8) + (8*1+1) = 48 + 9 = 57
SELECT n_parameters FROM mf._normalize_config('{"name": "a", "family": "mlp", "task": "regression", "n_features": 5, "hidden_layers": [8]}');
-- kmeans k = 3 over 4 features = 12
SELECT n_parameters FROM mf._normalize_config('{"name": "a", "family": "kmeans", "k": 3, "n_features": 4}');
-- unknown input width: NULL until training
SELECT n_parameters FROM mf._normalize_config('{"name": "a", "family": "kmeans", "k": 3}');

-- encoder d=256, 4 layers, d_ff 4 (h=1024), GELU, softmax, layer norm, no vocabulary:
--   attention 4*256*256 + 4*256 = 263168; FFN 256*1024 + 1024 + 1024*256 + 256 = 525568;
--   two norms 2*2*256 = 1024; per layer 789760; 4 layers 3159040; final norm 512 => 3159552
SELECT n_parameters FROM mf._normalize_config('{"model": {"model_type": "encoder", "name": "e",
  "encoder": {"d_model": 256, "device": "cpu", "batch_size": 32, "num_layers": 4, "num_heads": 8, "d_ff": 4, "dropout": 0.1}}}');

-- the issue's encoder_decoder YAML, d=512, h=2048:
--   encoder layer: attention 1050624 + GEGLU FFN (512*4096 + 4096 + 2048*512 + 512 = 3150336) + norms 2048
--     = 4203008; x6 = 25218048; + final norm 1024 = 25219072
--   decoder layer: self + cross attention 2*1050624 + SWIGLU FFN 3150336 + three norms 3072 = 5254656;
--     x6 = 31527936; + final norm 1024 = 31528960
--   total 56748032
SELECT n_parameters FROM mf._normalize_config(mf._yaml_to_jsonb($$
model:
  model_type: encoder_decoder
  name: translator
  global_config:
    dropout: 0.1
    batch_size: 32
    d_ff: 4
    device: cpu
  encoder: {d_model: 512, num_layers: 6, num_heads: 8, attention_type: linear, activation: GEGLU}
  decoder: {d_model: 512, num_layers: 6, num_heads: 8, attention_type: causal_linear, activation: SWIGLU,
            nb_features: 256, use_cross_attention: true}
$$));

-- custom architecture: vocab 30000, d 768, 12 layers, 12 heads, d_ff 4 (h=3072), GELU, layer norm, 5 classes,
--   max_length 512 (learned positions):
--   embeddings 30000*768 + 512*768 = 23040000 + 393216 = 23433216
--   layer: attention 4*768*768 + 4*768 = 2362368; FFN 768*3072 + 3072 + 3072*768 + 768 = 4722432;
--     norms 2*2*768 = 3072; = 7087872; x12 = 85054464; final norm 1536
--   head 768*5 + 5 = 3845; total 23433216 + 85054464 + 1536 + 3845 = 108493061
SELECT n_parameters FROM mf._normalize_config('{"name": "ticket_router", "architecture": "transformer",
 "layers": {"embedding": {"vocab_size": 30000, "embed_dim": 768},
            "transformer": {"num_layers": 12, "num_heads": 12},
            "classifier": {"num_classes": 5}},
 "config": {"activation": "gelu", "normalization": "layer_norm"}}');

-- The YAML and its jsonb twin normalise to the same config.
SELECT (SELECT config FROM mf._normalize_config(mf._yaml_to_jsonb(E'model:\n  model_type: encoder\n  name: e\n  encoder: {d_model: 64, num_layers: 2, num_heads: 4, d_ff: 2, dropout: 0.0, batch_size: 8, device: cpu}\n')))
     = (SELECT config FROM mf._normalize_config('{"model": {"model_type": "encoder", "name": "e", "encoder": {"d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 2, "dropout": 0.0, "batch_size": 8, "device": "cpu"}}}')) AS yaml_equals_jsonb;

-- Templates carry their counts too (bert_classifier is BERT-base shaped).
SELECT t.name, n.n_parameters FROM mf_list_templates() t,
       LATERAL mf._normalize_config(t.config || jsonb_build_object('name', 'x', 'family', t.family)) n ORDER BY t.name;
