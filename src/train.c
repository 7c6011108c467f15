/*
 * train.c - SQL entry points of in-database training.
 *
 * mf_train() and mf_evaluate() are PL/pgSQL (catalog work: resolving,
 * deriving versions, validating option keys, updating rows, events); the
 * arguments are checked (train_args.c) and the numeric work is done here:
 *   mf._train_run(family, config, source, target, options, author, search_path)
 *       -> (artifact, format_version, feature_schema, metrics, config_updates, test_rows,
 *           reference)  (reference: drift.c, the raw rows' distributions)
 *   mf._check_training(config, source, target, options, author, search_path)
 *       the checks of _train_run and one row read, when a job is queued
 *   mf._evaluate_run(artifact, source, target, author, search_path) -> jsonb
 *   mf._artifact_tensors(artifact) -> jsonb {tensor: [values]}
 * Each run works in its own memory context, deleted before returning; an
 * ERROR anywhere frees everything with the transaction.
 */
#include "postgres.h"

#include "mf_core.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "artifact.h"
#include "train.h"

/* A text argument as a C string, or NULL. */
static char *
MfTextArg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Raise 22004 for a NULL argument. */
static void
MfRequireArg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
}

/* Rows below which a column of distinct values is not called an identifier. */
#define MF_ID_LIKE_MIN_ROWS 50

/* Hash of row r of column c (integer value or category text). */
static uint32
MfCellHash(const MfDataset *ds, const MfColumn *c, size_t r)
{
	if (c->kind == MF_COL_CATEGORICAL)
		return hash_bytes((const unsigned char *) c->str[r], strlen(c->str[r]));
	return hash_bytes_uint32((uint32) (int64) MfNum(ds, c, r)) ^ (uint32) ((int64) MfNum(ds, c, r) >> 32);
}

/* Rows a and b of column c hold the same value. */
static bool
MfCellEqual(const MfDataset *ds, const MfColumn *c, size_t a, size_t b)
{
	if (c->kind == MF_COL_CATEGORICAL)
		return strcmp(c->str[a], c->str[b]) == 0;
	return MfNum(ds, c, a) == MfNum(ds, c, b);
}

/*
 * Does column c hold a different non-NULL value in every row, like a
 * customer_id?  Only integer and text columns are looked at; an open
 * addressing set of row numbers stops at the first repeated value, which
 * comes early in an ordinary column.
 */
