/*
 * train.c - SQL entry points of in-database training.
 *
 * mf_train() and mf_evaluate() are PL/pgSQL (catalog work: resolving,
 * deriving versions, validating option keys, updating rows, events); the
 * numeric work is done here:
 *   mf._train_run(family, config, source, target, options)
 *       -> (artifact, format_version, feature_schema, metrics, config_updates)
 *   mf._evaluate_run(artifact, source, target) -> jsonb metrics
 *   mf._artifact_tensors(artifact) -> jsonb {tensor: [values]}
 * Each run works in its own memory context, deleted before returning; an
 * ERROR anywhere frees everything with the transaction.
 */
#include "postgres.h"

#include "mf_core.h"

#include "fmgr.h"
#include "funcapi.h"
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

PG_FUNCTION_INFO_V1(mf_train_run);

/* mf._train_run(family, config, source, target, options) */
Datum
mf_train_run(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext runctx;
	char	   *family,
			   *source,
			   *target;
	json_t	   *config,
			   *options,
			   *metrics,
			   *updates,
			   *schema;
	bytea	   *artifact;
	MfDataset  *ds;
	bool		classify;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	HeapTuple	tuple;
	int64		max_rows;
	json_t	   *mr;

	MfRequireArg(fcinfo, 0, "family");
	MfRequireArg(fcinfo, 1, "config");
	MfRequireArg(fcinfo, 2, "source");
	MfRequireArg(fcinfo, 4, "options");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	runctx = AllocSetContextCreate(caller, "mf training", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(runctx);
	family = MfTextArg(fcinfo, 0);
	source = MfTextArg(fcinfo, 2);
	target = MfTextArg(fcinfo, 3);
	config = MfJsonbToJansson(PG_GETARG_JSONB_P(1), "model config");
	options = MfJsonbToJansson(PG_GETARG_JSONB_P(4), "options");

	classify = strcmp(family, "logistic_regression") == 0 ||
		(strcmp(family, "mlp") == 0 &&
		 strcmp(json_string_value(json_object_get(config, "task")) ?: "classification", "regression") != 0);
	if (target == NULL && strcmp(family, "kmeans") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target must not be NULL for a %s model", family),
				 errhint("Only kmeans trains without a target.")));
	if (target != NULL && strcmp(family, "kmeans") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans takes no target"),
				 errdetail("target is \"%s\".", target),
				 errhint("Pass NULL as target; list the columns to cluster in option \"features\".")));
	mr = json_object_get(options, "max_rows");
	max_rows = json_is_integer(mr) ? json_integer_value(mr) : 0;
	if (mr != NULL && !json_is_null(mr) && (!json_is_integer(mr) || max_rows < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"max_rows\" must be a positive integer")));
	if (json_object_get(options, "features") != NULL && !json_is_array(json_object_get(options, "features")))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"features\" must be an array of column names")));

	ds = palloc0(sizeof(MfDataset));
	MfPhaseStart();
	MfReadSource(ds, source, target, json_object_get(options, "features"), max_rows, classify, false);
	MfPhaseEnd("read");
	if (classify)
		MfMapLabels(ds);
	MfPhaseEnd("labels");
	metrics = MfTrainFamily(ds, family, config, options, &artifact, &updates);
	schema = MfSchemaToJson(ds, strcmp(family, "kmeans") == 0 ? "clustering" :
							classify ? "classification" : "regression");
	MfTrainPhase("registering");

	MemoryContextSwitchTo(caller);
	values[0] = PointerGetDatum(DatumGetByteaPCopy(PointerGetDatum(artifact)));
	values[1] = Int32GetDatum(MF_ARTIFACT_FORMAT_VERSION);
	values[2] = JsonbPGetDatum(MfJanssonToJsonb(schema));
	values[3] = JsonbPGetDatum(MfJanssonToJsonb(metrics));
	values[4] = JsonbPGetDatum(MfJanssonToJsonb(updates));
	tuple = heap_form_tuple(tupdesc, values, nulls);
	MemoryContextDelete(runctx);
	MfPhaseEnd("result");
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

PG_FUNCTION_INFO_V1(mf_evaluate_run);

/* mf._evaluate_run(artifact bytea, source text, target text) RETURNS jsonb */
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
	metrics = MfEvaluateArtifact(palloc0(sizeof(MfDataset)), VARDATA_ANY(art),
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
