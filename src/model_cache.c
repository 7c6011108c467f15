/*
 * model_cache.c - the per-backend cache of loaded models (see predict.h for
 * the design): resolving a reference for prediction, fetching and loading
 * its artifact.
 *
 * Design note
 * -----------
 * A reference is resolved by src/resolve.c (mf._resolve's implementation)
 * with the calling query's snapshot, after the mf_reader check; the
 * artifact's sha256 read with it is compared with the cached model's, so a
 * rewritten artifact is reloaded at the next query.  Nothing runs through
 * SQL: a new connection's first prediction neither parses nor plans.
 *
 * Loading reads the artifact's TOAST chunks straight into the buffer the
 * model keeps (8-byte aligned, as the kernels read tensors in place): one
 * copy of the bytes, not a detoasted value and then an aligned copy of it.
 * From 1 MB on, that buffer is anonymous memory in 2 MB transparent huge
 * pages (mmap, released by a reset callback of the model's context): on
 * the 2-vCPU VMs of bench/RESULTS.md a new backend touching 1 MB of fresh
 * memory faults in 263 pages of 4 kB, which took 2.5-7 ms, against about
 * 0.2 ms for one huge page.  The price is up to 1 MB more memory per cached
 * model, counted in mf.model_cache_mb; where the kernel offers no huge pages
 * the same buffer is faulted in page by page, as before.
 *
 * The first backend that loads an artifact leaves a copy of its bytes in
 * a file (artifact_file.c); later backends pread() that file into the
 * same buffer instead of walking the TOAST chunks through shared buffers,
 * whose first touch in a new process costs about as much as fresh memory
 * (1 MB: ~3 ms of TOAST reads down to ~0.2 ms, bench/RESULTS.md).
 */
#include "postgres.h"

#include "mf_core.h"

#include <math.h>

#include <sys/mman.h>

#include "access/detoast.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "model_pg.h"
#include "predict.h"
#include "privileges.h"
#include "resolve.h"
#include "text_model.h"

/* Artifacts from this size on go to huge pages (see the design note). */
#define MF_HUGE_ARTIFACT ((Size) 1024 * 1024)
#define MF_HUGE_PAGE ((Size) 2 * 1024 * 1024)

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

/*
 * Resolve a reference with the current query's snapshot: version_id and
 * artifact sha256.  42501 without mf_reader, 22023/42704 from the
 * resolver, 55000 for a version that is not trained.
 */
void
MfPredResolve(text *ref, MfPredResolved *out)
{
	MfResolved	r;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *sha = NULL;
	Size		len = 0;

	MfRequireReader("predict with mf_ext models");
	MfResolve(ref, &r);
	out->version_id = r.version_id;
	out->ref = psprintf("%s:%s", r.model_name, r.version);
	rel = MfCatalogOpen("artifacts");
	MfCatalogKey(&key, rel, "version_id", F_INT8EQ, Int64GetDatum(r.version_id));
	scan = systable_beginscan(rel, MfCatalogRelid("artifacts_pkey"), true, MfCatalogSnapshot(), 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, MfCatalogAttnum(rel, "sha256"), RelationGetDescr(rel), &isnull);

		if (!isnull)
			sha = TextDatumGetCString(d);
		/* the stored length, from the TOAST pointer (nothing is fetched) */
		d = heap_getattr(tup, MfCatalogAttnum(rel, "bytes"), RelationGetDescr(rel), &isnull);
		if (!isnull)
			len = toast_raw_datum_size(d) - VARHDRSZ;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (strcmp(r.status, "trained") != 0 || sha == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model version \"%s\" is not trained", out->ref),
				 errdetail("Its status is %s.", r.status),
				 errhint("Train it with mf_train(), or name a trained version.")));
	strlcpy(out->sha256, sha, sizeof(out->sha256));
	out->artifact_len = len;
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

/* Reset callback of a model context: unmap its huge-page artifact buffer. */
static void
MfUnmapArtifact(void *arg)
{
	Size	   *region = (Size *) arg;	/* {address, length} */

	munmap((void *) region[0], region[1]);
}

/*
 * Room for len bytes plus an 8-byte header, freed with cxt; *mapped gets
 * the bytes mapped outside palloc (0 when palloc'd).  The artifact goes at
 * offset 8 (8-byte aligned), a varlena header right before it.
 */
