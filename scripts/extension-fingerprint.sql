-- One line per object of extension mf_ext in the current database: what it is
-- and an md5 of its definition (function source, columns by name, defaults,
-- constraints, indexes, triggers, policies, view text, comment, the privileges
-- the script granted). Two databases print the same lines when their mf_ext
-- was built by the same script (or upgraded to the same result); OIDs, user
-- rows, grants made after CREATE EXTENSION and objects of the user's that
-- depend on the extension do not count. Used by scripts/lib.sh.
\ir extension-members.sql
WITH defs AS (
	SELECT m.classid, m.objid,
		   CASE m.classid
		   WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
			   (SELECT CASE WHEN p.prokind = 'a' THEN p.prosrc || pg_catalog.pg_get_function_arguments(p.oid)
							ELSE pg_catalog.pg_get_functiondef(p.oid) END
				  FROM pg_catalog.pg_proc p WHERE p.oid = m.objid)
		   WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
			   (SELECT c.relkind::text || ' rls=' || c.relrowsecurity::text
					   || coalesce(' view=' || pg_catalog.pg_get_viewdef(c.oid), '')
					   || coalesce(' columns=' || (SELECT pg_catalog.string_agg(a.attname || ' '
							   || pg_catalog.format_type(a.atttypid, a.atttypmod)
							   || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
							   || coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '')
							   || coalesce(' comment ' || pg_catalog.col_description(c.oid, a.attnum), ''),
							   ', ' ORDER BY a.attname)
						  FROM pg_catalog.pg_attribute a
						  LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
						 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
					   || coalesce(' constraints=' || (SELECT pg_catalog.string_agg(k.conname || ' '
							   || pg_catalog.pg_get_constraintdef(k.oid), ', ' ORDER BY k.conname)
						  FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid), '')
					   || coalesce(' indexes=' || (SELECT pg_catalog.string_agg(pg_catalog.pg_get_indexdef(i.indexrelid),
							   ', ' ORDER BY pg_catalog.pg_get_indexdef(i.indexrelid))
						  FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid), '')
					   || coalesce(' triggers=' || (SELECT pg_catalog.string_agg(pg_catalog.pg_get_triggerdef(t.oid),
							   ', ' ORDER BY pg_catalog.pg_get_triggerdef(t.oid))
						  FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '')
					   || coalesce(' policies=' || (SELECT pg_catalog.string_agg(pol.polname || ' ' || pol.polcmd::text
							   || ' ' || pol.polroles::text
							   || coalesce(' using ' || pg_catalog.pg_get_expr(pol.polqual, pol.polrelid), '')
							   || coalesce(' check ' || pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid), ''),
							   ', ' ORDER BY pol.polname)
						  FROM pg_catalog.pg_policy pol WHERE pol.polrelid = c.oid), '')
				  FROM pg_catalog.pg_class c WHERE c.oid = m.objid)
		   END AS def
	  FROM mf_ext_members m
)
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, 0) || ' '
	   || pg_catalog.md5(coalesce(d.def, '')
						 || coalesce(' comment ' || pg_catalog.obj_description(d.objid, c.relname::text), '')
						 || coalesce(' privileges ' || (SELECT pg_catalog.string_agg(ip.objsubid || '=' || ip.initprivs::text,
								 ' ' ORDER BY ip.objsubid)
							FROM pg_catalog.pg_init_privs ip
						   WHERE ip.classoid = d.classid AND ip.objoid = d.objid AND ip.privtype = 'e'), ''))
  FROM defs d JOIN pg_catalog.pg_class c ON c.oid = d.classid
 ORDER BY 1;
