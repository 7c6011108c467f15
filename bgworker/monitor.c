/*
 * monitor.c - the preloaded part of the monitor worker: its shared memory,
 * the mf.metrics_retention GUC, and the launcher's unit that keeps one
 * monitor worker running.
 *
 * The launcher owns the monitor worker's life as it owns the HTTP
 * worker's (http.c): one dynamic background worker of mf_core
 * (MfMonitorWorkerMain, src/monitor_worker.c) in mf.database, started once
 * the extension is installed there, started again at most once a second
 * after it stopped.  The worker stops itself when the launcher that started
 * it is gone.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mf_bgworker.h"
#include "mf_monitor_shm.h"

int			MfMetricsRetention = 30 * 24 * 60;	/* minutes */

static MfMonitorShared *MfMonitor = NULL;
static BackgroundWorkerHandle *MfMonitorHandle = NULL;
static TimestampTz MfMonitorStoppedAt = 0;

/* The monitor segment, or NULL when mf_ext was not preloaded. */
MfMonitorShared *
MfMonitorShmemGet(void)
{
	return MfMonitor;
}

/* Bytes of the monitor segment. */
Size
MfMonitorShmemSize(void)
{
	return MAXALIGN(sizeof(MfMonitorShared));
}

/* A random probe token of MF_SERVE_PROBE_TOKEN_LEN hex characters ("" without random bytes). */
static void
MfMonitorMakeProbeToken(char *out)
{
	uint8		bytes[MF_SERVE_PROBE_TOKEN_LEN / 2];

	out[0] = '\0';
	if (!pg_strong_random(bytes, sizeof(bytes)))
		return;
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

/* Create (or after a crash restart re-create) the segment; caller holds AddinShmemInitLock. */
void
MfMonitorShmemInit(void)
{
	bool		found;

	MfMonitor = ShmemInitStruct(MF_MONITOR_SHMEM_NAME, sizeof(MfMonitorShared), &found);
	if (!found)
	{
		/* zeroed memory is an empty counters table (counters.h) */
		memset(MfMonitor, 0, sizeof(MfMonitorShared));
		SpinLockInit(&MfMonitor->mutex);
		MfMonitorMakeProbeToken(MfMonitor->probe_token);
	}
}

/* Define mf.metrics_retention (mf.track_predictions is a session GUC: session_gucs.c). */
void
MfMonitorDefineGucs(void)
{
	DefineCustomIntVariable("mf.metrics_retention",
							"How long rows of mf.serving_metrics and mf.health_checks are kept.",
							"The monitor worker deletes older rows in small batches; 0 keeps them forever.",
							&MfMetricsRetention, 30 * 24 * 60, 0, INT_MAX / 60, PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);
}

/* Register the monitor worker; false when no slot is free. */
static bool
MfMonitorStart(void)
{
	BackgroundWorker w;
	MemoryContext old;
	bool		ok;

	SpinLockAcquire(&MfMonitor->mutex);
	MfMonitor->launcher_pid = MyProcPid;
	SpinLockRelease(&MfMonitor->mutex);
	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "mf_core");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "MfMonitorWorkerMain");
	snprintf(w.bgw_name, BGW_MAXLEN, "mf_ext monitor");
	snprintf(w.bgw_type, BGW_MAXLEN, "mf_ext monitor");
	w.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	w.bgw_notify_pid = MyProcPid;
	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&w, &MfMonitorHandle);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		MfMonitorHandle = NULL;
		ereport(LOG,
				(errmsg("mf_ext launcher: no background worker slot is free for the monitor worker"),
				 errhint("Raise max_worker_processes; retrying in %d ms.", MfPollInterval)));
	}
	return ok;
}

/*
 * Launcher unit: keep the monitor worker running.  Returns true while a
 * start is pending (the launcher then comes back within a second).
 */
bool
MfMonitorManage(void)
{
	pid_t		pid;

	if (MfMonitor == NULL)
		return false;
	if (MfMonitorHandle != NULL)
	{
		if (GetBackgroundWorkerPid(MfMonitorHandle, &pid) != BGWH_STOPPED)
			return false;
		pfree(MfMonitorHandle);
		MfMonitorHandle = NULL;
		MfMonitorStoppedAt = GetCurrentTimestamp();
	}
	/* at most one start a second: a worker that keeps failing does not spin */
	if (!TimestampDifferenceExceeds(MfMonitorStoppedAt, GetCurrentTimestamp(), 1000))
		return true;
	return !MfMonitorStart();
}
