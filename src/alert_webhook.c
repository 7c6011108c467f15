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
 * The monitor worker (src/monitor_worker.c) runs MfAlertEvaluate() and
 * MfAlertDeliverWebhooks() once per cycle, each as a unit of its own: an
 * error is logged and rolled back, and the next cycle goes on.
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

/* Evaluate every rule in a transaction of its own (a unit of the monitor worker). */
void
MfAlertEvaluate(void)
{
	MfAlertXactBegin("mf_ext alerts: evaluate");
	if (SPI_execute("SELECT mf._evaluate_alerts()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "mf._evaluate_alerts failed");
	MfAlertXactEnd();
}
