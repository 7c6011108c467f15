/*
 * model_cache.c - resolving model references and the per-backend cache of
 * loaded models (see predict.h for the design).
 *
 * Resolution runs mf._resolve() through SPI in read-only mode, so it uses
 * the calling query's snapshot: every call site of one query (and every
 * parallel worker, which shares the leader's snapshot) resolves a
 * reference to the same version, and a version promoted by another session
 * is picked up by the next query, never in the middle of one.  The same
 * query returns the artifact's sha256, which is compared with the cached
 * model's, so a rewritten artifact is reloaded.  A valid reference is
 * resolved by one plain-SQL query that follows mf._resolve's rules; only
 * when it finds nothing (or the reference does not parse) does mf._resolve
 * run, to raise its error.  Both queries are prepared once per backend and
 * kept (SPI_keepplan); the plan cache replans them when the tables change,
 * and each execution still reads with the calling query's snapshot, so
 * nothing about the versions is cached here.
 */
#include "postgres.h"

#include "mf_core.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "model_pg.h"
#include "predict.h"
#include "privileges.h"

uint64		MfModelCacheGeneration = 0;

typedef struct MfCacheEntry
{
	int64		version_id;		/* hash key */
	MfPredModel *model;
} MfCacheEntry;

static MemoryContext cache_cxt = NULL;
static HTAB *cache_htab = NULL;
static dlist_head cache_lru = DLIST_STATIC_INIT(cache_lru);
static Size cache_bytes = 0;

