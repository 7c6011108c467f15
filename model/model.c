/*
 * model.c - a trained model: construction from artifact bytes, encoding of
 * raw rows, scoring, and the description of inputs and outputs (see
 * model.h for the contract).
 *
 * Design note
 * -----------
 * Allocation.  mf_model_meta_read hands out many small blocks.  So that
 * mf_trained_model_free can return them with a malloc-like allocator, the
 * model allocates through a chaining wrapper of the caller's allocator:
 * each block carries a 16-byte header linking it to the model's chain
 * (kept in a small tracker block, so the MfTrainedModel itself may be
 * copied or moved).  With an arena allocator (free == NULL) the chain is
 * still kept but never walked.
 *
 * Arithmetic.  The per-row scorer, operation by operation: scaling (x -
 * mean) / std; linear b + (s0 + s1) with two running sums over even and
 * odd features; the kernels' logistic row and k-means row; an MLP row of
 * dense layers b + x W four outputs at a time, ReLU inline, other
 * activations and the softmax through the kernels; the first maximum as
 * the class.  Compiled without -ffast-math and without FMA contraction (no
 * -march), with the vectorizer's dynamic cost model (Makefile).  The SQL
 * functions score through it (src/predict.c), so they agree bit for bit
 * with a standalone program using this module, which the differential test
 * test/integration/model_module.sh checks.  Inside this file the exported
 * row functions call static inline ones, so mf_trained_model_score makes
 * no further call; a row is checked finite after scaling by one
 * branch-free pass over the exponent bits (the first bad feature is looked
 * for only when there is one), which costs the SQL argument forms less
 * than a test per feature.
 */
#include "model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A function kept out of line (a cold path beside a hot one). */
#if defined(__GNUC__)
#define MF_NOINLINE __attribute__((noinline))
#define MF_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MF_NOINLINE
#define MF_ALWAYS_INLINE inline
#endif

/* ------------------------------------------------------------ allocation */

/* Header of a block allocated for a model (16 bytes keeps alignment). */
typedef struct MfModelBlock
{
	struct MfModelBlock *next;
	void	   *pad;
} MfModelBlock;

/* The chain of a model's blocks and the caller's allocator. */
typedef struct MfModelChain
{
	MfArtAllocator base;
	MfModelBlock *head;
} MfModelChain;

/* Allocate size bytes through the caller's allocator, on the chain. */
static void *
MfModelChainAlloc(void *ctx, size_t size)
{
	MfModelChain *ch = ctx;
	MfModelBlock *b;

	if (size > SIZE_MAX - sizeof(MfModelBlock))
		return NULL;
	b = ch->base.alloc(ch->base.ctx, sizeof(MfModelBlock) + size);
	if (b == NULL)
		return NULL;
	b->next = ch->head;
	ch->head = b;
	return b + 1;
}

/* Blocks are freed together by mf_trained_model_free. */
static void
MfModelChainFreeOne(void *ctx, void *ptr)
{
	(void) ctx;
	(void) ptr;
}

/* Free every block of the chain, then the chain (when the allocator can). */
static void
MfModelChainRelease(MfModelChain *ch)
{
	MfArtAllocator base;

	if (ch == NULL)
		return;
	base = ch->base;
	if (base.free == NULL)
		return;
	while (ch->head != NULL)
	{
		MfModelBlock *n = ch->head->next;

		base.free(base.ctx, ch->head);
		ch->head = n;
	}
	base.free(base.ctx, ch);
}

/* ------------------------------------------------------------ errors */

/* Record an error (err may be NULL); returns s. */
static MfModelStatus
MfModelFail(MfModelError *err, MfModelStatus s, int column, long feature,
			double value, const char *detail)
{
	if (err != NULL)
	{
		err->status = s;
		err->column = column;
		err->feature = feature;
		err->value = value;
		err->member[0] = '\0';
		snprintf(err->detail, sizeof(err->detail), "%s", detail ? detail : mf_model_strerror(s));
	}
	return s;
}

/* Lowercase message of a status. */
const char *
mf_model_strerror(MfModelStatus s)
{
	switch (s)
	{
		case MF_MODEL_OK:
			return "success";
		case MF_MODEL_BAD_ARTIFACT:
			return "the bytes are not a valid model artifact";
		case MF_MODEL_INVALID:
			return "the model artifact is inconsistent";
		case MF_MODEL_UNSUPPORTED:
			return "the model cannot be used by this build";
		case MF_MODEL_NOMEM:
			return "out of memory";
		case MF_MODEL_NOT_FINITE:
			return "a feature is not finite";
		case MF_MODEL_BAD_VALUE:
			return "a value cannot feed its column";
		case MF_MODEL_MISSING:
			return "a column of the feature schema is missing";
		case MF_MODEL_NOT_CLASSIFIER:
			return "the model is not a classifier";
		case MF_MODEL_BAD_ARG:
			return "invalid argument";
	}
	return "unknown error";
}

/* ------------------------------------------------------------ lifetime */

/*
 * The numeric values of a classifier's labels: labels are numbers unless
 * the target was boolean or one of them does not read as a finite number
 * (as mf_predict returns them).
 */
