/*
 * predict.c - scoring inside SELECT: mf_predict, mf_predict_label,
 * mf_predict_proba (array, record and jsonb forms, and the argument forms
 * the planner rewrites them into), mf_predict_batch and mf_prewarm.
 *
 * Design note
 * -----------
 * Each call site keeps an MfPredCall in fn_extra (flinfo->fn_mcxt): the
 * reference it resolved, the version_id and model pointer, and the query it
 * resolved them for (statement start time, local transaction id and
 * command id).  The first row of a query resolves the reference once
 * (through SPI, with the query's snapshot: model_cache.c) and takes the
 * model from the per-backend cache; later rows only compare those keys
 * (not even the reference when it is a Const or Param) and the cache
 * generation, then hand ARR_DATA_PTR, the plain arguments of the argument
 * forms, or a row encoded into the model's preallocated buffer to the
 * scoring code.  The record and column forms map the schema's columns to
 * attribute or argument numbers once per query.  Inputs are raw values:
 * the stored standardisation is applied here, exactly as in training
 * ((x - mean) / std).  Every row form shares one scoring path (linear
 * sums, the kernels' logistic and k-means rows, and an MLP row computed
 * here without BLAS), so the forms agree bit for bit; mf_predict_batch
 * uses the kernels' blocked BLAS paths and agrees to rounding.  The jsonb
 * form encodes and scores through the model module (kernels/model.c,
 * MfPredModel.tm), whose arithmetic is this file's, checked bit for bit by
 * test/integration/model_module.sh; the other forms still score here.
 */
#include "postgres.h"

#include "mf_core.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/float.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "predict.h"

/* Per call site state, in fn_extra. */
typedef struct MfPredCall
{
	/* the query this was resolved for */
	TimestampTz stmt_ts;
	LocalTransactionId lxid;
	CommandId	cid;
	uint64		generation;
	text	   *ref;			/* the reference resolved (a copy) */
	bool		ref_stable;		/* argument 0 is a Const or Param: fixed per query */
	MfPredResolved res;
	MfPredModel *model;
	bool		args_checked;	/* argument forms: every feature is float8 */
	/* record and column forms: column map for one row type and model */
	Oid			tup_type;
	int32		tup_typmod;
	int64		map_version;
	TupleDesc	tupdesc;		/* a copy, for heap_deform_tuple */
	int		   *attnos;			/* per schema column, 0-based */
	Oid		   *typids;
	FmgrInfo   *outfns;			/* categorical columns of other types */
	Datum	   *values;
	bool	   *nulls;
} MfPredCall;

/* True when fn_extra still describes the current query. */
static inline bool
MfPredSameQuery(const MfPredCall *c)
{
	return c->stmt_ts == GetCurrentStatementStartTimestamp() &&
		c->lxid == MyProc->lxid &&
		c->cid == GetCurrentCommandId(false);
}

/* True when the reference is the one fn_extra resolved. */
static inline bool
MfPredSameRef(const MfPredCall *c, text *ref)
{
	Size		len = VARSIZE_ANY_EXHDR(ref);

	return c->ref != NULL && VARSIZE_ANY_EXHDR(c->ref) == len &&
		memcmp(VARDATA_ANY(c->ref), VARDATA_ANY(ref), len) == 0;
}

/*
 * The model for this call (reference in argument 0): resolved once per
 * query per call site.  A constant or parameter reference is not even
 * fetched again within the query.
 */
static MfPredModel *
MfPredModelFor(FunctionCallInfo fcinfo)
{
	MfPredCall *c = (MfPredCall *) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	text	   *ref;

	if (likely(c != NULL && c->ref != NULL && MfPredSameQuery(c) &&
			   (c->ref_stable || MfPredSameRef(c, PG_GETARG_TEXT_PP(0)))))
	{
		if (likely(c->generation == MfModelCacheGeneration))
			return c->model;
		/* something was evicted: find ours again (reload if it went) */
		c->model = MfPredLookup(c->res.version_id);
		if (c->model == NULL)
			c->model = MfPredGetModel(&c->res);
		c->generation = MfModelCacheGeneration;
		c->attnos = NULL;		/* map the record form's columns again */
		return c->model;
	}
	ref = PG_GETARG_TEXT_PP(0);
	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(MfPredCall));
		c->ref_stable = get_fn_expr_arg_stable(fcinfo->flinfo, 0);
		fcinfo->flinfo->fn_extra = c;
	}
	if (c->ref != NULL)
		pfree(c->ref);
	c->ref = NULL;				/* invalid until resolved */
	c->attnos = NULL;
	MfPredResolve(ref, &c->res);
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	c->res.ref = pstrdup(c->res.ref);
	MemoryContextSwitchTo(old);
	c->model = MfPredGetModel(&c->res);
	c->generation = MfModelCacheGeneration;
	c->stmt_ts = GetCurrentStatementStartTimestamp();
	c->lxid = MyProc->lxid;
	c->cid = GetCurrentCommandId(false);
	c->ref = (text *) MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE_ANY(ref));
	memcpy(c->ref, ref, VARSIZE_ANY(ref));
	return c->model;
}

