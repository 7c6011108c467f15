-- The registry API: create, refs, register, get, search, versions, stages, aliases, drop.
\set SHOW_CONTEXT never

-- Create from jsonb, from a template with overrides, from YAML.
SELECT mf_create_model('{"name": "churn", "family": "logistic_regression", "n_features": 10}');
SELECT mf_create_model('mlp_classifier', '{"name": "digits", "num_classes": 10, "dropout": 0.1}');
SELECT mf_create_model('{"template": "ridge_regression", "name": "prices", "version": "2.0.0"}');
SELECT mf_create_model_from_yaml($$
model:
  model_type: encoder
  name: classifier
  encoder:
    d_model: 256
    device: cpu
    batch_size: 32
    num_layers: 4
    num_heads: 8
    d_ff: 4
    dropout: 0.1
    attention_type: softmax
    activation: GELU
$$);

-- The same name again makes the next minor version of that model.
SELECT mf_create_model('{"name": "churn", "family": "logistic_regression", "n_features": 12}');
-- An explicit version that exists is refused.
SELECT mf_create_model('{"name": "churn", "family": "logistic_regression", "version": "1.0.0"}');
\echo :LAST_ERROR_SQLSTATE
-- A version cannot change the family of its model.
SELECT mf_create_model('{"name": "churn", "family": "kmeans", "k": 3}');
\echo :LAST_ERROR_SQLSTATE
-- Unknown template.
SELECT mf_create_model('no_such_template', '{"name": "x"}');
\echo :LAST_ERROR_SQLSTATE

SELECT model, version, family, stage, status, n_parameters FROM mf.catalog ORDER BY model, version;

-- Stored configs are normalised: defaults filled in, hashed.
SELECT config FROM mf.model_versions v JOIN mf.models m USING (model_id) WHERE m.name = 'churn' AND v.version = '1.0.0';
SELECT count(DISTINCT config_hash) AS hashes, count(*) AS versions FROM mf.model_versions;
SELECT config_hash = encode(sha256(convert_to(mf._canonical_json(config), 'UTF8')), 'hex') AS hash_matches
  FROM mf.model_versions v JOIN mf.models m USING (model_id) WHERE m.name = 'digits';
-- The same config normalises to the same hash, whatever the form.
SELECT (SELECT config_hash FROM mf._normalize_config('{"name": "a", "family": "kmeans", "k": 3}'))
     = (SELECT config_hash FROM mf._normalize_config('{"family": "kmeans", "k": 3, "name": "a", "init": "k-means++"}')) AS same_hash;

