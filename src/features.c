/*
 * features.c - labels and the encoding of the columns read by source.c.
 *
 * Numeric and boolean columns are used as they are; any other type is read
 * as text and one-hot encoded with a sorted vocabulary learned from the
 * training rows (at most max_categories values, the most frequent ones;
 * unseen values encode as all zeros).  NULLs are imputed (mean or zero for
 * numbers, most frequent value for categories).  Standardisation (z-score,
 * statistics of the training rows) is optional.  A stored schema comes
 * checked from model/model_meta.c before evaluation uses it.
 */
#include "postgres.h"

#include "mf_core.h"

#include <ctype.h>
#include <math.h>
#include <sys/mman.h>

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "tcop/dest.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/varlena.h"

#include "mf_config.h"
#include "moments.h"
#include "privileges.h"
#include "train.h"

#define MF_ENCODE_BLOCK 512

static const MfDataset *sort_ds;

/* Order labels: numerically for numeric targets, else by bytes. */
static int
MfLabelCmp(const void *a, const void *b)
{
	size_t		i = *(const size_t *) a;
	size_t		j = *(const size_t *) b;

	if (sort_ds->target_numeric)
	{
		if (sort_ds->y_num[i] != sort_ds->y_num[j])
			return sort_ds->y_num[i] < sort_ds->y_num[j] ? -1 : 1;
		return 0;
	}
	return strcmp(sort_ds->y_str[i], sort_ds->y_str[j]);
}

/* Ascending doubles. */
static int
MfDoubleCmp(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/*
 * Distinct values of a target read by value (-0 counted as 0), by hashing:
 * vals[0..k) in order of appearance and row_distinct[r] the index of row
 * r's value.  Returns k, or -1 beyond MF_LABEL_CACHE_MAX values.
 */
static int
MfDistinctTargets(const MfDataset *ds, int *row_distinct, double *vals)
{
	int			cap = 2 * MF_LABEL_CACHE_MAX,
				k = 0;
	uint64	   *keys = palloc(sizeof(uint64) * cap);
	int		   *slot_of = palloc(sizeof(int) * cap);	/* slot -> distinct, -1 empty */

	for (int i = 0; i < cap; i++)
		slot_of[i] = -1;
	for (size_t r = 0; r < ds->n; r++)
	{
		double		v = ds->y_num[r] == 0.0 ? 0.0 : ds->y_num[r];
		uint64		key;
		uint64		slot;

		memcpy(&key, &v, sizeof(key));
		for (slot = MfMix64(key) & (cap - 1);; slot = (slot + 1) & (cap - 1))
			if (slot_of[slot] < 0 || keys[slot] == key)
				break;
		if (slot_of[slot] < 0)
		{
			if (k == MF_LABEL_CACHE_MAX)
				return -1;
			keys[slot] = key;
			slot_of[slot] = k;
			vals[k++] = v;
		}
		row_distinct[r] = slot_of[slot];
	}
	pfree(keys);
	pfree(slot_of);
	return k;
}

/*
 * Labels of a target read by value without sorting the rows: the distinct
 * values, then a sort of those.  False (nothing done) when there are more
 * than MF_LABEL_CACHE_MAX distinct values.
 */
static bool
MfMapNumericLabels(MfDataset *ds)
{
	double	   *vals = palloc(sizeof(double) * MF_LABEL_CACHE_MAX);
	int		   *rank = palloc(sizeof(int) * MF_LABEL_CACHE_MAX);
	double	   *sorted = palloc(sizeof(double) * MF_LABEL_CACHE_MAX);
	int		   *row_distinct = MfHugeAlloc(mul_size(Max(ds->n, 1), sizeof(int)));
	int			k = MfDistinctTargets(ds, row_distinct, vals);

	if (k < 0)
		return false;
	memcpy(sorted, vals, sizeof(double) * k);
	qsort(sorted, k, sizeof(double), MfDoubleCmp);
	ds->labels = palloc(sizeof(char *) * Max(k, 1));
	for (int d = 0; d < k; d++)
	{
		double	   *hit = bsearch(&vals[d], sorted, k, sizeof(double), MfDoubleCmp);

		rank[d] = (int) (hit - sorted);
		ds->labels[rank[d]] = MfValueLabel(ds, vals[d]);
	}
	ds->y_class = MfHugeAlloc(mul_size(Max(ds->n, 1), sizeof(int)));
	for (size_t r = 0; r < ds->n; r++)
		ds->y_class[r] = rank[row_distinct[r]];
	ds->n_labels = k;
	return true;
}

/* Map the text labels of ds to 0..K-1 in sorted order. */
void
MfMapLabels(MfDataset *ds)
{
	size_t	   *idx;
	size_t		k = 0;

	if (ds->target_by_value && MfMapNumericLabels(ds))
		return;
	MfTargetTexts(ds);
	idx = MfHugeAlloc(ds->n * sizeof(size_t));

	for (size_t i = 0; i < ds->n; i++)
		idx[i] = i;
	sort_ds = ds;
	qsort(idx, ds->n, sizeof(size_t), MfLabelCmp);
	ds->labels = MfHugeAlloc(sizeof(char *) * ds->n);
	ds->y_class = MfHugeAlloc(ds->n * sizeof(int));
	for (size_t i = 0; i < ds->n; i++)
	{
		if (i == 0 || MfLabelCmp(&idx[i - 1], &idx[i]) != 0)
			ds->labels[k++] = ds->y_str[idx[i]];
		ds->y_class[idx[i]] = (int) k - 1;
	}
	ds->n_labels = (int) k;
	pfree(idx);
}

/* Index of label text t among the model's labels; row r is named if unknown. */
static int
MfKnownLabel(const MfDataset *ds, const char *t, size_t r)
{
	for (int j = 0; j < ds->n_labels; j++)
		if (strcmp(ds->labels[j], t) == 0)
			return j;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("target value \"%s\" is not a label the model knows", t),
			 errdetail("Row %zu of the evaluation source.", r + 1)));
	return -1;
}