static void
MfModelLabelValues(MfTrainedModel *m)
{
	const MfModelMeta *mm = &m->meta;

	m->labels_numeric = mm->target_type == NULL || strcmp(mm->target_type, "boolean") != 0;
	for (int k = 0; k < mm->n_labels; k++)
	{
		const char *s = mm->labels[k];
		char	   *end;

		m->label_values[k] = strtod(s, &end);
		if (*s == '\0' || *end != '\0' || !isfinite(m->label_values[k]))
			m->labels_numeric = false;
	}
}

/* Derive what scoring needs from m->meta (allocations through m->alloc). */
static MfModelStatus
MfModelDerive(MfTrainedModel *m, MfModelError *err)
{
	const MfModelMeta *mm = &m->meta;

	if (mm->n_labels > 0)
	{
		m->label_values = m->alloc.alloc(m->alloc.ctx, sizeof(double) * (size_t) mm->n_labels);
		if (m->label_values == NULL)
			return MfModelFail(err, MF_MODEL_NOMEM, -1, -1, 0.0, NULL);
		MfModelLabelValues(m);
	}
	if (mm->family == MF_ART_FAMILY_MLP)
	{
		if (!mf_model_meta_mlp(mm, &m->mlp))
			return MfModelFail(err, MF_MODEL_INVALID, -1, -1, 0.0,
							   "a checked mlp artifact has no valid layout");
		m->scratch_len = mfk_mlp_scratch_size(&m->mlp);
	}
	return MF_MODEL_OK;
}

/*
 * Build a model around metadata already read and checked (its tensors stay
 * the caller's); alloc is an arena: mf_trained_model_free frees nothing.
 */
MfModelStatus
mf_trained_model_from_meta(MfTrainedModel *m, const MfModelMeta *mm,
						   const MfArtAllocator *alloc, MfModelError *err)
{
	memset(m, 0, sizeof(*m));
	if (alloc == NULL || alloc->alloc == NULL || mm == NULL)
		return MfModelFail(err, MF_MODEL_BAD_ARG, -1, -1, 0.0, "no metadata or no allocator");
	m->alloc = *alloc;
	m->meta = *mm;
	return MfModelDerive(m, err);
}

/* Status of an artifact refused by mf_artifact_open. */
static MfModelStatus
MfModelArtStatus(MfArtErr e)
{
	if (e == MF_ART_ERR_NOMEM)
		return MF_MODEL_NOMEM;
	if (e == MF_ART_ERR_ARG || e == MF_ART_ERR_UNALIGNED)
		return MF_MODEL_BAD_ARG;
	if (mf_artifact_err_is_corruption(e))
		return MF_MODEL_BAD_ARTIFACT;
	return MF_MODEL_UNSUPPORTED;
}

/* Status of metadata refused by mf_model_meta_read. */
static MfModelStatus
MfModelMetaStatus(MfMetaStatus s)
{
	switch (s)
	{
		case MF_META_OK:
			return MF_MODEL_OK;
		case MF_META_INVALID:
			return MF_MODEL_INVALID;
		case MF_META_UNSUPPORTED:
			return MF_MODEL_UNSUPPORTED;
		case MF_META_NOMEM:
			break;
	}
	return MF_MODEL_NOMEM;
}

/* Open the artifact (the chain is ready) and read its metadata into m. */
static MfModelStatus
MfModelOpenChained(MfTrainedModel *m, const void *bytes, size_t len, bool copy,
				   MfModelError *err)
{
	char		msg[256];
	MfArtErr	ae;
	MfMetaError me;
	MfMetaStatus ms;
	MfModelMeta mm;
	const void *buf = bytes;

	if (copy)
	{
		m->owned = m->alloc.alloc(m->alloc.ctx, len ? len : 1);
		if (m->owned == NULL)
			return MfModelFail(err, MF_MODEL_NOMEM, -1, -1, 0.0, NULL);
		memcpy(m->owned, bytes, len);
		buf = m->owned;
	}
	ae = mf_artifact_open(buf, len, &m->view, msg, sizeof(msg));
	if (ae != MF_ART_OK)
		return MfModelFail(err, MfModelArtStatus(ae), -1, -1, 0.0, msg);
	memset(&me, 0, sizeof(me));
	ms = mf_model_meta_read(&m->view, &m->alloc, &mm, &me);
	if (ms != MF_META_OK)
	{
		MfModelFail(err, MfModelMetaStatus(ms), -1, -1, 0.0, me.detail);
		if (err != NULL)
			snprintf(err->member, sizeof(err->member), "%s", me.member);
		return MfModelMetaStatus(ms);
	}
	m->meta = mm;
	return MfModelDerive(m, err);
}

/* Open a model from artifact bytes (borrowed or copied). */
MfModelStatus
mf_trained_model_open(MfTrainedModel *m, const void *bytes, size_t len, bool copy,
					  const MfArtAllocator *alloc, MfModelError *err)
{
	MfModelChain *ch;
	MfModelStatus s;

	memset(m, 0, sizeof(*m));
	if (alloc == NULL || alloc->alloc == NULL || bytes == NULL)
		return MfModelFail(err, MF_MODEL_BAD_ARG, -1, -1, 0.0, "no bytes or no allocator");
	ch = alloc->alloc(alloc->ctx, sizeof(MfModelChain));
	if (ch == NULL)
		return MfModelFail(err, MF_MODEL_NOMEM, -1, -1, 0.0, NULL);
	ch->base = *alloc;
	ch->head = NULL;
	m->alloc.alloc = MfModelChainAlloc;
	m->alloc.free = MfModelChainFreeOne;
	m->alloc.ctx = ch;
	s = MfModelOpenChained(m, bytes, len, copy, err);
	if (s != MF_MODEL_OK)
	{
		MfModelChainRelease(ch);
		memset(m, 0, sizeof(*m));
	}
	return s;
}