/* ------------------------------------------------------------ scoring */

/* Raise 22000 for a non-finite feature. */
static void
MfPredNotFinite(const MfPredModel *m, size_t j, double v)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("feature \"%s\" is not finite", m->feature_names[j]),
			 errdetail("Got %g for model \"%s\".", v, m->ref),
			 errhint("Replace NaN and infinity by NULL to impute (record and jsonb forms).")));
}

/* The row the kernel sees: x scaled as in training, checked finite. */
static inline const double *
MfPredScaled(MfPredModel *m, const double *x)
{
	size_t		p = m->p;

	if (m->standardize)
	{
		double	   *z = m->xbuf;

		for (size_t j = 0; j < p; j++)
		{
			z[j] = (x[j] - m->center[j]) / m->scale[j];
			if (unlikely(!isfinite(z[j])))
				MfPredNotFinite(m, j, x[j]);
		}
		return z;
	}
	for (size_t j = 0; j < p; j++)
		if (unlikely(!isfinite(x[j])))
			MfPredNotFinite(m, j, x[j]);
	return x;
}

/* Index of the largest of K values (the first on ties, as in training). */
static inline int
MfPredArgmax(const double *v, int K)
{
	int			best = 0;

	for (int c = 1; c < K; c++)
		if (v[c] > v[best])
			best = c;
	return best;
}

/* The mf_predict value of class index c. */
static inline double
MfPredClassValue(const MfPredModel *m, int c)
{
	return m->labels_numeric ? m->label_values[c] : (double) c;
}

/* z = b + x W for one row, W row-major (in x out), four outputs at a time. */
static inline void
MfPredDense(const double *x, size_t in, const double *W, const double *b, size_t out, double *z)
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
			const double *w = W + i * out + j;

			a0 += x[i] * w[0];
			a1 += x[i] * w[1];
			a2 += x[i] * w[2];
			a3 += x[i] * w[3];
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
 * One MLP row without BLAS, so a connection that scores rows one at a time
 * never loads OpenBLAS (blas_loader.c): each dense layer is b + x W, as
 * mfk_dense_forward computes it with dgemm, then the hidden activation
 * (ReLU inline, without branches; others through the kernels); softmax for
 * classifiers.  Same values as the batch path up to the order of the
 * additions.
 */
static void
MfPredMlpRow(const MfMlp *m, const double *x, double *out, double *scratch)
{
	const double *cur = x;
	double	   *bufs[2] = {scratch, scratch + m->max_width};
	int			t = 0;

	for (int l = 0; l < m->n_layers; l++)
	{
		double	   *z = l == m->n_layers - 1 ? out : bufs[t];
		size_t		o = m->out[l];

		MfPredDense(cur, m->in[l], m->params + m->w_off[l], m->params + m->b_off[l], o, z);
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

/* b + w.z with two running sums (half the dependent additions of one). */
static inline double
MfPredLinear(const double *w, double b, size_t p, const double *z)
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

/*
 * Score one scaled row z: m->out gets the probabilities (classifiers);
 * returns the regression value, the class (label value or index) or the
 * cluster.  *cls gets the class or cluster index (may be NULL).
 */
static double
MfPredScore(MfPredModel *m, const double *z, int *cls)
{
	int			c = 0;
	double		v;

	switch (m->family)
	{
		case MF_ART_FAMILY_LINEAR_REGRESSION:
			return MfPredLinear(m->coef, m->intercept[0], m->p, z);
		case MF_ART_FAMILY_LOGISTIC_REGRESSION:
			mfk_logreg_predict_proba_row(m->coef, m->intercept, m->p, m->n_labels,
										 m->multinomial, z, m->out);
			c = MfPredArgmax(m->out, m->n_labels);
			v = MfPredClassValue(m, c);
			break;
		case MF_ART_FAMILY_MLP:
			MfPredMlpRow(&m->mlp, z, m->out, m->scratch);
			if (!m->classify)
				return m->out[0];
			c = MfPredArgmax(m->out, m->n_labels);
			v = MfPredClassValue(m, c);
			break;
		default:				/* kmeans */
			c = mfk_kmeans_assign_row(m->centers, m->k, m->p, z, NULL);
			v = (double) c;
			break;
	}
	if (cls)
		*cls = c;
	return v;
}

/* Score one raw row (scaled here as in training); see MfPredScore. */
static inline double
MfPredRow(MfPredModel *m, const double *x, int *cls)
{
	return MfPredScore(m, MfPredScaled(m, x), cls);
}

/* ------------------------------------------------------------ inputs */

/* The model's expanded feature names, comma-separated (at most 20). */
static char *
MfPredFeatureList(const MfPredModel *m)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (size_t j = 0; j < m->p && j < 20; j++)
		appendStringInfo(&buf, "%s%s", j ? ", " : "", m->feature_names[j]);
	if (m->p > 20)
		appendStringInfoString(&buf, ", ...");
	return buf.data;
}

/* Raise 22023 for n features in ndim dimensions where the model wants p. */
static void
MfPredBadLength(const MfPredModel *m, int ndim, int n)
{
	if (ndim > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" expects a one-dimensional array of %zu features, got a %d-dimensional array",
						m->ref, m->p, ndim),
				 errhint("mf_predict_batch() scores a two-dimensional array of rows.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("model \"%s\" expects %zu features, got %d", m->ref, m->p, n),
			 errdetail("Expected, in order: %s.", MfPredFeatureList(m)),
			 errhint("Pass the raw (unscaled) expanded features in the order of feature_schema -> 'features'.")));
}

