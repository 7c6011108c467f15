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
 * model module.  The record and column forms map the schema's columns to
 * attribute or argument numbers once per query.
 *
 * Everything that knows what a model computes is the model module's
 * (model/model.c, MfPredModel.tm): imputation and one-hot encoding
 * (mf_model_set_number, mf_model_set_category), scaling as in training,
 * the per-row arithmetic of every family (mf_trained_model_score: no BLAS,
 * so a connection that scores rows never loads OpenBLAS), labels and
 * probabilities, and mf_predict_batch's blocked BLAS paths
 * (mf_trained_model_score_batch, which agree with the rows to rounding).
 * This file turns Datums into raw values and module statuses into SQL
 * errors; every row form therefore agrees bit for bit with the module
 * (test/integration/model_module.sh) and with each other.
 */
#include "postgres.h"

#include "mf_core.h"

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

#include "model_pg.h"
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
	MfPredTrack *track;			/* mf.track_predictions: local counts, or NULL */
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
		if (unlikely(c->track != NULL))
		{
			c->track->calls++;
			c->track->rows++;
		}
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
	c->track = MfPredTrackFor(&c->res);
	if (c->track != NULL)
	{
		c->track->calls++;
		c->track->rows++;
	}
	c->generation = MfModelCacheGeneration;
	c->stmt_ts = GetCurrentStatementStartTimestamp();
	c->lxid = MyProc->lxid;
	c->cid = GetCurrentCommandId(false);
	c->ref = (text *) MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE_ANY(ref));
	memcpy(c->ref, ref, VARSIZE_ANY(ref));
	return c->model;
}

/* A call that scores n rows, not one: count the other n - 1 (mf.track_predictions). */
static void
MfPredTrackRows(FunctionCallInfo fcinfo, size_t n)
{
	MfPredCall *c = (MfPredCall *) fcinfo->flinfo->fn_extra;

	if (c != NULL && c->track != NULL)
		c->track->rows = c->track->rows - 1 + n;	/* the call counted one row already */
}

/* ------------------------------------------------------------ scoring */

/* Raise 22000 for a non-finite feature. */
static void
MfPredNotFinite(const MfPredModel *m, size_t j, double v)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("feature \"%s\" is not finite", m->tm.meta.feature_names[j]),
			 errdetail("Got %g for model \"%s\".", v, m->ref),
			 errhint("Replace NaN and infinity by NULL to impute (record and jsonb forms).")));
}

/* Raise 22023 for a JSON value that cannot feed column col. */
static void
MfPredBadJson(const MfMetaColumn *col, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("feature \"%s\" %s", col->name, why)));
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
				 errmsg("feature \"%s\" is missing from the input", m->tm.meta.cols[err->column].name),
				 errdetail("Model \"%s\" needs every column of its feature schema; give null to impute.", m->ref)));
	if (err->status == MF_MODEL_BAD_VALUE && err->column >= 0)
		MfPredBadJson(&m->tm.meta.cols[err->column], err->detail);
	MfModelRaise(err, psprintf("scoring a row of model \"%s\"", m->ref));
}

/* Raise the error of a row the module refused (scored again to learn where). */
static pg_noinline void
MfPredRowError(MfPredModel *m, const double *x)
{
	MfModelError err;
	MfModelScore sc;

	if (mf_trained_model_score(&m->tm, x, &m->work, &sc, &err) != MF_MODEL_OK)
		MfPredModuleError(m, &err);
	elog(ERROR, "model \"%s\" refused a row once", m->ref);
}

/*
 * Score one encoded, unscaled row x through the model module: scaled as in
 * training, checked finite, then the family's arithmetic; the
 * probabilities of a classifier are in m->work.out.  The error record is
 * filled only on the cold path, so the hot one keeps no buffer on its stack.
 */
static inline void
MfPredRow(MfPredModel *m, const double *x, MfModelScore *sc)
{
	if (unlikely(mf_trained_model_score(&m->tm, x, &m->work, sc, NULL) != MF_MODEL_OK))
		MfPredRowError(m, x);
}

/* ------------------------------------------------------------ inputs */