/*
 * Map labels with the stored label list (evaluation); unknown is an error.
 * A target read by value is matched once per distinct value.
 */
void
MfLabelsFromSchema(MfDataset *ds)
{
	int			k = -1;
	int		   *row_distinct = NULL;
	double	   *vals = NULL;

	ds->y_class = MfHugeAlloc(Max(ds->n, 1) * sizeof(int));
	if (ds->target_by_value)
	{
		row_distinct = MfHugeAlloc(Max(ds->n, 1) * sizeof(int));
		vals = palloc(sizeof(double) * MF_LABEL_CACHE_MAX);
		k = MfDistinctTargets(ds, row_distinct, vals);
	}
	if (k >= 0)
	{
		int		   *cls = palloc(sizeof(int) * Max(k, 1));

		for (int d = 0; d < k; d++)
			cls[d] = -1;
		for (size_t r = 0; r < ds->n; r++)
		{
			int			d = row_distinct[r];

			if (cls[d] < 0)
				cls[d] = MfKnownLabel(ds, MfValueLabel(ds, vals[d]), r);
			ds->y_class[r] = cls[d];
		}
		return;
	}
	MfTargetTexts(ds);
	for (size_t r = 0; r < ds->n; r++)
		ds->y_class[r] = MfKnownLabel(ds, ds->y_str[r], r);
}

typedef struct MfCount
{
	char	   *value;
	int64		count;
} MfCount;

/* Most frequent first, then by value. */
static int
MfCountCmp(const void *a, const void *b)
{
	const MfCount *x = a;
	const MfCount *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->value, y->value);
}

