/*
 * shmem.c - GUCs, shared memory and launcher registration of mf_ext
 * (the HTTP server's own GUCs and segment: http.c; the monitor's: monitor.c).
 *
 * Runs in the postmaster when mf_ext is in shared_preload_libraries.  When a
 * backend loads mf_ext.so later (mf_core asks for MfJobsShmemGet()), only
 * the GUCs are defined and MfJobsShmemGet() returns NULL: no segment, no
 * launcher, and mf_train_async() says so.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "mf_bgworker.h"
#include "session_gucs.h"

char	   *MfDatabase = NULL;
int			MfMaxWorkers = 2;
int			MfTrainThreads = 1;
int			MfJobTimeout = 0;
int			MfPollInterval = 2000;

static MfJobsShared *MfShared = NULL;
static shmem_request_hook_type MfPrevShmemRequest = NULL;
static shmem_startup_hook_type MfPrevShmemStartup = NULL;

/* The jobs segment, or NULL when mf_ext was not preloaded. */
MfJobsShared *
MfJobsShmemGet(void)
{
	return MfShared;
}

/* shmem_request_hook: reserve the jobs segment. */
static void
MfShmemRequest(void)
{
	if (MfPrevShmemRequest)
		MfPrevShmemRequest();
	RequestAddinShmemSpace(MAXALIGN(sizeof(MfJobsShared)));
	RequestAddinShmemSpace(MfHttpShmemSize());
	RequestAddinShmemSpace(MfMonitorShmemSize());
}

/* shmem_startup_hook: create (or, after a crash restart, re-create) the segment. */
static void
MfShmemStartup(void)
{
	bool		found;

	if (MfPrevShmemStartup)
		MfPrevShmemStartup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	MfShared = ShmemInitStruct(MF_JOBS_SHMEM_NAME, sizeof(MfJobsShared), &found);
	if (!found)
	{
		memset(MfShared, 0, sizeof(MfJobsShared));
		SpinLockInit(&MfShared->mutex);
		MfShared->launcher_procno = -1;
	}
	MfHttpShmemInit();
	MfMonitorShmemInit();
	LWLockRelease(AddinShmemInitLock);
}

/* Define the mf.* GUCs of background jobs. */
static void
MfDefineGucs(void)
{
	DefineCustomStringVariable("mf.database",
							   "Database whose background jobs the mf_ext launcher runs.",
							   "mf_train_async() and mf_retrain() work in this database only.",
							   &MfDatabase, "postgres", PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("mf.max_workers",
							"Background training jobs that run at the same time.",
							"0 pauses the queue. Each job uses one background worker "
							"(see max_worker_processes).",
							&MfMaxWorkers, 2, 0, MF_MAX_JOB_SLOTS,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mf.train_threads",
							"OpenBLAS threads of one background training job.",
							NULL, &MfTrainThreads, 1, 1, 256,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mf.job_timeout",
							"Longest run of a background job; 0 means no limit.",
							"A job running longer is stopped and marked failed.",
							&MfJobTimeout, 0, 0, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("mf.poll_interval",
							"Fallback wake-up of the mf_ext launcher.",
							"A committed job wakes the launcher at once; this is only "
							"the safety net.",
							&MfPollInterval, 2000, 100, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}

/* Register the static launcher (restarted 1 s after it exits). */
static void
MfRegisterLauncher(void)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 1;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "mf_ext");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "MfLauncherMain");
	snprintf(w.bgw_name, BGW_MAXLEN, "mf_ext launcher");
	snprintf(w.bgw_type, BGW_MAXLEN, "mf_ext launcher");
	RegisterBackgroundWorker(&w);
}

/* Load-time set-up: GUCs always; segment and launcher only when preloaded. */
void
MfBgworkerInit(void)
{
	MfDefineGucs();
	MfHttpDefineGucs();
	MfMonitorDefineGucs();
	(void) MfDefineSessionGucs();
	MarkGUCPrefixReserved("mf");
	if (!process_shared_preload_libraries_in_progress)
		return;
	MfPrevShmemRequest = shmem_request_hook;
	shmem_request_hook = MfShmemRequest;
	MfPrevShmemStartup = shmem_startup_hook;
	shmem_startup_hook = MfShmemStartup;
	MfRegisterLauncher();
}
