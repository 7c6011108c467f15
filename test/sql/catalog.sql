-- The catalog: comments for BI tools, constraints, indexes, privileges, dump registration.
\set SHOW_CONTEXT never

-- Every table, view and column in schema mf is documented (expect no rows).
SELECT c.relname FROM pg_class c
 WHERE c.relnamespace = 'mf'::regnamespace AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'mf'::regnamespace AND c.relkind IN ('r', 'v') AND a.attnum > 0 AND NOT a.attisdropped
   AND col_description(c.oid, a.attnum) IS NULL;
SELECT c.relname, count(*) AS columns FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'mf'::regnamespace AND c.relkind IN ('r', 'v') AND a.attnum > 0 AND NOT a.attisdropped
 GROUP BY 1 ORDER BY 1;

-- pg_dump keeps user data.
SELECT unnest(extconfig)::regclass AS dumped, unnest(extcondition) AS condition
  FROM pg_extension WHERE extname = 'mf_ext' ORDER BY 1::text;

-- Indexes for tag and accuracy search.
SELECT indexname FROM pg_indexes WHERE schemaname = 'mf' ORDER BY 1;

-- Constraints refuse bad rows even when written directly (terse: the failing rows hold timestamps).
\set VERBOSITY terse
INSERT INTO mf.models (name, family, owner) VALUES ('Bad Name', 'mlp', 'x');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO mf.models (name, family, owner) VALUES ('ok_name', 'svm', 'x');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO mf.models (name, family, owner) VALUES ('ok_name', 'mlp', 'x');
INSERT INTO mf.model_versions (model_id, version, config, config_hash, stage, created_by)
SELECT model_id, '1.0', '{}', repeat('a', 64), 'development', 'x' FROM mf.models WHERE name = 'ok_name';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO mf.model_versions (model_id, version, config, config_hash, stage, created_by)
SELECT model_id, '1.0.0', '{}', repeat('a', 64), 'production', 'x' FROM mf.models WHERE name = 'ok_name';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO mf.model_versions (model_id, version, config, config_hash, metrics, created_by)
SELECT model_id, '1.0.0', '{}', repeat('a', 64), '{"accuracy": "0.9"}', 'x' FROM mf.models WHERE name = 'ok_name';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO mf.model_versions (model_id, version, config, config_hash, status, stage, created_by)
SELECT model_id, v, '{}', repeat('a', 64), 'trained', 'production', 'x' FROM mf.models, (VALUES ('1.0.0'), ('1.1.0')) x(v)
 WHERE name = 'ok_name';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM mf.models WHERE name = 'ok_name';
\set VERBOSITY default

-- Artifacts carry their own size and checksum.
SELECT mf_create_model('{"name": "art", "family": "kmeans", "k": 2}');
INSERT INTO mf.artifacts (version_id, format_version, bytes)
SELECT version_id, 1, '\x00010203'::bytea FROM mf.catalog WHERE ref = 'art:1.0.0';
SELECT size_bytes, sha256 = encode(sha256('\x00010203'::bytea), 'hex') AS sha_ok FROM mf.artifacts;
SELECT mf_get_model('art') #> '{artifact,size_bytes}' AS artifact_size;
SELECT mf_drop_model('art');
SELECT count(*) AS artifacts_left FROM mf.artifacts;

-- Only mf_reader (and the roles holding it) reads the catalog; nobody but the owner writes it.
SELECT has_table_privilege('public', 'mf.catalog', 'SELECT') AS public_reads_catalog,
       has_table_privilege('mf_reader', 'mf.catalog', 'SELECT') AS reader_reads_catalog,
       has_table_privilege('public', 'mf.events', 'INSERT') AS events_writable,
       has_table_privilege('public', 'mf.artifacts', 'SELECT') AS artifacts_readable;