/* Return what the model allocated (when the allocator can free). */
void
mf_trained_model_free(MfTrainedModel *m)
{
	if (m->alloc.alloc == MfModelChainAlloc)
		MfModelChainRelease(m->alloc.ctx);
	memset(m, 0, sizeof(*m));
}

/* Allocate the scoring buffers of one caller. */
MfModelStatus
mf_model_work_init(const MfTrainedModel *m, MfModelWork *w, const MfArtAllocator *alloc)
{
	size_t		p = m->meta.p;
	size_t		n_out = m->meta.n_out > 0 ? (size_t) m->meta.n_out : 1;
	size_t		total = 2 * p + n_out + (m->scratch_len ? m->scratch_len : 1);
	double	   *d;

	memset(w, 0, sizeof(*w));
	if (alloc == NULL || alloc->alloc == NULL || p > SIZE_MAX / 4 / sizeof(double) ||
		total > SIZE_MAX / sizeof(double))
		return MF_MODEL_BAD_ARG;
	d = alloc->alloc(alloc->ctx, total * sizeof(double));
	if (d == NULL)
		return MF_MODEL_NOMEM;
	w->xraw = d;
	w->z = d + p;
	w->out = d + 2 * p;
	w->scratch = d + 2 * p + n_out;
	return MF_MODEL_OK;
}

/* Return the buffers of mf_model_work_init. */
void
mf_model_work_free(MfModelWork *w, const MfArtAllocator *alloc)
{
	if (w->xraw != NULL && alloc != NULL && alloc->free != NULL)
		alloc->free(alloc->ctx, w->xraw);
	memset(w, 0, sizeof(*w));
}

/* ------------------------------------------------------------ encoding */

/* Schema column of a name, or -1. */
int
mf_trained_model_column(const MfTrainedModel *m, const char *name)
{
	for (int i = 0; i < m->meta.ncols; i++)
		if (strcmp(m->meta.cols[i].name, name) == 0)
			return i;
	return -1;
}

/* Byte order of (s, len) against a category of catlen bytes. */
static inline int
MfModelCatCmp(const char *s, size_t len, const char *cat, size_t catlen)
{
	int			r = memcmp(s, cat, len < catlen ? len : catlen);

	if (r != 0)
		return r;
	return len < catlen ? -1 : (len > catlen ? 1 : 0);
}

