/*
 * model.h - a trained model: built from artifact bytes, it encodes rows of
 * named raw values and scores them, and describes its inputs and outputs.
 *
 * Pure C11 (+ jansson, + the kernels' BLAS for the batch path); knows
 * nothing of PostgreSQL.  The SQL prediction functions, evaluation, the
 * HTTP worker and a standalone server all mean to score through this one
 * module, so that they give the database's exact answer.
 *
 * Design note
 * -----------
 * Construction.  mf_trained_model_open() checks the artifact
 * (mf_artifact_open), reads and checks its metadata (mf_model_meta_read)
 * and derives what scoring needs once: the MLP layout, the numeric values
 * of a classifier's labels.  The model either borrows the caller's bytes
 * (they must stay valid, unchanged and 8-byte aligned while the model
 * lives) or copies them into one aligned block from the allocator.  Every
 * allocation comes from the caller's MfArtAllocator; mf_trained_model_free
 * returns them when the allocator has a free function (with an arena
 * allocator, such as a PostgreSQL memory context, nothing needs freeing).
 *
 * Rows.  A row is one MfRawValue per schema column (in schema order, or by
 * name through mf_trained_model_encode_named): a number, a boolean, a text
 * or NULL.  Encoding follows training (src/features.c), and the SQL
 * functions encode with these rules: numeric and boolean columns take the
 * number (booleans 1/0; texts parsed with strtod, whole text only), NULL
 * takes the stored impute value; categorical columns are one-hot over the
 * training vocabulary by byte comparison, an unseen value gives zeros, NULL
 * takes the stored most frequent category (zeros when none was stored).
 * A number or boolean given to a categorical column is matched by its text
 * (the caller's own text when it passes one, else "%.17g" / "true" /
 * "false").  NaN and infinity are refused (MF_MODEL_NOT_FINITE), as is a
 * scaled value that overflows.  Scaling ((x - mean) / std) is applied by
 * the scorer, after encoding, exactly as training scaled.
 *
 * Scoring.  This is the one copy of the scoring arithmetic: every form of
 * mf_predict / mf_predict_label / mf_predict_proba calls the row scorer
 * (two running sums for linear models, the kernels' logistic and k-means
 * rows, an MLP row of dense layers four outputs at a time and no BLAS,
 * softmax for classifiers), and mf_predict_batch, mf_evaluate, promotion
 * and training's stored metrics the batch scorer (the kernels' blocked
 * BLAS paths, equal to the rows to rounding).  Scoring a row allocates
 * nothing: per-call buffers live in an MfModelWork, one per thread; the
 * model itself is read-only after construction.
 *
 * Errors.  Functions return an MfModelStatus; an MfModelError (may be NULL)
 * says where: the metadata member of a refused artifact, or the column and
 * expanded feature of a refused value, with a lowercase detail.
 */
#ifndef MF_MODEL_H
#define MF_MODEL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "artifact.h"
#include "mf_kernels.h"
#include "model_meta.h"

/* Outcome of the model functions. */
typedef enum MfModelStatus
{
	MF_MODEL_OK = 0,
	MF_MODEL_BAD_ARTIFACT,		/* the bytes are not a valid artifact */
	MF_MODEL_INVALID,			/* metadata and tensors disagree */
	MF_MODEL_UNSUPPORTED,		/* a family or format this build cannot use */
	MF_MODEL_NOMEM,				/* the allocator returned NULL */
	MF_MODEL_NOT_FINITE,		/* NaN or infinity in a feature */
	MF_MODEL_BAD_VALUE,			/* a value that cannot feed its column */
	MF_MODEL_MISSING,			/* a schema column absent from a named row */
	MF_MODEL_NOT_CLASSIFIER,	/* probabilities or labels of a non-classifier */
	MF_MODEL_BAD_ARG			/* wrong sizes or NULL pointers */
} MfModelStatus;

/* Where a call failed. */
typedef struct MfModelError
{
	MfModelStatus status;
	int			column;			/* schema column, or -1 */
	long		feature;		/* expanded feature, or -1 */
	double		value;			/* the refused number (NOT_FINITE) */
	char		member[96];		/* refused metadata member ("" = none) */
	char		detail[320];	/* lowercase, no final period */
} MfModelError;

/* A loaded model (read-only once opened). */
typedef struct MfTrainedModel
{
	MfArtAllocator alloc;
	void	   *owned;			/* the copy of the bytes, or NULL (borrowed) */
	MfArtifactView view;
	MfModelMeta meta;			/* schema, labels, shapes, tensors */
	MfMlp		mlp;			/* family mlp: the network over meta.params */
	bool		labels_numeric; /* classifier: mf_predict returns the label */
	double	   *label_values;	/* n_labels: the labels read as numbers */
	size_t		scratch_len;	/* doubles of MLP scratch per row */
} MfTrainedModel;

