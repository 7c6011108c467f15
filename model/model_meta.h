/*
 * model_meta.h - the one reading of a model artifact's metadata: the
 * feature schema, the labels and the family's shapes, checked against each
 * other and against the artifact's tensors.
 *
 * Pure C11 (+ jansson); knows nothing of PostgreSQL.  The prediction
 * loader (src/model_cache.c) and the evaluation loader (src/train_fit.c,
 * src/features.c) both build their model from an MfModelMeta, so what one
 * accepts the other accepts too.
 *
 * Design note
 * -----------
 * The artifact's checksum proves the bytes intact, not that mf_train wrote
 * them: whoever may UPDATE mf.artifacts can store any metadata next to any
 * tensors.  mf_model_meta_read() therefore checks every member a loader
 * uses, in one pass at load time (never per row), and refuses the artifact
 * with the name of the first member at fault:
 *   - "family" names the header's family; "task" fits it (linear:
 *     regression, logistic: classification, mlp: either, kmeans:
 *     clustering);
 *   - "columns": each has a name and a known kind; numeric and boolean
 *     columns a finite impute value; categorical ones distinct string
 *     categories in byte order and a string (or null) impute value;
 *   - "features" and "n_features" agree with the columns' widths (p);
 *     "means"/"stds" (when "standardize") hold p finite numbers, stds > 0;
 *   - classifiers have at least two distinct string "labels", other models
 *     none;
 *   - the tensors have the shapes the schema and labels imply: coef [p] or
 *     [p, K], intercept [1] or [K], params [n_params of the architecture in
 *     "model"], centers [k, p].
 * Everything returned (strings, arrays) comes from the caller's allocator;
 * tensor pointers point into the artifact.
 */
#ifndef MF_MODEL_META_H
#define MF_MODEL_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "artifact.h"

/* How an input column is encoded. */
typedef enum MfColKind
{
	MF_COL_NUMERIC = 0,
	MF_COL_BOOLEAN,
	MF_COL_CATEGORICAL
} MfColKind;

/* One input column of a stored feature schema. */
typedef struct MfMetaColumn
{
	char	   *name;
	MfColKind	kind;
	int			offset;			/* first expanded feature */
	int			n_cats;			/* categorical: its width (may be 0) */
	char	  **cats;			/* strictly ascending by bytes */
	int		   *cat_lens;
	double		impute_num;		/* numeric, boolean: finite */
	char	   *impute_str;		/* categorical: NULL when none */
} MfMetaColumn;

/* A model's metadata, checked against its tensors. */
typedef struct MfModelMeta
{
	uint32_t	family;			/* MfArtFamily */
	bool		classify;		/* task "classification" */
	int			ncols;
	MfMetaColumn *cols;
	size_t		p;				/* expanded features, 1..INT_MAX */
	char	  **feature_names;	/* p */
	bool		standardize;
	double	   *means;			/* p, or NULL without standardize */
	double	   *stds;			/* p, all > 0 */
	int			n_labels;		/* >= 2 for classifiers, else 0 */
	char	  **labels;
	char	   *target_type;	/* NULL when absent */
	int			n_out;			/* outputs per row: n_labels or 1 */
	/* family shapes */
	bool		multinomial;	/* logistic regression with K > 2 */
	int			n_hidden;		/* mlp */
	size_t	   *hidden;
	int			activation;		/* MfAct */
	int			k;				/* kmeans */
	/* tensors (into the artifact), NULL when the family has none */
	const double *coef;
	const double *intercept;
	const double *params;
	size_t		n_params;
	const double *centers;
} MfModelMeta;

/* Outcome of mf_model_meta_read. */
typedef enum MfMetaStatus
{
	MF_META_OK = 0,
	MF_META_INVALID,			/* metadata and tensors disagree: corruption */
	MF_META_UNSUPPORTED,		/* a family these loaders cannot use */
	MF_META_NOMEM				/* the allocator returned NULL */
} MfMetaStatus;

/* Where an artifact was refused. */
typedef struct MfMetaError
{
	char		member[96];		/* e.g. "columns[2].categories"; "" = the text */
	char		detail[320];	/* lowercase, no final period */
} MfMetaError;

/*
 * Read and check the metadata of an open artifact into *out (allocations
 * through *alloc; nothing to free on error beyond what alloc handed out).
 */
extern MfMetaStatus mf_model_meta_read(const MfArtifactView *view,
									   const MfArtAllocator *alloc,
									   MfModelMeta *out, MfMetaError *err);

/*
 * The network of an mlp's metadata, params set (struct MfMlp of
 * mf_kernels.h, declared here by tag so that this header does not include
 * mf_kernels.h).  False when mm is not a valid mlp.
 */
struct MfMlp;
extern bool mf_model_meta_mlp(const MfModelMeta *mm, struct MfMlp *out);

#endif							/* MF_MODEL_META_H */