/* Raise 22004 for a NULL feature. */
static void
MfPredNullFeature(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("features must not contain NULL"),
			 errhint("Use the record or jsonb form to impute missing values.")));
}

/* The features of a float8[] argument, checked against the model. */
static inline const double *
MfPredArrayArg(const MfPredModel *m, ArrayType *a)
{
	if (unlikely(ARR_ELEMTYPE(a) != FLOAT8OID))
		elog(ERROR, "features must be float8[]");
	if (unlikely(ARR_NDIM(a) != 1 || (size_t) ARR_DIMS(a)[0] != m->p))
		MfPredBadLength(m, ARR_NDIM(a), ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)));
	if (unlikely(ARR_HASNULL(a)))
		MfPredNullFeature();
	return (const double *) ARR_DATA_PTR(a);
}

/* Set a numeric or boolean column of the raw row (NULL: imputed). */
static inline void
MfPredSetNumber(const MfPredColumn *col, double *row, double v, bool isnull)
{
	row[col->offset] = isnull ? col->impute_num : v;
}

/* Byte order of (s, len) against a NUL-terminated category. */
static inline int
MfPredCatCmp(const char *s, int len, const char *cat, int catlen)
{
	int			r = memcmp(s, cat, Min(len, catlen));

	if (r != 0)
		return r;
	return len < catlen ? -1 : (len > catlen ? 1 : 0);
}

/* One-hot encode a categorical column (NULL: imputed; unseen: zeros). */
static void
MfPredSetCategory(const MfPredColumn *col, double *row, const char *s, int len, bool isnull)
{
	int			lo = 0,
				hi = col->n_cats - 1;

	memset(row + col->offset, 0, sizeof(double) * col->n_cats);
	if (isnull)
	{
		if (col->impute_str == NULL)
			return;
		s = col->impute_str;
		len = (int) strlen(s);
	}
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			r = MfPredCatCmp(s, len, col->cats[mid], col->cat_lens[mid]);

		if (r == 0)
		{
			row[col->offset + mid] = 1.0;
			return;
		}
		if (r < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
}

/* True for the types read as numbers. */
static bool
MfPredNumericType(Oid t)
{
	return t == INT2OID || t == INT4OID || t == INT8OID || t == FLOAT4OID ||
		t == FLOAT8OID || t == NUMERICOID || t == BOOLOID;
}

/*
 * Map the model's columns to input positions by name (once per query):
 * names[k] (NULL for a dropped column) has type typids[k].
 */
static void
MfPredMapNames(MfPredCall *c, MfPredModel *m, int n, char **names, const Oid *typids)
{
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(c));

	c->attnos = palloc(sizeof(int) * Max(m->ncols, 1));
	c->typids = palloc(sizeof(Oid) * Max(m->ncols, 1));
	c->outfns = palloc0(sizeof(FmgrInfo) * Max(m->ncols, 1));
	for (int i = 0; i < m->ncols; i++)
	{
		MfPredColumn *col = &m->cols[i];
		int			a;

		for (a = 0; a < n; a++)
			if (names[a] != NULL && strcmp(names[a], col->name) == 0)
				break;
		if (a == n)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist in the input row", col->name),
					 errdetail("Model \"%s\" reads the columns of its feature schema by name.", m->ref),
					 errhint("Select or alias a column named \"%s\".", col->name)));
		c->attnos[i] = a;
		c->typids[i] = typids[a];
		if (col->kind != MF_COL_CATEGORICAL && !MfPredNumericType(c->typids[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has type %s, but the model was trained on a number",
							col->name, format_type_be(c->typids[i]))));
		if (col->kind == MF_COL_CATEGORICAL && c->typids[i] != TEXTOID &&
			c->typids[i] != VARCHAROID && c->typids[i] != BPCHAROID)
		{
			Oid			fn;
			bool		varlena;

			getTypeOutputInfo(c->typids[i], &fn, &varlena);
			fmgr_info(fn, &c->outfns[i]);
		}
	}
	MemoryContextSwitchTo(old);
	c->map_version = m->version_id;
}

