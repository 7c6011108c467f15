-- A role holding mf_reader can read the catalog but cannot write it or rewrite history
-- (test/integration/privileges_attack.sh replays the attacks from real LOGIN roles).
BEGIN;
SELECT plan(8);

SELECT mf_create_model('{"name": "shared_model", "family": "kmeans", "k": 2}');
CREATE ROLE mf_tap_reader NOLOGIN IN ROLE mf_reader;
SET LOCAL ROLE mf_tap_reader;

SELECT is((SELECT count(*) FROM mf.catalog WHERE model = 'shared_model'), 1::bigint, 'reader sees the catalog');
SELECT is(mf_get_model('shared_model') ->> 'ref', 'shared_model:1.0.0', 'reader can use mf_get_model');
SELECT ok((SELECT count(*) FROM mf.events) > 0, 'reader can read the audit log');
SELECT throws_ok($$SELECT mf_create_model('{"name": "intruder", "family": "kmeans", "k": 2}')$$, '42501', NULL,
                 'reader cannot create models');
SELECT throws_ok($$UPDATE mf.events SET actor = 'nobody'$$, '42501', NULL, 'reader cannot rewrite events');
SELECT throws_ok($$INSERT INTO mf.events (action, model_name) VALUES ('register', 'fake')$$, '42501', NULL,
                 'reader cannot forge events');
SELECT throws_ok($$SELECT bytes FROM mf.artifacts$$, '42501', NULL, 'reader cannot read weights directly');

RESET ROLE;
SELECT throws_ok($$DELETE FROM mf.events WHERE model_name = 'shared_model'$$, '42501', NULL,
                 'even the owner cannot delete history');

SELECT * FROM finish();
ROLLBACK;
