/*
 * monitor_worker.c - the monitor worker: health checks of deployments,
 * serving metrics into mf.serving_metrics, retention.
 *
 * Design note
 * -----------
 * One dynamic background worker per cluster, in mf.database, kept running
 * by the launcher (bgworker/monitor.c).  It connects as the bootstrap
 * superuser and calls only mf._* functions (sql/monitor.sql), each unit in
 * its own short transaction and under PG_TRY, so a failing unit is logged
 * and the cycle goes on.  A cycle, once a second:
 *   metrics    drain the shared-memory counters (the HTTP worker's serving
 *              processes, and mf_predict* with mf.track_predictions) into
 *              the per-minute series (monitor_series.c) and write every
 *              pending count into mf.serving_metrics in one transaction;
 *   health     for each deployment due (mf._monitor_targets(): its
 *              options.health.interval has passed since its last round),
 *              run a round of checks over HTTP outside any transaction
 *              (monitor_health.c), then record it (mf._record_health, which
 *              owns the unhealthy/healthy rule and its events); a remote
 *              deployment's /metrics, read by the round, adds to the series;
 *   alerts     (see MfMonitorCycle: the one place where alert rules are
 *              evaluated, once per cycle, after health and metrics);
 *   retention  once a minute (and after a reload), delete rows older than
 *              mf.metrics_retention in batches of MF_MON_PURGE_BATCH, one
 *              transaction each, at most MF_MON_PURGE_MAX a cycle; and
 *              remove the artifact files of dropped versions and
 *              databases (MfArtifactFileSweep, artifact_file.c: it reads
 *              mf.artifacts itself, the one query here that is not an
 *              mf._* call).
 * The worker holds no lock and no transaction while it waits on HTTP.  It
 * stops when the launcher that started it is gone, and does nothing while
 * the extension is not installed in its database.
 */
#include "postgres.h"

#include "mf_core.h"
#include "alerts.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "mf_jobs_shm.h"
#include "mf_monitor_shm.h"
#include "monitor.h"
#include "predict.h"

extern PGDLLEXPORT void MfMonitorWorkerMain(Datum arg);

#define MF_MON_CYCLE_MS		1000
#define MF_MON_PURGE_EVERY_MS 60000
#define MF_MON_PURGE_BATCH	1000
#define MF_MON_PURGE_MAX	20	/* batches of one cycle */

static MfMonitorShared *MfMon = NULL;
static pid_t MfMonLauncher = 0;
static bool MfMonExtension = false;
static TimestampTz MfMonLastPurge = 0;

/* Run one unit under PG_TRY: an ERROR is logged and rolled back; false then. */
static bool
MfMonUnit(const char *what, void (*unit) (void))
{
	return MfBgRunUnit("mf_ext monitor", what, unit);
}

/* Unit: POST the alert webhooks that are due (outside any transaction). */
static void
MfMonWebhooks(void)
{
	(void) MfAlertDeliverWebhooks();
}

/* Unit: is mf_ext installed (in its 0.4.0 form, with the monitor's tables)? */
static void
MfMonCheckExtension(void)
{
	MfBgXactBegin("mf_ext monitor: checking for the extension");
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'mf_ext' "
					"AND pg_catalog.to_regprocedure('mf._monitor_targets()') IS NOT NULL", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for the mf_ext extension");
	MfMonExtension = SPI_processed == 1;
	MfBgXactCommit();
}

/* Drain callback: into the per-minute series. */
static void
MfMonTake(void *arg, const MfCounterTake *t)
{
	MfMonSeriesAddTake(t, *(TimestampTz *) arg);
}

/* Unit: drain the shared counters and write every pending count. */
static void
MfMonWriteMetrics(void)
{
	TimestampTz now = GetCurrentTimestamp();
	uint64		dropped = atomic_exchange(&MfMon->counters.dropped, 0);

	(void) mf_counters_drain(&MfMon->counters, MfMonTake, &now);
	if (dropped > 0)
		ereport(LOG,
				(errmsg("mf_ext monitor: " UINT64_FORMAT " requests were not counted: the counters table is full", dropped),
				 errdetail("It holds %d model versions; a restart of the cluster empties it.", MF_COUNTERS_SLOTS)));
	MfBgXactBegin("mf_ext monitor: writing serving metrics");
	(void) MfMonSeriesWrite();
	MfBgXactCommit();
	MfMonSeriesWritten();
}