static bool
MfColumnIsIdLike(const MfDataset *ds, const MfColumn *c)
{
	size_t		cap = 1;
	int64	   *slot;

	if (ds->n < MF_ID_LIKE_MIN_ROWS ||
		!(c->kind == MF_COL_CATEGORICAL || c->typid == INT2OID || c->typid == INT4OID || c->typid == INT8OID))
		return false;
	while (cap < 2 * ds->n)
		cap <<= 1;
	slot = palloc_extended(cap * sizeof(int64), MCXT_ALLOC_HUGE);
	memset(slot, 0xff, cap * sizeof(int64));
	for (size_t r = 0; r < ds->n; r++)
	{
		size_t		h;

		if (MfColIsNull(c, r))
			return false;
		for (h = MfCellHash(ds, c, r) & (cap - 1); slot[h] >= 0; h = (h + 1) & (cap - 1))
			if (MfCellEqual(ds, c, (size_t) slot[h], r))
				return false;
		slot[h] = (int64) r;
		if ((r & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/* The names of the feature columns that look like identifiers. */
static json_t *
MfIdLikeColumns(const MfDataset *ds)
{
	json_t	   *names = json_array();

	for (int i = 0; i < ds->ncols; i++)
		if (MfColumnIsIdLike(ds, &ds->cols[i]))
			json_array_append_new(names, json_string(ds->cols[i].name));
	return names;
}

/*
 * Name the identifier-like feature columns in a NOTICE each and in the
 * returned JSON array of warnings (kept in the training spec): they are
 * features by default, and rarely mean to be.
 */
static json_t *
MfIdLikeWarnings(json_t *names)
{
	json_t	   *warnings = json_array();
	size_t		i;
	json_t	   *name;

	json_array_foreach(names, i, name)
	{
		ereport(NOTICE,
				(errmsg("column \"%s\" has a different value in every row, like an identifier, and is a feature",
						json_string_value(name)),
				 errhint("List the features in option \"features\" to leave it out.")));
		json_array_append_new(warnings,
							  json_string(psprintf("column \"%s\" has a different value in every row (an identifier?) and is a feature",
												   json_string_value(name))));
	}
	return warnings;
}

PG_FUNCTION_INFO_V1(mf_train_run);

/* mf._train_run(family, config, source, target, options, author, search_path) */
Datum
mf_train_run(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext runctx;
	MfTrainArgs args;
	json_t	   *metrics,
			   *updates,
			   *schema,
			   *reference;
	bytea	   *artifact;
	MfDataset  *ds;
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	HeapTuple	tuple;
	json_t	   *warnings;

	MfRequireArg(fcinfo, 0, "family");
	MfRequireArg(fcinfo, 1, "config");
	MfRequireArg(fcinfo, 2, "source");
	MfRequireArg(fcinfo, 4, "options");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	runctx = AllocSetContextCreate(caller, "mf training", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(runctx);
	MfReadTrainArgs(&args, MfTextArg(fcinfo, 0),
					MfJsonbToJansson(PG_GETARG_JSONB_P(1), "model config"),
					MfTextArg(fcinfo, 3), MfJsonbToJansson(PG_GETARG_JSONB_P(4), "options"));

	ds = MfNewDataset(fcinfo, 5);
	MfPhaseStart();
	MfReadSource(ds, MfTextArg(fcinfo, 2), args.target, args.features, args.max_rows,
				 args.classify, false);
	MfPhaseEnd("read");
	reference = MfReferenceDistributions(ds);	/* raw rows: before encoding reuses them */
	MfPhaseEnd("reference");
	/* on the raw rows, which training rearranges; said once training succeeded */
	warnings = args.features == NULL && args.family != MF_FAMILY_TRANSFORMER ?
		MfIdLikeColumns(ds) : json_array();
	if (args.classify)
		MfMapLabels(ds);
	MfPhaseEnd("labels");
	if (args.family == MF_FAMILY_TRANSFORMER)
		metrics = MfTrainTransformer(ds, &args, &artifact, &updates, &schema);
	else
	{
		metrics = MfTrainFamily(ds, &args, &artifact, &updates);
		schema = MfSchemaToJson(ds, MfTrainTask(&args));
	}
	json_object_set_new(metrics, "warnings", MfIdLikeWarnings(warnings));
	MfTrainPhase(MF_PHASE_REGISTERING);

	MemoryContextSwitchTo(caller);
	values[0] = PointerGetDatum(DatumGetByteaPCopy(PointerGetDatum(artifact)));
	/* the writer picks the version its contents need (1: float64 only) */
	values[1] = Int32GetDatum((int32) mf_artifact_format_version(VARDATA_ANY(artifact),
																 VARSIZE_ANY_EXHDR(artifact)));
	values[2] = JsonbPGetDatum(MfJanssonToJsonb(schema));
	values[3] = JsonbPGetDatum(MfJanssonToJsonb(metrics));
	values[4] = JsonbPGetDatum(MfJanssonToJsonb(updates));
	nulls[5] = ds->test_rows == NULL;
	if (ds->test_rows != NULL)
		values[5] = JsonbPGetDatum(MfJanssonToJsonb(ds->test_rows));
	values[6] = JsonbPGetDatum(MfJanssonToJsonb(reference));
	tuple = heap_form_tuple(tupdesc, values, nulls);
	MemoryContextDelete(runctx);
	MfPhaseEnd("result");
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

PG_FUNCTION_INFO_V1(mf_check_training);

/*
 * mf._check_training(config, source, target, options, author, search_path):
 * check the arguments of a training call as mf._train_run does, and read one
 * row of the source the way the job will, so that a call queued now fails
 * now, with the error mf_train() would raise; 0A000 for a temporary table.
 */
Datum
mf_check_training(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext runctx;
	MfTrainArgs args;
	json_t	   *config;
	MfDataset  *ds;

	MfRequireArg(fcinfo, 0, "config");
	MfRequireArg(fcinfo, 1, "source");
	MfRequireArg(fcinfo, 3, "options");
	runctx = AllocSetContextCreate(caller, "mf training check", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(runctx);
	config = MfJsonbToJansson(PG_GETARG_JSONB_P(0), "model config");
	MfReadTrainArgs(&args, json_string_value(json_object_get(config, "family")) ?: "", config,
					MfTextArg(fcinfo, 2), MfJsonbToJansson(PG_GETARG_JSONB_P(3), "options"));
	ds = MfNewDataset(fcinfo, 4);
	ds->refuse_temp = true;
	MfReadSource(ds, MfTextArg(fcinfo, 1), args.target, args.features, 1, args.classify, false);
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(runctx);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mf_evaluate_run);

/* mf._evaluate_run(artifact, source, target, author oid, search_path text) RETURNS jsonb */
Datum
mf_evaluate_run(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext runctx;
	bytea	   *art;
	json_t	   *metrics;
	Jsonb	   *result;

	MfRequireArg(fcinfo, 0, "artifact");
	MfRequireArg(fcinfo, 1, "source");
	art = PG_GETARG_BYTEA_PP(0);
	runctx = AllocSetContextCreate(caller, "mf evaluation", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(runctx);
	metrics = MfEvaluateArtifact(MfNewDataset(fcinfo, 3), VARDATA_ANY(art),
								 VARSIZE_ANY_EXHDR(art), MfTextArg(fcinfo, 1),
								 MfTextArg(fcinfo, 2));
	MemoryContextSwitchTo(caller);
	result = MfJanssonToJsonb(metrics);
	MemoryContextDelete(runctx);
	PG_RETURN_JSONB_P(result);
}

PG_FUNCTION_INFO_V1(mf_artifact_tensors);

/* mf._artifact_tensors(artifact bytea) RETURNS jsonb */
Datum
mf_artifact_tensors(PG_FUNCTION_ARGS)
{
	bytea	   *art = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_JSONB_P(MfJanssonToJsonb(MfArtifactTensorsJson(VARDATA_ANY(art),
															 VARSIZE_ANY_EXHDR(art))));
}
