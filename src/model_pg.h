/*
 * model_pg.h - the model module (model/model.h) inside the server: its
 * allocator over palloc, the kernels' environment, opening artifacts with
 * SQLSTATEs, and the SQL errors of the module's statuses (model_pg.c).
 *
 * Prediction (model_cache.c, predict.c) and evaluation (evaluate.c) load
 * and score models only through these functions and the module, so they
 * give one answer.  This header includes mf_kernels.h, so never
 * mf_config.h.
 */
#ifndef MF_MODEL_PG_H
#define MF_MODEL_PG_H

#include "postgres.h"

#include "artifact.h"
#include "mf_kernels.h"
#include "model.h"

/* Allocation for artifacts and models: palloc (huge) in the current context; NULL on OOM. */
extern void *MfArtAlloc(void *ctx, size_t size);
/* Its free. */
extern void MfArtFree(void *ctx, void *ptr);

/*
 * An MfEnv over palloc in the current context (large blocks prefaulted, as
 * MfHugeAlloc) whose progress honours cancels: scoring and evaluation.
 */
extern MfEnv MfKernelEnv(void);

/* The family field of an artifact's header, unchecked (0 when too short): which loader to call. */
extern uint32 MfArtifactFamily(const void *bytes, size_t len);
/* Validate an artifact in an 8-byte aligned buffer: XX001 for damaged bytes, 22023/0A000 otherwise. */
extern void MfOpenArtifactBuffer(const void *buf, size_t len, MfArtifactView *view);
/* The same on a copy in the current memory context (returned). */
extern void *MfOpenArtifactCopy(const void *data, size_t len, MfArtifactView *view);
/* Read and check an open artifact's metadata (XX001 naming the member, 0A000). */
extern void MfReadModelMeta(const MfArtifactView *view, MfModelMeta *mm);
/* A trained model over aligned artifact bytes that outlive it (metadata in the current context). */
extern void MfOpenTrainedModelBuffer(const void *buf, size_t len, MfTrainedModel *tm);
/* A trained model from artifact bytes, copied: everything in the current context. */
extern void MfOpenTrainedModel(const void *data, size_t len, MfTrainedModel *tm);
/* Raise the SQL error of a status the model module returned while doing what. */
extern void MfModelRaise(const MfModelError *err, const char *what) pg_attribute_noreturn();

#endif							/* MF_MODEL_PG_H */
