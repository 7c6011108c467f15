-- OCI registries: mf_create_registry, mf_drop_registry, mf.registries; every
-- option problem at once with its path, never quoting a secret; who may
-- create them; where the secrets go.  (Pushing is test/integration/registry_push.sh.)
\set SHOW_CONTEXT never

-- Anonymous, Basic, bearer-only and ACR registries; trailing slashes dropped.
SELECT mf_create_registry('rg_local', 'http://127.0.0.1:5000/', '{"insecure": true}');
SELECT mf_create_registry('rg_basic', 'https://registry.example.com:5443', '{"username": "ci", "password": "s3cret-basic-pw"}');
SELECT mf_create_registry('rg_bearer', 'https://registry.example.com', '{"username": "ci", "password": "s3cret-bearer-pw", "auth": "bearer"}');
SELECT mf_create_registry('rg_acr', 'https://myreg.azurecr.io', '{"refresh_token": "s3cret-refresh-token", "gated": true}');
-- ACR's null user with a password: the password is a refresh token.
SELECT mf_create_registry('rg_acr2', 'https://myreg.azurecr.io', '{"username": "00000000-0000-0000-0000-000000000000", "password": "s3cret-acr-pw"}');
SELECT name, url, auth, gated, insecure, created_by = current_user AS by_me, created_at <= now() AS dated
  FROM mf.registries WHERE name LIKE 'rg\_%' ORDER BY name;
SELECT registry, username, password IS NOT NULL AS has_password, refresh_token IS NOT NULL AS has_refresh_token
  FROM mf.registry_secrets WHERE registry LIKE 'rg\_%' ORDER BY registry;
-- No secret in the readable table.
SELECT count(*) AS leaks FROM mf.registries r WHERE row_to_json(r)::text ~ 's3cret';

-- Every option problem at once, with its path; no secret quoted.
SELECT mf_create_registry('rg_bad', 'http://registry.example.com',
                          '{"username": "a:b", "pasword": "s3cret-typo", "insecure": "yes", "gated": 1, "auth": "digest"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_bad', 'https://registry.example.com', '{"username": "ci"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_bad', 'https://registry.example.com', '{"refresh_token": "s3cret rt", "password": "s3cret-pw"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_bad', 'https://registry.example.com', '{"refresh_token": "s3cret-rt", "username": "bob"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_bad', 'https://registry.example.com', '{"password": 42, "username": "", "auth": "basic"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_bad', 'https://registry.example.com', '[]');
\echo :LAST_ERROR_SQLSTATE
-- URLs: scheme, credentials, path, query, host.
SELECT mf_create_registry('rg_bad', 'ftp://registry.example.com');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_bad', 'https://ci:pw@registry.example.com');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_bad', 'https://registry.example.com/v2/models');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_bad', 'https://registry.example.com?x=1');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_bad', 'https://');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_bad', NULL);
\echo :LAST_ERROR_SQLSTATE
-- Names, duplicates.
SELECT mf_create_registry('Bad Name', 'https://registry.example.com');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_registry('rg_acr', 'https://other.azurecr.io');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS not_created FROM mf.registries WHERE name = 'rg_bad';

-- Who: mf_admin creates and drops; mf_trainer and mf_reader read mf.registries only;
-- nobody but the owner reads the secrets.
CREATE ROLE rg_trainer NOLOGIN IN ROLE mf_trainer;
CREATE ROLE rg_admin NOLOGIN IN ROLE mf_admin;
SET ROLE rg_trainer;
SELECT mf_create_registry('rg_mine', 'https://registry.example.com');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_drop_registry('rg_local');
\echo :LAST_ERROR_SQLSTATE
SELECT name FROM mf.registries WHERE name = 'rg_local';
SELECT * FROM mf.registry_secrets;
\echo :LAST_ERROR_SQLSTATE
SELECT mf._registry_push('rg_local', '/tmp', 'a', 'b');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE rg_admin;
SELECT mf_create_registry('rg_admins', 'https://registry.example.com', '{"username": "u", "password": "s3cret-admin"}');
SELECT name, created_by FROM mf.registries WHERE name = 'rg_admins';
SELECT * FROM mf.registry_secrets;
\echo :LAST_ERROR_SQLSTATE
SELECT mf_drop_registry('rg_admins');
RESET ROLE;

-- Drop: the row and its secrets go; an unknown name gets a suggestion.
SELECT mf_drop_registry('rg_basic');
SELECT count(*) AS left_behind FROM mf.registry_secrets WHERE registry IN ('rg_basic', 'rg_admins');
SELECT mf_drop_registry('rg_acr3');
\echo :LAST_ERROR_SQLSTATE

-- Creating and dropping are mf.events rows about no model (model_name NULL), without secrets;
-- refused calls left none.
SELECT action, CASE WHEN actor = current_user THEN 'me' ELSE actor END AS actor, model_name IS NULL AS no_model, coalesce(after, before) ->> 'name' AS registry,
       coalesce(after, before) ->> 'auth' AS auth, (after IS NULL) = (action = 'drop_registry') AS shape
  FROM mf.events WHERE action IN ('create_registry', 'drop_registry') AND coalesce(after, before) ->> 'name' LIKE 'rg\_%'
 ORDER BY event_id;
SELECT count(*) AS leaks FROM mf.events e WHERE action LIKE '%registry' AND row_to_json(e)::text ~ 's3cret';
-- Only these actions may name no model.
\set VERBOSITY terse
INSERT INTO mf.events (actor, action, model_name) VALUES (current_user, 'train', NULL);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- The gate: a source deployment must exist and have an image by digest.
SELECT mf._gate_source('rg_acr', 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_create_model('{"name": "rg_model", "family": "logistic_regression"}') AS created;
INSERT INTO mf.deployments (deployment_id, model_name, ref, target, name, options, status, created_by)
VALUES (990001, 'rg_model', 'rg_model', 'http', 'rg_served', '{}', 'active', current_user);
SELECT mf._gate_source('rg_acr', 990001);
\echo :LAST_ERROR_SQLSTATE
DELETE FROM mf.deployments WHERE name = 'rg_served';
SELECT mf_drop_model('rg_model');
SELECT mf._gate_source('rg_none', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf._image_digest('r.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef') AS digest,
       mf._image_digest('r.io/a/b:1.0') AS by_tag;

SELECT mf_drop_registry(name) FROM mf.registries WHERE name LIKE 'rg\_%';
DROP ROLE rg_trainer;
DROP ROLE rg_admin;