static char *
MfArtifactRoom(MemoryContext cxt, Size len, Size *mapped)
{
	Size		need = add_size(len, 8);
	Size		size = TYPEALIGN(MF_HUGE_PAGE, need);
	char	   *raw;
	char	   *buf;
	Size	   *region;
	MemoryContextCallback *cb;

	*mapped = 0;
	if (len < MF_HUGE_ARTIFACT)
		return MemoryContextAllocExtended(cxt, need, MCXT_ALLOC_HUGE);
	cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback) + 2 * sizeof(Size));
	/* over-allocate by one huge page to align, then return both ends */
	raw = mmap(NULL, size + MF_HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return MemoryContextAllocExtended(cxt, need, MCXT_ALLOC_HUGE);
	buf = (char *) TYPEALIGN(MF_HUGE_PAGE, raw);
	if (buf > raw)
		munmap(raw, buf - raw);
	munmap(buf + size, raw + MF_HUGE_PAGE - buf);
	(void) madvise(buf, size, MADV_HUGEPAGE);	/* a hint: without it, 4 kB pages */
	region = (Size *) (cb + 1);
	region[0] = (Size) buf;
	region[1] = size;
	cb->func = MfUnmapArtifact;
	cb->arg = region;
	MemoryContextRegisterResetCallback(cxt, cb);
	*mapped = size;
	return buf;
}

/*
 * The bytes of a stored artifact (the attribute as in the heap tuple) in
 * an 8-byte aligned buffer of cxt; *len gets their length.  An uncompressed
 * TOAST value is fetched chunk by chunk straight into that buffer.
 */
static char *
MfFetchArtifact(struct varlena *attr, MemoryContext cxt, Size *len, Size *mapped)
{
	struct varatt_external toast;
	struct varlena *value;
	char	   *buf;

	if (VARATT_IS_EXTERNAL_ONDISK(attr))
	{
		VARATT_EXTERNAL_GET_POINTER(toast, attr);
		if (!VARATT_EXTERNAL_IS_COMPRESSED(toast))
		{
			Relation	toastrel;

			*len = VARATT_EXTERNAL_GET_EXTSIZE(toast);
			buf = MfArtifactRoom(cxt, *len, mapped);
			value = (struct varlena *) (buf + 8 - VARHDRSZ);
			SET_VARSIZE(value, *len + VARHDRSZ);
			if (*len > 0)
			{
				toastrel = table_open(toast.va_toastrelid, AccessShareLock);
				table_relation_fetch_toast_slice(toastrel, toast.va_valueid, (int32) *len, 0,
												 (int32) *len, value);
				table_close(toastrel, AccessShareLock);
			}
			return buf + 8;
		}
	}
	/* inline or compressed (not how mf.artifacts stores it): detoast, then copy */
	value = detoast_attr(attr);
	*len = VARSIZE_ANY_EXHDR(value);
	buf = MfArtifactRoom(cxt, *len, mapped);
	memcpy(buf + 8, VARDATA_ANY(value), *len);
	if (value != attr)
		pfree(value);
	return buf + 8;
}

/*
 * The stored artifact of a version resolved by MfPredResolve (which checked
 * mf_reader), fetched into an 8-byte aligned buffer of cxt (*len bytes;
 * *mapped as for MfArtifactRoom).
 */
static char *
MfPredFetchStored(int64 version_id, const char *ref, MemoryContext cxt, Size *len, Size *mapped)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Datum		d = (Datum) 0;
	bool		isnull = true;
	char	   *bytes;

	rel = MfCatalogOpen("artifacts");
	MfCatalogKey(&key, rel, "version_id", F_INT8EQ, Int64GetDatum(version_id));
	scan = systable_beginscan(rel, MfCatalogRelid("artifacts_pkey"), true, MfCatalogSnapshot(), 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		d = heap_getattr(tup, MfCatalogAttnum(rel, "bytes"), RelationGetDescr(rel), &isnull);
	if (!HeapTupleIsValid(tup) || isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model version \"%s\" has no artifact", ref),
				 errhint("Train it with mf_train().")));
	bytes = MfFetchArtifact((struct varlena *) DatumGetPointer(d), cxt, len, mapped);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return bytes;
}

/*
 * The artifact bytes of a version resolved by MfPredResolve, as a bytea of
 * the caller's context (the HTTP worker's snapshot reads them this way).
 */
bytea *
MfPredReadArtifact(int64 version_id, const char *ref)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext tmp = AllocSetContextCreate(caller, "mf artifact", ALLOCSET_DEFAULT_SIZES);
	Size		len;
	Size		mapped;
	char	   *bytes = MfPredFetchStored(version_id, ref, tmp, &len, &mapped);
	bytea	   *out = (bytea *) MemoryContextAllocExtended(caller, len + VARHDRSZ, MCXT_ALLOC_HUGE);

	SET_VARSIZE(out, len + VARHDRSZ);
	memcpy(VARDATA(out), bytes, len);
	MemoryContextDelete(tmp);
	return out;
}

