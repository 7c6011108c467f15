/*
 * job_worker.c - the worker of one background training job, and the C
 * helpers of the job SQL functions.
 *
 * Design note
 * -----------
 * The launcher (bgworker/launcher.c, in the preloaded mf_ext.so) claims a
 * job and starts MfJobWorkerMain() from this library, so OpenBLAS is only
 * ever loaded into job processes and backends, never into the postmaster.
 * The worker connects as the bootstrap superuser and runs three
 * transactions:
 *   1. mf._job_begin(): pid, phase "loading", heartbeat, the version marked
 *      "training" - committed, so a crash leaves a trace the launcher sees;
 *   2. mf_train() - the very function of in-session training, run with the
 *      privileges of the role that queued the job - then mf._job_succeeded()
 *      (result, epoch log, retrain promotion) in the SAME transaction: the
 *      version is trained and the job succeeded, or neither;
 *   3. on any ERROR: rollback, then mf._job_failed() marks the job and its
 *      version failed (reason "cancelled", "timeout" or "error").
 * Progress cannot be committed from inside transaction 2, so the training
 * code reports it through MfTrainProgressHook into this job's shared-memory
 * slot (a few stores under a spinlock, any rate); the launcher copies the
 * slots into mf.jobs in its own short transaction at most once a second.
 * Cancel: mf_cancel_job() sets the slot's flag and sends SIGINT; the hook
 * and CHECK_FOR_INTERRUPTS() turn either into an ERROR that unwinds the
 * kernels (which hold only palloc'd memory).  mf.job_timeout arms the
 * statement timeout, which ends the same way.  SIGTERM (a server shutdown)
 * also cancels the training, and the job is put back in the queue without
 * using up an attempt, so it runs again after the restart.  A worker that
 * dies otherwise (kill -9, FATAL) leaves a running row without a worker,
 * which the launcher re-queues or fails (mf._recover_jobs).
 * Kinds: the worker reads mf.jobs.kind first and hands a job of another
 * kind than train to its owner's file (smoke_test: src/smoke_job.c), which
 * records its own outcome; everything above describes train jobs.
 */
#include "postgres.h"

#include "mf_core.h"

#include <cblas.h>
#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "deploy_job.h"
#include "mf_jobs_shm.h"
#include "privileges.h"
#include "smoke_job.h"
#include "train.h"

extern PGDLLEXPORT void MfJobWorkerMain(Datum arg);

/* What mf._job_begin() tells the worker. */
typedef struct MfJobSpec
{
	char	   *ref;
	char	   *source;
	char	   *target;			/* NULL for kmeans */
	char	   *options;		/* jsonb as text */
	bool		cancel_requested;
	Oid			run_as;			/* the source's author */
	char	   *search_path;	/* what the source's names mean */
} MfJobSpec;

static MfJobsShared *MfShared = NULL;
static bool MfSharedLooked = false;
static int	MfSlotIdx = -1;		/* this worker's slot */
static int64 MfJobId = 0;
static bool MfWakeAtCommit = false;
static volatile sig_atomic_t MfShutdownRequested = false;
static bool MfXactCallbackSet = false;

/* The jobs segment of the preloaded mf_ext.so, or NULL when not preloaded. */
static MfJobsShared *
MfJobsShmem(void)
{
	if (!MfSharedLooked)
	{
		MfJobsShmemGetFn get;

		get = (MfJobsShmemGetFn) load_external_function("$libdir/mf_ext", "MfJobsShmemGet", false, NULL);
		MfShared = get != NULL ? get() : NULL;
		MfSharedLooked = true;
	}
	return MfShared;
}