/* Map the model's columns to the row type's attributes (once per query). */
static void
MfPredMapColumns(MfPredCall *c, MfPredModel *m, Oid tup_type, int32 tup_typmod)
{
	TupleDesc	td = lookup_rowtype_tupdesc(tup_type, tup_typmod);
	char	  **names = palloc(sizeof(char *) * Max(td->natts, 1));
	Oid		   *typids = palloc(sizeof(Oid) * Max(td->natts, 1));
	MemoryContext old;

	for (int a = 0; a < td->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(td, a);

		names[a] = att->attisdropped ? NULL : pstrdup(NameStr(att->attname));
		typids[a] = att->atttypid;
	}
	old = MemoryContextSwitchTo(GetMemoryChunkContext(c));
	c->tupdesc = CreateTupleDescCopy(td);
	c->values = palloc(sizeof(Datum) * Max(td->natts, 1));
	c->nulls = palloc(sizeof(bool) * Max(td->natts, 1));
	MemoryContextSwitchTo(old);
	c->attnos = NULL;			/* incomplete until mapped */
	MfPredMapNames(c, m, td->natts, names, typids);
	ReleaseTupleDesc(td);
	c->tup_type = tup_type;
	c->tup_typmod = tup_typmod;
}

/* Encode the value of schema column i into row (NULL: imputed). */
static inline void
MfPredEncodeColumn(const MfPredCall *c, const MfPredModel *m, int i, Datum d, bool isnull,
				   double *row)
{
	const MfPredColumn *col = &m->cols[i];

	if (col->kind != MF_COL_CATEGORICAL)
	{
		double		v = isnull ? 0.0 : likely(c->typids[i] == FLOAT8OID) ?
			DatumGetFloat8(d) : MfDatumToDouble(d, c->typids[i]);

		if (unlikely(!isnull && !isfinite(v)))
			MfPredNotFinite(m, col->offset, v);
		MfPredSetNumber(col, row, v, isnull);
	}
	else if (isnull)
		MfPredSetCategory(col, row, NULL, 0, true);
	else if (c->outfns[i].fn_oid == InvalidOid)
	{
		text	   *t = DatumGetTextPP(d);

		MfPredSetCategory(col, row, VARDATA_ANY(t), (int) VARSIZE_ANY_EXHDR(t), false);
	}
	else
	{
		char	   *s = OutputFunctionCall((FmgrInfo *) &c->outfns[i], d);

		MfPredSetCategory(col, row, s, (int) strlen(s), false);
	}
}

/* Encode a record into m->xraw with the model's schema. */
static const double *
MfPredRecordArg(FunctionCallInfo fcinfo, MfPredModel *m, HeapTupleHeader th)
{
	MfPredCall *c = (MfPredCall *) fcinfo->flinfo->fn_extra;
	Oid			tup_type = HeapTupleHeaderGetTypeId(th);
	int32		tup_typmod = HeapTupleHeaderGetTypMod(th);
	HeapTupleData tuple;
	double	   *row = m->xraw;

	if (c->tup_type != tup_type || c->tup_typmod != tup_typmod ||
		c->map_version != m->version_id || c->attnos == NULL)
		MfPredMapColumns(c, m, tup_type, tup_typmod);
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	heap_deform_tuple(&tuple, c->tupdesc, c->values, c->nulls);
	for (int i = 0; i < m->ncols; i++)
	{
		int			a = c->attnos[i];

		MfPredEncodeColumn(c, m, i, c->nulls[a] ? (Datum) 0 : c->values[a], c->nulls[a], row);
	}
	return row;
}

/* Raise 22023 for a JSON value that cannot feed column col. */
static void
MfPredBadJson(const MfPredColumn *col, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("feature \"%s\" %s", col->name, why)));
}

/* The model module's work buffers over the model's preallocated ones. */
static inline MfModelWork
MfPredWork(MfPredModel *m)
{
	MfModelWork w = {m->xraw, m->xbuf, m->out, m->scratch};

	return w;
}