/* Byte order of strings. */
static int
MfStrCmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Vocabulary and imputation value of a categorical column. */
static void
MfFitCategories(MfColumn *c, const size_t *idx, size_t n, int max_categories)
{
	char	  **vals = MfHugeAlloc(n * sizeof(char *));
	size_t		nv = 0;
	MfCount    *counts;
	int			nc = 0;

	for (size_t i = 0; i < n; i++)
		if (!MfColIsNull(c, idx[i]))
			vals[nv++] = c->str[idx[i]];
	qsort(vals, nv, sizeof(char *), MfStrCmp);
	counts = MfHugeAlloc((nv + 1) * sizeof(MfCount));
	for (size_t i = 0; i < nv; i++)
	{
		if (i == 0 || strcmp(vals[i - 1], vals[i]) != 0)
		{
			counts[nc].value = vals[i];
			counts[nc].count = 0;
			nc++;
		}
		counts[nc - 1].count++;
	}
	qsort(counts, nc, sizeof(MfCount), MfCountCmp);
	c->impute_str = nc > 0 ? pstrdup(counts[0].value) : NULL;
	c->n_cats = Min(nc, max_categories);
	c->cats = palloc(sizeof(char *) * Max(c->n_cats, 1));
	for (int i = 0; i < c->n_cats; i++)
		c->cats[i] = pstrdup(counts[i].value);
	qsort(c->cats, c->n_cats, sizeof(char *), MfStrCmp);
	pfree(vals);
	pfree(counts);
}

/* Set every column's width and offset, and the feature names. */
static void
MfLayoutFeatures(MfDataset *ds)
{
	int			off = 0;

	for (int i = 0; i < ds->ncols; i++)
	{
		MfColumn   *c = &ds->cols[i];

		c->offset = off;
		c->width = c->kind == MF_COL_CATEGORICAL ? c->n_cats : 1;
		off += c->width;
	}
	ds->p = off;
	ds->feature_names = palloc(sizeof(char *) * Max(off, 1));
	for (int i = 0; i < ds->ncols; i++)
	{
		MfColumn   *c = &ds->cols[i];

		if (c->kind != MF_COL_CATEGORICAL)
			ds->feature_names[c->offset] = c->name;
		else
			for (int j = 0; j < c->n_cats; j++)
				ds->feature_names[c->offset + j] = psprintf("%s=%s", c->name, c->cats[j]);
	}
}

/* Category index of every row of every categorical column (-1: none). */
static void
MfCategoryCodes(MfDataset *ds)
{
	for (int i = 0; i < ds->ncols; i++)
	{
		MfColumn   *c = &ds->cols[i];

		if (c->kind != MF_COL_CATEGORICAL || c->code != NULL)
			continue;
		c->code = MfHugeAlloc(mul_size(Max(ds->n, 1), sizeof(int)));
		for (size_t r = 0; r < ds->n; r++)
		{
			const char *v = MfColIsNull(c, r) ? c->impute_str : c->str[r];
			char	  **hit = NULL;

			if (v != NULL && c->n_cats > 0)
				hit = bsearch(&v, c->cats, c->n_cats, sizeof(char *), MfStrCmp);
			c->code[r] = hit != NULL ? (int) (hit - c->cats) : -1;
		}
	}
}

/*
 * True when a row of ds->num is the row of features: every column numeric
 * or boolean (so a column's feature offset is its num_pos) and no NULL.
 */
static bool
MfRowsAreFeatures(const MfDataset *ds)
{
	if (ds->num == NULL || ds->nnum != (size_t) ds->ncols)
		return false;
	for (int i = 0; i < ds->ncols; i++)
		if (ds->cols[i].isnull != NULL)
			return false;
	return true;
}

/*
 * Row k of the n x p matrix dst becomes row idx[k] of src (NULL: row k),
 * scaled as MfEncodeRows scales when center is given.  dst may be src when
 * idx ascends (k <= idx[k]: moving forward never overwrites a row still to
 * move).
 */