/* Wake the launcher (no-op when none runs). */
static void
MfWakeLauncher(void)
{
	MfJobsShared *sh = MfJobsShmem();
	int			procno;

	if (sh == NULL)
		return;
	SpinLockAcquire(&sh->mutex);
	procno = sh->launcher_procno;
	SpinLockRelease(&sh->mutex);
	if (procno >= 0)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

/* --------------------------------------------------------- progress hook */

/* Overall progress for a phase and the fraction of training done. */
static double
MfPhaseProgress(MfJobPhase phase, double fraction)
{
	switch (phase)
	{
		case MF_PHASE_TRAINING:
			return 0.1 + 0.8 * Max(0.0, Min(1.0, fraction));
		case MF_PHASE_EVALUATING:
			return 0.9;
		case MF_PHASE_REGISTERING:
			return 0.95;
		case MF_PHASE_BUILDING:
			return 0.1;
		case MF_PHASE_VERIFYING:
			return 0.5;
		case MF_PHASE_PUSHING:
			return 0.8;
		default:
			return 0.05;
	}
}

/* MfTrainProgressHook of a job worker: report into the slot, honour a cancel. */
static void
MfJobProgress(MfJobPhase phase, int64 epoch, int64 total, double loss, double fraction)
{
	MfJobSlot  *s = &MfJobsShmem()->slots[MfSlotIdx];
	slock_t    *mutex = &MfJobsShmem()->mutex;
	TimestampTz now = GetCurrentTimestamp();
	bool		cancel;

	SpinLockAcquire(mutex);
	strlcpy(s->phase, MfJobPhaseName(phase), MF_PHASE_LEN);
	s->progress = Max(s->progress, MfPhaseProgress(phase, fraction));
	if (epoch > 0)
	{
		s->epoch = epoch;
		s->total_epochs = total;
		s->loss = loss;
	}
	s->heartbeat = now;
	s->seq++;
	cancel = s->cancel_requested;
	SpinLockRelease(mutex);
	if (cancel)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("job " INT64_FORMAT " was cancelled", MfJobId)));
}

/* Report a phase of a deploy job into the slot (deploy_job.h). */
void
MfJobReportPhase(MfJobPhase phase)
{
	MfJobProgress(phase, 0, 0, get_float8_nan(), 0);
}

/*
 * The slot's last epoch, total and loss into mf.jobs, in the caller's
 * transaction: a job that ends before the launcher's next flush (about a
 * second) still shows them.
 */
static void
MfJobFlushSlot(void)
{
	MfJobSlot	s;

	SpinLockAcquire(&MfJobsShmem()->mutex);
	s = MfJobsShmem()->slots[MfSlotIdx];
	SpinLockRelease(&MfJobsShmem()->mutex);
	if (s.epoch > 0)
		MfBgWriteJobProgress(&s, false);
}

/* Mark this worker's slot as (not) inside the cancellable training transaction. */
static void
MfSetTraining(bool training)
{
	SpinLockAcquire(&MfJobsShmem()->mutex);
	MfJobsShmem()->slots[MfSlotIdx].training = training;
	SpinLockRelease(&MfJobsShmem()->mutex);
}

/* Was this job cancelled through mf_cancel_job()? */
static bool
MfCancelRequested(void)
{
	bool		c;

	SpinLockAcquire(&MfJobsShmem()->mutex);
	c = MfJobsShmem()->slots[MfSlotIdx].cancel_requested;
	SpinLockRelease(&MfJobsShmem()->mutex);
	return c;
}

/* MfCancelRequested for callbacks that take an argument. */
static bool
MfCancelRequestedArg(void *arg)
{
	return MfCancelRequested();
}

/* Smoke-test progress into the slot (phase smoke_testing, 10% to 95%); never raises. */
static void
MfSmokeProgress(void *arg, int done, int total)
{
	MfJobSlot  *s = &MfJobsShmem()->slots[MfSlotIdx];

	SpinLockAcquire(&MfJobsShmem()->mutex);
	strlcpy(s->phase, MfJobPhaseName(MF_PHASE_SMOKE_TESTING), MF_PHASE_LEN);
	s->progress = Max(s->progress, 0.1 + 0.85 * done / Max(total, 1));
	s->heartbeat = GetCurrentTimestamp();
	s->seq++;
	SpinLockRelease(&MfJobsShmem()->mutex);
}

