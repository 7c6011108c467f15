/*
 * resolve.c - model references against the catalog: mf._resolve() (what
 * the registry's PL/pgSQL calls) and MfResolve() (what prediction calls)
 * are this one implementation.
 *
 * Design note
 * -----------
 * model/model_ref.c owns the grammar ('name', 'name:1.2.0', 'name@stage',
 * 'name@alias') and the rule that picks a version; this file finds the
 * parts in mf.models, mf.model_versions and mf.aliases through their
 * unique indexes, with the active snapshot (the calling query's: every
 * call of one query, and its parallel workers, see the same versions, and
 * a version promoted by another session is seen by the next query), and
 * raises the registry's errors: 22023 for a string that is not a
 * reference, 42704 for a model, version, stage or alias that does not
 * exist.  No SQL runs: nothing is parsed or planned, so a connection's
 * first prediction opens three tables and three indexes instead of
 * planning a join over the twelve indexes of four tables.
 *
 * Privileges: reads here check no ACL.  mf._resolve is executable only by
 * the extension's owner (the SECURITY DEFINER bodies of the mf_* gates),
 * and prediction checks that the caller holds mf_reader first (what its
 * reading through SPI as the owner did before).  A "did you mean" hint
 * names other models or aliases only to an acting role that may read the
 * catalog (mf_reader or more).
 */
#include "postgres.h"

#include "mf_core.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "mf_config.h"
#include "model_ref.h"
#include "privileges.h"
#include "resolve.h"

/* ------------------------------------------------------------ catalog access */

/* Open table mf.<table> for reading (AccessShareLock). */
Relation
MfCatalogOpen(const char *table)
{
	return table_open(MfCatalogRelid(table), AccessShareLock);
}

/* OID of relation mf.<name> (a table or an index of the catalog). */
Oid
MfCatalogRelid(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("mf", false));

	if (!OidIsValid(relid))
		elog(ERROR, "relation mf.%s is missing: reinstall extension mf_ext", name);
	return relid;
}

/* Attribute number of a column (by name: upgraded tables may order them otherwise). */
AttrNumber
MfCatalogAttnum(Relation rel, const char *column)
{
	int			attno = attnameAttNum(rel, column, false);

	if (attno == InvalidAttrNumber)
		elog(ERROR, "column %s of mf.%s is missing: reinstall extension mf_ext", column,
			 RelationGetRelationName(rel));
	return (AttrNumber) attno;
}

/* The snapshot catalog reads use: the calling query's. */
Snapshot
MfCatalogSnapshot(void)
{
	return ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
}

/* An equality key on a column, compared with the column's own collation (as its index is). */
void
MfCatalogKey(ScanKey key, Relation rel, const char *column, RegProcedure eq, Datum value)
{
	AttrNumber	attno = MfCatalogAttnum(rel, column);

	ScanKeyEntryInitialize(key, 0, attno, BTEqualStrategyNumber, InvalidOid,
						   TupleDescAttr(RelationGetDescr(rel), attno - 1)->attcollation,
						   eq, value);
}

/* A text column of a tuple, palloc'd (NULL when NULL). */
static char *
MfTextAttr(HeapTuple tup, Relation rel, const char *column)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, MfCatalogAttnum(rel, column), RelationGetDescr(rel), &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* A bigint column of a tuple (NOT NULL columns only). */
static int64
MfInt8Attr(HeapTuple tup, Relation rel, const char *column)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, MfCatalogAttnum(rel, column), RelationGetDescr(rel), &isnull);

	return isnull ? -1 : DatumGetInt64(d);
}

/* ------------------------------------------------------------ hints */

/* May the acting role read the catalog (and so be told other names)? */
static bool
MfMayReadCatalog(void)
{
	Oid			reader = get_role_oid("mf_reader", true);

	return superuser_arg(MfCaller()) ||
		(OidIsValid(reader) && has_privs_of_role(MfCaller(), reader));
}

/* Add a name to a growing NULL-terminated list. */
static void
MfListAdd(const char ***list, int *n, int *cap, char *name)
{
	if (*n + 1 >= *cap)
	{
		*cap *= 2;
		*list = repalloc(*list, sizeof(char *) * *cap);
	}
	(*list)[(*n)++] = name;
	(*list)[*n] = NULL;
}

