/*
 * launcher.c - the mf_ext launcher: claims queued jobs and starts one
 * dynamic background worker per job.
 *
 * Design note
 * -----------
 * One static worker, connected to mf.database as the bootstrap superuser.
 * Each pass of its loop runs six units, each in its own short transaction (or none)
 * and under PG_TRY, so a failing unit is logged and the loop goes on:
 *   reap      free the slots of workers that have stopped (no transaction);
 *   recover   mf._recover_jobs(live job ids): a running row whose job is in
 *             no slot lost its worker (crash, FATAL, restart): re-queued
 *             while attempts < max_attempts, else failed with its version;
 *   progress  at most once a second, copy what the workers wrote in their
 *             slots into mf.jobs (progress, phase, epoch, loss, heartbeat)
 *             and log a progress line per new epoch into mf.job_events;
 *   start     while fewer than mf.max_workers slots are busy: claim one job
 *             (mf._claim_job: UPDATE ... FOR UPDATE SKIP LOCKED, committed
 *             before anything starts), reserve a slot, register the job
 *             worker (mf_core's MfJobWorkerMain).  When no worker process is
 *             free, the claim is undone and the launcher backs off for
 *             mf.poll_interval instead of retrying at once;
 *   http      keep the HTTP worker running with the mf.http_* settings
 *             (start, stop, restart on a change or after it died: http.c);
 *   monitor   keep the monitor worker running (health checks, serving
 *             metrics, retention: monitor.c).
 * It then sleeps on its latch: mf_train_async() sets it when its transaction
 * commits, a job worker sets it when it ends (bgw_notify_pid), and the
 * timeout (1 s while jobs run, else mf.poll_interval) is the fallback.
 * The launcher never holds a job row lock while a job trains, and never
 * loads mf_core (so never OpenBLAS).
 */
#include "postgres.h"

#include <math.h>
#include <signal.h>

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
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "mf_bgworker.h"

/* Launcher-local state per slot: the worker handle and what was flushed. */
typedef struct MfLauncherSlot
{
	BackgroundWorkerHandle *handle;
	uint64		flushed_seq;
	int64		logged_epoch;
} MfLauncherSlot;

static MfLauncherSlot MfLocal[MF_MAX_JOB_SLOTS];
static TimestampTz MfLastFlush = 0;
static bool MfBackoff = false;
static bool MfExtensionReady = false;
static bool MfHttpPending = false;
static bool MfMonitorPending = false;

/* before_shmem_exit: tell backends no launcher runs any more. */
static void
MfLauncherDetach(int code, Datum arg)
{
	MfJobsShared *sh = MfJobsShmemGet();

	SpinLockAcquire(&sh->mutex);
	sh->launcher_procno = -1;
	sh->launcher_pid = 0;
	SpinLockRelease(&sh->mutex);
}

/* Publish the launcher's latch and drop slots no live worker owns. */
static void
MfLauncherAttach(void)
{
	MfJobsShared *sh = MfJobsShmemGet();

	SpinLockAcquire(&sh->mutex);
	sh->launcher_procno = MyProc->pgprocno;
	sh->launcher_pid = MyProcPid;
	sh->launcher_db = MyDatabaseId;
	for (int i = 0; i < MF_MAX_JOB_SLOTS; i++)
		if (sh->slots[i].job_id != 0 &&
			(sh->slots[i].pid == 0 || kill(sh->slots[i].pid, 0) != 0))
			memset(&sh->slots[i], 0, sizeof(MfJobSlot));
	SpinLockRelease(&sh->mutex);
	before_shmem_exit(MfLauncherDetach, (Datum) 0);
}

/* Run one unit under PG_TRY: an ERROR is logged and rolled back; false then. */
static bool
MfRunUnit(const char *what, void (*unit) (void))
{
	return MfBgRunUnit("mf_ext launcher", what, unit);
}

/* Number of busy slots. */
static int
MfBusySlots(void)
{
	MfJobsShared *sh = MfJobsShmemGet();
	int			n = 0;

	SpinLockAcquire(&sh->mutex);
	for (int i = 0; i < MF_MAX_JOB_SLOTS; i++)
		if (sh->slots[i].job_id != 0)
			n++;
	SpinLockRelease(&sh->mutex);
	return n;
}