/* The kind of job job_id (mf.jobs.kind) in TopMemoryContext, or "" when it is gone. */
static const char *
MfJobKind(int64 job_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	const char *kind = "";

	MfBgXactBegin("mf_ext job: reading its kind");
	if (SPI_execute_with_args("SELECT kind FROM mf.jobs WHERE job_id = $1", 1, argtypes, args, NULL,
							  true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read mf.jobs");
	if (SPI_processed == 1)
		kind = MemoryContextStrdup(TopMemoryContext, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	MfBgXactCommit();
	return kind;
}

/* Find the slot the launcher reserved (or take a free one); record our pid. */
static bool
MfAttachSlot(int64 job_id)
{
	MfJobsShared *sh = MfJobsShmem();

	SpinLockAcquire(&sh->mutex);
	for (int i = 0; i < MF_MAX_JOB_SLOTS && MfSlotIdx < 0; i++)
		if (sh->slots[i].job_id == job_id)
			MfSlotIdx = i;
	for (int i = 0; i < MF_MAX_JOB_SLOTS && MfSlotIdx < 0; i++)
		if (sh->slots[i].job_id == 0)
		{
			memset(&sh->slots[i], 0, sizeof(MfJobSlot));
			sh->slots[i].job_id = job_id;
			MfSlotIdx = i;
		}
	if (MfSlotIdx >= 0)
	{
		sh->slots[MfSlotIdx].pid = MyProcPid;
		sh->slots[MfSlotIdx].loss = get_float8_nan();
		strlcpy(sh->slots[MfSlotIdx].phase, MfJobPhaseName(MF_PHASE_LOADING), MF_PHASE_LEN);
		sh->slots[MfSlotIdx].progress = MfPhaseProgress(MF_PHASE_LOADING, 0);
		sh->slots[MfSlotIdx].heartbeat = GetCurrentTimestamp();
	}
	SpinLockRelease(&sh->mutex);
	return MfSlotIdx >= 0;
}

/* ---------------------------------------------------------------- worker */

/* Column n of the first result row as a C string in TopMemoryContext, or NULL. */
char *
MfResultText(int n)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n);

	return v != NULL ? MemoryContextStrdup(TopMemoryContext, v) : NULL;
}

/* Transaction 1: mf._job_begin(); false when the job is not ours to run any more. */
static bool
MfJobBegin(int64 job_id, MfJobSpec *spec)
{
	Oid			argtypes[3] = {INT8OID, INT4OID, INT4OID};
	Datum		args[3] = {Int64GetDatum(job_id), Int32GetDatum(MyProcPid),
	Int32GetDatum(openblas_get_num_threads())};
	bool		found;

	MfBgXactBegin("mf_ext job: starting");
	if (SPI_execute_with_args("SELECT ref, source, target, options, cancel_requested, run_as, search_path "
							  "FROM mf._job_begin($1, $2, $3)",
							  3, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mf._job_begin failed");
	found = SPI_processed == 1;
	if (found)
	{
		char	   *c;

		spec->ref = MfResultText(1);
		spec->source = MfResultText(2);
		spec->target = MfResultText(3);
		spec->options = MfResultText(4);
		c = MfResultText(5);
		spec->cancel_requested = c != NULL && c[0] == 't';
		c = MfResultText(6);
		spec->run_as = c != NULL ? atooid(c) : InvalidOid;
		spec->search_path = MfResultText(7);
		found = spec->ref != NULL && OidIsValid(spec->run_as) && spec->search_path != NULL;
	}
	MfBgXactCommit();
	return found;
}

/*
 * Transaction 2: train, then record success.  The worker stays the
 * bootstrap superuser; the source alone runs, restricted, with the rights
 * of its author (MfReadSource), and the audit events name the role that
 * queued the job.
 */
static void
MfJobTrain(int64 job_id, const MfJobSpec *spec, Oid queued_by)
{
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, OIDOID, TEXTOID};
	Datum		args[6];
	char		nulls[6] = "      ";
	Oid			fin_types[2] = {INT8OID, TEXTOID};
	Datum		fin_args[2];
	char	   *trained;

	MfBgXactBegin(psprintf("mf_ext job " INT64_FORMAT ": training %s", job_id, spec->ref));
	MfSetTraining(true);
	if (MfCancelRequested())
		MfJobProgress(MF_PHASE_LOADING, 0, 0, get_float8_nan(), 0);
	args[0] = CStringGetTextDatum(spec->ref);
	args[1] = CStringGetTextDatum(spec->source);
	args[2] = spec->target ? CStringGetTextDatum(spec->target) : (Datum) 0;
	args[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(spec->options));
	args[4] = ObjectIdGetDatum(spec->run_as);
	args[5] = CStringGetTextDatum(spec->search_path);
	if (spec->target == NULL)
		nulls[2] = 'n';
	MfCallerPush(queued_by, spec->search_path);
	PG_TRY();
	{
		if (SPI_execute_with_args("SELECT mf._train_version($1, $2, $3, $4, $5, $6)", 6, argtypes, args, nulls,
								  false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "mf._train_version returned no row");
		trained = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		MfJobFlushSlot();
		fin_args[0] = Int64GetDatum(job_id);
		fin_args[1] = CStringGetTextDatum(trained);
		if (SPI_execute_with_args("SELECT mf._job_succeeded($1, $2)", 2, fin_types, fin_args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "mf._job_succeeded failed");
	}
	PG_FINALLY();
	{
		MfCallerPop();
	}
	PG_END_TRY();
	MfSetTraining(false);
	MfBgXactCommit();
}

/* Transaction 3: the job and its version failed (reason cancelled/timeout/error). */
static void
MfJobFailed(int64 job_id, const char *reason, const char *message, const char *sqlstate)
{
	Oid			argtypes[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[4] = {Int64GetDatum(job_id), CStringGetTextDatum(reason),
	CStringGetTextDatum(message), CStringGetTextDatum(sqlstate)};

	MfBgXactBegin("mf_ext job: recording the failure");
	if (SPI_execute_with_args("SELECT mf._job_failed($1, $2, $3, $4)", 4, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mf._job_failed failed");
	MfBgXactCommit();
}

/* SIGTERM: the server shuts down; cancel the training, then re-queue the job. */
static void
MfJobSigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	MfShutdownRequested = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* Why a training transaction failed, and the message to keep. */
static const char *
MfFailureReason(const ErrorData *ed, TimestampTz started, int timeout_s, char **message)
{
	if (MfShutdownRequested)
	{
		*message = pstrdup("interrupted by a server shutdown");
		return "shutdown";
	}
	if (MfCancelRequested())
	{
		*message = pstrdup("cancelled by mf_cancel_job()");
		return "cancelled";
	}
	if (timeout_s > 0 && ed->sqlerrcode == ERRCODE_QUERY_CANCELED &&
		TimestampDifferenceExceeds(started, GetCurrentTimestamp(), timeout_s * 1000 - 100))
	{
		*message = psprintf("job exceeded mf.job_timeout (%d s)", timeout_s);
		return "timeout";
	}
	*message = ed->detail ? psprintf("%s (%s)", ed->message, ed->detail) : pstrdup(ed->message);
	return "error";
}

/* Set the BLAS threads of this job, with signals blocked so new threads never take them. */
static void
MfSetBlasThreads(int n)
{
	sigset_t	all,
				old;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	openblas_set_num_threads(Max(n, 1));
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Run a claimed job: train, and record the outcome whatever happens. */
static void
MfJobRun(int64 job_id, const MfJobSpec *spec, const MfJobWorkerArgs *a)
{
	TimestampTz started = GetCurrentTimestamp();
	ErrorData  *volatile ed = NULL;

	if (a->timeout_s > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, a->timeout_s * 1000);
	MfTrainProgressHook = MfJobProgress;
	PG_TRY();
	{
		if (spec->cancel_requested)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("job " INT64_FORMAT " was cancelled", job_id)));
		MfJobTrain(job_id, spec, a->role);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(TopMemoryContext);
		ed = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	MfTrainProgressHook = NULL;
	disable_timeout(STATEMENT_TIMEOUT, false);
	if (ed != NULL)
	{
		char	   *message;
		const char *reason;

		HOLD_CANCEL_INTERRUPTS();
		AbortCurrentTransaction();
		/*
		 * No more cancels: the outcome must be recorded.  Holding cancel
		 * interrupts is not enough, as the regex engine (a CHECK on model
		 * names) gives up whenever QueryCancelPending is set.
		 */
		pqsignal(SIGINT, SIG_IGN);
		QueryCancelPending = false;
		MfSetTraining(false);
		if (spec->cancel_requested)
		{
			SpinLockAcquire(&MfJobsShmem()->mutex);
			MfJobsShmem()->slots[MfSlotIdx].cancel_requested = true;
			SpinLockRelease(&MfJobsShmem()->mutex);
		}
		reason = MfFailureReason(ed, started, a->timeout_s, &message);
		MfJobFailed(job_id, reason, message, unpack_sql_state(ed->sqlerrcode));
		RESUME_CANCEL_INTERRUPTS();
	}
}

/* Entry point of a job worker: bgw_main_arg is the job id, bgw_extra the args. */
void
MfJobWorkerMain(Datum arg)
{
	int64		job_id = DatumGetInt64(arg);
	MfJobWorkerArgs a;
	MfJobSpec	spec;
	const char *kind;

	memcpy(&a, MyBgworkerEntry->bgw_extra, sizeof(a));
	MfJobId = job_id;
	pqsignal(SIGTERM, MfJobSigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(a.database, InvalidOid, 0);
	/* a session value: the run-as of user SQL sets its author's path over it and back */
	SetConfigOption("search_path", MF_WORKER_SEARCH_PATH, PGC_SUSET, PGC_S_SESSION);
	pgstat_report_appname(psprintf("mf_ext job " INT64_FORMAT, job_id));
	if (MfJobsShmem() == NULL || !MfAttachSlot(job_id))
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mf_ext job worker for job " INT64_FORMAT " found no job slot", job_id)));
	MfSetBlasThreads(a.train_threads);
	memset(&spec, 0, sizeof(spec));
	kind = MfJobKind(job_id);
	if (strcmp(kind, "deploy") == 0)
		MfDeployJobRun(job_id);
	else if (strcmp(kind, "smoke_test") == 0)
	{
		MfSmokeJobHooks hooks = {MfCancelRequestedArg, MfSmokeProgress};

		MfSmokeProgress(NULL, 0, 1);
		MfSmokeJobRun(job_id, a.role, &hooks);
	}
	else if (MfJobBegin(job_id, &spec))
		MfJobRun(job_id, &spec, &a);
	MfWakeLauncher();
	proc_exit(0);
}

/* ------------------------------------------------------- SQL-callable C */

/* Transaction callback: wake the launcher once the queuing transaction committed. */
static void
MfJobsXactCallback(XactEvent event, void *arg)
{
	if (!MfWakeAtCommit)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		MfWakeLauncher();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		MfWakeAtCommit = false;
}

PG_FUNCTION_INFO_V1(mf_wake_launcher_at_commit);

/* mf._wake_launcher_at_commit(): set the launcher's latch when this transaction commits. */
Datum
mf_wake_launcher_at_commit(PG_FUNCTION_ARGS)
{
	if (!MfXactCallbackSet)
	{
		RegisterXactCallback(MfJobsXactCallback, NULL);
		MfXactCallbackSet = true;
	}
	MfWakeAtCommit = true;
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mf_jobs_state);

/* mf._jobs_state(): (preloaded, served database, launcher pid). */
Datum
mf_jobs_state(PG_FUNCTION_ARGS)
{
	MfJobsShared *sh = MfJobsShmem();
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	const char *db = GetConfigOption("mf.database", true, false);
	pid_t		pid = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (sh != NULL)
	{
		SpinLockAcquire(&sh->mutex);
		pid = sh->launcher_pid;
		SpinLockRelease(&sh->mutex);
	}
	values[0] = BoolGetDatum(sh != NULL);
	values[1] = db ? CStringGetTextDatum(db) : (Datum) 0;
	nulls[1] = db == NULL;
	values[2] = Int32GetDatum(pid);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(mf_signal_job);

/*
 * mf._signal_job(job_id): ask the worker of a running job whose row has
 * cancel_requested (set by the caller, who needed UPDATE on mf.jobs) to stop.
 */
Datum
mf_signal_job(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	MfJobsShared *sh = MfJobsShmem();
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	bool		requested;
	bool		found = false;
	pid_t		pid = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM mf.jobs WHERE job_id = $1 AND status = 'running' AND cancel_requested",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read mf.jobs");
	requested = SPI_processed == 1;
	SPI_finish();
	if (!requested || sh == NULL)
		PG_RETURN_BOOL(false);
	SpinLockAcquire(&sh->mutex);
	for (int i = 0; i < MF_MAX_JOB_SLOTS; i++)
		if (sh->slots[i].job_id == job_id)
		{
			sh->slots[i].cancel_requested = true;
			if (sh->slots[i].training)
				pid = sh->slots[i].pid;
			found = true;
		}
	SpinLockRelease(&sh->mutex);
	if (pid != 0)
		kill(pid, SIGINT);
	PG_RETURN_BOOL(found);
}

/*
 * Refuse a function of an older install script whose C arguments have
 * changed since (0.2.0's mf._check_source and mf._evaluate_on_split): their
 * symbols stay, so that those scripts load, until ALTER EXTENSION UPDATE
 * drops the functions; calling them would read arguments of other types.
 */
static void
MfRefuseOldSignature(const char *function, const char *replacement)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s belongs to an older version of mf_ext", function),
			 errdetail("This library has %s instead.", replacement),
			 errhint("Run ALTER EXTENSION mf_ext UPDATE.")));
}

PG_FUNCTION_INFO_V1(mf_check_source);

/* 0.2.0's mf._check_source(source, target, options, classify, author, search_path). */
Datum
mf_check_source(PG_FUNCTION_ARGS)
{
	MfRefuseOldSignature("mf._check_source()", "mf._check_training()");
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mf_evaluate_on_split);

/* 0.2.0's mf._evaluate_on_split(artifact, source, target, test_size, seed, stratify, author, search_path). */
Datum
mf_evaluate_on_split(PG_FUNCTION_ARGS)
{
	MfRefuseOldSignature("mf._evaluate_on_split(bytea, text, text, float8, bigint, boolean, oid, text)",
						 "mf._evaluate_on_split(bytea, text, text, jsonb, oid, text)");
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(mf_evaluate_split_options);

/*
 * mf._evaluate_on_split(artifact, source, target, options, author, search_path)
 * RETURNS jsonb: the split is the one the run options (test_size, seed,
 * stratify) made in training, defaults included (train_args.c).
 */
Datum
mf_evaluate_split_options(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext runctx;
	bytea	   *art = PG_GETARG_BYTEA_PP(0);
	MfEvalSplit split;
	json_t	   *metrics;
	Jsonb	   *result;

	runctx = AllocSetContextCreate(caller, "mf evaluation on a split", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(runctx);
	MfReadSplitOptions(PG_ARGISNULL(3) ? NULL : MfJsonbToJansson(PG_GETARG_JSONB_P(3), "options"), &split);
	metrics = MfEvaluateArtifactSplit(MfNewDataset(fcinfo, 4), VARDATA_ANY(art),
									  VARSIZE_ANY_EXHDR(art),
									  text_to_cstring(PG_GETARG_TEXT_PP(1)),
									  PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)),
									  &split);
	MemoryContextSwitchTo(caller);
	result = MfJanssonToJsonb(metrics);
	MemoryContextDelete(runctx);
	PG_RETURN_JSONB_P(result);
}

PG_FUNCTION_INFO_V1(mf_count_source);

/* mf._count_source(source, author, search_path): rows of a source now, read as its author. */
Datum
mf_count_source(PG_FUNCTION_ARGS)
{
	MfDataset  *ds = MfNewDataset(fcinfo, 1);
	MfRunAs		runas;
	bool		isnull;
	int64		n;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MfRunAsBegin(&runas, ds->author, ds->author_path);
	if (SPI_execute(psprintf("SELECT count(*) FROM %s", MfSourceFromItem(text_to_cstring(PG_GETARG_TEXT_PP(0)))),
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the rows of the training source");
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	MfRunAsEnd(&runas);
	SPI_finish();
	PG_RETURN_INT64(n);
}

PG_FUNCTION_INFO_V1(mf_job_states);

/* mf._job_states(): every job status and phase of job_state.h, as (kind, name) rows. */
Datum
mf_job_states(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	InitMaterializedSRF(fcinfo, 0);
	values[0] = CStringGetTextDatum("status");
	for (int i = 0; i < MF_N_JOB_STATUSES; i++)
	{
		values[1] = CStringGetTextDatum(MfJobStatusName((MfJobStatus) i));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	values[0] = CStringGetTextDatum("phase");
	for (int i = 0; i < MF_N_JOB_PHASES; i++)
	{
		values[1] = CStringGetTextDatum(MfJobPhaseName((MfJobPhase) i));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