/* Raise the SQL error of a row the model module refused. */
static void
MfPredModuleError(const MfPredModel *m, const MfModelError *err)
{
	if (err->status == MF_MODEL_NOT_FINITE)
		MfPredNotFinite(m, (size_t) err->feature, err->value);
	if (err->status == MF_MODEL_MISSING)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("feature \"%s\" is missing from the input", m->cols[err->column].name),
				 errdetail("Model \"%s\" needs every column of its feature schema; give null to impute.", m->ref)));
	if (err->status == MF_MODEL_BAD_VALUE && err->column >= 0)
		MfPredBadJson(&m->cols[err->column], err->detail);
	elog(ERROR, "model \"%s\" could not score a row: %s", m->ref, err->detail);
}

/* Encode one JSON object of named features into m->xraw (model module). */
static const double *
MfPredJsonArg(MfPredModel *m, json_t *obj)
{
	MfModelError err;

	if (!json_is_object(obj))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input must be a JSON object of named features or an array of them"),
				 errdetail("Got a JSON %s.", json_is_array(obj) ? "array" :
						   json_is_string(obj) ? "string" : json_is_number(obj) ? "number" : "scalar")));
	if (mf_trained_model_encode_json(&m->tm, obj, m->xraw, &err) != MF_MODEL_OK)
		MfPredModuleError(m, &err);
	return m->xraw;
}

/* ------------------------------------------------------------ results */

/* Raise 42809 when a model has no classes. */
static void
MfPredRequireClassifier(const MfPredModel *m, const char *fn)
{
	if (!m->classify)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s needs a classifier, but model \"%s\" is a %s model",
						fn, m->ref, mf_artifact_family_name(m->family)),
				 errhint("Use mf_predict() for regression values and cluster numbers.")));
}

/* The label text of a prediction (value or cluster number otherwise). */
static text *
MfPredLabelText(const MfPredModel *m, double v, int cls)
{
	if (m->classify)
		return cstring_to_text(m->labels[cls]);
	return cstring_to_text(float8out_internal(v));
}