/* Free the slots of stopped workers (and of dead workers of an earlier launcher). */
static void
MfReapWorkers(void)
{
	MfJobsShared *sh = MfJobsShmemGet();

	for (int i = 0; i < MF_MAX_JOB_SLOTS; i++)
	{
		pid_t		pid;
		bool		stopped;

		if (MfLocal[i].handle != NULL)
		{
			stopped = GetBackgroundWorkerPid(MfLocal[i].handle, &pid) == BGWH_STOPPED;
			if (!stopped)
				continue;
			pfree(MfLocal[i].handle);
			MfLocal[i].handle = NULL;
			SpinLockAcquire(&sh->mutex);
			memset(&sh->slots[i], 0, sizeof(MfJobSlot));
			SpinLockRelease(&sh->mutex);
			continue;
		}
		SpinLockAcquire(&sh->mutex);
		pid = sh->slots[i].pid;
		if (sh->slots[i].job_id != 0 && pid != 0 && kill(pid, 0) != 0)
			memset(&sh->slots[i], 0, sizeof(MfJobSlot));
		SpinLockRelease(&sh->mutex);
	}
}

/* Unit: is mf_ext installed in this database? */
static void
MfCheckExtension(void)
{
	MfBgXactBegin("mf_ext launcher: checking for the extension");
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'mf_ext'", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for the mf_ext extension");
	MfExtensionReady = SPI_processed == 1;
	MfBgXactCommit();
}