/*
 * The closest text of column over the rows of mf.<table> (those with
 * model_id = model_id when model_id >= 0) and the extra words, or NULL.
 */
static const char *
MfClosest(const char *word, const char *table, const char *index, const char *column,
		  int64 model_id, const char *const *extra)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	int			n = 0,
				cap = 16;
	const char **list;

	if (!MfMayReadCatalog())
		return NULL;
	list = palloc(sizeof(char *) * cap);
	list[0] = NULL;
	for (int i = 0; extra != NULL && extra[i] != NULL; i++)
		MfListAdd(&list, &n, &cap, pstrdup(extra[i]));
	rel = MfCatalogOpen(table);
	if (model_id >= 0)
		MfCatalogKey(&key, rel, "model_id", F_INT8EQ, Int64GetDatum(model_id));
	scan = systable_beginscan(rel, MfCatalogRelid(index), model_id >= 0, MfCatalogSnapshot(),
							  model_id >= 0 ? 1 : 0, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		MfListAdd(&list, &n, &cap, MfTextAttr(tup, rel, column));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return MfSuggest(word, list);
}

/* ------------------------------------------------------------ errors */

/* 22023: not a reference; suggests its lowercase form when that one is. */
static void
MfBadRef(const char *s, size_t len)
{
	char	   *ref = pnstrdup(s, len);
	char	   *lower = palloc(len + 1);

	if (mf_model_ref_lowercase_fix(s, len, lower))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model reference \"%s\"", ref),
				 errhint("Did you mean \"%s\"? Names, stages and aliases are lowercase.", lower)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid model reference \"%s\"", ref),
			 errhint("A reference is 'name', 'name:1.2.0', 'name@staging' or 'name@alias'.")));
}

/* 42704: no model of that name. */
static void
MfNoModel(const char *name)
{
	const char *near = MfClosest(name, "models", "models_name_key", "name", -1, NULL);

	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" does not exist", name),
			 near ? errhint("Did you mean \"%s\"? mf_search_models() lists the registered models.", near) :
			 errhint("mf_search_models() lists the registered models.")));
}

/* 42704: the reference names no version of an existing model. */
static void
MfNoVersion(const MfModelRef *ref, const MfResolved *out, const char *label)
{
	const char *near;

	switch (ref->kind)
	{
		case MF_REF_VERSION:
			near = MfClosest(label, "model_versions", "model_versions_model_id_version_key", "version",
							 out->model_id, NULL);
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("version \"%s\" of model \"%s\" does not exist", label, out->model_name),
					 near ? errhint("Did you mean \"%s:%s\"? SELECT version FROM mf.catalog WHERE model = %s lists its versions.",
									out->model_name, near, quote_literal_cstr(out->model_name)) :
					 errhint("SELECT version FROM mf.catalog WHERE model = %s lists its versions.",
							 quote_literal_cstr(out->model_name))));
			break;
		case MF_REF_STAGE:
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no version in stage \"%s\"", out->model_name, label),
					 errhint("mf_set_stage() moves a version to a stage.")));
			break;
		case MF_REF_ALIAS:
			near = MfClosest(label, "aliases", "aliases_pkey", "alias", out->model_id, mf_model_stages);
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no alias \"%s\"", out->model_name, label),
					 near ? errhint("Did you mean \"%s@%s\"? mf_set_alias() creates an alias; stages are development, staging, production and archived.",
									out->model_name, near) :
					 errhint("mf_set_alias() creates an alias; stages are development, staging, production and archived.")));
			break;
		case MF_REF_LATEST:
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no versions", out->model_name)));
			break;
	}
}

/* ------------------------------------------------------------ lookups */