/* Per-caller buffers for scoring one row (not shared between threads). */
typedef struct MfModelWork
{
	double	   *xraw;			/* p: an encoded row before scaling */
	double	   *z;				/* p: the scaled row */
	double	   *out;			/* n_out: probabilities or outputs */
	double	   *scratch;		/* MLP hidden layers */
} MfModelWork;

/* Kind of one raw input value. */
typedef enum MfRawKind
{
	MF_RAW_NULL = 0,
	MF_RAW_NUMBER,
	MF_RAW_BOOL,
	MF_RAW_TEXT
} MfRawKind;

/*
 * One raw value.  text/len: the bytes of a MF_RAW_TEXT (not necessarily
 * NUL-terminated), or, for a number or boolean, its text as the caller's
 * format writes it (NULL: "%.17g" / "true" / "false"), used only by a
 * categorical column.
 */
typedef struct MfRawValue
{
	MfRawKind	kind;
	double		num;			/* MF_RAW_NUMBER */
	bool		b;				/* MF_RAW_BOOL */
	const char *text;
	size_t		len;
} MfRawValue;

/* A raw value with the name of its column. */
typedef struct MfNamedValue
{
	const char *name;
	MfRawValue	value;
} MfNamedValue;

/* The score of one row. */
typedef struct MfModelScore
{
	double		value;			/* mf_predict: value, class value or cluster */
	int			index;			/* class or cluster index; -1 for regression */
	const char *label;			/* classifiers: the label text, else NULL */
	const double *proba;		/* classifiers: n_labels, in the work; else NULL */
} MfModelScore;

/* ------------------------------------------------------------ lifetime */

/*
 * Open a model from artifact bytes: borrowed (copy false: bytes 8-byte
 * aligned, kept unchanged while the model lives) or copied.
 */
extern MfModelStatus mf_trained_model_open(MfTrainedModel *m, const void *bytes,
										   size_t len, bool copy,
										   const MfArtAllocator *alloc,
										   MfModelError *err);
/* Build a model around metadata already read from an open artifact view. */
extern MfModelStatus mf_trained_model_from_meta(MfTrainedModel *m,
												const MfModelMeta *mm,
												const MfArtAllocator *alloc,
												MfModelError *err);
/* Return what the model allocated (when the allocator can free). */
extern void mf_trained_model_free(MfTrainedModel *m);

/* Allocate the scoring buffers of one caller. */
extern MfModelStatus mf_model_work_init(const MfTrainedModel *m, MfModelWork *w,
										const MfArtAllocator *alloc);
/* Return the buffers of mf_model_work_init. */
extern void mf_model_work_free(MfModelWork *w, const MfArtAllocator *alloc);

/* ------------------------------------------------------------ encoding */

/* Schema column of a name, or -1. */
extern int	mf_trained_model_column(const MfTrainedModel *m, const char *name);
/* Encode the raw value of schema column i into xraw (its features only). */
extern MfModelStatus mf_trained_model_encode_value(const MfTrainedModel *m, int i,
												   const MfRawValue *v, double *xraw,
												   MfModelError *err);
/* Encode one row (ncols values in schema order) into xraw[p], unscaled. */
extern MfModelStatus mf_trained_model_encode(const MfTrainedModel *m,
											 const MfRawValue *row, double *xraw,
											 MfModelError *err);
/* Encode one row of n named values (any order, extra names ignored). */
extern MfModelStatus mf_trained_model_encode_named(const MfTrainedModel *m,
												   const MfNamedValue *vals,
												   size_t n, double *xraw,
												   MfModelError *err);
/* Bytes for the JSON text of a number or boolean. */
#define MF_MODEL_JSON_TEXT 64

struct json_t;
/*
 * A JSON value as a raw value (numbers and booleans keep their JSON text,
 * written into buf, for categorical columns); BAD_VALUE for an object or
 * an array.
 */
extern MfModelStatus mf_model_raw_from_json(const struct json_t *v, MfRawValue *out,
											char *buf, size_t buflen);
/*
 * Encode one JSON object of named raw values as mf_predict(ref, jsonb)
 * reads it: every schema column present (null imputes), extra members
 * ignored; MISSING, BAD_VALUE (detail says what the column takes) or
 * NOT_FINITE name the column.
 */
extern MfModelStatus mf_trained_model_encode_json(const MfTrainedModel *m,
												  const struct json_t *obj, double *xraw,
												  MfModelError *err);
/* Encode n rows (n x ncols values) into X (n x p), unscaled. */
extern MfModelStatus mf_trained_model_encode_rows(const MfTrainedModel *m,
												  const MfRawValue *rows,
												  size_t n, double *X,
												  MfModelError *err);
/*
 * Set one numeric or boolean column of xraw to v, or to the stored impute
 * value when isnull; false, setting nothing, when v is NaN or infinite.
 * Inline: the SQL record forms call it for every column of every row.
 */