/* Validate and unpack an artifact's bytes (in cxt) into a new model of cxt. */
static MfPredModel *
MfPredUnpack(const MfPredResolved *r, MemoryContext cxt, char *bytes, Size len, Size mapped)
{
	MemoryContext tmp = MemoryContextSwitchTo(cxt);
	MfPredModel *m = palloc0(sizeof(MfPredModel));

	m->cxt = cxt;
	m->version_id = r->version_id;
	strlcpy(m->sha256, r->sha256, sizeof(m->sha256));
	m->ref = pstrdup(r->ref);
	if (MfArtifactFamily(bytes, len) == MF_ART_FAMILY_TRANSFORMER)
	{
		MfArtifactView view;

		/* a text model: its own loader (text_model.c) */
		MfOpenArtifactBuffer(bytes, len, &view);
		m->text = MfTextModelOpen(&view, m->ref);
	}
	else
	{
		/* the tensors stay in that buffer; the checked metadata and the row buffers go to the model's context */
		MfOpenTrainedModelBuffer(bytes, len, &m->tm);
		MfPredWorkInit(m);
	}
	MemoryContextSwitchTo(tmp);
	m->mem = MemoryContextMemAllocated(cxt, true) + mapped;
	return m;
}

/*
 * The model unpacked from its artifact file (artifact_file.c), or NULL
 * when there is none; a damaged file (XX001 from the artifact's checks)
 * is removed, logged and answered with NULL too.
 */
static MfPredModel *
MfPredLoadFile(const MfPredResolved *r, MemoryContext caller)
{
	int			fd = r->artifact_len > 0 ? MfArtifactFileOpen(r->version_id, r->sha256, r->artifact_len) : -1;
	MemoryContext cxt;
	char	   *bytes;
	Size		mapped;
	MfPredModel *volatile m = NULL;

	if (fd < 0)
		return NULL;
	cxt = AllocSetContextCreate(caller, "mf model", ALLOCSET_DEFAULT_SIZES);
	bytes = MfArtifactRoom(cxt, r->artifact_len, &mapped) + 8;
	if (!MfArtifactFileRead(fd, bytes, r->artifact_len))
	{
		MemoryContextDelete(cxt);
		return NULL;
	}
	PG_TRY();
	{
		m = MfPredUnpack(r, cxt, bytes, r->artifact_len, mapped);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(caller);
		ed = CopyErrorData();
		if (ed->sqlerrcode != ERRCODE_DATA_CORRUPTED)
			PG_RE_THROW();
		FlushErrorState();
		MfArtifactFileDrop(r->version_id, r->sha256);
		elog(LOG, "mf: removed the damaged artifact file of %s, reading mf.artifacts instead: %s",
			 r->ref, ed->message);
		FreeErrorData(ed);
		MemoryContextDelete(cxt);
	}
	PG_END_TRY();
	return m;
}

/*
 * Read, validate and unpack an artifact into a new model context: from
 * its artifact file when there is one, else from mf.artifacts, and then
 * left in such a file for the next backends.
 */
static MfPredModel *
MfPredLoad(const MfPredResolved *r)
{
	MemoryContext caller = CurrentMemoryContext;
	MfPredModel *m;
	const char *from = "its artifact file";
	instr_time	start,
				done;

	INSTR_TIME_SET_CURRENT(start);
	m = MfPredLoadFile(r, caller);
	if (m == NULL)
	{
		MemoryContext cxt = AllocSetContextCreate(caller, "mf model", ALLOCSET_DEFAULT_SIZES);
		Size		len;
		Size		mapped;
		char	   *bytes = MfPredFetchStored(r->version_id, r->ref, cxt, &len, &mapped);

		from = "mf.artifacts";

		m = MfPredUnpack(r, cxt, bytes, len, mapped);
		MfArtifactFileWrite(r->version_id, r->sha256, bytes, len);
	}
	INSTR_TIME_SET_CURRENT(done);
	INSTR_TIME_SUBTRACT(done, start);
	elog(DEBUG2, "mf model cache: %s loaded from %s in %.3f ms", m->ref, from, INSTR_TIME_GET_MILLISEC(done));
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

PG_FUNCTION_INFO_V1(mf_cache_state);

/* mf._cache_state(version_id): this backend's cache, for mf_debug. */
Datum
mf_cache_state(PG_FUNCTION_ARGS)
{
	int64		version_id = PG_GETARG_INT64(0);
	MfCacheEntry *e = NULL;
	StringInfoData s;

	if (cache_htab != NULL)
		e = hash_search(cache_htab, &version_id, HASH_FIND, NULL);
	initStringInfo(&s);
	appendStringInfo(&s, "{\"cached\": %s, \"cached_models\": %ld, \"cache_bytes\": %zu, \"cache_limit_mb\": %d",
					 e != NULL ? "true" : "false", cache_htab != NULL ? (long) hash_get_num_entries(cache_htab) : 0L,
					 cache_bytes, MfGucs->model_cache_mb);
	if (e != NULL)
		appendStringInfo(&s, ", \"model_bytes\": %zu, \"sha256\": \"%s\"", e->model->mem, e->model->sha256);
	appendStringInfoChar(&s, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data)));
}
