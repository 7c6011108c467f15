/*
 * train.h - shared declarations of in-database training (source.c,
 * features.c, train_fit.c, train.c).
 *
 * Design note
 * -----------
 * A training run streams its source through SPI into a DestReceiver that
 * appends every row to an MfDataset (numeric and boolean values as one
 * row-major matrix, category texts per column, in a dedicated memory
 * context; nothing accumulates in SPI memory), splits the rows, learns the
 * encoding from the training rows (imputation values, category
 * vocabularies, z-score statistics), then encodes the test rows into a
 * matrix and the training rows into another (scaled on the way) and hands
 * them to the numeric kernels.  When every feature is a number without
 * NULLs, the rows read already are the feature rows: the training matrix
 * is made in place, by moving (and scaling) the training rows to the front.  The learned encoding
 * (the "feature schema") is JSON: it goes to model_versions.feature_schema
 * and into the artifact metadata, from which mf_evaluate() rebuilds it.
 *
 * The arguments of a run (family, target, run options, hyperparameters) are
 * checked and read once, by train_args.c, into an MfTrainArgs: the
 * hyperparameters as the typed structs of config/mf_config.h, whose
 * defaults and ranges are the config library's.  train_fit.c maps them onto
 * the kernels' options (kernels/mf_kernels.h); no default is read twice.
 */
#ifndef MF_TRAIN_H
#define MF_TRAIN_H

#include "postgres.h"

#include <jansson.h>

#include "fmgr.h"

#include "job_state.h"

#include "mf_config.h"			/* typed configs (pure C) */
#include "model_meta.h"			/* MfColKind, MfModelMeta (pure C) */
#include "transformer_spec.h"	/* MfTfSpec (pure C, no kernels) */


/* One input column: raw values, then its learned encoding. */
typedef struct MfColumn
{
	char	   *name;
	const char *named_by;		/* what named it, for a missing column's error
								 * (NULL: the model's feature schema) */
	char	   *type_name;
	MfColKind	kind;
	int			attno;			/* 1-based, in the source's tuple descriptor */
	Oid			typid;
	FmgrInfo	outfn;			/* text output (categorical columns) */
	int			num_pos;		/* numeric/boolean: index in a row of ds->num; else -1 */
	char	  **str;			/* categorical values [n] */
	bool	   *isnull;			/* [n]; NULL while the column has no NULL */
	double		impute_num;
	char	   *impute_str;		/* NULL: no value seen */
	int			n_cats;
	char	  **cats;			/* sorted vocabulary */
	int		   *code;			/* [n] category index per row, -1: none */
	int			offset;			/* first expanded feature */
	int			width;			/* expanded features */
} MfColumn;

/* Value of numeric/boolean column c in row r (0 where NULL). */
#define MfNum(ds, c, r) ((ds)->num[(size_t) (r) * (ds)->nnum + (c)->num_pos])

/* Row r of column c is NULL. */
#define MfColIsNull(c, r) ((c)->isnull != NULL && (c)->isnull[r])

/* A data set read from a source, and its encoding. */
typedef struct MfDataset
{
	int			ncols;
	MfColumn   *cols;
	size_t		n;
	size_t		cap;
	size_t		nnum;			/* numeric and boolean columns */
	double	   *num;			/* their values, n x nnum row-major (NULL: 0) */
	/* target */
	char	   *target;			/* NULL: none (kmeans) */
	int			target_attno;
	Oid			target_typid;
	bool		target_numeric;
	bool		classify;		/* target read as labels */
	double	   *y_num;			/* [n] (regression, or label sort key) */
	char	  **y_str;			/* [n] (classification, unless target_by_value) */
	bool		target_by_value;	/* label text is a function of y_num */
	FmgrInfo	target_outfn;	/* text output of the target */
	int		   *y_class;		/* [n] label index */
	int			n_labels;
	char	  **labels;
	/* encoded matrix */
	size_t		p;
	double	   *X;				/* n x p row-major */
	char	  **feature_names;
	bool		standardize;
	double	   *center;			/* [p] (NULL when not standardised) */
	double	   *scale;			/* [p] */
	/* who wrote the source: it runs with exactly this role's rights */
	Oid			author;
	const char *author_path;	/* the search_path its names mean */
	bool		refuse_temp;	/* refuse temporary tables (read later elsewhere) */
	json_t	   *test_rows;		/* raw features of the first test rows (mf.test_rows), or NULL */
} MfDataset;

/* Test rows a version keeps (mf.test_rows): what images and smoke tests send. */
#define MF_TEST_ROWS_KEPT 100

/* Encoding options of a run. */
typedef struct MfEncodeOpts
{
	int			max_categories;
	bool		impute_zero;	/* numeric NULL -> 0 instead of the mean */
	bool		standardize;
} MfEncodeOpts;

/* Rows between interrupt checks, and distinct label values cached at most. */
#define MF_CHECK_ROWS 16384
#define MF_LABEL_CACHE_MAX 4096