static inline bool
mf_model_set_number(const MfMetaColumn *col, double *xraw, double v, bool isnull)
{
	if (isnull)
		v = col->impute_num;
	else if (!isfinite(v))
		return false;
	xraw[col->offset] = v;
	return true;
}
/* One-hot one categorical column of xraw (NULL: imputed; unseen: zeros). */
extern void mf_model_set_category(const MfMetaColumn *col, double *xraw,
								  const char *s, size_t len, bool isnull);

/* ------------------------------------------------------------ scoring */

/*
 * Scale an encoded row into w->z as training did (refusing non-finite
 * results); returns the row the scorer reads (xraw itself without
 * standardisation), NULL on error.
 */
extern const double *mf_trained_model_scale(const MfTrainedModel *m,
											const double *xraw, MfModelWork *w,
											MfModelError *err);
/* Score one scaled row (from mf_trained_model_scale); cannot fail. */
extern void mf_trained_model_score_scaled(const MfTrainedModel *m,
										  const double *z, MfModelWork *w,
										  MfModelScore *out);
/* Scale and score one encoded row. */
extern MfModelStatus mf_trained_model_score(const MfTrainedModel *m,
											const double *xraw, MfModelWork *w,
											MfModelScore *out, MfModelError *err);
/* Encode, scale and score one row of raw values in schema order. */
extern MfModelStatus mf_trained_model_predict(const MfTrainedModel *m,
											  const MfRawValue *row,
											  MfModelWork *w, MfModelScore *out,
											  MfModelError *err);
/*
 * Score n encoded rows (n x p, unscaled) one by one, as the per-row path:
 * values[n], indexes[n] (may be NULL), proba n x n_labels (classifiers; may
 * be NULL).
 */
extern MfModelStatus mf_trained_model_score_rows(const MfTrainedModel *m,
												 const double *X, size_t n,
												 MfModelWork *w, double *values,
												 int *indexes, double *proba,
												 MfModelError *err);
/*
 * Score n encoded rows (n x p, unscaled) with the kernels' BLAS paths, as
 * mf_predict_batch: values[n]; proba n x n_out (classifiers, may be NULL).
 * Workspace from env->alloc; cancellable through env->progress.
 */
extern MfModelStatus mf_trained_model_score_batch(const MfTrainedModel *m,
												  const MfEnv *env,
												  const double *X, size_t n,
												  double *values, double *proba,
												  MfModelError *err);

/*
 * Score n rows already scaled (n x p, from mf_trained_model_scale or
 * training's encoder) with the same batch kernels: values[n], indexes[n]
 * (class or cluster, -1 for regression) and proba n x n_out (classifiers);
 * each may be NULL.
 */
extern MfModelStatus mf_trained_model_score_batch_scaled(const MfTrainedModel *m,
														 const MfEnv *env,
														 const double *Z, size_t n,
														 double *values, int *indexes,
														 double *proba,
														 MfModelError *err);

/* ------------------------------------------------------------ description */

/* What the model returns. */
typedef enum MfModelOutputKind
{
	MF_OUT_VALUE = 0,			/* regression: one number */
	MF_OUT_CLASS,				/* classification: a label and probabilities */
	MF_OUT_CLUSTER				/* clustering: a cluster number 0..k-1 */
} MfModelOutputKind;

/* One input column as a caller sees it. */
typedef struct MfModelInput
{
	const char *name;
	MfColKind	kind;
	int			offset;			/* first expanded feature */
	int			width;			/* expanded features (1, or the categories) */
	int			n_categories;
	char	  **categories;		/* categorical: the vocabulary */
	bool		has_impute;		/* a NULL is imputed (always but categorical) */
	double		impute_number;
	const char *impute_category;
} MfModelInput;

/* The model's inputs and outputs (pointers into the model). */
typedef struct MfModelIO
{
	const char *family;			/* "linear_regression", ... */
	const char *task;			/* "regression", "classification", "clustering" */
	int			n_inputs;
	MfModelInput *inputs;		/* n_inputs, from the allocator */
	size_t		n_features;
	char	  **feature_names;
	bool		standardize;
	MfModelOutputKind output;
	int			n_outputs;		/* probabilities per row, or 1 */
	int			n_labels;
	char	  **labels;
	bool		labels_numeric;
	int			n_clusters;
} MfModelIO;

/* Describe the model (inputs from the allocator; free with alloc->free). */
extern MfModelStatus mf_trained_model_describe(const MfTrainedModel *m,
											   const MfArtAllocator *alloc,
											   MfModelIO *io);
/* The description as a new JSON object (NULL when out of memory). */
extern struct json_t *mf_trained_model_describe_json(const MfTrainedModel *m);

/* Lowercase message of a status. */
extern const char *mf_model_strerror(MfModelStatus s);

#endif							/* MF_MODEL_H */
