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
 * rewritten artifact is reloaded at the next query.  A model is built
 * from the artifact's metadata as model/model_meta.c reads and checks it
 * against the tensors (the evaluation loader uses the same reading), once
 * at load: scoring trusts those shapes and checks nothing per row.
 * Scratch buffers for one row are preallocated in the model, so scoring a
 * row allocates nothing.  This header includes mf_kernels.h, so never
 * mf_config.h.
 */
#ifndef MF_PREDICT_H
#define MF_PREDICT_H

#include "postgres.h"

#include "lib/ilist.h"

#include "artifact.h"
#include "mf_kernels.h"
#include "model.h"
#include "train.h"

/* One input column of the feature schema and its encoding (model_meta.h). */
typedef MfMetaColumn MfPredColumn;

/* A model ready for scoring (everything in cxt). */
typedef struct MfPredModel
{
	int64		version_id;
	char		sha256[65];
	char	   *ref;			/* name:version, for messages */
	MemoryContext cxt;
	Size		mem;
	dlist_node	lru;
	uint32		family;
	bool		classify;
	int			n_out;			/* kernel outputs per row (K or 1) */
	size_t		p;
	bool		multinomial;
	const double *coef;
	const double *intercept;
	MfMlp		mlp;
	int			k;
	const double *centers;
	bool		standardize;
	double	   *center;
	double	   *scale;
	int			ncols;
	MfPredColumn *cols;
	char	  **feature_names;	/* p expanded names */
	int			n_labels;
	char	  **labels;
	bool		labels_numeric;
	double	   *label_values;
	MfTrainedModel tm;			/* the model module's view (jsonb form) */
	/* per-row scratch */
	double	   *xraw;			/* p: an encoded row before scaling */
	double	   *xbuf;			/* p: the scaled row */
	double	   *out;			/* n_out */
	double	   *scratch;		/* mlp */
} MfPredModel;

/* What a reference resolved to. */
typedef struct MfPredResolved
{
	int64		version_id;
	char		sha256[65];
	char	   *ref;
} MfPredResolved;

/* model_cache.c */
extern uint64 MfModelCacheGeneration;
extern void MfPredResolve(text *ref, MfPredResolved *out);
extern MfPredModel *MfPredGetModel(const MfPredResolved *r);
extern bytea *MfPredReadArtifact(int64 version_id, const char *ref);
extern MfPredModel *MfPredLookup(int64 version_id);

#endif							/* MF_PREDICT_H */