/* The probabilities of the last scored row as float8[]. */
static ArrayType *
MfPredProbaArray(const MfPredModel *m)
{
	Datum	   *d = palloc(sizeof(Datum) * m->n_labels);

	for (int k = 0; k < m->n_labels; k++)
		d[k] = Float8GetDatum(m->out[k]);
	return construct_array(d, m->n_labels, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* ------------------------------------------------------------ SQL: array and record */

PG_FUNCTION_INFO_V1(mf_predict);
PG_FUNCTION_INFO_V1(mf_predict_record);
PG_FUNCTION_INFO_V1(mf_predict_label);
PG_FUNCTION_INFO_V1(mf_predict_label_record);
PG_FUNCTION_INFO_V1(mf_predict_proba);
PG_FUNCTION_INFO_V1(mf_predict_proba_record);

/* mf_predict(ref, float8[]): value, class or cluster. */
Datum
mf_predict(PG_FUNCTION_ARGS)
{
	MfPredModel *m = MfPredModelFor(fcinfo);
	const double *x = MfPredArrayArg(m, PG_GETARG_ARRAYTYPE_P(1));

	PG_RETURN_FLOAT8(MfPredRow(m, x, NULL));
}

/* mf_predict(ref, record): features by column name. */
Datum
mf_predict_record(PG_FUNCTION_ARGS)
{
	MfPredModel *m = MfPredModelFor(fcinfo);
	const double *x = MfPredRecordArg(fcinfo, m, PG_GETARG_HEAPTUPLEHEADER(1));

	PG_RETURN_FLOAT8(MfPredRow(m, x, NULL));
}

/* mf_predict_label(ref, float8[]): the label text. */
Datum
mf_predict_label(PG_FUNCTION_ARGS)
{
	MfPredModel *m = MfPredModelFor(fcinfo);
	const double *x = MfPredArrayArg(m, PG_GETARG_ARRAYTYPE_P(1));
	int			cls = 0;
	double		v = MfPredRow(m, x, &cls);

	PG_RETURN_TEXT_P(MfPredLabelText(m, v, cls));
}

/* mf_predict_label(ref, record). */
Datum
mf_predict_label_record(PG_FUNCTION_ARGS)
{
	MfPredModel *m = MfPredModelFor(fcinfo);
	const double *x = MfPredRecordArg(fcinfo, m, PG_GETARG_HEAPTUPLEHEADER(1));
	int			cls = 0;
	double		v = MfPredRow(m, x, &cls);

	PG_RETURN_TEXT_P(MfPredLabelText(m, v, cls));
}

/* mf_predict_proba(ref, float8[]): class probabilities in label order. */
Datum
mf_predict_proba(PG_FUNCTION_ARGS)
{
	MfPredModel *m = MfPredModelFor(fcinfo);
	const double *x;

	MfPredRequireClassifier(m, "mf_predict_proba()");
	x = MfPredArrayArg(m, PG_GETARG_ARRAYTYPE_P(1));
	MfPredRow(m, x, NULL);
	PG_RETURN_ARRAYTYPE_P(MfPredProbaArray(m));
}

/* mf_predict_proba(ref, record). */
Datum
mf_predict_proba_record(PG_FUNCTION_ARGS)
{
	MfPredModel *m = MfPredModelFor(fcinfo);
	const double *x;

	MfPredRequireClassifier(m, "mf_predict_proba()");
	x = MfPredRecordArg(fcinfo, m, PG_GETARG_HEAPTUPLEHEADER(1));
	MfPredRow(m, x, NULL);
	PG_RETURN_ARRAYTYPE_P(MfPredProbaArray(m));
}

/* ------------------------------------------------------------ SQL: argument forms */

/*
 * The planner support function (predict_support.c) rewrites
 * mf_predict(ref, ARRAY[e1, ..., ep]) into mf._predict_args(ref, e1, ..., ep)
 * and mf_predict(ref, t) of a table row into mf._predict_cols(ref, names,
 * c1, ..., cn): the executor then passes the values straight to fcinfo,
 * with no array or row built per row.  Results and errors are those of
 * the forms they replace.
 */

/* Check once per call site that the arguments from first on are float8. */
static void
MfPredCheckFloatArgs(FunctionCallInfo fcinfo, int first)
{
	MfPredCall *c = (MfPredCall *) fcinfo->flinfo->fn_extra;

	for (int k = first; k < PG_NARGS(); k++)
		if (get_fn_expr_argtype(fcinfo->flinfo, k) != FLOAT8OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("features must be float8, argument %d is %s", k + 1,
							format_type_be(get_fn_expr_argtype(fcinfo->flinfo, k))),
					 errhint("Call mf_predict(ref, ARRAY[...]) rather than this internal form.")));
	c->args_checked = true;
}

/* The features passed as arguments from first on, scaled as in training. */
static inline const double *
MfPredArgsArg(FunctionCallInfo fcinfo, MfPredModel *m, int first)
{
	MfPredCall *c = (MfPredCall *) fcinfo->flinfo->fn_extra;
	const NullableDatum *args = fcinfo->args + first;
	int			n = PG_NARGS() - first;
	double	   *z = m->xbuf;

	if (unlikely(!c->args_checked))
		MfPredCheckFloatArgs(fcinfo, first);
	if (unlikely((size_t) n != m->p))
		MfPredBadLength(m, 1, n);
	for (int j = 0; j < n; j++)
	{
		double		x = DatumGetFloat8(args[j].value);

		if (unlikely(args[j].isnull))
			MfPredNullFeature();
		z[j] = m->standardize ? (x - m->center[j]) / m->scale[j] : x;
		if (unlikely(!isfinite(z[j])))
			MfPredNotFinite(m, j, x);
	}
	return z;
}

/* Map the model's columns to the named arguments (once per query). */
static void
MfPredMapArgs(FunctionCallInfo fcinfo, MfPredCall *c, MfPredModel *m, ArrayType *names)
{
	Datum	   *d;
	bool	   *nulls;
	int			n;
	char	  **cnames;
	Oid		   *typids;

	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, &n);
	if (n != PG_NARGS() - 2)
		elog(ERROR, "mf._predict_cols got %d names for %d columns", n, PG_NARGS() - 2);
	cnames = palloc(sizeof(char *) * Max(n, 1));
	typids = palloc(sizeof(Oid) * Max(n, 1));
	for (int k = 0; k < n; k++)
	{
		cnames[k] = nulls[k] ? NULL : TextDatumGetCString(d[k]);
		typids[k] = get_fn_expr_argtype(fcinfo->flinfo, k + 2);
	}
	MfPredMapNames(c, m, n, cnames, typids);
}

/* Encode the column arguments (ref, names, c1, ..., cn) into m->xraw. */
static inline const double *
MfPredColsArg(FunctionCallInfo fcinfo, MfPredModel *m)
{
	MfPredCall *c = (MfPredCall *) fcinfo->flinfo->fn_extra;
	double	   *row = m->xraw;

	if (unlikely(c->attnos == NULL || c->map_version != m->version_id))
		MfPredMapArgs(fcinfo, c, m, PG_GETARG_ARRAYTYPE_P(1));
	for (int i = 0; i < m->ncols; i++)
	{
		NullableDatum *a = &fcinfo->args[2 + c->attnos[i]];

		MfPredEncodeColumn(c, m, i, a->value, a->isnull, row);
	}
	return row;
}

