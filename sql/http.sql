-- http.sql - the in-database HTTP server (src/http_worker.c, bgworker/http.c).
-- Owns: the wake-up of the HTTP worker when a table that served models
-- depend on changes (statement triggers calling mf._http_wake(), which sets
-- the worker's latch at commit; it also re-reads the catalog every second),
-- and mf._http_state(), what the server does now. What is served, and the
-- role it is read as, is the worker's (src/http_catalog.c).

CREATE FUNCTION mf._http_wake() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mf_http_wake'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._http_wake() IS
	'statement trigger: when the transaction commits, the HTTP worker re-reads what it serves';

CREATE FUNCTION mf._http_state(OUT port integer, OUT listen_addresses text, OUT state text, OUT message text,
							   OUT role text, OUT worker_pid integer, OUT server_pids integer[],
							   OUT server_restarts bigint, OUT snapshots bigint, OUT models integer,
							   OUT versions integer, OUT snapshot_at timestamptz, OUT preloaded boolean)
	RETURNS record
	AS 'MODULE_PATHNAME', 'mf_http_state'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._http_state() IS
	'the HTTP server now: port (0 when off), addresses, state (stopped, starting, serving, refused) and why, the role it reads as, its worker and serving processes, serving processes restarted, snapshots built, served names and versions';

-- What a served model depends on: its deployment, its versions (stage,
-- status, artifact), its aliases, its name.
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.models
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.model_versions
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.aliases
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.artifacts
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.deployments
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
CREATE OR REPLACE TRIGGER http_wake AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mf.deployment_secrets
	FOR EACH STATEMENT EXECUTE FUNCTION mf._http_wake();
