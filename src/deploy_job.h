/*
 * deploy_job.h - background jobs of kind deploy (deploy_job.c) and the
 * phase report they share with the training jobs' worker (job_worker.c).
 */
#ifndef MF_DEPLOY_JOB_H
#define MF_DEPLOY_JOB_H

#include "postgres.h"

#include "job_state.h"

/* Run the deploy job job_id in this job worker (build, verify, push). */
extern void MfDeployJobRun(int64 job_id);

/* Report a phase into this worker's job slot; ERROR when the job was cancelled. */
extern void MfJobReportPhase(MfJobPhase phase);

#endif							/* MF_DEPLOY_JOB_H */
