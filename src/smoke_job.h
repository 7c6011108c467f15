/*
 * smoke_job.h - the job worker's entry for jobs of kind smoke_test
 * (src/smoke_job.c; src/job_worker.c dispatches on mf.jobs.kind).
 */
#ifndef MF_SMOKE_JOB_H
#define MF_SMOKE_JOB_H

#include "postgres.h"

/* What the job worker lends a smoke test: its cancel flag and its progress slot. */
typedef struct MfSmokeJobHooks
{
	bool		(*cancelled) (void *arg);	/* did mf_cancel_job() ask it to stop? */
	void		(*progress) (void *arg, int done, int total);	/* rows done (no ERROR) */
} MfSmokeJobHooks;

/* Run a claimed smoke_test job and record its outcome (mf._smoke_finish). */
extern void MfSmokeJobRun(int64 job_id, Oid queued_by, const MfSmokeJobHooks *hooks);

/* Column n of SPI's first result row as text in TopMemoryContext, or NULL (job_worker.c). */
extern char *MfResultText(int n);

#endif							/* MF_SMOKE_JOB_H */
