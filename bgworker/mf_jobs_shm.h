/*
 * mf_jobs_shm.h - shared memory of background training jobs.
 *
 * Included by the preloaded library (bgworker/), which
 * allocates and owns the segment, and by mf_core (src/job_worker.c), which
 * reaches it through MfJobsShmemGet() in mf_ext.so.  Only plain C and
 * PostgreSQL storage headers here: no jansson, no BLAS.
 *
 * One slot per running job.  The launcher reserves a slot (job_id set,
 * pid 0) before it registers the job's worker; the worker fills in its pid
 * and writes progress there; the launcher copies progress into mf.jobs at
 * most once a second and frees the slot when the worker has stopped.  A
 * running mf.jobs row whose job_id is in no slot is an orphan.  All fields
 * are protected by the one spinlock (held for a few instructions only).
 */
#ifndef MF_JOBS_SHM_H
#define MF_JOBS_SHM_H

#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "job_state.h"

#define MF_JOBS_SHMEM_NAME "mf_ext background jobs"

/*
 * The search_path of every mf_ext background worker: the names of its own
 * queries resolve in pg_catalog (mf.* qualified), never in a schema a user
 * can write; user SQL (a training source) runs with its author's path.
 */
#define MF_WORKER_SEARCH_PATH "pg_catalog, pg_temp"
#define MF_MAX_JOB_SLOTS 64
#define MF_PHASE_LEN 16

/* One running (or starting) job. */
typedef struct MfJobSlot
{
	int64		job_id;			/* 0: slot free */
	pid_t		pid;			/* worker pid, 0 until the worker started */
	bool		training;		/* inside the training transaction: SIGINT cancels it */
	bool		cancel_requested;	/* mf_cancel_job() asked the job to stop */
	char		phase[MF_PHASE_LEN];
	double		progress;		/* 0..1 */
	int64		epoch;			/* last finished epoch/iteration, 0 if none */
	int64		total_epochs;
	double		loss;			/* NaN when unknown */
	TimestampTz heartbeat;		/* last progress report of the worker */
	uint64		seq;			/* bumped on every progress report */
} MfJobSlot;

/* The whole segment. */
typedef struct MfJobsShared
{
	slock_t		mutex;
	int			launcher_procno;	/* PGPROC number of the launcher, -1 when none */
	pid_t		launcher_pid;	/* 0 when no launcher runs */
	Oid			launcher_db;	/* database the launcher is connected to */
	MfJobSlot	slots[MF_MAX_JOB_SLOTS];
} MfJobsShared;

/* Arguments of a job worker, in bgw_extra. */
typedef struct MfJobWorkerArgs
{
	Oid			database;
	Oid			role;			/* the role that queued the job */
	int			train_threads;	/* mf.train_threads at start */
	int			timeout_s;		/* mf.job_timeout at start, 0 = none */
} MfJobWorkerArgs;

/* The segment, or NULL when mf_ext is not in shared_preload_libraries. */
typedef MfJobsShared *(*MfJobsShmemGetFn) (void);

/* Start a short transaction with a snapshot and SPI (launcher and job workers). */
static inline void
MfBgXactBegin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/* Commit a transaction begun with MfBgXactBegin(). */
static inline void
MfBgXactCommit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Run one unit of a worker's loop under PG_TRY (launcher, monitor worker):
 * an ERROR is logged as "<who>: <what> failed: ..." and its transaction
 * rolled back, so the loop goes on; false then.
 */
static inline bool
MfBgRunUnit(const char *who, const char *what, void (*unit) (void))
{
	MemoryContext ctx = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		unit();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(ctx);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		ereport(LOG,
				(errmsg("%s: %s failed: %s", who, what, ed->message),
				 ed->detail ? errdetail_internal("%s", ed->detail) : 0));
		FreeErrorData(ed);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* The pid of the running launcher (0 when none) from the jobs segment. */
static inline pid_t
MfBgLauncherPid(MfJobsShared *sh)
{
	pid_t		pid;

	SpinLockAcquire(&sh->mutex);
	pid = sh->launcher_pid;
	SpinLockRelease(&sh->mutex);
	return pid;
}

/*
 * Write a slot's phase, progress, epoch, total and loss into its mf.jobs row
 * (mf._job_progress), in the caller's transaction with SPI connected: the
 * launcher's periodic flush, and a job worker's last word at success.
 */
static inline void
MfBgWriteJobProgress(const MfJobSlot *s, bool log_epoch)
{
	Oid			argtypes[8] = {INT8OID, TEXTOID, FLOAT8OID, INT8OID, INT8OID, FLOAT8OID, TIMESTAMPTZOID, BOOLOID};
	Datum		args[8];
	char		nulls[8] = "        ";

	args[0] = Int64GetDatum(s->job_id);
	args[1] = CStringGetTextDatum(s->phase[0] ? s->phase : MfJobPhaseName(MF_PHASE_LOADING));
	args[2] = Float8GetDatum(s->progress);
	args[3] = Int64GetDatum(s->epoch);
	args[4] = Int64GetDatum(s->total_epochs);
	args[5] = Float8GetDatum(s->loss);
	args[6] = TimestampTzGetDatum(GetCurrentTimestamp());
	args[7] = BoolGetDatum(log_epoch);
	if (s->epoch == 0)
		nulls[3] = nulls[4] = nulls[5] = 'n';
	else if (isnan(s->loss))
		nulls[5] = 'n';
	if (SPI_execute_with_args("SELECT mf._job_progress($1, $2, $3, $4, $5, $6, $7, $8)",
							  8, argtypes, args, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mf._job_progress failed");
}

#endif							/* MF_JOBS_SHM_H */