/* What an argument form returns. */
typedef enum MfPredWhat
{
	MF_PRED_VALUE,
	MF_PRED_LABEL,
	MF_PRED_PROBA
} MfPredWhat;

/* One argument form: features as plain values (cols: named columns). */
static Datum
MfPredArgsForm(FunctionCallInfo fcinfo, bool cols, MfPredWhat what)
{
	MfPredModel *m;
	int			cls = 0;
	double		v;

	if (unlikely(PG_ARGISNULL(0)))
		PG_RETURN_NULL();
	m = MfPredModelFor(fcinfo);
	if (what == MF_PRED_PROBA)
		MfPredRequireClassifier(m, "mf_predict_proba()");
	if (cols)
		v = MfPredRow(m, MfPredColsArg(fcinfo, m), &cls);
	else
		v = MfPredScore(m, MfPredArgsArg(fcinfo, m, 1), &cls);
	if (what == MF_PRED_VALUE)
		PG_RETURN_FLOAT8(v);
	if (what == MF_PRED_LABEL)
		PG_RETURN_TEXT_P(MfPredLabelText(m, v, cls));
	PG_RETURN_ARRAYTYPE_P(MfPredProbaArray(m));
}

PG_FUNCTION_INFO_V1(mf_predict_args);
PG_FUNCTION_INFO_V1(mf_predict_label_args);
PG_FUNCTION_INFO_V1(mf_predict_proba_args);
PG_FUNCTION_INFO_V1(mf_predict_cols);
PG_FUNCTION_INFO_V1(mf_predict_label_cols);
PG_FUNCTION_INFO_V1(mf_predict_proba_cols);

/* mf._predict_args(ref, x1, ..., xp): mf_predict(ref, ARRAY[x1, ..., xp]). */
Datum
mf_predict_args(PG_FUNCTION_ARGS)
{
	return MfPredArgsForm(fcinfo, false, MF_PRED_VALUE);
}

/* mf._predict_label_args(ref, x1, ..., xp). */
Datum
mf_predict_label_args(PG_FUNCTION_ARGS)
{
	return MfPredArgsForm(fcinfo, false, MF_PRED_LABEL);
}

/* mf._predict_proba_args(ref, x1, ..., xp). */
Datum
mf_predict_proba_args(PG_FUNCTION_ARGS)
{
	return MfPredArgsForm(fcinfo, false, MF_PRED_PROBA);
}

/* mf._predict_cols(ref, names, c1, ..., cn): mf_predict(ref, row). */
Datum
mf_predict_cols(PG_FUNCTION_ARGS)
{
	return MfPredArgsForm(fcinfo, true, MF_PRED_VALUE);
}

/* mf._predict_label_cols(ref, names, c1, ..., cn). */
Datum
mf_predict_label_cols(PG_FUNCTION_ARGS)
{
	return MfPredArgsForm(fcinfo, true, MF_PRED_LABEL);
}

/* mf._predict_proba_cols(ref, names, c1, ..., cn). */
Datum
mf_predict_proba_cols(PG_FUNCTION_ARGS)
{
	return MfPredArgsForm(fcinfo, true, MF_PRED_PROBA);
}

/* ------------------------------------------------------------ SQL: jsonb */

/* The prediction for one encoded row as a JSON object (model module). */
static json_t *
MfPredJsonResult(MfPredModel *m, const double *x)
{
	json_t	   *o = json_pack("{}");
	MfModelWork w = MfPredWork(m);
	MfModelScore sc;
	MfModelError err;

	if (mf_trained_model_score(&m->tm, x, &w, &sc, &err) != MF_MODEL_OK)
		MfPredModuleError(m, &err);
	json_object_set_new(o, "prediction", json_real(sc.value));
	if (sc.label != NULL)
	{
		json_t	   *pr = json_pack("{}");

		json_object_set_new(o, "label", json_string(sc.label));
		for (int k = 0; k < m->n_labels; k++)
			json_object_set_new(pr, m->labels[k], json_real(sc.proba[k]));
		json_object_set_new(o, "probabilities", pr);
	}
	else if (m->family == MF_ART_FAMILY_KMEANS)
		json_object_set_new(o, "cluster", json_integer(sc.index));
	return o;
}

PG_FUNCTION_INFO_V1(mf_predict_jsonb);