/* Create the cache on first use. */
static void
MfCacheInit(void)
{
	HASHCTL		ctl;

	if (cache_htab != NULL)
		return;
	cache_cxt = AllocSetContextCreate(CacheMemoryContext, "mf model cache",
									  ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(MfCacheEntry);
	ctl.hcxt = cache_cxt;
	cache_htab = hash_create("mf model cache", 32, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Drop one cached model. */
static void
MfCacheRemove(MfPredModel *m)
{
	int64		key = m->version_id;

	hash_search(cache_htab, &key, HASH_REMOVE, NULL);
	dlist_delete(&m->lru);
	cache_bytes -= m->mem;
	MemoryContextDelete(m->cxt);
	MfModelCacheGeneration++;
}

/* Evict least recently used models (never keep) beyond mf.model_cache_mb. */
static void
MfCacheEvict(MfPredModel *keep)
{
	Size		limit = (Size) MfGucs->model_cache_mb * 1024 * 1024;

	while (cache_bytes > limit && !dlist_is_empty(&cache_lru))
	{
		MfPredModel *victim = dlist_tail_element(MfPredModel, lru, &cache_lru);

		if (victim == keep)
			break;
		MfCacheRemove(victim);
	}
}

/* A cached model by version_id, or NULL; no catalog access. */
MfPredModel *
MfPredLookup(int64 version_id)
{
	MfCacheEntry *e;

	if (cache_htab == NULL)
		return NULL;
	e = hash_search(cache_htab, &version_id, HASH_FIND, NULL);
	if (e == NULL)
		return NULL;
	dlist_move_head(&cache_lru, &e->model->lru);
	return e->model;
}

/* A kept SPI plan of sql with nargs arguments of types argtypes. */
static SPIPlanPtr
MfPredKeptPlan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	return plan;
}

/* True for a model name or label: ^[a-z][a-z0-9_]{0,62}$. */
static bool
MfPredIsName(const char *s, int len)
{
	if (len < 1 || len > 63 || s[0] < 'a' || s[0] > 'z')
		return false;
	for (int i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/*
 * Split a reference the way mf._resolve does: *kind 0 'name', 1
 * 'name:version', 2 'name@stage', 3 'name@alias'.  False when it does not
 * parse (mf._resolve then raises the error).
 */
static bool
MfPredParseRef(text *ref, char **name, int *kind, char **arg)
{
	const char *s = VARDATA_ANY(ref);
	int			len = (int) VARSIZE_ANY_EXHDR(ref);
	int			n = 0;
	const char *rest;
	int			rlen;

	while (n < len && s[n] != ':' && s[n] != '@')
		n++;
	if (!MfPredIsName(s, n))
		return false;
	*name = pnstrdup(s, n);
	*kind = 0;
	*arg = NULL;
	if (n == len)
		return true;
	rest = s + n + 1;
	rlen = len - n - 1;
	*arg = pnstrdup(rest, rlen);
	if (s[n] == ':')
	{
		*kind = 1;
		return rlen > 0 && strpbrk(*arg, ":@") == NULL && (int) strlen(*arg) == rlen;
	}
	if (!MfPredIsName(rest, rlen))
		return false;
	*kind = (strcmp(*arg, "development") == 0 || strcmp(*arg, "staging") == 0 ||
			 strcmp(*arg, "production") == 0 || strcmp(*arg, "archived") == 0) ? 2 : 3;
	return true;
}

/*
 * One plain-SQL query resolving every valid form exactly as mf._resolve
 * does (SPI connected; true when a version was found).
 */
static bool
MfPredResolveFast(text *ref)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	char	   *name;
	char	   *arg;
	int			kind;

	if (!MfPredParseRef(ref, &name, &kind, &arg))
		return false;
	if (plan == NULL)
		plan = MfPredKeptPlan(
			"SELECT v.version_id, mo.name || ':' || v.version, v.status, a.sha256 "
			"FROM mf.models mo JOIN mf.model_versions v ON v.model_id = mo.model_id "
			"LEFT JOIN mf.artifacts a ON a.version_id = v.version_id "
			"WHERE mo.name = $1 AND CASE $2 WHEN 1 THEN v.version = $3 WHEN 2 THEN v.stage = $3 "
			"WHEN 3 THEN v.version_id = (SELECT al.version_id FROM mf.aliases al "
			"WHERE al.model_id = mo.model_id AND al.alias = $3) ELSE true END "
			"ORDER BY (v.stage = 'production') DESC, v.version_id DESC LIMIT 1",
			3, argtypes);
	args[0] = CStringGetTextDatum(name);
	args[1] = Int32GetDatum(kind);
	args[2] = arg ? CStringGetTextDatum(arg) : (Datum) 0;
	if (arg == NULL)
		nulls[2] = 'n';
	if (SPI_execute_plan(plan, args, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not resolve model reference \"%s\"", text_to_cstring(ref));
	return SPI_processed == 1;
}

/*
 * Resolve a reference with the current query's snapshot: version_id and
 * artifact sha256.  42704 for an unknown reference (from mf._resolve),
 * 55000 for a version that is not trained.
 */
void
MfPredResolve(text *ref, MfPredResolved *out)
{
	static SPIPlanPtr slow_plan = NULL;
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	char	   *status;
	char	   *sha;
	MfRunAs		owner;

	MfRequireReader("predict with mf_ext models");
	args[0] = PointerGetDatum(ref);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the catalog is read as its owner, after the check above */
	MfAsOwnerBegin(&owner);
	if (!MfPredResolveFast(ref))
	{
		/* not found or malformed: mf._resolve raises the error */
		if (slow_plan == NULL)
			slow_plan = MfPredKeptPlan(
				"SELECT r.version_id, r.model_name || ':' || r.version, v.status, a.sha256 "
				"FROM mf._resolve($1) r JOIN mf.model_versions v ON v.version_id = r.version_id "
				"LEFT JOIN mf.artifacts a ON a.version_id = r.version_id",
				1, argtypes);
		if (SPI_execute_plan(slow_plan, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not resolve model reference \"%s\"", text_to_cstring(ref));
	}
	out->version_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	sha = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	out->ref = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	if (strcmp(status, "trained") != 0 || sha == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model version \"%s\" is not trained", out->ref),
				 errdetail("Its status is %s.", status),
				 errhint("Train it with mf_train(), or name a trained version.")));
	strlcpy(out->sha256, sha, sizeof(out->sha256));
	MfAsOwnerEnd(&owner);
	SPI_finish();
}

/* ------------------------------------------------------------ loading */

/* The buffers of one row (current context = model context). */
static void
MfPredWorkInit(MfPredModel *m)
{
	MfArtAllocator alloc = {MfArtAlloc, MfArtFree, NULL};

	if (mf_model_work_init(&m->tm, &m->work, &alloc) != MF_MODEL_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Allocating the row buffers of model \"%s\".", m->ref)));
}

/* Read, validate and unpack an artifact into a new model context. */
static MfPredModel *
MfPredLoad(const MfPredResolved *r)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(caller, "mf model", ALLOCSET_DEFAULT_SIZES);
	MemoryContext tmp;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(r->version_id)};
	bool		isnull;
	bytea	   *bytes;
	MfPredModel *m;
	MfRunAs		owner;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MfAsOwnerBegin(&owner);		/* MfPredResolve checked mf_reader */
	if (SPI_execute_with_args("SELECT bytes FROM mf.artifacts WHERE version_id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model version \"%s\" has no artifact", r->ref),
				 errhint("Train it with mf_train().")));
	bytes = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	MfAsOwnerEnd(&owner);
	tmp = MemoryContextSwitchTo(cxt);
	m = palloc0(sizeof(MfPredModel));
	m->cxt = cxt;
	m->version_id = r->version_id;
	strlcpy(m->sha256, r->sha256, sizeof(m->sha256));
	m->ref = pstrdup(r->ref);
	/* one copy, 8-byte aligned, its checked metadata and the row buffers in the model's context */
	MfOpenTrainedModel(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes), &m->tm);
	MfPredWorkInit(m);
	MemoryContextSwitchTo(tmp);
	SPI_finish();
	m->mem = MemoryContextMemAllocated(cxt, true);
	return m;
}

/* The model of a resolved reference: from the cache or freshly loaded. */
MfPredModel *
MfPredGetModel(const MfPredResolved *r)
{
	MfCacheEntry *e;
	MfPredModel *m;
	bool		found;

	MfCacheInit();
	m = MfPredLookup(r->version_id);
	if (m != NULL)
	{
		if (strcmp(m->sha256, r->sha256) == 0)
			return m;
		MfCacheRemove(m);		/* the artifact was rewritten */
	}
	m = MfPredLoad(r);
	/* success: the model context now belongs to the cache */
	MemoryContextSetParent(m->cxt, cache_cxt);
	e = hash_search(cache_htab, &m->version_id, HASH_ENTER, &found);
	e->model = m;
	dlist_push_head(&cache_lru, &m->lru);
	cache_bytes += m->mem;
	MfCacheEvict(m);
	return m;
}
