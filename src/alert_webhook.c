/*
 * alert_webhook.c - alert evaluation cycles and webhook delivery.
 *
 * Design note
 * -----------
 * Firing and resolving alerts is SQL (sql/alerts.sql): mf._evaluate_alerts()
 * writes mf.alerts, sends NOTIFY mf_alerts and queues one row of
 * mf.alert_webhooks per announcement with its Alertmanager payload.  This
 * file only moves those rows over HTTP, and never inside a transaction:
 *   1. a short transaction claims the due rows (mf._webhook_claim counts the
 *      attempt and leases the row for 60 s) and commits;
 *   2. with no transaction open, each payload is POSTed with libcurl
 *      (connect and total timeouts, no signals, no redirects);
 *   3. a short transaction records each answer (mf._webhook_result: 2xx
 *      delivered, else retried after 1 s, 2 s, 4 s ... until given up).
 * A slow or dead receiver therefore holds no lock and no snapshot, and a
 * sender that dies leaves its rows due again when the lease ends.
 *
 * MfAlertCycle() is one evaluation plus one delivery pass: what the monitor
 * worker calls once per cycle (outside a transaction).  Until that worker
 * exists, mf._alert_worker_start(seconds) starts a dynamic background
 * worker here that runs MfAlertCycle() every 0.5 s for that long; the
 * integration test uses it.  Errors of one pass are logged and the worker
 * goes on.
 */
#include "postgres.h"

#include "mf_core.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "alerts.h"

/* Deliveries claimed per pass, timeouts of one POST, the worker's pace. */
#define MF_WEBHOOK_BATCH		20
#define MF_WEBHOOK_CONNECT_MS	3000L
#define MF_WEBHOOK_TOTAL_MS		10000L
#define MF_ALERT_WORKER_TICK_MS 500L
#define MF_ALERT_WORKER_MAX_S	3600

/* One claimed delivery. */
typedef struct MfDelivery
{
	int64		id;
	char	   *url;
	char	   *payload;
	long		http_status;
	char		error[CURL_ERROR_SIZE + 64];
} MfDelivery;

/* Discard a receiver's answer body. */
static size_t
MfWebhookDiscard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return size * nmemb;
}

/* POST one payload; the status (0 when none came) and the error, if any. */
static void
MfWebhookPost(MfDelivery *d)
{
	CURL	   *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	char		curl_err[CURL_ERROR_SIZE] = "";
	CURLcode	rc;

	d->http_status = 0;
	d->error[0] = '\0';
	if (curl == NULL)
	{
		snprintf(d->error, sizeof(d->error), "libcurl could not start a request");
		return;
	}
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "User-Agent: mf_ext-alerts");
	curl_easy_setopt(curl, CURLOPT_URL, d->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, MF_WEBHOOK_CONNECT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, MF_WEBHOOK_TOTAL_MS);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d->payload);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(d->payload));
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, MfWebhookDiscard);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK)
		snprintf(d->error, sizeof(d->error), "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
	else
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &d->http_status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
}

/* Begin a short transaction with SPI and a snapshot. */
static void
MfAlertXactBegin(const char *what)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
}

/* Commit what MfAlertXactBegin began. */
static void
MfAlertXactEnd(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Claim due deliveries, copied into cxt; their count. */
static int
MfWebhookClaim(MemoryContext cxt, MfDelivery **out)
{
	Datum		arg = Int32GetDatum(MF_WEBHOOK_BATCH);
	Oid			argtype = INT4OID;
	MfDelivery *ds;
	int			n;

	MfAlertXactBegin("mf_ext alerts: claim webhooks");
	if (SPI_execute_with_args("SELECT delivery_id, url, payload FROM mf._webhook_claim($1)",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "mf._webhook_claim failed");
	n = (int) SPI_processed;
	ds = MemoryContextAllocZero(cxt, sizeof(MfDelivery) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		ds[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		ds[i].url = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 2));
		ds[i].payload = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 3));
	}
	MfAlertXactEnd();
	*out = ds;
	return n;
}