/* The model's expanded feature names, comma-separated (at most 20). */
static char *
MfPredFeatureList(const MfPredModel *m)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (size_t j = 0; j < m->tm.meta.p && j < 20; j++)
		appendStringInfo(&buf, "%s%s", j ? ", " : "", m->tm.meta.feature_names[j]);
	if (m->tm.meta.p > 20)
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
						m->ref, m->tm.meta.p, ndim),
				 errhint("mf_predict_batch() scores a two-dimensional array of rows.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("model \"%s\" expects %zu features, got %d", m->ref, m->tm.meta.p, n),
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
	if (unlikely(ARR_NDIM(a) != 1 || (size_t) ARR_DIMS(a)[0] != m->tm.meta.p))
		MfPredBadLength(m, ARR_NDIM(a), ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)));
	if (unlikely(ARR_HASNULL(a)))
		MfPredNullFeature();
	return (const double *) ARR_DATA_PTR(a);
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

	c->attnos = palloc(sizeof(int) * Max(m->tm.meta.ncols, 1));
	c->typids = palloc(sizeof(Oid) * Max(m->tm.meta.ncols, 1));
	c->outfns = palloc0(sizeof(FmgrInfo) * Max(m->tm.meta.ncols, 1));
	for (int i = 0; i < m->tm.meta.ncols; i++)
	{
		const MfMetaColumn *col = &m->tm.meta.cols[i];
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

/*
 * Encode the value of schema column i into row (NULL: imputed) with the
 * model module's rules; only the Datum's conversion is done here.
 */
static inline void
MfPredEncodeColumn(const MfPredCall *c, const MfPredModel *m, int i, Datum d, bool isnull,
				   double *row)
{
	const MfMetaColumn *col = &m->tm.meta.cols[i];

	if (col->kind != MF_COL_CATEGORICAL)
	{
		double		v = isnull ? 0.0 : likely(c->typids[i] == FLOAT8OID) ?
			DatumGetFloat8(d) : MfDatumToDouble(d, c->typids[i]);

		if (unlikely(!mf_model_set_number(col, row, v, isnull)))
			MfPredNotFinite(m, col->offset, v);
	}
	else if (isnull)
		mf_model_set_category(col, row, NULL, 0, true);
	else if (c->outfns[i].fn_oid == InvalidOid)
	{
		text	   *t = DatumGetTextPP(d);

		mf_model_set_category(col, row, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), false);
	}
	else
	{
		char	   *s = OutputFunctionCall((FmgrInfo *) &c->outfns[i], d);

		mf_model_set_category(col, row, s, strlen(s), false);
	}
}

/* Encode a record into m->work.xraw with the model's schema. */
static const double *
MfPredRecordArg(FunctionCallInfo fcinfo, MfPredModel *m, HeapTupleHeader th)
{
	MfPredCall *c = (MfPredCall *) fcinfo->flinfo->fn_extra;
	Oid			tup_type = HeapTupleHeaderGetTypeId(th);
	int32		tup_typmod = HeapTupleHeaderGetTypMod(th);
	HeapTupleData tuple;
	double	   *row = m->work.xraw;

	if (c->tup_type != tup_type || c->tup_typmod != tup_typmod ||
		c->map_version != m->version_id || c->attnos == NULL)
		MfPredMapColumns(c, m, tup_type, tup_typmod);
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	heap_deform_tuple(&tuple, c->tupdesc, c->values, c->nulls);
	for (int i = 0; i < m->tm.meta.ncols; i++)
	{
		int			a = c->attnos[i];

		MfPredEncodeColumn(c, m, i, c->nulls[a] ? (Datum) 0 : c->values[a], c->nulls[a], row);
	}
	return row;
}

/* Encode one JSON object of named features into m->work.xraw (model module). */
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
	if (mf_trained_model_encode_json(&m->tm, obj, m->work.xraw, &err) != MF_MODEL_OK)
		MfPredModuleError(m, &err);
	return m->work.xraw;
}

/* ------------------------------------------------------------ results */

/* Raise 42809 when a model has no classes. */
static void
MfPredRequireClassifier(const MfPredModel *m, const char *fn)
{
	if (!m->tm.meta.classify)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s needs a classifier, but model \"%s\" is a %s model",
						fn, m->ref, mf_artifact_family_name(m->tm.meta.family)),
				 errhint("Use mf_predict() for regression values and cluster numbers.")));
}

