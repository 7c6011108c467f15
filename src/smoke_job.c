/*
 * smoke_job.c - the job worker's part of a smoke_test job (kind
 * smoke_test, phase smoke_testing), over the pure tester deploy/smoke.c.
 *
 * Design note
 * -----------
 * Three steps, no transaction open while the network is used:
 *   1. mf._smoke_begin() in a short transaction: the worker's pid, phase
 *      smoke_testing, and what to test (endpoint, served name, version,
 *      the artifact bytes, the test rows) copied out of it;
 *   2. mf_smoke_run() outside any transaction, with malloc/free as
 *      jansson's allocator (the serving core frees jansson's texts with
 *      free()), polling the job's cancel flag between rows;
 *   3. mf._smoke_finish() in a short transaction, as the role that queued
 *      the job: the mf.smoke_tests row, the deployment verified or failed,
 *      the job's outcome and its events.  An ERROR in step 1 or 3, or a run
 *      that could not start (bad artifact, cancelled), is recorded by the
 *      same function with passed = false and the error.
 */
#include "postgres.h"

#include "mf_core.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include <curl/curl.h>

#include "mf_jobs_shm.h"
#include "privileges.h"
#include "smoke.h"
#include "smoke_job.h"

/* What mf._smoke_begin() hands over (in TopMemoryContext). */
typedef struct MfSmokeJob
{
	int64		deployment_id;
	char	   *endpoint;
	char	   *name;
	char	   *version;
	int64		number;
	bytea	   *artifact;
	char	   *rows;
	int			timeout_ms;
} MfSmokeJob;

/* Step 1: take the job; false when there is nothing to do. */
static bool
MfSmokeBegin(int64 job_id, MfSmokeJob *j)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(job_id), Int32GetDatum(MyProcPid)};
	bool		found;

	MfBgXactBegin("mf_ext job: starting a smoke test");
	if (SPI_execute_with_args("SELECT deployment_id, endpoint, served_name, version, version_number, artifact, "
							  "test_rows, timeout_ms FROM mf._smoke_begin($1, $2)",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mf._smoke_begin failed");
	found = SPI_processed == 1;
	if (found)
	{
		bool		isnull;
		Datum		art = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull);
		MemoryContext old;

		j->deployment_id = pg_strtoint64(MfResultText(1));
		j->endpoint = MfResultText(2);
		j->name = MfResultText(3);
		j->version = MfResultText(4);
		j->number = pg_strtoint64(MfResultText(5));
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("version %s of %s has no artifact", j->version, j->name)));
		old = MemoryContextSwitchTo(TopMemoryContext);
		j->artifact = DatumGetByteaPCopy(art);
		MemoryContextSwitchTo(old);
		j->rows = MfResultText(7);
		j->timeout_ms = pg_strtoint32(MfResultText(8));
	}
	MfBgXactCommit();
	return found;
}

/* Step 3: record the outcome as the role that queued the job. */
static void
MfSmokeFinish(int64 job_id, Oid queued_by, const MfSmokeResult *res, const char *error)
{
	Oid			types[8] = {INT8OID, INT4OID, INT4OID, FLOAT8OID, FLOAT8OID, BOOLOID, JSONBOID, TEXTOID};
	Datum		args[8];
	char		nulls[8] = "        ";

	MfBgXactBegin("mf_ext job: recording a smoke test");
	args[0] = Int64GetDatum(job_id);
	args[1] = Int32GetDatum(res->rows);
	args[2] = Int32GetDatum(res->mismatches);
	args[3] = Float8GetDatum(res->p50_ms);
	args[4] = Float8GetDatum(res->p99_ms);
	args[5] = BoolGetDatum(res->passed && error == NULL);
	args[6] = res->details ? DirectFunctionCall1(jsonb_in, CStringGetDatum(res->details)) : (Datum) 0;
	args[7] = error ? CStringGetTextDatum(error) : (Datum) 0;
	if (res->p50_ms < 0)
		nulls[3] = nulls[4] = 'n';
	if (res->details == NULL)
		nulls[6] = 'n';
	if (error == NULL)
		nulls[7] = 'n';
	MfCallerPush(queued_by, "pg_catalog");
	PG_TRY();
	{
		if (SPI_execute_with_args("SELECT mf._smoke_finish($1, $2, $3, $4, $5, $6, $7, $8)",
								  8, types, args, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "mf._smoke_finish failed");
	}
	PG_FINALLY();
	{
		MfCallerPop();
	}
	PG_END_TRY();
	MfBgXactCommit();
}

/* Step 2: the test itself, outside any transaction, jansson on malloc. */
static void
MfSmokeTest(const MfSmokeJob *j, MfSmokeResult *res, const MfSmokeJobHooks *hooks, bool *ran)
{
	MfSmokeSpec spec = {0};
	json_malloc_t old_malloc;
	json_free_t old_free;

	spec.endpoint = j->endpoint;
	spec.name = j->name;
	spec.version = j->version;
	spec.version_number = j->number;
	spec.artifact = VARDATA_ANY(j->artifact);
	spec.artifact_len = VARSIZE_ANY_EXHDR(j->artifact);
	spec.rows_json = j->rows;
	spec.timeout_ms = j->timeout_ms;
	spec.cancelled = hooks->cancelled;
	spec.progress = hooks->progress;
	json_get_alloc_funcs(&old_malloc, &old_free);
	json_set_alloc_funcs(malloc, free);
	*ran = mf_smoke_run(&spec, res);
	json_set_alloc_funcs(old_malloc, old_free);
}

/* Run a claimed smoke_test job to its recorded end. */
void
MfSmokeJobRun(int64 job_id, Oid queued_by, const MfSmokeJobHooks *hooks)
{
	MfSmokeJob	j = {0};
	MfSmokeResult res = {0};
	ErrorData  *volatile ed = NULL;
	volatile bool found = false;
	bool		ran = false;
	char	   *error = NULL;

	res.p50_ms = res.p99_ms = -1;
	PG_TRY();
	{
		found = MfSmokeBegin(job_id, &j);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(TopMemoryContext);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	if (ed == NULL && !found)
		return;
	if (ed == NULL)
	{
		curl_global_init(CURL_GLOBAL_DEFAULT);
		MfSmokeTest(&j, &res, hooks, &ran);
		if (!ran)
			error = pstrdup(res.error);
		else if (res.error[0] != '\0')
			error = pstrdup(res.error);
	}
	else
		error = ed->detail ? psprintf("%s (%s)", ed->message, ed->detail) : pstrdup(ed->message);
	MfSmokeFinish(job_id, queued_by, &res, error);
	mf_smoke_result_free(&res);
}