/* model_id of a model name, or -1. */
static int64
MfFindModel(const char *name, Snapshot snap)
{
	Relation	rel = MfCatalogOpen("models");
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	int64		model_id = -1;

	MfCatalogKey(&key, rel, "name", F_TEXTEQ, CStringGetTextDatum(name));
	scan = systable_beginscan(rel, MfCatalogRelid("models_name_key"), true, snap, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		model_id = MfInt8Attr(tup, rel, "model_id");
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return model_id;
}

/* Copy what the caller needs of a version row. */
static void
MfTakeVersion(HeapTuple tup, Relation rel, MfResolved *out)
{
	out->version_id = MfInt8Attr(tup, rel, "version_id");
	out->version = MfTextAttr(tup, rel, "version");
	out->status = MfTextAttr(tup, rel, "status");
}

/*
 * The versions of the model (one when version is given, else all) offered
 * to the reference's rule, or taken as they come for a version; true when
 * one was taken.
 */
static bool
MfScanVersions(const MfModelRef *ref, const char *version, Snapshot snap, MfResolved *out)
{
	Relation	rel = MfCatalogOpen("model_versions");
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	MfRefCandidate best = {-1, false};
	bool		found = false;

	MfCatalogKey(&keys[0], rel, "model_id", F_INT8EQ, Int64GetDatum(out->model_id));
	if (version != NULL)
		MfCatalogKey(&keys[1], rel, "version", F_TEXTEQ, CStringGetTextDatum(version));
	scan = systable_beginscan(rel, MfCatalogRelid("model_versions_model_id_version_key"), true, snap,
							  version != NULL ? 2 : 1, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		char	   *stage = MfTextAttr(tup, rel, "stage");

		if (version != NULL ||
			mf_model_ref_offer(ref, &best, MfInt8Attr(tup, rel, "version_id"), stage))
		{
			MfTakeVersion(tup, rel, out);
			found = true;
		}
		pfree(stage);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* The version an alias points at; false when the model has no such alias. */
static bool
MfFindAlias(const char *alias, Snapshot snap, MfResolved *out)
{
	Relation	rel = MfCatalogOpen("aliases");
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	int64		version_id = -1;

	MfCatalogKey(&keys[0], rel, "model_id", F_INT8EQ, Int64GetDatum(out->model_id));
	MfCatalogKey(&keys[1], rel, "alias", F_TEXTEQ, CStringGetTextDatum(alias));
	scan = systable_beginscan(rel, MfCatalogRelid("aliases_pkey"), true, snap, 2, keys);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		version_id = MfInt8Attr(tup, rel, "version_id");
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (version_id < 0)
		return false;

	rel = MfCatalogOpen("model_versions");
	MfCatalogKey(&keys[0], rel, "version_id", F_INT8EQ, Int64GetDatum(version_id));
	scan = systable_beginscan(rel, MfCatalogRelid("model_versions_pkey"), true, snap, 1, keys);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		MfTakeVersion(tup, rel, out);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return HeapTupleIsValid(tup);
}

/*
 * Resolve a reference with the calling query's snapshot: 22023 when it is
 * not one, 42704 when what it names does not exist.
 */
void
MfResolve(text *ref, MfResolved *out)
{
	const char *s = VARDATA_ANY(ref);
	size_t		len = VARSIZE_ANY_EXHDR(ref);
	Snapshot	snap = MfCatalogSnapshot();
	MfModelRef	r;
	char	   *label;
	bool		found;

	memset(out, 0, sizeof(*out));
	if (!mf_model_ref_parse(s, len, &r))
		MfBadRef(s, len);
	out->model_name = pnstrdup(r.name, r.name_len);
	label = r.label ? pnstrdup(r.label, r.label_len) : NULL;
	out->model_id = MfFindModel(out->model_name, snap);
	if (out->model_id < 0)
		MfNoModel(out->model_name);
	if (r.kind == MF_REF_ALIAS)
		found = MfFindAlias(label, snap, out);
	else
		found = MfScanVersions(&r, r.kind == MF_REF_VERSION ? label : NULL, snap, out);
	if (!found)
		MfNoVersion(&r, out, label);
}

/* ------------------------------------------------------------ SQL */

PG_FUNCTION_INFO_V1(mf_resolve);

/* mf._resolve(ref) -> (version_id, model_id, model_name, version). */
Datum
mf_resolve(PG_FUNCTION_ARGS)
{
	TupleDesc	td;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	MfResolved	r;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ref must not be NULL"),
				 errhint("A reference is 'name', 'name:1.2.0', 'name@staging' or 'name@alias'.")));
	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "mf._resolve must return a record");
	MfResolve(PG_GETARG_TEXT_PP(0), &r);
	values[0] = Int64GetDatum(r.version_id);
	values[1] = Int64GetDatum(r.model_id);
	values[2] = CStringGetTextDatum(r.model_name);
	values[3] = CStringGetTextDatum(r.version);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), values, nulls)));
}