/* One-hot one categorical column of xraw (NULL: imputed; unseen: zeros). */
void
mf_model_set_category(const MfMetaColumn *col, double *xraw, const char *s, size_t len,
					  bool isnull)
{
	int			lo = 0,
				hi = col->n_cats - 1;

	memset(xraw + col->offset, 0, sizeof(double) * (size_t) col->n_cats);
	if (isnull)
	{
		if (col->impute_str == NULL)
			return;
		s = col->impute_str;
		len = strlen(s);
	}
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			r = MfModelCatCmp(s, len, col->cats[mid], (size_t) col->cat_lens[mid]);

		if (r == 0)
		{
			xraw[col->offset + mid] = 1.0;
			return;
		}
		if (r < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
}

/* A numeric or boolean column's number from a raw value (not yet checked finite). */
static MfModelStatus
MfModelNumber(const MfMetaColumn *col, int i, const MfRawValue *v, double *x,
			  MfModelError *err)
{
	char		buf[512];
	char	   *end;

	switch (v->kind)
	{
		case MF_RAW_NULL:
			*x = 0.0;
			return MF_MODEL_OK;
		case MF_RAW_NUMBER:
			*x = v->num;
			break;
		case MF_RAW_BOOL:
			*x = v->b ? 1.0 : 0.0;
			break;
		case MF_RAW_TEXT:
			/* the whole text as a number, as strtod reads it */
			if (v->text == NULL || v->len == 0 || v->len >= sizeof(buf) ||
				memchr(v->text, '\0', v->len) != NULL)
				return MfModelFail(err, MF_MODEL_BAD_VALUE, i, col->offset, 0.0, "must be a number");
			memcpy(buf, v->text, v->len);
			buf[v->len] = '\0';
			*x = strtod(buf, &end);
			if (*end != '\0')
				return MfModelFail(err, MF_MODEL_BAD_VALUE, i, col->offset, 0.0, "must be a number");
			break;
		default:
			return MfModelFail(err, MF_MODEL_BAD_VALUE, i, col->offset, 0.0, "must be a number");
	}
	return MF_MODEL_OK;
}

/* Encode the raw value of schema column i into xraw. */
MfModelStatus
mf_trained_model_encode_value(const MfTrainedModel *m, int i, const MfRawValue *v,
							  double *xraw, MfModelError *err)
{
	const MfMetaColumn *col = &m->meta.cols[i];
	char		buf[40];

	if (col->kind != MF_COL_CATEGORICAL)
	{
		double		x;
		MfModelStatus s = MfModelNumber(col, i, v, &x, err);

		if (s != MF_MODEL_OK)
			return s;
		if (!mf_model_set_number(col, xraw, x, v->kind == MF_RAW_NULL))
			return MfModelFail(err, MF_MODEL_NOT_FINITE, i, col->offset, x, "is not finite");
		return MF_MODEL_OK;
	}
	if (v->kind == MF_RAW_NULL)
		mf_model_set_category(col, xraw, NULL, 0, true);
	else if (v->text != NULL || v->kind == MF_RAW_TEXT)
		mf_model_set_category(col, xraw, v->text ? v->text : "", v->text ? v->len : 0, false);
	else if (v->kind == MF_RAW_BOOL)
		mf_model_set_category(col, xraw, v->b ? "true" : "false", v->b ? 4 : 5, false);
	else if (v->kind == MF_RAW_NUMBER)
	{
		snprintf(buf, sizeof(buf), "%.17g", v->num);
		mf_model_set_category(col, xraw, buf, strlen(buf), false);
	}
	else
		return MfModelFail(err, MF_MODEL_BAD_VALUE, i, col->offset, 0.0,
						   "must be a string, a number, a boolean or null");
	return MF_MODEL_OK;
}

/* Encode one row (ncols values in schema order) into xraw[p], unscaled. */
MfModelStatus
mf_trained_model_encode(const MfTrainedModel *m, const MfRawValue *row, double *xraw,
						MfModelError *err)
{
	for (int i = 0; i < m->meta.ncols; i++)
	{
		MfModelStatus s = mf_trained_model_encode_value(m, i, &row[i], xraw, err);

		if (s != MF_MODEL_OK)
			return s;
	}
	return MF_MODEL_OK;
}

/* Encode one row of n named values (any order, extra names ignored). */
MfModelStatus
mf_trained_model_encode_named(const MfTrainedModel *m, const MfNamedValue *vals, size_t n,
							  double *xraw, MfModelError *err)
{
	for (int i = 0; i < m->meta.ncols; i++)
	{
		const char *name = m->meta.cols[i].name;
		size_t		a;
		MfModelStatus s;

		for (a = 0; a < n; a++)
			if (vals[a].name != NULL && strcmp(vals[a].name, name) == 0)
				break;
		if (a == n)
			return MfModelFail(err, MF_MODEL_MISSING, i, m->meta.cols[i].offset, 0.0,
							   "is missing from the input");
		s = mf_trained_model_encode_value(m, i, &vals[a].value, xraw, err);
		if (s != MF_MODEL_OK)
			return s;
	}
	return MF_MODEL_OK;
}

/*
 * A JSON value as a raw value: numbers and booleans keep their JSON text
 * (in buf) for categorical columns, as mf_predict(ref, jsonb) matches them.
 */
MfModelStatus
mf_model_raw_from_json(const json_t *v, MfRawValue *out, char *buf, size_t buflen)
{
	size_t		n;

	memset(out, 0, sizeof(*out));
	if (v == NULL || json_is_null(v))
		return MF_MODEL_OK;
	if (json_is_string(v))
	{
		out->kind = MF_RAW_TEXT;
		out->text = json_string_value(v);
		out->len = json_string_length(v);
		return MF_MODEL_OK;
	}
	if (json_is_object(v) || json_is_array(v))
		return MF_MODEL_BAD_VALUE;
	out->kind = json_is_boolean(v) ? MF_RAW_BOOL : MF_RAW_NUMBER;
	out->b = json_is_true(v);
	out->num = json_is_number(v) ? json_number_value(v) : 0.0;
	n = json_dumpb(v, buf, buflen, JSON_ENCODE_ANY);
	if (n == 0 || n >= buflen)
		return MF_MODEL_BAD_ARG;
	out->text = buf;
	out->len = n;
	return MF_MODEL_OK;
}

/*
 * Encode one JSON object of named raw values into xraw, column by column
 * as mf_predict(ref, jsonb) reads it: every schema column must be present
 * (null imputes), objects and arrays are refused.
 */
MfModelStatus
mf_trained_model_encode_json(const MfTrainedModel *m, const json_t *obj, double *xraw,
							 MfModelError *err)
{
	char		buf[MF_MODEL_JSON_TEXT];

	if (!json_is_object(obj))
		return MfModelFail(err, MF_MODEL_BAD_VALUE, -1, -1, 0.0,
						   "input must be a JSON object of named features");
	for (int i = 0; i < m->meta.ncols; i++)
	{
		const MfMetaColumn *col = &m->meta.cols[i];
		json_t	   *v = json_object_get(obj, col->name);
		MfRawValue	raw;
		MfModelStatus s;

		if (v == NULL)
			return MfModelFail(err, MF_MODEL_MISSING, i, col->offset, 0.0,
							   "is missing from the input");
		s = mf_model_raw_from_json(v, &raw, buf, sizeof(buf));
		if (s != MF_MODEL_OK)
			return MfModelFail(err, s, i, col->offset, 0.0,
							   col->kind == MF_COL_CATEGORICAL ?
							   "must be a string, a number or null" : "must be a number");
		s = mf_trained_model_encode_value(m, i, &raw, xraw, err);
		if (s != MF_MODEL_OK)
			return s;
	}
	return MF_MODEL_OK;
}

/* Encode n rows (n x ncols values) into X (n x p), unscaled. */
MfModelStatus
mf_trained_model_encode_rows(const MfTrainedModel *m, const MfRawValue *rows, size_t n,
							 double *X, MfModelError *err)
{
	size_t		ncols = (size_t) m->meta.ncols;

	for (size_t r = 0; r < n; r++)
	{
		MfModelStatus s = mf_trained_model_encode(m, rows + r * ncols, X + r * m->meta.p, err);

		if (s != MF_MODEL_OK)
			return s;
	}
	return MF_MODEL_OK;
}

/* ------------------------------------------------------------ scoring */

/* Record a non-finite feature j (value v before scaling). */
static void
MfModelNotFinite(const MfTrainedModel *m, size_t j, double v, MfModelError *err)
{
	int			col = -1;

	for (int i = 0; i < m->meta.ncols; i++)
		if ((size_t) m->meta.cols[i].offset <= j)
			col = i;
	MfModelFail(err, MF_MODEL_NOT_FINITE, col, (long) j, v, "is not finite");
}

/*
 * True when every one of v[0..p) is finite: the exponent bits of each are
 * tested without a branch (all ones means NaN or infinity), so the loop is
 * straight-line integer code the vectorizer can take.
 */
static inline bool
MfModelAllFinite(const double *v, size_t p)
{
	uint64_t	bad = 0;

	for (size_t j = 0; j < p; j++)
	{
		uint64_t	u;

		memcpy(&u, &v[j], sizeof(u));
		/* (~exponent) - 1 has its top bit set only when the exponent is all ones */
		bad |= ((((~u) >> 52) & 0x7ff) - 1) >> 63;
	}
	return bad == 0;
}

/* Record the first feature whose value (scaled, in z) is not finite. */
static MF_NOINLINE void
MfModelFirstNotFinite(const MfTrainedModel *m, const double *x, const double *z,
					  MfModelError *err)
{
	size_t		j = 0;

	while (j + 1 < m->meta.p && isfinite(z[j]))
		j++;
	MfModelNotFinite(m, j, x[j], err);
}

/* Scale an encoded row into w->z as training did; NULL when not finite. */
static inline const double *
MfModelScaleRow(const MfTrainedModel *m, const double *x, MfModelWork *w,
				MfModelError *err)
{
	size_t		p = m->meta.p;
	const double *z = x;

	if (m->meta.standardize)
	{
		double	   *zs = w->z;
		const double *center = m->meta.means;
		const double *scale = m->meta.stds;

		for (size_t j = 0; j < p; j++)
			zs[j] = (x[j] - center[j]) / scale[j];
		z = zs;
	}
	if (!MfModelAllFinite(z, p))
	{
		MfModelFirstNotFinite(m, x, z, err);
		return NULL;
	}
	return z;
}

/* Scale an encoded row into w->z as training did; NULL when not finite. */
const double *
mf_trained_model_scale(const MfTrainedModel *m, const double *x, MfModelWork *w,
					   MfModelError *err)
{
	return MfModelScaleRow(m, x, w, err);
}

/* Index of the largest of K values (the first on ties, as in training). */
static inline int
MfModelArgmax(const double *v, int K)
{
	int			best = 0;

	for (int c = 1; c < K; c++)
		if (v[c] > v[best])
			best = c;
	return best;
}

/* z = b + x W for one row, W row-major (in x out), four outputs at a time. */
static inline void
MfModelDense(const double *x, size_t in, const double *W, const double *b, size_t out,
			 double *z)
{
	size_t		j = 0;

	for (; j + 4 <= out; j += 4)
	{
		double		a0 = b[j],
					a1 = b[j + 1],
					a2 = b[j + 2],
					a3 = b[j + 3];

		for (size_t i = 0; i < in; i++)
		{
			const double *wr = W + i * out + j;

			a0 += x[i] * wr[0];
			a1 += x[i] * wr[1];
			a2 += x[i] * wr[2];
			a3 += x[i] * wr[3];
		}
		z[j] = a0;
		z[j + 1] = a1;
		z[j + 2] = a2;
		z[j + 3] = a3;
	}
	for (; j < out; j++)
	{
		double		a = b[j];

		for (size_t i = 0; i < in; i++)
			a += x[i] * W[i * out + j];
		z[j] = a;
	}
}

/*
 * One MLP row without BLAS: each dense layer b + x W, then the hidden
 * activation (ReLU inline, others through the kernels); softmax for
 * classifiers.
 */
static void
MfModelMlpRow(const MfMlp *m, const double *x, double *out, double *scratch)
{
	const double *cur = x;
	double	   *bufs[2] = {scratch, scratch + m->max_width};
	int			t = 0;

	for (int l = 0; l < m->n_layers; l++)
	{
		double	   *z = l == m->n_layers - 1 ? out : bufs[t];
		size_t		o = m->out[l];

		MfModelDense(cur, m->in[l], m->params + m->w_off[l], m->params + m->b_off[l], o, z);
		if (l < m->n_layers - 1)
		{
			if (m->cfg.activation == MF_ACT_RELU)
				for (size_t j = 0; j < o; j++)
					z[j] = z[j] > 0.0 ? z[j] : 0.0;
			else if (mfk_act_is_gated(m->cfg.activation))
				mfk_glu_forward(m->cfg.activation, z, z, 1, m->act_out[l]);
			else
				mfk_act_forward(m->cfg.activation, z, z, o);
		}
		cur = z;
		t = 1 - t;
	}
	if (m->cfg.task == MF_TASK_CLASSIFICATION)
		mfk_softmax_rows(out, out, 1, m->cfg.n_outputs);
}

/* b + w.z with two running sums (even and odd features). */
static inline double
MfModelLinear(const double *w, double b, size_t p, const double *z)
{
	double		s0 = 0.0,
				s1 = 0.0;
	size_t		j = 0;

	for (; j + 2 <= p; j += 2)
	{
		s0 += w[j] * z[j];
		s1 += w[j + 1] * z[j + 1];
	}
	if (j < p)
		s0 += w[j] * z[j];
	return b + (s0 + s1);
}

/* The class result of probabilities (or outputs) in w->out. */
static void
MfModelClassScore(const MfTrainedModel *m, MfModelWork *w, MfModelScore *out)
{
	int			c = MfModelArgmax(w->out, m->meta.n_labels);

	out->index = c;
	out->value = m->labels_numeric ? m->label_values[c] : (double) c;
	out->label = m->meta.labels[c];
	out->proba = w->out;
}

/* Score one scaled row (from mf_trained_model_scale); cannot fail. */
static MF_ALWAYS_INLINE void
MfModelScoreRow(const MfTrainedModel *m, const double *z, MfModelWork *w, MfModelScore *out)
{
	const MfModelMeta *mm = &m->meta;

	out->index = -1;
	out->label = NULL;
	out->proba = NULL;
	switch (mm->family)
	{
		case MF_ART_FAMILY_LINEAR_REGRESSION:
			out->value = MfModelLinear(mm->coef, mm->intercept[0], mm->p, z);
			return;
		case MF_ART_FAMILY_LOGISTIC_REGRESSION:
			mfk_logreg_predict_proba_row(mm->coef, mm->intercept, mm->p, mm->n_labels,
										 mm->multinomial, z, w->out);
			MfModelClassScore(m, w, out);
			return;
		case MF_ART_FAMILY_MLP:
			MfModelMlpRow(&m->mlp, z, w->out, w->scratch);
			if (!mm->classify)
				out->value = w->out[0];
			else
				MfModelClassScore(m, w, out);
			return;
		default:				/* kmeans */
			out->index = mfk_kmeans_assign_row(mm->centers, mm->k, mm->p, z, NULL);
			out->value = (double) out->index;
			return;
	}
}

/* Score one scaled row (from mf_trained_model_scale); cannot fail. */
void
mf_trained_model_score_scaled(const MfTrainedModel *m, const double *z, MfModelWork *w,
							  MfModelScore *out)
{
	MfModelScoreRow(m, z, w, out);
}

/* Scale and score one encoded row. */
MfModelStatus
mf_trained_model_score(const MfTrainedModel *m, const double *xraw, MfModelWork *w,
					   MfModelScore *out, MfModelError *err)
{
	const double *z = MfModelScaleRow(m, xraw, w, err);

	if (z == NULL)
		return MF_MODEL_NOT_FINITE;
	MfModelScoreRow(m, z, w, out);
	return MF_MODEL_OK;
}

/* Encode, scale and score one row of raw values in schema order. */
MfModelStatus
mf_trained_model_predict(const MfTrainedModel *m, const MfRawValue *row, MfModelWork *w,
						 MfModelScore *out, MfModelError *err)
{
	MfModelStatus s = mf_trained_model_encode(m, row, w->xraw, err);

	if (s != MF_MODEL_OK)
		return s;
	return mf_trained_model_score(m, w->xraw, w, out, err);
}

/* Score n encoded rows one by one, as the per-row path. */
MfModelStatus
mf_trained_model_score_rows(const MfTrainedModel *m, const double *X, size_t n,
							MfModelWork *w, double *values, int *indexes, double *proba,
							MfModelError *err)
{
	size_t		p = m->meta.p;
	size_t		K = (size_t) m->meta.n_labels;

	for (size_t i = 0; i < n; i++)
	{
		MfModelScore sc;
		MfModelStatus s = mf_trained_model_score(m, X + i * p, w, &sc, err);

		if (s != MF_MODEL_OK)
			return s;
		values[i] = sc.value;
		if (indexes != NULL)
			indexes[i] = sc.index;
		if (proba != NULL && sc.proba != NULL)
			memcpy(proba + i * K, sc.proba, sizeof(double) * K);
	}
	return MF_MODEL_OK;
}

/* Scale n rows into a new matrix from env->alloc (NULL: error in err). */
static double *
MfModelScaleRows(const MfTrainedModel *m, const MfEnv *env, const double *X, size_t n,
				 MfModelError *err)
{
	size_t		p = m->meta.p;
	double	   *Z;

	if (p != 0 && n > SIZE_MAX / p)
	{
		MfModelFail(err, MF_MODEL_BAD_ARG, -1, -1, 0.0, "too many rows");
		return NULL;
	}
	Z = mfk_alloc_doubles(&env->alloc, n * p);
	if (Z == NULL)
	{
		MfModelFail(err, MF_MODEL_NOMEM, -1, -1, 0.0, NULL);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < p; j++)
		{
			double		x = X[i * p + j];
			double		z = m->meta.standardize ?
				(x - m->meta.means[j]) / m->meta.stds[j] : x;

			if (!isfinite(z))
			{
				mfk_free(&env->alloc, Z);
				MfModelNotFinite(m, j, x, err);
				return NULL;
			}
			Z[i * p + j] = z;
		}
	return Z;
}

/* Run the family's batch kernel on scaled rows Z (see score_batch_scaled). */
static int
MfModelBatchKernel(const MfTrainedModel *m, const MfEnv *env, const double *Z, size_t n,
				   double *values, int *indexes, double *proba)
{
	const MfModelMeta *mm = &m->meta;
	size_t		n_out = (size_t) mm->n_out;
	double	   *out;
	int		   *lab;
	int			e;

	if (mm->family == MF_ART_FAMILY_LINEAR_REGRESSION)
	{
		for (size_t i = 0; indexes != NULL && i < n; i++)
			indexes[i] = -1;
		return mfk_linear_predict(env, Z, n, mm->p, mm->coef, mm->intercept[0], values);
	}
	if (mm->family == MF_ART_FAMILY_KMEANS)
	{
		lab = indexes ? indexes : mfk_alloc_bytes(&env->alloc, n * sizeof(int));
		if (lab == NULL)
			return MF_KERR_NOMEM;
		e = mfk_kmeans_assign(env, mm->centers, mm->k, mm->p, Z, n, lab, NULL);
		for (size_t i = 0; e == MF_KOK && i < n; i++)
			values[i] = (double) lab[i];
		if (lab != indexes)
			mfk_free(&env->alloc, lab);
		return e;
	}
	out = proba ? proba : mfk_alloc_doubles(&env->alloc, n * n_out);
	if (out == NULL)
		return MF_KERR_NOMEM;
	if (mm->family == MF_ART_FAMILY_LOGISTIC_REGRESSION)
		e = mfk_logreg_predict_proba(env, Z, n, mm->p, mm->coef, mm->intercept,
									 mm->n_labels, mm->multinomial, out);
	else
		e = mfk_mlp_predict(env, &m->mlp, Z, n, out);
	for (size_t i = 0; e == MF_KOK && i < n; i++)
	{
		int			c = mm->classify ? MfModelArgmax(out + i * n_out, (int) n_out) : -1;

		values[i] = !mm->classify ? out[i * n_out] :
			m->labels_numeric ? m->label_values[c] : (double) c;
		if (indexes != NULL)
			indexes[i] = c;
	}
	if (out != proba)
		mfk_free(&env->alloc, out);
	return e;
}

/* Score n scaled rows with the kernels' batch paths (see model.h). */
MfModelStatus
mf_trained_model_score_batch_scaled(const MfTrainedModel *m, const MfEnv *env, const double *Z,
									size_t n, double *values, int *indexes, double *proba,
									MfModelError *err)
{
	int			e;

	if (env == NULL || (n > 0 && (Z == NULL || values == NULL)))
		return MfModelFail(err, MF_MODEL_BAD_ARG, -1, -1, 0.0, NULL);
	if (n == 0)
		return MF_MODEL_OK;
	e = MfModelBatchKernel(m, env, Z, n, values, indexes, m->meta.classify ? proba : NULL);
	if (e == MF_KERR_NOMEM)
		return MfModelFail(err, MF_MODEL_NOMEM, -1, -1, 0.0, NULL);
	if (e != MF_KOK)
		return MfModelFail(err, MF_MODEL_BAD_ARG, -1, -1, 0.0, mfk_strerror(e));
	return MF_MODEL_OK;
}

/* Score n encoded rows with the kernels' BLAS paths, as mf_predict_batch. */
MfModelStatus
mf_trained_model_score_batch(const MfTrainedModel *m, const MfEnv *env, const double *X,
							 size_t n, double *values, double *proba, MfModelError *err)
{
	MfModelError local;
	double	   *Z;
	MfModelStatus s;

	if (env == NULL || (n > 0 && (X == NULL || values == NULL)))
		return MfModelFail(err, MF_MODEL_BAD_ARG, -1, -1, 0.0, NULL);
	if (n == 0)
		return MF_MODEL_OK;
	if (err == NULL)
		err = &local;
	Z = MfModelScaleRows(m, env, X, n, err);
	if (Z == NULL)
		return err->status;
	s = mf_trained_model_score_batch_scaled(m, env, Z, n, values, NULL, proba, err);
	mfk_free(&env->alloc, Z);
	return s;
}

/* ------------------------------------------------------------ description */

/* The task name of a model. */
static const char *
MfModelTask(const MfModelMeta *mm)
{
	if (mm->family == MF_ART_FAMILY_KMEANS)
		return "clustering";
	return mm->classify ? "classification" : "regression";
}

/* Describe the model (inputs from the allocator; free with alloc->free). */
MfModelStatus
mf_trained_model_describe(const MfTrainedModel *m, const MfArtAllocator *alloc, MfModelIO *io)
{
	const MfModelMeta *mm = &m->meta;

	memset(io, 0, sizeof(*io));
	io->inputs = alloc->alloc(alloc->ctx, sizeof(MfModelInput) * (size_t) (mm->ncols > 0 ? mm->ncols : 1));
	if (io->inputs == NULL)
		return MF_MODEL_NOMEM;
	io->family = mf_artifact_family_name(mm->family);
	io->task = MfModelTask(mm);
	io->n_inputs = mm->ncols;
	for (int i = 0; i < mm->ncols; i++)
	{
		const MfMetaColumn *c = &mm->cols[i];
		MfModelInput *in = &io->inputs[i];

		in->name = c->name;
		in->kind = c->kind;
		in->offset = c->offset;
		in->width = c->kind == MF_COL_CATEGORICAL ? c->n_cats : 1;
		in->n_categories = c->kind == MF_COL_CATEGORICAL ? c->n_cats : 0;
		in->categories = c->kind == MF_COL_CATEGORICAL ? c->cats : NULL;
		in->has_impute = c->kind != MF_COL_CATEGORICAL || c->impute_str != NULL;
		in->impute_number = c->kind != MF_COL_CATEGORICAL ? c->impute_num : 0.0;
		in->impute_category = c->kind == MF_COL_CATEGORICAL ? c->impute_str : NULL;
	}
	io->n_features = mm->p;
	io->feature_names = mm->feature_names;
	io->standardize = mm->standardize;
	io->output = mm->family == MF_ART_FAMILY_KMEANS ? MF_OUT_CLUSTER :
		mm->classify ? MF_OUT_CLASS : MF_OUT_VALUE;
	io->n_outputs = mm->classify ? mm->n_labels : 1;
	io->n_labels = mm->n_labels;
	io->labels = mm->labels;
	io->labels_numeric = m->labels_numeric;
	io->n_clusters = mm->family == MF_ART_FAMILY_KMEANS ? mm->k : 0;
	return MF_MODEL_OK;
}

/* The kind of an input column as JSON text. */
static const char *
MfModelKindName(MfColKind k)
{
	return k == MF_COL_NUMERIC ? "numeric" : k == MF_COL_BOOLEAN ? "boolean" : "categorical";
}

/* Append s (n strings) to a new JSON array; NULL when out of memory. */
static json_t *
MfModelStrings(char *const *s, size_t n)
{
	json_t	   *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, json_string(s[i])) != 0)
		{
			json_decref(a);
			return NULL;
		}
	return a;
}

