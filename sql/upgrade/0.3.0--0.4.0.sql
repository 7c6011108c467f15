-- Upgrade 0.3.0 -> 0.4.0: this version's own catalog changes (new tables,
-- columns, dropped signatures). The Makefile appends the view, every function
-- of 0.4.0 as CREATE OR REPLACE and the privileges.

-- issue 15: OCI registries (mf_create_registry, sql/registries.sql); their secrets apart;
-- the refusal of a gated registry is an event
ALTER TABLE mf.events DROP CONSTRAINT events_action_known;
ALTER TABLE mf.events ADD CONSTRAINT events_action_known
	CHECK (action IN ('create_model', 'create_version', 'register', 'set_stage', 'set_alias', 'drop_alias', 'drop_model',
					  'train', 'queue_job', 'promotion', 'retrain_skipped', 'deploy', 'undeploy', 'gate_refused'));
CREATE TABLE mf.registries (
	name		text PRIMARY KEY
				CONSTRAINT registries_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	url			text NOT NULL,
	auth		text NOT NULL
				CONSTRAINT registries_auth_known CHECK (auth IN ('anonymous', 'basic', 'bearer', 'acr')),
	gated		boolean NOT NULL DEFAULT false,
	insecure	boolean NOT NULL DEFAULT false,
	created_by	name NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf.registries IS
	'OCI registries images are pushed to (mf_create_registry, mf_drop_registry); never a secret: credentials are in mf.registry_secrets';
COMMENT ON COLUMN mf.registries.name IS 'the name mf_deploy options use ({"registry": "<name>"})';
COMMENT ON COLUMN mf.registries.url IS 'base URL, https://host[:port] (http:// only when insecure)';
COMMENT ON COLUMN mf.registries.auth IS
	'anonymous (no credentials); basic (username/password: Basic or a bearer token, as the registry''s challenge asks); bearer (username/password for the token server only, never sent as Basic to the registry); acr (a refresh token exchanged at /oauth2/token)';
COMMENT ON COLUMN mf.registries.gated IS 'accepts only images whose digest passed a smoke test, copied from another deployment (mf_deploy option from)';
COMMENT ON COLUMN mf.registries.insecure IS 'plain http allowed and TLS certificates not verified (a registry on loopback)';
COMMENT ON COLUMN mf.registries.created_by IS 'role that created it (from the session)';
COMMENT ON COLUMN mf.registries.created_at IS 'when it was created';

CREATE TABLE mf.registry_secrets (
	registry	text PRIMARY KEY REFERENCES mf.registries ON DELETE CASCADE,
	username	text,
	password	text,
	refresh_token text
);
COMMENT ON TABLE mf.registry_secrets IS
	'credentials of registries, readable by the extension''s owner alone (no grant); the deploy job reads them to push; never copied into errors, events or job logs';
COMMENT ON COLUMN mf.registry_secrets.registry IS 'the registry (mf.registries.name)';
COMMENT ON COLUMN mf.registry_secrets.username IS 'username for Basic auth or the token server (NULL for ACR refresh tokens)';
COMMENT ON COLUMN mf.registry_secrets.password IS 'password for Basic auth or the token server';
COMMENT ON COLUMN mf.registry_secrets.refresh_token IS 'ACR refresh token, exchanged at the registry''s /oauth2/token';

SELECT pg_catalog.pg_extension_config_dump('mf.registries', '');
SELECT pg_catalog.pg_extension_config_dump('mf.registry_secrets', '');
