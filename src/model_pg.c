/*
 * model_pg.c - the model module inside the server (see model_pg.h): palloc
 * for its allocations, the kernels' environment, artifacts opened with
 * SQLSTATEs, and its statuses as SQL errors.
 *
 * Allocations come from the current memory context, huge and without the
 * out-of-memory error (the module and the kernels report NULL as a status,
 * raised here with its own message); a cancel longjmps out of a kernel
 * through the progress callback, which is safe because everything the
 * kernel holds is palloc'd.
 */
#include "postgres.h"

#include "mf_core.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "model_pg.h"

/* Allocation for artifacts and models: palloc (huge) in the current context; NULL on OOM. */
void *
MfArtAlloc(void *ctx, size_t size)
{
	return MemoryContextAllocExtended(CurrentMemoryContext, Max(size, 1),
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

/* Its free. */
void
MfArtFree(void *ctx, void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

/*
 * Allocation for the scoring kernels: MfArtAlloc, a large block prefaulted
 * (scaled rows, outputs and activations are written in full at once).
 */
static void *
MfKernelAlloc(void *ctx, size_t size)
{
	void	   *p = MfArtAlloc(ctx, size);

	if (p != NULL)
		MfPrefault(p, size);
	return p;
}

/* Progress of a kernel outside training: honour cancels (may longjmp). */
static int
MfKernelProgress(void *ctx, const MfProgress *p)
{
	CHECK_FOR_INTERRUPTS();
	return 0;
}

/* An MfEnv over palloc in the current context whose progress honours cancels. */
MfEnv
MfKernelEnv(void)
{
	MfEnv		env;

	env.alloc.alloc = MfKernelAlloc;
	env.alloc.free = MfArtFree;
	env.alloc.ctx = NULL;
	env.progress = MfKernelProgress;
	env.progress_ctx = NULL;
	return env;
}

/* The family field of an artifact's header, unchecked (0 when too short): which loader to call. */
uint32
MfArtifactFamily(const void *bytes, size_t len)
{
	const unsigned char *p = (const unsigned char *) bytes + 12;

	if (len < MF_ARTIFACT_HEADER_SIZE)
		return 0;
	return (uint32) p[0] | (uint32) p[1] << 8 | (uint32) p[2] << 16 | (uint32) p[3] << 24;
}

/*
 * Validate an artifact in an 8-byte aligned buffer: XX001 for damaged
 * bytes, 22023/0A000 otherwise.
 */
void
MfOpenArtifactBuffer(const void *buf, size_t len, MfArtifactView *view)
{
	char		err[256];
	MfArtErr	rc;

	rc = mf_artifact_open(buf, len, view, err, sizeof(err));
	if (rc == MF_ART_OK)
		return;
	if (mf_artifact_err_is_corruption(rc))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the model artifact is corrupted"),
				 errdetail("%s", err),
				 errhint("Retrain the version with mf_train().")));
	ereport(ERROR,
			(errcode(rc == MF_ART_ERR_VERSION || rc == MF_ART_ERR_FAMILY ?
					 ERRCODE_FEATURE_NOT_SUPPORTED : ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the model artifact cannot be read"),
			 errdetail("%s", err)));
}

/* Validate an artifact copied into an aligned buffer (MfOpenArtifactBuffer). */
void *
MfOpenArtifactCopy(const void *data, size_t len, MfArtifactView *view)
{
	void	   *buf = MfHugeAlloc(len);

	memcpy(buf, data, len);
	MfOpenArtifactBuffer(buf, len, view);
	return buf;
}

/*
 * Read and check the metadata of an open artifact against its tensors:
 * XX001 naming the member at fault, 0A000 for a family these loaders
 * cannot use.  Everything in *mm lives in the current context.
 */
void
MfReadModelMeta(const MfArtifactView *view, MfModelMeta *mm)
{
	MfArtAllocator alloc = {MfArtAlloc, MfArtFree, NULL};
	MfMetaError err;

	switch (mf_model_meta_read(view, &alloc, mm, &err))
	{
		case MF_META_OK:
			return;
		case MF_META_INVALID:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the model artifact is inconsistent"),
					 err.member[0] ? errdetail("Metadata member \"%s\" %s.", err.member, err.detail) :
					 errdetail("The metadata %s.", err.detail),
					 errhint("Retrain the version with mf_train().")));
			break;
		case MF_META_UNSUPPORTED:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot use a %s model in SQL", mf_artifact_family_name(view->family)),
					 errdetail("%s.", err.detail)));
			break;
		case MF_META_NOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Reading the metadata of a %zu-byte model artifact.", view->len)));
			break;
	}
}

/*
 * A trained model over artifact bytes in an 8-byte aligned buffer, which
 * keeps its tensors and must live as long as the model (errors of
 * MfOpenArtifactBuffer and MfReadModelMeta); the metadata and what the
 * module derives from it live in the current memory context.
 */
void
MfOpenTrainedModelBuffer(const void *buf, size_t len, MfTrainedModel *tm)
{
	MfArtAllocator alloc = {MfArtAlloc, MfArtFree, NULL};
	MfArtifactView view;
	MfModelMeta mm;
	MfModelError err;

	MfOpenArtifactBuffer(buf, len, &view);
	MfReadModelMeta(&view, &mm);
	if (mf_trained_model_from_meta(tm, &mm, &alloc, &err) != MF_MODEL_OK)
		MfModelRaise(&err, "opening the model");
}

/* The same over a copy of the bytes in the current memory context. */
void
MfOpenTrainedModel(const void *data, size_t len, MfTrainedModel *tm)
{
	void	   *buf = MfHugeAlloc(len);

	memcpy(buf, data, len);
	MfOpenTrainedModelBuffer(buf, len, tm);
}

/* Raise the SQL error of a status the model module returned while doing what. */
void
MfModelRaise(const MfModelError *err, const char *what)
{
	switch (err->status)
	{
		case MF_MODEL_NOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory while %s", what)));
			break;
		case MF_MODEL_NOT_FINITE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("a feature is not finite while %s", what),
					 errdetail("Expanded feature %ld is %g.", err->feature, err->value)));
			break;
		case MF_MODEL_BAD_ARTIFACT:
		case MF_MODEL_INVALID:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the model artifact is inconsistent"),
					 errdetail("%s.", err->detail),
					 errhint("Retrain the version with mf_train().")));
			break;
		default:
			break;
	}
	elog(ERROR, "%s failed: %s", what, err->detail);
}
