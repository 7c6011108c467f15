/*
 * predict.h - the per-backend model cache and the scoring helpers shared by
 * the prediction functions (model_cache.c, predict.c).
 *
 * Design note
 * -----------
 * A loaded model (MfPredModel) lives in its own memory context, a child of
 * the cache context under CacheMemoryContext; dropping it is one
 * MemoryContextDelete.  The cache is a hash table keyed by version_id plus
 * an LRU list, bounded by mf.model_cache_mb.  Each model carries the
 * sha256 of its artifact: a lookup made while resolving a reference (once
 * per query per call site) compares it with the stored artifact's, so a
 * rewritten artifact is reloaded at the next query.  The model itself is
 * the model module's (model/model.h: MfPredModel.tm), built once at load
 * from the artifact's checked metadata (model_pg.c opens it as evaluation
 * does): scoring trusts those shapes and checks nothing per row.  The
 * buffers of one row are preallocated beside it (MfPredModel.work), so
 * scoring a row allocates nothing.  This header includes mf_kernels.h, so
 * never mf_config.h.
 */
#ifndef MF_PREDICT_H
#define MF_PREDICT_H

#include "postgres.h"

#include "lib/ilist.h"

#include "model.h"

/* A model ready for scoring (everything in cxt). */
typedef struct MfPredModel
{
	int64		version_id;
	char		sha256[65];
	char	   *ref;			/* name:version, for messages */
	MemoryContext cxt;
	Size		mem;
	dlist_node	lru;
	MfTrainedModel tm;			/* the model: schema, labels, tensors */
	MfModelWork work;			/* the buffers of one row */
	struct MfTextRun *text;	/* a transformer (tm and work unused), else NULL */
} MfPredModel;

/* What a reference resolved to. */
typedef struct MfPredResolved
{
	int64		version_id;
	char		sha256[65];
	Size		artifact_len;	/* bytes of the stored artifact */
	char	   *ref;
} MfPredResolved;

/* What a per-row form returns. */
typedef enum MfPredWhat
{
	MF_PRED_VALUE,
	MF_PRED_LABEL,
	MF_PRED_PROBA
} MfPredWhat;

/* Where a per-row form takes its features from. */
typedef enum MfPredInput
{
	MF_IN_ARRAY,				/* float8[] */
	MF_IN_RECORD,				/* a row value, columns by name */
	MF_IN_ARGS,					/* mf._predict_args: float8 arguments */
	MF_IN_COLS					/* mf._predict_cols: named column arguments */
} MfPredInput;

/* Local prediction counts of one model (predict_track.c, mf.track_predictions). */
typedef struct MfPredTrack
{
	int64		version_id;
	char		model[128];		/* MF_COUNTERS_MODEL_LEN */
	char		version[64];	/* MF_COUNTERS_VERSION_LEN */
	uint64		calls;
	uint64		rows;
} MfPredTrack;

/* predict_track.c */
extern MfPredTrack *MfPredTrackFor(const MfPredResolved *r);

/* model_cache.c */
extern uint64 MfModelCacheGeneration;
extern void MfPredResolve(text *ref, MfPredResolved *out);
extern MfPredModel *MfPredGetModel(const MfPredResolved *r);
extern bytea *MfPredReadArtifact(int64 version_id, const char *ref);
extern MfPredModel *MfPredLookup(int64 version_id);

/* artifact_file.c: artifact files read instead of TOAST chunks */
extern int	MfArtifactFileOpen(int64 version_id, const char *sha256, Size len);
extern bool MfArtifactFileRead(int fd, char *buf, Size len);
extern void MfArtifactFileDrop(int64 version_id, const char *sha256);
extern void MfArtifactFileWrite(int64 version_id, const char *sha256, const char *bytes, Size len);
extern int	MfArtifactFileSweep(void);

/* predict_text.c: text models in the per-row forms, and the other forms' refusal */
extern Datum MfPredTextForm(FunctionCallInfo fcinfo, MfPredModel *m, MfPredInput in, MfPredWhat what);
extern MfPredModel *MfPredRequireTabular(MfPredModel *m, const char *fn);

#endif							/* MF_PREDICT_H */
