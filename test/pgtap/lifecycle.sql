-- Lifecycle behaviour: one production version per model, archiving, merge-patch versions.
BEGIN;
SELECT plan(17);

SELECT is(mf_create_model('{"name": "life", "family": "logistic_regression", "n_features": 4}'), 'life:1.0.0',
          'first version is 1.0.0');
SELECT is(mf_create_version('life', ARRAY['stronger L2'], '{"C": 0.5}'), 'life:1.1.0', 'merge patch makes 1.1.0');
SELECT is(mf_create_version('life:1.0.0', '{}', '{"C": 2.0}'), 'life:1.2.0',
          'a version of an older base still gets the next free minor');
SELECT is((mf_get_model('life:1.1.0') #>> '{config,C}')::float8, 0.5::float8, 'patched key changed');
SELECT is(mf_get_model('life:1.1.0') #>> '{config,solver}', mf_get_model('life:1.0.0') #>> '{config,solver}',
          'unpatched keys inherited from the base');
SELECT is(mf_get_model('life:1.1.0') ->> 'parent', 'life:1.0.0', 'parent recorded');
SELECT is(mf_create_version('life:1.1.0', '{}', '{"C": null}') IS NOT NULL, true,
          'null in a patch removes a key, and the default comes back');
SELECT is((mf_get_model('life:1.3.0') #>> '{config,C}')::float8, 1.0::float8, 'default refilled after removal');
SELECT throws_ok($$SELECT mf_create_version('life:1.1.0', '{}', '{"fit_intercept": null}')$$, '22023', NULL,
                 'a version whose config equals its parent''s is refused');

SELECT throws_ok($$SELECT mf_set_stage('life:1.0.0', 'production')$$, '55000', NULL,
                 'an untrained version cannot go to production');
UPDATE mf.model_versions SET status = 'trained' WHERE model_id = (SELECT model_id FROM mf.models WHERE name = 'life');
SELECT lives_ok($$SELECT mf_set_stage('life:1.0.0', 'production')$$, 'trained version promoted');
SELECT lives_ok($$SELECT mf_set_stage('life:1.1.0', 'production')$$, 'second promotion');
SELECT is((SELECT count(*) FROM mf.catalog WHERE model = 'life' AND stage = 'production'), 1::bigint,
          'exactly one production version');
SELECT is((SELECT stage FROM mf.catalog WHERE ref = 'life:1.0.0'), 'archived', 'previous production archived');
SELECT is(mf_get_model('life') ->> 'ref', 'life:1.1.0', 'plain name resolves to production');
SELECT throws_ok($$UPDATE mf.model_versions SET stage = 'production' WHERE version = '1.2.0'
                    AND model_id = (SELECT model_id FROM mf.models WHERE name = 'life')$$, '23505', NULL,
                 'the catalog itself refuses a second production version');
SELECT is((SELECT count(*) FROM mf.events WHERE model_name = 'life' AND action = 'set_stage'), 3::bigint,
          'promotions and the archiving are in the audit log');

SELECT * FROM finish();
ROLLBACK;