/* mf_predict(ref, jsonb): one object or an array of objects. */
Datum
mf_predict_jsonb(PG_FUNCTION_ARGS)
{
	MfPredModel *m = MfPredModelFor(fcinfo);
	json_t	   *in = MfJsonbToJansson(PG_GETARG_JSONB_P(1), "input");
	json_t	   *out;

	if (json_is_array(in))
	{
		size_t		i;
		json_t	   *item;

		out = json_array();
		json_array_foreach(in, i, item)
			json_array_append_new(out, MfPredJsonResult(m, MfPredJsonArg(m, item)));
	}
	else
		out = MfPredJsonResult(m, MfPredJsonArg(m, in));
	PG_RETURN_JSONB_P(MfJanssonToJsonb(out));
}

/* ------------------------------------------------------------ SQL: batch */

/* Raise for a kernel failure in batch scoring. */
static inline void
MfPredCheck(int err)
{
	if (unlikely(err != MF_KOK))
		MfKernelError(err, "predicting");
}

PG_FUNCTION_INFO_V1(mf_predict_batch);

/* mf_predict_batch(ref, float8[][]): n rows scored with one matrix product. */
Datum
mf_predict_batch(PG_FUNCTION_ARGS)
{
	MfPredModel *m = MfPredModelFor(fcinfo);
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
	size_t		n,
				p = m->p;
	const double *X;
	double	   *res;
	Datum	   *d;
	MfEnv		env;

	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		elog(ERROR, "features must be float8[][]");
	if (ARR_NDIM(a) == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(FLOAT8OID));
	if (ARR_NDIM(a) != 2 || (size_t) ARR_DIMS(a)[1] != p)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" expects rows of %zu features, got %s",
						m->ref, p, ARR_NDIM(a) == 2 ? psprintf("%d", ARR_DIMS(a)[1]) :
						psprintf("a %d-dimensional array", ARR_NDIM(a))),
				 errhint("Pass a two-dimensional array, one row of raw expanded features per prediction.")));
	if (ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("features must not contain NULL")));
	n = (size_t) ARR_DIMS(a)[0];
	X = (const double *) ARR_DATA_PTR(a);
	{
		double	   *Z = MfHugeAlloc(mul_size(mul_size(n, p), sizeof(double)));

		for (size_t i = 0; i < n; i++)
		{
			const double *x = X + i * p;
			double	   *z = Z + i * p;

			for (size_t j = 0; j < p; j++)
			{
				z[j] = m->standardize ? (x[j] - m->center[j]) / m->scale[j] : x[j];
				if (!isfinite(z[j]))
					MfPredNotFinite(m, j, x[j]);
			}
		}
		X = Z;
	}
	env = MfMakeEnv();
	res = MfHugeAlloc(mul_size(n, sizeof(double)));
	switch (m->family)
	{
		case MF_ART_FAMILY_LINEAR_REGRESSION:
			MfPredCheck(mfk_linear_predict(&env, X, n, p, m->coef, m->intercept[0], res));
			break;
		case MF_ART_FAMILY_KMEANS:
			{
				int		   *lab = MfHugeAlloc(mul_size(n, sizeof(int)));

				MfPredCheck(mfk_kmeans_assign(&env, m->centers, m->k, p, X, n, lab, NULL));
				for (size_t i = 0; i < n; i++)
					res[i] = (double) lab[i];
			}
			break;
		default:
			{
				double	   *out = MfHugeAlloc(mul_size(mul_size(n, m->n_out), sizeof(double)));

				if (m->family == MF_ART_FAMILY_LOGISTIC_REGRESSION)
					MfPredCheck(mfk_logreg_predict_proba(&env, X, n, p, m->coef, m->intercept,
															   m->n_labels, m->multinomial, out));
				else
					MfPredCheck(mfk_mlp_predict(&env, &m->mlp, X, n, out));
				for (size_t i = 0; i < n; i++)
					res[i] = m->classify ?
						MfPredClassValue(m, MfPredArgmax(out + i * m->n_out, m->n_out)) :
						out[i * m->n_out];
			}
			break;
	}
	d = MfHugeAlloc(mul_size(n, sizeof(Datum)));
	for (size_t i = 0; i < n; i++)
		d[i] = Float8GetDatum(res[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, (int) n, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ------------------------------------------------------------ SQL: prewarm */

PG_FUNCTION_INFO_V1(mf_prewarm);

/* mf_prewarm(ref): load a model into this backend's cache. */
Datum
mf_prewarm(PG_FUNCTION_ARGS)
{
	MfPredResolved r;

	MfPredResolve(PG_GETARG_TEXT_PP(0), &r);
	(void) MfPredGetModel(&r);
	PG_RETURN_BOOL(true);
}
