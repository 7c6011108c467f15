-- The objects of extension mf_ext in the current database, as a temporary
-- view mf_ext_members(classid, objid) for this session (included with \ir by
-- scripts/extension-fingerprint.sql and scripts/extension-dependents.sql).
CREATE TEMP VIEW mf_ext_members AS
SELECT d.classid, d.objid
  FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON d.refobjid = e.oid
 WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND e.extname = 'mf_ext'
   AND d.deptype = 'e';