/* The targets due for a round (read in the caller's transaction, copied into cxt). */
static List *
MfMonReadTargets(MemoryContext cxt)
{
	List	   *out = NIL;

	if (SPI_execute("SELECT deployment_id, name, base_url, remote, "
					"(health ->> 'timeout')::float8, (health ->> 'response_time_ms')::float8, "
					"coalesce((health ->> 'memory_mb')::float8, 0), canary::text "
					"FROM mf._monitor_targets()", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "mf._monitor_targets failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		MfMonTarget *t = palloc0(sizeof(MfMonTarget));
		bool		isnull;
		char	   *canary;

		t->deployment_id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		t->name = SPI_getvalue(tup, td, 2);
		t->base_url = SPI_getvalue(tup, td, 3);
		t->remote = DatumGetBool(SPI_getbinval(tup, td, 4, &isnull));
		t->timeout_s = DatumGetFloat8(SPI_getbinval(tup, td, 5, &isnull));
		t->response_time_ms = DatumGetFloat8(SPI_getbinval(tup, td, 6, &isnull));
		t->memory_mb = DatumGetFloat8(SPI_getbinval(tup, td, 7, &isnull));
		canary = SPI_getvalue(tup, td, 8);
		t->canary = canary;
		/* the in-database server only: the token never goes to an endpoint outside the cluster */
		t->probe = !t->remote && MfMon->probe_token[0] != '\0' ? MfMon->probe_token : NULL;
		out = lappend(out, t);
		MemoryContextSwitchTo(old);
	}
	return out;
}

/* Record a round of checks of one deployment (its own transaction). */
static void
MfMonRecord(const MfMonTarget *t, TimestampTz at, const MfMonCheck *c, int n)
{
	Oid			types[7] = {INT8OID, TIMESTAMPTZOID, TEXTARRAYOID, BOOLARRAYOID, FLOAT8ARRAYOID,
	INT4ARRAYOID, TEXTARRAYOID};
	Datum		v[7];
	Datum		checks[MF_MON_CHECKS],
				oks[MF_MON_CHECKS],
				lat[MF_MON_CHECKS],
				st[MF_MON_CHECKS],
				err[MF_MON_CHECKS];
	bool		latnull[MF_MON_CHECKS],
				stnull[MF_MON_CHECKS],
				errnull[MF_MON_CHECKS];
	int			dims[1] = {n};
	int			lbs[1] = {1};
	bool		isnull;
	Datum		changed;

	for (int i = 0; i < n; i++)
	{
		checks[i] = CStringGetTextDatum(c[i].check);
		oks[i] = BoolGetDatum(c[i].ok);
		lat[i] = Float8GetDatum(c[i].latency_ms);
		latnull[i] = isnan(c[i].latency_ms);
		st[i] = Int32GetDatum(c[i].http_status);
		stnull[i] = c[i].http_status == 0;
		err[i] = c[i].error ? CStringGetTextDatum(c[i].error) : (Datum) 0;
		errnull[i] = c[i].error == NULL;
	}
	v[0] = Int64GetDatum(t->deployment_id);
	v[1] = TimestampTzGetDatum(at);
	v[2] = PointerGetDatum(construct_md_array(checks, NULL, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	v[3] = PointerGetDatum(construct_md_array(oks, NULL, 1, dims, lbs, BOOLOID, 1, true, TYPALIGN_CHAR));
	v[4] = PointerGetDatum(construct_md_array(lat, latnull, 1, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	v[5] = PointerGetDatum(construct_md_array(st, stnull, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
	v[6] = PointerGetDatum(construct_md_array(err, errnull, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	MfBgXactBegin("mf_ext monitor: recording health checks");
	if (SPI_execute_with_args("SELECT mf._record_health($1, $2, $3, $4, $5, $6, $7)", 7, types, v, NULL, false, 1)
		!= SPI_OK_SELECT)
		elog(ERROR, "mf._record_health failed");
	changed = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		ereport(LOG,
				(errmsg("mf_ext monitor: deployment " INT64_FORMAT " is now %s", t->deployment_id,
						TextDatumGetCString(changed))));
	MfBgXactCommit();
}

/* Unit: a round of checks of every deployment due. */
static void
MfMonHealth(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *targets;
	ListCell   *lc;

	MfBgXactBegin("mf_ext monitor: reading deployments");
	targets = MfMonReadTargets(cxt);
	MfBgXactCommit();
	MemoryContextSwitchTo(cxt);
	foreach(lc, targets)
	{
		MfMonTarget *t = lfirst(lc);
		MfMonCheck	checks[MF_MON_CHECKS];
		TimestampTz at = GetCurrentTimestamp();
		char	   *metrics;
		size_t		len;
		int			n;

		CHECK_FOR_INTERRUPTS();
		pgstat_report_activity(STATE_RUNNING, "mf_ext monitor: checking a deployment");
		n = MfMonRunChecks(t, checks, &metrics, &len);
		pgstat_report_activity(STATE_IDLE, NULL);
		if (t->remote && metrics != NULL)
			MfMonSeriesAddScrape(t->deployment_id, metrics, len, GetCurrentTimestamp());
		MfMonRecord(t, at, checks, n);
		MemoryContextSwitchTo(cxt);
	}
}

/* Unit: delete rows older than mf.metrics_retention, in small batches. */
static void
MfMonPurge(void)
{
	const char *keep = GetConfigOption("mf.metrics_retention", true, false);
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		v[2];

	MfMonLastPurge = GetCurrentTimestamp();
	if (keep == NULL || strcmp(keep, "0") == 0)
		return;
	v[0] = CStringGetTextDatum(keep);
	v[1] = Int32GetDatum(MF_MON_PURGE_BATCH);
	for (int i = 0; i < MF_MON_PURGE_MAX; i++)
	{
		bool		isnull;
		int64		n;

		CHECK_FOR_INTERRUPTS();
		MfBgXactBegin("mf_ext monitor: removing old metrics");
		if (SPI_execute_with_args("SELECT mf._purge_monitoring($1::interval, $2)", 2, types, v, NULL, false, 1)
			!= SPI_OK_SELECT)
			elog(ERROR, "mf._purge_monitoring failed");
		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		MfBgXactCommit();
		if (n < MF_MON_PURGE_BATCH)
			break;
	}
}

/* Unit: remove the artifact files of versions and databases dropped since. */
static void
MfMonSweepFiles(void)
{
	int			n;

	MfBgXactBegin("mf_ext monitor: removing artifact files of dropped versions and databases");
	n = MfArtifactFileSweep();
	MfBgXactCommit();
	if (n > 0)
		elog(DEBUG1, "mf_ext monitor: removed %d artifact files of dropped versions and databases", n);
}

/* One cycle of the worker. */
static void
MfMonitorCycle(void)
{
	if (!MfMonUnit("checking for the extension", MfMonCheckExtension) || !MfMonExtension)
		return;
	MfMonUnit("writing serving metrics", MfMonWriteMetrics);
	MfMonUnit("checking deployments", MfMonHealth);

	/* alerts, once this cycle's health checks and metrics are written */
	MfMonUnit("evaluating alerts", MfAlertEvaluate);
	MfMonUnit("sending alert webhooks", MfMonWebhooks);

	if (TimestampDifferenceExceeds(MfMonLastPurge, GetCurrentTimestamp(), MF_MON_PURGE_EVERY_MS))
	{
		MfMonUnit("removing old metrics", MfMonPurge);
		MfMonUnit("removing artifact files of dropped versions and databases", MfMonSweepFiles);
	}
	SpinLockAcquire(&MfMon->mutex);
	MfMon->cycles++;
	SpinLockRelease(&MfMon->mutex);
}

/* before_shmem_exit: no monitor worker any more. */
static void
MfMonDetach(int code, Datum arg)
{
	SpinLockAcquire(&MfMon->mutex);
	MfMon->worker_pid = 0;
	SpinLockRelease(&MfMon->mutex);
}

/* Entry point of the monitor worker: bgw_main_arg is the database's OID. */
void
MfMonitorWorkerMain(Datum arg)
{
	MfMonitorShmemGetFn get;
	MemoryContext cyclecxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
	/* its queries name mf.* objects; built-ins resolve in pg_catalog only */
	SetConfigOption("search_path", MF_WORKER_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("mf_ext monitor");
	get = (MfMonitorShmemGetFn) load_external_function("$libdir/mf_ext", "MfMonitorShmemGet", false, NULL);
	MfMon = get != NULL ? get() : NULL;
	if (MfMon == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mf_ext monitor worker started without mf_ext in shared_preload_libraries")));
	SpinLockAcquire(&MfMon->mutex);
	MfMonLauncher = MfMon->launcher_pid;
	MfMon->worker_pid = MyProcPid;
	SpinLockRelease(&MfMon->mutex);
	before_shmem_exit(MfMonDetach, (Datum) 0);
	MfMonHealthInit();
	MfMonSeriesInit();
	ereport(LOG, (errmsg("mf_ext monitor started")));
	cyclecxt = AllocSetContextCreate(TopMemoryContext, "mf_ext monitor cycle", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			MfMonLastPurge = 0;	/* a new mf.metrics_retention applies at once */
		}
		if (!MfLauncherIs(MfMonLauncher))
		{
			ereport(LOG, (errmsg("mf_ext monitor: the launcher that started this worker is gone; stopping")));
			proc_exit(0);
		}
		MemoryContextReset(cyclecxt);
		MemoryContextSwitchTo(cyclecxt);
		MfMonitorCycle();
		MemoryContextSwitchTo(TopMemoryContext);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, MF_MON_CYCLE_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