static void
MfMoveRows(double *dst0, const double *src0, size_t p, const size_t *idx, size_t n,
		   const double *center, const double *scale)
{
	for (size_t k = 0; k < n; k++)
	{
		const double *src = src0 + (idx ? idx[k] : k) * p;
		double	   *dst = dst0 + k * p;

		if (center != NULL)
			for (size_t j = 0; j < p; j++)
				dst[j] = (src[j] - center[j]) / scale[j];
		else if (src != dst)
			memmove(dst, src, p * sizeof(double));
		if ((k & (MF_CHECK_ROWS - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Learn imputation values, vocabularies and scaling from the training rows
 * train[0..n_train) and return those rows encoded (n_train x p, row-major);
 * *X_test gets the rows test[0..n_test) encoded the same way.  The mean
 * imputation value of a numeric column without NULLs and the z-score
 * statistics come from one blocked pass over the training rows
 * (mf_row_moments).  When the rows read are the feature rows
 * (MfRowsAreFeatures), the statistics are taken from them directly, the
 * test rows are copied out, and the training rows are moved (and scaled)
 * to the front of ds->num, which becomes the training matrix: ds->num is
 * then gone.  Otherwise the training rows are encoded into a new matrix
 * first and scaled in place.
 */
double *
MfFitEncodeRows(MfDataset *ds, const size_t *train, size_t n_train,
				const size_t *test, size_t n_test, const MfEncodeOpts *opts,
				double **X_test)
{
	bool		in_place = MfRowsAreFeatures(ds);
	double	   *X,
			   *mean,
			   *m2;
	size_t		p;

	for (int i = 0; i < ds->ncols; i++)
	{
		MfColumn   *c = &ds->cols[i];

		if (c->kind == MF_COL_CATEGORICAL)
			MfFitCategories(c, train, n_train, opts->max_categories);
		else if (c->isnull != NULL)
		{
			double		sum1 = 0.0;
			size_t		cnt = 0;

			for (size_t r = 0; r < n_train; r++)
				if (!MfColIsNull(c, train[r]))
				{
					sum1 += MfNum(ds, c, train[r]);
					cnt++;
				}
			c->impute_num = (opts->impute_zero || cnt == 0) ? 0.0 : sum1 / cnt;
		}
	}
	MfLayoutFeatures(ds);
	if (ds->p == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the features encode to zero columns"),
				 errdetail("Every categorical feature has only NULLs in the training rows.")));
	MfCategoryCodes(ds);
	ds->standardize = opts->standardize;
	ds->center = NULL;
	p = ds->p;
	X = in_place ? ds->num : MfEncodeRows(ds, train, n_train);	/* unscaled */

	mean = palloc(sizeof(double) * p);
	m2 = palloc(sizeof(double) * p);
	if (mf_row_moments(X, p, in_place ? train : NULL, n_train, mean, m2,
					   palloc(sizeof(double) * 2 * p)) != 0)
		elog(ERROR, "could not compute the column moments");
	for (int i = 0; i < ds->ncols; i++)
	{
		MfColumn   *c = &ds->cols[i];

		if (c->kind != MF_COL_CATEGORICAL && c->isnull == NULL)
			c->impute_num = opts->impute_zero ? 0.0 : mean[c->offset];
	}
	if (opts->standardize)
	{
		ds->center = mean;
		ds->scale = palloc(sizeof(double) * p);
		for (size_t j = 0; j < p; j++)
		{
			ds->scale[j] = sqrt(m2[j] / n_train);
			if (!(ds->scale[j] > 1e-12))
				ds->scale[j] = 1.0;
		}
	}
	if (!in_place)
	{
		*X_test = MfEncodeRows(ds, test, n_test);
		MfMoveRows(X, X, p, NULL, n_train, ds->center, ds->scale);
		return X;
	}
	/* the test rows first: the training rows then move over them */
	*X_test = MfHugeAlloc(mul_size(mul_size(n_test, p), sizeof(double)));
	MfMoveRows(*X_test, X, p, test, n_test, ds->center, ds->scale);
	MfMoveRows(X, X, p, train, n_train, ds->center, ds->scale);
	ds->num = NULL;
	return X;
}

/*
 * Encode rows idx[0..n) (every row when idx is NULL) into a new n x p
 * row-major matrix, scaled with ds->center/scale when standardising.
 */
double *
MfEncodeRows(const MfDataset *ds, const size_t *idx, size_t n)
{
	size_t		p = ds->p;
	double	   *X = MfHugeAlloc(mul_size(mul_size(n, p), sizeof(double)));
	bool		scale = ds->standardize && ds->center != NULL;

	if (n > 0 && ds->num == NULL && ds->nnum > 0)
		elog(ERROR, "the rows read were already consumed");
	/* blocks of rows, so the block being written stays in cache */
	for (size_t r0 = 0; r0 < n; r0 += MF_ENCODE_BLOCK)
	{
		size_t		r1 = Min(r0 + MF_ENCODE_BLOCK, n);

		for (int i = 0; i < ds->ncols; i++)
		{
			const MfColumn *c = &ds->cols[i];
			double	   *out = X + c->offset;

			if (c->kind != MF_COL_CATEGORICAL)
			{
				double		ctr = scale ? ds->center[c->offset] : 0.0;
				double		sc = scale ? ds->scale[c->offset] : 1.0;

				for (size_t r = r0; r < r1; r++)
				{
					size_t		src = idx ? idx[r] : r;
					double		v = MfColIsNull(c, src) ? c->impute_num : MfNum(ds, c, src);

					out[r * p] = scale ? (v - ctr) / sc : v;
				}
				continue;
			}
			for (size_t r = r0; r < r1; r++)
			{
				size_t		src = idx ? idx[r] : r;

				for (int k = 0; k < c->width; k++)
				{
					double		v = c->code[src] == k ? 1.0 : 0.0;

					out[r * p + k] = scale ?
						(v - ds->center[c->offset + k]) / ds->scale[c->offset + k] : v;
				}
			}
		}
	}
	return X;
}

/* Encode every row into ds->X with the learned encoding (and scaling). */
void
MfEncode(MfDataset *ds)
{
	MfCategoryCodes(ds);
	ds->X = MfEncodeRows(ds, NULL, ds->n);
}

/* A double array as JSON. */
static json_t *
MfDoublesJson(const double *v, size_t n)
{
	json_t	   *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

static const char *const kind_names[] = {"numeric", "boolean", "categorical"};

/*
 * Rows idx[0..n) as JSON objects of named raw features, the object
 * mf_predict(ref, jsonb) takes: numbers, booleans, category texts, null.
 * Read before encoding (which imputes and rearranges).
 */
json_t *
MfRawRowsJson(const MfDataset *ds, const size_t *idx, size_t n)
{
	json_t	   *rows = json_array();

	for (size_t i = 0; i < n; i++)
	{
		json_t	   *o = mf_json_object_new();
		size_t		r = idx[i];

		for (int j = 0; j < ds->ncols; j++)
		{
			const MfColumn *c = &ds->cols[j];
			json_t	   *v;

			if (MfColIsNull(c, r))
				v = json_null();
			else if (c->kind == MF_COL_CATEGORICAL)
				v = json_string(c->str[r]);
			else if (c->kind == MF_COL_BOOLEAN)
				v = json_boolean(MfNum(ds, c, r) != 0.0);
			else if (fabs(MfNum(ds, c, r)) < 9007199254740992.0 && MfNum(ds, c, r) == floor(MfNum(ds, c, r)))
				v = json_integer((json_int_t) MfNum(ds, c, r));	/* 5, not 5.0 */
			else
				v = json_real(MfNum(ds, c, r));
			json_object_set_new(o, c->name, v);
		}
		json_array_append_new(rows, o);
	}
	return rows;
}

/* The learned encoding as JSON (feature_schema and artifact metadata). */
json_t *
MfSchemaToJson(const MfDataset *ds, const char *task)
{
	json_t	   *s = mf_json_object_new();
	json_t	   *cols = json_array();
	json_t	   *names = json_array();

	for (int i = 0; i < ds->ncols; i++)
	{
		const MfColumn *c = &ds->cols[i];
		json_t	   *o = mf_json_object_new();

		json_object_set_new(o, "name", json_string(c->name));
		json_object_set_new(o, "type", json_string(c->type_name));
		json_object_set_new(o, "encoding", json_string(c->kind == MF_COL_CATEGORICAL ? "one_hot" : "value"));
		json_object_set_new(o, "kind", json_string(kind_names[c->kind]));
		if (c->kind == MF_COL_CATEGORICAL)
		{
			json_t	   *cats = json_array();

			for (int j = 0; j < c->n_cats; j++)
				json_array_append_new(cats, json_string(c->cats[j]));
			json_object_set_new(o, "categories", cats);
			json_object_set_new(o, "impute", c->impute_str ? json_string(c->impute_str) : json_null());
		}
		else
			json_object_set_new(o, "impute", json_real(c->impute_num));
		json_array_append_new(cols, o);
	}
	for (size_t j = 0; j < ds->p; j++)
		json_array_append_new(names, json_string(ds->feature_names[j]));
	json_object_set_new(s, "columns", cols);
	json_object_set_new(s, "features", names);
	json_object_set_new(s, "n_features", json_integer(ds->p));
	json_object_set_new(s, "standardize", json_boolean(ds->standardize));
	json_object_set_new(s, "means", ds->standardize ? MfDoublesJson(ds->center, ds->p) : json_null());
	json_object_set_new(s, "stds", ds->standardize ? MfDoublesJson(ds->scale, ds->p) : json_null());
	json_object_set_new(s, "task", json_string(task));
	json_object_set_new(s, "target", ds->target ? json_string(ds->target) : json_null());
	if (ds->target)
		json_object_set_new(s, "target_type", json_string(format_type_be(ds->target_typid)));
	if (ds->classify)
	{
		json_t	   *labels = json_array();

		for (int k = 0; k < ds->n_labels; k++)
			json_array_append_new(labels, json_string(ds->labels[k]));
		json_object_set_new(s, "labels", labels);
	}
	return s;
}

/*
 * Rebuild the encoding from a model's checked metadata (before reading the
 * source); model_meta.c has checked every member (XX001 otherwise).
 */
void
MfSchemaFromMeta(MfDataset *ds, const MfModelMeta *mm)
{
	ds->ncols = mm->ncols;
	ds->cols = palloc0(sizeof(MfColumn) * Max(ds->ncols, 1));
	for (int i = 0; i < ds->ncols; i++)
	{
		MfColumn   *c = &ds->cols[i];
		const MfMetaColumn *mc = &mm->cols[i];

		c->name = mc->name;
		c->kind = mc->kind;
		c->n_cats = mc->n_cats;
		c->cats = mc->cats;
		c->impute_num = mc->impute_num;
		c->impute_str = mc->impute_str;
	}
	ds->standardize = mm->standardize;
	ds->n_labels = mm->n_labels;
	ds->labels = mm->labels;
}

/* Encode rows read for evaluation with the model's stored schema. */
void
MfEncodeWithSchema(MfDataset *ds, const MfModelMeta *mm)
{
	MfLayoutFeatures(ds);
	/* MfInitColumn keeps every stored width, so this cannot differ */
	if (ds->p != mm->p)
		elog(ERROR, "the evaluation rows have %zu features, the model %zu", ds->p, mm->p);
	ds->center = mm->means;
	ds->scale = mm->stds;
	MfEncode(ds);
}
