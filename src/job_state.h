/*
 * job_state.h - the statuses and phases of a background job: the one list.
 *
 * sql/catalog.sql's CHECK constraints jobs_status_known and
 * jobs_phase_known name the same values; test/sql/jobs.sql compares them
 * with this list through mf._job_states().  A job changes status only in
 * the functions of sql/jobs.sql that the launcher and the worker call
 * (queue, claim, unclaim, begin, succeeded, failed, recover, cancel).
 * Plain C: included by the preloaded library and by mf_core alike.
 */
#ifndef MF_JOB_STATE_H
#define MF_JOB_STATE_H

/* Status of a job (mf.jobs.status). */
typedef enum MfJobStatus
{
	MF_JOB_QUEUED = 0,
	MF_JOB_RUNNING,
	MF_JOB_SUCCEEDED,
	MF_JOB_FAILED,
	MF_JOB_CANCELLED,
	MF_N_JOB_STATUSES
} MfJobStatus;

/* Phase of a running job (mf.jobs.phase), in the order a job goes through them. */
typedef enum MfJobPhase
{
	MF_PHASE_LOADING = 0,
	MF_PHASE_TRAINING,
	MF_PHASE_EVALUATING,
	MF_PHASE_REGISTERING,
	MF_PHASE_BUILDING,			/* deploy jobs (src/deploy_job.c) */
	MF_PHASE_VERIFYING,
	MF_PHASE_PUSHING,
	MF_PHASE_SMOKE_TESTING,		/* smoke_test jobs */
	MF_N_JOB_PHASES
} MfJobPhase;

/* The SQL name of a status. */
static inline const char *
MfJobStatusName(MfJobStatus s)
{
	static const char *const names[MF_N_JOB_STATUSES] = {"queued", "running", "succeeded", "failed", "cancelled"};

	return names[s];
}

/* The SQL name of a phase. */
static inline const char *
MfJobPhaseName(MfJobPhase p)
{
	static const char *const names[MF_N_JOB_PHASES] = {"loading", "training", "evaluating", "registering",
	"building", "verifying", "pushing", "smoke_testing"};

	return names[p];
}

#endif							/* MF_JOB_STATE_H */
