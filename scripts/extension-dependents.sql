-- The objects outside extension mf_ext that DROP EXTENSION mf_ext CASCADE
-- would drop with it (views calling its functions, tables using its types,
-- and so on, transitively), one per line; parts of an object (a view's rule,
-- a table's constraint or default) are shown as the object. Used by
-- scripts/lib.sh before `make reset` drops anything.
\ir extension-members.sql
WITH RECURSIVE dep(classid, objid) AS (
	SELECT d.classid, d.objid
	  FROM pg_catalog.pg_depend d JOIN mf_ext_members m ON d.refclassid = m.classid AND d.refobjid = m.objid
	 WHERE d.deptype IN ('n', 'a')
	UNION
	SELECT d.classid, d.objid
	  FROM pg_catalog.pg_depend d JOIN dep ON d.refclassid = dep.classid AND d.refobjid = dep.objid
	 WHERE d.deptype IN ('n', 'a')
), owner AS (
	SELECT CASE WHEN owner_rel IS NOT NULL THEN 'pg_catalog.pg_class'::pg_catalog.regclass ELSE dep.classid END AS classid,
		   coalesce(owner_rel, dep.objid) AS objid
	  FROM dep, LATERAL (SELECT CASE dep.classid
			WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN
				(SELECT r.ev_class FROM pg_catalog.pg_rewrite r WHERE r.oid = dep.objid)
			WHEN 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN
				(SELECT nullif(k.conrelid, 0) FROM pg_catalog.pg_constraint k WHERE k.oid = dep.objid)
			WHEN 'pg_catalog.pg_attrdef'::pg_catalog.regclass THEN
				(SELECT a.adrelid FROM pg_catalog.pg_attrdef a WHERE a.oid = dep.objid)
			WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN
				(SELECT t.tgrelid FROM pg_catalog.pg_trigger t WHERE t.oid = dep.objid)
			WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass THEN
				(SELECT p.polrelid FROM pg_catalog.pg_policy p WHERE p.oid = dep.objid)
			WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
				(SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = dep.objid)
			END AS owner_rel) o
)
SELECT DISTINCT pg_catalog.pg_describe_object(o.classid, o.objid, 0)
  FROM owner o
 WHERE NOT EXISTS (SELECT 1 FROM mf_ext_members m WHERE m.classid = o.classid AND m.objid = o.objid)
 ORDER BY 1;