/* Set o[key] = v (stealing v); false when v is NULL or on failure. */
static bool
MfModelSet(json_t *o, const char *key, json_t *v)
{
	return v != NULL && json_object_set_new(o, key, v) == 0;
}

/* One input column as a JSON object. */
static json_t *
MfModelInputJson(const MfModelInput *in)
{
	json_t	   *o = json_pack("{s:s, s:s, s:i, s:i}", "name", in->name,
							  "kind", MfModelKindName(in->kind),
							  "offset", in->offset, "width", in->width);
	bool		ok = o != NULL;

	if (ok && in->kind == MF_COL_CATEGORICAL)
	{
		ok = MfModelSet(o, "categories", MfModelStrings(in->categories, (size_t) in->n_categories));
		ok = ok && MfModelSet(o, "impute", in->impute_category ?
							  json_string(in->impute_category) : json_null());
	}
	else if (ok)
		ok = MfModelSet(o, "impute", json_real(in->impute_number));
	if (!ok)
	{
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The outputs of a description as a JSON object. */
static json_t *
MfModelOutputJson(const MfModelIO *io)
{
	const char *kind = io->output == MF_OUT_CLASS ? "class" :
		io->output == MF_OUT_CLUSTER ? "cluster" : "value";
	json_t	   *o = json_pack("{s:s, s:i}", "kind", kind, "n_outputs", io->n_outputs);
	bool		ok = o != NULL;

	if (ok && io->output == MF_OUT_CLASS)
		ok = MfModelSet(o, "labels", MfModelStrings(io->labels, (size_t) io->n_labels)) &&
			MfModelSet(o, "labels_numeric", json_boolean(io->labels_numeric)) &&
			MfModelSet(o, "shape", json_pack("[i]", io->n_labels));
	if (ok && io->output == MF_OUT_CLUSTER)
		ok = MfModelSet(o, "n_clusters", json_integer(io->n_clusters));
	if (!ok)
	{
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The description as a new JSON object (NULL when out of memory). */
json_t *
mf_trained_model_describe_json(const MfTrainedModel *m)
{
	MfArtAllocator a = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};
	MfModelIO	io;
	json_t	   *o;
	json_t	   *inputs;
	bool		ok;

	if (mf_trained_model_describe(m, &a, &io) != MF_MODEL_OK)
		return NULL;
	o = json_pack("{s:s, s:s, s:I, s:b}", "family", io.family, "task", io.task,
				  "n_features", (json_int_t) io.n_features, "standardize", io.standardize);
	inputs = json_array();
	ok = o != NULL && inputs != NULL;
	for (int i = 0; ok && i < io.n_inputs; i++)
		ok = json_array_append_new(inputs, MfModelInputJson(&io.inputs[i])) == 0;
	ok = ok && MfModelSet(o, "inputs", inputs);
	if (!ok)
		json_decref(inputs);
	ok = ok && MfModelSet(o, "features", MfModelStrings(io.feature_names, io.n_features));
	ok = ok && MfModelSet(o, "output", MfModelOutputJson(&io));
	a.free(a.ctx, io.inputs);
	if (!ok)
	{
		json_decref(o);
		return NULL;
	}
	return o;
}