/* The label text of a score (the value or cluster number without labels). */
static text *
MfPredLabelText(const MfModelScore *sc)
{
	if (sc->label != NULL)
		return cstring_to_text(sc->label);
	return cstring_to_text(float8out_internal(sc->value));
}

/* The probabilities of a score as float8[]. */
static ArrayType *
MfPredProbaArray(const MfPredModel *m, const MfModelScore *sc)
{
	int			K = m->tm.meta.n_labels;
	Datum	   *d = palloc(sizeof(Datum) * K);

	for (int k = 0; k < K; k++)
		d[k] = Float8GetDatum(sc->proba[k]);
	return construct_array(d, K, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* ------------------------------------------------------------ inputs of the argument forms */

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

/* The features passed as arguments from first on, copied into m->work.xraw. */
static inline const double *
MfPredArgsArg(FunctionCallInfo fcinfo, MfPredModel *m, int first)
{
	MfPredCall *c = (MfPredCall *) fcinfo->flinfo->fn_extra;
	const NullableDatum *args = fcinfo->args + first;
	int			n = PG_NARGS() - first;
	double	   *x = m->work.xraw;

	if (unlikely(!c->args_checked))
		MfPredCheckFloatArgs(fcinfo, first);
	if (unlikely((size_t) n != m->tm.meta.p))
		MfPredBadLength(m, 1, n);
	for (int j = 0; j < n; j++)
	{
		if (unlikely(args[j].isnull))
			MfPredNullFeature();
		x[j] = DatumGetFloat8(args[j].value);
	}
	return x;
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

/* Encode the column arguments (ref, names, c1, ..., cn) into m->work.xraw. */
static inline const double *
MfPredColsArg(FunctionCallInfo fcinfo, MfPredModel *m)
{
	MfPredCall *c = (MfPredCall *) fcinfo->flinfo->fn_extra;
	double	   *row = m->work.xraw;

	if (unlikely(c->attnos == NULL || c->map_version != m->version_id))
		MfPredMapArgs(fcinfo, c, m, PG_GETARG_ARRAYTYPE_P(1));
	for (int i = 0; i < m->tm.meta.ncols; i++)
	{
		NullableDatum *a = &fcinfo->args[2 + c->attnos[i]];

		MfPredEncodeColumn(c, m, i, a->value, a->isnull, row);
	}
	return row;
}


/*
 * One per-row form (inlined into each SQL function with constant in and
 * what): the model, the row encoded from its input, the module's score.
 */
static pg_attribute_always_inline Datum
MfPredForm(FunctionCallInfo fcinfo, MfPredInput in, MfPredWhat what)
{
	MfPredModel *m;
	const double *x;
	MfModelScore sc;

	/* the internal forms are not strict (their VARIADIC "any" cannot be) */
	if ((in == MF_IN_ARGS || in == MF_IN_COLS) && unlikely(PG_ARGISNULL(0)))
		PG_RETURN_NULL();
	m = MfPredModelFor(fcinfo);
	if (unlikely(m->text != NULL))
		return MfPredTextForm(fcinfo, m, in, what);
	if (what == MF_PRED_PROBA)
		MfPredRequireClassifier(m, "mf_predict_proba()");
	if (in == MF_IN_ARRAY)
		x = MfPredArrayArg(m, PG_GETARG_ARRAYTYPE_P(1));
	else if (in == MF_IN_RECORD)
		x = MfPredRecordArg(fcinfo, m, PG_GETARG_HEAPTUPLEHEADER(1));
	else if (in == MF_IN_ARGS)
		x = MfPredArgsArg(fcinfo, m, 1);
	else
		x = MfPredColsArg(fcinfo, m);
	MfPredRow(m, x, &sc);
	if (what == MF_PRED_VALUE)
		PG_RETURN_FLOAT8(sc.value);
	if (what == MF_PRED_LABEL)
		PG_RETURN_TEXT_P(MfPredLabelText(&sc));
	PG_RETURN_ARRAYTYPE_P(MfPredProbaArray(m, &sc));
}

/* ------------------------------------------------------------ SQL: per-row forms */

/*
 * The per-row SQL functions, each a call of MfPredForm: for every input,
 * mf_predict<suffix> (value, class or cluster), mf_predict_label<suffix>
 * (the label text) and mf_predict_proba<suffix> (class probabilities).
 */
#define MF_PRED_FUNCTION(name, in, what) \
	PG_FUNCTION_INFO_V1(name); \
	Datum name(PG_FUNCTION_ARGS) { return MfPredForm(fcinfo, in, what); }
#define MF_PRED_FUNCTIONS(suffix, in) \
	MF_PRED_FUNCTION(mf_predict##suffix, in, MF_PRED_VALUE) \
	MF_PRED_FUNCTION(mf_predict_label##suffix, in, MF_PRED_LABEL) \
	MF_PRED_FUNCTION(mf_predict_proba##suffix, in, MF_PRED_PROBA)

/* mf_predict(ref, float8[]), mf_predict_label(ref, float8[]), mf_predict_proba(ref, float8[]) */
MF_PRED_FUNCTIONS(, MF_IN_ARRAY)
/* mf_predict_record, mf_predict_label_record, mf_predict_proba_record: (ref, record) */
MF_PRED_FUNCTIONS(_record, MF_IN_RECORD)
/* mf_predict_args, ...: mf._predict_args(ref, x1, ..., xp) = mf_predict(ref, ARRAY[x1, ..., xp]) */
MF_PRED_FUNCTIONS(_args, MF_IN_ARGS)
/* mf_predict_cols, ...: mf._predict_cols(ref, names, c1, ..., cn) = mf_predict(ref, row) */
MF_PRED_FUNCTIONS(_cols, MF_IN_COLS)

/* ------------------------------------------------------------ SQL: jsonb */

/* The prediction for one encoded row as a JSON object (model module). */
static json_t *
MfPredJsonResult(MfPredModel *m, const double *x)
{
	json_t	   *o = json_pack("{}");
	MfModelScore sc;

	MfPredRow(m, x, &sc);
	json_object_set_new(o, "prediction", json_real(sc.value));
	if (sc.label != NULL)
	{
		json_t	   *pr = json_pack("{}");

		json_object_set_new(o, "label", json_string(sc.label));
		for (int k = 0; k < m->tm.meta.n_labels; k++)
			json_object_set_new(pr, m->tm.meta.labels[k], json_real(sc.proba[k]));
		json_object_set_new(o, "probabilities", pr);
	}
	else if (m->tm.meta.family == MF_ART_FAMILY_KMEANS)
		json_object_set_new(o, "cluster", json_integer(sc.index));
	return o;
}

PG_FUNCTION_INFO_V1(mf_predict_jsonb);

/* mf_predict(ref, jsonb): one object or an array of objects. */
Datum
mf_predict_jsonb(PG_FUNCTION_ARGS)
{
	MfPredModel *m = MfPredRequireTabular(MfPredModelFor(fcinfo), "mf_predict(text, jsonb)");
	json_t	   *in = MfJsonbToJansson(PG_GETARG_JSONB_P(1), "input");
	json_t	   *out;

	if (json_is_array(in))
	{
		size_t		i;
		json_t	   *item;

		out = json_array();
		MfPredTrackRows(fcinfo, json_array_size(in));
		json_array_foreach(in, i, item)
			json_array_append_new(out, MfPredJsonResult(m, MfPredJsonArg(m, item)));
	}
	else
		out = MfPredJsonResult(m, MfPredJsonArg(m, in));
	PG_RETURN_JSONB_P(MfJanssonToJsonb(out));
}

/* ------------------------------------------------------------ SQL: batch */

PG_FUNCTION_INFO_V1(mf_predict_batch);

/*
 * mf_predict_batch(ref, float8[][]): n rows scored by the model module's
 * batch scorer (one matrix product per layer).
 */
Datum
mf_predict_batch(PG_FUNCTION_ARGS)
{
	MfPredModel *m = MfPredRequireTabular(MfPredModelFor(fcinfo), "mf_predict_batch()");
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
	size_t		n,
				p = m->tm.meta.p;
	double	   *res;
	Datum	   *d;
	MfEnv		env = MfKernelEnv();
	MfModelError err;

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
	MfPredTrackRows(fcinfo, n);
	res = MfHugeAlloc(mul_size(n, sizeof(double)));
	if (mf_trained_model_score_batch(&m->tm, &env, (const double *) ARR_DATA_PTR(a), n, res,
									 NULL, &err) != MF_MODEL_OK)
		MfPredModuleError(m, &err);
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