-- Refs: name, name:version, name@stage, name@alias; unknown ones are 42704.
SELECT mf_get_model('churn') ->> 'ref' AS newest;
SELECT mf_get_model('churn:1.0.0') ->> 'ref' AS exact;
SELECT mf_get_model('churn@development') ->> 'ref' AS by_stage;
SELECT mf_get_model('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_get_model('churn:9.9.9');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_get_model('churn@staging');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_get_model('churn@champion');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_get_model('Churn!');
\echo :LAST_ERROR_SQLSTATE
-- Did you mean: a mistyped model, version or alias, an uppercase reference; NULL.
SELECT mf_get_model('chrun');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_get_model('churn:1.0');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_get_model('churn@stagin');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_get_model('Churn@Development');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_get_model('churn:');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM mf._resolve(NULL);
\echo :LAST_ERROR_SQLSTATE
-- mf._resolve is what every registry function and prediction call.
SELECT version, model_name FROM mf._resolve('churn@development');

-- mf_get_model: everything but the weights.
SELECT key FROM jsonb_each(mf_get_model('digits')) ORDER BY key;
SELECT mf_get_model('digits') - ARRAY['created_at', 'dependencies', 'config', 'config_hash', 'owner', 'created_by'];
SELECT mf_get_model('digits') -> 'dependencies' ?& ARRAY['mf_ext', 'postgresql', 'blas', 'jansson', 'libyaml'] AS has_dependencies;

-- Register: tags merge, metadata and metrics merge, rename, explicit version.
SELECT mf_register_model('churn:1.0.0', tags => ARRAY['tabular', 'classification'],
                         metadata => '{"dataset": "crm"}', metrics => '{"accuracy": 0.88}');
SELECT mf_register_model('churn:1.1.0', tags => ARRAY['tabular', 'v2'], metrics => '{"accuracy": 0.93, "f1": 0.9}');
SELECT mf_register_model('digits', description => 'handwritten digits', tags => ARRAY['vision'],
                         metrics => '{"accuracy": 0.97}');
SELECT mf_register_model('prices', tags => ARRAY['tabular', 'regression'], metrics => '{"r2": 0.81}');
SELECT name, tags, description FROM mf.models ORDER BY name;
SELECT mf_register_model('churn:1.0.0', metrics => '{"accuracy": "high"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_register_model('churn:1.0.0', metrics => '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_register_model('churn:1.0.0', metadata => '"x"');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_register_model('classifier', name => 'sentiment', version => '1.0.1');
SELECT mf_register_model('sentiment', name => 'Bad Name');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_register_model('sentiment', version => 'v2');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_register_model('sentiment', name => 'churn');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_get_model('sentiment:1.0.1') #>> '{config,name}' AS renamed_config;

-- Search: all tags must match; NULL means any.
SELECT ref, accuracy FROM mf_search_models(tags => ARRAY['tabular']);
SELECT ref, accuracy FROM mf_search_models(tags => ARRAY['tabular', 'classification']);
SELECT ref, accuracy FROM mf_search_models(min_accuracy => 0.9);
SELECT ref FROM mf_search_models(family => 'transformer');
SELECT ref FROM mf_search_models(family => 'mlp', min_accuracy => 0.99);
SELECT count(*) FROM mf_search_models();

-- Versions: merge patch over the base config, lineage, minor bump unless named.
SELECT mf_create_version('digits', ARRAY['less dropout'], '{"dropout": 0.05}');
SELECT mf_create_version('digits:1.1.0', ARRAY['wider'], '{"hidden_layers": [128, 64], "version": "2.0.0"}');
SELECT mf_create_version('digits:1.0.0', ARRAY['from the root again']);
SELECT mf_get_model('digits:2.0.0') -> 'lineage' AS lineage, mf_get_model('digits:2.0.0') ->> 'parent' AS parent,
       mf_get_model('digits:2.0.0') -> 'improvements' AS improvements;
SELECT version, config -> 'dropout' AS dropout, config -> 'hidden_layers' AS hidden FROM mf.model_versions v
  JOIN mf.models m USING (model_id) WHERE m.name = 'digits' ORDER BY mf._semver_key(version);
SELECT mf_create_version('digits', '{}', '{"dropout": 2}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_version('digits', '{}', '[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_version('digits', '{}', '{"name": "other"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_version('digits', '{}', '{"family": "kmeans"}');
\echo :LAST_ERROR_SQLSTATE

-- Stages: production needs a trained version and archives the previous one.
SELECT mf_set_stage('digits:1.0.0', 'staging');
SELECT mf_get_model('digits@staging') ->> 'ref' AS staging;
SELECT mf_set_stage('digits:1.0.0', 'production');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_stage('digits:1.0.0', 'prod');
\echo :LAST_ERROR_SQLSTATE
-- (training arrives with mf_train; mark versions trained by hand here)
UPDATE mf.model_versions SET status = 'trained', trained_at = now()
 WHERE model_id = (SELECT model_id FROM mf.models WHERE name = 'digits');
SELECT mf_set_stage('digits:1.0.0', 'production');
SELECT mf_set_stage('digits:1.1.0', 'production');
SELECT version, stage FROM mf.model_versions v JOIN mf.models m USING (model_id)
 WHERE m.name = 'digits' ORDER BY mf._semver_key(version);
-- a plain name now means the production version, not the newest
SELECT mf_get_model('digits') ->> 'ref' AS production;

-- Aliases: movable, unique per model, recorded.
SELECT mf_set_alias('digits:2.0.0', 'challenger');
SELECT mf_set_alias('digits:1.1.0', 'champion');
SELECT mf_set_alias('digits:2.1.0', 'champion');
SELECT mf_get_model('digits@champion') ->> 'ref' AS champion, mf_get_model('digits:2.1.0') -> 'aliases' AS aliases;
SELECT mf_set_alias('digits', 'production');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alias('digits', 'Top Model');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_drop_alias('digits', 'challenger');
SELECT mf_get_model('digits@challenger');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_drop_alias('digits', 'challenger');
\echo :LAST_ERROR_SQLSTATE

-- Audit trail.
SELECT action, model_name, version, before, after FROM mf.events
 WHERE model_name = 'digits' AND action IN ('set_stage', 'set_alias', 'drop_alias') ORDER BY event_id;
UPDATE mf.events SET actor = 'someone_else';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM mf.events;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE mf.events;
\echo :LAST_ERROR_SQLSTATE

-- Templates and families.
SELECT name, family FROM mf_list_templates();
SELECT family FROM mf_list_model_types();

-- Drop: versions, aliases go; events stay.
SELECT mf_drop_model('digits');
SELECT mf_drop_model('digits');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS versions_left FROM mf.model_versions v WHERE NOT EXISTS (SELECT 1 FROM mf.models m WHERE m.model_id = v.model_id);
SELECT count(*) AS aliases_left FROM mf.aliases;
SELECT action FROM mf.events WHERE model_name = 'digits' ORDER BY event_id DESC LIMIT 1;