/* Unit: re-queue or fail running jobs that lost their worker. */
static void
MfRecoverJobs(void)
{
	MfJobsShared *sh = MfJobsShmemGet();
	Datum		ids[MF_MAX_JOB_SLOTS];
	int			n = 0;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		args[1];

	SpinLockAcquire(&sh->mutex);
	for (int i = 0; i < MF_MAX_JOB_SLOTS; i++)
		if (sh->slots[i].job_id != 0)
			ids[n++] = Int64GetDatum(sh->slots[i].job_id);
	SpinLockRelease(&sh->mutex);
	args[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	MfBgXactBegin("mf_ext launcher: recovering orphaned jobs");
	if (SPI_execute_with_args("SELECT mf._recover_jobs($1)", 1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mf._recover_jobs failed");
	MfBgXactCommit();
}

/* Unit: copy the workers' progress into mf.jobs (called at most once a second). */
static void
MfFlushProgress(void)
{
	MfJobsShared *sh = MfJobsShmemGet();
	bool		begun = false;

	for (int i = 0; i < MF_MAX_JOB_SLOTS; i++)
	{
		MfJobSlot	s;
		bool		new_epoch;

		SpinLockAcquire(&sh->mutex);
		s = sh->slots[i];
		SpinLockRelease(&sh->mutex);
		if (s.job_id == 0 || s.pid == 0)
			continue;
		if (!begun)
		{
			MfBgXactBegin("mf_ext launcher: writing job progress");
			begun = true;
		}
		new_epoch = s.epoch > MfLocal[i].logged_epoch;
		MfBgWriteJobProgress(&s, new_epoch);
		MfLocal[i].flushed_seq = s.seq;
		if (new_epoch)
			MfLocal[i].logged_epoch = s.epoch;
	}
	if (begun)
		MfBgXactCommit();
}

/* Claim the oldest queued job; false when there is none. */
static bool
MfClaimJob(int64 *job_id, Oid *role)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(MyProcPid)};
	bool		found = false;
	bool		isnull;

	MfBgXactBegin("mf_ext launcher: claiming a job");
	if (SPI_execute_with_args("SELECT job_id, role_oid FROM mf._claim_job($1)",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mf._claim_job failed");
	if (SPI_processed == 1)
	{
		*job_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		found = !isnull;
		*role = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	MfBgXactCommit();
	return found;
}

/* Put a claimed job back in the queue (no worker could be started). */
static void
MfUnclaimJob(int64 job_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};

	MfBgXactBegin("mf_ext launcher: re-queueing a job");
	if (SPI_execute_with_args("SELECT mf._unclaim_job($1)", 1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mf._unclaim_job failed");
	MfBgXactCommit();
}

/* Reserve a free slot for a job; -1 when none. */
static int
MfReserveSlot(int64 job_id)
{
	MfJobsShared *sh = MfJobsShmemGet();
	int			idx = -1;

	SpinLockAcquire(&sh->mutex);
	for (int i = 0; i < MF_MAX_JOB_SLOTS && idx < 0; i++)
		if (sh->slots[i].job_id == 0 && MfLocal[i].handle == NULL)
		{
			memset(&sh->slots[i], 0, sizeof(MfJobSlot));
			sh->slots[i].job_id = job_id;
			sh->slots[i].loss = get_float8_nan();
			idx = i;
		}
	SpinLockRelease(&sh->mutex);
	return idx;
}

/* Free a slot reserved for a job whose worker did not start. */
static void
MfReleaseSlot(int idx)
{
	MfJobsShared *sh = MfJobsShmemGet();

	SpinLockAcquire(&sh->mutex);
	memset(&sh->slots[idx], 0, sizeof(MfJobSlot));
	SpinLockRelease(&sh->mutex);
}

/* Register the dynamic worker of a claimed job in slot idx. */
static bool
MfStartWorker(int idx, int64 job_id, Oid role)
{
	BackgroundWorker w;
	MfJobWorkerArgs a;
	MemoryContext old;
	bool		ok;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "mf_core");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "MfJobWorkerMain");
	snprintf(w.bgw_name, BGW_MAXLEN, "mf_ext job " INT64_FORMAT, job_id);
	snprintf(w.bgw_type, BGW_MAXLEN, "mf_ext job");
	w.bgw_main_arg = Int64GetDatum(job_id);
	w.bgw_notify_pid = MyProcPid;
	a.database = MyDatabaseId;
	a.role = role;
	a.train_threads = MfTrainThreads;
	a.timeout_s = MfJobTimeout;
	memcpy(w.bgw_extra, &a, sizeof(a));
	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&w, &MfLocal[idx].handle);
	MemoryContextSwitchTo(old);
	MfLocal[idx].flushed_seq = 0;
	MfLocal[idx].logged_epoch = 0;
	return ok;
}

/* Unit: start workers for queued jobs while slots are free. */
static void
MfStartJobs(void)
{
	MfBackoff = false;
	while (MfBusySlots() < MfMaxWorkers)
	{
		int64		job_id;
		Oid			role;
		int			idx;

		CHECK_FOR_INTERRUPTS();
		if (!MfClaimJob(&job_id, &role))
			return;
		idx = MfReserveSlot(job_id);
		if (idx < 0 || !MfStartWorker(idx, job_id, role))
		{
			if (idx >= 0)
			{
				MfLocal[idx].handle = NULL;
				MfReleaseSlot(idx);
			}
			MfUnclaimJob(job_id);
			ereport(LOG,
					(errmsg("mf_ext launcher: no background worker slot is free for job " INT64_FORMAT, job_id),
					 errhint("Raise max_worker_processes, or lower mf.max_workers; retrying in %d ms.",
							 MfPollInterval)));
			MfBackoff = true;
			return;
		}
	}
}

/* Unit: keep the HTTP server running with the current mf.http_* settings (http.c). */
static void
MfManageHttp(void)
{
	MfHttpPending = MfHttpManage();
}

/* Unit: keep the monitor worker running (monitor.c). */
static void
MfManageMonitor(void)
{
	MfMonitorPending = MfMonitorManage();
}

/* One pass of the loop; returns how long to sleep (ms). */
static long
MfLauncherPass(void)
{
	int			busy;

	MfReapWorkers();
	if (!MfRunUnit("checking for the extension", MfCheckExtension) || !MfExtensionReady)
		return MfPollInterval;
	MfRunUnit("recovering orphaned jobs", MfRecoverJobs);
	if (TimestampDifferenceExceeds(MfLastFlush, GetCurrentTimestamp(), 1000))
	{
		MfRunUnit("writing job progress", MfFlushProgress);
		MfLastFlush = GetCurrentTimestamp();
	}
	if (!MfRunUnit("starting jobs", MfStartJobs))
		MfBackoff = true;
	if (!MfRunUnit("managing the HTTP server", MfManageHttp))
		MfHttpPending = true;
	if (!MfRunUnit("managing the monitor worker", MfManageMonitor))
		MfMonitorPending = true;
	busy = MfBusySlots();
	if (MfHttpPending || MfMonitorPending)
		return Min(MfPollInterval, 250);
	if (MfBackoff || busy == 0)
		return MfPollInterval;
	return Min(MfPollInterval, 1000);
}

/* Entry point of the launcher. */
void
MfLauncherMain(Datum arg)
{
	MemoryContext passctx;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(MfDatabase, NULL, 0);
	SetConfigOption("search_path", MF_WORKER_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("mf_ext launcher");
	MfLauncherAttach();
	ereport(LOG, (errmsg("mf_ext launcher started for database \"%s\"", MfDatabase)));

	passctx = AllocSetContextCreate(TopMemoryContext, "mf_ext launcher pass", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(passctx);
		MemoryContextSwitchTo(passctx);
		sleep_ms = MfLauncherPass();
		MemoryContextSwitchTo(TopMemoryContext);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