/* Record the answers of n deliveries. */
static void
MfWebhookRecord(MfDelivery *ds, int n)
{
	Oid			types[3] = {INT8OID, INT4OID, TEXTOID};

	MfAlertXactBegin("mf_ext alerts: record webhooks");
	for (int i = 0; i < n; i++)
	{
		Datum		args[3];
		char		nulls[3] = {' ', ' ', ' '};

		args[0] = Int64GetDatum(ds[i].id);
		args[1] = Int32GetDatum((int32) ds[i].http_status);
		if (ds[i].error[0] != '\0')
			args[2] = CStringGetTextDatum(ds[i].error);
		else
			nulls[2] = 'n';
		if (SPI_execute_with_args("SELECT mf._webhook_result($1, $2, $3)", 3, types, args, nulls,
								  false, 0) != SPI_OK_SELECT)
			elog(ERROR, "mf._webhook_result failed");
	}
	MfAlertXactEnd();
}

/*
 * One delivery pass: claim due deliveries, POST them outside any
 * transaction, record the answers.  Call outside a transaction.  Returns
 * how many were attempted.
 */
int
MfAlertDeliverWebhooks(void)
{
	static bool curl_ready = false;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mf alert webhooks", ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MfDelivery *ds;
	int			n = MfWebhookClaim(cxt, &ds);

	Assert(!IsTransactionState());
	if (n > 0 && !curl_ready)
	{
		/* once per process (this one has no other thread): whichever worker calls first */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("libcurl could not be initialised"),
					 errhint("The claimed webhooks are retried when their lease ends.")));
		curl_ready = true;
	}
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		MfWebhookPost(&ds[i]);
		if (ds[i].error[0] == '\0' && (ds[i].http_status < 200 || ds[i].http_status > 299))
			snprintf(ds[i].error, sizeof(ds[i].error), "HTTP status %ld from the receiver", ds[i].http_status);
	}
	if (n > 0)
		MfWebhookRecord(ds, n);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return n;
}

/* Evaluate every rule in a transaction of its own. */
static void
MfAlertEvaluate(void)
{
	MfAlertXactBegin("mf_ext alerts: evaluate");
	if (SPI_execute("SELECT mf._evaluate_alerts()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "mf._evaluate_alerts failed");
	MfAlertXactEnd();
}

/*
 * One alert cycle, outside a transaction: evaluate the rules, then deliver
 * due webhooks.  An error is logged (the cycle's transaction aborted) and
 * the caller goes on; returns false then.
 */
bool
MfAlertCycle(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		ok = true;

	PG_TRY();
	{
		MfAlertEvaluate();
		(void) MfAlertDeliverWebhooks();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* Entry point of the alert worker: bgw_main_arg the database, bgw_extra the seconds. */
void
MfAlertWorkerMain(Datum arg)
{
	int32		seconds;
	TimestampTz until;
	MemoryContext loop;

	memcpy(&seconds, MyBgworkerEntry->bgw_extra, sizeof(seconds));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("mf_ext alerts");
	loop = AllocSetContextCreate(TopMemoryContext, "mf alert cycle", ALLOCSET_DEFAULT_SIZES);
	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) seconds * 1000);
	while (GetCurrentTimestamp() < until)
	{
		MemoryContext old = MemoryContextSwitchTo(loop);

		CHECK_FOR_INTERRUPTS();
		(void) MfAlertCycle();
		MemoryContextSwitchTo(old);
		MemoryContextReset(loop);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, MF_ALERT_WORKER_TICK_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}

PG_FUNCTION_INFO_V1(mf_alert_worker_start);

/* mf._alert_worker_start(seconds): start the alert worker; its pid. */
Datum
mf_alert_worker_start(PG_FUNCTION_ARGS)
{
	int32		seconds = PG_GETARG_INT32(0);
	BackgroundWorker w;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	if (seconds < 1 || seconds > MF_ALERT_WORKER_MAX_S)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("alert worker run time must be between 1 and %d seconds", MF_ALERT_WORKER_MAX_S),
				 errdetail("Got %d.", seconds)));
	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "mf_core");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "MfAlertWorkerMain");
	snprintf(w.bgw_name, BGW_MAXLEN, "mf_ext alerts");
	snprintf(w.bgw_type, BGW_MAXLEN, "mf_ext alerts");
	w.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	memcpy(w.bgw_extra, &seconds, sizeof(seconds));
	w.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&w, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the mf_ext alert worker"),
				 errhint("Every background worker slot is taken: raise max_worker_processes.")));
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the mf_ext alert worker did not start"),
				 errhint("The server log says why.")));
	PG_RETURN_INT32((int32) pid);
}
