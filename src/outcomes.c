/*
 * outcomes.c - the labels of mf_record_outcomes, read from the caller's
 * source with exactly the caller's rights (as source.c reads a training
 * source: privileges.c's run-as window, the caller's search_path, the one
 * "table or query" rule of MfSourceFromItem).
 */
#include "postgres.h"

#include "mf_core.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "privileges.h"
#include "train.h"

#define MF_OUTCOMES_FETCH 10000

/* A text argument, or 22004 when NULL. */
static char *
MfOutcomesArg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Copy the fetched rows (row_id, label as text) into the result. */
static void
MfOutcomesStore(Tuplestorestate *ts, TupleDesc td)
{
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		values[2];
		bool		nulls[2];

		values[0] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &nulls[0]);
		values[1] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &nulls[1]);
		tuplestore_putvalues(ts, td, values, nulls);
	}
}

PG_FUNCTION_INFO_V1(mf_outcomes_run);

/*
 * mf._outcomes_run(source, id_column, target, author oid, search_path)
 * RETURNS TABLE(row_id text, label text): every row of the source, its
 * id column and target as text, read as role author.
 */
Datum
mf_outcomes_run(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *source = MfOutcomesArg(fcinfo, 0, "source");
	char	   *id_column = MfOutcomesArg(fcinfo, 1, "id_column");
	char	   *target = MfOutcomesArg(fcinfo, 2, "target");
	Oid			author;
	char	   *author_path = MfOutcomesArg(fcinfo, 4, "search_path");
	MfRunAs		runas;
	SPIPlanPtr	plan;
	Portal		portal;
	char	   *query;

	if (PG_ARGISNULL(3))
		elog(ERROR, "an outcomes source needs its author");
	author = PG_GETARG_OID(3);
	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MfRunAsBegin(&runas, author, author_path);
	query = psprintf("SELECT (%s)::text, (%s)::text FROM %s", quote_identifier(id_column),
					 quote_identifier(target), MfSourceFromItem(source));
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not plan the outcomes source: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, MF_OUTCOMES_FETCH);
		if (SPI_processed == 0)
			break;
		MfOutcomesStore(rsinfo->setResult, rsinfo->setDesc);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	MfRunAsEnd(&runas);
	SPI_finish();
	return (Datum) 0;
}