/* Hash of a 64-bit pattern (splitmix64 finaliser). */
static inline uint64
MfMix64(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/* source.c */
extern void MfReadSource(MfDataset *ds, const char *source, const char *target,
						 json_t *features, int64 max_rows, bool classify,
						 bool from_schema);
extern MfDataset *MfNewDataset(FunctionCallInfo fcinfo, int author_arg);
extern char *MfSourceFromItem(const char *source);
extern char *MfValueLabel(const MfDataset *ds, double v);
extern void MfTargetTexts(MfDataset *ds);
extern void MfPhaseStart(void);
extern void MfPhaseEnd(const char *phase);

/* features.c */
extern void MfMapLabels(MfDataset *ds);
extern double *MfFitEncodeRows(MfDataset *ds, const size_t *train, size_t n_train,
							   const size_t *test, size_t n_test,
							   const MfEncodeOpts *opts, double **X_test);
extern void MfEncode(MfDataset *ds);
extern double *MfEncodeRows(const MfDataset *ds, const size_t *idx, size_t n);
extern json_t *MfSchemaToJson(const MfDataset *ds, const char *task);
extern json_t *MfRawRowsJson(const MfDataset *ds, const size_t *idx, size_t n);
extern void MfSchemaFromMeta(MfDataset *ds, const MfModelMeta *mm);
extern void MfLabelsFromSchema(MfDataset *ds);
extern void MfEncodeWithSchema(MfDataset *ds, const MfModelMeta *mm);

/* Where a held-out split is evaluated (mf._evaluate_on_split). */
typedef struct MfEvalSplit
{
	double		test_size;
	uint64		seed;
	int			stratify;		/* 1, 0, or -1 for the default (classifiers) */
} MfEvalSplit;

/*
 * The arguments of a training run, checked (train_args.c): the family, the
 * target, the run options with their defaults and the family's
 * hyperparameters from the normalised config.
 */
typedef struct MfTrainArgs
{
	MfFamily	family;
	const char *family_name;
	bool		classify;		/* the target is read as labels */
	const char *target;			/* NULL: none (kmeans) */
	json_t	   *features;		/* column names, or NULL: every column but the target */
	int64		max_rows;		/* 0: every row */
	MfEvalSplit split;			/* stratify resolved to 0 or 1 */
	MfEncodeOpts encode;
	union
	{
		MfLinearConfig linear;
		MfLogisticConfig logistic;
		struct
		{
			MfMlpConfig net;
			MfTrainingConfig training;
		}			mlp;
		MfKmeansConfig kmeans;
		struct
		{
			MfTfSpec	spec;
			MfTrainingConfig training;
			int			tokenizer;	/* MfTokenizerKind */
			const char *text_column;	/* NULL: the source's one text column */
			const char *source_column;	/* encoder_decoder */
			const char *target_column;
		}			tf;
	}			cfg;
} MfTrainArgs;

/* train_args.c */
extern void MfReadTrainArgs(MfTrainArgs *a, const char *family, json_t *config,
							const char *target, json_t *options);
extern void MfReadSplitOptions(json_t *options, MfEvalSplit *split);
extern void MfCheckTarget(const char *family, const char *target);
extern const char *MfTrainTask(const MfTrainArgs *a);

/*
 * Progress of a run for a background job (src/job_worker.c): phase is
 * MF_PHASE_TRAINING, _EVALUATING or _REGISTERING; epoch > 0 when an epoch ended.
 * NULL outside job workers.
 */
typedef void (*MfTrainProgressHookType) (MfJobPhase phase, int64 epoch, int64 total,
										 double loss, double fraction);
extern MfTrainProgressHookType MfTrainProgressHook;

/* train_fit.c */
extern void MfTrainPhase(MfJobPhase phase);
extern void MfSplit(const MfDataset *ds, double test_size, uint64 seed, bool stratify,
					size_t **train, size_t *n_train, size_t **test, size_t *n_test);
extern json_t *MfTrainFamily(MfDataset *ds, const MfTrainArgs *args, bytea **artifact,
							 json_t **config_updates);
extern json_t *MfArtifactTensorsJson(const void *buf, size_t len);
extern int	MfLrScheduleKernelCode(MfLrScheduleKind k);
extern void MfKernelError(int err, const char *what);
extern void MfArtifactRequire(bool ok, const char *what);
#ifdef MF_KERNELS_H
extern MfEnv MfMakeEnv(void);	/* only where mf_kernels.h is included */
extern void MfOptimFromTraining(MfOptimConfig *o, const MfTrainingConfig *t);
#endif

/* text_model.c: an MfTokenizerKind by name ("unigram", "bpe", "char"), -1 when none */
extern int	MfTokenizerKindFromName(const char *name);

/* train_transformer.c */
extern json_t *MfTrainTransformer(MfDataset *ds, const MfTrainArgs *args, bytea **artifact,
								  json_t **config_updates, json_t **schema);

/* evaluate.c (the metrics themselves: evaluate.h) */
extern json_t *MfEvaluateArtifactSplit(MfDataset *ds, const void *buf, size_t len,
									   const char *source, const char *target,
									   const MfEvalSplit *split);
extern json_t *MfEvaluateArtifact(MfDataset *ds, const void *buf, size_t len,
								  const char *source, const char *target);

/* drift.c: the reference distributions of the rows read (before encoding) */
extern json_t *MfReferenceDistributions(const MfDataset *ds);

#endif							/* MF_TRAIN_H */
