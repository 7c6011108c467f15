-- Upgrade 0.4.0 -> 0.5.0: this version's own catalog changes (new tables,
-- columns, dropped signatures). The Makefile appends the view, every function
-- of 0.5.0 as CREATE OR REPLACE and the privileges.

-- 16 (monitoring): registry events.  Creating and dropping a registry is an
-- mf.events row (actions create_registry, drop_registry) that concerns no
-- model: model_name is NULL for these actions only.
ALTER TABLE mf.events ALTER COLUMN model_name DROP NOT NULL;
ALTER TABLE mf.events DROP CONSTRAINT events_action_known;
ALTER TABLE mf.events ADD CONSTRAINT events_action_known
	CHECK (action IN ('create_model', 'create_version', 'register', 'set_stage', 'set_alias', 'drop_alias', 'drop_model',
					  'train', 'queue_job', 'promotion', 'retrain_skipped', 'deploy', 'undeploy', 'health', 'set_endpoint',
					  'gate_refused', 'create_registry', 'drop_registry'));
ALTER TABLE mf.events ADD CONSTRAINT events_model_named
	CHECK (model_name IS NOT NULL OR action IN ('create_registry', 'drop_registry'));
COMMENT ON COLUMN mf.events.action IS
	'create_model, create_version, register, set_stage, set_alias, drop_alias, drop_model, train, queue_job, promotion, retrain_skipped, deploy, undeploy, health (the monitor worker changed a deployment''s status to or from unhealthy), set_endpoint, gate_refused (a gated registry refused an untested image), create_registry or drop_registry (before/after: the mf.registries row, never a secret)';
COMMENT ON COLUMN mf.events.model_name IS 'the model name at the time; NULL only for events about no model (create_registry, drop_registry)';
